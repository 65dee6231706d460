//! Audit trail benchmarks (issue #4). Run `benches/audit.sh` for the whole set; each mode
//! prints one line of results on stdout.
//!
//! - `append URL N BATCH`: N events appended in batches of BATCH through `Store::append`
//!   (JCS, hashing, head lock and compare-and-swap, durable commit) against the same rows
//!   inserted plainly with the same durability and batching; alternated, best of 3 each.
//! - `seed URL N KEYFILE`: fills a log with N events (batches of 1000), signing a checkpoint
//!   every 100,000 events, with a new key written to KEYFILE.
//! - `verify URL KEYFILE`: `verify_store`, the code behind `tollgate audit verify`.
//! - `export URL KEYFILE OUT`: `bundle::export` of the whole log, as `tollgate audit export`.
//! - `scan URL`: only reads the rows, through `Store::events` (sqlx) and through
//!   `Store::event_batches` (the bulk path `verify` uses), to separate database cost from
//!   verification cost.
//! - `verify-bundle DIR KEYFILE`: `bundle::verify_bundle`, as `tollgate audit verify-bundle`.

#![allow(clippy::print_stdout)]

use anyhow::{Context as _, bail};
use serde_json::json;
use std::time::{Duration, Instant};
use tollgate_audit::bundle;
use tollgate_audit::checkpoint::Signer;
use tollgate_audit::event::{self, NewEvent};
use tollgate_store::AuditLog;
use tollgate_store::Store;

fn events(start: u64, n: u64) -> anyhow::Result<Vec<NewEvent>> {
    (start..start + n)
        .map(|i| {
            NewEvent::new(
                "svc-reconciler",
                "decision.recorded",
                format!("release/churn-v{}@prod", i % 97),
                json!({
                    "state": if i % 3 == 0 { "Blocked" } else { "Promoted" },
                    "commit": format!("{:040x}", i.wrapping_mul(0x9e3779b97f4a7c15)),
                    "policy_bundle": "sha256:4b227777d4dd1fc61c6f884f48641d02b4d121d3fd328cb08b5531fcacdabf8a",
                    "gates": { "accuracy": 0.9312, "auc": 0.871, "dp_ratio": 0.84 },
                    "approvals": ["alice", "bob"],
                    "seq_hint": i,
                }),
            )
            .context("build event")
        })
        .collect()
}

async fn bench_append(url: &str, n: u64, batch: u64) -> anyhow::Result<()> {
    let store = Store::open(url).await?;
    store.bench_prepare().await?;
    let mut plain_best = Duration::MAX;
    let mut append_best = Duration::MAX;
    let mut plain_seq = 1;
    for _round in 0..3 {
        // Plain: the same rows (bodies already encoded), same transaction size, same durability.
        let head = store.head().await?.size;
        let rows: Vec<(String, Vec<u8>)> = events(head + 1, n)?
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let time = event::now();
                let body = e.encode(head + 1 + i as u64, &time).unwrap_or_default();
                (time, body)
            })
            .collect();
        let start = Instant::now();
        for chunk in rows.chunks(batch as usize) {
            store.bench_plain_insert(plain_seq, chunk).await?;
            plain_seq += chunk.len() as u64;
        }
        plain_best = plain_best.min(start.elapsed());

        let evs = events(head + 1, n)?;
        let start = Instant::now();
        for chunk in evs.chunks(batch as usize) {
            store.append(chunk).await?;
        }
        append_best = append_best.min(start.elapsed());
    }
    let report = tollgate_store::verify_store(&store, &[], &Default::default()).await?;
    if report.problem.is_some() {
        bail!("log does not verify after the benchmark: {:?}", report.problem);
    }
    store.close().await;
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "append url={} events={n} batch={batch}: plain {:.3}s ({:.0}/s), audit append {:.3}s ({:.0}/s), ratio {:.3}",
        url.split("://").next().unwrap_or(""),
        plain_best.as_secs_f64(),
        rate(plain_best),
        append_best.as_secs_f64(),
        rate(append_best),
        append_best.as_secs_f64() / plain_best.as_secs_f64()
    );
    Ok(())
}

async fn seed(url: &str, n: u64, key_file: &str) -> anyhow::Result<()> {
    let signer = Signer::generate("tollgate-bench")?;
    std::fs::write(key_file, signer.to_text())?;
    let store = Store::open(url).await?;
    let log = AuditLog::new(store).with_signers(signer, vec![]).with_checkpoint_every(100_000);
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        let b = 1000.min(n - done);
        log.append(&events(done + 1, b)?).await?;
        done += b;
    }
    log.checkpoint().await?;
    println!("seed events={n}: {:.1}s", start.elapsed().as_secs_f64());
    log.store().close().await;
    Ok(())
}

fn signer(key_file: &str) -> anyhow::Result<Signer> {
    Ok(Signer::from_text(&std::fs::read_to_string(key_file)?)?)
}

async fn run(args: &[String]) -> anyhow::Result<()> {
    let arg = |i: usize| args.get(i).map(String::as_str).context("missing argument; see the module docs");
    match arg(1)? {
        "append" => bench_append(arg(2)?, arg(3)?.parse()?, arg(4)?.parse()?).await,
        "seed" => seed(arg(2)?, arg(3)?.parse()?, arg(4)?).await,
        "verify" => {
            let store = Store::open(arg(2)?).await?;
            let key = signer(arg(3)?)?;
            let start = Instant::now();
            let report = tollgate_store::verify_store(&store, &[key.verifier()], &Default::default()).await?;
            let secs = start.elapsed().as_secs_f64();
            if let Some(problem) = report.problem {
                bail!("verify failed: {problem}");
            }
            println!(
                "verify events={} checkpoints={}: {secs:.3}s ({:.0} events/s)",
                report.events,
                report.checkpoints,
                report.events as f64 / secs
            );
            Ok(())
        }
        "export" => {
            let store = Store::open(arg(2)?).await?;
            let log = AuditLog::new(store).with_signers(signer(arg(3)?)?, vec![]);
            let start = Instant::now();
            let s = tollgate_store::export(&log, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", std::path::Path::new(arg(4)?)).await?;
            println!("export range={:?} checkpoint={}: {:.3}s", s.range, s.checkpoint_size, start.elapsed().as_secs_f64());
            Ok(())
        }
        "scan" => {
            // Only reads the rows, to separate database cost from verification cost.
            use futures_util::StreamExt as _;
            let store = Store::open(arg(2)?).await?;
            let start = Instant::now();
            let (mut rows, mut bytes) = (0u64, 0u64);
            let mut events = store.events(1, u64::MAX);
            while let Some(row) = events.next().await {
                bytes += row?.body.len() as u64;
                rows += 1;
            }
            drop(events);
            let secs = start.elapsed().as_secs_f64();
            println!("scan sqlx rows={rows} bytes={bytes}: {secs:.3}s ({:.0} MB/s)", bytes as f64 / secs / 1e6);
            let start = Instant::now();
            let (mut rows, mut bytes) = (0u64, 0u64);
            let mut batches = store.event_batches(1, u64::MAX);
            while let Some(batch) = batches.next().await {
                for row in batch?.iter() {
                    bytes += row.body.len() as u64;
                    rows += 1;
                }
            }
            let secs = start.elapsed().as_secs_f64();
            println!("scan bulk rows={rows} bytes={bytes}: {secs:.3}s ({:.0} MB/s)", bytes as f64 / secs / 1e6);
            Ok(())
        }
        "verify-bundle" => {
            let key = signer(arg(3)?)?;
            let start = Instant::now();
            let r = bundle::verify_bundle(std::path::Path::new(arg(2)?), &[key.verifier()])?;
            if let Some(problem) = r.problem {
                bail!("bundle does not verify: {problem}");
            }
            println!("verify-bundle events={}: {:.3}s", r.events, start.elapsed().as_secs_f64());
            Ok(())
        }
        other => bail!("unknown mode `{other}`"),
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(run(&args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
