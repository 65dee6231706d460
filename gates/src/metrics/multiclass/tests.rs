use super::{Average, MulticlassConfusion};

#[test]
fn sklearn_doc_example() {
    // precision_recall_fscore_support docstring: y_true cat/dog/pig -> 0/1/2.
    let y = [0, 1, 2, 0, 1, 2];
    let p = [0, 2, 1, 0, 0, 1];
    let m = MulticlassConfusion::from_columns(3, &y, &p, None).unwrap();
    let (pm, rm, fm) = m.precision_recall_f1(Average::Macro);
    assert!((pm - 0.2222222222222222).abs() < 1e-15);
    assert!((rm - 0.3333333333333333).abs() < 1e-15);
    assert!((fm - 0.26666666666666666).abs() < 1e-15);
    let (pi, ri, fi) = m.precision_recall_f1(Average::Micro);
    assert!((pi - 1.0 / 3.0).abs() < 1e-15 && (ri - 1.0 / 3.0).abs() < 1e-15 && (fi - 1.0 / 3.0).abs() < 1e-15);
    let (pw, rw, fw) = m.precision_recall_f1(Average::Weighted);
    assert!((pw - 0.2222222222222222).abs() < 1e-15);
    assert!((rw - 0.3333333333333333).abs() < 1e-15);
    assert!((fw - 0.26666666666666666).abs() < 1e-15);
}

#[test]
fn class_out_of_range_is_an_error() {
    assert!(MulticlassConfusion::from_columns(2, &[0, 2], &[0, 1], None).is_err());
}
