//! Decisions: for each (release, environment), what tollgate does about it and why.
//!
//! **Architecture Invariant:** [`decide`] does no IO. It takes every input (the commit, the
//! specs' findings, the policy bundle digest, gate results, approvals, the window state at the
//! clock's instant, and what Git and the store say was promoted) and returns a [`Decision`]. The
//! reconciler gathers the inputs and acts on the result; `tollgate explain` prints both.
//!
//! The rules, in order (the first that applies wins):
//! 1. Git's `deploy/<env>/<model>.yaml` names this release with this content → `Promoted`.
//! 2. This content was promoted here before and Git now names something else: when a later
//!    tollgate promotion replaced it → `Superseded`; when anything else did (a revert, a hand
//!    edit) → `RolledBack`. Neither is promoted again until the release's content changes.
//!    A newer release of the same model that is or was promoted here supersedes it too.
//! 3. The environment promotes from another, and this content is not promoted there → `Pending`.
//! 4. Schema, reference or policy errors on the release or what it references → `Blocked`.
//! 5. Required gates that fail or could not be computed → `Blocked`.
//! 6. Approvals short of the environment's policy → `AwaitingApproval`.
//! 7. The environment's windows are closed (or a freeze holds) → `AwaitingWindow`.
//! 8. The pull request that proposed this content (`promotion.mode: pullRequest`) was closed
//!    without being merged → `Blocked`, until it is reopened or the release's content changes.
//! 9. Otherwise → `Promoting` (in `pullRequest` mode: until the pull request is merged and the
//!    promotion file lands on the environment's branch, when rule 1 makes it `Promoted`).

pub mod approvals;
mod id;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::approvals::ApprovalStatus;
use tollgate_spec::diag::Stage;

/// Where a (release, environment) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// Waiting for something upstream (the previous environment).
    Pending,
    /// A schema, reference, policy or gate problem stops it; the reasons say which.
    Blocked,
    /// Everything holds but the approvals.
    AwaitingApproval,
    /// Approved; waiting for a deploy window to open (or a freeze to end).
    AwaitingWindow,
    /// Being promoted: the promotion commit is being written (or its pull request awaits merge).
    Promoting,
    /// Git names this release in `deploy/<env>/<model>.yaml`.
    Promoted,
    /// A later promotion replaced it.
    Superseded,
    /// Its promotion was reverted in Git.
    RolledBack,
}

impl State {
    /// The name people and the audit trail see.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "Pending",
            State::Blocked => "Blocked",
            State::AwaitingApproval => "AwaitingApproval",
            State::AwaitingWindow => "AwaitingWindow",
            State::Promoting => "Promoting",
            State::Promoted => "Promoted",
            State::Superseded => "Superseded",
            State::RolledBack => "RolledBack",
        }
    }
}

/// The exit code of a command that reports decisions (`tollgate reconcile`, `status` and
/// `explain`), by the rule of `docs/design.md`: 1 when something is blocked or violated, that is
/// a decision is [`State::Blocked`] or [`State::RolledBack`], or a promotion that was decided
/// could not be carried out (`failed`: a push, a commit or a pull request failed); 0 otherwise.
/// Waiting (`Pending`, `AwaitingApproval`, `AwaitingWindow`), moving (`Promoting`) and done
/// (`Promoted`, `Superseded`) all hold. Input that could not be read is exit code 2, which the
/// caller reports before there are decisions.
pub fn exit_code(states: impl IntoIterator<Item = State>, failed: bool) -> u8 {
    let violated = states.into_iter().any(|s| matches!(s, State::Blocked | State::RolledBack));
    u8::from(violated || failed)
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reason is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasonKind {
    /// A file that could not be read (bad YAML, an unknown kind, a value tollgate cannot hold).
    Input,
    /// A JSON Schema violation.
    Schema,
    /// A broken reference.
    Reference,
    /// A policy violation.
    Policy,
    /// A gate.
    Gate,
    /// Approvals.
    Approval,
    /// Windows and freezes: closed, or written so that they cannot be evaluated.
    Window,
    /// The promotion order.
    Order,
    /// What Git and the store say was promoted.
    Promotion,
}

/// One reason for a decision, readable on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// What it is about.
    pub kind: ReasonKind,
    /// What holds or blocks, in a sentence.
    pub message: String,
}

impl ReasonKind {
    /// What a finding of `stage` is about.
    pub fn of_stage(stage: Stage) -> ReasonKind {
        match stage {
            Stage::Input => ReasonKind::Input,
            Stage::Schema => ReasonKind::Schema,
            Stage::Reference => ReasonKind::Reference,
            Stage::Policy => ReasonKind::Policy,
            Stage::Windows => ReasonKind::Window,
        }
    }
}

impl Reason {
    fn new(kind: ReasonKind, message: impl Into<String>) -> Reason {
        Reason { kind, message: message.into() }
    }
}

/// A finding that concerns the release (on itself or a document it references).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingInput {
    /// The check stage that found it: `input`, `schema`, `reference`, `windows` or `policy`
    /// ([`Stage::as_str`]).
    pub stage: String,
    /// Rule id.
    pub rule: String,
    /// `file:line:column`.
    pub location: String,
    /// The message.
    pub message: String,
}

/// The gate results that apply to this environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum GateInput {
    /// The environment requires no gates.
    NotRequired,
    /// They could not be computed (no evaluation data, model execution unavailable, …).
    Unavailable {
        /// Why.
        reason: String,
    },
    /// Computed.
    Results {
        /// Digest of the results (part of the content digest).
        digest: String,
        /// Each category the environment requires, and whether it passed (`None`: the release
        /// defines no such gates).
        required: Vec<(String, Option<bool>)>,
        /// One line per failing threshold.
        failures: Vec<String>,
    },
}

/// The environment's windows at the decision's instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowInput {
    /// Whether promotion may happen now.
    pub open: bool,
    /// Which window or freeze decides.
    pub reason: String,
    /// When the state changes, when known (RFC 3339).
    pub until: Option<String>,
    /// The next opening when closed (RFC 3339).
    pub next_open: Option<String>,
}

/// What `deploy/<env>/<model>.yaml` says at the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "names")]
pub enum PromotedInput {
    /// No promotion of this model in this environment.
    Nothing,
    /// This release.
    This {
        /// The content digest it was promoted with.
        content_digest: Option<String>,
        /// The decision recorded in it.
        decision: Option<String>,
    },
    /// Another release.
    Other {
        /// Which.
        release: String,
        /// Whether tollgate wrote it (a Promotion with a decision id), rather than a person.
        by_tollgate: bool,
    },
}

/// The decision's inputs, all of them. The decision id is the digest of those that identify
/// it, listed explicitly, so that a new input here changes no id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionInputs {
    /// Release name.
    pub release: String,
    /// Environment name.
    pub environment: String,
    /// The config repo commit.
    pub commit: Option<String>,
    /// Digest of the compiled policy bundle.
    pub policy_digest: Option<String>,
    /// The release's content digest: what approvals bind to.
    pub content_digest: String,
    /// Model name, version and artifact digest.
    pub model: Value,
    /// The serving image.
    pub image: Option<String>,
    /// The previous environment and whether this content is promoted there.
    pub previous: Option<(String, bool)>,
    /// Findings on the release or what it references.
    pub findings: Vec<FindingInput>,
    /// Gate results.
    pub gates: GateInput,
    /// Approvals, counted.
    pub approvals: ApprovalStatus,
    /// Windows at `now`.
    pub window: WindowInput,
    /// What Git says is promoted here.
    pub promoted: PromotedInput,
    /// Whether the store recorded a promotion of this content here before.
    pub promoted_before: bool,
    /// A newer release of the same model that is or was promoted here.
    pub superseded_by: Option<String>,
    /// The instant the decision is for (RFC 3339).
    pub now: String,
    /// The pull request that proposed this content here, when it was closed without being
    /// merged (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_pull_request: Option<PullRequestInput>,
}

/// A pull request that proposed a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestInput {
    /// Its number.
    pub number: u64,
    /// Its page.
    pub url: String,
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// `dec-` and 20 hex digits of the digest of the inputs that identify the decision: an
    /// explicit, versioned list of them, without the clock and the commit (see `id.rs`).
    pub id: String,
    /// Release name.
    pub release: String,
    /// Environment name.
    pub environment: String,
    /// The state.
    pub state: State,
    /// Why, most important first.
    pub reasons: Vec<Reason>,
    /// What approvals bind to.
    pub content_digest: String,
    /// Every input.
    pub inputs: DecisionInputs,
}

/// The content digest of a release: SHA-256 over the RFC 8785 canonical JSON of its spec, its
/// model version's artifact digest, its serving image and its gate results' digest. An approval
/// binds to it; any change to any of them voids the approval.
///
/// # Panics
///
/// When `release_spec` holds an integer beyond ±2^53, which RFC 8785 refuses: there is no
/// canonical form to hash, and any other would let two writings of one spec differ. The spec of
/// a loaded document never holds one: `tollgate_spec::load` refuses such documents with a
/// located finding (rule `integer-range`).
pub fn content_digest(release_spec: &Value, model_sha256: Option<&str>, image: Option<&str>, gates_digest: Option<&str>) -> String {
    let doc = json!({"release": release_spec, "modelSha256": model_sha256, "image": image, "gates": gates_digest});
    let bytes = tollgate_audit::jcs::canonicalize(&doc).expect("a loaded release spec holds no integer beyond ±2^53");
    hex::encode(Sha256::digest(bytes))
}

/// Decides. Pure: same inputs, same decision.
pub fn decide(inputs: &DecisionInputs) -> Decision {
    let (state, reasons) = state_and_reasons(inputs);
    Decision {
        id: id::decision_id(inputs),
        release: inputs.release.clone(),
        environment: inputs.environment.clone(),
        state,
        reasons,
        content_digest: inputs.content_digest.clone(),
        inputs: inputs.clone(),
    }
}

fn state_and_reasons(i: &DecisionInputs) -> (State, Vec<Reason>) {
    use ReasonKind as K;
    let env = &i.environment;
    match &i.promoted {
        PromotedInput::This { content_digest: Some(d), .. } if *d == i.content_digest => {
            return (State::Promoted, vec![Reason::new(K::Promotion, format!("deploy/{env} names this release with this content"))]);
        }
        _ if i.superseded_by.is_some() => {
            let newer = i.superseded_by.as_deref().unwrap_or_default();
            return (State::Superseded, vec![Reason::new(K::Promotion, format!("`{newer}`, a newer release of the model, reached {env}"))]);
        }
        PromotedInput::Other { release, by_tollgate, .. } if i.promoted_before => {
            return if *by_tollgate {
                (State::Superseded, vec![Reason::new(K::Promotion, format!("`{release}` was promoted to {env} after this release"))])
            } else {
                (
                    State::RolledBack,
                    vec![Reason::new(
                        K::Promotion,
                        format!(
                            "the promotion to {env} was reverted in Git (it now names `{release}`); change the release to promote it again"
                        ),
                    )],
                )
            };
        }
        PromotedInput::Nothing if i.promoted_before => {
            return (
                State::RolledBack,
                vec![Reason::new(
                    K::Promotion,
                    format!("the promotion to {env} was reverted in Git; change the release to promote it again"),
                )],
            );
        }
        _ => {}
    }
    if let Some((prev, promoted)) = &i.previous
        && !promoted
    {
        return (State::Pending, vec![Reason::new(K::Order, format!("waiting for this release to be promoted to {prev} first"))]);
    }
    let mut blocked: Vec<Reason> = i
        .findings
        .iter()
        .map(|f| {
            // A stage this build does not name can only come from input it could not read.
            let kind = Stage::from_name(&f.stage).map_or(K::Input, K::of_stage);
            Reason::new(kind, format!("{}: {} [{}]", f.location, f.message, f.rule))
        })
        .collect();
    match &i.gates {
        GateInput::NotRequired => {}
        GateInput::Unavailable { reason } => blocked.push(Reason::new(K::Gate, format!("gates could not be computed: {reason}"))),
        GateInput::Results { required, failures, .. } => {
            for (category, passed) in required {
                match passed {
                    None => blocked.push(Reason::new(K::Gate, format!("{env} requires {category} gates and the release defines none"))),
                    Some(false) => blocked.push(Reason::new(K::Gate, format!("{category} gates fail"))),
                    Some(true) => {}
                }
            }
            if required.iter().any(|(_, p)| *p == Some(false)) {
                blocked.extend(failures.iter().map(|f| Reason::new(K::Gate, f.clone())));
            }
        }
    }
    if !blocked.is_empty() {
        return (State::Blocked, blocked);
    }
    let mut held = Vec::new();
    if !i.approvals.satisfied {
        let mut msg = format!("approvals: {} needed", i.approvals.summary());
        for (a, why) in &i.approvals.ignored {
            msg.push_str(&format!("; {} does not count: {why}", a.user));
        }
        held.push(Reason::new(K::Approval, msg));
        return (State::AwaitingApproval, held);
    }
    if !i.window.open {
        let mut msg = format!("closed: {}", i.window.reason);
        if let Some(next) = &i.window.next_open {
            msg.push_str(&format!("; next opening {next}"));
        }
        return (State::AwaitingWindow, vec![Reason::new(K::Window, msg)]);
    }
    if let Some(pr) = &i.closed_pull_request {
        return (
            State::Blocked,
            vec![Reason::new(
                K::Promotion,
                format!(
                    "pull request #{} ({}) proposing this promotion was closed without merging; reopen it, or change the release to propose it again",
                    pr.number, pr.url
                ),
            )],
        );
    }
    let mut ok = vec![Reason::new(K::Window, format!("open: {}", i.window.reason))];
    if i.approvals.policy.required > 0 {
        ok.push(Reason::new(K::Approval, format!("approvals: {}", i.approvals.summary())));
    }
    if let PromotedInput::Other { release, .. } = &i.promoted {
        ok.push(Reason::new(K::Promotion, format!("replaces `{release}` in {env}")));
    }
    (State::Promoting, ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvals::{ApprovalPolicy, ApprovalStatus};

    pub(crate) fn inputs() -> DecisionInputs {
        DecisionInputs {
            release: "income-v2".into(),
            environment: "prod".into(),
            commit: Some("abc".into()),
            policy_digest: Some("p".into()),
            content_digest: "c1".into(),
            model: json!({"name": "income", "version": "2", "sha256": "aa"}),
            image: None,
            previous: Some(("staging".into(), true)),
            findings: vec![],
            gates: GateInput::Results { digest: "g".into(), required: vec![("quality".into(), Some(true))], failures: vec![] },
            approvals: ApprovalStatus {
                policy: ApprovalPolicy { required: 1, groups: vec![], separation_of_duties: true },
                counted: vec![],
                ignored: vec![],
                missing_groups: vec![],
                satisfied: true,
            },
            window: WindowInput { open: true, reason: "allow window".into(), until: None, next_open: None },
            promoted: PromotedInput::Nothing,
            promoted_before: false,
            superseded_by: None,
            now: "2026-11-28T10:00:00Z".into(),
            closed_pull_request: None,
        }
    }

    #[test]
    fn exit_codes_say_blocked_or_violated_and_nothing_else() {
        use State::*;
        let table = [
            (vec![], false, 0),
            (vec![Pending, AwaitingApproval, AwaitingWindow, Promoting, Promoted, Superseded], false, 0),
            (vec![Promoted, Blocked], false, 1),
            (vec![RolledBack], false, 1),
            (vec![Promoting], true, 1),
            (vec![], true, 1),
        ];
        for (states, failed, want) in table {
            assert_eq!(exit_code(states.clone(), failed), want, "{states:?}, failed: {failed}");
        }
        // One decision (`explain`) follows the same rule as many (`status`, `reconcile`).
        for s in [Pending, Blocked, AwaitingApproval, AwaitingWindow, Promoting, Promoted, Superseded, RolledBack] {
            assert_eq!(exit_code([s], false), u8::from(matches!(s, Blocked | RolledBack)), "{s}");
        }
    }

    #[test]
    fn a_pull_request_closed_without_merging_blocks_until_reopened_or_changed() {
        let mut i = inputs();
        let open = decide(&i);
        i.closed_pull_request = Some(PullRequestInput { number: 7, url: "https://github.example/o/r/pull/7".into() });
        let d = decide(&i);
        assert_eq!(d.state, State::Blocked);
        assert_eq!(d.reasons[0].kind, ReasonKind::Promotion);
        assert!(d.reasons[0].message.contains("pull request #7"), "{:?}", d.reasons);
        assert_ne!(d.id, open.id, "closing the pull request is a new decision");
        // What came before still decides first.
        i.window.open = false;
        assert_eq!(decide(&i).state, State::AwaitingWindow);
        i.promoted = PromotedInput::This { content_digest: Some("c1".into()), decision: None };
        assert_eq!(decide(&i).state, State::Promoted, "merged meanwhile: Git decides");
    }

    #[test]
    fn each_rule_decides_in_order() {
        let base = inputs();
        assert_eq!(decide(&base).state, State::Promoting);

        let mut i = base.clone();
        i.window.open = false;
        assert_eq!(decide(&i).state, State::AwaitingWindow);
        i.approvals.satisfied = false;
        assert_eq!(decide(&i).state, State::AwaitingApproval, "approvals are asked for before the window");
        i.gates = GateInput::Results {
            digest: "g".into(),
            required: vec![("quality".into(), Some(false))],
            failures: vec!["roc_auc 0.7 < 0.85".into()],
        };
        let d = decide(&i);
        assert_eq!(d.state, State::Blocked);
        assert!(d.reasons.iter().any(|r| r.message.contains("roc_auc")), "{:?}", d.reasons);
        i.previous = Some(("staging".into(), false));
        assert_eq!(decide(&i).state, State::Pending);
        i.promoted = PromotedInput::This { content_digest: Some("c1".into()), decision: None };
        assert_eq!(decide(&i).state, State::Promoted);
    }

    /// Regression (issue #11): findings of the `input` and `windows` stages were reported as
    /// reference problems. Each stage is its own kind in every report: `explain` prints the kind,
    /// and status, explain, the API and the audit trail carry the reasons as this JSON.
    #[test]
    fn findings_block_with_the_kind_of_their_stage() {
        let mut i = inputs();
        let finding = |stage: &str, rule: &str, location: &str, message: &str| FindingInput {
            stage: stage.into(),
            rule: rule.into(),
            location: location.into(),
            message: message.into(),
        };
        i.findings = vec![
            finding("input", "kind", "models/income.yaml:9:1", "unknown kind `Modle`"),
            finding("schema", "schema", "releases/income-v2.yaml:4:3", "missing property `model`"),
            finding("reference", "ref-dataset", "releases/income-v2.yaml:12:17", "no dataset `income-eval`"),
            finding("windows", "window-schedule", "environments/prod.yaml:8:19", "`0 9 * * Mon-Fri` is not a schedule"),
            finding("policy", "image-digest", "releases/income-v2.yaml:6:12", "the image is not pinned by digest"),
        ];
        let d = decide(&i);
        assert_eq!(d.state, State::Blocked);
        let mut text = String::new();
        for r in &d.reasons {
            text.push_str(&format!("{} {}\n", serde_json::to_value(r.kind).unwrap(), r.message));
        }
        expect_test::expect![[r#"
            "input" models/income.yaml:9:1: unknown kind `Modle` [kind]
            "schema" releases/income-v2.yaml:4:3: missing property `model` [schema]
            "reference" releases/income-v2.yaml:12:17: no dataset `income-eval` [ref-dataset]
            "window" environments/prod.yaml:8:19: `0 9 * * Mon-Fri` is not a schedule [window-schedule]
            "policy" releases/income-v2.yaml:6:12: the image is not pinned by digest [image-digest]
        "#]]
        .assert_eq(&text);
        // Every stage has its own kind.
        let kinds: std::collections::HashSet<_> =
            Stage::ALL.into_iter().map(|s| serde_json::to_string(&ReasonKind::of_stage(s)).unwrap()).collect();
        assert_eq!(kinds.len(), Stage::ALL.len());
    }

    #[test]
    fn missing_or_unavailable_gates_block() {
        let mut i = inputs();
        i.gates = GateInput::Results { digest: "g".into(), required: vec![("fairness".into(), None)], failures: vec![] };
        let d = decide(&i);
        assert_eq!(d.state, State::Blocked);
        assert!(d.reasons[0].message.contains("requires fairness gates"));
        i.gates = GateInput::Unavailable { reason: "model execution needs the `torch` feature".into() };
        assert_eq!(decide(&i).state, State::Blocked);
    }

    #[test]
    fn reverted_and_replaced_promotions_are_not_redone() {
        let mut i = inputs();
        i.promoted_before = true;
        i.promoted = PromotedInput::Other { release: "income-v3".into(), by_tollgate: true };
        assert_eq!(decide(&i).state, State::Superseded);
        i.promoted = PromotedInput::Other { release: "income-v1".into(), by_tollgate: false };
        assert_eq!(decide(&i).state, State::RolledBack);
        i.promoted = PromotedInput::Nothing;
        assert_eq!(decide(&i).state, State::RolledBack);
        // A newer release of the model that reached the environment supersedes even what was
        // never promoted here, also after its own rollback.
        i.promoted_before = false;
        i.superseded_by = Some("income-v3".into());
        assert_eq!(decide(&i).state, State::Superseded);
        i.promoted = PromotedInput::Other { release: "income-v3".into(), by_tollgate: true };
        assert_eq!(decide(&i).state, State::Superseded);
        // An older one in place is replaced.
        i.superseded_by = None;
        i.promoted = PromotedInput::Other { release: "income-v1".into(), by_tollgate: true };
        assert_eq!(decide(&i).state, State::Promoting);
        // The same release with other content is a new candidate.
        i.promoted_before = false;
        i.promoted = PromotedInput::This { content_digest: Some("c0".into()), decision: None };
        assert_eq!(decide(&i).state, State::Promoting);
    }

    #[test]
    fn the_id_ignores_the_clock_and_commit_but_not_the_inputs() {
        let a = inputs();
        let mut b = a.clone();
        b.now = "2027-01-01T00:00:00Z".into();
        b.commit = Some("def".into());
        assert_eq!(decide(&a).id, decide(&b).id);
        b.approvals.satisfied = false;
        assert_ne!(decide(&a).id, decide(&b).id);
    }

    #[test]
    fn content_digest_changes_with_any_part() {
        let spec = json!({"model": {"name": "m", "version": "1"}});
        let d = content_digest(&spec, Some("aa"), Some("img@sha256:1"), Some("g1"));
        assert_eq!(d, content_digest(&spec, Some("aa"), Some("img@sha256:1"), Some("g1")));
        assert_ne!(d, content_digest(&spec, Some("ab"), Some("img@sha256:1"), Some("g1")));
        assert_ne!(d, content_digest(&spec, Some("aa"), Some("img@sha256:2"), Some("g1")));
        assert_ne!(d, content_digest(&spec, Some("aa"), Some("img@sha256:1"), Some("g2")));
        assert_ne!(d, content_digest(&json!({"model": {"name": "m", "version": "2"}}), Some("aa"), Some("img@sha256:1"), Some("g1")));
    }
}
