//! Gates run as Kubernetes Jobs (`gates.runner: kubernetes`): the controller's side
//! (`gating::job`) through kube's real client against the Kubernetes double, which runs the
//! Job's container with this build's `tollgate` binary (`tollgate gate run-job`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tollgate_audit::checkpoint::Signer;
use tollgate_controller::gating::job::{JobGates, JobInputs, run_release_gates_as_job, sign_result, signed_path};
use tollgate_controller::gating::{GateRunOptions, GatingError, ReleaseGates, run_release_gates};
use tollgate_kube_double::{Fate, KubeDouble};
use tollgate_spec::repo::Source;
use tollgate_spec::{ConfigRepo, LoadOptions};

const IMAGE: &str = "ghcr.io/acme/tollgate:test";

/// A committed copy of the examples, the double, a signing key and a store.
struct Setup {
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
    commit: String,
    double: KubeDouble,
    signer: Signer,
}

impl Setup {
    fn new() -> Setup {
        let (dir, git) = tollgate_test_support::committed_examples();
        let commit = git.head().expect("head").peel_to_commit().expect("commit").id().to_string();
        let state = tempfile::tempdir().expect("tempdir");
        let double = KubeDouble::start().expect("double");
        double.image(IMAGE, env!("CARGO_BIN_EXE_tollgate"));
        let signer = Signer::generate("tollgate-gates-test").expect("key");
        std::fs::write(state.path().join("gates.key"), signer.to_text()).expect("write key");
        Setup { dir, state, commit, double, signer }
    }

    fn repo(&self) -> ConfigRepo {
        let source = Source::commit(self.dir.path(), &self.commit).expect("source");
        tollgate_spec::load(&source, &LoadOptions::default()).expect("load")
    }

    fn store(&self) -> PathBuf {
        self.state.path().join("store")
    }

    fn options(&self, store: &Path) -> GateRunOptions {
        GateRunOptions {
            device: tollgate_gates::runner::Device::Cpu,
            cache_dir: Some(store.to_owned()),
            progress: false,
            root: Some(self.dir.path().to_owned()),
        }
    }

    fn job(&self, timeout: Duration) -> JobGates {
        JobGates {
            cluster: tollgate_jobs::Cluster::at(self.double.url()).expect("cluster"),
            trusted: vec![self.signer.verifier()],
            key_file: self.state.path().join("gates.key"),
            program: "tollgate".to_owned(),
            limits: tollgate_jobs::Limits { timeout, max_evictions: 2, log_lines: 5, watch_seconds: 10 },
        }
    }

    fn pod() -> tollgate_jobs::PodSettings {
        tollgate_jobs::PodSettings::from_config(Some(&json!({
            "namespace": "tollgate",
            "image": IMAGE,
            "nodeSelector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "resources": {"limits": {"nvidia.com/gpu": "1"}},
        })))
        .expect("pod settings")
    }

    fn as_job(&self, release: &str, timeout: Duration) -> Result<ReleaseGates, GatingError> {
        let inputs = JobInputs { repo: self.dir.path(), commit: &self.commit };
        run_release_gates_as_job(&self.repo(), release, &self.options(&self.store()), &self.job(timeout), Setup::pod(), inputs)
    }
}

fn minute() -> Duration {
    Duration::from_secs(60)
}

#[test]
fn a_release_s_gates_run_as_a_job_give_the_in_process_result_and_digest() {
    let s = Setup::new();
    let in_process = run_release_gates(&s.repo(), "churn-v3", &s.options(&s.state.path().join("in-process"))).expect("in process");
    let as_job = s.as_job("churn-v3", minute()).expect("as a job");
    assert_eq!(as_job, in_process, "the same results, digest included");
    assert!(!as_job.cache_hit);
    assert_eq!(s.double.created().len(), 1);
    assert!(s.double.jobs().is_empty(), "the job is deleted when done");
    assert_eq!(s.double.violations(), Vec::<String>::new());
    // The Job was built from the pod settings.
    let create = s.double.requests().into_iter().filter(|r| r.method == "POST").count();
    assert_eq!(create, 1);

    // The next run reads the signed result from the store: no second Job.
    let again = s.as_job("churn-v3", minute()).expect("from the store");
    assert!(again.cache_hit);
    assert_eq!(again.digest, in_process.digest);
    assert_eq!(s.double.created().len(), 1);
}

#[test]
fn a_failing_job_fails_the_gate_run_with_its_log_tail() {
    let s = Setup::new();
    // The evaluation data no longer matches its pinned digest: the Job's gate run fails.
    let data = s.dir.path().join("data/churn-eval.csv");
    let text = std::fs::read_to_string(&data).expect("read");
    std::fs::write(&data, text.replacen('1', "0", 1)).expect("write");
    let err = s.as_job("churn-v3", minute()).unwrap_err();
    let chain = tollgate_error::chain(&err);
    assert!(matches!(err, GatingError::Job(_)), "{chain}");
    assert!(chain.contains("failed (BackoffLimitExceeded: Job has reached the specified backoff limit)"), "{chain}");
    assert!(chain.contains("sha256"), "the log tail names the digest mismatch: {chain}");
    assert!(chain.contains("error: "), "{chain}");
    assert_eq!(s.double.created().len(), 1, "not retried");
    assert!(!signed_path(&s.store(), &key_of(&s)).exists(), "nothing written");
}

#[test]
fn an_evicted_job_is_created_again_and_its_result_used() {
    let s = Setup::new();
    s.double.next_pod(Fate::Evict);
    let g = s.as_job("churn-v3", minute()).expect("after one eviction");
    assert!(g.passed());
    assert_eq!(s.double.created().len(), 2);
}

#[test]
fn a_restarted_controller_adopts_the_running_job_and_reads_its_one_result() {
    let s = Setup::new();
    s.double.next_pod(Fate::Hold);
    let err = s.as_job("churn-v3", Duration::from_millis(700)).unwrap_err();
    assert!(tollgate_error::chain(&err).contains("did not finish within"), "{}", tollgate_error::chain(&err));
    assert!(s.double.wait_held(Duration::from_secs(5)));
    assert_eq!(s.double.jobs().len(), 1, "the first controller's job still runs");

    std::thread::scope(|scope| {
        let restarted = scope.spawn(|| s.as_job("churn-v3", minute()));
        std::thread::sleep(Duration::from_millis(300));
        s.double.release();
        let g = restarted.join().expect("thread").expect("adopted job's result");
        assert!(g.passed());
        assert!(!g.cache_hit);
    });
    assert_eq!(s.double.created().len(), 1, "one Job in total");
    let notes = std::fs::read_dir(s.store().join("signed")).expect("signed").count();
    assert_eq!(notes, 1, "one result");
}

fn key_of(s: &Setup) -> tollgate_gates::spec::CacheKey {
    tollgate_controller::gating::job::run_key(&s.repo(), "churn-v3", &s.options(&s.store())).expect("key")
}

#[test]
fn a_forged_or_unsigned_result_in_the_store_is_refused() {
    let s = Setup::new();
    let key = key_of(&s);
    let path = signed_path(&s.store(), &key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut honest = run_release_gates(&s.repo(), "churn-v3", &s.options(&s.state.path().join("x"))).expect("in process");
    honest.cache_hit = false;

    // Signed by a key of the same name that the controller does not trust.
    let mallory = Signer::generate("tollgate-gates-test").expect("key");
    std::fs::write(&path, sign_result(&honest, &key, &mallory).expect("sign")).expect("write");
    let err = s.as_job("churn-v3", minute()).unwrap_err();
    let chain = tollgate_error::chain(&err);
    assert!(chain.starts_with(&format!("the gate result `{}` is refused: the signature does not verify", path.display())), "{chain}");

    // Unsigned: the result alone.
    std::fs::write(&path, serde_json::to_string(&honest).expect("json")).expect("write");
    assert!(matches!(s.as_job("churn-v3", minute()), Err(GatingError::Unverified { .. })));

    // Signed by the trusted key, then changed: a failing result passed off as passing.
    let note = sign_result(&honest, &key, &s.signer).expect("sign");
    std::fs::write(&path, note.replace("\"passed\":true", "\"passed\":false")).expect("write");
    assert!(matches!(s.as_job("churn-v3", minute()), Err(GatingError::Unverified { .. })));

    // Signed by the trusted key, but for another run.
    let other = tollgate_gates::spec::CacheKey { gate_spec: key.model, ..key };
    std::fs::write(&path, sign_result(&honest, &other, &s.signer).expect("sign")).expect("write");
    let err = s.as_job("churn-v3", minute()).unwrap_err();
    assert!(tollgate_error::chain(&err).ends_with("the result is for another run (its key differs)"), "{}", tollgate_error::chain(&err));

    assert!(s.double.created().is_empty(), "a refused result is never replaced by running a Job");
}

/// `tollgate reconcile --once` on two copies of the examples, one running gates in process, the
/// other with `gates.runner: kubernetes` on the double: the gate-result records of `churn-v3`
/// (digest, categories, failures, results) are the same, and a second pass records nothing new
/// and creates no Job.
#[test]
fn reconcile_records_the_same_gate_result_whether_gates_run_in_process_or_as_a_job() {
    let double = KubeDouble::start().expect("double");
    double.image(IMAGE, env!("CARGO_BIN_EXE_tollgate"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let signer = Signer::generate("tollgate-gates-test").expect("key");
    let key_file = tmp.path().join("gates.key");
    std::fs::write(&key_file, signer.to_text()).expect("key");
    let trusted = signer.verifier().to_text();

    let pass = |name: &str, kubernetes: bool| -> Vec<serde_json::Value> {
        let dir = tmp.path().join(name);
        tollgate_test_support::commit_examples(&dir, |d| {
            if kubernetes {
                tollgate_test_support::edit(
                    d,
                    "tollgate.yaml",
                    "spec:\n",
                    &format!("spec:\n  gates:\n    runner: kubernetes\n    kubernetes: {{namespace: tollgate, image: \"{IMAGE}\"}}\n"),
                );
            }
        });
        let db = format!("sqlite://{}", tmp.path().join(format!("{name}.db")).display());
        let cache = tmp.path().join(format!("{name}-cache"));
        let mut args: Vec<&str> =
            vec!["reconcile", "--once", "--repo", dir.to_str().expect("utf-8"), "--db", db.as_str(), "--device", "cpu"];
        let cache_arg = cache.to_string_lossy().into_owned();
        args.extend(["--gate-cache", cache_arg.as_str()]);
        let cluster_args =
            ["--gates-cluster", double.url(), "--gates-trusted-key", &trusted, "--gates-job-key-file", key_file.to_str().expect("utf-8")];
        if kubernetes {
            args.extend(cluster_args);
        }
        for _ in 0..2 {
            let out = crate::support::tollgate(&args);
            assert!(matches!(out.status.code(), Some(0 | 1)), "{}", crate::support::stderr(&out));
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let store = tollgate_store::Store::open(&db).await.expect("store");
            let records = store.records_for(tollgate_store::RecordKind::GateResult, "release/churn-v3").await.expect("records");
            records.into_iter().map(|r| r.doc).collect()
        })
    };
    let in_process = pass("in-process", false);
    let as_job = pass("as-job", true);
    assert_eq!(in_process.len(), 1, "recorded once over two passes");
    assert_eq!(as_job, in_process, "the same record, digest and results");
    // The second pass read churn-v3's signed result: its Job was created once.
    let dir = tmp.path().join("as-job");
    let repo = tollgate_spec::load(&Source::commit(&dir, "HEAD").expect("source"), &LoadOptions::default()).expect("load");
    let opts = GateRunOptions { device: tollgate_gates::runner::Device::Cpu, cache_dir: None, progress: false, root: Some(dir.clone()) };
    let key = tollgate_controller::gating::job::run_key(&repo, "churn-v3", &opts).expect("key");
    let name = tollgate_jobs::job_name(&tollgate_controller::gating::job::run_digest(&key));
    assert_eq!(double.created().iter().filter(|n| **n == name).count(), 1, "{:?}", double.created());
    assert_eq!(double.violations(), Vec::<String>::new());
}
