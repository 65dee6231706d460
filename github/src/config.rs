//! Where GitHub is, for a config repo: `spec.github` of `tollgate.yaml` and the remote's URL.
//!
//! The repository is an explicit `spec.github.repository`, or else the owner and name in the
//! remote's URL when it is on `github.com`. The API is `spec.github.apiUrl` (GitHub Enterprise
//! Server: `https://HOST/api/v3`), default `https://api.github.com`. Credentials are never in the
//! config repo: `spec.github.app` names the GitHub App (its id, its installation) and the
//! environment variable holding its private key; `spec.github.tokenEnv` the variable holding a
//! personal token, the fallback when no App is configured.

use serde::Serialize;
use serde_json::Value;

use crate::GitHubError;

/// The API base URL of github.com.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The environment variable the token is read from, unless `spec.github.tokenEnv` names another.
pub const DEFAULT_TOKEN_ENV: &str = "GITHUB_TOKEN";
/// The environment variable the App's private key (PEM) is read from, unless
/// `spec.github.app.privateKeyEnv` names another.
pub const DEFAULT_PRIVATE_KEY_ENV: &str = "GITHUB_APP_PRIVATE_KEY";

/// `spec.github` of `tollgate.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitHubConfig {
    /// `owner/name`, when set.
    pub repository: Option<String>,
    /// The API base URL, when set.
    pub api_url: Option<String>,
    /// The variable holding a personal token.
    pub token_env: Option<String>,
    /// The GitHub App to authenticate as, when set.
    pub app: Option<AppConfig>,
}

/// `spec.github.app`: the GitHub App tollgate authenticates as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppConfig {
    /// The App's id.
    pub id: u64,
    /// The installation on the repository's owner; when absent, the one a webhook delivery
    /// names.
    pub installation_id: Option<u64>,
    /// The variable holding the App's private key (PEM).
    pub private_key_env: String,
}

impl GitHubConfig {
    /// Reads `spec.github` from a Config document's value; `None` when absent. Types are left
    /// to schema validation.
    pub fn from_config(value: &Value) -> Option<GitHubConfig> {
        let g = value.pointer("/spec/github")?;
        let s = |k: &str| g.get(k).and_then(Value::as_str).map(str::to_owned);
        let app = g.get("app").and_then(|a| {
            Some(AppConfig {
                id: a.get("id").and_then(Value::as_u64)?,
                installation_id: a.get("installationId").and_then(Value::as_u64),
                private_key_env: a.get("privateKeyEnv").and_then(Value::as_str).unwrap_or(DEFAULT_PRIVATE_KEY_ENV).to_owned(),
            })
        });
        Some(GitHubConfig { repository: s("repository"), api_url: s("apiUrl"), token_env: s("tokenEnv"), app })
    }
}

/// A repository on GitHub and how to reach it.
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
    /// The App to authenticate as, when configured (preferred over the token).
    pub app: Option<AppConfig>,
}

impl Target {
    /// Resolves the target from `spec.github` and the remote's URL: the config's repository
    /// wins; otherwise a `github.com` remote names it. `Ok(None)`: neither says (pull requests
    /// are not opened; the branch is pushed only).
    ///
    /// # Errors
    ///
    /// [`GitHubError::BadConfig`] when `spec.github.repository` is not `OWNER/NAME`;
    /// [`GitHubError::NoRepository`] when `spec.github` is there and no repository is known.
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
        Ok(Some(Target { owner, repo, api_url, token_env, app: config.and_then(|c| c.app.clone()) }))
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

/// `(owner, name)` of `OWNER/NAME`, when both are GitHub names.
pub fn split_repo(r: &str) -> Option<(String, String)> {
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
