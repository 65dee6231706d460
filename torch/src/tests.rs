use std::path::Path;

use tch::{CModule, Tensor};
use tollgate_gates::dataset::{Batch, Column, sha256_file};
use tollgate_gates::runner::{ArtifactFormat, Device, Input, OutputKind, RunnerError, Signature};

use super::{TorchModel, libtorch_version, load_scorer};

/// A batch of `rows` (a numeric input `a`, a category input `c`), read from the data file's
/// lines 2, 3, …; a category that is not one of `c`'s values encodes as all zeros.
fn batch(rows: &[(f64, &str)]) -> Batch {
    let a = rows.iter().map(|(a, _)| Some(*a)).collect();
    let c = rows.iter().map(|(_, c)| Some((*c).to_owned())).collect();
    Batch { columns: vec![Column::Float(a), Column::String(c)], rows: rows.len(), first_row: 0, lines: (2..).take(rows.len()).collect() }
}

/// Rows whose logits under `trace`'s weights are 0.5 - 1 + 0.1, 1 + 2 + 0.1 and 1.5 + 0.1.
const ROWS: [(f64, &str); 3] = [(1.0, "x"), (2.0, "y"), (3.0, "z")];

fn inputs() -> Vec<Input> {
    vec![Input::numeric("a"), Input { name: "c".into(), values: Some(vec!["x".into(), "y".into()]) }]
}

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
    let (digest, _) = sha256_file(&path).unwrap();
    let signature = Signature { inputs: inputs(), output: OutputKind::Probability, threshold: 0.5 };
    let mut scorer = load_scorer(&path, ArtifactFormat::TorchScript, &digest, &signature, Device::Cpu).unwrap();
    assert_eq!(scorer.device(), "cpu");
    let scores = scorer.score_batch(&batch(&ROWS), &[0, 1]).unwrap();
    for (got, logit) in scores.iter().zip([0.5 - 1.0 + 0.1, 1.0 + 2.0 + 0.1, 1.5 + 0.1]) {
        assert!((got - sigmoid(logit)).abs() < 1e-6, "{scores:?}");
    }
    assert_eq!(scorer.totals().0, 3);
    assert!(libtorch_version().starts_with("2.13.0"), "{}", libtorch_version());
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
    let (digest, _) = sha256_file(&path).unwrap();
    let signature = Signature { inputs: inputs(), output: OutputKind::Probability, threshold: 0.5 };
    let mut scorer = load_scorer(&path, ArtifactFormat::TorchScript, &digest, &signature, Device::Cpu).unwrap();
    let err = scorer.score_batch(&batch(&ROWS), &[0, 1]).unwrap_err();
    assert!(err.to_string().contains("returned -0.4") && err.to_string().contains("at line 2"), "{err}");
    let score = Signature { output: OutputKind::Score, ..signature };
    let mut scorer = load_scorer(&path, ArtifactFormat::TorchScript, &digest, &score, Device::Cpu).unwrap();
    assert!(scorer.score_batch(&batch(&ROWS), &[0, 1]).is_ok());
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
