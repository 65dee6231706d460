//! Fresh databases for each test: a SQLite file in a temporary directory, or a uniquely named
//! PostgreSQL database that is dropped afterwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The PostgreSQL server tests use; override with `TOLLGATE_TEST_PG`.
pub fn pg_admin_url() -> String {
    std::env::var("TOLLGATE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A number that differs between calls and between processes.
pub fn unique() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (u64::from(std::process::id()) << 32) ^ (COUNTER.fetch_add(1, Ordering::Relaxed) << 20) ^ u64::from(nanos)
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("audit.db").display());
                TestDb { url, backend, _dir: Some(dir), pg_name: None }
            }
            Backend::Postgres => {
                let name = format!("tollgate_test_{:x}", unique());
                let admin = sqlx::PgPool::connect(&pg_admin_url()).await.expect("postgres is running");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create database");
                admin.close().await;
                let base = pg_admin_url();
                let url = match base.rfind('/') {
                    Some(i) if i > "postgres://".len() => format!("{}/{name}", &base[..i]),
                    _ => format!("{base}/{name}"),
                };
                TestDb { url, backend, _dir: None, pg_name: Some(name) }
            }
        }
    }

    /// Runs raw SQL against the database, as an attacker with database access would.
    pub async fn exec(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.expect("connect");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&pool).await.expect("tamper sql");
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.expect("connect");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&pool).await.expect("tamper sql");
                pool.close().await;
            }
        }
    }

    /// The text of a query plan (`EXPLAIN …`), one line per row. On PostgreSQL sequential scans
    /// are switched off first, so the plan shows whether an index *can* serve the query however
    /// small the test table is.
    pub async fn query_text(&self, sql: &str) -> String {
        use sqlx::Row as _;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.expect("connect");
                let rows = sqlx::query(sql).fetch_all(&pool).await.expect("explain");
                pool.close().await;
                rows.iter().map(|r| r.try_get::<String, _>("detail").expect("detail")).collect::<Vec<_>>().join("\n")
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.expect("connect");
                let mut conn = pool.acquire().await.expect("connection");
                sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.expect("set");
                let rows = sqlx::query(sql).fetch_all(&mut *conn).await.expect("explain");
                drop(conn);
                pool.close().await;
                rows.iter().map(|r| r.try_get::<String, _>(0).expect("plan")).collect::<Vec<_>>().join("\n")
            }
        }
    }

    /// Lifts the append-only triggers, as an attacker would first.
    pub async fn drop_guards(&self) {
        match self.backend {
            Backend::Sqlite => self.exec("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;").await,
            Backend::Postgres => self.exec("DROP TRIGGER audit_events_no_change ON audit_events;").await,
        }
    }

    /// A blob literal.
    pub fn blob(&self, bytes: &[u8]) -> String {
        match self.backend {
            Backend::Sqlite => format!("X'{}'", hex::encode(bytes)),
            Backend::Postgres => format!("decode('{}', 'hex')", hex::encode(bytes)),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async code; use a private runtime on a plain thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let admin = sqlx::PgPool::connect(&pg_admin_url()).await.ok()?;
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await;
                admin.close().await;
                Some(())
            })
        })
        .join();
    }
}

/// Defines one test per backend from an `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}
