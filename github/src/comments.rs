//! The one report comment on a pull request: found again by a hidden marker and edited in
//! place, never posted twice; cut to GitHub's 65,536 characters with a link to the full report.

use http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::checks::cut;
use crate::{Client, GitHubError};

/// The longest comment body GitHub takes.
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// What [`Client::upsert_comment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Upserted {
    /// Posted a new comment.
    Created,
    /// Edited the marked one.
    Updated,
    /// The marked one already said this.
    Unchanged,
}

/// The hidden marker that identifies tollgate's comment of `kind` (`report`).
pub fn marker(kind: &str) -> String {
    format!("<!-- tollgate:{kind} -->")
}

/// `body` with the marker first, cut to GitHub's limit; when cut, it ends with a link to
/// `full` (the check run that holds everything).
pub fn comment_body(marker: &str, body: &str, full: Option<&str>) -> String {
    let note = match full {
        Some(url) => format!("\n\n… cut to GitHub's comment limit; the whole report is in [the check run]({url})."),
        None => "\n\n… cut to GitHub's comment limit; the whole report is in the check runs.".to_owned(),
    };
    cut(&format!("{marker}\n{body}"), MAX_COMMENT_CHARS, &note)
}

impl Client {
    /// Posts `body` on issue or pull request `number`, or edits the comment that holds `marker`
    /// (the first one, reading every page of comments). `body` must start with the marker
    /// ([`comment_body`] makes one).
    ///
    /// # Errors
    ///
    /// As [`Client::send`].
    pub async fn upsert_comment(&self, number: u64, marker: &str, body: &str) -> Result<(u64, Upserted), GitHubError> {
        let what = "write the report comment";
        let comments = self.paginate(what, &format!("{}/issues/{number}/comments?per_page=100", self.repo_path())).await?;
        let mine = comments.iter().find(|c| c.get("body").and_then(Value::as_str).is_some_and(|b| b.contains(marker)));
        if let Some(c) = mine {
            let id = c.get("id").and_then(Value::as_u64).ok_or(GitHubError::BadAnswer { what, reason: "a comment without `id`".into() })?;
            if c.get("body").and_then(Value::as_str) == Some(body) {
                return Ok((id, Upserted::Unchanged));
            }
            self.send(what, Method::PATCH, &format!("{}/issues/comments/{id}", self.repo_path()), Some(&json!({"body": body}))).await?;
            return Ok((id, Upserted::Updated));
        }
        let reply =
            self.send(what, Method::POST, &format!("{}/issues/{number}/comments", self.repo_path()), Some(&json!({"body": body}))).await?;
        let id = reply.body.get("id").and_then(Value::as_u64).ok_or(GitHubError::BadAnswer { what, reason: "no comment `id`".into() })?;
        Ok((id, Upserted::Created))
    }
}
