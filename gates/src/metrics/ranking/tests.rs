use super::{average_precision, roc_auc};

#[test]
fn sklearn_doc_example() {
    // From scikit-learn's `roc_auc_score` and `average_precision_score` docstrings.
    let y = [false, false, true, true];
    let s = [0.1, 0.4, 0.35, 0.8];
    assert!((roc_auc(&y, &s, None).unwrap() - 0.75).abs() < 1e-15);
    assert!((average_precision(&y, &s, None).unwrap() - 0.8333333333333333).abs() < 1e-15);
}

#[test]
fn ties_form_one_threshold() {
    let y = [false, true, false, true];
    let s = [0.5, 0.5, 0.5, 0.5];
    assert_eq!(roc_auc(&y, &s, None).unwrap(), 0.5);
    assert_eq!(average_precision(&y, &s, None).unwrap(), 0.5);
}

#[test]
fn one_class_is_nan_for_auc_and_zero_for_ap() {
    let y = [false, false];
    let s = [0.2, 0.3];
    assert!(roc_auc(&y, &s, None).unwrap().is_nan());
    assert_eq!(average_precision(&y, &s, None).unwrap(), 0.0);
}

#[test]
fn nan_score_is_an_error() {
    let err = roc_auc(&[true, false], &[f64::NAN, 0.1], None).unwrap_err();
    assert_eq!(err.to_string(), "column `score` holds a non-finite value at row 0");
}
