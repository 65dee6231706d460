//! Release gates on the example repo: bring-your-own predictions without libtorch, and (with
//! the `torch` feature) the example TorchScript models run by libtorch. Expected values were
//! computed by PyTorch 2.13.0 from the same files (see each test).

use std::path::{Path, PathBuf};

use super::{GateRunOptions, GatingError, ReleaseGates, render_text, run_release_gates};
use tollgate_error::chain as error_chain;
use tollgate_spec::repo::Source;
use tollgate_spec::{ConfigRepo, LoadOptions, load};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// A copy of the example repo that a test may change.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in walkdir::WalkDir::new(examples()) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(examples()).unwrap();
        let to = dir.path().join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    dir
}

fn load_repo(root: &Path) -> ConfigRepo {
    load(&Source::workdir(root).unwrap(), &LoadOptions::default()).unwrap()
}

fn options(root: &Path, cache: Option<&Path>) -> GateRunOptions {
    GateRunOptions {
        device: tollgate_gates::runner::Device::Cpu,
        cache_dir: cache.map(Path::to_owned),
        progress: false,
        root: Some(root.to_owned()),
    }
}

fn value(g: &ReleaseGates, category: &str, metric: &str) -> f64 {
    let c = g.categories.iter().find(|c| c.category == category).unwrap();
    c.results.iter().find(|r| r.threshold.metric == metric).unwrap().value.unwrap()
}

/// churn@3 declares its scores as a column of churn-eval: no model runs, so this passes in
/// every build. Values from the CSV: precision at 0.6 is 11/13, ROC AUC 0.963993..., and
/// seniors are selected at 2/9 against 11/51 for the others.
#[test]
fn bring_your_own_predictions_needs_no_libtorch() {
    let root = examples();
    let repo = load_repo(&root);
    let g = run_release_gates(&repo, "churn-v3", &options(&root, None)).unwrap();
    assert!(g.passed(), "{}", render_text(&g));
    assert_eq!(g.run.device, "none");
    assert_eq!(g.model.scored_by, "column churn_v3_score");
    assert_eq!(g.category_passed("quality"), Some(true));
    assert_eq!(g.category_passed("fairness"), Some(true));
    assert_eq!(g.category_passed("drift"), None);
    assert!((value(&g, "quality", "precision") - 11.0 / 13.0).abs() < 1e-12);
    assert!((value(&g, "quality", "roc_auc") - 0.963_993_453_355_155_4).abs() < 1e-9);
    let ratio = (11.0 / 51.0) / (2.0 / 9.0);
    assert!((value(&g, "fairness", "demographic_parity_ratio") - ratio).abs() < 1e-12);
    assert!(g.failures().is_empty());
    assert_eq!(g.digest, g.compute_digest().unwrap());
    assert_eq!(g.digest.len(), 64);
}

/// Regression (issue #11): results that RFC 8785 refuses (an integer beyond ±2^53) were hashed
/// as their non-canonical text instead; they are refused, so nothing binds to such a digest.
#[test]
fn results_that_cannot_be_canonicalized_have_no_digest() {
    let root = examples();
    let mut g = run_release_gates(&load_repo(&root), "churn-v3", &options(&root, None)).unwrap();
    g.run.rows = (1 << 53) + 1;
    let err = g.compute_digest().unwrap_err();
    assert!(matches!(&err, GatingError::Digest { release, .. } if release == "churn-v3"), "{err:?}");
    let chain = error_chain(&err);
    assert_eq!(
        chain,
        "gate results of release `churn-v3` for `staging` cannot be hashed: integer `9007199254740993` is outside ±2^53; encode it as a string"
    );
}

#[test]
fn results_are_cached_and_the_digest_does_not_depend_on_the_cache() {
    let root = examples();
    let repo = load_repo(&root);
    let cache = tempfile::tempdir().unwrap();
    let first = run_release_gates(&repo, "churn-v3", &options(&root, Some(cache.path()))).unwrap();
    assert!(!first.cache_hit);
    let second = run_release_gates(&repo, "churn-v3", &options(&root, Some(cache.path()))).unwrap();
    assert!(second.cache_hit);
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.categories, second.categories);
    // A tampered entry is not trusted: its digest no longer matches, so it is recomputed.
    let entry = std::fs::read_dir(cache.path()).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(&entry).unwrap().replace("\"passed\": true", "\"passed\": false");
    std::fs::write(&entry, text).unwrap();
    let third = run_release_gates(&repo, "churn-v3", &options(&root, Some(cache.path()))).unwrap();
    assert!(!third.cache_hit);
    assert!(third.passed());
}

#[test]
fn a_failing_threshold_is_a_result_with_a_reason() {
    let dir = scratch();
    let release = dir.path().join("releases/churn-v3.yaml");
    let text = std::fs::read_to_string(&release).unwrap().replace("{metric: precision, min: 0.5}", "{metric: precision, min: 0.9}");
    std::fs::write(&release, text).unwrap();
    let g = run_release_gates(&load_repo(dir.path()), "churn-v3", &options(dir.path(), None)).unwrap();
    assert!(!g.passed());
    assert_eq!(g.category_passed("quality"), Some(false));
    assert_eq!(g.category_passed("fairness"), Some(true));
    assert_eq!(g.failures(), ["quality: `precision` is 0.846154 < min 0.900000"]);
    assert!(render_text(&g).contains("FAIL: 1 of 3 thresholds failed (quality)"), "{}", render_text(&g));
}

/// A baseline version with its own predictions column: churn@2 "scored" the rows perfectly
/// (its score is the label, ROC AUC 1), so churn@3's 0.963993... is a regression of 0.036.
#[test]
fn a_baseline_version_is_scored_in_the_same_pass() {
    let dir = scratch();
    let data = dir.path().join("data/churn-eval.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{},churn_v2_score\n", lines.next().unwrap());
    for line in lines {
        let label = line.split(',').nth(8).unwrap();
        out.push_str(&format!("{line},{label}\n"));
    }
    std::fs::write(&data, out).unwrap();
    let (digest, _) = tollgate_gates::dataset::sha256_file(&data).unwrap();
    let edit = |path: &str, from: &str, to: &str| {
        let path = dir.path().join(path);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("datasets/churn-eval.yaml", "6adc47a64eae919abbfd74e1d76b27c206588b54473bdd837ab8caefc4d3ff73", &digest.to_string());
    edit(
        "models/churn.yaml",
        "  versions:\n",
        "  versions:\n    - version: \"2\"\n      artifact: {uri: models/churn-v3.pt, sha256: 842058092dfacd77925a5ce37b1f0cd6b116a7e47dc1f3a33244e8c6d68a3def, format: torchscript}\n      predictions: [{dataset: churn-eval, score: churn_v2_score}]\n",
    );
    edit("releases/churn-v3.yaml", "    threshold: 0.6\n", "    threshold: 0.6\n    baseline: churn@2\n");
    edit("releases/churn-v3.yaml", "{metric: roc_auc, min: 0.70}", "{metric: roc_auc, min: 0.70, maxRegression: 0.01}");
    let g = run_release_gates(&load_repo(dir.path()), "churn-v3", &options(dir.path(), None)).unwrap();
    let r = &g.categories[0].results[0];
    assert_eq!(r.baseline_value, Some(1.0));
    assert_eq!(g.baseline.as_ref().unwrap().scored_by, "column churn_v2_score");
    assert_eq!(g.category_passed("quality"), Some(false));
    assert_eq!(g.failures(), ["quality: `roc_auc` regressed by 0.036007 (baseline 1.000000, candidate 0.963993) > maxRegression 0.010000"]);
}

#[test]
fn data_that_differs_from_its_digest_is_refused() {
    let dir = scratch();
    let data = dir.path().join("data/churn-eval.csv");
    let text = std::fs::read_to_string(&data).unwrap().replacen(",0.3693", ",0.9693", 1);
    std::fs::write(&data, text).unwrap();
    let err = run_release_gates(&load_repo(dir.path()), "churn-v3", &options(dir.path(), None)).unwrap_err();
    let chain = error_chain(&err);
    assert!(chain.contains("sha256"), "{chain}");
}

#[test]
fn unknown_releases_and_paths_out_of_the_repo_are_errors_with_hints() {
    let root = examples();
    let err = run_release_gates(&load_repo(&root), "income-v9", &options(&root, None)).unwrap_err();
    assert!(matches!(err, GatingError::UnknownRelease { .. }));
    assert_eq!(err.to_string(), "no release `income-v9` in the config repo");
    assert!(crate::hint_of(&err).is_some_and(|h| h.starts_with("releases here: ")), "{err:?}");
    let dir = scratch();
    let dataset = dir.path().join("datasets/churn-eval.yaml");
    let text = std::fs::read_to_string(&dataset).unwrap().replace("uri: data/churn-eval.csv", "uri: ../../etc/passwd");
    std::fs::write(&dataset, text).unwrap();
    let err = run_release_gates(&load_repo(dir.path()), "churn-v3", &options(dir.path(), None)).unwrap_err();
    assert!(matches!(err, GatingError::Uri { .. }), "{err}");
}

#[cfg(not(feature = "torch"))]
#[test]
fn without_torch_a_release_whose_model_must_run_says_so() {
    const { assert!(!super::CAN_RUN_MODELS) };
    assert_eq!(super::libtorch_version(), None);
    let root = examples();
    let err = run_release_gates(&load_repo(&root), "income-v3", &options(&root, None)).unwrap_err();
    assert!(err.to_string().contains("needs tollgate built with the `torch` feature"), "{err}");
}

/// income@3 and income@4 are the TorchScript files examples/models/train_income.py wrote.
/// PyTorch 2.13.0 gives, on adult-eval: v3 at threshold 0.5, accuracy 0.85, ROC AUC
/// 0.938440..., demographic parity ratio by sex 0.25; v4 at 0.4, accuracy 0.8333..., ROC AUC
/// 0.897400..., ratio 0.825.
#[cfg(feature = "torch")]
#[test]
fn the_unmitigated_model_fails_fairness_and_the_mitigated_one_passes() {
    let root = examples();
    let repo = load_repo(&root);
    const { assert!(super::CAN_RUN_MODELS) };
    let v3 = run_release_gates(&repo, "income-v3", &options(&root, None)).unwrap();
    assert_eq!(v3.run.device, "cpu");
    assert!(v3.run.libtorch_version.as_deref().unwrap().starts_with("2.13.0"), "{:?}", v3.run);
    assert_eq!(v3.run.rows, 60);
    assert_eq!(v3.category_passed("quality"), Some(true), "{}", render_text(&v3));
    assert_eq!(v3.category_passed("fairness"), Some(false));
    assert!((value(&v3, "quality", "accuracy") - 0.85).abs() < 1e-12);
    assert!((value(&v3, "quality", "roc_auc") - 0.938_440_492_476_060_2).abs() < 1e-9);
    assert!((value(&v3, "fairness", "demographic_parity_ratio") - 0.25).abs() < 1e-12);
    assert_eq!(v3.failures(), ["fairness: `demographic_parity_ratio` is 0.250000 < min 0.800000 (by sex)"]);
    let text = render_text(&v3);
    assert!(text.contains("by sex") && text.contains("Female") && text.contains("0.0625"), "{text}");

    let v4 = run_release_gates(&repo, "income-v4", &options(&root, None)).unwrap();
    assert!(v4.passed(), "{}", render_text(&v4));
    assert!((value(&v4, "quality", "accuracy") - 50.0 / 60.0).abs() < 1e-12);
    assert!((value(&v4, "quality", "roc_auc") - 0.897_400_820_793_433_6).abs() < 1e-9);
    assert!((value(&v4, "fairness", "demographic_parity_ratio") - 0.825).abs() < 1e-12);
}

#[cfg(feature = "torch")]
#[test]
fn a_model_baseline_runs_in_the_same_pass_and_bounds_regressions() {
    let dir = scratch();
    let release = dir.path().join("releases/income-v4.yaml");
    let text = std::fs::read_to_string(&release)
        .unwrap()
        .replace("    threshold: 0.4\n", "    threshold: 0.4\n    baseline: income@3\n")
        .replace("{metric: roc_auc, min: 0.85}", "{metric: roc_auc, min: 0.85, maxRegression: 0.02}");
    std::fs::write(&release, text).unwrap();
    let g = run_release_gates(&load_repo(dir.path()), "income-v4", &options(dir.path(), None)).unwrap();
    let r = &g.categories[0].results[0];
    // v3's ROC AUC does not depend on the threshold; v4 is 0.041 below it.
    assert!((r.baseline_value.unwrap() - 0.938_440_492_476_060_2).abs() < 1e-9);
    assert_eq!(g.category_passed("quality"), Some(false));
    assert!(g.failures()[0].contains("regressed by 0.041040"), "{:?}", g.failures());
}

/// With or without the `torch` feature: the digest is checked before anything else.
#[test]
fn a_model_that_differs_from_its_digest_is_never_loaded() {
    let dir = scratch();
    std::fs::copy(dir.path().join("models/income-v4.pt"), dir.path().join("models/income-v3.pt")).unwrap();
    let err = run_release_gates(&load_repo(dir.path()), "income-v3", &options(dir.path(), None)).unwrap_err();
    assert!(err.to_string().contains("failed verification"), "{err}");
}

#[cfg(feature = "torch")]
#[test]
fn a_placeholder_artifact_is_a_load_error_with_a_hint() {
    use sha2::Digest;
    // A file that is not TorchScript, pinned by its digest so that only loading can fail.
    let dir = scratch();
    let placeholder = b"placeholder for the TorchScript artifact of model income, version 3\n";
    std::fs::write(dir.path().join("models/income-v3.pt"), placeholder).unwrap();
    let model = dir.path().join("models/income.yaml");
    let text = std::fs::read_to_string(&model).unwrap();
    let pinned = "feb6ae7533ac8cfa61cbb7510ac4fad93495b0822b1b242916a15ae7e18b4c52";
    assert!(text.contains(pinned), "income-v3.pt's pin moved: update this test");
    std::fs::write(&model, text.replace(pinned, &hex::encode(sha2::Sha256::digest(placeholder)))).unwrap();
    let err = run_release_gates(&load_repo(dir.path()), "income-v3", &options(dir.path(), None)).unwrap_err();
    assert!(err.to_string().contains("failed to load"), "{err}");
    assert!(crate::hint_of(&err).is_some_and(|h| h.starts_with("save it with `torch.jit.save")), "{err:?}");
}
