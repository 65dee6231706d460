//! What the webhooks benchmarks share: a service over a committed copy of `examples/` and a
//! SQLite store, and the latency summary they print.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tollgate_controller::reconcile::{Device, GateSettings, Options};
use tollgate_controller::service::Service;
use tollgate_store::{AuditLog, Store};

/// `examples/` committed under `tmp` (after `edit`), and a service over it with a SQLite store
/// in `tmp` (not prepared).
pub async fn service(tmp: &Path, edit: impl FnOnce(&Path)) -> (Service, Store) {
    let repo = tmp.join("config");
    tollgate_test_support::commit_examples(&repo, edit);
    service_over(repo, tmp).await
}

/// A service over the committed config repo `repo`, with a SQLite store in `tmp` (not prepared).
pub async fn service_over(repo: PathBuf, tmp: &Path) -> (Service, Store) {
    let store = Store::open(&format!("sqlite://{}", tmp.join("tollgate.db").display())).await.unwrap();
    let opts = Options {
        repo,
        rev: "HEAD".into(),
        now: jiff::Timestamp::now(),
        release: None,
        gates: GateSettings { cache_dir: Some(tmp.join("gates")), device: Device::Cpu, kubernetes: None },
        bot: ("tollgate".into(), "bot@acme.example".into()),
        jobs: 1,
    };
    (Service::new(AuditLog::new(store.clone()), opts, None, Duration::ZERO), store)
}

/// Prints p50, p90, p99, p99.9 and the mean of `v` (in a column `width` wide, counting `what`),
/// and returns p50 and p99 in milliseconds.
pub fn summary(name: &str, width: usize, what: &str, mut v: Vec<Duration>) -> (f64, f64) {
    v.sort_unstable();
    let at = |q: f64| quantile(&v, q);
    let mean = v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len() as f64 * 1e3;
    println!(
        "{name:<width$} p50 {:>7.3} ms  p90 {:>7.3}  p99 {:>7.3}  p99.9 {:>7.3}  mean {mean:>7.3} ms  ({} {what})",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        v.len()
    );
    (at(0.5), at(0.99))
}

/// The `q` quantile of `sorted` (ascending), in milliseconds.
pub fn quantile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}
