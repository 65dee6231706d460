//! Checks of what a platform team installs: the container images (`Dockerfile`,
//! `scripts/build-release`, `scripts/image-git-runtime`), the Helm chart (`charts/tollgate`) and
//! the Terraform module (`terraform/`), with the real tools: helm 4, kubernetes-validate,
//! checkov, hadolint, python-hcl2 (installed by `scripts/deploy-env`, which `scripts/test`
//! sources) and the real `tollgate` binary, which holds the chart and the module's plan to
//! tollgate's own policies. A missing tool fails the test that needs it; nothing is skipped.
//! This library holds what the tests share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub use tollgate_test_support::tollgate_binary as tollgate;

/// The workspace's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The chart's folder.
pub fn chart() -> PathBuf {
    root().join("charts/tollgate")
}

/// The tool `scripts/deploy-env` exports in `var` (`TOLLGATE_HELM`, …).
///
/// # Panics
///
/// When the variable is unset or names no file: the test cannot run without the tool.
pub fn tool(var: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("`{var}` is not set: run the deploy tests through scripts/test, or `source scripts/deploy-env` first"));
    assert!(path.is_file(), "`{var}` names `{}`, which does not exist: run `source scripts/deploy-env`", path.display());
    path
}

/// What a tool run left.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertion messages.
    pub fn both(&self) -> String {
        format!("exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `cmd` to completion.
///
/// # Panics
///
/// When the program cannot be started.
pub fn run(cmd: &mut Command) -> Run {
    let out: Output = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The release name and namespace every render uses.
pub const RELEASE: &str = "tollgate";
/// The namespace every render installs into.
pub const NAMESPACE: &str = "tollgate-system";

/// `helm template` of the chart with the values files (relative to the chart) and `--set`s.
pub fn helm_template(values: &[&str], sets: &[&str]) -> Run {
    let mut cmd = Command::new(tool("TOLLGATE_HELM"));
    cmd.args(["template", RELEASE, "."]).args(["--namespace", NAMESPACE]).current_dir(chart());
    for v in values {
        cmd.args(["--values", v]);
    }
    for s in sets {
        cmd.args(["--set", s]);
    }
    run(&mut cmd)
}

/// Renders with `values` and `sets`, failing the test when helm refuses.
pub fn render(values: &[&str], sets: &[&str]) -> String {
    let r = helm_template(values, sets);
    assert_eq!(r.code, 0, "helm template failed: {}", r.both());
    r.stdout
}

/// The objects of a multi-document YAML stream (empty documents dropped), read by tollgate's
/// one YAML loader.
pub fn objects(yaml: &str) -> Vec<Value> {
    let limits = tollgate_spec::yaml::Limits::default();
    tollgate_spec::yaml::parse_documents(yaml.as_bytes(), &limits)
        .unwrap_or_else(|e| panic!("rendered YAML does not load: {e}"))
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect()
}

/// The one object of `kind` named `name`.
///
/// # Panics
///
/// When there is not exactly one.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind && o["metadata"]["name"] == name).collect();
    assert_eq!(found.len(), 1, "expected one {kind} `{name}`, found {}", found.len());
    found[0]
}

/// The values files under `charts/tollgate/ci/`, each rendered and checked by the tests.
pub const CI_VALUES: &[&str] = &["ci/sqlite-values.yaml", "ci/postgresql-values.yaml"];

/// Runs checkov offline (no guideline download, no platform) over `target` with `framework`
/// and returns the ids of the failed checks, sorted, with the resources they failed for.
pub fn checkov_failures(args: &[&str], framework: &str) -> Vec<(String, String)> {
    let mut cmd = Command::new(tool("TOLLGATE_CHECKOV"));
    cmd.args(args)
        .args(["--framework", framework, "--output", "json", "--quiet", "--compact", "--skip-download"])
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
        .current_dir(root());
    let r = run(&mut cmd);
    // checkov exits 1 when a check failed; anything else that is not 0 is checkov failing.
    assert!(r.code == 0 || r.code == 1, "checkov failed: {}", r.both());
    let report: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("checkov printed no JSON ({e}): {}", r.both()));
    // One report, or one per framework, or `{}`-ish summaries when nothing was scanned.
    let reports = match report {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut failed: Vec<(String, String)> = reports
        .iter()
        .flat_map(|rep| rep["results"]["failed_checks"].as_array().cloned().unwrap_or_default())
        .map(|c| (c["check_id"].as_str().unwrap_or("").to_owned(), c["resource"].as_str().unwrap_or("").to_owned()))
        .collect();
    failed.sort();
    failed.dedup();
    failed
}

/// The checkov ids a README justifies: the first cell of each table row that is a check id.
pub fn justified_checks(readme: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(readme).unwrap_or_else(|e| panic!("cannot read {}: {e}", readme.display()));
    let mut ids: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|id| id.starts_with("CKV"))
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A scratch config repo for `tollgate check`: a `tollgate.yaml` finding manifests under `k8s/`
/// and plans under `infra/`, its one environment (which the default library holds to the rules
/// of production), and the given files.
pub fn config_repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    const CONFIG: &str = "apiVersion: tollgate.dev/v1alpha1\nkind: Config\nmetadata:\n  name: tollgate-deploy\nspec:\n  \
                          environments: [prod]\n  groups:\n    - name: platform\n      members: [alice]\n  users:\n    \
                          - name: alice\n      email: alice@example.com\n      roles: [approver]\n  \
                          plans: [\"infra/**/*.plan.json\"]\n  manifests: [\"k8s/**/*.yaml\"]\n";
    const PROD: &str = "apiVersion: tollgate.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  \
                        approvals:\n    required: 1\n    groups: [platform]\n  gates: [quality]\n";
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, text) in [("tollgate.yaml", CONFIG), ("environments/prod.yaml", PROD)].into_iter().chain(files.iter().copied()) {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

/// `tollgate check --repo DIR --format json`.
pub fn tollgate_check(dir: &Path) -> (Run, Value) {
    let r = run(Command::new(tollgate())
        .args(["check", "--format", "json", "--repo"])
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("TOLLGATE_REPO"));
    let report: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("`tollgate check` printed no JSON ({e}): {}", r.both()));
    (r, report)
}
