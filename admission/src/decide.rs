//! The rule: a workload in an environment's namespace is admitted only when every image it runs
//! is the serving image of a release promoted there (by digest), its model is such a release's
//! model, and the environment's Kubernetes policies pass; otherwise `enforce` refuses it and
//! `warn` admits it with warnings. Pure: the index, the request and the clock in, a verdict out.

use std::borrow::Cow;
use std::fmt::Write as _;

use jiff::Timestamp;
use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, Operation};
use serde_json::json;

use tollgate_policy::{ConvertedValue, PolicyInput};

use crate::digest::{Digest, Pin};
use crate::index::{Environment, Index, Mode, Release};
use crate::verdict::{BreakGlass, ImageCheck, ModelCheck, Outcome, Reason, Severity, Verdict};
use crate::workload::{self, BREAK_GLASS_ANNOTATION, MODEL_DIGEST_ANNOTATION, Workload, WorkloadKind};

/// Releases named in a message before `and N more`.
const LISTED_RELEASES: usize = 3;
/// Users and groups named in a break-glass refusal before `and N more`.
const LISTED_NAMES: usize = 5;

/// Decides one review against `index`, at `now`.
///
/// - No index yet (`None`): every review is denied (fail closed).
/// - `DELETE` and `CONNECT`, cluster-scoped objects, namespaces of no environment, kinds that
///   are not workloads and subresources other than a Pod's `ephemeralcontainers` are allowed,
///   with a [`Verdict::note`] saying why, as is an update of an object being deleted (its
///   finalizers must be able to go).
/// - Otherwise every image must be pinned by digest and promoted to the namespace's
///   environment, every model reference (`tollgate.dev/model-digest`, a `storageUri`) must be a
///   promoted release's, served by one of the workload's images when it has any, and the
///   policies must not deny.
/// - A `tollgate.dev/break-glass` annotation from a user the environment allows admits the
///   workload whatever failed, with a warning and [`Verdict::break_glass`] set; from anyone
///   else it is itself a denial.
///
/// A dry run is decided the same; [`Verdict::audit_event`] tells the caller to record nothing.
pub fn decide(index: Option<&Index>, request: &AdmissionRequest<DynamicObject>, now: Timestamp) -> Verdict {
    let mut verdict = Verdict {
        outcome: Outcome::Allowed,
        uid: request.uid.clone(),
        operation: request.operation.clone(),
        group: request.kind.group.clone(),
        version: request.kind.version.clone(),
        kind: request.kind.kind.clone(),
        namespace: request.namespace.clone(),
        name: workload::display_name(&request.name, request.object.as_ref()),
        user: request.user_info.username.clone().unwrap_or_default(),
        groups: request.user_info.groups.clone().unwrap_or_default(),
        dry_run: request.dry_run,
        environment: None,
        mode: None,
        note: None,
        reasons: Vec::new(),
        images: Vec::new(),
        models: Vec::new(),
        runtime: None,
        break_glass: None,
        index: index.and_then(|i| i.source().map(str::to_owned)),
        policy_digest: None,
        decided_at: now,
    };
    let Some(index) = index else {
        verdict.reasons.push(Reason::deny(
            "index-not-loaded",
            "tollgate has not loaded what is promoted where yet, and refuses every workload until it has".to_owned(),
            Some("retry in a moment; if this lasts, see the tollgate server's logs and `/readyz`".to_owned()),
        ));
        verdict.outcome = Outcome::Denied;
        return verdict;
    };
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        verdict.note = Some(Cow::Borrowed("only CREATE and UPDATE are judged"));
        return verdict;
    }
    let Some(namespace) = request.namespace.as_deref().filter(|n| !n.is_empty()) else {
        verdict.note = Some(Cow::Borrowed("cluster-scoped objects are not judged"));
        return verdict;
    };
    let Some(env) = index.environment_of(namespace) else {
        verdict.note = Some(Cow::Owned(format!("namespace `{namespace}` belongs to no environment")));
        return verdict;
    };
    verdict.environment = Some(env.name.to_string());
    verdict.mode = Some(env.mode);
    let Some(kind) = WorkloadKind::of(&request.kind) else {
        verdict.note = Some(Cow::Owned(format!("`{}` is not a workload kind tollgate judges", gvk_text(&verdict))));
        return verdict;
    };
    if let Some(sub) = request.sub_resource.as_deref().filter(|s| !s.is_empty())
        && !(kind == WorkloadKind::Pod && sub == "ephemeralcontainers")
    {
        verdict.note = Some(Cow::Owned(format!("subresource `{sub}` is not judged")));
        return verdict;
    }
    let subject = format!("{} `{}`", verdict.kind, verdict.name);
    let Some(object) = request.object.as_ref() else {
        verdict.reasons.push(Reason::deny("no-object", format!("the review of {subject} carries no object"), None));
        return finish(verdict, env.mode);
    };
    if request.operation == Operation::Update && workload::being_deleted(object) {
        verdict.note = Some(Cow::Borrowed("the object is being deleted"));
        return verdict;
    }
    let workload = match workload::read(kind, object) {
        Ok(w) => w,
        Err(err) => {
            verdict.reasons.push(Reason::deny("unreadable-workload", format!("cannot read the pod spec of {subject}: {err}"), None));
            return finish(verdict, env.mode);
        }
    };
    verdict.runtime.clone_from(&workload.runtime);
    let served = judge_images(env, &workload, &mut verdict);
    judge_models(env, &workload, &served, &mut verdict);
    // The platform's images come beside a promoted release, never instead of one: otherwise
    // anyone could run a mesh proxy's image as their workload.
    let promoted = verdict.images.iter().any(|c| !c.releases.is_empty()) || verdict.models.iter().any(|m| !m.releases.is_empty());
    if !promoted && verdict.images.iter().any(|c| c.platform) {
        verdict.reasons.push(Reason::deny(
            "platform-images-alone",
            format!(
                "{subject} runs only the platform's images (`spec.admission.platformImages` of `{}`), and no promoted release",
                env.name
            ),
            Some(format!("platform images are admitted beside the serving image of a release promoted to `{}`", env.name)),
        ));
    }
    if workload.images.is_empty() && workload.models.is_empty() && workload.model_digests.is_empty() {
        verdict.reasons.push(Reason::deny(
            "nothing-to-check",
            format!("{subject} names no image or model that tollgate could check"),
            Some(format!("name the serving image, pinned by digest, or the model `storageUri` of a release promoted to `{}`", env.name)),
        ));
    }
    if let Some(policies) = index.policies.as_ref().filter(|p| !p.packages.is_empty()) {
        verdict.policy_digest = Some(policies.digest().to_owned());
        let context = json!({
            "namespace": namespace,
            "environment": &*env.name,
            "operation": &verdict.operation,
            "user": &verdict.user,
            "groups": &verdict.groups,
            "dryRun": verdict.dry_run,
        });
        let input = PolicyInput::from_parts(policy_document(object), vec![("admission", ConvertedValue::new(&context))]);
        match policies.bundle.evaluator().evaluate(&input, &policies.packages) {
            Ok(results) => {
                for r in results {
                    if policies.disabled.contains(&r.id) {
                        continue;
                    }
                    let severity = if r.is_warning() { Severity::Warn } else { Severity::Deny };
                    verdict.reasons.push(Reason { id: Cow::Owned(r.id), severity, message: r.message, hint: r.hint });
                }
            }
            Err(err) => verdict.reasons.push(Reason::deny(
                "policy-error",
                format!("evaluating the policies on {subject} failed: {err}"),
                Some("a policy failed at run time on this workload; fix the policy or report it to its owner".to_owned()),
            )),
        }
    }
    if let Some(reason) = &workload.break_glass {
        break_glass(index, env, &workload, reason.trim(), now, &mut verdict);
    }
    finish(verdict, env.mode)
}

/// The object as the policies see a manifest at PR time (`apiVersion`, `kind`, `metadata` and
/// the rest), converted for the engine straight from the review's fields rather than through a
/// copy of the whole object as JSON.
fn policy_document(object: &DynamicObject) -> ConvertedValue {
    let mut fields = Vec::with_capacity(8);
    if let Some(types) = &object.types {
        fields.push(("apiVersion".to_owned(), ConvertedValue::string(&types.api_version)));
        fields.push(("kind".to_owned(), ConvertedValue::string(&types.kind)));
    }
    fields.push(("metadata".to_owned(), ConvertedValue::new(&serde_json::to_value(&object.metadata).unwrap_or_default())));
    if let serde_json::Value::Object(data) = &object.data {
        fields.extend(data.iter().map(|(k, v)| (k.clone(), ConvertedValue::new(v))));
    }
    ConvertedValue::object(fields)
}

/// The outcome from the reasons, the mode and a break-glass admission.
fn finish(mut verdict: Verdict, mode: Mode) -> Verdict {
    let denies = verdict.reasons.iter().any(|r| r.severity == Severity::Deny);
    verdict.outcome = if denies && mode == Mode::Enforce && verdict.break_glass.is_none() {
        Outcome::Denied
    } else if denies || verdict.break_glass.is_some() || !verdict.reasons.is_empty() {
        Outcome::Warned
    } else {
        Outcome::Allowed
    };
    verdict
}

/// Checks every image; returns the digests of those promoted.
fn judge_images(env: &Environment, workload: &Workload, verdict: &mut Verdict) -> Vec<Digest> {
    let mut served = Vec::new();
    for image in &workload.images {
        let label = image_label(image.field, &image.name);
        let pin = Pin::of(&image.image);
        let mut check = ImageCheck {
            field: image.field,
            name: image.name.clone(),
            image: image.image.clone(),
            digest: None,
            releases: Vec::new(),
            platform: false,
        };
        let pin_hint = || {
            let promoted = promoted_clause(env, pin.repository(), false, &format!("to `{}`", env.name));
            format!("pin images by digest, `registry/repo@sha256:<digest>`; {promoted}")
        };
        match pin {
            Pin::Missing => verdict.reasons.push(Reason::deny(
                "image-missing",
                format!("{label} names no image"),
                Some(format!("set its image to the serving image of a release promoted to `{}`, pinned by digest", env.name)),
            )),
            Pin::Tag { .. } => verdict.reasons.push(Reason::deny(
                "image-not-pinned",
                format!("image `{}` of {label} is not pinned by digest", image.image),
                Some(pin_hint()),
            )),
            Pin::Malformed { .. } => verdict.reasons.push(Reason::deny(
                "image-digest-malformed",
                format!("image `{}` of {label} has a malformed digest: want `sha256:` and 64 lower-case hex digits", image.image),
                Some(pin_hint()),
            )),
            Pin::Digest { repository, digest } => {
                check.digest = Some(digest);
                check.releases = env.by_image(&digest).map(|r| r.name.to_string()).collect();
                check.platform = check.releases.is_empty() && env.platform.admits(repository, &digest);
                if check.releases.is_empty() && !check.platform {
                    verdict.reasons.push(Reason::deny(
                        "image-not-promoted",
                        format!(
                            "image `{}` of {label} is not promoted to `{}`; {}",
                            short_image(image.image.trim()),
                            env.name,
                            promoted_clause(env, repository, false, "there")
                        ),
                        Some(format!(
                            "deploy the serving image of a release promoted to `{env}`, or get this image promoted: open a pull request \
                             adding a Release with `spec.serving.image: {image}`, and tollgate promotes it to `{env}` once its gates and \
                             approvals pass (`tollgate explain RELEASE --env {env}` says what it waits for)",
                            env = env.name,
                            image = image.image.trim(),
                        )),
                    ));
                } else if !served.contains(&digest) {
                    served.push(digest);
                }
            }
        }
        verdict.images.push(check);
    }
    served
}

/// Checks the model digests annotated and the model URIs named: each must be a promoted
/// release's model, and when the workload runs promoted images, one of the releases with that
/// model must serve one of them (the pairing its Release approved).
fn judge_models(env: &Environment, workload: &Workload, served: &[Digest], verdict: &mut Verdict) {
    for raw in &workload.model_digests {
        let mut check = ModelCheck { source: "annotation".to_owned(), reference: raw.clone(), releases: Vec::new() };
        match Digest::parse(raw.trim()) {
            None => verdict.reasons.push(Reason::deny(
                "model-digest-malformed",
                format!("annotation `{MODEL_DIGEST_ANNOTATION}` is `{raw}`, not a sha256 digest"),
                Some("write the model artifact's digest, `sha256:` and 64 lower-case hex digits".to_owned()),
            )),
            Some(digest) => {
                let releases: Vec<&Release> = env.by_model(&digest).collect();
                check.releases = releases.iter().map(|r| r.name.to_string()).collect();
                let what = format!("model `{}` (annotation `{MODEL_DIGEST_ANNOTATION}`)", digest.short());
                model_reasons(env, &what, &releases, served, verdict);
            }
        }
        verdict.models.push(check);
    }
    for model in &workload.models {
        let releases: Vec<&Release> = env.by_model_uri(&model.uri).collect();
        let what = format!("model `{}` (`{}`)", model.uri, model.field);
        model_reasons(env, &what, &releases, served, verdict);
        verdict.models.push(ModelCheck {
            source: model.field.clone(),
            reference: model.uri.clone(),
            releases: releases.iter().map(|r| r.name.to_string()).collect(),
        });
    }
}

fn model_reasons(env: &Environment, what: &str, releases: &[&Release], served: &[Digest], verdict: &mut Verdict) {
    if releases.is_empty() {
        verdict.reasons.push(Reason::deny(
            "model-not-promoted",
            format!("{what} is not the model of a release promoted to `{}`; {}", env.name, promoted_clause(env, "", true, "there")),
            Some(format!("deploy the model of a release promoted to `{}`, or get this one promoted with a Release", env.name)),
        ));
    } else if !served.is_empty() && !releases.iter().any(|r| served.contains(&r.image_digest)) {
        let mut names = String::new();
        list(&mut names, releases.iter().map(|r| format!("`{}` (`{}`)", r.name, short_image(&r.image))), releases.len());
        verdict.reasons.push(Reason::deny(
            "model-image-mismatch",
            format!("{what} is promoted to `{}` by {names}, with another serving image than this workload's", env.name),
            Some("serve the model with the image its release names, or promote a release that pairs this model with this image".to_owned()),
        ));
    }
}

/// Applies a `tollgate.dev/break-glass` annotation.
fn break_glass(index: &Index, env: &Environment, workload: &Workload, reason: &str, now: Timestamp, verdict: &mut Verdict) {
    let user = verdict.user.as_str();
    let granted =
        env.break_glass.as_ref().filter(|b| b.users.contains(user) || verdict.groups.iter().any(|g| b.groups.contains(g.as_str())));
    let inherited = workload.controlled && index.controllers.contains(user);
    let Some(policy) = granted.or(env.break_glass.as_ref().filter(|_| inherited)) else {
        let who = match &env.break_glass {
            None => format!("nobody may break glass in `{}`", env.name),
            Some(b) => {
                let mut users: Vec<&str> = b.users.iter().map(|u| &**u).collect();
                let mut groups: Vec<&str> = b.groups.iter().map(|g| &**g).collect();
                users.sort_unstable();
                groups.sort_unstable();
                let mut text = format!("in `{}` only", env.name);
                if !users.is_empty() {
                    text.push_str(" users ");
                    list(&mut text, users.iter().map(|u| format!("`{u}`")), users.len());
                }
                if !groups.is_empty() {
                    text.push_str(if users.is_empty() { " members of " } else { " and members of " });
                    list(&mut text, groups.iter().map(|g| format!("`{g}`")), groups.len());
                }
                text.push_str(" may");
                text
            }
        };
        verdict.reasons.push(Reason::deny(
            "break-glass-refused",
            format!("`{user}` may not break glass (annotation `{BREAK_GLASS_ANNOTATION}`): {who}"),
            Some("remove the annotation and deploy what is promoted, or ask someone who may break glass".to_owned()),
        ));
        return;
    };
    if reason.is_empty() {
        verdict.reasons.push(Reason::deny(
            "break-glass-reason",
            format!("annotation `{BREAK_GLASS_ANNOTATION}` gives no reason"),
            Some("write why glass is broken (an incident id) as the annotation's value".to_owned()),
        ));
        return;
    }
    let expires = now.saturating_add(policy.max_duration).unwrap_or(Timestamp::MAX);
    verdict.break_glass =
        Some(BreakGlass { reason: reason.to_owned(), user: user.to_owned(), expires, inherited: granted.is_none() && inherited });
}

/// `container `server``, `init container `setup``, ..., or for an InferenceService
/// `container `c` of the predictor` and `` `predictor.model` ``.
fn image_label(field: &str, name: &str) -> String {
    match field {
        "containers" => format!("container `{name}`"),
        "initContainers" => format!("init container `{name}`"),
        "ephemeralContainers" => format!("ephemeral container `{name}`"),
        "volumes" => format!("image volume `{name}`"),
        _ => match field.split_once('.') {
            Some((component, "containers")) => format!("container `{name}` of the {component}"),
            Some((component, "initContainers")) => format!("init container `{name}` of the {component}"),
            _ => format!("`{field}`"),
        },
    }
}

/// `promoted {place}: `a` (`sha256:0123456789ab…`), ... and N more` (the serving image's
/// digest, or the model's with `models`), or `nothing is promoted {place}`; releases whose image
/// is in `repository` first, at most [`LISTED_RELEASES`] named whatever the index holds.
pub(crate) fn promoted_clause(env: &Environment, repository: &str, models: bool, place: &str) -> String {
    // With `models`, only the releases that name a model digest count.
    let total = if models { env.model_count() } else { env.releases.len() };
    if total == 0 {
        return format!("nothing is promoted {place}");
    }
    let mut picked: Vec<&Release> = Vec::with_capacity(LISTED_RELEASES);
    for r in env.by_repository(repository).chain(env.releases.iter()).filter(|r| !models || r.model.is_some()) {
        if picked.len() == LISTED_RELEASES {
            break;
        }
        if !picked.iter().any(|p| std::ptr::eq(*p, r)) {
            picked.push(r);
        }
    }
    let entry = |r: &&Release| format!("`{}` (`{}…`)", r.name, r.model.filter(|_| models).unwrap_or(r.image_digest).short());
    let mut out = format!("promoted {place}: ");
    list(&mut out, picked.iter().map(entry), total);
    out
}

/// Appends `a, b and c`, or `a, b, c and N more` when `total` exceeds what `items` holds
/// (items are cut at [`LISTED_NAMES`]).
fn list(out: &mut String, items: impl Iterator<Item = String>, total: usize) {
    let items: Vec<String> = items.take(LISTED_NAMES).collect();
    let rest = total.saturating_sub(items.len());
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == items.len() && rest == 0 { " and " } else { ", " });
        }
        out.push_str(item);
    }
    if rest > 0 {
        let _ = write!(out, " and {rest} more");
    }
}

/// `repo@sha256:0123456789ab…`: an image with its digest cut to 12 hex digits.
fn short_image(image: &str) -> Cow<'_, str> {
    match image.rsplit_once("@sha256:") {
        Some((name, hex)) if hex.len() > 12 => Cow::Owned(format!("{name}@sha256:{}…", &hex[..12])),
        _ => Cow::Borrowed(image),
    }
}

fn gvk_text(verdict: &Verdict) -> String {
    if verdict.group.is_empty() {
        format!("{}/{}", verdict.version, verdict.kind)
    } else {
        format!("{}/{}/{}", verdict.group, verdict.version, verdict.kind)
    }
}
