use super::{BinaryAccumulator, BinaryMetric, GroupEncoder};
use crate::metrics::Method;

#[test]
fn intersections_cover_the_full_product() {
    let mut enc = GroupEncoder::new(vec!["sex".into(), "race".into()]).unwrap();
    let mut acc = BinaryAccumulator::new(true, 10);
    // (sex, race, label, prediction, score)
    let rows = [
        ("f", "b", true, true, 0.9),
        ("f", "b", false, true, 0.6),
        ("m", "a", true, false, 0.3),
        ("m", "a", false, false, 0.1),
        ("f", "a", true, true, 0.8),
    ];
    for (s, r, y, p, score) in rows {
        let g = enc.encode(&[s, r]);
        acc.push(g, y, p, score, 1.0);
    }
    let layouts = [enc.layout_all().unwrap(), enc.layout(&[1]).unwrap()];
    assert_eq!(layouts[0].groups.levels, vec![vec!["f", "m"], vec!["a", "b"]]);
    let reports = acc.finish(&layouts).unwrap();
    let report = &reports[0];
    // race alone: a has 3 rows (2 selected), b has 2 (both selected).
    assert_eq!(reports[1].metric(BinaryMetric::SelectionRate).by_group, [1.0 / 3.0, 1.0]);
    let sr = report.metric(BinaryMetric::SelectionRate);
    // Cells: (f,a) (f,b) (m,a) (m,b); (m,b) has no rows.
    assert_eq!(sr.by_group[..3], [1.0, 1.0, 0.0]);
    assert!(sr.by_group[3].is_nan());
    assert_eq!(report.by_group[3].rows, 0);
    assert_eq!(sr.overall, 0.6);
    assert_eq!(report.disparities(Method::BetweenGroups).demographic_parity_difference, 1.0);
    // Positives score 0.9, 0.8, 0.3 and negatives 0.6, 0.1: five of six pairs are ordered.
    assert!((report.overall.get(BinaryMetric::RocAuc) - 5.0 / 6.0).abs() < 1e-15);
    // A group with one class has no ROC AUC.
    assert!(report.by_group[0].get(BinaryMetric::RocAuc).is_nan());
}

#[test]
fn numeric_levels_sort_numerically() {
    let mut enc = GroupEncoder::new(vec!["age".into()]).unwrap();
    for v in ["10", "9", "100"] {
        enc.encode(&[v]);
    }
    let layout = enc.layout_all().unwrap();
    assert_eq!(layout.groups.levels, vec![vec!["9", "10", "100"]]);
}

#[test]
fn scores_outside_unit_interval_rule_out_probability_metrics() {
    let mut enc = GroupEncoder::new(vec![]).unwrap();
    let mut acc = BinaryAccumulator::new(true, 10);
    let g = enc.encode::<&str>(&[]);
    acc.push(g, true, true, 2.5, 1.0);
    acc.push(g, false, false, -1.0, 1.0);
    let report = acc.finish(&[enc.layout_all().unwrap()]).unwrap().remove(0);
    assert!(!report.available(BinaryMetric::LogLoss));
    assert!(report.available(BinaryMetric::RocAuc));
    assert_eq!(report.overall.get(BinaryMetric::RocAuc), 1.0);
}

#[test]
fn no_rows_is_an_error() {
    let enc = GroupEncoder::new(vec![]).unwrap();
    assert!(BinaryAccumulator::new(false, 10).finish(&[enc.layout_all().unwrap()]).is_err());
}

#[test]
fn too_many_features_is_an_error() {
    let names = (0..5).map(|i| format!("f{i}")).collect();
    assert!(GroupEncoder::new(names).is_err());
}

#[test]
fn group_weighing_nothing_is_nan() {
    let mut enc = GroupEncoder::new(vec!["g".into()]).unwrap();
    let mut acc = BinaryAccumulator::new(false, 10);
    let a = enc.encode(&["a"]);
    let b = enc.encode(&["b"]);
    acc.push(a, true, true, 0.0, 1.0);
    acc.push(b, true, false, 0.0, 0.0);
    let report = acc.finish(&[enc.layout_all().unwrap()]).unwrap().remove(0);
    assert_eq!(report.by_group[1].rows, 1);
    assert!(report.by_group[1].get(BinaryMetric::TruePositiveRate).is_nan());
    assert_eq!(report.overall.get(BinaryMetric::TruePositiveRate), 1.0);
}
