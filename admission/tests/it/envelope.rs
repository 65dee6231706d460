//! Reading the envelope: malformed bodies are refused with a clear error, and answered.

use super::*;

#[test]
fn a_review_without_its_uid_is_a_clear_error() {
    check_error(
        &fixture("malformed-review.json"),
        expect![[r#"
        cannot read the admission review: missing field `uid` at line 181 column 3
        hint: point only the API server's admission webhook at this endpoint"#]],
    );
    let answer = answer(Some(index(Mode::Enforce)), &fixture("malformed-review.json"));
    assert!(answer.verdict.is_err());
    expect![[r#"
        {
          "apiVersion": "admission.k8s.io/v1",
          "kind": "AdmissionReview",
          "response": {
            "uid": "",
            "allowed": false,
            "status": {
              "status": "Failure",
              "code": 400,
              "message": "cannot read the admission review: missing field `uid` at line 181 column 3",
              "reason": "InvalidRequest"
            }
          }
        }"#]]
    .assert_eq(&response_json(&answer));
}

#[test]
fn a_body_that_is_not_json() {
    check_error(
        b"{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": ",
        expect![[r#"
        cannot read the admission review: EOF while parsing a value at line 1 column 46
        hint: point only the API server's admission webhook at this endpoint"#]],
    );
}

#[test]
fn a_v1beta1_review_is_refused() {
    let body = edited("deployment.json", |v| v["apiVersion"] = "admission.k8s.io/v1beta1".into());
    check_error(
        &body,
        expect![[r#"
        admission review is `admission.k8s.io/v1beta1` `AdmissionReview`, not `admission.k8s.io/v1` `AdmissionReview`
        hint: set `admissionReviewVersions: [v1]` in the ValidatingWebhookConfiguration"#]],
    );
}

#[test]
fn a_review_without_a_request() {
    check_error(
        br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#,
        expect![[r#"
        admission review has no `request`
        hint: point only the API server's admission webhook at this endpoint"#]],
    );
}

#[test]
fn a_body_over_the_limit_is_not_parsed() {
    let body = vec![b' '; tollgate_admission::MAX_REVIEW_BYTES + 1];
    check_error(
        &body,
        expect![[r#"
        admission review of 4194305 bytes is over the limit of 4194304 bytes
        hint: -"#]],
    );
}

#[test]
fn every_fixture_parses_and_round_trips_its_uid() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && n != "malformed-review.json")
        .collect();
    names.sort();
    assert_eq!(names.len(), 17);
    for name in names {
        let review = parse_review(&fixture(&name)).unwrap_or_else(|e| panic!("{name}: {}", tollgate_error::chain(&e)));
        let uid = review.request.as_ref().unwrap().uid.clone();
        let answer = answer(Some(index(Mode::Enforce)), &fixture(&name));
        assert_eq!(answer.review.response.unwrap().uid, uid, "{name}");
    }
}
