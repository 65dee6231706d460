use super::{Direction, GateSpec, Outcome, Threshold, check, check_data, check_eval};

fn t(json: &str) -> Threshold {
    serde_json::from_str(json).unwrap()
}

#[test]
fn min_max_and_regression() {
    let th = t(r#"{"metric": "roc_auc", "min": 0.8, "maxRegression": 0.01}"#);
    assert_eq!(check(&th, Some(0.85), Some(Some(0.855)), Direction::HigherIsBetter).outcome, Outcome::Pass);
    let r = check(&th, Some(0.85), Some(Some(0.87)), Direction::HigherIsBetter);
    assert!(matches!(&r.outcome, Outcome::Fail { reasons } if reasons[0].contains("regressed by 0.020000")));
    let r = check(&th, Some(0.75), Some(Some(0.75)), Direction::HigherIsBetter);
    assert!(matches!(&r.outcome, Outcome::Fail { reasons } if reasons[0].contains("< min")));
    // For a loss, going up is the regression.
    let loss = t(r#"{"metric": "log_loss", "maxRegression": 0.05}"#);
    assert!(matches!(check(&loss, Some(0.5), Some(Some(0.4)), Direction::LowerIsBetter).outcome, Outcome::Fail { .. }));
}

#[test]
fn missing_or_nan_metric_fails_cleanly() {
    let th = t(r#"{"metric": "roc_auc", "min": 0.8}"#);
    let r = check(&th, None, None, Direction::HigherIsBetter);
    assert_eq!(r.outcome, Outcome::Fail { reasons: vec!["metric `roc_auc` was not computed".into()] });
    let r = check(&th, Some(f64::NAN), None, Direction::HigherIsBetter);
    assert!(matches!(r.outcome, Outcome::Fail { .. }));
}

#[test]
fn no_baseline_is_said_loudly() {
    let th = t(r#"{"metric": "f1", "maxRegression": 0.02}"#);
    let r = check(&th, Some(0.9), None, Direction::HigherIsBetter);
    assert!(matches!(&r.outcome, Outcome::NotEvaluated { reasons } if reasons[0].starts_with("NO BASELINE")));
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
    let other: GateSpec = serde_json::from_str(r#"{"evaluation": "churn-eval", "baseline": "m@3"}"#).unwrap();
    assert_ne!(spec.digest(), other.digest());
    assert!(serde_json::from_str::<GateSpec>(r#"{"qualty": []}"#).is_err());
}

#[test]
fn check_eval_reads_quality_and_fairness_values() {
    use crate::eval::{EvalRequest, Predictions, evaluate};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.csv");
    std::fs::write(&p, "y,s,b,g\n1,0.9,0.2,a\n0,0.6,0.1,a\n1,0.4,0.8,b\n0,0.1,0.3,b\n").unwrap();
    let mut req = EvalRequest {
        data: p,
        format: None,
        label: "y".into(),
        predictions: Predictions::Threshold { score: "s".into(), threshold: 0.5 },
        sensitive: vec!["g".into()],
        weight: None,
        baseline: None,
        expected_sha256: None,
        ece_bins: 10,
        batch_rows: 100,
    };
    let spec: GateSpec = serde_json::from_str(
        r#"{"quality": [{"metric": "accuracy", "min": 0.4, "maxRegression": 0.1}],
            "fairness": [{"metric": "demographic_parity_difference", "max": 0.5}]}"#,
    )
    .unwrap();
    let r = check_eval(&spec, &evaluate(&req).unwrap());
    // Demographic parity difference is 1.0 (group a all selected, b none).
    assert!(!r.passed);
    assert!(r.warnings[0].starts_with("NO BASELINE: 1 maxRegression"));
    assert!(matches!(r.results[0].outcome, Outcome::NotEvaluated { .. }));
    assert_eq!(r.results[1].value, Some(1.0));
    req.baseline = Some(Predictions::Threshold { score: "b".into(), threshold: 0.5 });
    let r = check_eval(&spec, &evaluate(&req).unwrap());
    // Accuracy went from 0.75 (baseline) to 0.5: a regression of 0.25 > 0.1.
    assert!(matches!(&r.results[0].outcome, Outcome::Fail { reasons } if reasons[0].contains("regressed by 0.250000")));
    assert!(r.warnings.is_empty());
}

#[test]
fn data_quality_and_drift_thresholds() {
    use crate::data_quality::DataQualityAccumulator;
    use crate::dataset::{Batch, Column, ColumnSpec, ColumnType};
    use crate::drift_files::DriftReport;
    use crate::metrics::{ColumnDrift, numeric_drift};

    let specs = [ColumnSpec::new("age", ColumnType::Integer)];
    let mut acc = DataQualityAccumulator::new(&specs);
    acc.push(&Batch { columns: vec![Column::Integer(vec![Some(1), None, Some(1), Some(4)])], rows: 4, first_row: 0, lines: vec![] });
    let dq = acc.finish(&["age".to_owned()], &specs);
    let drift =
        DriftReport { columns: vec![("age".into(), ColumnDrift::Numeric(numeric_drift(&[1.0, 2.0, 3.0], &[7.0, 8.0, 9.0]).unwrap()))] };
    let spec: GateSpec = serde_json::from_str(
        r#"{"dataQuality": [{"metric": "null_rate", "column": "age", "max": 0.3},
                            {"metric": "duplicate_rows", "max": 0},
                            {"metric": "rows", "min": 4},
                            {"metric": "nope", "max": 1}],
            "drift": [{"metric": "population_stability_index", "column": "age", "max": 0.1},
                      {"metric": "ks_pvalue", "column": "age", "min": 0.05}]}"#,
    )
    .unwrap();
    let r = check_data(&spec, Some(&dq), Some(&drift));
    assert_eq!(r[0].outcome, Outcome::Pass, "null rate 0.25");
    assert!(matches!(r[1].outcome, Outcome::Fail { .. }), "one duplicate");
    assert_eq!(r[2].outcome, Outcome::Pass);
    assert!(matches!(&r[3].outcome, Outcome::Fail { reasons } if reasons[0].contains("not computed")));
    assert!(matches!(r[4].outcome, Outcome::Fail { .. }), "disjoint samples drift");
    // scipy.stats.ks_2samp([1, 2, 3], [7, 8, 9]).pvalue == 0.1: not significant at 0.05.
    assert_eq!(r[5].outcome, Outcome::Pass);
}
