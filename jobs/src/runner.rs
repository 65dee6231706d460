//! Creating or adopting a run's Job, watching it to its end, and cleaning up.

use std::time::Duration;

use futures_util::TryStreamExt as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams, PropagationPolicy, WatchEvent, WatchParams};

use crate::job::{PodSettings, Run, build_job, job_name};

/// How long and how often.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The longest a run may take, adoption and retries included.
    pub timeout: Duration,
    /// How many evictions are retried (a new Job each) before the run fails.
    pub max_evictions: u32,
    /// How many lines of a failed pod's log the error carries.
    pub log_lines: i64,
    /// Seconds a single watch request stays open before it is renewed.
    pub watch_seconds: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { timeout: Duration::from_secs(6 * 3600), max_evictions: 2, log_lines: 20, watch_seconds: 290 }
    }
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The Kubernetes API refused a call or could not be reached.
    #[error("kubernetes API call `{call}` failed for job `{job}`")]
    Api {
        call: &'static str,
        job: String,
        #[source]
        source: kube::Error,
    },
    /// The Job failed: its reason and the last lines its pod wrote.
    #[error("job `{job}` failed ({reason}); last lines of pod `{pod}`:\n{log_tail}")]
    Failed { job: String, pod: String, reason: String, log_tail: String },
    /// The Job's pod was evicted more times than allowed.
    #[error("job `{job}`: its pod was evicted {evictions} times ({message}); not retried again")]
    Evicted { job: String, evictions: u32, message: String },
    /// The Job was deleted by someone else before it ended.
    #[error("job `{job}` was deleted before it finished")]
    Vanished { job: String },
    /// The run took longer than the limit.
    #[error("job `{job}` did not finish within {seconds} s")]
    Timeout { job: String, seconds: u64 },
    /// A client for the API could not be made from its configuration.
    #[error("cannot make a kubernetes client")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl tollgate_error::Hint for JobError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            JobError::Api { .. } | JobError::Client(_) => {
                Some("check the controller's service account may create, get, watch and delete `jobs` and list `pods` and `pods/log` in the namespace".into())
            }
            JobError::Evicted { .. } => Some("the node pool is short of memory or being drained; give the Job more `resources` or a quieter pool".into()),
            JobError::Timeout { job, .. } => Some(format!("`kubectl describe job {job}` says whether it is still pending (no node fits its selector, tolerations and resources)").into()),
            JobError::Failed { .. } | JobError::Vanished { .. } => None,
        }
    }
}

/// What a completed run was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The Job's name.
    pub job: String,
    /// Jobs this runner created for the run (0 when it adopted one already there).
    pub created: u32,
    /// Evictions retried.
    pub evictions: u32,
}

/// Where the Kubernetes API is, and how to authenticate to it.
#[derive(Clone)]
pub struct Cluster(kube::Config);

impl Cluster {
    /// The cluster a pod runs in: its service account's token and CA, `KUBERNETES_SERVICE_HOST`.
    ///
    /// # Errors
    /// Not in a pod, or the service account's files cannot be read.
    pub fn in_cluster() -> Result<Cluster, JobError> {
        kube::Config::incluster().map(Cluster).map_err(|e| JobError::Client(Box::new(e)))
    }

    /// An API server at `url`, without credentials (the test double, `kubectl proxy`).
    ///
    /// # Errors
    /// `url` is not a URL.
    pub fn at(url: &str) -> Result<Cluster, JobError> {
        let uri = url.parse().map_err(|e: http::uri::InvalidUri| JobError::Client(Box::new(e)))?;
        Ok(Cluster(kube::Config::new(uri)))
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // kube's Config holds credentials: only where it points is shown.
        f.debug_tuple("Cluster").field(&self.0.cluster_url).finish()
    }
}

/// Runs gate runs as Jobs through a Kubernetes API.
#[derive(Clone)]
pub struct JobRunner {
    config: kube::Config,
    settings: PodSettings,
    limits: Limits,
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // kube's Config holds credentials: only where it points is shown.
        f.debug_struct("JobRunner").field("cluster", &self.config.cluster_url).field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// How a watch of one Job ended.
enum Ended {
    Complete,
    Failed(String),
}

impl JobRunner {
    /// A runner for `cluster`.
    pub fn new(cluster: Cluster, settings: PodSettings, limits: Limits) -> JobRunner {
        JobRunner { config: cluster.0, settings, limits }
    }

    /// The pod settings Jobs are built from.
    pub fn settings(&self) -> &PodSettings {
        &self.settings
    }

    /// Runs `run` as a Job and waits for its end, on a thread of its own with its own runtime
    /// (the controller's gate runs are synchronous).
    ///
    /// # Errors
    /// As [`JobRunner::run`].
    pub fn run_blocking(&self, run: &Run) -> Result<Completed, JobError> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let rt =
                        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| JobError::Client(Box::new(e)))?;
                    rt.block_on(self.run(run))
                })
                .join()
                .unwrap_or_else(|_| Err(JobError::Vanished { job: job_name(&run.digest) }))
        })
    }

    /// Runs `run` as a Job: adopts the Job of the same name if one exists, creates it
    /// otherwise, watches it to its end, and deletes it.
    ///
    /// # Errors
    /// [`JobError::Failed`] (with the pod's log tail), [`JobError::Evicted`] past the limit,
    /// [`JobError::Vanished`], [`JobError::Timeout`], or the API's refusal.
    #[tracing::instrument(skip(self, run), fields(job = %job_name(&run.digest)))]
    pub async fn run(&self, run: &Run) -> Result<Completed, JobError> {
        let client = kube::Client::try_from(self.config.clone()).map_err(|e| JobError::Client(Box::new(e)))?;
        let name = job_name(&run.digest);
        let seconds = self.limits.timeout.as_secs();
        match tokio::time::timeout(self.limits.timeout, self.run_with(&client, run, &name)).await {
            Ok(done) => done,
            Err(_) => Err(JobError::Timeout { job: name, seconds }),
        }
    }

    async fn run_with(&self, client: &kube::Client, run: &Run, name: &str) -> Result<Completed, JobError> {
        let jobs: Api<Job> = Api::namespaced(client.clone(), &self.settings.namespace);
        let pods: Api<Pod> = Api::namespaced(client.clone(), &self.settings.namespace);
        let api = |call: &'static str| move |source| JobError::Api { call, job: name.to_owned(), source };
        let mut created = 0;
        let mut evictions = 0;
        loop {
            let job = match jobs.get_opt(name).await.map_err(api("get"))? {
                Some(job) => {
                    tracing::info!(job = name, "adopting the job already there");
                    job
                }
                None => match jobs.create(&PostParams::default(), &build_job(&self.settings, run)).await {
                    Ok(job) => {
                        created += 1;
                        tracing::info!(job = name, "created");
                        job
                    }
                    // Another controller created it between our get and create: adopt it.
                    Err(kube::Error::Api(s)) if s.code == 409 => jobs.get(name).await.map_err(api("get"))?,
                    Err(e) => return Err(api("create")(e)),
                },
            };
            match self.watch(&jobs, name, job).await? {
                Ended::Complete => {
                    self.delete(&jobs, name).await?;
                    return Ok(Completed { job: name.to_owned(), created, evictions });
                }
                Ended::Failed(reason) => {
                    let listed = pods
                        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}")))
                        .await
                        .map_err(api("list pods"))?;
                    let mut pod_list = listed.items;
                    pod_list.sort_by_key(|p| p.metadata.creation_timestamp.clone());
                    let last = pod_list.last();
                    let evicted = last.and_then(|p| p.status.as_ref()).filter(|s| s.reason.as_deref() == Some("Evicted"));
                    if let Some(status) = evicted {
                        evictions += 1;
                        let message = status.message.clone().unwrap_or_default().trim().to_owned();
                        self.delete(&jobs, name).await?;
                        if evictions > self.limits.max_evictions {
                            return Err(JobError::Evicted { job: name.to_owned(), evictions, message });
                        }
                        tracing::warn!(job = name, evictions, %message, "pod evicted; creating the job again");
                        continue;
                    }
                    let pod = last.and_then(|p| p.metadata.name.clone()).unwrap_or_default();
                    let log_tail = if pod.is_empty() {
                        String::new()
                    } else {
                        let params = LogParams { tail_lines: Some(self.limits.log_lines), ..LogParams::default() };
                        pods.logs(&pod, &params).await.unwrap_or_else(|e| format!("(the log could not be read: {e})"))
                    };
                    self.delete(&jobs, name).await?;
                    return Err(JobError::Failed { job: name.to_owned(), pod, reason, log_tail: log_tail.trim_end().to_owned() });
                }
            }
        }
    }

    /// Watches `job` from its resourceVersion until a `Complete` or `Failed` condition.
    async fn watch(&self, jobs: &Api<Job>, name: &str, job: Job) -> Result<Ended, JobError> {
        if let Some(end) = ended(&job) {
            return Ok(end);
        }
        let mut version = job.metadata.resource_version.clone().unwrap_or_default();
        let params = WatchParams::default().fields(&format!("metadata.name={name}")).timeout(self.limits.watch_seconds);
        loop {
            let stream =
                jobs.watch(&params, &version).await.map_err(|source| JobError::Api { call: "watch", job: name.to_owned(), source })?;
            futures_util::pin_mut!(stream);
            while let Some(event) =
                stream.try_next().await.map_err(|source| JobError::Api { call: "watch", job: name.to_owned(), source })?
            {
                match event {
                    WatchEvent::Added(job) | WatchEvent::Modified(job) => {
                        version = job.metadata.resource_version.clone().unwrap_or(version);
                        if let Some(end) = ended(&job) {
                            return Ok(end);
                        }
                    }
                    WatchEvent::Deleted(_) => return Err(JobError::Vanished { job: name.to_owned() }),
                    WatchEvent::Bookmark(b) => version = b.metadata.resource_version,
                    // The version is too old (410 Gone): start again from the Job as it is now.
                    WatchEvent::Error(_) => {
                        let job = jobs.get_opt(name).await.map_err(|source| JobError::Api { call: "get", job: name.to_owned(), source })?;
                        let Some(job) = job else { return Err(JobError::Vanished { job: name.to_owned() }) };
                        if let Some(end) = ended(&job) {
                            return Ok(end);
                        }
                        version = job.metadata.resource_version.clone().unwrap_or_default();
                        break;
                    }
                }
            }
        }
    }

    /// Deletes the Job and its pods (a Job already gone is fine).
    async fn delete(&self, jobs: &Api<Job>, name: &str) -> Result<(), JobError> {
        let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
        match jobs.delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(source) => Err(JobError::Api { call: "delete", job: name.to_owned(), source }),
        }
    }
}

/// The Job's end, from its conditions (`Complete` or `Failed` with status `True`).
fn ended(job: &Job) -> Option<Ended> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    for c in conditions {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Complete" => return Some(Ended::Complete),
            "Failed" => {
                let reason = [c.reason.as_deref(), c.message.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(": ");
                return Some(Ended::Failed(reason));
            }
            _ => {}
        }
    }
    None
}
