//! Command-line interface: one module per command group, each with clap arguments and a `run`.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod approve;
mod audit;
mod break_glass;
mod card;
mod check;
mod control;
mod gate;
mod github;
mod init;
mod pdf;
mod policy;
mod serve;
mod windows;

/// tollgate: policy and compliance gates for ML releases, kept in Git.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "TOLLGATE_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a config repo: schemas, references and policies.
    Check(check::Args),
    /// Work with Rego policies.
    #[command(subcommand)]
    Policy(policy::Command),
    /// Write a small, valid example config repo into DIR.
    Init(init::Args),
    /// Compute quality, fairness, data-quality and drift gates.
    #[command(subcommand)]
    Gate(gate::Command),
    /// The tamper-evident audit trail: append, verify, checkpoint, export, verify-bundle.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Turn release requests into promotions: decide every (release, environment), record
    /// each change in the audit trail and promote what may be promoted.
    Reconcile(control::ReconcileArgs),
    /// Every release's state in every environment on its path.
    Status(control::StatusArgs),
    /// Every input of one decision, and why it is what it is.
    Explain(control::ExplainArgs),
    /// A release's model card for one environment: Markdown, HTML or JSON.
    ModelCard(card::Args),
    /// Approve a release into an environment (bound to its current content), or revoke.
    Approve(approve::ApproveArgs),
    /// Break-glass admissions: list them, and review one after the fact.
    #[command(subcommand, name = "break-glass")]
    BreakGlass(break_glass::Command),
    /// API tokens for approvers: create, list, revoke.
    #[command(subcommand)]
    Token(approve::TokenCommand),
    /// Deploy windows and freezes: which environments are open, why, and when that changes.
    Windows(windows::Args),
    /// The GitHub door's inbox: deliveries queued, done and failed; requeue failed ones.
    #[command(subcommand)]
    Github(github::Command),
    /// Serve the JSON API (decisions, approvals), health, readiness and metrics over HTTP(S).
    Serve(serve::ServeArgs),
}

/// The instant a command evaluates at. Every command that consults the clock flattens this in,
/// so people can ask what would happen at a given moment. (Commands that record what happened,
/// such as `audit append`, use the real clock on purpose: an audit trail holds no invented
/// times.)
#[derive(Debug, Clone, clap::Args)]
pub struct Clock {
    /// Evaluate at TIME instead of now: `now`, RFC 3339 (`2026-12-01T10:00:00Z`,
    /// `2026-12-01T11:00:00+01:00`), or a local time with its zone
    /// (`2026-03-29T02:30[Europe/Berlin]`).
    #[arg(long, env = "TOLLGATE_AT", value_name = "TIME", default_value = "now", value_parser = parse_at)]
    pub at: jiff::Timestamp,
}

/// Where a model runs for gates; the one `--device` of every command.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeviceArg {
    /// CUDA when libtorch sees a GPU, else the CPU.
    Auto,
    Cpu,
    Cuda,
}

impl DeviceArg {
    /// The device the gates take.
    pub fn device(self) -> tollgate_gates::runner::Device {
        use tollgate_gates::runner::Device;
        match self {
            DeviceArg::Auto => Device::Auto,
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda,
        }
    }
}

/// `--interval` and the other periods for clap: the duration grammar of windows
/// (`30s`, `5m`, `1h30m`, `1d`), as a [`std::time::Duration`].
pub(crate) fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = tollgate_spec::time::parse_duration(s).map_err(|err| format!("{err}\n\nhint: {}", err.hint()))?;
    d.try_into().map_err(|_| format!("`{s}` is not a positive duration"))
}

/// `--at` for clap: the message and its hint, as clap prints them before exiting with 2.
pub(crate) fn parse_at(s: &str) -> Result<jiff::Timestamp, String> {
    tollgate_spec::time::parse_at(s).map_err(|err| format!("{}\n\nhint: {}", tollgate_error::chain(&err), err.hint()))
}

/// Writes one line of human output: what came from a config repo (names, messages, reasons) is
/// escaped by [`tollgate_spec::diag::printable`], so that it can neither start a line of its own
/// nor carry terminal controls.
pub(crate) fn say(line: impl std::fmt::Display) {
    out(tollgate_spec::diag::printable(&line.to_string()));
}

/// Writes one line to standard output (a closed pipe is not an error worth a panic).
pub(crate) fn out(line: impl std::fmt::Display) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// The async runtime commands that use the store run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("failed to start the async runtime")
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Installs the `tracing` subscriber; `RUST_LOG` (or `TOLLGATE_LOG`) selects levels.
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("TOLLGATE_LOG").or_else(|_| EnvFilter::try_from_default_env()).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs one command and returns its exit code: 0 clean, 1 violations; errors map to 2 in main.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Init(args) => init::run(args),
        Command::Gate(cmd) => gate::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Reconcile(args) => control::reconcile(args),
        Command::Status(args) => control::status(args),
        Command::Explain(args) => control::explain(args),
        Command::ModelCard(args) => card::run(args),
        Command::Approve(args) => approve::approve(args),
        Command::Token(cmd) => approve::token(cmd),
        Command::BreakGlass(cmd) => break_glass::run(cmd),
        Command::Windows(args) => windows::run(args),
        Command::Serve(args) => serve::serve(args),
        Command::Github(cmd) => github::run(cmd),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use clap::error::ErrorKind;

    use super::{Cli, Command};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tollgate").chain(args.iter().copied()))
    }

    /// Regression (issue #11): `--device gpu` was taken as `auto` by reconcile, status,
    /// explain and serve. Every command refuses a device it does not know, naming the three.
    #[test]
    fn every_command_refuses_an_unknown_device() {
        for command in
            [&["reconcile"][..], &["status"], &["explain", "churn-v3", "--env", "prod"], &["serve"], &["gate", "run", "churn-v3"]]
        {
            let mut args = command.to_vec();
            args.extend(["--device", "gpu"]);
            let err = parse(&args).expect_err("gpu is no device");
            assert_eq!(err.kind(), ErrorKind::InvalidValue, "{command:?}");
            let text = err.to_string();
            assert!(
                text.contains("invalid value 'gpu' for '--device <DEVICE>'") && text.contains("[possible values: auto, cpu, cuda]"),
                "{text}"
            );
            args.pop();
            args.push("cuda");
            parse(&args).unwrap_or_else(|e| panic!("{command:?}: {e}"));
        }
    }

    /// Regression (issue #11): `--interval 1h30m` was refused while a window's `1h30m` was
    /// accepted. Every period takes the windows' duration grammar.
    #[test]
    fn intervals_take_the_duration_grammar_of_windows() {
        let cli = parse(&["reconcile", "--interval", "1h30m"]).expect("1h30m");
        assert!(matches!(cli.command, Command::Reconcile(_)) && format!("{cli:?}").contains("interval: 5400s"), "{cli:?}");
        let cli = parse(&["serve", "--fetch-interval", "2m30s"]).expect("2m30s");
        assert!(format!("{cli:?}").contains("fetch_interval: 150s"), "{cli:?}");
        let err = parse(&["reconcile", "--interval=-5m"]).expect_err("negative");
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        for bad in ["90x", ""] {
            let err = parse(&["reconcile", "--interval", bad]).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{bad}");
            assert!(err.to_string().contains("hint: "), "{bad}: {err}");
        }
    }

    /// One `--at` grammar: an RFC 3339 instant, `now`, or a local time with its zone.
    #[test]
    fn at_takes_one_grammar() {
        let cli = parse(&["status", "--at", "2026-03-29T02:30[Europe/Berlin]"]).expect("zoned");
        // 02:30 does not exist that night in Berlin: a time in the gap is the first instant after
        // it, the change itself (03:00 CEST), as windows read such times (docs/windows.md).
        assert!(format!("{cli:?}").contains("at: Some(2026-03-29T01:00:00Z)"), "{cli:?}");
        let err = parse(&["status", "--at", "tomorrow"]).expect_err("tomorrow");
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
    }
}
