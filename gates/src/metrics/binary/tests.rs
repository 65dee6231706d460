use super::Confusion;

fn confusion(rows: &[(bool, bool, f64)]) -> Confusion {
    let mut c = Confusion::default();
    for &(y, p, w) in rows {
        c.add(y, p, w);
    }
    c
}

#[test]
fn counts_and_rates() {
    // tp=2, fp=1, tn=3, fn=1.
    let c = confusion(&[
        (true, true, 1.0),
        (true, true, 1.0),
        (false, true, 1.0),
        (false, false, 1.0),
        (false, false, 1.0),
        (false, false, 1.0),
        (true, false, 1.0),
    ]);
    assert_eq!(c.rows(), 7);
    assert_eq!(c.accuracy(), 5.0 / 7.0);
    assert_eq!(c.precision(), 2.0 / 3.0);
    assert_eq!(c.recall(), 2.0 / 3.0);
    assert_eq!(c.f1(), 4.0 / 6.0);
    assert_eq!(c.selection_rate(), 3.0 / 7.0);
    assert_eq!(c.false_positive_rate(), 0.25);
    assert_eq!(c.balanced_accuracy(), (2.0 / 3.0 + 0.75) / 2.0);
}

#[test]
fn no_positives_gives_zero_rates_not_nan() {
    let c = confusion(&[(false, true, 1.0), (false, false, 2.0)]);
    assert_eq!(c.true_positive_rate(), 0.0);
    assert_eq!(c.false_negative_rate(), 0.0);
    assert_eq!(c.recall(), 0.0);
    assert_eq!(c.precision(), 0.0);
    assert_eq!(c.f1(), 0.0);
    // Only the negative class is present, so balanced accuracy is its recall alone.
    assert_eq!(c.balanced_accuracy(), 2.0 / 3.0);
}

#[test]
fn empty_group_is_nan() {
    let c = Confusion::default();
    assert!(c.accuracy().is_nan());
    assert!(c.selection_rate().is_nan());
    assert!(c.balanced_accuracy().is_nan());
}

#[test]
fn weights_scale_cells() {
    let c = confusion(&[(true, true, 0.5), (false, true, 1.5)]);
    assert_eq!(c.precision(), 0.25);
    assert_eq!(c.selection_rate(), 1.0);
    assert_eq!(c.rows(), 2);
}
