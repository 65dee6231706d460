//! Team memberships, which review rules read ("an approval from a member of `org/team`").

use hyper::StatusCode;
use serde_json::json;

use crate::contract::Contract;
use crate::server::{Call, Reply, set};
use crate::{GitHubDouble, State};

impl GitHubDouble {
    /// Makes `login` an active member of team `team` (its slug) of organisation `org`.
    pub fn add_team_member(&self, org: &str, team: &str, login: &str) {
        self.lock().teams.insert((org.to_owned(), team.to_owned(), login.to_owned()));
    }
}

/// `GET /orgs/{org}/teams/{team_slug}/memberships/{username}`: 200 for an active member, 404
/// otherwise (GitHub answers 404 both for a non-member and for a team it does not show).
pub(crate) fn membership(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    let part = |i: usize| call.segments.get(i).copied().unwrap_or_default().to_owned();
    let (org, team, login) = (part(1), part(3), part(5));
    if !st.teams.contains(&(org.clone(), team.clone(), login.clone())) {
        return Reply::not_found();
    }
    let mut v = contract.example(call.op, 200);
    set(&mut v, "/url", json!(format!("{}/orgs/{org}/teams/{team}/memberships/{login}", st.base_url)));
    set(&mut v, "/role", json!("member"));
    set(&mut v, "/state", json!("active"));
    Reply::json(StatusCode::OK, v)
}
