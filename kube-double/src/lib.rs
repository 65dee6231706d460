//! A double of the Kubernetes API for tests: a real HTTP server on loopback that serves the paths
//! `kube`'s client uses for `batch/v1` Jobs in a namespace and their `v1` Pods, so that
//! tollgate's real client is exercised end to end without a cluster.
//!
//! It holds to the published OpenAPI description of the Kubernetes API through `k8s-openapi`,
//! which is generated from it: every Job a client creates must read as a
//! `io.k8s.api.batch.v1.Job`, every object the double answers with is built from those types and
//! written by them, and errors are `Status` objects with the reasons and codes the API server uses
//! (`AlreadyExists` 409, `NotFound` 404, `Invalid` 422). A request that breaks the contract is
//! answered 422 and listed in [`KubeDouble::violations`], which tests assert to be empty.
//!
//! Served (namespaced):
//!
//! - `POST /apis/batch/v1/namespaces/{ns}/jobs` — create (409 when the name is taken);
//! - `GET …/jobs/{name}` — get; `GET …/jobs` — list, or with `watch=true` a stream of
//!   `WatchEvent`s as JSON lines from `resourceVersion` on (`fieldSelector=metadata.name=…`,
//!   `labelSelector=k=v`, `timeoutSeconds`);
//! - `DELETE …/jobs/{name}` — delete with `propagationPolicy` (`Background` and `Foreground`
//!   delete the Job's pods, stopping a running one; `Orphan` keeps them);
//! - `GET /api/v1/namespaces/{ns}/pods` — list (`labelSelector`), and
//!   `GET …/pods/{name}/log` — the container's output (`tailLines`).
//!
//! To run a Job the double plays the kubelet: it starts one pod, runs the container's
//! `command` and `args` as a local subprocess with the container's `env` (the executable is the
//! one registered for the container's image with [`KubeDouble::image`]), and sets the pod's phase
//! and the Job's `status` (`active`, `succeeded`, `failed`, conditions `Complete` or `Failed`)
//! from its exit. A test may decide the fate of the next pods instead ([`Fate`]): evicted
//! (pod phase `Failed`, reason `Evicted`, as the kubelet reports it), or held running until
//! [`KubeDouble::release`].
//!
//! What it does not do: scheduling (node selectors, tolerations and resources are kept, not
//! acted on), volumes and `valueFrom` environment variables, retries within a Job
//! (`backoffLimit` above 0), TLS and authentication.
//!
//! The server runs on its own thread with its own Tokio runtime, so that synchronous and async
//! tests can both use it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

mod objects;
mod server;

/// What happens to the next pod the double starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Run the container's command; its exit code decides.
    Run,
    /// The node evicts the pod before the command ends: phase `Failed`, reason `Evicted`.
    Evict,
    /// The pod stays `Running` until [`KubeDouble::release`], then runs the command.
    Hold,
}

/// A request as the double received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
}

/// The double's state, shared by the server's tasks.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The last resourceVersion handed out (one counter for every object, as etcd's revision).
    pub(crate) revision: u64,
    /// Jobs by (namespace, name).
    pub(crate) jobs: BTreeMap<(String, String), Value>,
    /// Pods by (namespace, name), with their output.
    pub(crate) pods: BTreeMap<(String, String), Pod>,
    /// Every Job watch event, in order: (namespace, resourceVersion, event).
    pub(crate) history: Vec<(String, u64, Value)>,
    /// The names of the Jobs created, in order (a second create of a name taken is not one).
    pub(crate) created: Vec<String>,
    /// Executables standing in for images.
    pub(crate) images: HashMap<String, PathBuf>,
    /// Fates of the next pods; `Run` when empty.
    pub(crate) fates: VecDeque<Fate>,
    /// Pods held running, waiting for a release.
    pub(crate) held: Vec<(String, String)>,
    pub(crate) requests: Vec<Recorded>,
    pub(crate) violations: Vec<String>,
    /// Pod names handed out so far, for unique suffixes.
    pub(crate) pod_counter: u64,
}

/// A pod and what its container wrote.
#[derive(Debug, Clone)]
pub(crate) struct Pod {
    pub(crate) object: Value,
    pub(crate) log: String,
}

pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running double; stops when dropped.
#[derive(Debug)]
pub struct KubeDouble {
    url: String,
    state: Arc<Mutex<State>>,
    shared: Arc<server::Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl KubeDouble {
    /// Starts a double on a free loopback port.
    ///
    /// # Errors
    /// The port cannot be bound or the server's thread cannot start.
    pub fn start() -> anyhow::Result<KubeDouble> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::new(server::Shared::new(state.clone()));
        let stop = server::serve(listener, shared.clone())?;
        Ok(KubeDouble { url, state, shared, _stop: stop })
    }

    /// The API server's URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `executable` for containers whose image is `image` (the double's "pull").
    pub fn image(&self, image: &str, executable: impl Into<PathBuf>) {
        lock(&self.state).images.insert(image.to_owned(), executable.into());
    }

    /// Decides the fate of the next pod started (fates queue up; `Run` when none is queued).
    pub fn next_pod(&self, fate: Fate) {
        lock(&self.state).fates.push_back(fate);
    }

    /// Lets every held pod run its command.
    pub fn release(&self) {
        let held = std::mem::take(&mut lock(&self.state).held);
        for (namespace, pod) in held {
            self.shared.start_command(&namespace, &pod);
        }
    }

    /// The names of the Jobs created, in order.
    pub fn created(&self) -> Vec<String> {
        lock(&self.state).created.clone()
    }

    /// A Job as the API holds it now, if it exists.
    pub fn job(&self, namespace: &str, name: &str) -> Option<Value> {
        lock(&self.state).jobs.get(&(namespace.to_owned(), name.to_owned())).cloned()
    }

    /// The names of the Jobs that exist now.
    pub fn jobs(&self) -> Vec<String> {
        lock(&self.state).jobs.keys().map(|(_, n)| n.clone()).collect()
    }

    /// The pods that exist now, as the API holds them.
    pub fn pods(&self) -> Vec<Value> {
        lock(&self.state).pods.values().map(|p| p.object.clone()).collect()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// Requests that broke the API's contract, with why.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.state).violations.clone()
    }

    /// Waits until some pod is held (a test's way to know a Job is running), at most `limit`.
    pub fn wait_held(&self, limit: std::time::Duration) -> bool {
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            if !lock(&self.state).held.is_empty() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        false
    }
}
