//! The API's objects as the double writes them: `Status` errors, Jobs' and Pods' status, lists
//! and watch events. Every object goes through its `k8s-openapi` type on the way out, so a field
//! the published description does not have, or a value of the wrong type, cannot reach a client.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// `value` read as `T` and written back: what the published description allows of it.
///
/// # Errors
/// The value does not read as `T` (a bug of the double, reported as a violation).
pub(crate) fn through<T: DeserializeOwned + Serialize>(value: Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(value).map_err(|e| format!("the double wrote an object its type refuses: {e}"))?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

pub(crate) fn job(value: Value) -> Result<Value, String> {
    through::<Job>(value)
}

pub(crate) fn pod(value: Value) -> Result<Value, String> {
    through::<Pod>(value)
}

/// A `meta.v1.Status` failure, as the API server writes it.
pub(crate) fn status(code: u16, reason: &str, message: &str, name: Option<&str>, kind: &str) -> Value {
    let mut details = json!({"group": "batch", "kind": kind});
    if let Some(name) = name {
        details["name"] = json!(name);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    })
}

/// The `Status` a successful delete answers with.
pub(crate) fn deleted(name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": "batch", "kind": "jobs", "uid": uid},
    })
}

pub(crate) fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| jiff::Timestamp::now()).to_string()
}

/// A `WatchEvent`.
pub(crate) fn event(kind: &str, object: &Value) -> Value {
    json!({"type": kind, "object": object})
}

/// A list of `kind` at `revision`.
pub(crate) fn list(api_version: &str, kind: &str, revision: u64, items: Vec<Value>) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": revision.to_string()}, "items": items})
}

/// The Job's status while its pod runs.
pub(crate) fn job_active(job: &mut Value) {
    job["status"] = json!({"active": 1, "ready": 0, "startTime": now()});
}

/// The Job's status after its pod ended: `Complete` on success, `Failed` (the backoff limit
/// reached, as with `backoffLimit: 0`) otherwise.
pub(crate) fn job_finished(job: &mut Value, succeeded: bool) {
    let start = job.pointer("/status/startTime").cloned().unwrap_or_else(|| json!(now()));
    let at = now();
    job["status"] = if succeeded {
        json!({
            "startTime": start,
            "completionTime": at,
            "succeeded": 1,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": at, "lastTransitionTime": at},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": at, "lastTransitionTime": at},
            ],
        })
    } else {
        json!({
            "startTime": start,
            "failed": 1,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": at, "lastTransitionTime": at},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": at, "lastTransitionTime": at},
            ],
        })
    };
}

/// The pod the Job controller makes from the Job's template.
pub(crate) fn pod_of(job: &Value, namespace: &str, name: &str, uid: &str, revision: u64) -> Value {
    let job_name = job.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let job_uid = job.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
    let mut labels = job.pointer("/spec/template/metadata/labels").cloned().unwrap_or_else(|| json!({}));
    for (k, v) in [
        ("batch.kubernetes.io/job-name", job_name),
        ("job-name", job_name),
        ("batch.kubernetes.io/controller-uid", job_uid),
        ("controller-uid", job_uid),
    ] {
        labels[k] = json!(v);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": revision.to_string(),
            "creationTimestamp": now(),
            "labels": labels,
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": job_uid, "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": job.pointer("/spec/template/spec").cloned().unwrap_or_else(|| json!({})),
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    })
}

/// The pod's status: running, ended with an exit code, or evicted by the kubelet.
pub(crate) fn pod_running(pod: &mut Value) {
    let container = first_container(pod);
    pod["status"] = json!({
        "phase": "Running",
        "startTime": now(),
        "containerStatuses": [{"name": container, "ready": true, "restartCount": 0, "image": "", "imageID": "", "started": true, "state": {"running": {"startedAt": now()}}}],
    });
}

pub(crate) fn pod_exited(pod: &mut Value, code: i32) {
    let container = first_container(pod);
    let reason = if code == 0 { "Completed" } else { "Error" };
    pod["status"] = json!({
        "phase": if code == 0 { "Succeeded" } else { "Failed" },
        "startTime": pod.pointer("/status/startTime").cloned().unwrap_or_else(|| json!(now())),
        "containerStatuses": [{"name": container, "ready": false, "restartCount": 0, "image": "", "imageID": "", "started": false,
            "state": {"terminated": {"exitCode": code, "reason": reason, "finishedAt": now()}}}],
    });
}

pub(crate) fn pod_evicted(pod: &mut Value) {
    let at = now();
    pod["status"] = json!({
        "phase": "Failed",
        "reason": "Evicted",
        "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51Mi. ",
        "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "message": "The node was low on resource: memory.", "lastTransitionTime": at}],
    });
}

fn first_container(pod: &Value) -> String {
    pod.pointer("/spec/containers/0/name").and_then(Value::as_str).unwrap_or_default().to_owned()
}
