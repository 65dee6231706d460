//! `tollgate policy test`: run Rego `test_*` rules and YAML cases, like `opa test`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use tollgate_policy::{Bundle, PolicyError, TestResult};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run every `test_*` rule (and YAML cases under `cases/`) found in DIR.
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Folder of `.rego` files (searched recursively).
    #[arg(default_value = "policies")]
    pub dir: PathBuf,

    /// Run only tests whose full name (`data.pkg.test_x`) contains this text.
    #[arg(long)]
    pub run: Option<String>,

    /// List passing tests too.
    #[arg(long, short)]
    pub verbose: bool,

    /// Do not load tollgate's default library next to the tested policies (it is never loaded
    /// when the folder holds the library itself).
    #[arg(long)]
    pub no_default_library: bool,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Test(args) => test(&args),
    }
}

fn test(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let mut sources = Vec::new();
    let mut cases = Vec::new();
    collect(&args.dir, &args.dir, &mut sources, &mut cases)?;
    if sources.is_empty() {
        let message = format!("no `.rego` files under `{}`", args.dir.display());
        return Err(tollgate_error::Hinted::new(message, "pass the folder that holds your policies").into());
    }
    let holds_library = sources.iter().any(|(_, text)| text.lines().any(|l| l.trim_start().starts_with("package tollgate.lib.")));
    let bundle = match Bundle::compile(&sources, !args.no_default_library && !holds_library) {
        Ok(b) => b,
        Err(errors) => {
            let mut err = std::io::stderr().lock();
            for e in &errors {
                let _ = writeln!(err, "{e}");
            }
            let first = errors.first().map(PolicyError::to_string).unwrap_or_default();
            anyhow::bail!("{} policy file(s) do not compile (first: {first})", errors.len());
        }
    };
    let mut outcomes = bundle.run_tests(args.run.as_deref());
    for (path, text) in &cases {
        match tollgate_policy::run_cases(&bundle, path, text) {
            Ok(mut o) => outcomes.append(&mut o),
            Err(e) => anyhow::bail!("{e}"),
        }
    }
    outcomes.retain(|o| args.run.as_deref().is_none_or(|f| o.name.contains(f)));
    let mut out = std::io::stdout().lock();
    let mut current_file = "";
    let mut passed = 0;
    for o in &outcomes {
        let show = args.verbose || o.result != TestResult::Pass;
        if o.result == TestResult::Pass {
            passed += 1;
        }
        if !show {
            continue;
        }
        if o.file != current_file {
            writeln!(out, "{}:", o.file)?;
            current_file = &o.file;
        }
        let ms = o.elapsed.as_secs_f64() * 1000.0;
        match &o.result {
            TestResult::Pass => writeln!(out, "{}: PASS ({ms:.3}ms)", o.name)?,
            TestResult::Fail => writeln!(out, "{}: FAIL ({ms:.3}ms)", o.name)?,
            TestResult::Error(e) => writeln!(out, "{}: ERROR ({ms:.3}ms)\n  {e}", o.name)?,
        }
    }
    let failed = outcomes.len() - passed;
    if args.verbose || failed > 0 {
        writeln!(out, "{}", "-".repeat(80))?;
    }
    if outcomes.is_empty() {
        writeln!(out, "no tests found")?;
        return Ok(ExitCode::from(1));
    }
    if passed > 0 {
        writeln!(out, "PASS: {passed}/{}", outcomes.len())?;
    }
    if failed > 0 {
        writeln!(out, "FAIL: {failed}/{}", outcomes.len())?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Collects `.rego` files and `cases/**/*.yaml` under `dir`, with paths relative to `root`.
fn collect(root: &Path, dir: &Path, sources: &mut Vec<(String, String)>, cases: &mut Vec<(String, String)>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read `{}`", dir.display()))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            collect(root, &path, sources, cases)?;
            continue;
        }
        let display = path.strip_prefix(root).unwrap_or(&path);
        let display = Path::new(root.file_name().unwrap_or_default()).join(display).display().to_string();
        let is_case = path.extension().is_some_and(|e| e == "yaml" || e == "yml") && path.components().any(|c| c.as_os_str() == "cases");
        if path.extension().is_some_and(|e| e == "rego") || is_case {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
            if is_case { cases.push((display, text)) } else { sources.push((display, text)) }
        }
    }
    Ok(())
}
