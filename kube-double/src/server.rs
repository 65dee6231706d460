//! The HTTP side: the accept loop, routing, the Job and Pod handlers, watch streams, and the
//! "kubelet" that runs a pod's command.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::objects::{self, status};
use crate::{Fate, Pod, Recorded, State, lock};

type Body = BoxBody<Bytes, Infallible>;

/// What the server's tasks share: the state, the feed of Job events for watches, and the
/// runtime that runs pods.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Arc<Mutex<State>>,
    events: tokio::sync::broadcast::Sender<(String, u64, Value)>,
    runtime: OnceLock<tokio::runtime::Handle>,
}

impl Shared {
    pub(crate) fn new(state: Arc<Mutex<State>>) -> Shared {
        let (events, _) = tokio::sync::broadcast::channel(1024);
        Shared { state, events, runtime: OnceLock::new() }
    }

    /// Bumps the revision, stamps `job` with it, stores it and tells watchers.
    fn put_job(&self, st: &mut State, namespace: &str, kind: &str, mut job: Value) {
        st.revision += 1;
        let rv = st.revision;
        job["metadata"]["resourceVersion"] = json!(rv.to_string());
        let job = match objects::job(job) {
            Ok(j) => j,
            Err(e) => {
                st.violations.push(e);
                return;
            }
        };
        let name = job.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
        let event = objects::event(kind, &job);
        if kind == "DELETED" {
            st.jobs.remove(&(namespace.to_owned(), name));
        } else {
            st.jobs.insert((namespace.to_owned(), name), job);
        }
        st.history.push((namespace.to_owned(), rv, event.clone()));
        let _ = self.events.send((namespace.to_owned(), rv, event));
    }

    fn put_pod(st: &mut State, namespace: &str, name: &str, mut pod: Value, log: Option<String>) {
        st.revision += 1;
        pod["metadata"]["resourceVersion"] = json!(st.revision.to_string());
        let pod = match objects::pod(pod) {
            Ok(p) => p,
            Err(e) => {
                st.violations.push(e);
                return;
            }
        };
        let key = (namespace.to_owned(), name.to_owned());
        let log = log.or_else(|| st.pods.get(&key).map(|p| p.log.clone())).unwrap_or_default();
        st.pods.insert(key, Pod { object: pod, log });
    }

    /// Starts the Job's one pod with the next fate.
    fn start_pod(self: &Arc<Self>, st: &mut State, namespace: &str, job: &Value) {
        st.pod_counter += 1;
        let job_name = job.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let pod_name = format!("{job_name}-{:05x}", st.pod_counter & 0xfffff);
        let uid = format!("00000000-0000-4000-8000-{:012x}", st.pod_counter);
        let fate = st.fates.pop_front().unwrap_or(Fate::Run);
        let mut pod = objects::pod_of(job, namespace, &pod_name, &uid, 0);
        objects::pod_running(&mut pod);
        Shared::put_pod(st, namespace, &pod_name, pod.clone(), Some(String::new()));
        let mut job = job.clone();
        objects::job_active(&mut job);
        self.put_job(st, namespace, "MODIFIED", job);
        match fate {
            Fate::Run => self.spawn_command(namespace, &pod_name),
            Fate::Hold => st.held.push((namespace.to_owned(), pod_name)),
            Fate::Evict => {
                objects::pod_evicted(&mut pod);
                Shared::put_pod(st, namespace, &pod_name, pod, None);
                self.finish_job(st, namespace, job_name, false);
            }
        }
    }

    /// Runs a held pod's command (called by a test, outside the runtime).
    pub(crate) fn start_command(self: &Arc<Self>, namespace: &str, pod: &str) {
        self.spawn_command(namespace, pod);
    }

    fn spawn_command(self: &Arc<Self>, namespace: &str, pod: &str) {
        let Some(handle) = self.runtime.get() else { return };
        let (shared, namespace, pod) = (self.clone(), namespace.to_owned(), pod.to_owned());
        handle.spawn(async move { shared.run_container(&namespace, &pod).await });
    }

    /// The kubelet: runs the pod's first container as a subprocess and records its end.
    async fn run_container(self: Arc<Self>, namespace: &str, pod_name: &str) {
        let key = (namespace.to_owned(), pod_name.to_owned());
        let (program, argv, env, dir) = {
            let st = lock(&self.state);
            let Some(pod) = st.pods.get(&key) else { return };
            let c = pod.object.pointer("/spec/containers/0").cloned().unwrap_or(Value::Null);
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let strings = |v: Option<&Value>| -> Vec<String> {
                v.and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
            };
            let mut argv = strings(c.get("command"));
            argv.extend(strings(c.get("args")));
            let env: Vec<(String, String)> = c
                .get("env")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| {
                            Some((
                                e.get("name")?.as_str()?.to_owned(),
                                e.get("value").and_then(Value::as_str).unwrap_or_default().to_owned(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let dir = c.get("workingDir").and_then(Value::as_str).map(std::path::PathBuf::from);
            (st.images.get(image).cloned(), argv, env, dir)
        };
        let (code, log) = match program {
            None => (127, "exec: the double has no executable for this image\n".to_owned()),
            Some(program) => {
                // argv[0] names the program inside the image; the double runs its stand-in.
                let mut cmd = tokio::process::Command::new(program);
                cmd.args(argv.iter().skip(1)).env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin").envs(env).kill_on_drop(true);
                if let Some(dir) = dir {
                    cmd.current_dir(dir);
                }
                cmd.stdin(std::process::Stdio::null());
                match cmd.output().await {
                    Ok(out) => {
                        let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
                        log.push_str(&String::from_utf8_lossy(&out.stderr));
                        (out.status.code().unwrap_or(137), log)
                    }
                    Err(e) => (128, format!("exec: {e}\n")),
                }
            }
        };
        let mut st = lock(&self.state);
        let Some(pod) = st.pods.get(&key) else { return };
        if pod.object.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
            return;
        }
        let mut object = pod.object.clone();
        objects::pod_exited(&mut object, code);
        Shared::put_pod(&mut st, namespace, pod_name, object.clone(), Some(log));
        let job_name = object.pointer("/metadata/labels/job-name").and_then(Value::as_str).unwrap_or_default().to_owned();
        self.finish_job(&mut st, namespace, &job_name, code == 0);
    }

    fn finish_job(&self, st: &mut State, namespace: &str, job_name: &str, succeeded: bool) {
        let Some(mut job) = st.jobs.get(&(namespace.to_owned(), job_name.to_owned())).cloned() else { return };
        objects::job_finished(&mut job, succeeded);
        self.put_job(st, namespace, "MODIFIED", job);
    }
}

/// Serves `listener` on a thread of its own until the returned sender fires (or is dropped).
pub(crate) fn serve(listener: std::net::TcpListener, shared: Arc<Shared>) -> anyhow::Result<tokio::sync::oneshot::Sender<()>> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("build the double's runtime")?;
    let _ = shared.runtime.set(rt.handle().clone());
    let handle = move |req| handle(shared.clone(), req);
    tollgate_test_support::http::serve_http1(listener, "kube-double", rt, handle).context("start the double's thread")
}

fn json_reply(code: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *r.status_mut() = code;
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    r
}

fn text_reply(body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("text/plain"));
    r
}

fn fail(code: u16, reason: &str, message: &str, name: Option<&str>, kind: &str) -> Response<Body> {
    json_reply(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &status(code, reason, message, name, kind))
}

fn query_map(query: &str) -> std::collections::HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `object` matches `fieldSelector` (`metadata.name=X`, `metadata.namespace=X`) and
/// `labelSelector` (`k=v`, comma-separated).
fn selected(object: &Value, q: &std::collections::HashMap<String, String>) -> bool {
    let fields = q.get("fieldSelector").map(String::as_str).unwrap_or_default();
    let labels = q.get("labelSelector").map(String::as_str).unwrap_or_default();
    let field_ok = fields.split(',').filter(|s| !s.is_empty()).all(|term| match term.split_once('=') {
        Some(("metadata.name", v)) => object.pointer("/metadata/name").and_then(Value::as_str) == Some(v.trim_start_matches('=')),
        Some(("metadata.namespace", v)) => object.pointer("/metadata/namespace").and_then(Value::as_str) == Some(v.trim_start_matches('=')),
        _ => false,
    });
    let label_ok = labels.split(',').filter(|s| !s.is_empty()).all(|term| match term.split_once('=') {
        Some((k, v)) => {
            object.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v.trim_start_matches('='))
        }
        None => object.pointer("/metadata/labels").and_then(|l| l.get(term)).is_some(),
    });
    field_ok && label_ok
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    lock(&shared.state).requests.push(Recorded { method: method.to_string(), path: path.clone(), query: query.clone() });
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(fail(400, "BadRequest", "unreadable body", None, "jobs")),
    };
    let q = query_map(&query);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let reply = match (&method, segments.as_slice()) {
        (&Method::POST, ["apis", "batch", "v1", "namespaces", ns, "jobs"]) => create_job(&shared, ns, &body),
        (&Method::GET, ["apis", "batch", "v1", "namespaces", ns, "jobs"]) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch_jobs(&shared, ns, &q)
        }
        (&Method::GET, ["apis", "batch", "v1", "namespaces", ns, "jobs"]) => {
            let st = lock(&shared.state);
            let items = st.jobs.iter().filter(|((n, _), j)| n == ns && selected(j, &q)).map(|(_, j)| j.clone()).collect();
            json_reply(StatusCode::OK, &objects::list("batch/v1", "JobList", st.revision, items))
        }
        (&Method::GET, ["apis", "batch", "v1", "namespaces", ns, "jobs", name]) => {
            match lock(&shared.state).jobs.get(&((*ns).to_owned(), (*name).to_owned())) {
                Some(j) => json_reply(StatusCode::OK, j),
                None => fail(404, "NotFound", &format!("jobs.batch \"{name}\" not found"), Some(name), "jobs"),
            }
        }
        (&Method::DELETE, ["apis", "batch", "v1", "namespaces", ns, "jobs", name]) => delete_job(&shared, ns, name, &body),
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods"]) => {
            let st = lock(&shared.state);
            let items = st.pods.iter().filter(|((n, _), p)| n == ns && selected(&p.object, &q)).map(|(_, p)| p.object.clone()).collect();
            json_reply(StatusCode::OK, &objects::list("v1", "PodList", st.revision, items))
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods", name, "log"]) => {
            match lock(&shared.state).pods.get(&((*ns).to_owned(), (*name).to_owned())) {
                Some(p) => {
                    let tail = q.get("tailLines").and_then(|t| t.parse::<usize>().ok());
                    let lines: Vec<&str> = p.log.lines().collect();
                    let from = tail.map_or(0, |t| lines.len().saturating_sub(t));
                    let mut out = lines[from..].join("\n");
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    text_reply(out)
                }
                None => {
                    let mut r = fail(404, "NotFound", &format!("pods \"{name}\" not found"), Some(name), "pods");
                    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
                    r
                }
            }
        }
        _ => {
            lock(&shared.state).violations.push(format!("{method} {path}: not a path of the API the double serves"));
            fail(404, "NotFound", "the server could not find the requested resource", None, "")
        }
    };
    Ok(reply)
}

/// A DNS-1123 label (what a Job's name must be, since it becomes a pod label value).
fn dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn invalid(shared: &Shared, name: &str, why: String) -> Response<Body> {
    lock(&shared.state).violations.push(format!("create job `{name}`: {why}"));
    fail(422, "Invalid", &format!("Job.batch \"{name}\" is invalid: {why}"), Some(name), "Job")
}

fn create_job(shared: &Arc<Shared>, namespace: &str, body: &[u8]) -> Response<Body> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return invalid(shared, "", format!("body is not JSON: {e}")),
    };
    let job: k8s_openapi::api::batch::v1::Job = match serde_json::from_value(value.clone()) {
        Ok(j) => j,
        Err(e) => return invalid(shared, "", format!("body is not an io.k8s.api.batch.v1.Job: {e}")),
    };
    if value.get("apiVersion").and_then(Value::as_str) != Some("batch/v1") || value.get("kind").and_then(Value::as_str) != Some("Job") {
        return invalid(shared, "", "apiVersion must be `batch/v1` and kind `Job`".into());
    }
    let name = job.metadata.name.clone().unwrap_or_default();
    if !dns_label(&name) {
        return invalid(shared, &name, "metadata.name: must be a DNS-1123 label of at most 63 characters".into());
    }
    if job.metadata.namespace.as_deref().is_some_and(|n| n != namespace) {
        return invalid(shared, &name, "metadata.namespace: does not match the namespace of the request".into());
    }
    let Some(spec) = &job.spec else { return invalid(shared, &name, "spec: Required value".into()) };
    let Some(pod) = &spec.template.spec else { return invalid(shared, &name, "spec.template.spec: Required value".into()) };
    if pod.containers.is_empty() {
        return invalid(shared, &name, "spec.template.spec.containers: Required value".into());
    }
    if !matches!(pod.restart_policy.as_deref(), Some("Never" | "OnFailure")) {
        return invalid(shared, &name, "spec.template.spec.restartPolicy: Unsupported value: only \"OnFailure\", \"Never\"".into());
    }
    if pod.containers.iter().flat_map(|c| c.env.iter().flatten()).any(|e| e.value_from.is_some()) {
        return invalid(shared, &name, "env valueFrom: the double does not resolve it".into());
    }
    let mut st = lock(&shared.state);
    let key = (namespace.to_owned(), name.clone());
    if st.jobs.contains_key(&key) {
        drop(st);
        return fail(409, "AlreadyExists", &format!("jobs.batch \"{name}\" already exists"), Some(&name), "jobs");
    }
    let mut object = match serde_json::to_value(&job) {
        Ok(v) => v,
        Err(e) => return invalid(shared, &name, e.to_string()),
    };
    st.pod_counter += 1;
    object["metadata"]["namespace"] = json!(namespace);
    object["metadata"]["uid"] = json!(format!("10000000-0000-4000-8000-{:012x}", st.pod_counter));
    object["metadata"]["creationTimestamp"] = json!(objects::now());
    object["metadata"]["generation"] = json!(1);
    object["spec"]["backoffLimit"] = object.pointer("/spec/backoffLimit").cloned().unwrap_or(json!(6));
    object["spec"]["completions"] = object.pointer("/spec/completions").cloned().unwrap_or(json!(1));
    object["spec"]["parallelism"] = object.pointer("/spec/parallelism").cloned().unwrap_or(json!(1));
    object["status"] = json!({});
    shared.put_job(&mut st, namespace, "ADDED", object);
    st.created.push(name.clone());
    let Some(stored) = st.jobs.get(&key).cloned() else {
        return fail(500, "InternalError", "the job was not stored", Some(&name), "jobs");
    };
    shared.start_pod(&mut st, namespace, &stored);
    json_reply(StatusCode::CREATED, &stored)
}

fn delete_job(shared: &Arc<Shared>, namespace: &str, name: &str, body: &[u8]) -> Response<Body> {
    let options: Value = if body.is_empty() { json!({}) } else { serde_json::from_slice(body).unwrap_or(Value::Null) };
    if options.is_null() {
        lock(&shared.state).violations.push(format!("delete job `{name}`: body is not DeleteOptions JSON"));
        return fail(400, "BadRequest", "body is not DeleteOptions", Some(name), "jobs");
    }
    let policy = options.get("propagationPolicy").and_then(Value::as_str).unwrap_or("Orphan").to_owned();
    if !["Orphan", "Background", "Foreground"].contains(&policy.as_str()) {
        lock(&shared.state).violations.push(format!("delete job `{name}`: propagationPolicy `{policy}`"));
        return fail(422, "Invalid", "propagationPolicy: Unsupported value", Some(name), "jobs");
    }
    let mut st = lock(&shared.state);
    let key = (namespace.to_owned(), name.to_owned());
    let Some(job) = st.jobs.get(&key).cloned() else {
        drop(st);
        return fail(404, "NotFound", &format!("jobs.batch \"{name}\" not found"), Some(name), "jobs");
    };
    let uid = job.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_owned();
    if policy != "Orphan" {
        // The garbage collector removes the Job's pods; a running command is stopped with them
        // (its task finds its pod gone and records nothing).
        st.pods.retain(|(ns, _), p| {
            !(ns == namespace && p.object.pointer("/metadata/labels/controller-uid").and_then(Value::as_str) == Some(uid.as_str()))
        });
        st.held.retain(|(ns, p)| !(ns == namespace && p.starts_with(name)));
    }
    shared.put_job(&mut st, namespace, "DELETED", job);
    json_reply(StatusCode::OK, &objects::deleted(name, &uid))
}

/// A watch: the events after `resourceVersion` (every object as `ADDED` for `0` or none), then
/// the live feed, as JSON lines, until `timeoutSeconds` or the client goes.
fn watch_jobs(shared: &Arc<Shared>, namespace: &str, q: &std::collections::HashMap<String, String>) -> Response<Body> {
    let since: u64 = q.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
    let timeout = q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(300);
    let (backlog, mut feed) = {
        let st = lock(&shared.state);
        let backlog: Vec<Value> = if since == 0 {
            st.jobs.iter().filter(|((n, _), j)| n == namespace && selected(j, q)).map(|(_, j)| objects::event("ADDED", j)).collect()
        } else {
            st.history
                .iter()
                .filter(|(n, rv, e)| n == namespace && *rv > since && selected(&e["object"], q))
                .map(|(_, _, e)| e.clone())
                .collect()
        };
        (backlog, shared.events.subscribe())
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    let (namespace, q) = (namespace.to_owned(), q.clone());
    tokio::spawn(async move {
        let line = |e: &Value| Ok(Frame::data(Bytes::from(format!("{e}\n"))));
        for e in &backlog {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        let end = tokio::time::sleep(std::time::Duration::from_secs(timeout));
        tokio::pin!(end);
        loop {
            tokio::select! {
                _ = &mut end => return,
                got = feed.recv() => match got {
                    Ok((n, _, e)) if n == namespace && selected(&e["object"], &q) => {
                        if tx.send(line(&e)).await.is_err() { return; }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let gone = objects::event("ERROR", &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410}));
                        let _ = tx.send(line(&gone)).await;
                        return;
                    }
                    Err(_) => return,
                },
            }
        }
    });
    let stream = tokio_stream_of(rx);
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    r
}

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + Sync + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
