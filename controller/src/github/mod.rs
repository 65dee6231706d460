//! Pull requests on GitHub, for environments with `promotion.mode: pullRequest`: the promotion
//! branch is pushed, then one pull request per (environment, model) branch is opened, or found
//! and brought up to date, through GitHub's REST API with octocrab (see
//! `docs/adr/0032-octocrab-for-github.md`).
//!
//! **Architecture Invariant:** only this module speaks GitHub's REST API; it returns our own
//! [`PullRequest`], never octocrab's types.
//!
//! Where the repository is: an explicit `spec.github.repository` in `tollgate.yaml`, or else the
//! owner and name in the remote's URL when it is on `github.com`. The API is `spec.github.apiUrl`
//! (GitHub Enterprise Server: `https://HOST/api/v3`), default `https://api.github.com`. The token
//! is read from the environment variable `spec.github.tokenEnv` names (default `GITHUB_TOKEN`)
//! when a client is made; it is never logged, never stored, never part of an error.
//!
//! # Guarantees
//!
//! - [`Client::ensure`] never opens a second pull request for a head branch that has an open
//!   one: it looks for an open one first, and when a create races with another (GitHub answers
//!   422 "A pull request already exists"), it looks again and adopts the one it finds.

#[cfg(test)]
mod tests;

use octocrab::Octocrab;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

/// The API base URL of github.com.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The environment variable the token is read from, unless `spec.github.tokenEnv` names another.
pub const DEFAULT_TOKEN_ENV: &str = "GITHUB_TOKEN";

/// Why a pull request could not be opened or read. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// No GitHub repository is known for the config repo.
    #[error("no GitHub repository to open the pull request in")]
    NoRepository,
    /// `spec.github` is malformed.
    #[error("invalid `spec.github` in tollgate.yaml: {0}")]
    BadConfig(String),
    /// The token variable is unset or empty.
    #[error("the GitHub token is not set")]
    TokenUnavailable {
        /// The variable.
        var: String,
    },
    /// GitHub refused the token (401).
    #[error("GitHub at `{api}` refused the token from `{var}`: {message}")]
    BadCredentials {
        /// The API base URL.
        api: String,
        /// The variable the token came from.
        var: String,
        /// GitHub's message.
        message: String,
    },
    /// GitHub answered with an error.
    #[error("GitHub answered {status} to {what} in `{repo}`: {message}")]
    Api {
        /// What was being done.
        what: &'static str,
        /// `owner/name`.
        repo: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message, with the details of its `errors`.
        message: String,
        /// What to do.
        hint: &'static str,
    },
    /// The request did not get an answer.
    #[error("cannot reach GitHub at `{api}` to {what}")]
    Transport {
        /// The API base URL.
        api: String,
        /// What was being done.
        what: &'static str,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl tollgate_error::Hint for GitHubError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            GitHubError::NoRepository => Some(Cow::Borrowed("set `spec.github.repository: OWNER/NAME` in tollgate.yaml")),
            GitHubError::TokenUnavailable { var, .. } => {
                Some(format!("set the environment variable `{var}` to a token that may open pull requests").into())
            }
            GitHubError::BadCredentials { .. } => Some(Cow::Borrowed("check that the token is valid and has not expired")),
            GitHubError::Api { hint, .. } => Some(Cow::Borrowed(hint)),
            GitHubError::Transport { .. } => Some(Cow::Borrowed("check the network and `spec.github.apiUrl`")),
            _ => None,
        }
    }
}

/// `spec.github` of `tollgate.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitHubConfig {
    /// `owner/name`, when set.
    pub repository: Option<String>,
    /// The API base URL, when set.
    pub api_url: Option<String>,
    /// The variable holding the token.
    pub token_env: Option<String>,
}

impl GitHubConfig {
    /// Reads `spec.github` from a Config document's value; `None` when absent. Types are left
    /// to schema validation.
    pub fn from_config(value: &Value) -> Option<GitHubConfig> {
        let g = value.pointer("/spec/github")?;
        let s = |k: &str| g.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(GitHubConfig { repository: s("repository"), api_url: s("apiUrl"), token_env: s("tokenEnv") })
    }
}

/// Where pull requests are opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// API base URL.
    pub api_url: String,
    /// The variable holding the token.
    pub token_env: String,
}

impl Target {
    /// Resolves the target from `spec.github` and the remote's URL: the config's repository
    /// wins; otherwise a `github.com` remote names it. `Ok(None)`: neither says (pull requests
    /// are not opened; the branch is pushed only).
    ///
    /// # Errors
    ///
    /// [`GitHubError::BadConfig`] when `spec.github.repository` is not `OWNER/NAME`.
    pub fn resolve(config: Option<&GitHubConfig>, remote_url: Option<&str>) -> Result<Option<Target>, GitHubError> {
        let explicit = match config.and_then(|c| c.repository.as_deref()) {
            Some(r) => Some(split_repo(r).ok_or_else(|| GitHubError::BadConfig(format!("`repository: {r}` is not `OWNER/NAME`")))?),
            None => None,
        };
        let from_remote = remote_url.and_then(repo_from_url).filter(|(host, _, _)| host.eq_ignore_ascii_case("github.com"));
        let (owner, repo) = match (explicit, from_remote) {
            (Some(r), _) => r,
            (None, Some((_, o, r))) => (o, r),
            (None, None) if config.is_some() => return Err(GitHubError::NoRepository),
            (None, None) => return Ok(None),
        };
        let api_url = config.and_then(|c| c.api_url.clone()).unwrap_or_else(|| DEFAULT_API_URL.into()).trim_end_matches('/').to_owned();
        let token_env = config.and_then(|c| c.token_env.clone()).unwrap_or_else(|| DEFAULT_TOKEN_ENV.into());
        Ok(Some(Target { owner, repo, api_url, token_env }))
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

fn split_repo(r: &str) -> Option<(String, String)> {
    let (o, n) = r.split_once('/')?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (ok(o) && ok(n) && !n.contains('/')).then(|| (o.to_owned(), n.trim_end_matches(".git").to_owned()))
}

/// `(host, owner, name)` of an `https://host/owner/name(.git)`, `ssh://git@host/owner/name.git`
/// or `git@host:owner/name.git` URL.
pub fn repo_from_url(url: &str) -> Option<(String, String, String)> {
    let (host, path) = match url.split_once("://") {
        Some((scheme, rest)) if ["https", "http", "ssh", "git+ssh", "ssh+git"].contains(&scheme.to_ascii_lowercase().as_str()) => {
            let (authority, path) = rest.split_once('/')?;
            let host = authority.rsplit('@').next()?;
            (host.split(':').next()?.to_owned(), path)
        }
        Some(_) => return None,
        None => {
            let (userhost, path) = url.split_once(':')?;
            (userhost.rsplit('@').next()?.to_owned(), path)
        }
    };
    let path = path.trim_matches('/');
    let (owner, name) = split_repo(path)?;
    Some((host, owner, name))
}

/// A pull request as tollgate sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// Its page.
    pub url: String,
    /// Open, closed or merged.
    pub state: PullState,
    /// Its head branch.
    pub head: String,
    /// Its base branch.
    pub base: String,
    /// Its title.
    pub title: String,
    /// Its body.
    pub body: String,
}

/// Where a pull request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PullState {
    /// Open.
    Open,
    /// Closed without being merged.
    Closed,
    /// Merged.
    Merged,
}

/// What [`Client::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Ensured {
    /// Opened a new pull request.
    Opened,
    /// Found the open one, already up to date.
    Found,
    /// Found the open one and updated its title and body.
    Updated,
}

/// What a promotion pull request should say.
#[derive(Debug, Clone)]
pub struct Proposal<'a> {
    /// The promotion branch.
    pub head: &'a str,
    /// The environment's branch.
    pub base: &'a str,
    /// Title.
    pub title: &'a str,
    /// Body (Markdown).
    pub body: &'a str,
}

/// A GitHub client for one repository.
pub struct Client {
    octo: Octocrab,
    target: Target,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Client {
    /// Makes a client, reading the token from its variable now.
    ///
    /// # Errors
    ///
    /// [`GitHubError::TokenUnavailable`] when the variable is unset or empty;
    /// [`GitHubError::BadConfig`] when the API URL is not a URL.
    pub fn new(target: Target) -> Result<Client, GitHubError> {
        let token = std::env::var(&target.token_env)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty() && !t.contains(['\n', '\r', '\0']))
            .ok_or_else(|| GitHubError::TokenUnavailable { var: target.token_env.clone() })?;
        let builder = Octocrab::builder()
            .personal_token(token)
            .base_uri(target.api_url.as_str())
            .map_err(|_| GitHubError::BadConfig(format!("`apiUrl: {}` is not a URL", target.api_url)))?;
        let octo = builder.build().map_err(|e| GitHubError::Transport {
            api: target.api_url.clone(),
            what: "make a client",
            source: Box::new(e),
        })?;
        Ok(Client { octo, target })
    }

    /// Where it opens pull requests.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn error(&self, what: &'static str, e: octocrab::Error) -> GitHubError {
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                let mut message = source.message.clone();
                for detail in source.errors.iter().flatten() {
                    if let Some(m) = detail.get("message").and_then(Value::as_str) {
                        message.push_str(&format!("; {m}"));
                    }
                }
                if status == 401 {
                    return GitHubError::BadCredentials { api: self.target.api_url.clone(), var: self.target.token_env.clone(), message };
                }
                let hint = match status {
                    403 => "the token lacks the `pull_requests: write` (or `repo`) permission, or a rate limit was hit",
                    404 => "check `spec.github.repository` and that the token may see the repository",
                    422 => "check that both branches exist on GitHub",
                    _ => "try again later",
                };
                GitHubError::Api { what, repo: self.target.full_name(), status, message, hint }
            }
            other => GitHubError::Transport { api: self.target.api_url.clone(), what, source: Box::new(other) },
        }
    }

    fn convert(pr: octocrab::models::pulls::PullRequest) -> PullRequest {
        let state = if pr.merged_at.is_some() || pr.merged == Some(true) {
            PullState::Merged
        } else if matches!(pr.state, Some(octocrab::models::IssueState::Closed)) {
            PullState::Closed
        } else {
            PullState::Open
        };
        PullRequest {
            number: pr.number,
            url: pr.html_url.map(|u| u.to_string()).unwrap_or(pr.url),
            state,
            head: pr.head.ref_field,
            base: pr.base.ref_field,
            title: pr.title.unwrap_or_default(),
            body: pr.body.unwrap_or_default(),
        }
    }

    /// The open pull request from `head` into `base`, if any.
    ///
    /// # Errors
    ///
    /// [`GitHubError::BadCredentials`], [`GitHubError::Api`], [`GitHubError::Transport`].
    pub async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, GitHubError> {
        let page = self
            .octo
            .pulls(&self.target.owner, &self.target.repo)
            .list()
            .state(octocrab::params::State::Open)
            .head(format!("{}:{head}", self.target.owner))
            .base(base)
            .send()
            .await
            .map_err(|e| self.error("list pull requests", e))?;
        Ok(page.items.into_iter().map(Self::convert).find(|p| p.head == head && p.base == base))
    }

    /// Pull request `number`.
    ///
    /// # Errors
    ///
    /// As [`Client::find_open`].
    pub async fn get(&self, number: u64) -> Result<PullRequest, GitHubError> {
        let pr =
            self.octo.pulls(&self.target.owner, &self.target.repo).get(number).await.map_err(|e| self.error("read a pull request", e))?;
        Ok(Self::convert(pr))
    }

    /// Opens the pull request, or finds the open one for the same head and base and updates
    /// its title and body when they differ.
    ///
    /// # Errors
    ///
    /// As [`Client::find_open`].
    pub async fn ensure(&self, p: &Proposal<'_>) -> Result<(PullRequest, Ensured), GitHubError> {
        if let Some(found) = self.find_open(p.head, p.base).await? {
            return self.refresh(found, p).await;
        }
        let created = self.octo.pulls(&self.target.owner, &self.target.repo).create(p.title, p.head, p.base).body(p.body).send().await;
        match created {
            Ok(pr) => Ok((Self::convert(pr), Ensured::Opened)),
            // Another writer opened it between the look and the create (GitHub refuses a second
            // open pull request for a head with 422): adopt the one that is open.
            Err(e) if matches!(&e, octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == 422) => {
                match self.find_open(p.head, p.base).await? {
                    Some(found) => {
                        tracing::info!(number = found.number, "a pull request for the branch was opened meanwhile");
                        self.refresh(found, p).await
                    }
                    None => Err(self.error("open a pull request", e)),
                }
            }
            Err(e) => Err(self.error("open a pull request", e)),
        }
    }

    /// Brings `found` (an open pull request) up to date: its title and body are set when they
    /// differ.
    ///
    /// # Errors
    ///
    /// As [`Client::find_open`].
    pub async fn refresh(&self, found: PullRequest, p: &Proposal<'_>) -> Result<(PullRequest, Ensured), GitHubError> {
        if found.title == p.title && found.body == p.body {
            return Ok((found, Ensured::Found));
        }
        let pr = self
            .octo
            .pulls(&self.target.owner, &self.target.repo)
            .update(found.number)
            .title(p.title)
            .body(p.body)
            .send()
            .await
            .map_err(|e| self.error("update a pull request", e))?;
        Ok((Self::convert(pr), Ensured::Updated))
    }
}
