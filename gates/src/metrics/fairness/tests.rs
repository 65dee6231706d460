use super::{GroupedMetric, Method, python_max, python_min};

fn gm(overall: f64, by_group: &[f64]) -> GroupedMetric {
    GroupedMetric { overall, by_group: by_group.to_vec() }
}

#[test]
fn between_groups_skips_nan() {
    let m = gm(0.5, &[0.2, f64::NAN, 0.8]);
    assert!((m.difference(Method::BetweenGroups) - 0.6).abs() < 1e-15);
    assert!((m.ratio(Method::BetweenGroups) - 0.25).abs() < 1e-15);
}

#[test]
fn to_overall_inverts_ratios_above_one() {
    let m = gm(0.5, &[0.25, 1.0]);
    assert_eq!(m.difference(Method::ToOverall), 0.5);
    assert_eq!(m.ratio(Method::ToOverall), 0.5);
}

#[test]
fn zero_max_ratio_is_nan() {
    let m = gm(0.0, &[0.0, 0.0]);
    assert!(m.ratio(Method::BetweenGroups).is_nan());
    assert!(m.ratio(Method::ToOverall).is_nan());
    assert_eq!(m.difference(Method::BetweenGroups), 0.0);
}

#[test]
fn zero_overall_gives_zero_ratio_for_nonzero_groups() {
    // x / 0 is infinite, inverted to 0, as pandas and Fairlearn do.
    let m = gm(0.0, &[0.0, 0.5]);
    assert_eq!(m.ratio(Method::ToOverall), 0.0);
}

#[test]
fn python_max_keeps_first_nan() {
    assert!(python_max(f64::NAN, 1.0).is_nan());
    assert_eq!(python_max(1.0, f64::NAN), 1.0);
    assert!(python_min(f64::NAN, 1.0).is_nan());
    assert_eq!(python_min(1.0, f64::NAN), 1.0);
}
