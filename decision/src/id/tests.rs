use expect_test::expect;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::approvals::{Approval, NotCounted};
use crate::tests::inputs;
use crate::{FindingInput, GateInput, PromotedInput, PullRequestInput, decide};

/// How ids were derived before the key was explicit: the digest of every input but the clock
/// and the commit. Version 1 of the key must agree with it on what tollgate records.
fn digest_of_the_whole_inputs(inputs: &crate::DecisionInputs) -> String {
    let mut keyed = serde_json::to_value(inputs).expect("json");
    let o = keyed.as_object_mut().expect("object");
    o.remove("now");
    o.remove("commit");
    format!("dec-{}", &hex::encode(Sha256::digest(tollgate_audit::jcs::canonicalize(&keyed).expect("jcs")))[..20])
}

fn approval(seq: u64, user: &str) -> Approval {
    Approval {
        seq,
        user: user.into(),
        content_digest: "c1".into(),
        at: "2026-11-28T10:00:00Z".into(),
        via: "api".into(),
        team_groups: Vec::new(),
    }
}

#[test]
fn the_id_of_a_fixed_input_is_pinned() {
    // A change here changes every recorded decision's id: make a new key version instead.
    expect!["dec-7836d7c6e732638b056c"].assert_eq(&decide(&inputs()).id);
}

#[test]
fn ids_recorded_before_the_key_was_explicit_stay_valid() {
    let mut variants = vec![inputs()];
    let mut i = inputs();
    i.image = Some("registry.example/income@sha256:1".into());
    i.findings.push(FindingInput {
        stage: "policy".into(),
        rule: "tollgate.lib.release.image_pinned".into(),
        location: "releases/income-v2.yaml:7:5".into(),
        message: "the image is not pinned \"by digest\"\n".into(),
    });
    i.gates = GateInput::Results {
        digest: "g".into(),
        required: vec![("quality".into(), Some(false)), ("fairness".into(), None)],
        failures: vec!["roc_auc 0.7 < 0.85".into()],
    };
    i.approvals.counted.push(approval(12, "bob"));
    i.approvals.ignored.push((approval(13, "alice"), NotCounted::Author));
    i.approvals.ignored.push((approval(9, "carol"), NotCounted::Voided { approved: "c0".into() }));
    i.approvals.ignored.push((approval(14, "dave"), NotCounted::NotInGroups { groups: vec!["ml-leads".into()] }));
    i.approvals.missing_groups.push("risk".into());
    i.window.until = Some("2026-11-28T17:00:00Z".into());
    i.promoted = PromotedInput::This { content_digest: Some("c0".into()), decision: Some("dec-0".into()) };
    variants.push(i.clone());
    i.promoted = PromotedInput::Other { release: "income-v1".into(), by_tollgate: true };
    i.previous = None;
    i.gates = GateInput::Unavailable { reason: "no evaluation data".into() };
    i.superseded_by = Some("income-v3".into());
    i.closed_pull_request = Some(PullRequestInput { number: 7, url: "https://github.example/o/r/pull/7".into() });
    variants.push(i.clone());
    i.gates = GateInput::NotRequired;
    i.model = json!({"name": "income", "version": "2", "sha256": null});
    i.policy_digest = None;
    variants.push(i);
    for v in &variants {
        assert_eq!(decide(v).id, digest_of_the_whole_inputs(v), "{v:#?}");
    }
}

/// Regression (issue #11): the id was the digest of the whole inputs, so anything added to them
/// changed every id. A member added to the model input (here its artifact's URI) is not one of
/// the inputs that identify a decision.
#[test]
fn an_added_input_does_not_change_the_id() {
    let before = inputs();
    let mut after = before.clone();
    after.model["uri"] = json!("models/income-2.pt");
    after.model["card"] = json!({"owner": "ml-platform", "size": 9_007_199_254_740_993_u64});
    assert_eq!(decide(&after).id, decide(&before).id);
    // What does identify it still counts.
    after.model["sha256"] = json!("ab");
    assert_ne!(decide(&after).id, decide(&before).id);
}

#[test]
fn numbers_beyond_what_a_double_holds_still_make_an_id() {
    let mut i = inputs();
    i.approvals.counted.push(approval(u64::MAX, "bob"));
    let id = decide(&i).id;
    assert!(id.starts_with("dec-") && id.len() == 24, "{id}");
    i.approvals.counted[0].seq = u64::MAX - 1;
    assert_ne!(decide(&i).id, id);
}
