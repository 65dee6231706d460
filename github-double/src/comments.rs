//! Issue comments on pull requests (tollgate's report comment among them).

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::contract::Contract;
use crate::page::paginate;
use crate::pulls::CLIENT_LOGIN;
use crate::server::{Call, Reply, set};
use crate::{GitHubDouble, State, now_s, timestamp};

/// The longest comment body GitHub takes, in characters.
const MAX_BODY_CHARS: usize = 65_536;

/// A comment on a pull request's conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// The pull request (issue) it is on.
    pub issue: u64,
    /// Its author's login (`tollgate[bot]` when the client wrote it).
    pub login: String,
    /// Its Markdown body.
    pub body: String,
    /// When it was written.
    pub created_at: String,
    /// When it was last edited.
    pub updated_at: String,
}

impl GitHubDouble {
    /// The comments on pull request `number`, oldest first.
    pub fn comments(&self, number: u64) -> Vec<Comment> {
        self.lock().comments.iter().filter(|c| c.issue == number).cloned().collect()
    }

    /// Comments on pull request `number` as `login`, as a person would; returns the comment's
    /// id.
    pub fn add_comment(&self, number: u64, login: &str, body: &str) -> u64 {
        let mut st = self.lock();
        add(&mut st, number, login, body)
    }
}

fn add(st: &mut State, issue: u64, login: &str, body: &str) -> u64 {
    let id = st.next_id();
    let now = timestamp(now_s());
    st.comments.push(Comment { id, issue, login: login.into(), body: body.into(), created_at: now.clone(), updated_at: now });
    id
}

/// GitHub's refusal of a body over the limit, or `None`.
fn too_long(body: &str) -> Option<Reply> {
    (body.chars().count() > MAX_BODY_CHARS)
        .then(|| Reply::validation("IssueComment", "body", "custom", &format!("body is too long (maximum is {MAX_BODY_CHARS} characters)")))
}

pub(crate) fn list(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    let Some(number) = call.number(4).filter(|n| st.pulls.get(*n).is_some()) else { return Reply::not_found() };
    let example = contract.example(call.op, 200).get(0).cloned().unwrap_or_else(|| json!({}));
    let items = st.comments.iter().filter(|c| c.issue == number).map(|c| fill(st, example.clone(), c)).collect();
    paginate(items, call, &st.base_url)
}

pub(crate) fn create(st: &mut State, contract: &Contract, call: &Call<'_>) -> Reply {
    let Some(number) = call.number(4).filter(|n| st.pulls.get(*n).is_some()) else { return Reply::not_found() };
    let body = call.field("body").unwrap_or_default();
    if let Some(refused) = too_long(body) {
        return refused;
    }
    let id = add(st, number, CLIENT_LOGIN, body);
    let comment = st.comments.iter().find(|c| c.id == id).cloned();
    match comment {
        Some(c) => Reply::json(StatusCode::CREATED, fill(st, contract.example(call.op, 201), &c)),
        None => Reply::not_found(),
    }
}

fn index(st: &State, call: &Call<'_>) -> Option<usize> {
    let id = call.number(5)?;
    st.comments.iter().position(|c| c.id == id)
}

pub(crate) fn get(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    match index(st, call) {
        Some(i) => Reply::json(StatusCode::OK, fill(st, contract.example(call.op, 200), &st.comments[i])),
        None => Reply::not_found(),
    }
}

pub(crate) fn update(st: &mut State, contract: &Contract, call: &Call<'_>) -> Reply {
    let Some(i) = index(st, call) else { return Reply::not_found() };
    let body = call.field("body").unwrap_or_default();
    if let Some(refused) = too_long(body) {
        return refused;
    }
    let c = &mut st.comments[i];
    body.clone_into(&mut c.body);
    c.updated_at = timestamp(now_s());
    Reply::json(StatusCode::OK, fill(st, contract.example(call.op, 200), &st.comments[i]))
}

pub(crate) fn delete(st: &mut State, call: &Call<'_>) -> Reply {
    match index(st, call) {
        Some(i) => {
            st.comments.remove(i);
            Reply::no_content()
        }
        None => Reply::not_found(),
    }
}

/// The spec's example of an issue comment with this one's facts written over it.
fn fill(st: &State, mut v: Value, c: &Comment) -> Value {
    let api = st.api();
    set(&mut v, "/id", json!(c.id));
    set(&mut v, "/url", json!(format!("{api}/issues/comments/{}", c.id)));
    set(&mut v, "/html_url", json!(format!("{}/pull/{}#issuecomment-{}", st.html(), c.issue, c.id)));
    set(&mut v, "/issue_url", json!(format!("{api}/issues/{}", c.issue)));
    set(&mut v, "/body", json!(c.body));
    set(&mut v, "/user/login", json!(c.login));
    set(&mut v, "/created_at", json!(c.created_at));
    set(&mut v, "/updated_at", json!(c.updated_at));
    v
}
