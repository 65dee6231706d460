//! The Job object: its name, from the run's digest, and its shape, from the pod settings.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, PodTemplateSpec, ResourceRequirements, Toleration, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

/// The label every gates Job and its pods carry; its value is the run's digest (shortened).
pub const JOB_LABEL: &str = "tollgate.dev/gate-run";

/// The name prefix of gates Jobs.
const PREFIX: &str = "tollgate-gates-";

/// Where a gates Job runs: the pod settings of `gates.kubernetes` in the Config document (or
/// an Environment's), in Kubernetes' own shapes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSettings {
    /// The namespace Jobs are created in.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The tollgate image the Job's container runs.
    #[serde(default)]
    pub image: String,
    /// Node labels the pod must match (a GPU node pool).
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pod tolerates (GPU nodes are usually tainted).
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// The container's requests and limits (`nvidia.com/gpu: 1`, memory).
    #[serde(default)]
    pub resources: Option<ResourceRequirements>,
    /// The pod's service account.
    #[serde(default)]
    pub service_account_name: Option<String>,
    /// Volumes of the pod: the store the result is written to, the signing key's Secret, the
    /// config repo's mirror.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Where the container mounts them.
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
    /// Seconds a finished Job is kept if the controller could not delete it.
    #[serde(default = "default_ttl")]
    pub ttl_seconds_after_finished: i32,
}

fn default_namespace() -> String {
    "tollgate".to_owned()
}

fn default_ttl() -> i32 {
    3600
}

/// Why `gates.kubernetes` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A field does not have Kubernetes' shape.
    #[error("`gates.kubernetes` is not valid: {reason}")]
    Shape { reason: String },
    /// No image to run.
    #[error("`gates.kubernetes.image` is empty")]
    NoImage,
}

impl tollgate_error::Hint for SettingsError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(match self {
            SettingsError::Shape { .. } => "the fields take Kubernetes' pod shapes: `nodeSelector: {k: v}`, `tolerations: [{key, operator, effect}]`, `resources: {limits: {nvidia.com/gpu: 1}}`".into(),
            SettingsError::NoImage => "name the tollgate image the Job runs: `image: ghcr.io/example/tollgate:0.1.0`".into(),
        })
    }
}

impl PodSettings {
    /// Reads `gates.kubernetes` (absent: the defaults, which lack an image).
    ///
    /// # Errors
    /// [`SettingsError::Shape`] when a field is not Kubernetes' shape; [`SettingsError::NoImage`]
    /// when no image is named.
    pub fn from_config(value: Option<&Value>) -> Result<PodSettings, SettingsError> {
        let settings: PodSettings = match value {
            None | Some(Value::Null) => {
                PodSettings { namespace: default_namespace(), ttl_seconds_after_finished: default_ttl(), ..PodSettings::default() }
            }
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| SettingsError::Shape { reason: e.to_string() })?,
        };
        if settings.image.is_empty() {
            return Err(SettingsError::NoImage);
        }
        Ok(settings)
    }
}

/// One run: what the Job's container runs, and the digest that names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Hex SHA-256 of the run's inputs: equal inputs, one Job.
    pub digest: String,
    /// The container's command (the program inside the image, then its arguments).
    pub command: Vec<String>,
    /// The container's environment.
    pub env: Vec<(String, String)>,
}

/// The Job name of a run: `tollgate-gates-` and the first 40 hex digits of its digest (a
/// DNS-1123 label, as a name that becomes a pod label must be).
pub fn job_name(digest: &str) -> String {
    let hex: String = digest.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_lowercase()).take(40).collect();
    format!("{PREFIX}{hex}")
}

/// The Job for `run`: one pod, never restarted in place (`backoffLimit: 0`, `restartPolicy:
/// Never`), so that a failure is seen once and an eviction is the runner's to retry.
pub fn build_job(settings: &PodSettings, run: &Run) -> Job {
    let name = job_name(&run.digest);
    let label = name[PREFIX.len()..].to_owned();
    let labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "tollgate".to_owned()),
        ("app.kubernetes.io/component".to_owned(), "gates".to_owned()),
        ("app.kubernetes.io/managed-by".to_owned(), "tollgate".to_owned()),
        (JOB_LABEL.to_owned(), label),
    ]);
    let container = Container {
        name: "gates".to_owned(),
        image: Some(settings.image.clone()),
        command: Some(run.command.clone()),
        env: Some(
            run.env.iter().map(|(name, value)| EnvVar { name: name.clone(), value: Some(value.clone()), value_from: None }).collect(),
        ),
        resources: settings.resources.clone(),
        volume_mounts: (!settings.volume_mounts.is_empty()).then(|| settings.volume_mounts.clone()),
        ..Container::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(settings.namespace.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            completions: Some(1),
            parallelism: Some(1),
            ttl_seconds_after_finished: Some(settings.ttl_seconds_after_finished),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".to_owned()),
                    containers: vec![container],
                    node_selector: (!settings.node_selector.is_empty()).then(|| settings.node_selector.clone()),
                    tolerations: (!settings.tolerations.is_empty()).then(|| settings.tolerations.clone()),
                    service_account_name: settings.service_account_name.clone(),
                    volumes: (!settings.volumes.is_empty()).then(|| settings.volumes.clone()),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}
