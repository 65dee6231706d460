//! Pull-request promotions end to end in one process: `examples/` with dev in `pullRequest`
//! mode, a bare `file://` remote mirrored by [`Mirror`], the real octocrab client and the GitHub
//! double on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate_github_double::GitHubDouble;

use super::*;
use crate::git::{Auth, Mirror, RepoLocation};
use tollgate_decision::State;
use tollgate_store::{AuditLog, RecordKind};

/// A Tuesday, 11:00 in Berlin: every window of the examples is open.
const TUESDAY: &str = "2026-12-01T10:00:00Z";
/// Rust 2024 makes setting environment variables unsafe (and the workspace forbids `unsafe`), so
/// the token comes from a variable Cargo sets for every test run.
const TOKEN_ENV: &str = "CARGO_PKG_NAME";
const TOKEN: &str = env!("CARGO_PKG_NAME");
const BRANCH: &str = "tollgate/promote/dev/income";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@acme.example")
        .env("GIT_COMMITTER_NAME", "Alice")
        .env("GIT_COMMITTER_EMAIL", "alice@acme.example")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct World {
    tmp: tempfile::TempDir,
    remote: PathBuf,
    log: AuditLog,
    double: GitHubDouble,
}

impl World {
    /// The examples with dev promoting through pull requests, pushed to a bare remote; the
    /// double accepts `TOKEN`; `tollgate.yaml` names `token_env`.
    async fn new(token_env: &str) -> World {
        World::without(token_env, &[]).await
    }

    /// As [`World::new`], without some files of the examples.
    async fn without(token_env: &str, drop: &[&str]) -> World {
        World::build(Some(token_env), drop).await
    }

    /// The examples as they are (every environment commits), pushed to a bare remote.
    async fn committing() -> World {
        World::build(None, &[]).await
    }

    /// With `token_env`, dev promotes through pull requests on the double.
    async fn build(token_env: Option<&str>, drop: &[&str]) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
        let work = tmp.path().join("work");
        tollgate_test_support::copy_dir(&tollgate_test_support::examples(), &work);
        for file in drop {
            std::fs::remove_file(work.join(file)).unwrap();
        }
        if let Some(token_env) = token_env {
            let dev = work.join("environments/dev.yaml");
            let text = std::fs::read_to_string(&dev).unwrap().replace("mode: commit", "mode: pullRequest");
            std::fs::write(&dev, text).unwrap();
            let mut config = std::fs::read_to_string(work.join("tollgate.yaml")).unwrap();
            config.push_str(&format!(
                "\n  github:\n    repository: acme/ml-config\n    apiUrl: {}\n    tokenEnv: {token_env}\n",
                double.url()
            ));
            std::fs::write(work.join("tollgate.yaml"), config).unwrap();
        }
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "acme-ml config"]);
        let remote = tmp.path().join("remote.git");
        git(tmp.path(), &["clone", "-q", "--bare", work.to_str().unwrap(), remote.to_str().unwrap()]);
        let db = tmp.path().join("tollgate.db");
        let store = tollgate_store::Store::open(&format!("sqlite://{}", db.display())).await.unwrap();
        World { log: AuditLog::new(store), tmp, remote, double }
    }

    /// One pass of a fresh process: open the mirror, fetch, reconcile.
    async fn pass(&self) -> Result<PassReport, ReconcileError> {
        self.pass_with(&mut Reconciler::default()).await
    }

    async fn pass_with(&self, reconciler: &mut Reconciler) -> Result<PassReport, ReconcileError> {
        let mut mirror = self.mirror();
        mirror.fetch().unwrap();
        reconciler.pass(&self.log, &self.options(&mirror), "tollgate", Some(&mirror)).await
    }

    /// The mirror of the remote the passes fetch into.
    fn mirror(&self) -> Mirror {
        let url = format!("file://{}", self.remote.display());
        let location = RepoLocation::Remote { url, auth: Auth::None, branch: Some("main".into()) };
        Mirror::open(&location, &self.tmp.path().join("cache")).unwrap()
    }

    fn options(&self, mirror: &Mirror) -> Options {
        Options {
            repo: mirror.repository().path().to_owned(),
            rev: format!("refs/heads/{}", mirror.branch()),
            now: TUESDAY.parse().unwrap(),
            release: None,
            gates: GateSettings { cache_dir: Some(self.tmp.path().join("gates")), device: crate::reconcile::Device::Cpu, kubernetes: None },
            bot: ("tollgate".into(), "bot@example.invalid".into()),
            jobs: 1,
        }
    }

    /// What `status` and `explain` ask, reading the mirror the passes fetch into.
    fn service(&self) -> crate::service::Service {
        let mirror = self.mirror();
        crate::service::Service::new(self.log.clone(), self.options(&mirror), None, Duration::ZERO)
    }

    /// The messages of the commits on a branch of the remote.
    fn remote_log(&self, branch: &str) -> String {
        git(&self.remote, &["log", "--format=%B", branch])
    }

    fn remote_branch(&self, branch: &str) -> Option<String> {
        let out = Command::new("git").args(["rev-parse", "--verify", "-q", branch]).current_dir(&self.remote).output().unwrap();
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    async fn events(&self, prefix: &str) -> Vec<(String, Value)> {
        use futures_util::StreamExt as _;
        let store = self.log.store();
        let head = store.head().await.unwrap().size;
        let mut out = Vec::new();
        let mut events = store.events(1, head);
        while let Some(ev) = events.next().await {
            let ev = ev.unwrap();
            if ev.action.starts_with(prefix) {
                out.push((ev.action.clone(), tollgate_audit::event::Event::decode(&ev.body).unwrap().payload));
            }
        }
        out
    }

    fn creates(&self) -> usize {
        self.double.requests().iter().filter(|r| r.method == "POST").count()
    }
}

fn state(report: &PassReport, release: &str, env: &str) -> (State, String) {
    let d = report.decisions.iter().find(|d| d.release == release && d.environment == env).expect("a decision");
    (d.state, d.reasons.iter().map(|r| r.message.clone()).collect::<Vec<_>>().join("; "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_promotion_pushes_opens_once_and_is_promoted_when_merged() {
    let w = World::new(TOKEN_ENV).await;
    let first = w.pass().await.unwrap();
    assert_eq!(state(&first, "income-v4", "dev").0, State::Promoting);
    let tip = w.remote_branch(BRANCH).expect("the promotion branch was pushed to the remote");
    assert_eq!(w.remote_branch("main").map(|m| m != tip), Some(true), "main did not move");

    let pulls = w.double.pulls();
    let income: Vec<_> = pulls.iter().filter(|p| p.head == BRANCH).collect();
    assert_eq!(income.len(), 1, "{pulls:?}");
    let pr = income[0].clone();
    assert_eq!((pr.base.as_str(), pr.title.as_str()), ("main", "Promote income-v4 (income@4) to dev"));
    for fact in ["`income-v4`", "`dev`", "`income@4`", "Model digest", "Approvals counted", "Decision | `dec-", "audit seq", "Gates"] {
        assert!(pr.body.contains(fact), "the body says {fact}: {}", pr.body);
    }
    let opened = w.events("promotion.pull_request_").await;
    let mine: Vec<_> = opened.iter().filter(|(_, p)| p["head"] == BRANCH).collect();
    assert_eq!(mine.len(), 1, "{opened:?}");
    assert_eq!(mine[0].0, "promotion.pull_request_opened");
    assert_eq!(mine[0].1["number"], pr.number);
    assert_eq!(mine[0].1["url"], format!("https://github.example/acme/ml-config/pull/{}", pr.number));
    assert_eq!(mine[0].1["commit"], tip.as_str());

    // Passes of the same process and of a restarted one open nothing and write nothing again.
    let creates = w.creates();
    let mut reconciler = Reconciler::default();
    for _ in 0..2 {
        let again = w.pass_with(&mut reconciler).await.unwrap();
        assert_eq!(state(&again, "income-v4", "dev").0, State::Promoting);
        assert!(again.actions.iter().all(|a| !matches!(a, Action::Proposed { .. } | Action::PullRequest { .. })), "{:?}", again.actions);
    }
    assert_eq!(w.creates(), creates, "no second create");
    assert_eq!(w.double.pulls().len(), pulls.len());
    assert_eq!(w.remote_branch(BRANCH).as_deref(), Some(tip.as_str()), "no new commit on the branch");

    // A reviewer merges (a fast-forward of main in the remote): the file lands, it is Promoted.
    git(&w.remote, &["update-ref", "refs/heads/main", &tip]);
    w.double.mark_merged(pr.number);
    let merged = w.pass().await.unwrap();
    let (s, why) = state(&merged, "income-v4", "dev");
    assert_eq!(s, State::Promoted, "{why}");
    let events = w.events("promotion.pull_request_merged").await;
    assert!(events.iter().any(|(_, p)| p["number"] == pr.number && p["state"] == "merged"), "{events:?}");
    assert_eq!(w.double.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_push_and_pull_request_is_healed_without_a_second_one() {
    let w = World::new(TOKEN_ENV).await;
    // GitHub fails the create after the branch was pushed (as a process killed there would):
    // that slot fails, recorded, and the pass goes on.
    w.double.fail_next("POST", 503);
    let failed = w.pass().await.unwrap();
    let [failure] = &failed.failures[..] else { panic!("one failure: {:?}", failed.failures) };
    assert_eq!((failure.release.as_str(), failure.environment.as_str(), failure.attempts), ("income-v4", "dev", 1));
    assert!(failure.reason.starts_with("failed to open the pull request promoting `income-v4` to dev: "), "{}", failure.reason);
    let tip = w.remote_branch(BRANCH).expect("pushed before the pull request");
    assert!(w.double.pulls().iter().all(|p| p.head != BRANCH));
    assert_eq!(w.events("promotion.failed").await.len(), 1);

    let healed = w.pass().await.unwrap();
    assert_eq!(state(&healed, "income-v4", "dev").0, State::Promoting);
    assert!(healed.failures.is_empty(), "{:?}", healed.failures);
    let recovered = w.events("promotion.recovered").await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!((recovered[0].1["release"].as_str(), recovered[0].1["attempts"].as_u64()), (Some("income-v4"), Some(1)));
    let income: Vec<_> = w.double.pulls().into_iter().filter(|p| p.head == BRANCH).collect();
    assert_eq!(income.len(), 1);
    assert_eq!(w.remote_branch(BRANCH).as_deref(), Some(tip.as_str()), "the pushed commit is reused, not made again");

    // An earlier process that opened the pull request but died before recording it: the next
    // one adopts it instead of opening another.
    let w = World::new(TOKEN_ENV).await;
    let number = w.double.open_pull(BRANCH, "main", "opened by a process that died", "");
    let report = w.pass().await.unwrap();
    assert!(
        report.actions.iter().any(|a| matches!(a, Action::PullRequest { number: n, what, .. } if *n == number && what == "adopted")),
        "{:?}",
        report.actions
    );
    assert_eq!(w.double.pulls().iter().filter(|p| p.head == BRANCH).count(), 1);
    let pr = w.double.pulls().into_iter().find(|p| p.number == number).unwrap();
    assert_eq!(pr.title, "Promote income-v4 (income@4) to dev", "brought up to date");
    assert_eq!(w.double.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_closed_without_merging_blocks_until_reopened() {
    // Only income-v4 asks for dev: with older releases of the model in the repo, the next one
    // would be proposed once income-v4 is blocked, as after any other block.
    let older = ["releases/income-v1.yaml", "releases/income-v2.yaml", "releases/income-v3.yaml"];
    let w = World::without(TOKEN_ENV, &older).await;
    w.pass().await.unwrap();
    let pr = w.double.pulls().into_iter().find(|p| p.head == BRANCH).unwrap();
    w.double.close(pr.number);
    let closed = w.pass().await.unwrap();
    let (s, why) = state(&closed, "income-v4", "dev");
    assert_eq!(s, State::Blocked);
    assert!(why.contains(&format!("pull request #{} (https://github.example/acme/ml-config/pull/{})", pr.number, pr.number)), "{why}");
    assert!(why.contains("closed without merging"), "{why}");
    let creates = w.creates();
    let still = w.pass().await.unwrap();
    assert_eq!(state(&still, "income-v4", "dev").0, State::Blocked);
    assert_eq!(w.creates(), creates, "a closed proposal is not opened again");

    w.double.reopen(pr.number);
    let reopened = w.pass().await.unwrap();
    assert_eq!(state(&reopened, "income-v4", "dev").0, State::Promoting);
    let actions: Vec<_> = w.events("promotion.pull_request_").await.into_iter().filter(|(_, p)| p["head"] == BRANCH).map(|e| e.0).collect();
    assert_eq!(actions, ["promotion.pull_request_opened", "promotion.pull_request_closed", "promotion.pull_request_reopened"]);
    assert_eq!(w.double.pulls().iter().filter(|p| p.head == BRANCH).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_writes_nothing_and_says_so() {
    // `CARGO_PKG_VERSION` holds a value the double does not accept.
    let w = World::new("CARGO_PKG_VERSION").await;
    let report = w.pass().await.unwrap();
    let reason = failure_of(&report, "income-v4", "dev");
    assert!(reason.starts_with("failed to open the pull request promoting `income-v4` to dev: "), "{reason}");
    assert!(reason.contains("refused the credentials (the token from `CARGO_PKG_VERSION`): Bad credentials"), "{reason}");
    assert!(!reason.contains(env!("CARGO_PKG_VERSION")), "{reason}");
    assert_eq!(w.remote_branch(BRANCH), None, "nothing was pushed");
    assert!(w.events("promotion.proposed").await.is_empty());
    assert!(w.events("promotion.pull_request_").await.is_empty());
    assert_eq!(w.events("promotion.failed").await.len(), report.failures.len());
    assert!(w.double.pulls().is_empty());

    let w = World::new("TOLLGATE_TEST_SURELY_UNSET_VARIABLE").await;
    let report = w.pass().await.unwrap();
    let reason = failure_of(&report, "income-v4", "dev");
    assert!(reason.contains("the GitHub token is not set") && !reason.contains("hint"), "{reason}");
    assert_eq!(w.remote_branch(BRANCH), None);
    assert!(w.double.requests().is_empty(), "nothing was sent without a token");
}

/// The reason the pass reports for the slot's failure.
fn failure_of(report: &PassReport, release: &str, env: &str) -> String {
    let f = report.failures.iter().find(|f| f.release == release && f.environment == env);
    f.unwrap_or_else(|| panic!("{release} to {env} failed: {:?}", report.failures)).reason.clone()
}

/// The examples committed in a local repository with a fresh store: passes commit to its branch.
async fn local() -> (tempfile::TempDir, tempfile::TempDir, AuditLog, Options) {
    let (dir, _git) = tollgate_test_support::committed_examples();
    let state = tempfile::tempdir().unwrap();
    let store = tollgate_store::Store::open(&format!("sqlite://{}", state.path().join("tollgate.db").display())).await.unwrap();
    let opts = Options {
        repo: dir.path().to_owned(),
        rev: "HEAD".into(),
        now: TUESDAY.parse().unwrap(),
        release: None,
        gates: GateSettings { cache_dir: Some(state.path().join("gates")), device: crate::reconcile::Device::Cpu, kubernetes: None },
        bot: ("tollgate".into(), "bot@example.invalid".into()),
        jobs: 1,
    };
    (dir, state, AuditLog::new(store), opts)
}

async fn count(log: &AuditLog, kind: RecordKind) -> usize {
    use futures_util::StreamExt as _;
    let head = log.store().head().await.unwrap().size;
    log.store().records(kind, 1, head).count().await
}

/// Regression (issue #11): `act` given a view that had been read without decisions (as
/// `status` reads one) recorded every decision again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acting_with_a_view_read_without_decisions_records_nothing_twice() {
    let (_dir, _state, log, opts) = local().await;
    let first = Reconciler::default().pass(&log, &opts, "tollgate", None).await.unwrap();
    assert!(first.actions.iter().any(|a| matches!(a, Action::Promoted { .. })), "{:?}", first.actions);
    let settled = Reconciler::default().pass(&log, &opts, "tollgate", None).await.unwrap();
    assert!(settled.actions.is_empty(), "{:?}", settled.actions);
    let before = count(&log, RecordKind::Decision).await;

    let prepared = prepare(&opts).unwrap();
    let mut view = StoreView::default();
    view.refresh(log.store()).await.unwrap();
    let cx = act::Context { log: &log, actor: "tollgate", bot: ("tollgate", "bot@example.invalid"), publish: None, now: Instant::now() };
    let report = act::act(&cx, &mut view, &prepared, &mut backoff::Slots::default()).await.unwrap();
    assert_eq!(report.actions.len(), 0, "{:?}", report.actions);
    assert_eq!(count(&log, RecordKind::Decision).await, before);
}

/// Refuses, at the remote, every push of a commit that promotes the income model.
fn refuse_income_promotions(remote: &Path) {
    let hook = remote.join("hooks/update");
    std::fs::write(
        &hook,
        "#!/bin/sh\nif git log -1 --format=%B \"$3\" | grep -q '^Tollgate-Release: income-'; then\n  echo 'income promotions are frozen here' >&2\n  exit 1\nfi\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Regression (issue #11): a slot whose push failed aborted the whole pass, so it held up every
/// release sorted after it (here `churn-v3` after `income-v4`). Now the failure is recorded with
/// its reason, shows in `status` and `explain`, and is retried after a backoff while every other
/// slot goes on; when the push goes through, the failure is recovered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_whose_push_keeps_failing_holds_up_no_other() {
    let w = World::committing().await;
    refuse_income_promotions(&w.remote);
    let minute = Backoff { first: Duration::from_secs(60), max: Duration::from_secs(600) };
    let mut reconciler = Reconciler::with_backoff(minute);
    let first = w.pass_with(&mut reconciler).await.unwrap();
    let (s, why) = state(&first, "churn-v3", "dev");
    assert_eq!(s, State::Promoted, "{why}");
    let log = w.remote_log("main");
    assert!(log.contains("Promote churn-v3 (churn@3) to dev"), "{log}");
    assert!(!log.contains("Promote income"), "{log}");
    // The failing slot stays Promoting, and no older release of the model takes it meanwhile.
    assert_eq!(state(&first, "income-v4", "dev").0, State::Promoting);
    let [failure] = &first.failures[..] else { panic!("one failure: {:?}", first.failures) };
    assert_eq!((failure.release.as_str(), failure.environment.as_str(), failure.attempts), ("income-v4", "dev", 1));
    assert_eq!(failure.retry_in_secs, Some(60));
    assert!(failure.reason.starts_with("failed to push the promotion of `income-v4` to dev: "), "{}", failure.reason);
    assert!(failure.reason.contains("hook declined"), "{}", failure.reason);
    let recorded = w.events(FAILED).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].1["reason"], failure.reason.as_str());

    // `status` and `explain` show it, and say 1.
    let service = w.service();
    let now = TUESDAY.parse().unwrap();
    let status = service.status(now, None).await.unwrap();
    assert_eq!(status.failures.iter().map(|f| (f.release.as_str(), f.attempts)).collect::<Vec<_>>(), [("income-v4", 1)]);
    let states = status.decisions.iter().map(|d| d.state);
    assert_eq!(tollgate_decision::exit_code(states, !status.failures.is_empty()), 1);
    let explained = service.explain("income-v4", "dev", now, None).await.unwrap();
    assert_eq!(explained.failure.as_ref().map(|f| f.reason.as_str()), Some(failure.reason.as_str()));

    // The same reconciler waits out the backoff: nothing is tried, nothing recorded again.
    let waiting = w.pass_with(&mut reconciler).await.unwrap();
    assert_eq!(waiting.failures.len(), 1);
    assert!(waiting.failures[0].retry_in_secs.is_some_and(|s| s <= 60), "{:?}", waiting.failures);
    assert_eq!(w.events(FAILED).await.len(), 1, "not tried during the backoff");

    // Another process tries at once, and counts on from the trail.
    let again = w.pass().await.unwrap();
    assert_eq!(again.failures.iter().map(|f| f.attempts).collect::<Vec<_>>(), [2]);
    assert_eq!(w.events(FAILED).await.len(), 2);

    // The remote takes it again: promoted, and the failure no longer stands.
    std::fs::remove_file(w.remote.join("hooks/update")).unwrap();
    let through = w.pass().await.unwrap();
    assert!(through.failures.is_empty(), "{:?}", through.failures);
    assert!(w.remote_log("main").contains("Promote income-v4 (income@4) to dev"));
    let recovered = w.events(RECOVERED).await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0].1["attempts"], 2);
    assert!(service.status(now, None).await.unwrap().failures.is_empty());
}

/// The names of the releases whose gates failed, and whether each failure may pass.
fn gate_errors(prepared: &Prepared) -> Vec<(String, bool)> {
    prepared.releases.iter().filter_map(|r| r.gates.as_ref().filter(|g| g.error.is_some()).map(|g| (r.name.clone(), g.transient))).collect()
}

/// Regression: gates that failed for a reason that passes (a gate cache that could not be read)
/// kept their error, and the content digest without their results, until the next commit.
/// Now the commit is prepared again once the backoff is over, and the gates computed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_that_failed_for_a_passing_reason_are_tried_again_at_the_same_commit() {
    let (_dir, _state, _log, opts) = local().await;
    let cache = opts.gates.cache_dir.clone().unwrap();
    // A file where the cache's folder should be: every read of it fails.
    std::fs::write(&cache, "not a folder").unwrap();
    let mut waiting = Reconciler::with_backoff(Backoff { first: Duration::from_secs(60), max: Duration::from_secs(600) });
    let mut retrying = Reconciler::with_backoff(Backoff { first: Duration::ZERO, max: Duration::ZERO });
    let broken = gate_errors(waiting.prepare(&opts).unwrap());
    let passing: Vec<&String> = broken.iter().filter(|(_, transient)| *transient).map(|(name, _)| name).collect();
    assert!(!passing.is_empty(), "{broken:?}");
    let release = |p: &Prepared, name: &str| p.releases.iter().find(|r| r.name == name).unwrap().clone();
    let first = waiting.last().unwrap();
    for name in &passing {
        let gates = release(first, name).gates.unwrap();
        let error = gates.error.as_deref().unwrap_or_default();
        assert!(error.starts_with("failed to access gate result cache"), "{error}");
        assert!(error.ends_with(" (tried again after a backoff)"), "{error}");
        assert_eq!(gates.digest, None);
    }
    assert_eq!(gate_errors(retrying.prepare(&opts).unwrap()), broken);
    let commit = first.commit.clone();
    // Decisions kept for the broken preparation (as the server keeps them between requests).
    let view = StoreView::default();
    let kept = Settled::decide(retrying.last().unwrap(), &view);
    assert!(kept.holds(retrying.last().unwrap(), &view));

    std::fs::remove_file(&cache).unwrap();
    // Within the backoff, the commit's plan stands.
    assert_eq!(gate_errors(waiting.prepare(&opts).unwrap()), broken);
    // Past it (no wait here), the commit is prepared again and the gates computed, but for
    // those that fail for a reason that does not pass (a model that needs the `torch` feature,
    // which the cache's error came before).
    let again = retrying.prepare(&opts).unwrap();
    assert_eq!(again.commit, commit);
    let left = gate_errors(again);
    assert!(left.iter().all(|(_, transient)| !transient), "{left:?}");
    let computed: Vec<&String> = passing.iter().copied().filter(|name| !left.iter().any(|(l, _)| l == *name)).collect();
    assert!(!computed.is_empty(), "{left:?}");
    for name in &computed {
        let plan = release(again, name);
        let gates = plan.gates.unwrap();
        assert_eq!(gates.error, None, "{name}");
        assert!(gates.digest.is_some(), "{name}");
        assert_ne!(plan.content_digest, release(waiting.last().unwrap(), name).content_digest, "{name}: the digest binds the results");
    }
    for (name, _) in &left {
        let error = release(again, name).gates.unwrap().error.unwrap();
        assert!(error.contains("`torch` feature"), "{name}: {error}");
    }
    // They were decided from the old gate results, and are not taken for the new ones'.
    assert!(!kept.holds(again, &view));
    let settled = Settled::decide(again, &view);
    // Nothing left to try again: the next pass reuses the preparation, and its decisions hold.
    let reused = retrying.prepare(&opts).unwrap();
    assert!(settled.holds(reused, &view));
}
