//! What a workload runs: every container image (containers, init containers, ephemeral
//! containers, image volumes), the model references of an InferenceService, and tollgate's
//! annotations.
//!
//! Core kinds are read through k8s-openapi's types: the pod template (or a Pod's spec) is
//! deserialized from the object the API server sent, which it has already defaulted and
//! validated. KServe's `InferenceService` (`serving.kserve.io/v1beta1`) has no maintained Rust
//! types, so it is read by JSON path.

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use kube_core::{DynamicObject, GroupVersionKind, ObjectMeta};
use serde::Deserialize;
use serde_json::Value;

/// The annotation naming the model a workload serves: `sha256:<hex>` (or the bare hex) of the
/// model artifact, on the workload or its pod template.
pub const MODEL_DIGEST_ANNOTATION: &str = "tollgate.dev/model-digest";
/// The annotation that asks for a break-glass admission; its value is the reason.
pub const BREAK_GLASS_ANNOTATION: &str = "tollgate.dev/break-glass";

/// The kinds tollgate judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkloadKind {
    Pod,
    /// Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job: a pod
    /// template at `spec.template`.
    Templated,
    /// CronJob: `spec.jobTemplate.spec.template`.
    CronJob,
    InferenceService,
}

impl WorkloadKind {
    /// The kind of `gvk`, when tollgate judges it.
    pub(crate) fn of(gvk: &GroupVersionKind) -> Option<WorkloadKind> {
        match (gvk.group.as_str(), gvk.kind.as_str()) {
            ("", "Pod") => Some(WorkloadKind::Pod),
            ("", "ReplicationController") | ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
                Some(WorkloadKind::Templated)
            }
            ("batch", "CronJob") => Some(WorkloadKind::CronJob),
            ("serving.kserve.io", "InferenceService") => Some(WorkloadKind::InferenceService),
            _ => None,
        }
    }
}

/// One image a workload runs, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageUse {
    /// `containers`, `initContainers`, `ephemeralContainers`, `volumes`, or for an
    /// InferenceService the component's field (`predictor.model`, `transformer.containers`, ...).
    pub(crate) field: &'static str,
    /// The container's (or volume's) name.
    pub(crate) name: String,
    pub(crate) image: String,
}

/// A model reference: where the serving stack loads the model from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelUse {
    /// `predictor.model.storageUri`, `predictor.sklearn.storageUri`, ...
    pub(crate) field: String,
    pub(crate) uri: String,
}

/// What the admission rule reads of a workload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Workload {
    pub(crate) images: Vec<ImageUse>,
    pub(crate) models: Vec<ModelUse>,
    /// `predictor.model.runtime` of an InferenceService (recorded, not judged: the runtime's
    /// image is judged where KServe deploys it).
    pub(crate) runtime: Option<String>,
    /// `tollgate.dev/model-digest` values, the workload's first, then its pod template's.
    pub(crate) model_digests: Vec<String>,
    /// `tollgate.dev/break-glass`: the workload's, else its pod template's.
    pub(crate) break_glass: Option<String>,
    /// A controller owns it (a ReplicaSet's Pod, a Deployment's ReplicaSet, ...).
    pub(crate) controlled: bool,
}

/// Reads `object` as a workload of `kind`.
///
/// # Errors
///
/// The deserialization error when the pod template does not read as Kubernetes' type (the
/// API server validated it, so this means a version skew or a forged review).
pub(crate) fn read(kind: WorkloadKind, object: &DynamicObject) -> Result<Workload, serde_json::Error> {
    let mut workload = Workload { controlled: controlled(&object.metadata), ..Workload::default() };
    annotations(&object.metadata, &mut workload);
    match kind {
        WorkloadKind::Pod => {
            let spec = PodSpec::deserialize(object.data.get("spec").unwrap_or(&Value::Null))?;
            pod_images(spec, &mut workload.images);
        }
        WorkloadKind::Templated => template(object.data.pointer("/spec/template"), &mut workload)?,
        WorkloadKind::CronJob => template(object.data.pointer("/spec/jobTemplate/spec/template"), &mut workload)?,
        WorkloadKind::InferenceService => inference_service(object.data.get("spec").unwrap_or(&Value::Null), &mut workload),
    }
    Ok(workload)
}

/// A pod template: its annotations after the workload's, then its images.
fn template(value: Option<&Value>, workload: &mut Workload) -> Result<(), serde_json::Error> {
    let template = PodTemplateSpec::deserialize(value.unwrap_or(&Value::Null))?;
    if let Some(meta) = &template.metadata {
        annotations(meta, workload);
    }
    let spec = template.spec.unwrap_or_default();
    pod_images(spec, &mut workload.images);
    Ok(())
}

fn annotations(meta: &ObjectMeta, workload: &mut Workload) {
    let Some(annotations) = &meta.annotations else { return };
    if let Some(digest) = annotations.get(MODEL_DIGEST_ANNOTATION)
        && !workload.model_digests.contains(digest)
    {
        workload.model_digests.push(digest.clone());
    }
    if workload.break_glass.is_none() {
        workload.break_glass = annotations.get(BREAK_GLASS_ANNOTATION).cloned();
    }
}

fn controlled(meta: &ObjectMeta) -> bool {
    meta.owner_references.iter().flatten().any(|o| o.controller == Some(true))
}

/// Every image of a pod spec, moved out of it.
fn pod_images(spec: PodSpec, out: &mut Vec<ImageUse>) {
    for c in spec.containers {
        out.push(ImageUse { field: "containers", name: c.name, image: c.image.unwrap_or_default() });
    }
    for c in spec.init_containers.into_iter().flatten() {
        out.push(ImageUse { field: "initContainers", name: c.name, image: c.image.unwrap_or_default() });
    }
    for c in spec.ephemeral_containers.into_iter().flatten() {
        out.push(ImageUse { field: "ephemeralContainers", name: c.name, image: c.image.unwrap_or_default() });
    }
    // An image volume mounts an OCI image's files (a model, say) into the pod.
    for v in spec.volumes.into_iter().flatten() {
        if let Some(image) = v.image {
            out.push(ImageUse { field: "volumes", name: v.name, image: image.reference.unwrap_or_default() });
        }
    }
}

/// The framework keys of a v1beta1 predictor written before `model` (a PredictorExtensionSpec
/// each: `storageUri` and an inline container whose `image` overrides the runtime's), with the
/// field named in verdicts.
const FRAMEWORKS: &[(&str, &str)] = &[
    ("sklearn", "predictor.sklearn"),
    ("xgboost", "predictor.xgboost"),
    ("tensorflow", "predictor.tensorflow"),
    ("pytorch", "predictor.pytorch"),
    ("triton", "predictor.triton"),
    ("onnx", "predictor.onnx"),
    ("pmml", "predictor.pmml"),
    ("lightgbm", "predictor.lightgbm"),
    ("paddle", "predictor.paddle"),
    ("huggingface", "predictor.huggingface"),
];

/// The components of an InferenceService, each with an inline pod spec.
const COMPONENTS: &[(&str, &str, &str)] = &[
    ("predictor", "predictor.containers", "predictor.initContainers"),
    ("transformer", "transformer.containers", "transformer.initContainers"),
    ("explainer", "explainer.containers", "explainer.initContainers"),
];

fn inference_service(spec: &Value, workload: &mut Workload) {
    for (component, containers, init_containers) in COMPONENTS {
        let Some(c) = spec.get(*component) else { continue };
        for (field, label) in [("containers", *containers), ("initContainers", *init_containers)] {
            for (i, container) in c.get(field).and_then(Value::as_array).into_iter().flatten().enumerate() {
                workload.images.push(ImageUse {
                    field: label,
                    name: str_at(container, "name").map_or_else(|| format!("{field}[{i}]"), str::to_owned),
                    image: str_at(container, "image").unwrap_or_default().to_owned(),
                });
            }
        }
    }
    let Some(predictor) = spec.get("predictor") else { return };
    if let Some(model) = predictor.get("model") {
        extension(model, "predictor.model", "model", workload);
        workload.runtime = str_at(model, "runtime").map(str::to_owned);
    }
    for (framework, field) in FRAMEWORKS {
        if let Some(ext) = predictor.get(*framework) {
            extension(ext, field, framework, workload);
        }
    }
}

/// A PredictorExtensionSpec: its `storageUri` and its container `image`, when set.
fn extension(ext: &Value, field: &'static str, default_name: &str, workload: &mut Workload) {
    if let Some(uri) = str_at(ext, "storageUri") {
        workload.models.push(ModelUse { field: format!("{field}.storageUri"), uri: uri.to_owned() });
    }
    if let Some(image) = str_at(ext, "image") {
        let name = str_at(ext, "name").unwrap_or(default_name).to_owned();
        workload.images.push(ImageUse { field, name, image: image.to_owned() });
    }
}

fn str_at<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

/// `metadata.deletionTimestamp` is set: the object is on its way out, and an update that
/// removes its finalizers must not be held up.
pub(crate) fn being_deleted(object: &DynamicObject) -> bool {
    object.metadata.deletion_timestamp.is_some()
}

/// The object's name, or its `generateName` prefix with `*` when the server has yet to pick one.
pub(crate) fn display_name(request_name: &str, object: Option<&DynamicObject>) -> String {
    if !request_name.is_empty() {
        return request_name.to_owned();
    }
    let meta = object.map(|o| &o.metadata);
    match (meta.and_then(|m| m.name.as_deref()), meta.and_then(|m| m.generate_name.as_deref())) {
        (Some(name), _) if !name.is_empty() => name.to_owned(),
        (_, Some(prefix)) => format!("{prefix}*"),
        _ => String::new(),
    }
}
