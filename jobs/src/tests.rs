//! The runner against the Kubernetes double, through kube's real client. The double runs a
//! Job's command with `/bin/sh` standing in for the `busybox` image.

use std::time::Duration;

use serde_json::json;
use tollgate_kube_double::{Fate, KubeDouble};

use crate::{JobError, JobRunner, Limits, PodSettings, Run, build_job, job_name};

const DIGEST: &str = "3f2a9c0d4e5b6a7980112233445566778899aabbccddeeff0011223344556677";

fn double() -> KubeDouble {
    let d = KubeDouble::start().expect("start the double");
    d.image("busybox:1.36", "/bin/sh");
    d
}

fn settings() -> PodSettings {
    PodSettings::from_config(Some(&json!({
        "namespace": "gates",
        "image": "busybox:1.36",
        "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "16Gi"}},
    })))
    .expect("settings")
}

fn runner(d: &KubeDouble, limits: Limits) -> JobRunner {
    JobRunner::new(crate::Cluster::at(d.url()).expect("url"), settings(), limits)
}

fn quick() -> Limits {
    Limits { timeout: Duration::from_secs(30), max_evictions: 2, log_lines: 3, watch_seconds: 5 }
}

fn sh(script: &str) -> Run {
    Run {
        digest: DIGEST.to_owned(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        env: vec![("GREETING".into(), "hello".into())],
    }
}

#[test]
fn a_job_that_completes_is_created_once_watched_and_deleted() {
    let d = double();
    let done = runner(&d, quick()).run_blocking(&sh("test \"$GREETING\" = hello")).expect("completes");
    let name = job_name(DIGEST);
    assert_eq!(done, crate::Completed { job: name.clone(), created: 1, evictions: 0 });
    assert_eq!(d.created(), vec![name]);
    assert!(d.jobs().is_empty(), "the job is deleted when done");
    assert!(d.pods().is_empty(), "its pods go with it (propagationPolicy Background)");
    assert_eq!(d.violations(), Vec::<String>::new());
    let delete = d.requests().into_iter().find(|r| r.method == "DELETE").expect("a delete");
    assert_eq!(delete.path, format!("/apis/batch/v1/namespaces/gates/jobs/{}", job_name(DIGEST)));
}

#[test]
fn a_failed_job_is_reported_with_its_reason_and_log_tail_and_not_retried() {
    let d = double();
    let err = runner(&d, quick())
        .run_blocking(&sh("echo one; echo two; echo three; echo 'error: dataset digest mismatch' >&2; exit 2"))
        .unwrap_err();
    let JobError::Failed { job, pod, reason, log_tail } = &err else { panic!("want Failed, got {err:?}") };
    assert_eq!(job, &job_name(DIGEST));
    assert!(pod.starts_with(job.as_str()), "{pod}");
    assert_eq!(reason, "BackoffLimitExceeded: Job has reached the specified backoff limit");
    assert_eq!(log_tail, "two\nthree\nerror: dataset digest mismatch", "the last 3 lines");
    assert_eq!(d.created().len(), 1, "a failure is not retried");
    assert!(d.jobs().is_empty());
    assert_eq!(d.violations(), Vec::<String>::new());
}

#[test]
fn an_evicted_pod_gets_a_new_job_and_the_run_completes() {
    let d = double();
    d.next_pod(Fate::Evict);
    let done = runner(&d, quick()).run_blocking(&sh("exit 0")).expect("completes after one eviction");
    assert_eq!(done.created, 2);
    assert_eq!(done.evictions, 1);
    assert_eq!(d.created(), vec![job_name(DIGEST), job_name(DIGEST)], "the same name, one at a time");
    assert!(d.jobs().is_empty());
}

#[test]
fn evictions_past_the_limit_fail_the_run_saying_so() {
    let d = double();
    for _ in 0..3 {
        d.next_pod(Fate::Evict);
    }
    let err = runner(&d, quick()).run_blocking(&sh("exit 0")).unwrap_err();
    let JobError::Evicted { evictions, message, .. } = &err else { panic!("want Evicted, got {err:?}") };
    assert_eq!(*evictions, 3);
    assert!(message.starts_with("The node was low on resource: memory."), "{message}");
    assert_eq!(d.created().len(), 3, "two retries, then no more");
    assert!(d.jobs().is_empty());
}

#[test]
fn a_restarted_controller_adopts_the_running_job_instead_of_creating_another() {
    let d = double();
    d.next_pod(Fate::Hold);
    // The first controller creates the Job and goes away while it runs (its run times out; a
    // crash leaves the same state: the Job, running, and no one watching).
    let first = runner(&d, Limits { timeout: Duration::from_millis(500), ..quick() });
    let run = sh("exit 0");
    let err = first.run_blocking(&run).unwrap_err();
    assert!(matches!(err, JobError::Timeout { .. }), "{err:?}");
    assert!(d.wait_held(Duration::from_secs(5)));
    assert_eq!(d.jobs(), vec![job_name(DIGEST)], "the job is left running");

    let second = runner(&d, quick());
    let waiting = std::thread::spawn(move || second.run_blocking(&run));
    std::thread::sleep(Duration::from_millis(200));
    d.release();
    let done = waiting.join().expect("thread").expect("completes");
    assert_eq!(done.created, 0, "adopted, not created");
    assert_eq!(d.created(), vec![job_name(DIGEST)], "one Job in total");
    assert!(d.jobs().is_empty());
}

#[test]
fn a_job_deleted_by_someone_else_is_reported() {
    let d = double();
    d.next_pod(Fate::Hold);
    let r = runner(&d, quick());
    let run = sh("exit 0");
    let waiting = std::thread::spawn(move || r.run_blocking(&run));
    assert!(d.wait_held(Duration::from_secs(5)));
    let client = reqwest_free_delete(d.url(), "gates", &job_name(DIGEST));
    assert!(client.contains("\"Success\""), "{client}");
    let err = waiting.join().expect("thread").unwrap_err();
    assert!(matches!(err, JobError::Vanished { .. }), "{err:?}");
}

/// A plain HTTP DELETE, as `kubectl delete job` would send it.
fn reqwest_free_delete(url: &str, namespace: &str, name: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let body = r#"{"propagationPolicy":"Background"}"#;
    write!(
        s,
        "DELETE /apis/batch/v1/namespaces/{namespace}/jobs/{name} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn the_job_carries_the_pod_settings_and_a_name_from_the_digest() {
    let s = settings();
    let job = serde_json::to_value(build_job(&s, &sh("true"))).expect("json");
    let name = "tollgate-gates-3f2a9c0d4e5b6a7980112233445566778899aabb";
    assert_eq!(job["metadata"]["name"], name);
    assert!(name.len() <= 63);
    assert_eq!(job["metadata"]["namespace"], "gates");
    assert_eq!(job["spec"]["backoffLimit"], 0);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["nodeSelector"], json!({"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}));
    assert_eq!(pod["tolerations"], json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]));
    assert_eq!(pod["containers"][0]["resources"], json!({"limits": {"nvidia.com/gpu": "1", "memory": "16Gi"}}));
    assert_eq!(pod["containers"][0]["image"], "busybox:1.36");
    assert_eq!(pod["containers"][0]["env"], json!([{"name": "GREETING", "value": "hello"}]));
    assert_eq!(job["spec"]["template"]["metadata"]["labels"]["tollgate.dev/gate-run"], "3f2a9c0d4e5b6a7980112233445566778899aabb");
}

#[test]
fn settings_refuse_what_is_not_kubernetes_shaped() {
    let err = PodSettings::from_config(Some(&json!({"image": "x", "tolerations": "gpu"}))).unwrap_err();
    assert!(err.to_string().starts_with("`gates.kubernetes` is not valid: invalid type: string \"gpu\""), "{err}");
    let err = PodSettings::from_config(Some(&json!({"image": "x", "nodeSelectors": {}}))).unwrap_err();
    assert!(err.to_string().contains("unknown field `nodeSelectors`"), "{err}");
    let err = PodSettings::from_config(Some(&json!({"namespace": "gates"}))).unwrap_err();
    assert_eq!(err.to_string(), "`gates.kubernetes.image` is empty");
    assert_eq!(PodSettings::from_config(Some(&json!({"image": "x"}))).expect("defaults").namespace, "tollgate");
}
