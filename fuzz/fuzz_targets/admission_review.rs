//! What `POST /admission` will read from the API server: `parse_review` and the decision never
//! panic on any body; every body is answered with an `AdmissionReview` that serializes, echoing
//! the request's uid when it could be read, and refusing when it could not; and what
//! `parse_review` reads in one pass is what kube-core's own `Deserialize` reads.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate_admission::{AdmissionReview, Admitter, DynamicObject, Index, Mode, Promoted, parse_review};

const IMAGE: &str = "ghcr.io/acme/churn-serving@sha256:c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c";
const MODEL: &str = "9f576839c2400622bba9914ce792f70fe866cd9cf780eae2d183232443dd22c8";

fn admitter() -> &'static Admitter {
    static ADMITTER: OnceLock<Admitter> = OnceLock::new();
    ADMITTER.get_or_init(|| {
        let mut b = Index::builder();
        b.environment("prod", Mode::Enforce, ["ml-prod"]).expect("one environment");
        b.environment("staging", Mode::Warn, ["ml-staging"]).expect("another");
        let churn = Promoted { release: "churn-v7", image: IMAGE, model_sha256: Some(MODEL), model_uri: Some("s3://acme-models/churn/v7") };
        b.promoted("prod", churn).expect("pinned");
        b.promoted("staging", churn).expect("pinned");
        let admitter = Admitter::new();
        admitter.publish(b.build());
        admitter
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(ours) = parse_review(data) {
        let mut theirs: AdmissionReview<DynamicObject> = serde_json::from_slice(data).expect("kube-core reads what tollgate reads");
        if let Some(request) = theirs.request.as_mut() {
            request.types = theirs.types.clone();
        }
        theirs.response = None;
        assert_eq!(serde_json::to_value(&ours).expect("json"), serde_json::to_value(&theirs).expect("json"));
    }
    let answer = admitter().review(data, jiff::Timestamp::UNIX_EPOCH);
    serde_json::to_vec(&answer.review).expect("an answer serializes");
    let response = answer.review.response.as_ref().expect("an answer has a response");
    match &answer.verdict {
        Ok(verdict) => {
            assert_eq!(response.uid, verdict.uid);
            assert_eq!(response.allowed, verdict.allowed());
            serde_json::to_vec(verdict).expect("a verdict serializes");
        }
        Err(_) => assert!(!response.allowed),
    }
});
