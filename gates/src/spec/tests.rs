use super::{Direction, GateSpec, Outcome, Threshold, check};

fn t(json: &str) -> Threshold {
    serde_json::from_str(json).unwrap()
}

#[test]
fn min_max_and_regression() {
    let th = t(r#"{"metric": "roc_auc", "min": 0.8, "maxRegression": 0.01}"#);
    assert_eq!(
        check(
            &th,
            Some(0.85),
            Some(Some(0.855)),
            Direction::HigherIsBetter
        )
        .outcome,
        Outcome::Pass
    );
    let r = check(&th, Some(0.85), Some(Some(0.87)), Direction::HigherIsBetter);
    assert!(
        matches!(&r.outcome, Outcome::Fail { reasons } if reasons[0].contains("regressed by 0.020000"))
    );
    let r = check(&th, Some(0.75), Some(Some(0.75)), Direction::HigherIsBetter);
    assert!(matches!(&r.outcome, Outcome::Fail { reasons } if reasons[0].contains("< min")));
    // For a loss, going up is the regression.
    let loss = t(r#"{"metric": "log_loss", "maxRegression": 0.05}"#);
    assert!(matches!(
        check(&loss, Some(0.5), Some(Some(0.4)), Direction::LowerIsBetter).outcome,
        Outcome::Fail { .. }
    ));
}

#[test]
fn missing_or_nan_metric_fails_cleanly() {
    let th = t(r#"{"metric": "roc_auc", "min": 0.8}"#);
    let r = check(&th, None, None, Direction::HigherIsBetter);
    assert_eq!(
        r.outcome,
        Outcome::Fail {
            reasons: vec!["metric `roc_auc` was not computed".into()]
        }
    );
    let r = check(&th, Some(f64::NAN), None, Direction::HigherIsBetter);
    assert!(matches!(r.outcome, Outcome::Fail { .. }));
}

#[test]
fn no_baseline_is_said_loudly() {
    let th = t(r#"{"metric": "f1", "maxRegression": 0.02}"#);
    let r = check(&th, Some(0.9), None, Direction::HigherIsBetter);
    assert!(
        matches!(&r.outcome, Outcome::NotEvaluated { reasons } if reasons[0].starts_with("NO BASELINE"))
    );
}

#[test]
fn spec_parses_and_digest_is_stable() {
    let spec: GateSpec = serde_json::from_str(
        r#"{"evaluation": "churn-eval", "baseline": "production",
            "quality": [{"metric": "roc_auc", "min": 0.8, "maxRegression": 0.01}],
            "fairness": [{"metric": "equalized_odds_difference", "max": 0.1, "sensitiveFeatures": ["sex"], "method": "between_groups"}]}"#,
    )
    .unwrap();
    assert_eq!(spec.digest(), spec.clone().digest());
    let other: GateSpec =
        serde_json::from_str(r#"{"evaluation": "churn-eval", "baseline": "m@3"}"#).unwrap();
    assert_ne!(spec.digest(), other.digest());
    assert!(serde_json::from_str::<GateSpec>(r#"{"qualty": []}"#).is_err());
}
