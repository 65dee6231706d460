use super::regression_metrics;

#[test]
fn sklearn_doc_examples() {
    // mean_absolute_error / r2_score docstring data.
    let y = [3.0, -0.5, 2.0, 7.0];
    let p = [2.5, 0.0, 2.0, 8.0];
    let m = regression_metrics(&y, &p, None).unwrap();
    assert_eq!(m.mae, 0.5);
    assert!((m.rmse - 0.6123724356957945).abs() < 1e-15);
    assert!((m.r2 - 0.9486081370449679).abs() < 1e-15);
}

#[test]
fn constant_target_edge_cases() {
    assert_eq!(regression_metrics(&[1.0, 1.0], &[1.0, 1.0], None).unwrap().r2, 1.0);
    assert_eq!(regression_metrics(&[1.0, 1.0], &[1.0, 2.0], None).unwrap().r2, 0.0);
    assert!(regression_metrics(&[1.0], &[2.0], None).unwrap().r2.is_nan());
}

#[test]
fn empty_is_an_error() {
    assert!(regression_metrics(&[], &[], None).is_err());
}
