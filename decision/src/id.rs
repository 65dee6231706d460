//! Decision ids: which inputs make a decision the same decision.
//!
//! An id is `dec-` and the first 20 hex digits of SHA-256 over the RFC 8785 canonical JSON of a
//! [`KeyV1`], an explicit list of the inputs that identify a decision. The clock and the commit
//! are not in it (what they change, windows, content and findings, is), and neither is anything
//! added to [`DecisionInputs`] later: a new input changes no id until a new key version names
//! it.
//!
//! **Versions.** Version 1 has exactly the shape the whole inputs had when the id was their
//! digest (before issue #11), so ids recorded before then stay valid; it carries no version
//! member. A later version is a new struct whose hashed form carries `"keyVersion": 2` (so no
//! id of one version can equal an id of another), and [`decision_id`] switches to it.

use serde::{Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::approvals::{Approval, ApprovalStatus, NotCounted};
use crate::{DecisionInputs, FindingInput, GateInput, PromotedInput, PullRequestInput, WindowInput};

#[cfg(test)]
mod tests;

/// The id of the decision `inputs` make.
pub(crate) fn decision_id(inputs: &DecisionInputs) -> String {
    let key = serde_json::to_value(KeyV1::of(inputs)).expect("a key has only named members, so it converts to JSON");
    // Every number in a key is within ±2^53 (larger ones are written as strings), so RFC 8785
    // always canonicalizes it.
    let bytes = tollgate_audit::jcs::canonicalize(&key).expect("a key holds no number RFC 8785 refuses");
    format!("dec-{}", &hex::encode(Sha256::digest(bytes))[..20])
}

/// What identifies a decision, version 1. Field names and shapes are frozen: they are what
/// recorded ids were computed over.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyV1<'a> {
    release: &'a str,
    environment: &'a str,
    policy_digest: Option<&'a str>,
    content_digest: &'a str,
    model: ModelKey<'a>,
    image: Option<&'a str>,
    previous: Option<(&'a str, bool)>,
    findings: Vec<FindingKey<'a>>,
    gates: GateKey<'a>,
    approvals: ApprovalsKey<'a>,
    window: WindowKey<'a>,
    promoted: PromotedKey<'a>,
    promoted_before: bool,
    superseded_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    closed_pull_request: Option<PullRequestKey<'a>>,
}

impl<'a> KeyV1<'a> {
    pub(crate) fn of(i: &'a DecisionInputs) -> KeyV1<'a> {
        KeyV1 {
            release: &i.release,
            environment: &i.environment,
            policy_digest: i.policy_digest.as_deref(),
            content_digest: &i.content_digest,
            model: ModelKey::of(&i.model),
            image: i.image.as_deref(),
            previous: i.previous.as_ref().map(|(env, promoted)| (env.as_str(), *promoted)),
            findings: i.findings.iter().map(FindingKey::of).collect(),
            gates: GateKey::of(&i.gates),
            approvals: ApprovalsKey::of(&i.approvals),
            window: WindowKey::of(&i.window),
            promoted: PromotedKey::of(&i.promoted),
            promoted_before: i.promoted_before,
            superseded_by: i.superseded_by.as_deref(),
            closed_pull_request: i.closed_pull_request.as_ref().map(PullRequestKey::of),
        }
    }
}

/// The model: its name, version and artifact digest, and nothing else the model input holds.
#[derive(Debug, Serialize)]
struct ModelKey<'a> {
    name: Option<&'a str>,
    version: Option<&'a str>,
    sha256: Option<&'a str>,
}

impl<'a> ModelKey<'a> {
    fn of(model: &'a Value) -> ModelKey<'a> {
        let s = |k: &str| model.get(k).and_then(Value::as_str);
        ModelKey { name: s("name"), version: s("version"), sha256: s("sha256") }
    }
}

#[derive(Debug, Serialize)]
struct FindingKey<'a> {
    stage: &'a str,
    rule: &'a str,
    location: &'a str,
    message: &'a str,
}

impl<'a> FindingKey<'a> {
    fn of(f: &'a FindingInput) -> FindingKey<'a> {
        FindingKey { stage: &f.stage, rule: &f.rule, location: &f.location, message: &f.message }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
enum GateKey<'a> {
    NotRequired,
    Unavailable { reason: &'a str },
    Results { digest: &'a str, required: Vec<(&'a str, Option<bool>)>, failures: Vec<&'a str> },
}

impl<'a> GateKey<'a> {
    fn of(g: &'a GateInput) -> GateKey<'a> {
        match g {
            GateInput::NotRequired => GateKey::NotRequired,
            GateInput::Unavailable { reason } => GateKey::Unavailable { reason },
            GateInput::Results { digest, required, failures } => GateKey::Results {
                digest,
                required: required.iter().map(|(c, p)| (c.as_str(), *p)).collect(),
                failures: failures.iter().map(String::as_str).collect(),
            },
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalsKey<'a> {
    policy: PolicyKey<'a>,
    counted: Vec<ApprovalKey<'a>>,
    ignored: Vec<(ApprovalKey<'a>, NotCountedKey<'a>)>,
    missing_groups: &'a [String],
    satisfied: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyKey<'a> {
    required: u32,
    groups: &'a [String],
    separation_of_duties: bool,
}

impl<'a> ApprovalsKey<'a> {
    fn of(a: &'a ApprovalStatus) -> ApprovalsKey<'a> {
        ApprovalsKey {
            policy: PolicyKey {
                required: a.policy.required,
                groups: &a.policy.groups,
                separation_of_duties: a.policy.separation_of_duties,
            },
            counted: a.counted.iter().map(ApprovalKey::of).collect(),
            ignored: a.ignored.iter().map(|(a, why)| (ApprovalKey::of(a), NotCountedKey::of(why))).collect(),
            missing_groups: &a.missing_groups,
            satisfied: a.satisfied,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalKey<'a> {
    #[serde(serialize_with = "safe_u64")]
    seq: u64,
    user: &'a str,
    content_digest: &'a str,
    at: &'a str,
    via: &'a str,
}

impl<'a> ApprovalKey<'a> {
    fn of(a: &'a Approval) -> ApprovalKey<'a> {
        ApprovalKey { seq: a.seq, user: &a.user, content_digest: &a.content_digest, at: &a.at, via: &a.via }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
enum NotCountedKey<'a> {
    UnknownUser,
    NotAnApprover,
    NotInGroups { groups: &'a [String] },
    Author,
    Voided { approved: &'a str },
    Duplicate,
}

impl<'a> NotCountedKey<'a> {
    fn of(n: &'a NotCounted) -> NotCountedKey<'a> {
        match n {
            NotCounted::UnknownUser => NotCountedKey::UnknownUser,
            NotCounted::NotAnApprover => NotCountedKey::NotAnApprover,
            NotCounted::NotInGroups { groups } => NotCountedKey::NotInGroups { groups },
            NotCounted::Author => NotCountedKey::Author,
            NotCounted::Voided { approved } => NotCountedKey::Voided { approved },
            NotCounted::Duplicate => NotCountedKey::Duplicate,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WindowKey<'a> {
    open: bool,
    reason: &'a str,
    until: Option<&'a str>,
    next_open: Option<&'a str>,
}

impl<'a> WindowKey<'a> {
    fn of(w: &'a WindowInput) -> WindowKey<'a> {
        WindowKey { open: w.open, reason: &w.reason, until: w.until.as_deref(), next_open: w.next_open.as_deref() }
    }
}

/// As [`PromotedInput`] was serialized: variant names in camelCase, field names as written.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "names")]
enum PromotedKey<'a> {
    Nothing,
    This { content_digest: Option<&'a str>, decision: Option<&'a str> },
    Other { release: &'a str, by_tollgate: bool },
}

impl<'a> PromotedKey<'a> {
    fn of(p: &'a PromotedInput) -> PromotedKey<'a> {
        match p {
            PromotedInput::Nothing => PromotedKey::Nothing,
            PromotedInput::This { content_digest, decision } => {
                PromotedKey::This { content_digest: content_digest.as_deref(), decision: decision.as_deref() }
            }
            PromotedInput::Other { release, by_tollgate } => PromotedKey::Other { release, by_tollgate: *by_tollgate },
        }
    }
}

#[derive(Debug, Serialize)]
struct PullRequestKey<'a> {
    #[serde(serialize_with = "safe_u64")]
    number: u64,
    url: &'a str,
}

impl<'a> PullRequestKey<'a> {
    fn of(pr: &'a PullRequestInput) -> PullRequestKey<'a> {
        PullRequestKey { number: pr.number, url: &pr.url }
    }
}

/// A number when a double holds it exactly, else its decimal digits as a string, as RFC 7493
/// (I-JSON) asks of integers beyond ±2^53; no counter gets there, but a key never fails.
fn safe_u64<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    const MAX_SAFE: u64 = 1 << 53;
    if *n <= MAX_SAFE { s.serialize_u64(*n) } else { s.serialize_str(&n.to_string()) }
}
