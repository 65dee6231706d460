//! What a commit is told: check runs through the Checks API, with annotations at file and line,
//! and commit statuses, the fallback for a token that may not write checks (a personal token:
//! GitHub lets only Apps create check runs).
//!
//! GitHub takes at most 50 annotations per request: [`Client::publish_check`] creates the run
//! in progress with the first 50, adds the rest 50 at a time, and completes it with the last
//! batch. An output's summary and text are cut to GitHub's 65,535 characters each.

use http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Client, GitHubError};

/// Annotations per request, GitHub's limit.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// The longest `output.summary` or `output.text` GitHub takes.
pub const MAX_OUTPUT_CHARS: usize = 65_535;
/// The longest commit-status description GitHub takes.
pub const MAX_STATUS_DESCRIPTION: usize = 140;

/// How much an annotation matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Information.
    Notice,
    /// Does not fail the check.
    Warning,
    /// Fails the check.
    Failure,
}

/// A note on lines of a file at the check's commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// The file, relative to the repository's root.
    pub path: String,
    /// First line (1-based).
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// Level.
    #[serde(rename = "annotation_level")]
    pub level: Level,
    /// A title (the rule id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The message.
    pub message: String,
}

/// How a check run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Neither (nothing to check).
    Neutral,
    /// Waits on a person (an approval, a window).
    ActionRequired,
}

impl Conclusion {
    /// The commit-status state that says the same.
    pub fn status_state(self) -> &'static str {
        match self {
            Conclusion::Success | Conclusion::Neutral => "success",
            Conclusion::Failure => "failure",
            Conclusion::ActionRequired => "pending",
        }
    }
}

/// A completed check run to publish.
#[derive(Debug, Clone)]
pub struct CheckRun {
    /// Its name (`tollgate/check`).
    pub name: String,
    /// The commit.
    pub head_sha: String,
    /// How it ended.
    pub conclusion: Conclusion,
    /// The output's title.
    pub title: String,
    /// The output's summary (Markdown).
    pub summary: String,
    /// The output's details (Markdown).
    pub text: Option<String>,
    /// Notes at file and line.
    pub annotations: Vec<Annotation>,
    /// Where a person sees more.
    pub details_url: Option<String>,
    /// tollgate's id for what it checked (the evaluation).
    pub external_id: Option<String>,
}

/// A published check run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// GitHub's id of the run.
    pub id: u64,
    /// Its page, when GitHub says.
    pub url: Option<String>,
}

/// `s` cut to `max` characters, on a character boundary, with a note when cut.
pub fn cut(s: &str, max: usize, note: &str) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let keep = max.saturating_sub(note.chars().count());
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(note);
    out
}

impl Client {
    /// Publishes a completed check run (see the module docs for the batching).
    ///
    /// # Errors
    ///
    /// [`GitHubError::Api`] with status 403 when the credentials may not write checks (use
    /// [`Client::set_status`]); the other errors of [`Client::send`].
    pub async fn publish_check(&self, run: &CheckRun) -> Result<Published, GitHubError> {
        let what = "publish a check run";
        let note = "\n\n… (cut to GitHub's limit)";
        let mut output = json!({"title": run.title, "summary": cut(&run.summary, MAX_OUTPUT_CHARS, note)});
        if let Some(text) = &run.text {
            output["text"] = json!(cut(text, MAX_OUTPUT_CHARS, note));
        }
        let mut batches = run.annotations.chunks(ANNOTATIONS_PER_REQUEST);
        let first = batches.next().unwrap_or_default();
        let last_is_first = run.annotations.len() <= ANNOTATIONS_PER_REQUEST;
        let mut create = json!({"name": run.name, "head_sha": run.head_sha, "output": with_annotations(&output, first)});
        if last_is_first {
            create["status"] = json!("completed");
            create["conclusion"] = json!(run.conclusion);
        } else {
            create["status"] = json!("in_progress");
        }
        if let Some(u) = &run.details_url {
            create["details_url"] = json!(u);
        }
        if let Some(id) = &run.external_id {
            create["external_id"] = json!(id);
        }
        let reply = self.send(what, Method::POST, &format!("{}/check-runs", self.repo_path()), Some(&create)).await?;
        let id = reply.body.get("id").and_then(Value::as_u64).ok_or(GitHubError::BadAnswer { what, reason: "no check run `id`".into() })?;
        let url = reply.body.get("html_url").and_then(Value::as_str).map(str::to_owned);
        let rest: Vec<&[Annotation]> = batches.collect();
        for (i, batch) in rest.iter().enumerate() {
            let mut update = json!({"output": with_annotations(&output, batch)});
            if i + 1 == rest.len() {
                update["status"] = json!("completed");
                update["conclusion"] = json!(run.conclusion);
            }
            self.send(what, Method::PATCH, &format!("{}/check-runs/{id}", self.repo_path()), Some(&update)).await?;
        }
        Ok(Published { id, url })
    }

    /// Sets the commit status `context` of `sha` (`description` cut to GitHub's 140 characters).
    ///
    /// # Errors
    ///
    /// As [`Client::send`].
    pub async fn set_status(
        &self,
        sha: &str,
        context: &str,
        conclusion: Conclusion,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<(), GitHubError> {
        let mut body =
            json!({"state": conclusion.status_state(), "context": context, "description": cut(description, MAX_STATUS_DESCRIPTION, "…")});
        if let Some(u) = target_url {
            body["target_url"] = json!(u);
        }
        self.send("set a commit status", Method::POST, &format!("{}/statuses/{sha}", self.repo_path()), Some(&body)).await.map(drop)
    }
}

fn with_annotations(output: &Value, batch: &[Annotation]) -> Value {
    let mut o = output.clone();
    if !batch.is_empty() {
        o["annotations"] = json!(batch);
    }
    o
}
