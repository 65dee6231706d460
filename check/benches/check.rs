//! `tollgate check` against its floor, on a generated config repo.
//!
//! Run with `cargo bench -p tollgate-check --bench check` (`TOLLGATE_BENCH_DOCS` sets the
//! document count, default 10,000). It generates a Git config repo of that many documents with
//! 20 policies, then measures in one run:
//!
//! - the floor: read the same files, parse them with the same YAML parser, and evaluate the
//!   same 20 policies with a bare, pre-compiled regorus engine, in one loop on one thread;
//! - the whole check on one thread (`--jobs 1`): list and read files, parse, schemas,
//!   references, compile and evaluate policies with their context, render the JSON report;
//! - the same with one thread per core;
//! - the check with `--base HEAD` after one release file changed, with no summaries cached
//!   (every unchanged file read and parsed once for its summary) and with them cached.
//!
//! Each measurement runs in a fresh process (this binary re-executed), three times; the median
//! time and the peak resident memory (`VmHWM`) are reported.

#![allow(clippy::print_stdout)] // a benchmark reports on standard output

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tollgate_check::report::{self, Format};
use tollgate_check::{self as check, CheckOptions};
use tollgate_spec::repo;
use tollgate_spec::yaml::{Limits, parse_documents};

use tollgate_test_support::{generate, peak};

use peak::peak_kib;

use generate::{POLICY_COUNT, generate};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        let mode = args[i + 1].as_str();
        let root = Path::new(&args[i + 2]);
        let elapsed = match mode {
            "floor" => floor(root, &yaml_files(root)),
            "check1" => full_check(root, 1, false),
            "checkn" => full_check(root, 0, false),
            "base1" => full_check(root, 1, true),
            "base1cold" => {
                // No summaries cached: every unchanged file is read and parsed for its summary.
                let _ = std::fs::remove_file(root.join(".git/tollgate/summaries"));
                full_check(root, 1, true)
            }
            other => panic!("unknown mode {other}"),
        };
        println!("{} {}", elapsed.as_nanos(), peak_kib());
        return;
    }
    let docs: usize = std::env::var("TOLLGATE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    // `--keep DIR` generates into DIR and leaves it, to profile single modes with `--measure`.
    let kept = args.iter().position(|a| a == "--keep").map(|i| std::path::PathBuf::from(&args[i + 1]));
    let root = kept.as_deref().unwrap_or(dir.path());
    let files = generate(root, docs);
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "generated"]);
    println!("generated {docs} documents in {} files with {POLICY_COUNT} policies", files.len());

    let (floor, rss_f) = measure("floor", root);
    let (check1, rss1) = measure("check1", root);
    let (check_n, rss_n) = measure("checkn", root);
    let changed = files.iter().find(|f| f.starts_with("releases/")).expect("a release");
    let text = std::fs::read_to_string(root.join(changed)).expect("read");
    std::fs::write(root.join(changed), text.replace("description: release", "description: changed release")).expect("write");
    let (base_cold, rss_bc) = measure("base1cold", root);
    let (base1, rss_b) = measure("base1", root);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!();
    println!("| measurement | time (ms) | ratio | peak RSS (MiB) |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| floor: read + parse + bare regorus loop, 1 thread | {:.0} | 1.00 | {rss_f:.1} |", ms(floor));
    println!("| tollgate check, 1 thread | {:.0} | {:.2} x floor | {rss1:.1} |", ms(check1), ms(check1) / ms(floor));
    println!("| tollgate check, all cores | {:.0} | {:.2} x floor | {rss_n:.1} |", ms(check_n), ms(check_n) / ms(floor));
    println!(
        "| tollgate check --base HEAD, 1 file changed, 1 thread, no summaries cached | {:.0} | {:.1}% of the full check | {rss_bc:.1} |",
        ms(base_cold),
        100.0 * ms(base_cold) / ms(check1)
    );
    println!(
        "| tollgate check --base HEAD, 1 file changed, 1 thread | {:.0} | {:.1}% of the full check | {rss_b:.1} |",
        ms(base1),
        100.0 * ms(base1) / ms(check1)
    );
}

fn git(root: &Path, args: &[&str]) {
    let status = Command::new("git").args(args).current_dir(root).status().expect("git");
    assert!(status.success(), "git {args:?}");
}

/// Runs one mode three times in fresh processes: median time, largest peak RSS (MiB).
fn measure(mode: &str, root: &Path) -> (Duration, f64) {
    let exe = std::env::current_exe().expect("current exe");
    let mut times = Vec::new();
    let mut peak: f64 = 0.0;
    for _ in 0..3 {
        let out = Command::new(&exe).args(["--measure", mode]).arg(root).output().expect("run");
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

/// Everything `tollgate check --format json` does after parsing its arguments.
fn full_check(root: &Path, jobs: usize, base: bool) -> Duration {
    let start = Instant::now();
    let phases = std::env::var_os("TOLLGATE_BENCH_PHASES").is_some();
    let phase = |name: &str, t: Instant| {
        if phases {
            eprintln!("{name}: {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);
        }
    };
    let t = Instant::now();
    let (repo, changes) = check::load(root, None, base.then_some("HEAD"), jobs).expect("load");
    phase("load", t);
    let t = Instant::now();
    let author = repo::commit_author(root, "HEAD").map(|(name, email)| check::Author { name, email });
    phase("git", t);
    let t = Instant::now();
    let bundle = check::compile_policies(&repo).expect("policies compile");
    phase("compile", t);
    let t = Instant::now();
    let report = check::check(&repo, Some(&bundle), &CheckOptions { changes, jobs, author });
    phase("check", t);
    let t = Instant::now();
    let rendered = report::render(&report, Format::Json, false);
    phase("render", t);
    std::hint::black_box(rendered);
    assert_eq!(report.summary.fatal, 0, "{:?}", report.findings.first());
    start.elapsed()
}

fn yaml_files(root: &Path) -> Vec<String> {
    let mut files = vec!["tollgate.yaml".to_owned()];
    for dir in ["environments", "models", "datasets", "releases"] {
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .expect("read_dir")
            .map(|e| format!("{dir}/{}", e.expect("entry").file_name().to_string_lossy()))
            .collect();
        names.sort();
        files.extend(names);
    }
    files
}

/// The floor: read, parse with the same YAML parser, evaluate the same policies with a
/// pre-compiled engine, nothing else.
fn floor(root: &Path, files: &[String]) -> Duration {
    let mut engine = regorus::Engine::new();
    for i in 0..POLICY_COUNT {
        let path = format!("policies/p{i:02}.rego");
        let text = std::fs::read_to_string(root.join(&path)).expect("policy");
        engine.add_policy(path, text).expect("compile");
    }
    let start = Instant::now();
    let limits = Limits::default();
    let mut results = 0usize;
    for file in files {
        let bytes = std::fs::read(root.join(file)).expect("read");
        for doc in parse_documents(&bytes, &limits).expect("parse") {
            let kind = doc.value.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_lowercase();
            engine.set_input(regorus::Value::from(doc.value));
            for rule in ["deny", "warn"] {
                if let Ok(v) = engine.eval_rule(format!("data.tollgate.{kind}.{rule}"))
                    && let Ok(set) = v.as_set()
                {
                    results += set.len();
                }
            }
        }
    }
    let elapsed = start.elapsed();
    std::hint::black_box(results);
    elapsed
}
