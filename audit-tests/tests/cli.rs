//! `tollgate audit …` end to end: the real binary, real databases, the exit codes users see.

use std::path::Path;
use std::process::Command;

use tollgate_audit_tests::{drop_db, fresh};

fn run(db: &str, args: &[&str], envs: &[(&str, &str)]) -> tollgate_audit_tests::Run {
    let mut all: Vec<&str> = vec!["audit"];
    all.extend_from_slice(args);
    let mut envs = envs.to_vec();
    envs.push(("TOLLGATE_DB", db));
    tollgate_audit_tests::run_in(None, &all, &envs, &["TOLLGATE_AUDIT_KEY", "TOLLGATE_AUDIT_KEY_FILE"])
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
    // The checkpoint kept outside the database (here a file) anchors the log too.
    let saved = tmp.path().join("saved");
    std::fs::create_dir(&saved).expect("mkdir");
    std::fs::write(saved.join("3.checkpoint"), &cp.stdout).expect("save the checkpoint");
    let v = run(&db, &["verify", "--trusted-key", &vkey, "--checkpoint", saved.to_str().expect("utf-8")], &[]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("ok: 3 events, 1 checkpoints verified, 1 saved checkpoints matched"), "{}", v.stdout);
    // A witness cosigns the saved checkpoint (C2SP cosignature/v1); verify can require it.
    let wkey = tmp.path().join("witness.key");
    let wgen = run(&db, &["keygen", "--witness", "--name", "witness.acme.example/w1", "--out", wkey.to_str().expect("utf-8")], &[]);
    assert_eq!(wgen.code, 0, "{}", wgen.stderr);
    let wvkey = wgen.stdout.trim().to_owned();
    let dir = saved.to_str().expect("utf-8");
    let v = run(&db, &["verify", "--trusted-key", &vkey, "--checkpoint", dir, "--witness-key", &wvkey], &[]);
    assert_eq!(v.code, 1, "not cosigned yet: {}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("is not cosigned by witness `witness.acme.example/w1+"), "{}", v.stdout);
    let saved_file = saved.join("3.checkpoint");
    let c = run(
        &db,
        &["cosign", saved_file.to_str().expect("utf-8"), "--key-file", wkey.to_str().expect("utf-8"), "--trusted-key", &vkey],
        &[],
    );
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(
        c.stdout.starts_with(&cp.stdout) && c.stdout.lines().last().is_some_and(|l| l.starts_with("\u{2014} witness.acme.example/w1 ")),
        "{}",
        c.stdout
    );
    std::fs::write(&saved_file, &c.stdout).expect("save the cosigned checkpoint");
    let v = run(&db, &["verify", "--trusted-key", &vkey, "--checkpoint", dir, "--witness-key", &wvkey], &[]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    // A log key is not a witness key, and a missing saved checkpoint is a usage error.
    let c = run(&db, &["cosign", saved_file.to_str().expect("utf-8"), "--key-file", key_path, "--trusted-key", &vkey], &[]);
    assert_eq!(c.code, 2, "{}{}", c.stdout, c.stderr);
    assert!(c.stderr.contains("is not a witness key") && c.stderr.contains("hint:"), "{}", c.stderr);
    let missing = tmp.path().join("no-such.checkpoint");
    let v = run(&db, &["verify", "--trusted-key", &vkey, "--checkpoint", missing.to_str().expect("utf-8")], &[]);
    assert_eq!(v.code, 2, "{}{}", v.stdout, v.stderr);
    assert!(v.stderr.contains("failed to read checkpoint"), "{}", v.stderr);
    // A witness key is not a log key.
    let v = run(&db, &["verify", "--trusted-key", &wvkey], &[]);
    assert_eq!(v.code, 2, "{}{}", v.stdout, v.stderr);
    assert!(v.stderr.contains("is not a trusted key") && v.stderr.contains("hint:"), "{}", v.stderr);
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
    // Everything deleted, checkpoints included (issue #12: an empty database verified ok): with
    // a trusted key the empty log fails, and against the saved checkpoint it fails naming it.
    let zero = if backend == "sqlite" { "zeroblob(32)".to_owned() } else { format!("decode('{}', 'hex')", "00".repeat(32)) };
    tamper(
        &db,
        &format!("DELETE FROM audit_events; DELETE FROM audit_checkpoints; UPDATE audit_head SET size = 0, hash = {zero} WHERE id = 1;"),
    )
    .await;
    let v = run(&db, &["verify", "--trusted-key", &vkey], &[]);
    assert_eq!(v.code, 1, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("FAILED: the log has no events"), "{}", v.stdout);
    let v = run(&db, &["verify", "--trusted-key", &vkey, "--checkpoint", saved.to_str().expect("utf-8")], &[]);
    assert_eq!(v.code, 1, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("but saved checkpoint `") && v.stdout.contains("3.checkpoint` covers `3` events"), "{}", v.stdout);
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
