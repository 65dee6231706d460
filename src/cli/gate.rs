//! `tollgate gate`: compute gates. `run` computes every gate of a release from the config repo
//! (running its model with the `torch` feature); `eval`, `data-quality` and `drift` work on
//! files without a config repo.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::DeviceArg;
use anyhow::Context;
use clap::builder::TypedValueParser as _;
use clap::{ArgGroup, ValueEnum};
use tollgate_error::Hinted;
use tollgate_gates::dataset::{DEFAULT_BATCH_ROWS, DatasetSchema, Format, Sha256Digest};
use tollgate_gates::eval::{EvalRequest, Predictions, evaluate, render_data_quality, render_drift, render_gates, render_text};
use tollgate_gates::metrics::DEFAULT_ECE_BINS;
use tollgate_gates::spec::{GateSpec, check_eval};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run every gate of a release: score the evaluation data with the model (and the
    /// baseline), check every threshold, and exit 1 when one fails.
    Run(RunArgs),
    /// Print every quality and fairness metric of a file that holds labels and predictions
    /// (or scores and a threshold), without a config repo.
    Eval(EvalArgs),
    /// Measure a dataset against its schema: schema match, nulls, ranges, allowed values,
    /// duplicate rows and row count.
    DataQuality(DataQualityArgs),
    /// Measure drift of columns between a reference and a current dataset: PSI,
    /// Jensen-Shannon, Kolmogorov-Smirnov and Wasserstein.
    Drift(DriftArgs),
    /// What a gates Kubernetes Job runs (`gates.runner: kubernetes`): compute a release's
    /// gates at a commit and write the result, signed, to the store.
    #[command(hide = true)]
    RunJob(RunJobArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunJobArgs {
    /// The Release whose gates to run.
    pub release: String,
    /// The config repo: a folder in a Git repository.
    #[arg(long)]
    pub repo: PathBuf,
    /// The commit the controller prepared.
    #[arg(long)]
    pub rev: String,
    /// Where the gates' files (datasets, artifacts) are, as the controller wrote them.
    #[arg(long)]
    pub root: PathBuf,
    /// The result store (the controller's gate cache).
    #[arg(long)]
    pub store: PathBuf,
    /// The signing key (`PRIVATE+KEY+…`, as `tollgate audit keygen` writes it).
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,
    /// The run the controller asked for (its cache key); anything else is refused.
    #[arg(long)]
    pub expect_key: String,
    /// Where models run.
    #[arg(long, default_value = "auto")]
    pub device: DeviceArg,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The Release whose gates to run (its `metadata.name`).
    pub release: String,
    /// The config repo: a folder (a Git working directory or not).
    #[arg(long, env = "TOLLGATE_REPO", default_value = ".")]
    pub repo: PathBuf,
    /// Where models run: `auto` is CUDA when libtorch sees a GPU, else the CPU.
    #[arg(long, env = "TOLLGATE_DEVICE", default_value = "auto")]
    pub device: DeviceArg,
    /// Directory of cached results, keyed by (model, dataset, gate spec) digests.
    #[arg(long, env = "TOLLGATE_GATE_CACHE", value_name = "DIR", default_value_os_t = default_cache_dir())]
    pub cache_dir: PathBuf,
    /// Compute everything again, without reading or writing the cache.
    #[arg(long, env = "TOLLGATE_NO_CACHE")]
    pub no_cache: bool,
    /// Output format.
    #[arg(long, env = "TOLLGATE_FORMAT", default_value = "text")]
    pub format: OutputFormat,
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from(".tollgate-cache"), |h| PathBuf::from(h).join(".cache/tollgate/gates"))
}

#[derive(Debug, clap::Args)]
pub struct DataQualityArgs {
    /// The dataset, a CSV or Parquet file.
    #[arg(long, env = "TOLLGATE_DQ_DATA", value_name = "FILE")]
    pub data: PathBuf,
    /// The dataset's schema: JSON, `{"columns": [{"name", "type", "nullable", "range", "allowedValues"}]}`.
    #[arg(long, env = "TOLLGATE_DQ_SCHEMA", value_name = "FILE")]
    pub schema: PathBuf,
    /// Refuse the file unless its SHA-256 is this (64 hex digits).
    #[arg(long, env = "TOLLGATE_DQ_SHA256", value_name = "HEX")]
    pub sha256: Option<String>,
    /// The file's format; by default told from its extension.
    #[arg(long, env = "TOLLGATE_DQ_DATA_FORMAT")]
    pub data_format: Option<DataFormat>,
    /// Output format.
    #[arg(long, env = "TOLLGATE_FORMAT", default_value = "text")]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("columns").required(true).multiple(true).args(["numeric", "categorical"])))]
pub struct DriftArgs {
    /// The reference dataset (what the model was trained or last validated on).
    #[arg(long, env = "TOLLGATE_DRIFT_REFERENCE", value_name = "FILE")]
    pub reference: PathBuf,
    /// The current dataset.
    #[arg(long, env = "TOLLGATE_DRIFT_CURRENT", value_name = "FILE")]
    pub current: PathBuf,
    /// Numeric columns, comma-separated.
    #[arg(long, env = "TOLLGATE_DRIFT_NUMERIC", value_name = "COLS", value_delimiter = ',')]
    pub numeric: Vec<String>,
    /// Categorical columns, comma-separated.
    #[arg(long, env = "TOLLGATE_DRIFT_CATEGORICAL", value_name = "COLS", value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Output format.
    #[arg(long, env = "TOLLGATE_FORMAT", default_value = "text")]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables for people.
    Text,
    /// One JSON document for machines (NaN is written as null).
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DataFormat {
    Csv,
    Parquet,
}

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("predicted").required(true).args(["prediction", "threshold"])))]
pub struct EvalArgs {
    /// The dataset, a CSV or Parquet file.
    #[arg(long, env = "TOLLGATE_EVAL_DATA", value_name = "FILE")]
    pub data: PathBuf,
    /// Column of true labels: 0/1 or true/false, 1 being the positive class.
    #[arg(long, env = "TOLLGATE_EVAL_LABEL", value_name = "COL")]
    pub label: String,
    /// Column of predicted labels (0/1 or true/false).
    #[arg(long, env = "TOLLGATE_EVAL_PREDICTION", value_name = "COL")]
    pub prediction: Option<String>,
    /// Column of scores: with --threshold they make the predictions; with --prediction they add
    /// ROC AUC and average precision, and log loss, Brier score and ECE when in [0, 1].
    #[arg(long, env = "TOLLGATE_EVAL_SCORE", value_name = "COL")]
    pub score: Option<String>,
    /// Predict positive when score >= T.
    #[arg(long, env = "TOLLGATE_EVAL_THRESHOLD", value_name = "T", requires = "score", conflicts_with = "prediction")]
    pub threshold: Option<f64>,
    /// Sensitive feature columns, comma-separated; each alone and their intersection are reported.
    #[arg(long, env = "TOLLGATE_EVAL_SENSITIVE", value_name = "COLS", value_delimiter = ',')]
    pub sensitive: Vec<String>,
    /// Column of the baseline model's predicted labels, computed in the same pass so that
    /// `maxRegression` compares like with like.
    #[arg(long, env = "TOLLGATE_EVAL_BASELINE_PREDICTION", value_name = "COL")]
    pub baseline_prediction: Option<String>,
    /// Column of the baseline model's scores (with --baseline-prediction, or thresholded).
    #[arg(long, env = "TOLLGATE_EVAL_BASELINE_SCORE", value_name = "COL")]
    pub baseline_score: Option<String>,
    /// Threshold of the baseline's scores; defaults to --threshold.
    #[arg(long, env = "TOLLGATE_EVAL_BASELINE_THRESHOLD", value_name = "T", requires = "baseline_score")]
    pub baseline_threshold: Option<f64>,
    /// Column of sample weights.
    #[arg(long, env = "TOLLGATE_EVAL_WEIGHT", value_name = "COL")]
    pub weight: Option<String>,
    /// Refuse the file unless its SHA-256 is this (64 hex digits).
    #[arg(long, env = "TOLLGATE_EVAL_SHA256", value_name = "HEX")]
    pub sha256: Option<String>,
    /// The file's format; by default told from its extension.
    #[arg(long, env = "TOLLGATE_EVAL_DATA_FORMAT")]
    pub data_format: Option<DataFormat>,
    /// Number of equal-width bins of the expected calibration error.
    #[arg(long, env = "TOLLGATE_EVAL_ECE_BINS", default_value_t = DEFAULT_ECE_BINS, value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    pub ece_bins: usize,
    /// A gate spec (JSON, the `gates` of a Release): check its quality and fairness
    /// thresholds and exit 1 when one fails.
    #[arg(long, env = "TOLLGATE_EVAL_GATES", value_name = "FILE")]
    pub gates: Option<PathBuf>,
    /// Output format.
    #[arg(long, env = "TOLLGATE_FORMAT", default_value = "text")]
    pub format: OutputFormat,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Run(args) => run_release(args),
        Command::Eval(args) => eval(args),
        Command::DataQuality(args) => data_quality(args),
        Command::Drift(args) => drift(args),
        Command::RunJob(args) => run_job(args),
    }
}

fn format_of(path: &std::path::Path, given: Option<DataFormat>) -> anyhow::Result<Format> {
    match given {
        Some(DataFormat::Csv) => Ok(Format::Csv),
        Some(DataFormat::Parquet) => Ok(Format::Parquet),
        None => Format::from_path(path).ok_or_else(|| {
            let message = format!("{}: cannot tell the format from the file name", path.display());
            Hinted::new(message, "name the file `*.csv` or `*.parquet`, or pass --data-format").into()
        }),
    }
}

fn write_out(
    format: OutputFormat,
    text: impl FnOnce() -> String,
    json: impl FnOnce() -> serde_json::Result<serde_json::Value>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Text => write!(out, "{}", text())?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &json()?)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn data_quality(args: DataQualityArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.schema).with_context(|| format!("failed to read schema `{}`", args.schema.display()))?;
    let schema: DatasetSchema = serde_json::from_str(&text).with_context(|| {
        let example = r#"{"columns": [{"name": "age", "type": "integer", "nullable": false, "range": {"min": 0}}]}"#;
        Hinted::new(format!("{}: not a valid dataset schema", args.schema.display()), example)
    })?;
    let expected = args.sha256.as_deref().map(str::parse::<Sha256Digest>).transpose()?;
    let format = format_of(&args.data, args.data_format)?;
    let report = tollgate_gates::data_quality::assess(&args.data, format, &schema.columns, expected.as_ref())?;
    write_out(args.format, || render_data_quality(&report), || serde_json::to_value(&report))?;
    Ok(ExitCode::SUCCESS)
}

fn drift(args: DriftArgs) -> anyhow::Result<ExitCode> {
    use tollgate_gates::dataset::{ColumnSpec, ColumnType};
    use tollgate_gates::drift_files::Side;
    let columns: Vec<ColumnSpec> = args
        .numeric
        .iter()
        .map(|c| ColumnSpec::new(c.trim(), ColumnType::Float))
        .chain(args.categorical.iter().map(|c| ColumnSpec::new(c.trim(), ColumnType::String)))
        .collect();
    let reference = Side { path: &args.reference, format: format_of(&args.reference, None)?, sha256: None };
    let current = Side { path: &args.current, format: format_of(&args.current, None)?, sha256: None };
    let report = tollgate_gates::drift_files::drift(reference, current, &columns)?;
    write_out(args.format, || render_drift(&report), || serde_json::to_value(&report))?;
    Ok(ExitCode::SUCCESS)
}

fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let predictions = match (args.prediction, args.threshold) {
        (Some(prediction), _) => Predictions::Column { prediction, score: args.score },
        (None, Some(threshold)) => Predictions::Threshold { score: args.score.context("--threshold needs --score")?, threshold },
        (None, None) => anyhow::bail!("give --prediction COL, or --score COL with --threshold T"),
    };
    let baseline = match (args.baseline_prediction, args.baseline_score) {
        (Some(prediction), score) => Some(Predictions::Column { prediction, score }),
        (None, Some(score)) => Some(Predictions::Threshold {
            score,
            threshold: args
                .baseline_threshold
                .or(args.threshold)
                .context("--baseline-score without --baseline-prediction needs --baseline-threshold (or --threshold)")?,
        }),
        (None, None) => None,
    };
    let expected_sha256 = args.sha256.as_deref().map(str::parse::<Sha256Digest>).transpose()?;
    let request = EvalRequest {
        data: args.data,
        format: args.data_format.map(|f| match f {
            DataFormat::Csv => Format::Csv,
            DataFormat::Parquet => Format::Parquet,
        }),
        label: args.label,
        predictions,
        sensitive: args.sensitive.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
        weight: args.weight,
        baseline,
        expected_sha256,
        ece_bins: args.ece_bins,
        batch_rows: DEFAULT_BATCH_ROWS,
    };
    let spec: Option<GateSpec> = match &args.gates {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("failed to read gate spec `{}`", path.display()))?;
            Some(serde_json::from_str(&text).with_context(|| {
                let hint = r#"a JSON object with `quality` and `fairness` lists of {"metric", "min", "max", "maxRegression"}"#;
                Hinted::new(format!("{}: not a valid gate spec", path.display()), hint)
            })?)
        }
        None => None,
    };
    let report = evaluate(&request)?;
    let gates = spec.as_ref().map(|s| check_eval(s, &report));
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Text => {
            write!(out, "{}", render_text(&report))?;
            if let Some(g) = &gates {
                write!(out, "{}", render_gates(g))?;
            }
        }
        OutputFormat::Json => {
            let mut value = serde_json::to_value(&report)?;
            if let (Some(g), Some(map)) = (&gates, value.as_object_mut()) {
                map.insert("gates".to_owned(), serde_json::to_value(g)?);
            }
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(match gates {
        Some(g) if !g.passed => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

fn run_job(args: RunJobArgs) -> anyhow::Result<ExitCode> {
    use tollgate_controller::gating::GateRunOptions;
    use tollgate_spec::LoadOptions;
    use tollgate_spec::repo::Source;

    let signer = super::audit::read_signer(&args.key_file)?;
    let source = Source::commit(&args.repo, &args.rev)?;
    let repo = tollgate_spec::load(&source, &LoadOptions::default())?;
    let options = GateRunOptions { device: args.device.device(), cache_dir: Some(args.store), progress: false, root: Some(args.root) };
    let path = tollgate_controller::gating::job::run_job(&repo, &args.release, &options, &args.expect_key, &signer)?;
    tracing::info!(path = %path.display(), "signed gate result written");
    Ok(ExitCode::SUCCESS)
}

fn run_release(args: RunArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    use tollgate_controller::gating::{GateRunOptions, render_text, run_release_gates};
    use tollgate_spec::LoadOptions;
    use tollgate_spec::repo::Source;

    let source = Source::workdir(&args.repo)?;
    let repo = tollgate_spec::load(&source, &LoadOptions::default())?;
    if let Some(f) = repo.findings.iter().find(|f| f.severity == tollgate_spec::diag::Severity::Fatal) {
        let message = format!("the config repo `{}` cannot be read: {}", args.repo.display(), f.message);
        return Err(Hinted::new(message, format!("`tollgate check --repo {}` lists every problem", args.repo.display())).into());
    }
    let options = GateRunOptions {
        device: args.device.device(),
        cache_dir: (!args.no_cache).then_some(args.cache_dir),
        progress: std::io::stderr().is_terminal(),
        root: Some(args.repo.clone()),
    };
    let gates = run_release_gates(&repo, &args.release, &options)?;
    write_out(args.format, || render_text(&gates), || serde_json::to_value(&gates))?;
    Ok(if gates.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
