//! Pull requests: the promotion pull requests of environments with `promotion.mode:
//! pullRequest` (one per head branch, found or opened, kept up to date) and the pull requests
//! people open, read for their head, base and author.
//!
//! # Guarantees
//!
//! - [`Client::ensure`] never opens a second pull request for a head branch that has an open
//!   one: it looks for an open one first, and when a create races with another (GitHub answers
//!   422 "A pull request already exists"), it looks again and adopts the one it finds.

use http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::client::encode_component;
use crate::{Client, GitHubError};

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
    /// The head commit.
    pub head_sha: String,
    /// The login of who opened it.
    pub author: String,
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

/// A pull request from GitHub's JSON (`pulls/get`, `pulls/list`, webhook payloads).
pub(crate) fn parse_pull(v: &Value, what: &'static str) -> Result<PullRequest, GitHubError> {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    let number =
        v.get("number").and_then(Value::as_u64).ok_or(GitHubError::BadAnswer { what, reason: "no pull request `number`".into() })?;
    let merged = v.get("merged_at").is_some_and(|m| !m.is_null()) || v.get("merged").and_then(Value::as_bool) == Some(true);
    let state = if merged {
        PullState::Merged
    } else if v.get("state").and_then(Value::as_str) == Some("closed") {
        PullState::Closed
    } else {
        PullState::Open
    };
    let url = v.get("html_url").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| s("/url"));
    Ok(PullRequest {
        number,
        url,
        state,
        head: s("/head/ref"),
        base: s("/base/ref"),
        title: s("/title"),
        body: s("/body"),
        head_sha: s("/head/sha"),
        author: s("/user/login"),
    })
}

impl Client {
    /// The open pull request from `head` into `base`, if any.
    ///
    /// # Errors
    ///
    /// [`GitHubError::BadCredentials`], [`GitHubError::Api`], [`GitHubError::Transport`],
    /// [`GitHubError::RateLimited`].
    pub async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, GitHubError> {
        let what = "list pull requests";
        let uri = format!(
            "{}/pulls?state=open&head={}&base={}&per_page=100",
            self.repo_path(),
            encode_component(&format!("{}:{head}", self.target().owner)),
            encode_component(base)
        );
        let items = self.send(what, Method::GET, &uri, None).await?.body;
        let items = items.as_array().ok_or(GitHubError::BadAnswer { what, reason: "a listing that is not an array".into() })?;
        for item in items {
            let pr = parse_pull(item, what)?;
            if pr.head == head && pr.base == base {
                return Ok(Some(pr));
            }
        }
        Ok(None)
    }

    /// Every open pull request of the repository (for the resync that heals missed webhooks).
    ///
    /// # Errors
    ///
    /// As [`Client::find_open`].
    pub async fn open_pulls(&self) -> Result<Vec<PullRequest>, GitHubError> {
        let what = "list open pull requests";
        let items = self.paginate(what, &format!("{}/pulls?state=open&per_page=100", self.repo_path())).await?;
        items.iter().map(|v| parse_pull(v, what)).collect()
    }

    /// Pull request `number`.
    ///
    /// # Errors
    ///
    /// As [`Client::find_open`].
    pub async fn get(&self, number: u64) -> Result<PullRequest, GitHubError> {
        let what = "read a pull request";
        parse_pull(&self.send(what, Method::GET, &format!("{}/pulls/{number}", self.repo_path()), None).await?.body, what)
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
        let what = "open a pull request";
        let body = json!({"title": p.title, "head": p.head, "base": p.base, "body": p.body});
        match self.send(what, Method::POST, &format!("{}/pulls", self.repo_path()), Some(&body)).await {
            Ok(reply) => Ok((parse_pull(&reply.body, what)?, Ensured::Opened)),
            // Another writer opened it between the look and the create (GitHub refuses a second
            // open pull request for a head with 422): adopt the one that is open.
            Err(e) if e.status() == Some(422) => match self.find_open(p.head, p.base).await? {
                Some(found) => {
                    tracing::info!(number = found.number, "a pull request for the branch was opened meanwhile");
                    self.refresh(found, p).await
                }
                None => Err(e),
            },
            Err(e) => Err(e),
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
        let what = "update a pull request";
        let body = json!({"title": p.title, "body": p.body});
        let reply = self.send(what, Method::PATCH, &format!("{}/pulls/{}", self.repo_path(), found.number), Some(&body)).await?;
        Ok((parse_pull(&reply.body, what)?, Ensured::Updated))
    }

    /// The files pull request `number` changes (paths), every page.
    ///
    /// # Errors
    ///
    /// As [`Client::find_open`].
    pub async fn files(&self, number: u64) -> Result<Vec<String>, GitHubError> {
        let items =
            self.paginate("list a pull request's files", &format!("{}/pulls/{number}/files?per_page=100", self.repo_path())).await?;
        Ok(items.iter().filter_map(|f| f.get("filename").and_then(Value::as_str).map(str::to_owned)).collect())
    }
}
