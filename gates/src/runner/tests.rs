use super::{RunnerError, Signature, verify_artifact};
use crate::dataset::sha256_file;

#[test]
fn digest_is_checked_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.pt");
    std::fs::write(&path, b"not really a model").unwrap();
    let (good, _) = sha256_file(&path).unwrap();
    assert_eq!(verify_artifact(&path, &good).unwrap(), good);
    let bad = "22".repeat(32).parse().unwrap();
    let err = verify_artifact(&path, &bad).unwrap_err();
    assert!(matches!(err, RunnerError::Artifact { .. }));
}

#[test]
fn signature_parses() {
    let s: Signature = serde_json::from_str(
        r#"{"inputs": [{"name": "age"}, {"name": "sex", "values": ["Female", "Male"]}], "output": "probability", "threshold": 0.5}"#,
    )
    .unwrap();
    assert_eq!(s.inputs.len(), 2);
    assert_eq!(s.width(), 3);
}

fn batch() -> crate::dataset::Batch {
    use crate::dataset::{Batch, Column};
    Batch {
        columns: vec![
            Column::Float(vec![Some(1.0), Some(2.0), Some(3.0)]),
            Column::String(vec![Some("x".into()), Some("y".into()), Some("z".into())]),
        ],
        rows: 3,
        first_row: 0,
        lines: vec![2, 3, 4],
    }
}

fn inputs() -> Vec<super::Input> {
    vec![super::Input::numeric("a"), super::Input { name: "c".into(), values: Some(vec!["x".into(), "y".into()]) }]
}

#[test]
fn inputs_encode_numbers_and_one_hot_categories() {
    let encoder = super::InputEncoder::new(&inputs());
    assert_eq!(encoder.width(), 3);
    let mut out = Vec::new();
    encoder.encode(&batch(), &[0, 1], &mut out).unwrap();
    // `z` is not a declared value: all zeros, as scikit-learn's handle_unknown="ignore".
    assert_eq!(out, [1.0, 1.0, 0.0, 2.0, 0.0, 1.0, 3.0, 0.0, 0.0]);
    let mut bad = batch();
    bad.columns[0] = crate::dataset::Column::Float(vec![Some(1.0), None, Some(3.0)]);
    let err = encoder.encode(&bad, &[0, 1], &mut out).unwrap_err();
    assert_eq!(err.to_string(), "line 3: model input `a` is ``, expected a number");
    assert!(tollgate_error::Hint::hint(&err).is_some_and(|h| h.starts_with("fill or drop rows")), "{err:?}");
}
