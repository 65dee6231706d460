//! End-to-end compliance scenarios: `tests/cli.rs` (the audit trail) and `tests/controller.rs`
//! (reconcile, approvals, windows, promotion). They drive the real `tollgate` binary (built on
//! first use) against real Git repositories, a real SQLite file and a real PostgreSQL server.
//! This library holds what the scenarios share.

use std::path::Path;
use std::process::{Command, Output};

/// The `tollgate` binary, built once (a no-op when it is fresh). `TOLLGATE_BIN` overrides.
pub use tollgate_test_support::tollgate_binary as tollgate;

pub use tollgate_test_support::{ALICE, CAROL, commit_examples, copy_dir, git};

/// What a run of the binary left.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `tollgate ARGS` in `dir` with extra environment variables, without those in `remove`.
///
/// # Panics
///
/// When the binary cannot be started.
pub fn run_in(dir: Option<&Path>, args: &[&str], envs: &[(&str, &str)], remove: &[&str]) -> Run {
    let mut cmd = Command::new(tollgate());
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    for k in remove {
        cmd.env_remove(k);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let Output { status, stdout, stderr } = cmd.output().expect("tollgate runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The PostgreSQL server the scenarios use (`TOLLGATE_TEST_PG` overrides).
pub fn pg_admin() -> String {
    std::env::var("TOLLGATE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database URL for `backend` (`sqlite` or `postgres`), and the name of the PostgreSQL
/// database to drop afterwards.
///
/// # Panics
///
/// When PostgreSQL is not running.
pub async fn fresh(backend: &str, dir: &Path) -> (String, Option<String>) {
    if backend == "sqlite" {
        return (format!("sqlite://{}", dir.join("tollgate.db").display()), None);
    }
    let name = format!(
        "tollgate_e2e_{}_{}",
        std::process::id(),
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("x").to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    let admin = sqlx::PgPool::connect(&pg_admin()).await.expect("postgres is running");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create database");
    admin.close().await;
    let base = pg_admin();
    let base = &base[..base.rfind('/').expect("url with a database")];
    (format!("{base}/{name}"), Some(name))
}

/// Drops a database made by [`fresh`].
///
/// # Panics
///
/// When PostgreSQL is not running.
pub async fn drop_db(name: Option<String>) {
    if let Some(name) = name {
        let admin = sqlx::PgPool::connect(&pg_admin()).await.expect("postgres is running");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await.expect("drop");
        admin.close().await;
    }
}
