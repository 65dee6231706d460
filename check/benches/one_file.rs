//! `tollgate check` on many documents or findings in one file, against the same work spread
//! over many files (issue #12: locating each finding parsed its whole file again, so time grew
//! with the square of the documents or findings in a file: 4,000 documents in one file took
//! 116 s, the same in separate files under 1 s).
//!
//! Run with `cargo bench -p tollgate-check --bench one_file` (`TOLLGATE_BENCH_DOCS` sets the
//! count, default 10,000). It generates four Git config repos with the default policy library:
//!
//! - `docs-separate`: that many models, one per file; `docs-one`: the same models in one file;
//! - `plan-separate`: that many Terraform plans of one public bucket ACL each; `plan-one`: one
//!   plan with that many public bucket ACLs.
//!
//! The one file of models is about 4.5 MB, so `spec.limits.maxFileBytes` is raised to 64 MiB.
//! Every model and every ACL gives findings, each located at its file and line. Each repo is
//! checked (load, schemas, references, policies, JSON report) on one thread in a fresh process,
//! three times; the median time and peak resident memory (`VmHWM`) are reported, with the ratio
//! of one file to separate files (target: at most 2x).

#![allow(clippy::print_stdout)] // a benchmark reports on standard output

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tollgate_check::report::{self, Format};
use tollgate_check::{self as check, CheckOptions};
use tollgate_test_support::peak::peak_kib;

const MODES: [&str; 4] = ["docs-separate", "docs-one", "plan-separate", "plan-one"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        let (elapsed, findings) = full_check(Path::new(&args[i + 1]));
        println!("{} {} {findings}", elapsed.as_nanos(), peak_kib());
        return;
    }
    let count: usize = std::env::var("TOLLGATE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut results = Vec::new();
    for mode in MODES {
        let root = dir.path().join(mode);
        generate(&root, mode, count);
        results.push(measure(&root));
    }
    println!("{count} documents or plan findings, default policy library, 1 thread");
    println!();
    println!("| measurement | time (ms) | findings | ratio | peak RSS (MiB) |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (i, (mode, (time, rss, findings))) in MODES.iter().zip(&results).enumerate() {
        let ratio = if i % 2 == 1 { format!("{:.2} x separate", ms(*time) / ms(results[i - 1].0)) } else { "1.00".to_owned() };
        println!("| {mode} | {:.0} | {findings} | {ratio} | {rss:.1} |", ms(*time));
    }
}

/// Writes one of the four repos and commits it.
fn generate(root: &Path, mode: &str, count: usize) {
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    let api = "apiVersion: tollgate.dev/v1alpha1";
    write(
        "tollgate.yaml",
        &format!(
            "{api}\nkind: Config\nmetadata: {{name: bench}}\nspec:\n  environments: [dev]\n  plans: [\"infra/**/plan.json\"]\n  policies:\n    defaultLibrary: true\n  limits:\n    maxFileBytes: 67108864\n"
        ),
    );
    write("environments/dev.yaml", &format!("{api}\nkind: Environment\nmetadata: {{name: dev}}\nspec: {{}}\n"));
    write("artifacts/model.pt", "weights");
    let digest = "3f".repeat(32);
    // A model card without an intended use or limitations: the default library flags both.
    let model = |i: usize| {
        format!(
            "{api}\nkind: Model\nmetadata:\n  name: m{i:05}\nspec:\n  task: binaryClassification\n  owner: team-{}\n  card:\n    trainingData: {{description: census extract}}\n  signature:\n    inputs:\n      - {{name: age, type: integer}}\n    output: {{kind: probability}}\n  versions:\n    - version: \"1\"\n      artifact: {{uri: artifacts/model.pt, sha256: {digest}, format: torchscript}}\n",
            i % 13
        )
    };
    let acl = |i: usize| {
        format!(
            "{{\"address\": \"aws_s3_bucket_acl.b{i}\", \"mode\": \"managed\", \"type\": \"aws_s3_bucket_acl\", \"name\": \"b{i}\", \"provider_name\": \"registry.terraform.io/hashicorp/aws\", \"change\": {{\"actions\": [\"create\"], \"before\": null, \"after\": {{\"bucket\": \"artifacts-{i}\", \"acl\": \"public-read\"}}, \"after_unknown\": {{\"id\": true}}}}}}"
        )
    };
    let plan = |resources: &str| {
        format!("{{\n\"format_version\": \"1.2\",\n\"terraform_version\": \"1.9.0\",\n\"resource_changes\": [\n{resources}\n]\n}}\n")
    };
    match mode {
        "docs-separate" => (0..count).for_each(|i| write(&format!("models/m{i:05}.yaml"), &model(i))),
        "docs-one" => write("models/all.yaml", &(0..count).map(model).collect::<Vec<_>>().join("---\n")),
        "plan-separate" => (0..count).for_each(|i| write(&format!("infra/p{i:05}/plan.json"), &plan(&acl(i)))),
        "plan-one" => {
            let mut resources = String::new();
            for i in 0..count {
                let _ = write!(resources, "{}{}", if i == 0 { "" } else { ",\n" }, acl(i));
            }
            write("infra/all/plan.json", &plan(&resources));
        }
        other => panic!("unknown mode {other}"),
    }
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "generated"]);
}

fn git(root: &Path, args: &[&str]) {
    let status = Command::new("git").args(args).current_dir(root).status().expect("git");
    assert!(status.success(), "git {args:?}");
}

/// Checks one repo three times in fresh processes: median time, largest peak RSS (MiB), and
/// the number of findings.
fn measure(root: &Path) -> (Duration, f64, usize) {
    let exe = std::env::current_exe().expect("current exe");
    let mut times = Vec::new();
    let mut peak: f64 = 0.0;
    let mut findings = 0;
    for _ in 0..3 {
        let out = Command::new(&exe).arg("--measure").arg(root).output().expect("run");
        assert!(out.status.success(), "{}: {}", root.display(), String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.split_whitespace();
        times.push(Duration::from_nanos(parts.next().and_then(|p| p.parse().ok()).expect("nanos")));
        peak = peak.max(parts.next().and_then(|p| p.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0);
        findings = parts.next().and_then(|p| p.parse().ok()).expect("findings");
    }
    times.sort();
    (times[1], peak, findings)
}

/// Everything `tollgate check --format json --jobs 1` does after parsing its arguments; every
/// finding is located.
fn full_check(root: &Path) -> (Duration, usize) {
    let start = Instant::now();
    let (repo, changes) = check::load(root, None, None, 1).expect("load");
    let bundle = check::compile_policies(&repo).expect("policies compile");
    let report = check::check(&repo, Some(&bundle), &CheckOptions { changes, jobs: 1, author: None });
    std::hint::black_box(report::render(&report, Format::Json, false));
    let elapsed = start.elapsed();
    assert_eq!(report.summary.fatal, 0, "{:?}", report.findings.iter().find(|f| f.severity == tollgate_spec::diag::Severity::Fatal));
    assert!(report.findings.iter().all(|f| f.line.is_some()), "a finding without a position");
    (elapsed, report.findings.len())
}
