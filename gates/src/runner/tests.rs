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
    assert!(err.to_string().starts_with("line 3: model input `a` is ``, expected a number\nhint: "), "{err}");
}

#[cfg(feature = "torch")]
mod torch {
    use std::path::Path;

    use tch::{CModule, Tensor};

    use super::{batch, inputs};
    use crate::runner::{Device, OutputKind, RunnerError, Signature, TorchModel, load_scorer};

    /// Traces `x @ w + b` (then `head`) into a real TorchScript file with libtorch.
    fn trace(path: &Path, head: fn(Tensor) -> Tensor) {
        let w = Tensor::from_slice(&[0.5f32, -1.0, 2.0]).view([3, 1]);
        let b = Tensor::from_slice(&[0.1f32]);
        let example = Tensor::zeros([4, 3], (tch::Kind::Float, tch::Device::Cpu));
        let mut f = move |xs: &[Tensor]| vec![head(xs[0].matmul(&w) + &b)];
        let module = CModule::create_by_tracing("linear", "forward", &[example], &mut f).unwrap();
        module.save(path).unwrap();
    }

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn a_traced_model_scores_a_batch_like_the_formula() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.pt");
        trace(&path, |y| y.sigmoid());
        let (digest, _) = crate::dataset::sha256_file(&path).unwrap();
        let signature = Signature { inputs: inputs(), output: OutputKind::Probability, threshold: 0.5 };
        let mut scorer = load_scorer(&path, crate::runner::ArtifactFormat::TorchScript, &digest, &signature, Device::Cpu).unwrap();
        assert_eq!(scorer.device(), "cpu");
        let scores = scorer.score_batch(&batch(), &[0, 1]).unwrap();
        for (got, logit) in scores.iter().zip([0.5 - 1.0 + 0.1, 1.0 + 2.0 + 0.1, 1.5 + 0.1]) {
            assert!((got - sigmoid(logit)).abs() < 1e-6, "{scores:?}");
        }
        assert_eq!(scorer.totals().0, 3);
        assert!(crate::runner::libtorch_version().unwrap().starts_with("2.13.0"));
    }

    #[test]
    fn two_class_outputs_give_the_positive_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.pt");
        trace(&path, |y| Tensor::cat(&[-y.sigmoid() + 1.0, y.sigmoid()], 1));
        let model = TorchModel::load(&path, Device::Cpu).unwrap();
        let out = model.forward(&[1.0, 1.0, 0.0], 1, 3).unwrap();
        assert!((out[0] - sigmoid(-0.4)).abs() < 1e-6, "{out:?}");
        // Too few inputs: an error that says what the model takes, not a panic.
        let err = model.forward(&[1.0, 1.0], 1, 2).unwrap_err();
        assert!(matches!(err, RunnerError::Forward { .. }), "{err}");
    }

    #[test]
    fn a_logit_declared_as_a_probability_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.pt");
        trace(&path, |y| y);
        let (digest, _) = crate::dataset::sha256_file(&path).unwrap();
        let signature = Signature { inputs: inputs(), output: OutputKind::Probability, threshold: 0.5 };
        let mut scorer = load_scorer(&path, crate::runner::ArtifactFormat::TorchScript, &digest, &signature, Device::Cpu).unwrap();
        let err = scorer.score_batch(&batch(), &[0, 1]).unwrap_err();
        assert!(err.to_string().contains("returned -0.4") && err.to_string().contains("at line 2"), "{err}");
        let score = Signature { output: OutputKind::Score, ..signature };
        let mut scorer = load_scorer(&path, crate::runner::ArtifactFormat::TorchScript, &digest, &score, Device::Cpu).unwrap();
        assert!(scorer.score_batch(&batch(), &[0, 1]).is_ok());
    }

    #[test]
    fn cuda_without_a_gpu_is_an_error_and_auto_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.pt");
        trace(&path, |y| y.sigmoid());
        if tch::Cuda::is_available() {
            assert!(TorchModel::load(&path, Device::Cuda).unwrap().device().starts_with("cuda"));
        } else {
            assert!(matches!(TorchModel::load(&path, Device::Cuda).unwrap_err(), RunnerError::NoCuda));
            assert_eq!(TorchModel::load(&path, Device::Auto).unwrap().device(), "cpu");
        }
    }

    #[test]
    fn a_file_that_is_not_torchscript_is_a_load_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.pt");
        std::fs::write(&path, b"placeholder").unwrap();
        let err = TorchModel::load(&path, Device::Cpu).unwrap_err();
        assert!(err.to_string().starts_with("failed to load"), "{err}");
        // libtorch's own message, without the C++ stack trace it appends.
        let cause = std::error::Error::source(&err).unwrap().to_string();
        // libtorch's wording varies by build ("failed finding central directory", "not a ZIP
        // archive"); both name the zip container a TorchScript file is.
        assert!(cause.to_lowercase().contains("zip") || cause.contains("central directory"), "{cause}");
        assert!(!cause.contains("frame #"), "{cause}");
    }
}
