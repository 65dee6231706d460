//! A reconcile pass on a generated 10,000-document config repo: a full pass against a pass with
//! nothing changed and a pass after one release changed.
//!
//! Run with `cargo bench -p tollgate-controller --bench reconcile` (`TOLLGATE_BENCH_DOCS` sets
//! the document count, default 10,000). The repo is the one the `check` benchmark generates
//! (about 6,000 releases, three environments each) in a Git repository, with a SQLite store.
//! Measured, each in a fresh process, three times (median time, peak resident memory):
//!
//! - full: a reconciler's first pass on an empty store: load and check the repo, gather every
//!   decision's inputs, decide about 18,000 (release, environment) pairs and record each one;
//! - nothing changed: a long-running reconciler's next pass, same commit, nothing new in the
//!   store (the first pass of that process is not timed);
//! - one release changed: the next pass after a commit that edits one release file.
//!
//! And what the API (`tollgate serve`) pays per call once its service has prepared the commit
//! (the first call of each process is not timed): every decision (`GET /api/v1/status`), one
//! decision explained, and an approval recorded.
//!
//! And what the pull-request door pays per push (`pulls::evaluate`, service warm, a local repo
//! so no fetch): a branch that changes one release, evaluated against main (the scoped check,
//! the head and the merge base prepared, the changed release decided), beside the scoped check
//! alone (`tollgate check --rev HEAD --base MERGE-BASE`, what a CI job would run).

#![allow(clippy::print_stdout)] // a benchmark reports on standard output

use tollgate_test_support::{generate, peak};

use peak::peak_kib;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tollgate_controller::reconcile::{GateSettings, Options, Reconciler};
use tollgate_controller::service::{Service, Via};
use tollgate_store::AuditLog;
use tollgate_store::Store;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        let mode = args[i + 1].clone();
        let root = Path::new(&args[i + 2]).to_owned();
        let db = args[i + 3].clone();
        // The service prepares on the runtime's workers (`block_in_place`): a multi-threaded one.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let elapsed = rt.block_on(run(&mode, &root, &db));
        println!("{} {}", elapsed.as_nanos(), peak_kib());
        return;
    }
    let docs: usize = std::env::var("TOLLGATE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("repo");
    let files = generate::generate(&root, docs);
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "generated"]);
    println!("generated {docs} documents in {} files", files.len());

    let full_db = dir.path().join("full.db");
    let (full, rss_full) = measure("full", &root, &full_db, None);
    // The store as a full pass leaves it, copied for each run of the other modes.
    let (nochange, rss_nochange) = measure("nochange", &root, &dir.path().join("nochange.db"), Some(&full_db));
    let (changed, rss_changed) = measure("changed", &root, &dir.path().join("changed.db"), Some(&full_db));

    let (status, rss_status) = measure("service-status", &root, &dir.path().join("status.db"), Some(&full_db));
    let (explain, rss_explain) = measure("service-explain", &root, &dir.path().join("explain.db"), Some(&full_db));
    let (approve, rss_approve) = measure("service-approve", &root, &dir.path().join("approve.db"), Some(&full_db));

    // A pull request's head: one release changed on a branch, main left as it is.
    let main_tip = rev_parse(&root, "HEAD");
    git(&root, &["checkout", "-q", "-b", "pr"]);
    let file = root.join("releases/r00001.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    let edited =
        if text.contains("replicas: 2") { text.replace("replicas: 2", "replicas: 4") } else { text.replace("replicas: 3", "replicas: 4") };
    std::fs::write(&file, edited).expect("write");
    git(&root, &["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qam", "a pull request"]);
    git(&root, &["checkout", "-q", "main"]);
    assert_eq!(rev_parse(&root, "HEAD"), main_tip);
    let (pr_check, rss_pr_check) = measure("pr-check", &root, &dir.path().join("pr-check.db"), Some(&full_db));
    let (pr_evaluate, rss_pr_evaluate) = measure("pr-evaluate", &root, &dir.path().join("pr-evaluate.db"), Some(&full_db));

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!();
    println!("| pass | time (ms) | of a full pass | peak RSS (MiB) |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| full (empty store, every decision recorded) | {:.0} | 100% | {rss_full:.1} |", ms(full));
    println!("| nothing changed | {:.1} | {:.2}% | {rss_nochange:.1} |", ms(nochange), 100.0 * ms(nochange) / ms(full));
    println!("| one release changed | {:.0} | {:.1}% | {rss_changed:.1} |", ms(changed), 100.0 * ms(changed) / ms(full));
    println!();
    println!("| API call, service warm | time (ms) | peak RSS (MiB) |");
    println!("| --- | ---: | ---: |");
    println!("| status (every decision) | {:.1} | {rss_status:.1} |", ms(status));
    println!("| explain (one decision) | {:.2} | {rss_explain:.1} |", ms(explain));
    println!("| approve (recorded) | {:.2} | {rss_approve:.1} |", ms(approve));
    println!();
    println!("| a pull request's push (one release changed) | time (ms) | of the scoped check | peak RSS (MiB) |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| `tollgate check --base` (scoped check only) | {:.0} | 100% | {rss_pr_check:.1} |", ms(pr_check));
    println!(
        "| the door's evaluation (check, head and merge base prepared, decided) | {:.0} | {:.0}% | {rss_pr_evaluate:.1} |",
        ms(pr_evaluate),
        100.0 * ms(pr_evaluate) / ms(pr_check)
    );
}

fn rev_parse(root: &Path, rev: &str) -> String {
    let out = Command::new("git").args(["rev-parse", rev]).current_dir(root).output().expect("git");
    assert!(out.status.success(), "git rev-parse {rev}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn git(root: &Path, args: &[&str]) {
    let status = Command::new("git").args(args).current_dir(root).status().expect("git");
    assert!(status.success(), "git {args:?}");
}

fn options(root: &Path) -> Options {
    Options {
        repo: root.to_owned(),
        rev: "HEAD".into(),
        now: "2026-12-01T10:00:00Z".parse().expect("instant"),
        release: None,
        gates: GateSettings { cache_dir: None, device: tollgate_controller::reconcile::Device::Cpu, kubernetes: None },
        bot: ("tollgate".into(), "bot@example.invalid".into()),
        jobs: 0,
    }
}

async fn run(mode: &str, root: &Path, db: &str) -> Duration {
    let store = Store::open(&format!("sqlite://{db}")).await.expect("store");
    let log = AuditLog::new(store.clone());
    let mut reconciler = Reconciler::default();
    let opts = options(root);
    let elapsed = match mode {
        "full" => {
            let start = Instant::now();
            reconciler.pass(&log, &opts, "bench", None).await.expect("pass");
            start.elapsed()
        }
        "nochange" => {
            reconciler.pass(&log, &opts, "bench", None).await.expect("warm pass");
            let start = Instant::now();
            let report = reconciler.pass(&log, &opts, "bench", None).await.expect("pass");
            let elapsed = start.elapsed();
            assert!(report.actions.is_empty(), "nothing to do: {:?}", report.actions.first());
            elapsed
        }
        "changed" => {
            reconciler.pass(&log, &opts, "bench", None).await.expect("warm pass");
            let file = root.join("releases/r00000.yaml");
            let text = std::fs::read_to_string(&file).expect("read");
            let edited = if text.contains("replicas: 2") {
                text.replace("replicas: 2", "replicas: 3")
            } else {
                text.replace("replicas: 3", "replicas: 2")
            };
            std::fs::write(&file, edited).expect("write");
            git(root, &["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qam", "one release changed"]);
            let start = Instant::now();
            reconciler.pass(&log, &opts, "bench", None).await.expect("pass");
            start.elapsed()
        }
        "service-status" | "service-explain" | "service-approve" => {
            let service = Service::new(log.clone(), opts.clone(), None, Duration::ZERO);
            let now = opts.now;
            service.status(now, None).await.expect("warm");
            let start = Instant::now();
            match mode {
                "service-status" => {
                    let s = service.status(now, None).await.expect("status");
                    assert!(s.decisions.len() > 1000);
                }
                "service-explain" => {
                    service.explain("r00000", "staging", now, None).await.expect("explain");
                }
                _ => {
                    let a = service.approve("bob", "r00000", "staging", None, Via::Api).await.expect("approve");
                    assert!(a.recorded);
                }
            }
            start.elapsed()
        }
        "pr-check" => {
            let head = rev_parse(root, "pr");
            let base = rev_parse(root, "main");
            let start = Instant::now();
            let report = tollgate_check::check_repo(root, Some(&head), Some(&base), 0).expect("check");
            let elapsed = start.elapsed();
            assert_eq!(report.changed_files.as_deref(), Some(&["releases/r00001.yaml".to_owned()][..]));
            elapsed
        }
        "pr-evaluate" => {
            let service = Service::new(log.clone(), opts.clone(), None, Duration::ZERO);
            // As `tollgate serve` does at start.
            service.prepare().await.expect("prepare");
            let head = rev_parse(root, "pr");
            let start = Instant::now();
            let e = tollgate_controller::pulls::evaluate(&service, "refs/heads/pr", &head, "main").await.expect("evaluate");
            let elapsed = start.elapsed();
            assert_eq!(e.releases.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["r00001"]);
            elapsed
        }
        other => panic!("unknown mode {other}"),
    };
    // Closing checkpoints the WAL into the file the other modes copy.
    store.close().await;
    elapsed
}

/// Runs one mode three times in fresh processes (each on a fresh copy of `seed`, or an empty
/// store): median time, largest peak RSS (MiB).
fn measure(mode: &str, root: &Path, db: &Path, seed: Option<&Path>) -> (Duration, f64) {
    let exe = std::env::current_exe().expect("current exe");
    let mut times = Vec::new();
    let mut peak: f64 = 0.0;
    for _ in 0..3 {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        if let Some(seed) = seed {
            std::fs::copy(seed, db).expect("copy the store");
        }
        let out = Command::new(&exe).args(["--measure", mode]).arg(root).arg(db).output().expect("run");
        assert!(out.status.success(), "{mode}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.split_whitespace();
        let nanos: u64 = parts.next().and_then(|p| p.parse().ok()).expect("nanos");
        let kib: f64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0.0);
        times.push(Duration::from_nanos(nanos));
        peak = peak.max(kib / 1024.0);
    }
    times.sort();
    (times[1], peak)
}
