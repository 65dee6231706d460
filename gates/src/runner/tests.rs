use super::{ArtifactFormat, RunnerError, Signature, check_runnable, verify_artifact};
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
    if !super::CAN_RUN_MODELS {
        let err = check_runnable(&path, ArtifactFormat::TorchScript, &good).unwrap_err();
        assert!(err.to_string().contains("needs tollgate built with the `torch` feature"), "{err}");
    }
}

#[test]
fn signature_parses() {
    let s: Signature = serde_json::from_str(r#"{"inputs": ["age", "hours"], "output": "probability", "threshold": 0.5}"#).unwrap();
    assert_eq!(s.inputs.len(), 2);
}
