//! `tollgate windows`: whether each environment is open for promotion at an instant, what
//! decides it, until when, and when it next opens.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::ValueEnum;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use tollgate_spec::diag::{Severity, printable};
use tollgate_spec::repo::Source;
use tollgate_spec::windows::{self, Reason, WindowState, Windows};
use tollgate_spec::{Document, Kind, LoadOptions};

use super::Clock;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config repo: a folder (a Git working directory or not).
    #[arg(long, env = "TOLLGATE_REPO", default_value = ".")]
    pub repo: PathBuf,

    /// Show only this environment (default: all, in promotion order).
    #[arg(long, env = "TOLLGATE_ENV", value_name = "ENV")]
    pub env: Option<String>,

    #[command(flatten)]
    pub clock: Clock,

    /// Output format.
    #[arg(long, env = "TOLLGATE_FORMAT", default_value = "text")]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// One environment's answer.
struct Row<'r> {
    doc: &'r Document,
    windows: Windows,
    state: WindowState,
}

/// Exit 0 when every environment shown is open, 1 when one is closed; unreadable input
/// (the repo, a broken file, a bad window, an unknown `--env`) is an error, exit 2.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let at = args.clock.at;
    let source = Source::workdir(&args.repo)?;
    let repo = tollgate_spec::load(&source, &LoadOptions { jobs: 0 })?;
    // Any unreadable file could be the environment asked about: refuse rather than guess.
    // Each finding escaped: a file name or a message cannot add lines of its own.
    let fatal: Vec<String> = repo
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Fatal)
        .map(|f| {
            let line = format!("{}: {} [{}]: {}", printable(&f.location()), f.severity.as_str(), printable(&f.rule), printable(&f.message));
            f.hint.as_ref().map_or_else(|| line.clone(), |h| format!("{line}\n  hint: {}", printable(h)))
        })
        .collect();
    if !fatal.is_empty() {
        bail!("the config repo could not be read:\n{}", fatal.join("\n"));
    }

    let mut envs: Vec<&Document> = repo.of_kind(Kind::Environment).collect();
    let order = &repo.settings.environments;
    envs.sort_by_key(|d| (order.iter().position(|n| *n == d.name).unwrap_or(usize::MAX), d.name.clone()));
    if let Some(name) = &args.env {
        envs.retain(|d| d.name == *name);
        if envs.is_empty() {
            let mut known: Vec<&str> = repo.of_kind(Kind::Environment).map(|d| d.name.as_str()).collect();
            known.sort_unstable();
            let known = if known.is_empty() {
                "there is no Environment in the repo".to_owned()
            } else {
                format!("known environments: {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
            };
            return Err(tollgate_error::Hinted::new(format!("Environment `{name}` does not exist"), known).into());
        }
    }

    let mut rows = Vec::with_capacity(envs.len());
    let mut problems = Vec::new();
    for doc in envs {
        match Windows::from_spec(doc.spec()) {
            Ok(windows) => {
                let state = windows::evaluate(&windows, at);
                rows.push(Row { doc, windows, state });
            }
            Err(errors) => {
                for e in errors {
                    let at =
                        doc.locate(e.pointer(), &repo.settings.limits).map_or_else(String::new, |p| format!(":{}:{}", p.line, p.column));
                    let (file, message, hint) = (printable(doc.file.path.as_str()), e.message(), e.hint());
                    problems.push(format!("{file}{at}: {}\n  hint: {}", printable(&message), printable(&hint)));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!("windows could not be read:\n{}", problems.join("\n"));
    }

    let rendered = match args.format {
        // Each line escaped: names and reasons come from the repo (tollgate_spec::diag::printable).
        OutputFormat::Text => text(at, &rows).lines().map(|l| format!("{}\n", tollgate_spec::diag::printable(l))).collect(),
        OutputFormat::Json => {
            let environments: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let mut map = serde_json::Map::new();
                    map.insert("environment".into(), json!(r.doc.name));
                    map.insert("file".into(), json!(r.doc.file.path.to_string()));
                    if let Ok(Value::Object(state)) = serde_json::to_value(&r.state) {
                        map.extend(state);
                    }
                    Value::Object(map)
                })
                .collect();
            let mut s = serde_json::to_string_pretty(&json!({"at": at, "environments": environments}))?;
            s.push('\n');
            s
        }
    };
    std::io::stdout().lock().write_all(rendered.as_bytes()).context("cannot write to standard output")?;
    let closed = rows.iter().any(|r| !r.state.open);
    Ok(ExitCode::from(u8::from(closed)))
}

/// The zone people think of an environment in: its first allow window's, else its first
/// window's, else UTC.
fn home_zone(windows: &Windows) -> (&TimeZone, &str) {
    windows::home_zone(windows)
}

fn when(t: Timestamp, tz: &TimeZone, zone: &str) -> String {
    windows::when(t, tz, zone)
}

fn why(row: &Row<'_>) -> String {
    windows::describe(&row.windows, &row.state)
}

fn text(at: Timestamp, rows: &[Row<'_>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "at {}\n", when(at, &TimeZone::UTC, "UTC"));
    let width = rows.iter().map(|r| r.doc.name.len()).max().unwrap_or(0).max("ENVIRONMENT".len());
    let _ = writeln!(out, "{:<width$}  {:<6}  WHY", "ENVIRONMENT", "STATE");
    for row in rows {
        let s = &row.state;
        let (tz, zone) = home_zone(&row.windows);
        let state = if s.open { "OPEN" } else { "CLOSED" };
        let _ = writeln!(out, "{:<width$}  {state:<6}  {}", row.doc.name, why(row));
        let horizon_days = (s.searched_until.as_second() - s.at.as_second()) / 86_400;
        let never = format!("not within {horizon_days} days");
        let (label, next) = if s.open { ("closes", s.until) } else { ("opens", s.next_open) };
        let next = match next {
            Some(t) => when(t, tz, zone),
            None if s.reason == Reason::NoWindows => "never".to_owned(),
            None => never,
        };
        let _ = writeln!(out, "{:<width$}  {label:<6}  {next}", "");
    }
    out
}
