//! Helpers: a scratch copy of `examples/`, running the binary, committing with libgit2.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
pub use tollgate_test_support::{commit_all, copy_dir, examples};

/// A temporary folder holding a copy of `examples/` (or nothing).
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn empty() -> Scratch {
        Scratch { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn examples() -> Scratch {
        let s = Scratch::empty();
        copy_dir(&examples(), s.path());
        s
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read")
    }

    /// Replaces `from` with `to` in a file, failing the test if `from` is absent.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "`{from}` not in {rel}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path().join(rel)).expect("remove");
    }

    /// `git init` and a first commit of everything.
    pub fn git_init(&self) -> git2::Repository {
        let repo = git2::Repository::init(self.path()).expect("git init");
        commit_all(&repo, "initial");
        repo
    }
}

/// Runs `tollgate` with `args`; the working directory is a fresh empty folder so that nothing
/// depends on where tests run.
pub fn tollgate(args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .current_dir(cwd.path())
        .env_remove("TOLLGATE_REPO")
        .env_remove("TOLLGATE_FORMAT")
        .env("NO_COLOR", "1")
        .output()
        .expect("run tollgate")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

/// Runs `tollgate check --format json` on `dir` (plus `extra`), returning the exit code and report.
pub fn check_json(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let dir = dir.to_str().expect("utf8 path");
    let mut args = vec!["check", "--repo", dir, "--format", "json"];
    args.extend_from_slice(extra);
    let out = tollgate(&args);
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(&out), stderr(&out)));
    (code(&out), report)
}

/// The findings of a JSON report whose rule is `rule`.
pub fn findings<'a>(report: &'a Value, rule: &str) -> Vec<&'a Value> {
    report["findings"].as_array().expect("findings").iter().filter(|f| f["rule"] == rule).collect()
}
