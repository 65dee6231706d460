//! The overhead of running a release's gates as a Kubernetes Job against running them in
//! process, in one run: `cargo bench --bench jobs` (or `benches/jobs.sh`).
//!
//! Both compute `churn-v3`'s gates from a committed copy of `examples/` without a cache. The Job
//! side goes through kube's client to the Kubernetes double, which runs this build's `tollgate`
//! binary as the Job's container (`tollgate gate run-job`: load the repo from the commit,
//! compute, sign, write to the store); the controller then verifies and reads the signed result,
//! and deletes the Job. What a real cluster adds (scheduling, image pull, pod start) is not
//! measured. Prints the median and mean of each, and the overhead.

#![allow(clippy::print_stdout)] // a benchmark reports on standard output

use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_audit::checkpoint::Signer;
use tollgate_controller::gating::job::{JobGates, JobInputs, run_release_gates_as_job};
use tollgate_controller::gating::{GateRunOptions, run_release_gates};
use tollgate_spec::LoadOptions;
use tollgate_spec::repo::Source;

const IMAGE: &str = "ghcr.io/acme/tollgate:bench";

fn main() {
    let rounds: usize = std::env::var("TOLLGATE_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let (dir, git) = tollgate_test_support::committed_examples();
    let commit = git.head().expect("head").peel_to_commit().expect("commit").id().to_string();
    let repo = tollgate_spec::load(&Source::commit(dir.path(), &commit).expect("source"), &LoadOptions::default()).expect("load");
    let state = tempfile::tempdir().expect("tempdir");
    let signer = Signer::generate("tollgate-gates-bench").expect("key");
    let key_file = state.path().join("gates.key");
    std::fs::write(&key_file, signer.to_text()).expect("key file");
    let double = tollgate_kube_double::KubeDouble::start().expect("double");
    double.image(IMAGE, env!("CARGO_BIN_EXE_tollgate"));
    let job = JobGates {
        cluster: tollgate_jobs::Cluster::at(double.url()).expect("cluster"),
        trusted: vec![signer.verifier()],
        key_file,
        program: "tollgate".to_owned(),
        limits: tollgate_jobs::Limits { timeout: Duration::from_secs(120), ..tollgate_jobs::Limits::default() },
    };
    let pod = tollgate_jobs::PodSettings::from_config(Some(&json!({"image": IMAGE}))).expect("pod");
    let options = |store: Option<std::path::PathBuf>| GateRunOptions {
        device: tollgate_gates::runner::Device::Cpu,
        cache_dir: store,
        progress: false,
        root: Some(dir.path().to_owned()),
    };

    let mut in_process = Vec::new();
    let mut as_job = Vec::new();
    for round in 0..=rounds {
        let t = Instant::now();
        let a = run_release_gates(&repo, "churn-v3", &options(None)).expect("in process");
        let d_in = t.elapsed();
        // A fresh store each round, so that the Job runs (a stored result would be read instead).
        let store = state.path().join(format!("store-{round}"));
        let inputs = JobInputs { repo: dir.path(), commit: &commit };
        let t = Instant::now();
        let b = run_release_gates_as_job(&repo, "churn-v3", &options(Some(store)), &job, pod.clone(), inputs).expect("as a job");
        let d_job = t.elapsed();
        assert_eq!(a.digest, b.digest, "the same digest either way");
        // Round 0 warms the page cache and the double's connection; it is not counted.
        if round > 0 {
            in_process.push(d_in);
            as_job.push(d_job);
        }
    }
    assert_eq!(double.created().len(), rounds + 1);
    let (mi, ai) = summary(&mut in_process);
    let (mj, aj) = summary(&mut as_job);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("gates of churn-v3, {rounds} rounds each, the same run:");
    println!("  in process          median {:8.2} ms   mean {:8.2} ms", ms(mi), ms(ai));
    println!("  as a Job (double)   median {:8.2} ms   mean {:8.2} ms", ms(mj), ms(aj));
    println!("  overhead of the Job median {:8.2} ms   mean {:8.2} ms", ms(mj.saturating_sub(mi)), ms(aj.saturating_sub(ai)));
}

fn summary(v: &mut [Duration]) -> (Duration, Duration) {
    v.sort();
    let median = v[v.len() / 2];
    let mean = v.iter().sum::<Duration>() / v.len().max(1) as u32;
    (median, mean)
}
