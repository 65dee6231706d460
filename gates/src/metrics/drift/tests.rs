use super::{ks_statistic, numeric_drift, sturges_edges, wasserstein_distance};

#[test]
fn scipy_wasserstein_examples() {
    // scipy.stats.wasserstein_distance docstring: [0, 1, 3] vs [5, 6, 8] is 5.0.
    assert_eq!(wasserstein_distance(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]), 5.0);
    assert_eq!(wasserstein_distance(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
}

#[test]
fn ks_statistic_handles_ties() {
    assert_eq!(ks_statistic(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 0.0);
    assert_eq!(ks_statistic(&[1.0, 1.0], &[2.0, 2.0]), 1.0);
    assert!((ks_statistic(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0]) - 0.25).abs() < 1e-15);
}

#[test]
fn sturges_matches_numpy() {
    // numpy.histogram_bin_edges(range(10), bins="sturges"): 5 bins of width 1.8.
    let v: Vec<f64> = (0..10).map(f64::from).collect();
    let e = sturges_edges(&v);
    assert_eq!(e.len(), 6);
    assert_eq!(e[5], 9.0);
    assert!((e[1] - 1.8).abs() < 1e-15);
}

#[test]
fn identical_samples_do_not_drift() {
    let v: Vec<f64> = (0..100).map(|i| f64::from(i) * 0.37).collect();
    let d = numeric_drift(&v, &v).unwrap();
    assert_eq!(d.population_stability_index, 0.0);
    assert_eq!(d.jensen_shannon_distance, 0.0);
    assert_eq!(d.ks_statistic, 0.0);
}

#[test]
fn empty_after_dropping_nan_is_an_error() {
    assert!(numeric_drift(&[f64::NAN], &[1.0]).is_err());
}

#[test]
fn ks_exact_pvalue_small_cases() {
    use super::ks_pvalue_exact;
    // scipy.stats.ks_2samp([1, 2, 3], [4, 5, 6]).pvalue == 0.1
    assert!((ks_pvalue_exact(3, 3, 1.0).unwrap() - 0.1).abs() < 1e-15);
    // scipy.stats.ks_2samp([1, 2, 3, 4], [5, 6]).pvalue == 2 / 15
    assert!((ks_pvalue_exact(4, 2, 1.0).unwrap() - 2.0 / 15.0).abs() < 1e-15);
    assert_eq!(ks_pvalue_exact(5, 7, 0.0), Some(1.0));
    assert_eq!(ks_pvalue_exact(10_001, 5, 0.5), None);
}

#[test]
fn extreme_ranges_do_not_panic() {
    let r: Vec<f64> = (0..30).map(|i| if i % 2 == 0 { -1e308 } else { 1e308 } * f64::from(i + 1) / 30.0).collect();
    assert!(numeric_drift(&r, &[0.0, 1e308]).is_ok());
}
