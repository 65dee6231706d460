//! The decision rules as a table: each row changes one thing about a release that would be
//! promoted, and the snapshot says the state and the first reason. The rows follow the rules'
//! order in the crate docs; a change to any rule shows up here as a diff a reviewer reads.

use expect_test::expect;
use serde_json::json;
use tollgate_decision::approvals::{Approval, ApprovalPolicy, ApprovalStatus, NotCounted};
use tollgate_decision::{DecisionInputs, FindingInput, GateInput, PromotedInput, PullRequestInput, WindowInput, decide};

/// A release into `prod` that holds everywhere: promoted to staging, no findings, gates pass,
/// one approval counted, the window open, nothing promoted in prod yet.
fn promotable() -> DecisionInputs {
    DecisionInputs {
        release: "income-v2".into(),
        environment: "prod".into(),
        commit: Some("abc".into()),
        policy_digest: Some("p".into()),
        content_digest: "c2".into(),
        model: json!({"name": "income", "version": "2"}),
        image: None,
        previous: Some(("staging".into(), true)),
        findings: vec![],
        gates: GateInput::Results { digest: "g".into(), required: vec![("quality".into(), Some(true))], failures: vec![] },
        approvals: ApprovalStatus {
            policy: ApprovalPolicy { required: 1, groups: vec![], separation_of_duties: true },
            counted: vec![approval("carol")],
            ignored: vec![],
            missing_groups: vec![],
            satisfied: true,
        },
        window: WindowInput { open: true, reason: "weekdays 09:00-17:00 Europe/Berlin".into(), until: None, next_open: None },
        promoted: PromotedInput::Nothing,
        promoted_before: false,
        superseded_by: None,
        now: "2026-12-04T10:00:00Z".into(),
        closed_pull_request: None,
    }
}

fn approval(user: &str) -> Approval {
    Approval {
        seq: 7,
        user: user.into(),
        content_digest: "c2".into(),
        at: "2026-12-04T09:00:00Z".into(),
        via: "cli".into(),
        team_groups: Vec::new(),
    }
}

fn finding(stage: &str, rule: &str) -> FindingInput {
    FindingInput { stage: stage.into(), rule: rule.into(), location: "releases/income-v2.yaml:7:5".into(), message: "a problem".into() }
}

type Change = fn(&mut DecisionInputs);

const ROWS: &[(&str, Change)] = &[
    ("nothing changed", |_| {}),
    ("Git names this content here", |i| i.promoted = PromotedInput::This { content_digest: Some("c2".into()), decision: None }),
    ("Git names this release with other content", |i| {
        i.promoted = PromotedInput::This { content_digest: Some("c1".into()), decision: None }
    }),
    ("a newer release of the model reached prod", |i| i.superseded_by = Some("income-v3".into())),
    ("promoted before, tollgate promoted another since", |i| {
        i.promoted_before = true;
        i.promoted = PromotedInput::Other { release: "income-v3".into(), by_tollgate: true };
    }),
    ("promoted before, a person put another back", |i| {
        i.promoted_before = true;
        i.promoted = PromotedInput::Other { release: "income-v1".into(), by_tollgate: false };
    }),
    ("promoted before, the promotion file is gone", |i| i.promoted_before = true),
    ("not yet promoted to staging", |i| i.previous = Some(("staging".into(), false))),
    ("not yet promoted to staging, and a schema error", |i| {
        i.previous = Some(("staging".into(), false));
        i.findings = vec![finding("schema", "schema/required")];
    }),
    ("a schema error", |i| i.findings = vec![finding("schema", "schema/required")]),
    ("a policy violation", |i| i.findings = vec![finding("policy", "tollgate.lib.release/owner")]),
    ("a broken reference", |i| i.findings = vec![finding("reference", "ref/model")]),
    ("gates could not be computed", |i| i.gates = GateInput::Unavailable { reason: "no evaluation dataset".into() }),
    ("a required gate category fails", |i| {
        i.gates = GateInput::Results {
            digest: "g".into(),
            required: vec![("quality".into(), Some(false))],
            failures: vec!["roc_auc 0.71 < 0.80".into()],
        }
    }),
    ("a required gate category is not defined", |i| {
        i.gates = GateInput::Results { digest: "g".into(), required: vec![("fairness".into(), None)], failures: vec![] }
    }),
    ("gates fail and approvals are missing", |i| {
        i.gates = GateInput::Unavailable { reason: "model execution unavailable".into() };
        i.approvals.satisfied = false;
    }),
    ("no approval yet", |i| {
        i.approvals.counted.clear();
        i.approvals.satisfied = false;
    }),
    ("the author's own approval", |i| {
        i.approvals.counted.clear();
        i.approvals.ignored = vec![(approval("alice"), NotCounted::Author)];
        i.approvals.satisfied = false;
    }),
    ("approved, window closed", |i| {
        i.window = WindowInput {
            open: false,
            reason: "freeze `year-end`".into(),
            until: Some("2027-01-04T00:00:00Z".into()),
            next_open: Some("2027-01-04T08:00:00Z".into()),
        }
    }),
    ("approvals missing and window closed", |i| {
        i.approvals.counted.clear();
        i.approvals.satisfied = false;
        i.window.open = false;
    }),
    ("its pull request was closed without merging", |i| {
        i.closed_pull_request = Some(PullRequestInput { number: 42, url: "https://github.example/acme/config/pull/42".into() })
    }),
    ("no approvals required", |i| {
        i.approvals.policy.required = 0;
        i.approvals.counted.clear();
    }),
    ("replaces another release", |i| i.promoted = PromotedInput::Other { release: "income-v1".into(), by_tollgate: true }),
];

#[test]
fn each_input_change_gives_its_state_and_first_reason() {
    let mut out = String::new();
    for (name, change) in ROWS {
        let mut inputs = promotable();
        change(&mut inputs);
        let d = decide(&inputs);
        let first = d.reasons.first().map(|r| format!("{:?}: {}", r.kind, r.message)).unwrap_or_default();
        out.push_str(&format!("{name}\n    {} / {first}\n", d.state));
    }
    expect![[r#"
        nothing changed
            Promoting / Window: open: weekdays 09:00-17:00 Europe/Berlin
        Git names this content here
            Promoted / Promotion: deploy/prod names this release with this content
        Git names this release with other content
            Promoting / Window: open: weekdays 09:00-17:00 Europe/Berlin
        a newer release of the model reached prod
            Superseded / Promotion: `income-v3`, a newer release of the model, reached prod
        promoted before, tollgate promoted another since
            Superseded / Promotion: `income-v3` was promoted to prod after this release
        promoted before, a person put another back
            RolledBack / Promotion: the promotion to prod was reverted in Git (it now names `income-v1`); change the release to promote it again
        promoted before, the promotion file is gone
            RolledBack / Promotion: the promotion to prod was reverted in Git; change the release to promote it again
        not yet promoted to staging
            Pending / Order: waiting for this release to be promoted to staging first
        not yet promoted to staging, and a schema error
            Pending / Order: waiting for this release to be promoted to staging first
        a schema error
            Blocked / Schema: releases/income-v2.yaml:7:5: a problem [schema/required]
        a policy violation
            Blocked / Policy: releases/income-v2.yaml:7:5: a problem [tollgate.lib.release/owner]
        a broken reference
            Blocked / Reference: releases/income-v2.yaml:7:5: a problem [ref/model]
        gates could not be computed
            Blocked / Gate: gates could not be computed: no evaluation dataset
        a required gate category fails
            Blocked / Gate: quality gates fail
        a required gate category is not defined
            Blocked / Gate: prod requires fairness gates and the release defines none
        gates fail and approvals are missing
            Blocked / Gate: gates could not be computed: model execution unavailable
        no approval yet
            AwaitingApproval / Approval: approvals: 0 of 1 needed
        the author's own approval
            AwaitingApproval / Approval: approvals: 0 of 1 needed; alice does not count: authored the change (separation of duties)
        approved, window closed
            AwaitingWindow / Window: closed: freeze `year-end`; next opening 2027-01-04T08:00:00Z
        approvals missing and window closed
            AwaitingApproval / Approval: approvals: 0 of 1 needed
        its pull request was closed without merging
            Blocked / Promotion: pull request #42 (https://github.example/acme/config/pull/42) proposing this promotion was closed without merging; reopen it, or change the release to propose it again
        no approvals required
            Promoting / Window: open: weekdays 09:00-17:00 Europe/Berlin
        replaces another release
            Promoting / Window: open: weekdays 09:00-17:00 Europe/Berlin
    "#]].assert_eq(&out);
}
