//! The controller end to end, on a copy of `examples/` in a real Git repository: reconcile,
//! approvals, windows and freezes, promotion commits and pull requests, rollbacks, crashes and
//! leader election.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate_audit_tests::{ALICE, CAROL, Run, commit_examples, drop_db, fresh, git, run_in, tollgate};

/// A Tuesday, 11:00 in Berlin: staging (weekdays 07-18) and prod (Tue-Thu 09-15) are open.
const TUESDAY: &str = "2026-12-01T10:00:00Z";
/// A Monday, 11:00 in Berlin: staging is open, prod is not (Tuesday to Thursday only).
const MONDAY: &str = "2026-12-07T10:00:00Z";
/// Inside the year-end freeze, on a Tuesday.
const FROZEN: &str = "2026-12-22T10:00:00Z";

struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    db: String,
}

impl Repo {
    /// `examples/` committed by Alice, and a fresh database.
    async fn new(backend: &str) -> (Repo, Option<String>) {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("config");
        commit_examples(&dir, |_| {});
        let (db, guard) = fresh(backend, tmp.path()).await;
        (Repo { _tmp: tmp, dir, db }, guard)
    }

    fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut envs = envs.to_vec();
        envs.push(("TOLLGATE_DB", &self.db));
        envs.push(("TOLLGATE_REPO", self.dir.to_str().expect("utf-8")));
        let cache = self.dir.parent().expect("tmp").join("gate-cache");
        envs.push(("TOLLGATE_GATE_CACHE", cache.to_str().expect("utf-8")));
        envs.push(("TOLLGATE_REPLICA", "e2e"));
        run_in(Some(&self.dir), args, &envs, &["TOLLGATE_TOKEN"])
    }

    /// Starts `tollgate serve ARGS` on this repo and store: the child, the URL its first line
    /// names, and its standard error as it comes.
    fn serve(&self, args: &[&str]) -> (Child, String, Arc<Mutex<Vec<String>>>) {
        self.serve_with(args, &[])
    }

    /// As [`Repo::serve`], with more environment variables.
    fn serve_with(&self, args: &[&str], envs: &[(&str, &str)]) -> (Child, String, Arc<Mutex<Vec<String>>>) {
        let mut child = Command::new(tollgate())
            .envs(envs.iter().copied())
            .arg("serve")
            .args(args)
            .current_dir(&self.dir)
            .env("TOLLGATE_DB", &self.db)
            .env("TOLLGATE_REPO", &self.dir)
            .env("TOLLGATE_GATE_CACHE", self.dir.parent().expect("tmp").join("gate-cache"))
            .env("TOLLGATE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("first line");
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("serve said {line:?}")).to_owned();
        let lines = collect(child.stderr.take().expect("piped"));
        (child, url, lines)
    }

    fn reconcile_at(&self, at: &str) -> Run {
        self.run(&["reconcile", "--once", "--at", at, "--act"], &[])
    }

    fn status(&self, at: &str) -> Value {
        let r = self.run(&["status", "--at", at, "--format", "json"], &[]);
        let v: Value = serde_json::from_str(&r.stdout).expect("status json");
        assert_eq!(r.code, status_code(&v), "{}", r.stderr);
        v
    }

    /// A self-signed certificate for 127.0.0.1 and its key, as PEM files beside the repo.
    fn tls_pair(&self) -> (PathBuf, PathBuf) {
        let tls = self.dir.parent().expect("tmp").join("tls");
        std::fs::create_dir_all(&tls).expect("mkdir");
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
        let (cert, pkey) = (tls.join("cert.pem"), tls.join("key.pem"));
        std::fs::write(&cert, key.cert.pem()).expect("write");
        std::fs::write(&pkey, key.signing_key.serialize_pem()).expect("write");
        (cert, pkey)
    }

    fn token(&self, user: &str) -> String {
        let r = self.run(&["token", "create", "--user", user], &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout.trim().to_owned()
    }

    fn approve(&self, release: &str, env: &str, token: &str) -> Run {
        self.run(&["approve", release, "--env", env], &[("TOLLGATE_TOKEN", token)])
    }

    /// A bare clone of the repo beside it, as a `file://` URL, and a cache folder for mirrors.
    fn bare_remote(&self) -> (PathBuf, String, PathBuf) {
        let tmp = self.dir.parent().expect("tmp").to_owned();
        let remote = tmp.join("remote.git");
        git(&tmp, &["clone", "-q", "--bare", self.dir.to_str().expect("utf-8"), remote.to_str().expect("utf-8")], ALICE);
        let url = format!("file://{}", remote.display());
        (remote, url, tmp.join("cache"))
    }

    fn log(&self, args: &[&str]) -> String {
        let mut all = vec!["log", "--all", "--format=%H%n%an <%ae>%n%B%n--end--"];
        all.extend_from_slice(args);
        git(&self.dir, &all, ALICE)
    }

    /// How many promotion commits name (release, env), on every branch.
    fn promotion_commits(&self, release: &str, env: &str) -> usize {
        self.log(&[])
            .split("--end--")
            .filter(|c| c.contains(&format!("Tollgate-Release: {release}\n")) && c.contains(&format!("Tollgate-Environment: {env}\n")))
            .count()
    }
}

fn state(status: &Value, release: &str, env: &str) -> (String, String) {
    let d = status["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .find(|d| d["release"] == release && d["environment"] == env)
        .unwrap_or_else(|| panic!("no decision for {release} in {env}: {status:#}"));
    let reasons = d["reasons"].as_array().into_iter().flatten().filter_map(|r| r["message"].as_str()).collect::<Vec<_>>().join("; ");
    (d["state"].as_str().unwrap_or_default().to_owned(), reasons)
}

fn verify(repo: &Repo) {
    let v = repo.run(&["audit", "verify"], &[]);
    assert_eq!(v.code, 0, "the audit chain verifies: {}{}", v.stdout, v.stderr);
}

/// The exit code `status` and `reconcile` promise for the decisions they print (docs/design.md):
/// 1 when any release is blocked or rolled back, else 0.
fn status_code(status: &Value) -> i32 {
    let bad =
        status["decisions"].as_array().expect("decisions").iter().any(|d| matches!(d["state"].as_str(), Some("Blocked" | "RolledBack")));
    i32::from(bad)
}

/// Break glass after the fact, from the CLI: a break-glass admission (as the webhook records
/// it) shows in `status` until it is reviewed and expired; a reconcile pass asks for its review
/// once; the person who broke the glass may not review it, an ML lead may, and an unknown
/// admission is bad input.
#[tokio::test]
async fn break_glass_shows_in_status_and_is_reviewed_from_the_cli() {
    let (repo, _guard) = Repo::new("sqlite").await;
    let (alice, bob) = (repo.token("alice"), repo.token("bob"));
    let payload = serde_json::json!({
        "outcome": "warned", "kind": "Deployment", "namespace": "ml-prod", "name": "churn-serving",
        "user": "alice@acme.example", "environment": "prod",
        "breakGlass": {"reason": "INC-4711: hotfix", "user": "alice@acme.example", "expires": "2026-12-01T14:00:00Z", "inherited": false},
    });
    let r = repo.run(
        &[
            "audit",
            "append",
            "--actor",
            "alice@acme.example",
            "--action",
            "admission.break_glass",
            "--subject",
            "admission/prod/ml-prod/Deployment/churn-serving",
            "--payload",
            &payload.to_string(),
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seq = r.stdout.split_whitespace().next().expect("seq").to_owned();
    assert_eq!(seq, "3", "after the two tokens");

    let line = |r: &Run| r.stdout.lines().find(|l| l.starts_with("BREAK GLASS")).map(str::to_owned);
    let r = repo.run(&["status", "--at", TUESDAY], &[]);
    assert_eq!(
        line(&r).as_deref(),
        Some(
            "BREAK GLASS #3 ml-prod/churn-serving Deployment in prod by alice@acme.example (INC-4711: hotfix): admitted until 2026-12-01T14:00:00Z; review not yet requested"
        ),
        "{}",
        r.stdout
    );
    // A pass asks for the review, once.
    assert_eq!(repo.reconcile_at(TUESDAY).code, 1, "staging is still blocked on approvals");
    assert_eq!(repo.reconcile_at(TUESDAY).code, 1);
    let r = repo.run(&["status", "--at", TUESDAY], &[]);
    assert!(
        line(&r).is_some_and(|l| l.ends_with("admitted until 2026-12-01T14:00:00Z; awaiting review by ml-leads or risk")),
        "{}",
        r.stdout
    );

    let review = |token: &str, seq: &str| repo.run(&["break-glass", "review", seq, "--note", "justified"], &[("TOLLGATE_TOKEN", token)]);
    let r = review(&alice, "3");
    assert_eq!((r.code, r.stdout.trim()), (1, "refused: alice authored the change (separation of duties)"), "{}", r.stderr);
    let r = review(&bob, "3");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("reviewed break-glass admission #3 as bob (audit seq "), "{}", r.stdout);
    let r = review(&bob, "3");
    assert!(r.stdout.starts_with("break-glass admission #3 was reviewed already, by bob"), "{}", r.stdout);
    let r = review(&bob, "99");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no break-glass admission #99"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: `tollgate break-glass list` lists them"), "{}", r.stderr);

    // Reviewed and still standing: shown; reviewed and expired: gone from status, kept in the list.
    let r = repo.run(&["status", "--at", TUESDAY], &[]);
    assert!(line(&r).is_some_and(|l| l.contains("admitted until 2026-12-01T14:00:00Z; reviewed by bob at ")), "{}", r.stdout);
    let r = repo.run(&["status", "--at", "2026-12-01T15:00:00Z"], &[]);
    assert_eq!(line(&r), None, "{}", r.stdout);
    let r = repo.run(&["break-glass", "list", "--format", "json", "--at", "2026-12-01T15:00:00Z"], &[]);
    let list: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(list["entries"][0]["active"], false);
    assert_eq!(list["entries"][0]["review"]["by"], "bob");
    assert_eq!(list["entries"][0]["review"]["note"], "justified");
    verify(&repo);
}

#[tokio::test]
async fn the_first_pass_promotes_to_dev_and_holds_at_staging() {
    let (repo, guard) = Repo::new("sqlite").await;
    let first = repo.reconcile_at(TUESDAY);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(first.stdout.contains("promoted income-v4 to dev"), "{}", first.stdout);
    assert!(first.stdout.contains("promoted churn-v3 to dev"), "{}", first.stdout);

    // The promotion is a commit by the bot, with trailers naming the decision, and a file that
    // says what is promoted.
    let log = repo.log(&["-n", "1", "--", "deploy/dev/income.yaml"]);
    assert!(log.contains("tollgate <tollgate-bot@users.noreply.tollgate.dev>"), "{log}");
    for trailer in ["Tollgate-Decision: dec-", "Tollgate-Release: income-v4", "Tollgate-Environment: dev", "Tollgate-Audit-Seq: "] {
        assert!(log.contains(trailer), "{trailer} in {log}");
    }
    let deploy = std::fs::read_to_string(repo.dir.join("deploy/dev/income.yaml")).expect("deploy file in the checkout");
    assert!(deploy.contains("release: \"income-v4\""), "{deploy}");
    let clean = git(&repo.dir, &["status", "--porcelain"], ALICE);
    assert!(clean.is_empty(), "the checkout stays clean: {clean}");
    // The promoted file passes `tollgate check` like any other document.
    let check = repo.run(&["check", "--repo", repo.dir.to_str().expect("utf-8")], &[]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);

    let status = repo.status(TUESDAY);
    assert_eq!(state(&status, "income-v4", "dev").0, "Promoted");
    assert_eq!(state(&status, "income-v2", "dev").0, "Superseded", "the newer release of the model wins");
    assert_eq!(state(&status, "income-v2", "prod").0, "Pending");
    // churn-v3 brings its own predictions: its gates pass without running a model, and it
    // waits at staging for an ML lead.
    let (staging, why) = state(&status, "churn-v3", "staging");
    assert_eq!(staging, "AwaitingApproval", "{why}");
    assert!(why.contains("0 of 1"), "{why}");

    // A second pass changes nothing: no commit, no new decision events.
    let head = git(&repo.dir, &["rev-parse", "HEAD"], ALICE);
    let events = repo.run(&["audit", "verify"], &[]).stdout;
    let again = repo.reconcile_at(TUESDAY);
    assert!(!again.stdout.contains("promoted income") && !again.stdout.contains("promoted churn"), "{}", again.stdout);
    assert_eq!(git(&repo.dir, &["rev-parse", "HEAD"], ALICE), head);
    assert_eq!(repo.run(&["audit", "verify"], &[]).stdout, events, "nothing new was recorded");
    verify(&repo);
    drop_db(guard).await;
}

#[tokio::test]
async fn approvals_bind_to_people_groups_and_content() {
    let (repo, guard) = Repo::new("sqlite").await;
    repo.reconcile_at(TUESDAY);
    let (alice, bob, carol) = (repo.token("alice"), repo.token("bob"), repo.token("carol"));

    // Alice authored the release change: separation of duties refuses her.
    let r = repo.approve("churn-v3", "staging", &alice);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("refused: alice authored the change"), "{}", r.stdout);
    // Carol is not an ML lead.
    let r = repo.approve("churn-v3", "staging", &carol);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("none of the groups ml-leads"), "{}", r.stdout);
    // A forged or revoked token is refused without saying which.
    let last = if bob.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &bob[..bob.len() - 1]);
    let r = repo.approve("churn-v3", "staging", &forged);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains(&bob[3..]), "a token never shows in errors");
    // Bob counts.
    let r = repo.approve("churn-v3", "staging", &bob);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("approvals now 1 of 1"), "{}", r.stdout);
    let explain = repo.run(&["explain", "churn-v3", "--env", "staging", "--at", TUESDAY], &[]);
    assert!(explain.stdout.contains("counted: bob"), "{}", explain.stdout);
    // Revoking withdraws it; approving again restores it.
    let r = repo.run(&["approve", "churn-v3", "--env", "staging", "--revoke"], &[("TOLLGATE_TOKEN", &bob)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let explain = repo.run(&["explain", "churn-v3", "--env", "staging", "--at", TUESDAY], &[]);
    assert!(!explain.stdout.contains("counted: bob"), "{}", explain.stdout);
    let r = repo.approve("churn-v3", "staging", &bob);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // Any change to the release voids the approval.
    let path = repo.dir.join("releases/churn-v3.yaml");
    let text = std::fs::read_to_string(&path).expect("release");
    let edited = text.replacen("  environment: staging\n", "  environment: staging\n  description: one more replica for the holidays\n", 1);
    let edited =
        if edited.matches("description:").count() > 1 { text.replacen("description:", "description: (edited)", 1) } else { edited };
    assert_ne!(edited, text);
    std::fs::write(&path, edited).expect("edit");
    git(&repo.dir, &["commit", "-q", "-am", "churn-v3: edited"], CAROL);
    let explain = repo.run(&["explain", "churn-v3", "--env", "staging", "--at", TUESDAY], &[]);
    assert!(explain.stdout.contains("not counted: bob"), "{}", explain.stdout);
    assert!(explain.stdout.contains("the release changed since"), "{}", explain.stdout);
    // Carol's commit on top does not make the change hers alone (issue #12 item 4: it did):
    // Alice still authored it, and is still refused.
    let r = repo.approve("churn-v3", "staging", &alice);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("refused: alice authored the change"), "{}", r.stdout);
    // Nor does a commit that names someone else as its author: Alice committed it.
    std::fs::write(&path, std::fs::read_to_string(&path).expect("release").replacen("description: ", "description: (again) ", 1))
        .expect("edit");
    git(&repo.dir, &["commit", "-q", "-am", "churn-v3: by bob, supposedly", "--author", "Bob <bob@acme.example>"], ALICE);
    let r = repo.approve("churn-v3", "staging", &alice);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // Bob is named as its author: he is refused too (a name on a commit cannot be told from a
    // real one; signed commits, required by the forge, can: docs/controller.md).
    let r = repo.approve("churn-v3", "staging", &bob);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("refused: bob authored the change"), "{}", r.stdout);

    // Token revocation stops a token.
    let id = &bob[3..15];
    assert_eq!(repo.run(&["token", "revoke", id], &[]).code, 0);
    let r = repo.approve("churn-v3", "staging", &bob);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid or revoked api token"), "{}", r.stderr);
    verify(&repo);
    drop_db(guard).await;
}

#[tokio::test]
async fn a_reverted_promotion_is_a_rollback_and_is_not_redone() {
    let (repo, guard) = Repo::new("sqlite").await;
    repo.reconcile_at(TUESDAY);
    let promotion = repo.log(&["-n", "1", "--", "deploy/dev/income.yaml"]);
    let commit = promotion.lines().next().expect("a commit").trim().to_owned();
    git(&repo.dir, &["revert", "--no-edit", &commit], ALICE);
    let r = repo.reconcile_at(TUESDAY);
    assert_eq!(r.code, 1, "a rollback is reported: {}", r.stdout);
    let status = repo.status(TUESDAY);
    let (s, why) = state(&status, "income-v4", "dev");
    assert_eq!(s, "RolledBack", "{why}");
    assert!(why.contains("reverted"), "{why}");
    assert_eq!(repo.promotion_commits("income-v4", "dev"), 1, "not promoted again");
    assert!(!repo.dir.join("deploy/dev/income.yaml").exists());
    verify(&repo);
    drop_db(guard).await;
}

#[tokio::test]
async fn killing_the_controller_never_double_promotes() {
    let (repo, guard) = Repo::new("sqlite").await;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..12 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = Command::new(tollgate())
            .args(["reconcile", "--once", "--at", TUESDAY, "--act", "--replica", "e2e"])
            .current_dir(&repo.dir)
            .env("TOLLGATE_DB", &repo.db)
            .env("TOLLGATE_REPO", &repo.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(rng % 400));
        let _ = child.kill();
        let _ = child.wait();
    }
    // A kill while the branch was being moved can leave its lock behind: that slot fails (the
    // others go on), and the next passes clear the lock once it is stale and carry on.
    let mut last = repo.reconcile_at(TUESDAY);
    for _ in 0..3 {
        if last.code != 2 && !last.stdout.contains(" failed (attempt ") {
            break;
        }
        std::thread::sleep(Duration::from_secs(3));
        last = repo.reconcile_at(TUESDAY);
    }
    assert_eq!(last.code, 1, "{}", last.stderr);
    for (release, env) in [("income-v4", "dev"), ("churn-v3", "dev")] {
        assert_eq!(repo.promotion_commits(release, env), 1, "{release} promoted to {env} exactly once");
        assert_eq!(state(&repo.status(TUESDAY), release, env).0, "Promoted");
    }
    // Exactly one promotion record per slot: a crash after the commit is healed, not redone.
    let pool = sqlx::SqlitePool::connect(&repo.db).await.expect("connect");
    let records: Vec<(String,)> = sqlx::query_as("SELECT subject FROM promotions ORDER BY id").fetch_all(&pool).await.expect("query");
    pool.close().await;
    let subjects: Vec<&str> = records.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(subjects.iter().filter(|s| **s == "deploy/dev/income").count(), 1, "{subjects:?}");
    assert_eq!(subjects.iter().filter(|s| **s == "deploy/dev/churn").count(), 1, "{subjects:?}");
    verify(&repo);
    drop_db(guard).await;
}

struct Replica {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    fn start(repo: &Repo, name: &str) -> Replica {
        let mut child = Command::new(tollgate())
            .args(["reconcile", "--interval", "1s", "--replica", name])
            .current_dir(&repo.dir)
            .env("TOLLGATE_DB", &repo.db)
            .env("TOLLGATE_REPO", &repo.dir)
            .env("TOLLGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let lines = collect(child.stderr.take().expect("piped"));
        Replica { child, lines }
    }

    fn leads(&self) -> bool {
        self.lines.lock().expect("lock").iter().any(|l| l.contains("leading"))
    }
}

/// The lines a child writes, collected as they come.
fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().expect("lock").push(line);
        }
    });
    lines
}

/// Sends SIGTERM and waits: the exit code.
fn terminate(mut child: Child) -> Option<i32> {
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(term.success());
    child.wait().expect("wait").code()
}

fn wait_for(what: &str, limit: Duration, f: impl FnMut() -> bool) {
    wait_showing(what, limit, String::new, f);
}

/// [`wait_for`], and when it times out, what `describe` says (a server's log, the decision).
fn wait_showing(what: &str, limit: Duration, describe: impl Fn() -> String, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        if start.elapsed() >= limit {
            panic!("timed out waiting for {what}\n{}", describe());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn postgres_replicas_elect_one_leader_and_fail_over() {
    let (repo, guard) = Repo::new("postgres").await;
    // Migrations first, so both replicas start on a ready database.
    assert_eq!(repo.run(&["audit", "verify"], &[]).code, 0);
    let mut a = Replica::start(&repo, "replica-a");
    let mut b = Replica::start(&repo, "replica-b");
    wait_for("a leader", Duration::from_secs(60), || a.leads() || b.leads());
    std::thread::sleep(Duration::from_secs(3));
    assert!(a.leads() != b.leads(), "exactly one leader");
    let (leader, follower) = if a.leads() { (&mut a, &mut b) } else { (&mut b, &mut a) };
    wait_for("the leader's first promotions", Duration::from_secs(60), || repo.promotion_commits("income-v4", "dev") == 1);
    let _ = leader.child.kill();
    let _ = leader.child.wait();
    let killed = Instant::now();
    wait_for("the follower to take over", Duration::from_secs(20), || follower.leads());
    let takeover = killed.elapsed();
    assert!(takeover < Duration::from_secs(10), "took over in {takeover:?}");
    std::thread::sleep(Duration::from_secs(2));
    let _ = follower.child.kill();
    let _ = follower.child.wait();
    assert_eq!(repo.promotion_commits("income-v4", "dev"), 1, "never promoted twice");
    verify(&repo);
    drop_db(guard).await;
}

/// Replicas follow the store (issue #14): a `serve` that does not reconcile answers admission
/// reviews from an index that moves when another replica promotes, through PostgreSQL's
/// LISTEN/NOTIFY, long before its own fetch interval (an hour here) would have read the repo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_s_admission_index_follows_another_replica_s_promotions_on_postgres() {
    use tollgate_webhooks::client::Client;
    const CHURN: &str = "ghcr.io/acme/churn-serving@sha256:5d41402abc4b2a76b9719d911017c592ae2f6bd5b5f7a3c1e8d9f0a1b2c3d4e5";
    let (repo, guard) = Repo::new("postgres").await;
    assert_eq!(repo.run(&["audit", "verify"], &[]).code, 0);
    let (cert, pkey) = repo.tls_pair();
    let (cert_s, pkey_s) = (cert.to_str().expect("utf-8"), pkey.to_str().expect("utf-8"));
    let (b, url_b, _) = repo.serve(&["--listen", "127.0.0.1:0", "--tls-cert", cert_s, "--tls-key", pkey_s, "--fetch-interval", "1h"]);
    let client = Client::new(&url_b, "none", Some(&cert)).expect("client");
    let head = || git(&repo.dir, &["rev-parse", "HEAD"], ALICE).trim().to_owned();
    let index = || async { client.get("/readyz").await.expect("readyz").body["admission"]["index"].as_str().map(str::to_owned) };
    let first = head();
    // B prepares the repo once it listens; its index is published with that prepare.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut at_start = index().await;
    while at_start.is_none() {
        assert!(Instant::now() < deadline, "B never published an index");
        tokio::time::sleep(Duration::from_millis(200)).await;
        at_start = index().await;
    }
    assert_eq!(at_start.as_deref(), Some(first.as_str()), "B serves the index of the commit it prepared at start");

    // A Deployment of churn-v3's image in dev's namespace (dev warns): not promoted there yet.
    let fixture = format!("{}/../admission/tests/fixtures/deployment.json", env!("CARGO_MANIFEST_DIR"));
    let mut review: Value = serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    review["request"]["namespace"] = "ml-dev".into();
    review["request"]["object"]["metadata"]["namespace"] = "ml-dev".into();
    let containers = review.pointer_mut("/request/object/spec/template/spec/containers").and_then(Value::as_array_mut).expect("containers");
    containers.truncate(1);
    containers[0]["image"] = CHURN.into();
    // The fixture's model digest is prod's churn; dev's is checked by its image here.
    review["request"]["object"]["spec"]["template"]["metadata"]["annotations"] = serde_json::json!({});
    let answer = client.post_json("/admission", review.clone()).await.expect("review");
    assert_eq!((answer.status, answer.body["response"]["allowed"].as_bool()), (200, Some(true)), "{}", answer.body);
    let warnings = answer.body["response"]["warnings"].as_array().map(Vec::len).unwrap_or(0);
    assert!(warnings > 0, "not promoted to dev yet: {}", answer.body);

    // Replica A reconciles; its first pass promotes churn-v3 to dev with a commit.
    let (a, _, _) = repo.serve(&["--listen", "127.0.0.1:0", "--reconcile", "--interval", "1h", "--replica", "serve-a"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while repo.promotion_commits("churn-v3", "dev") == 0 {
        assert!(Instant::now() < deadline, "A never promoted churn-v3 to dev");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let promoted = Instant::now();
    let deadline = promoted + Duration::from_secs(30);
    let mut now = index().await;
    while now.as_deref() != Some(head().as_str()) {
        assert!(Instant::now() < deadline, "B's index stayed at {now:?}, HEAD is {}", head());
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = index().await;
    }
    assert_ne!(now.as_deref(), Some(first.as_str()));
    let followed = promoted.elapsed();
    assert!(followed < Duration::from_secs(10), "B followed in {followed:?}");
    let answer = client.post_json("/admission", review).await.expect("review");
    assert_eq!(answer.body["response"]["allowed"], true, "{}", answer.body);
    assert_eq!(answer.body["response"]["warnings"], Value::Null, "promoted to dev now: {}", answer.body);
    assert_eq!(terminate(a), Some(0));
    assert_eq!(terminate(b), Some(0));
    verify(&repo);
    drop_db(guard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_repo_is_mirrored_pushed_to_and_force_pushes_are_recorded() {
    let (repo, guard) = Repo::new("sqlite").await;
    let tmp = repo.dir.parent().expect("tmp").to_owned();
    let (remote, url, cache) = repo.bare_remote();
    let run = |args: &[&str]| {
        let envs = [
            ("TOLLGATE_REPO", url.as_str()),
            ("TOLLGATE_CACHE", cache.to_str().expect("utf-8")),
            ("TOLLGATE_DB", repo.db.as_str()),
            ("TOLLGATE_REPLICA", "e2e"),
        ];
        run_in(Some(&tmp), args, &envs, &[])
    };
    let first = run(&["reconcile", "--once", "--at", TUESDAY, "--act"]);
    assert!(first.stdout.contains("promoted income-v4 to dev"), "{}{}", first.stdout, first.stderr);
    // The promotion reached the remote.
    let remote_log = git(&remote, &["log", "--format=%an %s", "main"], ALICE);
    assert!(remote_log.lines().any(|l| l == "tollgate Promote income-v4 (income@4) to dev"), "{remote_log}");
    let r = run(&["status", "--at", TUESDAY, "--format", "json"]);
    let status: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(state(&status, "income-v4", "dev").0, "Promoted");

    // Someone rewrites the branch: the rewrite is recorded, and the promotion it dropped is
    // seen as rolled back rather than silently redone.
    let root = git(&remote, &["rev-list", "--max-parents=0", "main"], ALICE);
    git(&remote, &["update-ref", "refs/heads/main", root.trim()], ALICE);
    let again = run(&["reconcile", "--once", "--at", TUESDAY, "--act"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    let pool = sqlx::SqlitePool::connect(&repo.db).await.expect("connect");
    let actions: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit_events ORDER BY seq").fetch_all(&pool).await.expect("query");
    pool.close().await;
    assert!(actions.iter().any(|a| a.0 == "git.force_push"), "{actions:?}");
    let r = run(&["status", "--at", TUESDAY, "--format", "json"]);
    let status: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(state(&status, "income-v4", "dev").0, "RolledBack");
    verify(&repo);
    drop_db(guard).await;
}

/// Regression (issue #11): `token create --repo URL` opened the URL as a local folder and
/// failed; it reads the users from the remote's mirror, as every other command does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_create_reads_the_users_of_a_remote_repo() {
    let (repo, guard) = Repo::new("sqlite").await;
    let tmp = repo.dir.parent().expect("tmp").to_owned();
    let (_, url, cache) = repo.bare_remote();
    let run = |args: &[&str], token: &str| {
        let envs = [
            ("TOLLGATE_REPO", url.as_str()),
            ("TOLLGATE_CACHE", cache.to_str().expect("utf-8")),
            ("TOLLGATE_GATE_CACHE", cache.to_str().expect("utf-8")),
            ("TOLLGATE_DB", repo.db.as_str()),
            ("TOLLGATE_TOKEN", token),
        ];
        run_in(Some(&tmp), args, &envs, &[])
    };
    let r = run(&["token", "create", "--user", "bob"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bob = r.stdout.trim().to_owned();
    assert!(bob.starts_with("tg_") && r.stderr.contains("for bob created"), "{}{}", r.stdout, r.stderr);
    // The token works against the same remote.
    let r = run(&["approve", "churn-v3", "--env", "staging"], &bob);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("approved churn-v3 for staging as bob"), "{}", r.stdout);
    // Someone the remote's tollgate.yaml does not name gets none.
    let r = run(&["token", "create", "--user", "mallory"], "");
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("`mallory` is not a user in tollgate.yaml"), "{}", r.stderr);
    verify(&repo);
    drop_db(guard).await;
}

/// Regression (issue #11): `token revoke` revoked the token and then recorded `token.revoked`,
/// so a failed append left a revoked token without its record. The record comes first now: when
/// it cannot be written, the token stays valid and the error says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revocation_that_cannot_be_recorded_leaves_the_token_valid() {
    let (repo, guard) = Repo::new("sqlite").await;
    let bob = repo.token("bob");
    let id = &bob[3..15];
    let pool = sqlx::SqlitePool::connect(&repo.db).await.expect("connect");
    sqlx::query(
        "CREATE TRIGGER refuse_events BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'the audit log refuses writes'); END",
    )
    .execute(&pool)
    .await
    .expect("trigger");
    let r = repo.run(&["token", "revoke", id], &[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("token `{id}` is still valid: its revocation could not be recorded")), "{}", r.stderr);
    assert!(r.stderr.contains("the audit log refuses writes"), "the cause is shown: {}", r.stderr);
    assert!(r.stderr.contains("hint: nothing was revoked"), "{}", r.stderr);
    let live = || repo.run(&["token", "list"], &[]).stdout.lines().any(|l| l.starts_with(id) && l.trim_end().ends_with(" -"));
    assert!(live(), "the token is still live");

    // Once the log takes writes again, the revocation is recorded and takes effect.
    sqlx::query("DROP TRIGGER refuse_events").execute(&pool).await.expect("drop trigger");
    let r = repo.run(&["token", "revoke", id], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!live(), "revoked");
    let r = repo.run(&["token", "revoke", id], &[]);
    assert_eq!(r.code, 2, "revoking twice: no live token");
    let actions: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit_events ORDER BY seq").fetch_all(&pool).await.expect("query");
    pool.close().await;
    assert_eq!(actions.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(), ["token.created", "token.revoked"]);
    verify(&repo);
    drop_db(guard).await;
}

#[tokio::test]
async fn approved_releases_wait_for_a_window_and_freezes_hold_prod() {
    let (repo, guard) = Repo::new("sqlite").await;
    // Saturday 11:00 in Berlin: staging's weekday window is closed.
    const SATURDAY: &str = "2026-12-05T10:00:00Z";
    repo.reconcile_at(SATURDAY);
    let bob = repo.token("bob");
    assert_eq!(repo.approve("churn-v3", "staging", &bob).code, 0);
    let r = repo.reconcile_at(SATURDAY);
    assert!(!r.stdout.contains("promoted churn-v3 to staging"), "{}", r.stdout);
    let (s, why) = state(&repo.status(SATURDAY), "churn-v3", "staging");
    assert_eq!(s, "AwaitingWindow", "{why}");
    assert!(why.contains("next opening 2026-12-07 06:00 UTC (Mon 2026-12-07 07:00 Europe/Berlin)"), "{why}");
    // Monday morning it opens, and the release goes in.
    let r = repo.reconcile_at(MONDAY);
    assert!(r.stdout.contains("promoted churn-v3 to staging"), "{}{}", r.stdout, r.stderr);
    assert_eq!(state(&repo.status(MONDAY), "churn-v3", "staging").0, "Promoted");
    let log = repo.log(&["-n", "1", "--", "deploy/staging/churn.yaml"]);
    assert!(log.contains("Tollgate-Environment: staging"), "{log}");
    let deploy = std::fs::read_to_string(repo.dir.join("deploy/staging/churn.yaml")).expect("deploy file");
    assert!(deploy.contains("user: \"bob\""), "the approvals that counted are recorded: {deploy}");

    // prod's year-end freeze beats its Tuesday window: explain shows it among the inputs.
    let e = repo.run(&["explain", "income-v2", "--env", "prod", "--at", FROZEN], &[]);
    assert!(e.stdout.contains("window           closed: freezes[0]"), "{}", e.stdout);
    assert!(e.stdout.contains("next opening 2027-01-05 08:00 UTC"), "{}", e.stdout);
    verify(&repo);
    drop_db(guard).await;
}

/// dev promotes through pull requests on a GitHub double; the config repo is a `file://` remote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_environment_is_promoted_through_one_pull_request() {
    const TOKEN: &str = "ghp_e2e-secret-token";
    const BRANCH: &str = "tollgate/promote/dev/income";
    let double = tollgate_github_double::GitHubDouble::start("acme", "ml-config", TOKEN).expect("double");
    let (repo, guard) = Repo::new("sqlite").await;
    let dev = repo.dir.join("environments/dev.yaml");
    let text = std::fs::read_to_string(&dev).expect("dev").replace("mode: commit", "mode: pullRequest");
    std::fs::write(&dev, text).expect("write dev");
    let mut config = std::fs::read_to_string(repo.dir.join("tollgate.yaml")).expect("config");
    config
        .push_str(&format!("\n  github:\n    repository: acme/ml-config\n    apiUrl: {}\n    tokenEnv: E2E_GITHUB_TOKEN\n", double.url()));
    std::fs::write(repo.dir.join("tollgate.yaml"), config).expect("write config");
    git(&repo.dir, &["commit", "-q", "-am", "dev promotes through pull requests"], ALICE);
    let tmp = repo.dir.parent().expect("tmp").to_owned();
    let (remote, url, cache) = repo.bare_remote();
    let run = |args: &[&str], token: &str| {
        let envs = [
            ("TOLLGATE_REPO", url.as_str()),
            ("TOLLGATE_CACHE", cache.to_str().expect("utf-8")),
            ("TOLLGATE_DB", repo.db.as_str()),
            ("TOLLGATE_REPLICA", "e2e"),
            ("E2E_GITHUB_TOKEN", token),
        ];
        run_in(Some(&tmp), args, &envs, &["GITHUB_TOKEN"])
    };
    let reconcile = ["reconcile", "--once", "--at", TUESDAY, "--act"];

    // A wrong token: each pull-request promotion fails with a clear reason (recorded; exit 1),
    // nothing pushed, nothing opened, the token not shown.
    let bad = run(&reconcile, "ghp_wrong");
    assert_eq!(bad.code, 1, "{}{}", bad.stdout, bad.stderr);
    assert!(bad.stdout.contains("promotion of income-v4 to dev failed (attempt 1): failed to open the pull request"), "{}", bad.stdout);
    assert!(bad.stdout.contains("refused the credentials (the token from `E2E_GITHUB_TOKEN`): Bad credentials"), "{}", bad.stdout);
    // The pass went on after income-v4: churn-v3, sorted after it, was tried (and failed alike).
    assert!(bad.stdout.contains("promotion of churn-v3 to dev failed (attempt 1): "), "{}", bad.stdout);
    assert!(!bad.stdout.contains("ghp_wrong") && !bad.stderr.contains("ghp_wrong"), "{}{}", bad.stdout, bad.stderr);
    assert!(git(&remote, &["branch", "--list", "tollgate/*"], ALICE).is_empty(), "nothing pushed");
    assert!(double.pulls().is_empty());

    let first = run(&reconcile, TOKEN);
    // Promoting and pending hold: nothing is blocked and nothing failed.
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(!first.stdout.contains(" failed (attempt "), "{}", first.stdout);
    assert!(first.stdout.contains("proposed income-v4 for dev: branch tollgate/promote/dev/income awaits merge"), "{}", first.stdout);
    assert!(first.stdout.contains("promoting income-v4 to dev: opened (https://github.example/acme/ml-config/pull/"), "{}", first.stdout);
    let pulls: Vec<_> = double.pulls().into_iter().filter(|p| p.head == BRANCH).collect();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!((pulls[0].base.as_str(), pulls[0].title.as_str()), ("main", "Promote income-v4 (income@4) to dev"));
    let tip = git(&remote, &["rev-parse", BRANCH], ALICE).trim().to_owned();
    let status = |at: &str| -> Value {
        let r = run(&["status", "--at", at, "--format", "json"], TOKEN);
        serde_json::from_str(&r.stdout).expect("status json")
    };
    assert_eq!(state(&status(TUESDAY), "income-v4", "dev").0, "Promoting");

    // Another process, another pass: no second pull request, no new commit.
    let posts = double.requests().iter().filter(|r| r.method == "POST").count();
    let again = run(&reconcile, TOKEN);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stdout.contains("pull request #"), "{}", again.stdout);
    assert_eq!(double.requests().iter().filter(|r| r.method == "POST").count(), posts);
    assert_eq!(git(&remote, &["rev-parse", BRANCH], ALICE).trim(), tip);

    // The reviewer merges: the promotion file lands on main, the release is promoted.
    git(&remote, &["update-ref", "refs/heads/main", &tip], ALICE);
    double.mark_merged(pulls[0].number);
    let merged = run(&reconcile, TOKEN);
    assert!(merged.stdout.contains(": merged ("), "{}{}", merged.stdout, merged.stderr);
    assert_eq!(state(&status(TUESDAY), "income-v4", "dev").0, "Promoted");
    assert_eq!(double.violations(), Vec::<String>::new(), "the client held to GitHub's contract");
    let pool = sqlx::SqlitePool::connect(&repo.db).await.expect("connect");
    let actions: Vec<(String,)> = sqlx::query_as(
        "SELECT action FROM audit_events WHERE action LIKE 'promotion.pull_request_%' AND subject = 'deploy/dev/income' ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .expect("query");
    pool.close().await;
    let actions: Vec<&str> = actions.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(actions, ["promotion.pull_request_opened", "promotion.pull_request_merged"]);
    verify(&repo);
    drop_db(guard).await;
}

/// The whole path of a release to production: a failing gate blocks it with the reason; fixed,
/// it enters dev, waits for an ML lead at staging, then for an ML lead and risk at prod (its
/// author refused), waits for prod's window, is proposed on a branch (prod promotes by pull
/// request) and is promoted when that branch is merged. The audit chain verifies.
#[tokio::test]
async fn a_release_flows_to_prod_through_gates_approvals_and_a_window() {
    let (repo, guard) = Repo::new("sqlite").await;
    let path = repo.dir.join("releases/churn-v3.yaml");
    let text = std::fs::read_to_string(&path).expect("release");
    let to_prod = text.replacen("  environment: staging\n", "  environment: prod\n", 1).replacen(
        "      allowPrivilegeEscalation: false\n",
        "      allowPrivilegeEscalation: false\n      readOnlyRootFilesystem: true\n",
        1,
    );
    // A precision the scores cannot reach: staging and prod require quality gates.
    std::fs::write(&path, to_prod.replacen("{metric: precision, min: 0.5}", "{metric: precision, min: 0.95}", 1)).expect("write");
    git(&repo.dir, &["commit", "-q", "-am", "churn-v3: to prod"], ALICE);
    repo.reconcile_at(TUESDAY);
    let status = repo.status(TUESDAY);
    let (s, why) = state(&status, "churn-v3", "staging");
    assert_eq!(s, "Blocked", "{why}");
    assert!(why.contains("precision"), "the failing gate is named: {why}");

    // Fixed: dev at once, then staging waits for an ML lead.
    std::fs::write(&path, &to_prod).expect("write");
    git(&repo.dir, &["commit", "-q", "-am", "churn-v3: realistic precision"], ALICE);
    let r = repo.reconcile_at(TUESDAY);
    assert!(r.stdout.contains("promoted churn-v3 to dev"), "{}{}", r.stdout, r.stderr);
    assert_eq!(state(&repo.status(TUESDAY), "churn-v3", "staging").0, "AwaitingApproval");
    let (alice, bob, carol) = (repo.token("alice"), repo.token("bob"), repo.token("carol"));
    assert_eq!(repo.approve("churn-v3", "staging", &bob).code, 0);
    let r = repo.reconcile_at(TUESDAY);
    assert!(r.stdout.contains("promoted churn-v3 to staging"), "{}{}", r.stdout, r.stderr);

    // prod: two approvals, one from each group; the author is refused.
    let (s, why) = state(&repo.status(TUESDAY), "churn-v3", "prod");
    assert_eq!(s, "AwaitingApproval", "{why}");
    let r = repo.approve("churn-v3", "prod", &alice);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("refused: alice authored the change"), "{}", r.stdout);
    assert_eq!(repo.approve("churn-v3", "prod", &bob).code, 0);
    assert_eq!(state(&repo.status(TUESDAY), "churn-v3", "prod").0, "AwaitingApproval", "one of two");
    let r = repo.approve("churn-v3", "prod", &carol);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // Monday is outside prod's window: it waits.
    let r = repo.reconcile_at(MONDAY);
    assert!(!r.stdout.contains("churn-v3 for prod"), "{}", r.stdout);
    let (s, why) = state(&repo.status(MONDAY), "churn-v3", "prod");
    assert_eq!(s, "AwaitingWindow", "{why}");

    // Tuesday: proposed on its branch, promoted once the branch is merged.
    let r = repo.reconcile_at(TUESDAY);
    assert!(r.stdout.contains("proposed churn-v3 for prod"), "{}{}", r.stdout, r.stderr);
    assert_eq!(state(&repo.status(TUESDAY), "churn-v3", "prod").0, "Promoting");
    git(&repo.dir, &["merge", "-q", "--ff-only", "tollgate/promote/prod/churn"], ALICE);
    repo.reconcile_at(TUESDAY);
    assert_eq!(state(&repo.status(TUESDAY), "churn-v3", "prod").0, "Promoted");
    let deploy = std::fs::read_to_string(repo.dir.join("deploy/prod/churn.yaml")).expect("deploy file");
    assert!(deploy.contains("user: \"bob\"") && deploy.contains("user: \"carol\""), "{deploy}");
    assert!(deploy.contains("quality"), "the gate summary is recorded: {deploy}");
    verify(&repo);
    drop_db(guard).await;
}

/// `tollgate serve` over TLS and `tollgate approve --server`: an approval given through the API
/// is the same approval as one given with the database (bound to the content, the author
/// refused), and the next pass promotes with it. SIGTERM stops the server cleanly.
#[tokio::test]
async fn an_approval_through_the_api_over_tls_lets_the_release_through() {
    let (repo, guard) = Repo::new("sqlite").await;
    let first = repo.reconcile_at(TUESDAY);
    assert_eq!(first.code, 1, "{}", first.stderr);
    let (alice, bob) = (repo.token("alice"), repo.token("bob"));

    let (cert, pkey) = repo.tls_pair();
    let (server, url, _) =
        repo.serve(&["--listen", "127.0.0.1:0", "--tls-cert", cert.to_str().expect("utf-8"), "--tls-key", pkey.to_str().expect("utf-8")]);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let remote = |token: &str, extra: &[&str]| {
        let mut args = vec!["approve", "churn-v3", "--env", "staging", "--server", &url, "--ca-cert", cert.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        repo.run(&args, &[("TOLLGATE_TOKEN", token)])
    };
    let r = remote(&alice, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("refused: alice authored the change"), "{}", r.stdout);
    let r = remote(&bob, &["--digest", &"ab".repeat(32)]);
    assert_eq!(r.code, 1, "a digest that is not the release's is refused: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("refused: `churn-v3` changed"), "{}", r.stdout);
    let r = remote(&bob, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("approved churn-v3 for staging as bob") && r.stdout.contains("approvals now 1 of 1, enough"), "{}", r.stdout);
    // Plain HTTP is refused by the client before any token leaves for a non-loopback host.
    let r = repo.run(&["approve", "churn-v3", "--env", "staging", "--server", "http://tollgate.example"], &[("TOLLGATE_TOKEN", &bob)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("refusing to send an API token over plain HTTP"), "{}", r.stderr);

    assert_eq!(terminate(server), Some(0), "serve stops cleanly on SIGTERM");

    let explain = repo.run(&["explain", "churn-v3", "--env", "staging", "--at", TUESDAY], &[]);
    assert!(explain.stdout.contains("counted: bob") && explain.stdout.contains("via api"), "{}", explain.stdout);
    let pass = repo.reconcile_at(TUESDAY);
    assert!(pass.stdout.contains("promoted churn-v3 to staging"), "{}{}", pass.stdout, pass.stderr);
    verify(&repo);
    drop_db(guard).await;
}

/// `tollgate serve --reconcile`: one process serves the API and reconciles; its first pass runs
/// at start, an approval through the API starts the next pass at once (the interval is an
/// hour), and SIGTERM ends the pass loop and gives up leadership.
#[tokio::test]
async fn serve_reconciles_and_an_api_approval_starts_a_pass_at_once() {
    let (repo, guard) = Repo::new("sqlite").await;
    // Staging's working-hours window would make this test depend on the real clock.
    let staging = repo.dir.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&staging).expect("staging");
    let window = "  windows:\n    - kind: allow\n      schedule: \"0 7 * * 1-5\"\n      duration: 11h\n      timeZone: Europe/Berlin\n";
    assert!(text.contains(window), "{text}");
    std::fs::write(&staging, text.replace(window, "")).expect("write");
    git(&repo.dir, &["commit", "-q", "-am", "staging: open around the clock"], ALICE);
    let bob = repo.token("bob");

    let (server, url, lines) = repo.serve(&["--listen", "127.0.0.1:0", "--reconcile", "--interval", "1h", "--replica", "serve-a"]);

    // On a timeout: the server's log, and the decision as the server sees it.
    let describe = || {
        let log = lines.lock().expect("lock").join("\n");
        let r = repo.run(&["explain", "churn-v3", "--env", "staging"], &[]);
        format!("{log}\n`tollgate explain churn-v3 --env staging`:\n{}{}", r.stdout, r.stderr)
    };
    wait_showing("the first pass to promote churn-v3 to dev", Duration::from_secs(90), describe, || {
        repo.promotion_commits("churn-v3", "dev") == 1
    });
    assert_eq!(repo.promotion_commits("churn-v3", "staging"), 0, "staging waits for an approval");
    let r = repo.run(&["approve", "churn-v3", "--env", "staging", "--server", &url], &[("TOLLGATE_TOKEN", &bob)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let approved = format!("{}{}", r.stdout, r.stderr);
    wait_showing(
        "the approval's pass to promote churn-v3 to staging",
        Duration::from_secs(60),
        || format!("{approved}\n{}", describe()),
        || repo.promotion_commits("churn-v3", "staging") == 1,
    );

    let exit = terminate(server);
    let log = lines.lock().expect("lock").join("\n");
    assert_eq!(exit, Some(0), "{log}");
    assert!(log.contains("leading") && log.contains("stopped leading"), "{log}");
    verify(&repo);
    drop_db(guard).await;
}

/// The pull-request door through the real binary: `tollgate serve` takes GitHub's signed
/// deliveries and tells the pull request (on the GitHub double, through octocrab) what its change
/// does. A change that breaks a rule fails `tollgate/check` with an annotation at its line; the
/// fixing push turns it green; an ML lead's review approves (bound to the commit), the change's
/// author's does not count; a push that changes the release voids the approval; a redelivery
/// and a bad signature change nothing; a crash after the acknowledgement loses nothing; and once
/// merged, the next pass promotes with the review's approval.
/// The pull-request door's world: the config repo on a GitHub double (token auth, webhook
/// secret, `alice-gh` and `bob-gh` mapped to Alice and Bob), and a clone that pushes pull
/// requests' heads where GitHub keeps them (`refs/pull/N/head`).
struct Door {
    repo: Repo,
    double: tollgate_github_double::GitHubDouble,
    work: PathBuf,
    main: String,
}

impl Door {
    const TOKEN: &str = "ghp_e2e-door-token";
    const SECRET: &str = "e2e-webhook-secret";

    async fn new(backend: &str) -> (Door, Option<String>) {
        let double = tollgate_github_double::GitHubDouble::start("acme", "ml-config", Door::TOKEN).expect("double");
        let (repo, guard) = Repo::new(backend).await;
        let config_file = repo.dir.join("tollgate.yaml");
        let config = std::fs::read_to_string(&config_file)
            .expect("config")
            .replace("email: alice@acme.example\n", "email: alice@acme.example\n      github: alice-gh\n")
            .replace("email: bob@acme.example\n", "email: bob@acme.example\n      github: bob-gh\n");
        let config =
            format!("{config}\n  github:\n    repository: acme/ml-config\n    apiUrl: {}\n    tokenEnv: E2E_GITHUB_TOKEN\n", double.url());
        std::fs::write(&config_file, config).expect("write config");
        git(&repo.dir, &["commit", "-q", "-am", "the config repo is on GitHub"], ALICE);
        let main = git(&repo.dir, &["rev-parse", "HEAD"], ALICE).trim().to_owned();
        let work = repo.dir.parent().expect("tmp").join("work");
        git(repo.dir.parent().expect("tmp"), &["clone", "-q", repo.dir.to_str().expect("utf-8"), work.to_str().expect("utf-8")], ALICE);
        (Door { repo, double, work, main }, guard)
    }

    /// Replaces `from` with `to` in churn-v3's release in the clone, commits, and pushes it as
    /// pull request `number`'s head: its commit.
    fn push(&self, number: u64, from: &str, to: &str) -> String {
        let file = self.work.join("releases/churn-v3.yaml");
        let text = std::fs::read_to_string(&file).expect("release");
        assert!(text.contains(from), "{from}");
        std::fs::write(&file, text.replacen(from, to, 1)).expect("write");
        git(&self.work, &["commit", "-q", "-am", to], ALICE);
        git(&self.work, &["push", "-q", "-f", "origin", &format!("HEAD:refs/pull/{number}/head")], ALICE);
        git(&self.work, &["rev-parse", "HEAD"], ALICE).trim().to_owned()
    }

    /// Pull request `number` by Dave, at `head`, onto main.
    fn facts(&self, number: u64, head: &str) -> tollgate_github_double::webhook::PrFacts {
        tollgate_github_double::webhook::PrFacts {
            owner: "acme".into(),
            repo: "ml-config".into(),
            number,
            head_ref: format!("change-{number}"),
            head_sha: head.into(),
            base_ref: "main".into(),
            base_sha: self.main.clone(),
            author: "dave".into(),
            merged: false,
            installation_id: 1,
        }
    }

    /// `tollgate serve` with the door open: the child, its URL and its log lines.
    fn serve(&self) -> (Child, String, Arc<Mutex<Vec<String>>>) {
        let envs = [("E2E_GITHUB_TOKEN", Door::TOKEN), ("TOLLGATE_GITHUB_WEBHOOK_SECRET", Door::SECRET)];
        self.repo.serve_with(&["--listen", "127.0.0.1:0"], &envs)
    }

    fn send(&self, url: &str, d: &tollgate_github_double::webhook::Delivery) -> u16 {
        tollgate_github_double::webhook::deliver(&format!("{url}/webhooks/github"), Door::SECRET.as_bytes(), d).expect("deliver").0
    }

    /// How many check runs the commit `sha` has.
    fn runs_of(&self, sha: &str) -> usize {
        self.double.check_runs().iter().filter(|r| r.head_sha == sha).count()
    }
}

#[tokio::test]
async fn the_pull_request_door_checks_approves_from_reviews_and_the_merge_is_promoted() {
    use tollgate_github_double::webhook::{Delivery, ReviewFacts, pull_request_event, review_event};
    const DIGEST: &str = "image: ghcr.io/acme/churn-serving@sha256:5d41402abc4b2a76b9719d911017c592ae2f6bd5b5f7a3c1e8d9f0a1b2c3d4e5";
    const TAG: &str = "image: ghcr.io/acme/churn-serving:3";
    let (door, guard) = Door::new("sqlite").await;
    let (repo, double, work, main) = (&door.repo, &door.double, &door.work, &door.main);
    let push = |from: &str, to: &str| door.push(1, from, to);
    let facts = |head: &str| door.facts(1, head);
    let (server, url, lines) = door.serve();
    let send = |d: &Delivery| door.send(&url, d);
    let hook = format!("{url}/webhooks/github");
    let latest = |sha: &str, name: &str| double.check_runs().into_iter().rfind(|r| r.head_sha == sha && r.name == name);
    let runs_of = |sha: &str| door.runs_of(sha);
    // The worker's first resync, at start, finds no open pull request yet.
    wait_for("the first resync", Duration::from_secs(120), || {
        lines.lock().expect("lock").iter().any(|l| l.contains("resynced open pull requests"))
    });

    // A change that serves churn-v3 by tag breaks a rule: a failing check, annotated.
    let broken = push(DIGEST, TAG);
    double.open_pull_at("replicas", "main", &broken, main, "dave", "churn as root", "");
    let opened = Delivery::new("pull_request", &pull_request_event("opened", &facts(&broken)));
    assert_eq!(send(&opened), 202);
    wait_for("the checks of the broken head", Duration::from_secs(120), || runs_of(&broken) == 3);
    let check = latest(&broken, "tollgate/check").expect("check run");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let line =
        std::fs::read_to_string(work.join("releases/churn-v3.yaml")).expect("file").lines().position(|l| l.contains(TAG)).expect("line")
            as u64
            + 1;
    assert!(
        check
            .annotations
            .iter()
            .any(|a| a["path"] == "releases/churn-v3.yaml" && a["start_line"] == line && a["annotation_level"] == "failure"),
        "{:?}",
        check.annotations
    );
    // A redelivery and a forged delivery change nothing.
    assert_eq!(send(&opened), 200);
    let forged = tollgate_github_double::webhook::deliver_with_signature(
        &hook,
        "sha256=0000",
        &Delivery::new("pull_request", &pull_request_event("synchronize", &facts(&broken))),
    )
    .expect("deliver")
    .0;
    assert_eq!(forged, 401);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs_of(&broken), 3);

    // The fix: green, one report comment edited in place.
    let fixed = push(TAG, DIGEST);
    assert_eq!(send(&Delivery::new("pull_request", &pull_request_event("synchronize", &facts(&fixed)))), 202);
    wait_for("the checks of the fixed head", Duration::from_secs(120), || runs_of(&fixed) == 3);
    assert_eq!(latest(&fixed, "tollgate/check").expect("check").conclusion.as_deref(), Some("success"));
    assert_eq!(double.comments(1).len(), 1);
    // The approvals of churn-v3 into staging, as `tollgate/release` says at `sha`.
    let staging = |sha: &str| {
        let summary = latest(sha, "tollgate/release").and_then(|r| r.summary).unwrap_or_default();
        let line = summary.lines().find(|l| l.starts_with("| `churn-v3` | staging |")).unwrap_or_default().to_owned();
        line.split(" | ").nth(3).unwrap_or_default().to_owned()
    };
    const NONE: &str = "0 of 1 (missing a member of ml-leads)";
    // Back to the digest, the change leaves churn-v3 as it was: nothing to approve.
    assert_eq!(staging(&fixed), "");
    let fixed = push("replicas: 1", "replicas: 2");
    assert_eq!(send(&Delivery::new("pull_request", &pull_request_event("synchronize", &facts(&fixed)))), 202);
    wait_for("the checks of the two-replica head", Duration::from_secs(120), || runs_of(&fixed) == 3);
    assert_eq!(staging(&fixed), NONE);

    // Alice wrote the change: her review does not count. Bob's does, bound to the commit.
    let review = |id: u64, login: &str, head: &str| {
        Delivery::new(
            "pull_request_review",
            &review_event(
                "submitted",
                &ReviewFacts { pr: facts(head), review_id: id, login: login.into(), state: "approved".into(), commit_id: head.into() },
            ),
        )
    };
    assert_eq!(send(&review(1, "alice-gh", &fixed)), 202);
    wait_for("alice's review", Duration::from_secs(60), || runs_of(&fixed) == 6);
    assert_eq!(staging(&fixed), NONE);
    assert_eq!(send(&review(2, "bob-gh", &fixed)), 202);
    wait_for("bob's review", Duration::from_secs(60), || runs_of(&fixed) == 9);
    assert_eq!(staging(&fixed), "1 of 1 by bob");

    // A push that changes the release voids Bob's approval there.
    let more = push("replicas: 2", "replicas: 3");
    assert_eq!(send(&Delivery::new("pull_request", &pull_request_event("synchronize", &facts(&more)))), 202);
    wait_for("the checks of the changed head", Duration::from_secs(120), || runs_of(&more) == 3);
    assert_eq!(staging(&more), NONE);

    // GitHub fails while the review is handled, and the server is killed: the review, queued,
    // is handled by the next server.
    double.fail_next("POST", 502);
    assert_eq!(send(&review(3, "bob-gh", &more)), 202);
    wait_for("the failed attempt", Duration::from_secs(60), || lines.lock().expect("lock").iter().any(|l| l.contains("will be retried")));
    // The retry is recorded right after the line is logged.
    std::thread::sleep(Duration::from_millis(500));
    let mut server = server;
    server.kill().expect("kill");
    server.wait().expect("wait");
    let (server, url, _) = door.serve();
    wait_for("the review, after the restart", Duration::from_secs(120), || runs_of(&more) == 6);
    assert_eq!(staging(&more), "1 of 1 by bob");

    // A delivery for another repository fails for good at once; the operator sees why, and a
    // requeue runs it again (and it fails again, for the same reason).
    let stray = Delivery::new(
        "pull_request",
        &tollgate_github_double::webhook::in_repo(pull_request_event("opened", &facts(&more)), "acme", "other", 1),
    );
    assert_eq!(door.send(&url, &stray), 202);
    let failed = || {
        let r = repo.run(&["github", "deliveries", "--format", "json"], &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<Value>(&r.stdout).expect("json")
    };
    wait_for("the stray delivery to fail", Duration::from_secs(60), || failed()["failed"] == 1);
    let listed = failed();
    assert_eq!(listed["queued"], 0, "{listed:#}");
    let f = &listed["failedDeliveries"][0];
    assert_eq!((f["id"].as_str(), f["event"].as_str(), f["attempts"].as_u64()), (Some(stray.id.as_str()), Some("pull_request"), Some(1)));
    assert_eq!(f["error"], "the delivery is for `acme/other`, not the config repo's `acme/ml-config`");
    let text = repo.run(&["github", "deliveries"], &[]);
    assert!(text.stdout.starts_with("queued 0  done "), "{}", text.stdout);
    assert!(text.stdout.contains(&format!("{}  pull_request  1 attempts", stray.id)), "{}", text.stdout);
    let requeued = repo.run(&["github", "requeue", &stray.id], &[]);
    assert_eq!((requeued.code, requeued.stdout.trim()), (0, format!("requeued {}", stray.id).as_str()), "{}", requeued.stderr);
    wait_for("the requeued delivery to fail again", Duration::from_secs(60), || failed()["failedDeliveries"][0]["attempts"] == 2);
    let unknown = repo.run(&["github", "requeue", "no-such-delivery"], &[]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("error: no failed delivery `no-such-delivery`"), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("hint: `tollgate github deliveries` lists"), "{}", unknown.stderr);

    // Merged: the next passes promote churn-v3 through dev to staging with Bob's approval.
    git(&repo.dir, &["merge", "-q", "--ff-only", &more], ALICE);
    let codes: Vec<i32> = (0..2).map(|_| repo.reconcile_at(TUESDAY).code).collect();
    // Exit 1: other releases stay blocked (the income models need libtorch in this build).
    assert_eq!(codes, [1, 1]);
    assert_eq!(state(&repo.status(TUESDAY), "churn-v3", "staging").0, "Promoted");
    assert_eq!(terminate(server), Some(0));
    assert_eq!(double.violations(), Vec::<String>::new(), "the client held to GitHub's contract");
    verify(repo);
    drop_db(guard).await;
}

/// Two replicas on one PostgreSQL store share the inbox: deliveries sent to either are each
/// handled once (a claim is `FOR UPDATE SKIP LOCKED` under a lease), a redelivery to the other
/// replica is recognised, and when one stops the other goes on.
#[tokio::test]
async fn two_replicas_on_postgres_share_the_inbox_and_handle_each_delivery_once() {
    use tollgate_github_double::webhook::{Delivery, pull_request_event};
    let (door, guard) = Door::new("postgres").await;
    // Migrations first, so both replicas start on a ready database.
    assert_eq!(door.repo.run(&["audit", "verify"], &[]).code, 0);
    let (a, url_a, lines_a) = door.serve();
    let (b, url_b, lines_b) = door.serve();
    for lines in [&lines_a, &lines_b] {
        wait_for("the first resync", Duration::from_secs(120), || {
            lines.lock().expect("lock").iter().any(|l| l.contains("resynced open pull requests"))
        });
    }
    // Four pull requests, each changing churn-v3's replicas; their deliveries alternate between
    // the replicas, and each is sent twice (GitHub's redelivery, to the other replica).
    let heads: Vec<String> = (1..=4).map(|n| door.push(n, &format!("replicas: {}", n), &format!("replicas: {}", n + 1))).collect();
    for (n, head) in (1..=4).zip(&heads) {
        door.double.open_pull_at(&format!("change-{n}"), "main", head, &door.main, "dave", "replicas", "");
        let d = Delivery::new("pull_request", &pull_request_event("opened", &door.facts(n, head)));
        let (first, second) = if n % 2 == 0 { (&url_a, &url_b) } else { (&url_b, &url_a) };
        assert_eq!(door.send(first, &d), 202);
        assert_eq!(door.send(second, &d), 200, "a redelivery to the other replica is a no-op");
    }
    wait_for("every head's checks", Duration::from_secs(240), || heads.iter().all(|h| door.runs_of(h) >= 3));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(heads.iter().map(|h| door.runs_of(h)).collect::<Vec<_>>(), [3, 3, 3, 3], "each delivery handled once");
    let handled =
        |lines: &Arc<Mutex<Vec<String>>>| lines.lock().expect("lock").iter().filter(|l| l.contains("handled a GitHub delivery")).count();
    assert_eq!(handled(&lines_a) + handled(&lines_b), 4);

    // Replica A stops (SIGTERM, with nothing in hand); B goes on alone.
    assert_eq!(terminate(a), Some(0));
    let head = door.push(5, "replicas: 5", "replicas: 6");
    door.double.open_pull_at("change-5", "main", &head, &door.main, "dave", "replicas", "");
    assert_eq!(door.send(&url_b, &Delivery::new("pull_request", &pull_request_event("opened", &door.facts(5, &head)))), 202);
    wait_for("the fifth head's checks, by B", Duration::from_secs(120), || door.runs_of(&head) == 3);
    assert_eq!(terminate(b), Some(0));
    let listed = door.repo.run(&["github", "deliveries", "--format", "json"], &[]);
    let listed: Value = serde_json::from_str(&listed.stdout).expect("json");
    assert_eq!((listed["queued"].as_u64(), listed["done"].as_u64(), listed["failed"].as_u64()), (Some(0), Some(5), Some(0)));
    assert_eq!(door.double.violations(), Vec::<String>::new(), "the client held to GitHub's contract");
    verify(&door.repo);
    drop_db(guard).await;
}
