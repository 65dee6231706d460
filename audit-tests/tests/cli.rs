//! `tollgate audit …` end to end: the real binary, real databases, the exit codes users see.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `tollgate` binary, built once (a no-op when it is fresh). `TOLLGATE_BIN` overrides.
fn tollgate() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("TOLLGATE_BIN") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "tollgate", "--bin", "tollgate"])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building tollgate failed");
        // Tests run from <target>/debug/deps/; the binary sits in <target>/debug/.
        let exe = std::env::current_exe().expect("test binary path");
        exe.parent().and_then(Path::parent).expect("target dir").join("tollgate")
    })
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(db: &str, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(tollgate());
    cmd.arg("audit").args(args).env("TOLLGATE_DB", db).env_remove("TOLLGATE_AUDIT_KEY").env_remove("TOLLGATE_AUDIT_KEY_FILE");
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

fn pg_admin() -> String {
    std::env::var("TOLLGATE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database URL for `backend`, and a guard that drops a PostgreSQL one.
async fn fresh(backend: &str, dir: &Path) -> (String, Option<String>) {
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

async fn drop_db(name: Option<String>) {
    if let Some(name) = name {
        let admin = sqlx::PgPool::connect(&pg_admin()).await.expect("postgres is running");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await.expect("drop");
        admin.close().await;
    }
}

async fn tamper(db: &str, sql: &str) {
    if db.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(db).await.expect("connect");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&pool).await.expect("tamper");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(db).await.expect("connect");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&pool).await.expect("tamper");
        pool.close().await;
    }
}

async fn audit_lifecycle(backend: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let (db, guard) = fresh(backend, tmp.path()).await;
    let key_file = tmp.path().join("audit.key");
    let key_path = key_file.to_str().expect("utf-8 path");

    let keygen = run(&db, &["keygen", "--name", "tollgate-e2e", "--out", key_path], &[]);
    assert_eq!(keygen.code, 0, "{}", keygen.stderr);
    let vkey = keygen.stdout.trim().to_owned();
    assert!(vkey.starts_with("tollgate-e2e+"), "{vkey}");
    let keyed = [("TOLLGATE_AUDIT_KEY_FILE", key_path)];

    let start = run(&db, &["verify"], &[]);
    assert_eq!(start.code, 0, "empty log verifies: {}{}", start.stdout, start.stderr);
    let from = "2000-01-01T00:00:00Z";
    for (i, payload) in [r#"{"ticket":"CHG-1"}"#, r#"{"ticket":"CHG-2","risk":0.25}"#, "{}"].iter().enumerate() {
        let a = run(
            &db,
            &["append", "--actor", "alice", "--action", "change.approved", "--subject", &format!("change/{i}"), "--payload", payload],
            &keyed,
        );
        assert_eq!(a.code, 0, "{}", a.stderr);
        assert!(a.stdout.starts_with(&format!("{} ", i + 1)), "prints seq and hash: {}", a.stdout);
    }
    let cp = run(&db, &["checkpoint"], &keyed);
    assert_eq!(cp.code, 0, "{}", cp.stderr);
    assert!(cp.stdout.starts_with("tollgate.dev/audit\n3\n"), "{}", cp.stdout);

    let v = run(&db, &["verify", "--trusted-key", &vkey], &[]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("ok: 3 events, 1 checkpoints"), "{}", v.stdout);
    let no_key = run(&db, &["verify"], &[]);
    assert_eq!(no_key.code, 2, "checkpoints but no trusted key is a usage error");
    assert!(no_key.stderr.contains("hint:"), "{}", no_key.stderr);

    let out = tmp.path().join("bundle");
    let e = run(&db, &["export", "--from", from, "--to", "2100-01-01T00:00:00Z", "--out", out.to_str().expect("utf-8")], &keyed);
    assert_eq!(e.code, 0, "{}", e.stderr);
    let vb = run(&db, &["verify-bundle", out.to_str().expect("utf-8"), "--trusted-key", &vkey], &[]);
    assert_eq!(vb.code, 0, "{}{}", vb.stdout, vb.stderr);
    assert!(vb.stdout.contains("ok: 3 events"), "{}", vb.stdout);
    let py = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/audit/verify_bundle.py"))
        .arg(&out)
        .args(["--trusted-key", &vkey])
        .output()
        .expect("python3");
    assert_eq!(py.status.code(), Some(0), "{}", String::from_utf8_lossy(&py.stdout));

    // Misuse exits 2 with the cause; nothing is written.
    for bad in [r#"{"a":1,"a":2}"#, "not json", "9007199254740993"] {
        let r = run(&db, &["append", "--actor", "a", "--action", "b", "--subject", "c", "--payload", bad], &[]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: invalid `--payload`"), "{}", r.stderr);
    }
    let r = run(&db, &["append", "--actor", "", "--action", "b", "--subject", "c"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run("mysql://localhost/x", &["verify"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    // Tampering is caught and the first bad row named, exit 1.
    let lift_guards = if backend == "sqlite" {
        "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;"
    } else {
        "DROP TRIGGER audit_events_no_change ON audit_events;"
    };
    tamper(&db, &format!("{lift_guards} DELETE FROM audit_events WHERE seq = 2;")).await;
    let v = run(&db, &["verify", "--trusted-key", &vkey], &[]);
    assert_eq!(v.code, 1, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("first bad row: seq 2"), "{}", v.stdout);
    drop_db(guard).await;
}

#[tokio::test]
async fn sqlite_audit_lifecycle() {
    audit_lifecycle("sqlite").await;
}

#[tokio::test]
async fn postgres_audit_lifecycle() {
    audit_lifecycle("postgres").await;
}
