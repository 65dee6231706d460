//! Pull requests, their reviews and their changed files.

use std::collections::HashMap;

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::contract::Contract;
use crate::page::paginate;
use crate::server::{Call, Reply, set};
use crate::{GitHubDouble, State, fake_sha};

/// The login of whoever the client authenticates as: the author of what it creates.
pub(crate) const CLIENT_LOGIN: &str = "tollgate[bot]";

/// The login of the other writer of [`GitHubDouble::open_pull`].
const OTHER_LOGIN: &str = "octocat";

/// A pull request held by the double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// Its number.
    pub number: u64,
    /// The head branch (without the `owner:` prefix).
    pub head: String,
    /// The base branch.
    pub base: String,
    /// Its title.
    pub title: String,
    /// Its body.
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged.
    pub merged: bool,
    /// The commit its head branch points at (moved by [`GitHubDouble::set_head`]).
    pub head_sha: String,
    /// The commit its base branch pointed at when it was opened.
    pub base_sha: String,
    /// The login of who opened it (`tollgate[bot]` when the client did).
    pub author: String,
    /// The merge commit, once merged (GitHub's `merge_commit_sha`).
    pub merge_commit_sha: Option<String>,
}

/// A review of a pull request, made by a test ([`GitHubDouble::add_review`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Its id.
    pub id: u64,
    /// The pull request it reviews.
    pub pull: u64,
    /// The reviewer's login.
    pub login: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED` or, once dismissed, `DISMISSED`.
    pub state: String,
    /// The head commit the review was made on.
    pub commit_id: String,
}

/// The pull requests of the repository and what hangs off them.
#[derive(Debug, Default)]
pub(crate) struct Pulls {
    list: Vec<Pull>,
    reviews: Vec<Review>,
    /// `(filename, status)` of each pull request's changed files.
    files: HashMap<u64, Vec<(String, String)>>,
}

impl Pulls {
    fn index(&self, number: Option<u64>) -> Option<usize> {
        let n = number?;
        self.list.iter().position(|p| p.number == n)
    }

    /// The pull request `number`, if there is one.
    pub(crate) fn get(&self, number: u64) -> Option<&Pull> {
        self.list.iter().find(|p| p.number == number)
    }

    /// Every pull request, oldest first.
    pub(crate) fn all(&self) -> &[Pull] {
        &self.list
    }

    fn with(&mut self, number: u64, change: impl FnOnce(&mut Pull)) {
        if let Some(p) = self.list.iter_mut().find(|p| p.number == number) {
            change(p);
        }
    }

    fn push(&mut self, make: impl FnOnce(u64) -> Pull) -> Pull {
        let number = self.list.iter().map(|p| p.number).max().unwrap_or(0) + 1;
        let pull = make(number);
        self.list.push(pull.clone());
        pull
    }
}

impl GitHubDouble {
    /// Every pull request, by number.
    pub fn pulls(&self) -> Vec<Pull> {
        self.lock().pulls.list.clone()
    }

    /// Closes pull request `number` without merging it, as a reviewer would.
    pub fn close(&self, number: u64) {
        self.lock().pulls.with(number, |p| p.state = "closed".into());
    }

    /// Marks pull request `number` merged (the test merges the branch in the Git remote), with
    /// a merge commit derived from its number.
    pub fn mark_merged(&self, number: u64) {
        self.mark_merged_as(number, &fake_sha(&format!("merge of pull request {number}")));
    }

    /// Marks pull request `number` merged as `merge_commit_sha` (the merge the test made).
    pub fn mark_merged_as(&self, number: u64, merge_commit_sha: &str) {
        self.lock().pulls.with(number, |p| {
            p.state = "closed".into();
            p.merged = true;
            p.merge_commit_sha = Some(merge_commit_sha.to_owned());
        });
    }

    /// Reopens pull request `number`.
    pub fn reopen(&self, number: u64) {
        self.lock().pulls.with(number, |p| p.state = "open".into());
    }

    /// Opens a pull request as another writer would (an earlier tollgate that died before it
    /// recorded it, or a person); returns its number. Its head and base commits are derived
    /// from the branch names, its author is `octocat`.
    pub fn open_pull(&self, head: &str, base: &str, title: &str, body: &str) -> u64 {
        self.open_pull_at(head, base, &fake_sha(head), &fake_sha(base), OTHER_LOGIN, title, body)
    }

    /// Opens a pull request from `head` at `head_sha` into `base` at `base_sha`, by `author`;
    /// returns its number.
    #[allow(clippy::too_many_arguments)]
    pub fn open_pull_at(&self, head: &str, base: &str, head_sha: &str, base_sha: &str, author: &str, title: &str, body: &str) -> u64 {
        let pull = self.lock().pulls.push(|number| Pull {
            number,
            head: head.into(),
            base: base.into(),
            title: title.into(),
            body: body.into(),
            state: "open".into(),
            merged: false,
            head_sha: head_sha.into(),
            base_sha: base_sha.into(),
            author: author.into(),
            merge_commit_sha: None,
        });
        pull.number
    }

    /// Moves the head of pull request `number` to `sha`, as a push to its branch does.
    pub fn set_head(&self, number: u64, sha: &str) {
        self.lock().pulls.with(number, |p| p.head_sha = sha.to_owned());
    }

    /// Reviews pull request `number` as `login` on `commit_id`; `state` is `APPROVED`,
    /// `CHANGES_REQUESTED` or `COMMENTED`. Returns the review's id.
    pub fn add_review(&self, number: u64, login: &str, state: &str, commit_id: &str) -> u64 {
        let mut st = self.lock();
        let id = st.next_id();
        st.pulls.reviews.push(Review { id, pull: number, login: login.into(), state: state.into(), commit_id: commit_id.into() });
        id
    }

    /// Dismisses review `id` of pull request `number` (its state becomes `DISMISSED`).
    pub fn dismiss_review(&self, number: u64, id: u64) {
        let mut st = self.lock();
        if let Some(r) = st.pulls.reviews.iter_mut().find(|r| r.pull == number && r.id == id) {
            r.state = "DISMISSED".into();
        }
    }

    /// The reviews of pull request `number`, oldest first.
    pub fn reviews(&self, number: u64) -> Vec<Review> {
        self.lock().pulls.reviews.iter().filter(|r| r.pull == number).cloned().collect()
    }

    /// Sets the changed files of pull request `number`: `(filename, status)` with status
    /// `added`, `removed`, `modified`, `renamed`, …
    pub fn set_files(&self, number: u64, files: &[(&str, &str)]) {
        let files = files.iter().map(|(f, s)| ((*f).to_owned(), (*s).to_owned())).collect();
        self.lock().pulls.files.insert(number, files);
    }
}

/// `head` as the API takes it: `branch` or `owner:branch`.
fn head_branch<'a>(st: &State, head: &'a str) -> Option<&'a str> {
    match head.split_once(':') {
        Some((owner, branch)) => (owner == st.owner).then_some(branch),
        None => Some(head),
    }
}

pub(crate) fn list(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    let state = call.query.get("state").map_or("open", String::as_str);
    let head = call.query.get("head").map(|h| head_branch(st, h));
    let example = contract.example(call.op, 200).get(0).cloned().unwrap_or_else(|| json!({}));
    let items: Vec<Value> = st
        .pulls
        .list
        .iter()
        .filter(|p| state == "all" || p.state == state)
        .filter(|p| head.is_none_or(|h| h == Some(p.head.as_str())))
        .filter(|p| call.query.get("base").is_none_or(|b| *b == p.base))
        .map(|p| fill(st, example.clone(), p))
        .collect();
    paginate(items, call, &st.base_url)
}

pub(crate) fn create(st: &mut State, contract: &Contract, call: &Call<'_>) -> Reply {
    let head = call.field("head").unwrap_or_default();
    let base = call.field("base").unwrap_or_default().to_owned();
    let Some(branch) = head_branch(st, head).map(str::to_owned) else {
        return Reply::validation("PullRequest", "head", "invalid", "head must be a branch of this repository");
    };
    if call.field("title").is_none_or(str::is_empty) {
        return Reply::validation("PullRequest", "title", "missing_field", "title is required");
    }
    if st.pulls.list.iter().any(|p| p.state == "open" && p.head == branch && p.base == base) {
        let message = format!("A pull request already exists for {}:{branch}.", st.owner);
        return Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": message}], "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"}),
        );
    }
    let (title, body) = (call.field("title").unwrap_or_default().to_owned(), call.field("body").unwrap_or_default().to_owned());
    let pull = st.pulls.push(|number| Pull {
        number,
        head_sha: fake_sha(&branch),
        base_sha: fake_sha(&base),
        head: branch,
        base,
        title,
        body,
        state: "open".into(),
        merged: false,
        author: CLIENT_LOGIN.into(),
        merge_commit_sha: None,
    });
    Reply::json(StatusCode::CREATED, fill(st, contract.example(call.op, 201), &pull))
}

pub(crate) fn get(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    match st.pulls.index(call.number(4)) {
        Some(i) => Reply::json(StatusCode::OK, fill(st, contract.example(call.op, 200), &st.pulls.list[i])),
        None => Reply::not_found(),
    }
}

pub(crate) fn update(st: &mut State, contract: &Contract, call: &Call<'_>) -> Reply {
    let Some(i) = st.pulls.index(call.number(4)) else { return Reply::not_found() };
    let p = &mut st.pulls.list[i];
    for (field, slot) in [("title", &mut p.title), ("body", &mut p.body), ("state", &mut p.state), ("base", &mut p.base)] {
        if let Some(value) = call.field(field) {
            value.clone_into(slot);
        }
    }
    Reply::json(StatusCode::OK, fill(st, contract.example(call.op, 200), &st.pulls.list[i]))
}

pub(crate) fn reviews(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    let Some(number) = call.number(4).filter(|n| st.pulls.get(*n).is_some()) else { return Reply::not_found() };
    let example = contract.example(call.op, 200).get(0).cloned().unwrap_or_else(|| json!({}));
    let pull_url = format!("{}/pulls/{number}", st.api());
    let items = st
        .pulls
        .reviews
        .iter()
        .filter(|r| r.pull == number)
        .map(|r| {
            let mut v = example.clone();
            let html = format!("{}/pull/{number}#pullrequestreview-{}", st.html(), r.id);
            set(&mut v, "/id", json!(r.id));
            set(&mut v, "/user/login", json!(r.login));
            set(&mut v, "/body", json!(""));
            set(&mut v, "/state", json!(r.state));
            set(&mut v, "/commit_id", json!(r.commit_id));
            set(&mut v, "/html_url", json!(html));
            set(&mut v, "/pull_request_url", json!(pull_url));
            set(&mut v, "/_links/html/href", json!(html));
            set(&mut v, "/_links/pull_request/href", json!(pull_url));
            v
        })
        .collect();
    paginate(items, call, &st.base_url)
}

pub(crate) fn files(st: &State, contract: &Contract, call: &Call<'_>) -> Reply {
    let Some(pull) = call.number(4).and_then(|n| st.pulls.get(n)) else { return Reply::not_found() };
    let example = contract.example(call.op, 200).get(0).cloned().unwrap_or_else(|| json!({}));
    let items = st
        .pulls
        .files
        .get(&pull.number)
        .into_iter()
        .flatten()
        .map(|(filename, status)| {
            let mut v = example.clone();
            set(&mut v, "/sha", json!(fake_sha(&format!("{}:{filename}", pull.head_sha))));
            set(&mut v, "/filename", json!(filename));
            set(&mut v, "/status", json!(status));
            set(&mut v, "/blob_url", json!(format!("{}/blob/{}/{filename}", st.html(), pull.head_sha)));
            set(&mut v, "/raw_url", json!(format!("{}/raw/{}/{filename}", st.html(), pull.head_sha)));
            set(&mut v, "/contents_url", json!(format!("{}/contents/{filename}?ref={}", st.api(), pull.head_sha)));
            v
        })
        .collect();
    paginate(items, call, &st.base_url)
}

/// The spec's example of a pull request with this one's facts written over it.
fn fill(st: &State, mut v: Value, p: &Pull) -> Value {
    let api = st.api();
    // tollgate's pull requests have no reviewers, teams, labels, assignees or milestone (and
    // the description's own example of `requested_teams` misses a required `type`).
    for list in ["/requested_teams", "/requested_reviewers", "/labels", "/assignees"] {
        set(&mut v, list, json!([]));
    }
    for none in ["/assignee", "/milestone", "/auto_merge", "/merged_by"] {
        set(&mut v, none, Value::Null);
    }
    set(&mut v, "/id", json!(1000 + p.number));
    set(&mut v, "/number", json!(p.number));
    set(&mut v, "/url", json!(format!("{api}/pulls/{}", p.number)));
    set(&mut v, "/html_url", json!(format!("{}/pull/{}", st.html(), p.number)));
    set(&mut v, "/state", json!(p.state));
    set(&mut v, "/title", json!(p.title));
    set(&mut v, "/body", json!(p.body));
    set(&mut v, "/user/login", json!(p.author));
    set(&mut v, "/head/ref", json!(p.head));
    set(&mut v, "/head/sha", json!(p.head_sha));
    set(&mut v, "/head/label", json!(format!("{}:{}", st.owner, p.head)));
    set(&mut v, "/base/ref", json!(p.base));
    set(&mut v, "/base/sha", json!(p.base_sha));
    set(&mut v, "/base/label", json!(format!("{}:{}", st.owner, p.base)));
    set(&mut v, "/merged", json!(p.merged));
    set(&mut v, "/merge_commit_sha", json!(p.merge_commit_sha));
    let closed = p.state == "closed";
    set(&mut v, "/closed_at", if closed { json!("2026-12-01T10:00:00Z") } else { Value::Null });
    set(&mut v, "/merged_at", if p.merged { json!("2026-12-01T10:00:00Z") } else { Value::Null });
    v
}
