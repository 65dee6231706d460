use std::path::Path;

use super::{EvalError, EvalRequest, Predictions, evaluate, render_text};

fn request(data: &Path, predictions: Predictions, sensitive: &[&str]) -> EvalRequest {
    EvalRequest {
        data: data.to_owned(),
        format: None,
        label: "y".into(),
        predictions,
        sensitive: sensitive.iter().map(|s| (*s).to_owned()).collect(),
        weight: None,
        baseline: None,
        expected_sha256: None,
        ece_bins: 10,
        batch_rows: 2,
    }
}

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("d.csv");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn threshold_turns_scores_into_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "y,s,g\n1,0.9,a\n0,0.6,a\n1,0.4,b\n0,0.1,b\n");
    let r = evaluate(&request(&p, Predictions::Threshold { score: "s".into(), threshold: 0.5 }, &["g"])).unwrap();
    assert_eq!(r.overall["accuracy"], 0.5);
    assert_eq!(r.overall["roc_auc"], 0.75);
    assert_eq!(r.fairness.len(), 1);
    assert_eq!(r.fairness[0].between_groups.demographic_parity_difference, 1.0);
    assert_eq!(r.dataset.rows, 4);
}

#[test]
fn text_report_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "y,p,g,h\n1,1,a,x\n0,1,a,y\n1,0,b,x\n0,0,b,x\n1,1,b,y\n");
    let r = evaluate(&request(&p, Predictions::Column { prediction: "p".into(), score: None }, &["g", "h"])).unwrap();
    let text = render_text(&r);
    let text = text.replace(&p.display().to_string(), "d.csv");
    expect_test::expect![[r#"
        Dataset  d.csv (csv, 5 rows, sha256 83cf7ecb2749d319e6082a9fe425fe65c165179f4262dbc109ec92318b52e978)
        Columns  label `y`, prediction `p`, sensitive `g`, `h`

        Quality (all rows)
          accuracy             0.6000
          balanced accuracy    0.5833
          precision            0.6667
          recall               0.6667
          f1                   0.6667
          selection rate       0.6000
          true positive rate   0.6667
          false positive rate  0.5000
          false negative rate  0.3333
          true negative rate   0.5000

        Fairness by g
          group  rows  selected     TPR     FPR     FNR  accuracy  bal.acc  precision  recall      F1
          a         2    1.0000  1.0000  1.0000  0.0000    0.5000   0.5000     0.5000  1.0000  0.6667
          b         3    0.3333  0.5000  0.0000  0.5000    0.6667   0.7500     1.0000  0.5000  0.6667

          disparity                      between groups  to overall
          demographic parity difference          0.6667      0.4000
          demographic parity ratio               0.3333      0.5556
          equalized odds difference              1.0000      0.5000
          equalized odds ratio                   0.0000      0.0000
          equal opportunity difference           0.5000      0.3333
          equal opportunity ratio                0.5000      0.6667
          disparate impact                       0.3333      0.3333

        Fairness by h
          group  rows  selected     TPR     FPR     FNR  accuracy  bal.acc  precision  recall      F1
          x         3    0.3333  0.5000  0.0000  0.5000    0.6667   0.7500     1.0000  0.5000  0.6667
          y         2    1.0000  1.0000  1.0000  0.0000    0.5000   0.5000     0.5000  1.0000  0.6667

          disparity                      between groups  to overall
          demographic parity difference          0.6667      0.4000
          demographic parity ratio               0.3333      0.5556
          equalized odds difference              1.0000      0.5000
          equalized odds ratio                   0.0000      0.0000
          equal opportunity difference           0.5000      0.3333
          equal opportunity ratio                0.5000      0.6667
          disparate impact                       0.3333      0.3333

        Fairness by g × h
          group  rows  selected     TPR     FPR     FNR  accuracy  bal.acc  precision  recall      F1
          a, x      1    1.0000  1.0000  0.0000  0.0000    1.0000   1.0000     1.0000  1.0000  1.0000
          a, y      1    1.0000  0.0000  1.0000  0.0000    0.0000   0.0000     0.0000  0.0000  0.0000
          b, x      2    0.0000  0.0000  0.0000  1.0000    0.5000   0.5000     0.0000  0.0000  0.0000
          b, y      1    1.0000  1.0000  0.0000  0.0000    1.0000   1.0000     1.0000  1.0000  1.0000

          disparity                      between groups  to overall
          demographic parity difference          1.0000      0.6000
          demographic parity ratio               0.0000      0.0000
          equalized odds difference              1.0000      0.6667
          equalized odds ratio                   0.0000      0.0000
          equal opportunity difference           1.0000      0.6667
          equal opportunity ratio                0.0000      0.0000
          disparate impact                       0.0000      0.0000

        Notes
          - no score column: ROC AUC, average precision, log loss, Brier score and ECE need --score
          - NO BASELINE: nothing to compare with; maxRegression thresholds cannot be checked
    "#]]
    .assert_eq(&text);
}

#[test]
fn bad_label_names_file_line_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "y,p\n1,1\n2,0\n");
    let err = evaluate(&request(&p, Predictions::Column { prediction: "p".into(), score: None }, &[])).unwrap_err();
    assert!(matches!(err, EvalError::Value { line: 3, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.ends_with("d.csv:3: column `y`: expected 0 or 1, found `2`"), "{msg}");
    assert!(tollgate_error::Hint::hint(&err).is_some_and(|h| !h.is_empty()));
}

#[test]
fn null_sensitive_value_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "y,p,g\n1,1,a\n0,1,\n");
    let err = evaluate(&request(&p, Predictions::Column { prediction: "p".into(), score: None }, &["g"])).unwrap_err();
    assert!(err.to_string().contains("column `g`: expected a value"), "{err}");
}

#[test]
fn same_column_twice_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "y,p\n1,1\n");
    let err = evaluate(&request(&p, Predictions::Column { prediction: "y".into(), score: None }, &[])).unwrap_err();
    assert_eq!(err.to_string(), "column `y` is given as both label and prediction");
}

#[test]
fn baseline_is_computed_in_the_same_pass() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "y,s,b,g\n1,0.9,0.2,a\n0,0.6,0.1,a\n1,0.4,0.8,b\n0,0.1,0.3,b\n");
    let mut req = request(&p, Predictions::Threshold { score: "s".into(), threshold: 0.5 }, &["g"]);
    req.baseline = Some(Predictions::Threshold { score: "b".into(), threshold: 0.5 });
    let r = evaluate(&req).unwrap();
    let b = r.baseline.as_ref().unwrap();
    assert_eq!(r.overall["accuracy"], 0.5);
    assert_eq!(b.overall["accuracy"], 0.75);
    assert_eq!(b.overall["roc_auc"], 0.75);
    assert!(!r.notes.iter().any(|n| n.starts_with("NO BASELINE")));
    req.baseline = Some(Predictions::Threshold { score: "s".into(), threshold: 0.5 });
    assert!(matches!(evaluate(&req), Err(EvalError::SameColumn { .. })));
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[u8]] = &[
        b"",
        b"y,s,g\n",
        b"y,s,g\n1,0.5\n",
        b"y,s,g\n1,NaN,a\n",
        b"y,s,g\n1,inf,a\n",
        b"y,s,g\n1,1e400,a\n",
        b"y,s,g\n1,-0.5,a\n0,7,b\n",
        b"y,s,g\n\xff\xfe,0.5,a\n",
        b"\"y,s,g\n1,0.5,a\n",
        b"y,s,g,w\n1,0.5,a,-1\n",
        b"y,s,g\n-1,0.5,a\n",
        b"y,y,g\n1,1,a\n",
        b"\x00\x01\x02\x03",
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let p = dir.path().join(format!("c{i}.csv"));
        std::fs::write(&p, bytes).unwrap();
        let mut req = request(&p, Predictions::Threshold { score: "s".into(), threshold: 0.5 }, &["g"]);
        let _ = evaluate(&req);
        req.weight = Some("w".into());
        let _ = evaluate(&req);
        req.sensitive = vec![];
        req.predictions = Predictions::Column { prediction: "s".into(), score: None };
        let _ = evaluate(&req);
    }
    // Scores outside [0, 1] still give ranking metrics, and say why the others are missing.
    let p = dir.path().join("c6.csv");
    let r = evaluate(&request(&p, Predictions::Threshold { score: "s".into(), threshold: 0.5 }, &["g"])).unwrap();
    assert!(r.notes.iter().any(|n| n.contains("not probabilities")), "{:?}", r.notes);
}
