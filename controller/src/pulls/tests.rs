//! The pull-request door end to end in one process: a config repo behind a bare remote, a pull
//! request's head under `refs/pull/N/head` as GitHub keeps it, the GitHub double (holding to
//! GitHub's OpenAPI) and the real octocrab client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tollgate_github_double::GitHubDouble;
use tollgate_github_double::webhook::{PrFacts, ReviewFacts, merge_group_event, pull_request_event, review_event};
use tollgate_store::AuditLog;
use tollgate_test_support::{ALICE, git};

use super::{Clients, Handled, handle, resync};
use crate::git::{Auth, Mirror, RepoLocation};
use crate::reconcile::{GateSettings, Options};
use crate::service::ReviewVerdict;
use crate::service::Service;
use tollgate_decision::approvals::NotCounted;

/// churn-v3's image pinned by digest, and by a tag, which the default policies refuse.
const DIGEST: &str = "image: ghcr.io/acme/churn-serving@sha256:5d41402abc4b2a76b9719d911017c592ae2f6bd5b5f7a3c1e8d9f0a1b2c3d4e5";
const TAG: &str = "image: ghcr.io/acme/churn-serving:3";

// Tests take their token from a variable Cargo sets for every test run (setting one is unsafe).
const TOKEN_ENV: &str = "CARGO_PKG_NAME";
const TOKEN: &str = env!("CARGO_PKG_NAME");

struct World {
    tmp: tempfile::TempDir,
    work: PathBuf,
    remote: PathBuf,
    double: GitHubDouble,
    service: Service,
}

impl World {
    async fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
        let work = tmp.path().join("work");
        tollgate_test_support::copy_dir(&tollgate_test_support::examples(), &work);
        let config = std::fs::read_to_string(work.join("tollgate.yaml")).unwrap();
        // People on GitHub: Alice and Bob by login, Erin through the ml-leads team only.
        let config = config
            .replace("email: alice@acme.example\n", "email: alice@acme.example\n      github: alice-gh\n")
            .replace("email: bob@acme.example\n", "email: bob@acme.example\n      github: bob-gh\n")
            .replace(
                "  users:\n",
                "  users:\n    - name: erin\n      email: erin@acme.example\n      github: erin-gh\n      roles: [approver]\n",
            )
            .replace("members: [alice, bob]", "members: [alice, bob]\n      githubTeams: [acme/ml-leads]");
        let mut config = config;
        config.push_str(&format!("\n  github:\n    repository: acme/ml-config\n    apiUrl: {}\n    tokenEnv: {TOKEN_ENV}\n", double.url()));
        std::fs::write(work.join("tollgate.yaml"), config).unwrap();
        git(&work, &["init", "-q", "-b", "main"], ALICE);
        git(&work, &["add", "-A"], ALICE);
        git(&work, &["commit", "-q", "-m", "acme-ml config"], ALICE);
        let remote = tmp.path().join("remote.git");
        git(tmp.path(), &["clone", "-q", "--bare", work.to_str().unwrap(), remote.to_str().unwrap()], ALICE);
        git(&work, &["remote", "add", "origin", remote.to_str().unwrap()], ALICE);
        let store = tollgate_store::Store::open(&format!("sqlite://{}", tmp.path().join("tollgate.db").display())).await.unwrap();
        let location = RepoLocation::Remote { url: format!("file://{}", remote.display()), auth: Auth::None, branch: Some("main".into()) };
        let mut mirror = Mirror::open(&location, &tmp.path().join("cache")).unwrap();
        mirror.fetch().unwrap();
        let opts = Options {
            repo: mirror.repository().path().to_owned(),
            rev: "refs/heads/main".into(),
            now: jiff::Timestamp::now(),
            release: None,
            gates: GateSettings { cache_dir: Some(tmp.path().join("gates")), device: crate::reconcile::Device::Cpu, kubernetes: None },
            bot: ("tollgate".into(), "bot@example.invalid".into()),
            jobs: 1,
        };
        let service = Service::new(AuditLog::new(store), opts, Some(mirror), Duration::ZERO);
        World { tmp, work, remote, double, service }
    }

    fn sha(&self, rev: &str) -> String {
        git(&self.work, &["rev-parse", rev], ALICE).trim().to_owned()
    }

    /// Commits an edit of `file` on branch `branch` and pushes it as pull request 1's head, as
    /// GitHub keeps it: the head commit.
    fn push_head(&self, branch: &str, file: &str, from: &str, to: &str) -> String {
        let _ = std::process::Command::new("git").args(["checkout", "-q", "-B", branch]).current_dir(&self.work).status();
        tollgate_test_support::edit(&self.work, file, from, to);
        git(&self.work, &["commit", "-q", "-am", &format!("{file}: {to}")], ALICE);
        git(&self.work, &["push", "-q", "-f", "origin", "HEAD:refs/pull/1/head"], ALICE);
        self.sha("HEAD")
    }

    fn facts(&self, head: &str) -> PrFacts {
        PrFacts {
            owner: "acme".into(),
            repo: "ml-config".into(),
            number: 1,
            head_ref: "fix".into(),
            head_sha: head.to_owned(),
            base_ref: "main".into(),
            base_sha: self.sha("main"),
            author: "dave".into(),
            merged: false,
            installation_id: 1,
        }
    }

    async fn deliver(&self, event: &str, payload: &Value) -> Handled {
        let body = serde_json::to_vec(payload).unwrap();
        handle(&self.service, &mut Clients::default(), None, event, &body).await.unwrap()
    }

    fn runs_for(&self, sha: &str) -> Vec<tollgate_github_double::CheckRun> {
        self.double.check_runs().into_iter().filter(|r| r.head_sha == sha).collect()
    }
}

fn line_of(path: &Path, needle: &str) -> u32 {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() as u32 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_is_told_its_check_gates_and_release_and_a_fix_turns_it_green() {
    let w = World::new().await;
    let _ = &w.tmp;
    let _ = &w.remote;
    let broken = w.push_head("fix", "releases/churn-v3.yaml", DIGEST, TAG);
    let line = line_of(&w.work.join("releases/churn-v3.yaml"), TAG);
    w.double.open_pull_at("fix", "main", &broken, &w.sha("main"), "dave", "churn as root", "");

    let handled = w.deliver("pull_request", &pull_request_event("opened", &w.facts(&broken))).await;
    assert_eq!(handled, Handled::Evaluated(vec![broken.clone()]));
    let runs = w.runs_for(&broken);
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["tollgate/check", "tollgate/gates", "tollgate/release"]);
    let check = &runs[0];
    assert_eq!((check.status.as_str(), check.conclusion.as_deref()), ("completed", Some("failure")));
    let at: Vec<(String, u64, String)> = check
        .annotations
        .iter()
        .map(|a| {
            (a["path"].as_str().unwrap().to_owned(), a["start_line"].as_u64().unwrap(), a["annotation_level"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(at.contains(&("releases/churn-v3.yaml".into(), u64::from(line), "failure".into())), "{at:?} (line {line})");
    assert_eq!(runs[2].conclusion.as_deref(), Some("failure"), "the release would be blocked: {:?}", runs[2].summary);
    // The block is told at the release's name (a policy finding), not at line 1.
    let name_line = line_of(&w.work.join("releases/churn-v3.yaml"), "name: churn-v3");
    let release_at: Vec<(&str, u64)> =
        runs[2].annotations.iter().map(|a| (a["path"].as_str().unwrap(), a["start_line"].as_u64().unwrap())).collect();
    assert!(release_at.contains(&("releases/churn-v3.yaml", u64::from(name_line))), "{release_at:?} (name at {name_line})");
    assert!(name_line > 1);
    let comments = w.double.comments(1);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.starts_with("<!-- tollgate:report -->\n## tollgate: `"), "{}", comments[0].body);
    assert!(comments[0].body.contains("| tollgate/check | ❌"), "{}", comments[0].body);

    // The fixing push: green, and the same comment edited in place.
    let fixed = w.push_head("fix", "releases/churn-v3.yaml", TAG, DIGEST);
    w.double.set_head(1, &fixed);
    let handled = w.deliver("pull_request", &pull_request_event("synchronize", &w.facts(&fixed))).await;
    assert_eq!(handled, Handled::Evaluated(vec![fixed.clone()]));
    let runs = w.runs_for(&fixed);
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"), "{:?}", runs[0].summary);
    assert!(runs[0].annotations.is_empty(), "{:?}", runs[0].annotations);
    let comments = w.double.comments(1);
    assert_eq!(comments.len(), 1, "one report comment, edited");
    assert!(comments[0].body.contains("| tollgate/check | ✅ no problems |"), "{}", comments[0].body);
    assert_eq!(w.double.violations(), Vec::<String>::new());
    let evaluated = w.service.store().heads_evaluated("acme/ml-config", &[&broken, &fixed, "0000"]).await.unwrap();
    assert_eq!(evaluated.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_that_cannot_write_checks_publish_commit_statuses_and_a_merge_group_is_really_checked() {
    let w = World::new().await;
    let broken = w.push_head("q", "releases/churn-v3.yaml", DIGEST, TAG);
    w.double.forbid_checks();
    w.double.open_pull_at("q", "main", &broken, &w.sha("main"), "dave", "t", "");
    w.deliver("pull_request", &pull_request_event("opened", &w.facts(&broken))).await;
    let statuses: Vec<(String, String)> = w
        .double
        .statuses()
        .into_iter()
        .filter(|(sha, _)| *sha == broken)
        .map(|(_, s)| (s["context"].as_str().unwrap().to_owned(), s["state"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("tollgate/check".to_owned(), "failure".to_owned()),
            ("tollgate/gates".into(), "success".into()),
            ("tollgate/release".into(), "failure".into())
        ]
    );

    // A merge group with the broken head: its head is fetched from the queue's branch and gets
    // the same failing answer, never an unconditional success.
    git(&w.work, &["push", "-q", "-f", "origin", "HEAD:refs/heads/gh-readonly-queue/main/pr-1"], ALICE);
    let payload = tollgate_github_double::webhook::in_repo(
        merge_group_event("checks_requested", &broken, "refs/heads/gh-readonly-queue/main/pr-1", &w.sha("main"), "refs/heads/main"),
        "acme",
        "ml-config",
        1,
    );
    assert_eq!(w.deliver("merge_group", &payload).await, Handled::Evaluated(vec![broken.clone()]));
    let check_states: Vec<String> = w
        .double
        .statuses()
        .into_iter()
        .filter(|(sha, s)| *sha == broken && s["context"] == "tollgate/check")
        .map(|(_, s)| s["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(check_states, ["failure", "failure"]);
    assert_eq!(w.double.comments(1).len(), 1, "a merge group posts no comment");
}

impl World {
    fn review(&self, facts: &PrFacts, id: u64, login: &str, state: &str, commit: &str) -> Value {
        let action = if state == "dismissed" { "dismissed" } else { "submitted" };
        review_event(
            action,
            &ReviewFacts { pr: facts.clone(), review_id: id, login: login.into(), state: state.into(), commit_id: commit.into() },
        )
    }

    fn verdicts(handled: Handled) -> Vec<(String, String, ReviewVerdict)> {
        let Handled::Reviewed(outcomes) = handled else { panic!("not a review: {handled:?}") };
        outcomes.into_iter().map(|o| (o.release, o.environment, o.verdict)).collect()
    }

    /// The approvals cell of churn-v3 into staging in the latest `tollgate/release` run at `sha`.
    fn staging(&self, sha: &str) -> String {
        self.staging_line(sha).split(" | ").nth(3).unwrap_or_default().to_owned()
    }

    /// The `tollgate/release` line of churn-v3 into staging, at `sha`.
    fn staging_line(&self, sha: &str) -> String {
        let runs = self.runs_for(sha);
        let summary = runs.iter().rev().find(|r| r.name == "tollgate/release").and_then(|r| r.summary.clone()).unwrap_or_default();
        summary.lines().find(|l| l.starts_with("| `churn-v3` | staging |")).unwrap_or_default().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_approve_bound_to_the_content_sticky_across_pushes_that_keep_it_and_revoked_when_dismissed() {
    let w = World::new().await;
    // Alice commits the change; Bob opens the pull request; Erin is an ML lead through the team.
    let head = w.push_head("more", "releases/churn-v3.yaml", "replicas: 1", "replicas: 2");
    let mut facts = w.facts(&head);
    facts.author = "bob-gh".into();
    w.double.open_pull_at("more", "main", &head, &w.sha("main"), "bob-gh", "churn: two replicas", "");
    w.double.add_team_member("acme", "ml-leads", "erin-gh");
    assert!(w.staging_line(&head).is_empty());
    w.deliver("pull_request", &pull_request_event("opened", &facts)).await;
    assert_eq!(w.staging(&head), "0 of 1 (missing a member of ml-leads)");

    // The author of the change, the pull request's author and a stranger do not count.
    let alice = World::verdicts(w.deliver("pull_request_review", &w.review(&facts, 11, "alice-gh", "approved", &head)).await);
    assert_eq!(alice, [("churn-v3".to_owned(), "staging".to_owned(), ReviewVerdict::Refused { reason: NotCounted::Author })]);
    let bob = World::verdicts(w.deliver("pull_request_review", &w.review(&facts, 12, "bob-gh", "approved", &head)).await);
    assert_eq!(bob, [("churn-v3".to_owned(), "staging".to_owned(), ReviewVerdict::Refused { reason: NotCounted::Author })]);
    let stranger = World::verdicts(w.deliver("pull_request_review", &w.review(&facts, 13, "mallory", "approved", &head)).await);
    assert_eq!(stranger, [("churn-v3".to_owned(), "staging".to_owned(), ReviewVerdict::Refused { reason: NotCounted::UnknownUser })]);
    assert_eq!(w.staging(&head), "0 of 1 (missing a member of ml-leads)");

    // Erin's review approves, bound to the commit and the release's content digest.
    let erin = World::verdicts(w.deliver("pull_request_review", &w.review(&facts, 14, "erin-gh", "approved", &head)).await);
    let [(_, _, ReviewVerdict::Recorded { seq })] = erin.as_slice() else { panic!("{erin:?}") };
    let events: Vec<_> = futures_util::StreamExt::collect::<Vec<_>>(w.service.store().events(*seq, *seq)).await;
    let event = events[0].as_ref().unwrap();
    assert_eq!((event.action.as_str(), event.actor.as_str()), ("approval.recorded", "erin"));
    let records = w.service.store().records_for(tollgate_store::RecordKind::Approval, "release/churn-v3@staging").await.unwrap();
    let doc = &records.iter().find(|r| r.audit_seq == *seq).unwrap().doc;
    assert_eq!(doc["contentDigest"].as_str().map(str::len), Some(64));
    assert_eq!(doc["review"]["id"], 14);
    assert_eq!(doc["review"]["login"], "erin-gh");
    assert_eq!(doc["review"]["commit"], head.as_str());
    assert_eq!(doc["teamGroups"], serde_json::json!(["ml-leads"]));
    assert_eq!(w.staging(&head), "1 of 1 by erin");
    // The same review again records nothing.
    let again = World::verdicts(w.deliver("pull_request_review", &w.review(&facts, 14, "erin-gh", "approved", &head)).await);
    assert_eq!(again, [("churn-v3".to_owned(), "staging".to_owned(), ReviewVerdict::AlreadyApproved)]);

    // A push that leaves the release alone keeps the approval (sticky); one that changes it voids it.
    let readme = w.push_head("more", "README.md", "config repo", "configuration repository");
    w.deliver("pull_request", &pull_request_event("synchronize", &w.facts(&readme))).await;
    assert_eq!(w.staging(&readme), "1 of 1 by erin");
    let changed = w.push_head("more", "releases/churn-v3.yaml", "replicas: 2", "replicas: 3");
    w.deliver("pull_request", &pull_request_event("synchronize", &w.facts(&changed))).await;
    assert_eq!(w.staging(&changed), "0 of 1 (missing a member of ml-leads)");

    // Dismissing Erin's review withdraws her approval.
    let mut now = w.facts(&readme);
    now.author = "bob-gh".into();
    let dismissed = World::verdicts(w.deliver("pull_request_review", &w.review(&now, 14, "erin-gh", "dismissed", &head)).await);
    assert!(matches!(dismissed.as_slice(), [(_, env, ReviewVerdict::Revoked { .. })] if env == "staging"), "{dismissed:?}");
    assert_eq!(w.double.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_evaluates_the_heads_no_delivery_told_of_and_only_those() {
    let w = World::new().await;
    let head = w.push_head("missed", "releases/churn-v3.yaml", "replicas: 1", "replicas: 2");
    w.double.open_pull_at("missed", "main", &head, &w.sha("main"), "bob-gh", "missed delivery", "");
    let mut clients = Clients::default();
    assert_eq!(resync(&w.service, &mut clients).await.unwrap(), vec![head.clone()]);
    assert_eq!(w.runs_for(&head).len(), 3);
    assert_eq!(w.double.comments(1).len(), 1);
    // Evaluated now: the next resync leaves it alone.
    assert_eq!(resync(&w.service, &mut clients).await.unwrap(), Vec::<String>::new());
    assert_eq!(w.runs_for(&head).len(), 3);
}
