//! Reviews of a pull request and team memberships: what approvals from GitHub are made of.

use http::Method;
use serde::Serialize;
use serde_json::Value;

use crate::client::encode_component;
use crate::{Client, GitHubError};

/// A pull-request review as GitHub lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// GitHub's id of the review.
    pub id: u64,
    /// Who reviewed.
    pub login: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    /// The commit reviewed.
    pub commit_id: String,
}

impl Review {
    /// Parses one review (`pulls/list-reviews`, or `review` of a `pull_request_review` event).
    pub fn from_json(v: &Value) -> Option<Review> {
        Some(Review {
            id: v.get("id")?.as_u64()?,
            login: v.pointer("/user/login")?.as_str()?.to_owned(),
            state: v.get("state")?.as_str()?.to_ascii_uppercase(),
            commit_id: v.get("commit_id").and_then(Value::as_str).unwrap_or_default().to_owned(),
        })
    }
}

impl Client {
    /// Every review of pull request `number`, oldest first, every page.
    ///
    /// # Errors
    ///
    /// As [`Client::send`].
    pub async fn reviews(&self, number: u64) -> Result<Vec<Review>, GitHubError> {
        let items = self.paginate("list reviews", &format!("{}/pulls/{number}/reviews?per_page=100", self.repo_path())).await?;
        Ok(items.iter().filter_map(Review::from_json).collect())
    }

    /// Whether `login` is an active member of `org`'s team `team` (a pending invitation is not).
    ///
    /// # Errors
    ///
    /// As [`Client::send`]; a 404 (not a member, or a team the credentials cannot see) is
    /// `Ok(false)`.
    pub async fn is_team_member(&self, org: &str, team: &str, login: &str) -> Result<bool, GitHubError> {
        let uri = format!("/orgs/{}/teams/{}/memberships/{}", encode_component(org), encode_component(team), encode_component(login));
        match self.send("read a team membership", Method::GET, &uri, None).await {
            Ok(reply) => Ok(reply.body.get("state").and_then(Value::as_str) == Some("active")),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
