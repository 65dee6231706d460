//! `tollgate serve`: the HTTP server (JSON API, health, readiness, metrics), plain or TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tollgate_controller::service::Service;
use tollgate_webhooks::Limits;
use tollgate_webhooks::{AppState, Metrics};

use super::control::{Looping, RepoArgs, default_replica, locate, options, run_loop};
use super::{out, runtime};
use tollgate_controller::git::Fetcher;
use tollgate_controller::reconcile::{Action, PassReport};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(flatten)]
    keys: super::audit::KeyArgs,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PEM certificate chain: serve TLS (with `--tls-key`).
    #[arg(long, env = "TOLLGATE_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long, env = "TOLLGATE_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// With `--tls-cert`: how often to look for a new certificate and key (rotated in place, as
    /// cert-manager does); a changed pair is served from the next handshake on, a broken one is
    /// logged and the current one kept.
    #[arg(long, env = "TOLLGATE_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = super::parse_interval, requires = "tls_cert")]
    tls_reload_interval: Duration,
    /// With a remote `--repo`: fetch at most this often for reads (approvals always fetch). The
    /// current commit is also prepared this often, which is what `/readyz` reports.
    #[arg(long, default_value = "30s", value_parser = super::parse_interval)]
    fetch_interval: Duration,
    /// Also run the reconcile loop in this process (one leader among replicas, as `tollgate
    /// reconcile`); approvals and `POST /api/v1/reconcile` then start a pass at once.
    #[arg(long)]
    reconcile: bool,
    /// With `--reconcile`: time between passes.
    #[arg(long, default_value = "30s", value_parser = super::parse_interval, requires = "reconcile")]
    interval: Duration,
    /// With `--reconcile`: this replica's name in leader election (default: host and process id).
    #[arg(long, env = "TOLLGATE_REPLICA", requires = "reconcile")]
    replica: Option<String>,
    /// The environment variable that holds GitHub's webhook secret; while it is rotated,
    /// `<VAR>_PREVIOUS` may hold the one it replaces. Unset: `POST /webhooks/github` answers 503.
    #[arg(long, default_value = "TOLLGATE_GITHUB_WEBHOOK_SECRET", value_name = "VAR")]
    github_webhook_secret_env: String,
}

/// The webhook secrets from `var` and `<var>_PREVIOUS`; `None` when unset (never logged).
fn github_secrets(var: &str) -> Option<tollgate_github::webhook::Secrets> {
    let read = |v: &str| std::env::var(v).ok().map(|s| s.trim().as_bytes().to_vec()).filter(|s| !s.is_empty());
    let current = read(var)?;
    let previous = read(&format!("{var}_PREVIOUS"));
    tollgate_github::webhook::Secrets::new(&current, previous.as_deref())
}

/// Runs `tollgate serve` until SIGINT or SIGTERM.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let hint = || tollgate_error::Hinted::new("failed to set up TLS", "give a PEM certificate chain and its PEM private key");
            let reloader = tollgate_webhooks::tls::Reloader::new(cert, key).with_context(hint)?;
            let config = reloader.resolver().server_config().with_context(hint)?;
            Some((reloader, config))
        }
        _ => None,
    };
    if tls.is_none() && !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "serving plain HTTP on a non-loopback address: API tokens travel in clear; use --tls-cert/--tls-key or a TLS-terminating proxy");
    }
    runtime()?.block_on(async move {
        let log = args.keys.open_log(&args.repo.db).await.context("failed to open the audit log")?;
        let (repo, mirror) = locate(&args.repo, Some(&log)).await?;
        let log = super::control::anchored(log, &repo);
        let service = Service::new(log.clone(), options(&repo, jiff::Timestamp::now(), None)?, mirror, args.fetch_interval);
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let looping = args.reconcile.then(|| {
            let cfg = Looping {
                repo: args.repo.clone(),
                replica: args.replica.clone().unwrap_or_else(default_replica),
                interval: args.interval,
                once: false,
                at: None,
                keep_going: true,
            };
            let fetcher = Fetcher::new(cfg.interval);
            (cfg, fetcher)
        });
        let trigger = looping.as_ref().map(|(_, f)| f.trigger());
        let github = github_secrets(&args.github_webhook_secret_env)
            .map(|secrets| tollgate_webhooks::github::GitHubHook { secrets, wake: Arc::new(tokio::sync::Notify::new()) });
        if github.is_none() {
            tracing::info!(var = %args.github_webhook_secret_env, "no GitHub webhook secret: POST /webhooks/github is off");
        }
        let metrics = match &tls {
            Some((reloader, _)) => Metrics::new().with_tls(Arc::clone(reloader.resolver())),
            None => Metrics::new(),
        };
        // The certificate files are looked at on a task of their own; each handshake takes the
        // pair in use at that moment.
        let (tls, reloading) = match tls {
            Some((reloader, config)) => {
                let mut stop = stop.clone();
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                (Some(config), Some(tokio::spawn(reloader.run(args.tls_reload_interval, stopped))))
            }
            None => (None, None),
        };
        let admission = tls.is_some();
        if !admission {
            tracing::info!("no TLS: POST /admission is off (the API server calls webhooks over HTTPS only)");
        }
        let state = Arc::new(AppState { service, metrics, reconcile: trigger, github, admission, dashboard: tollgate_webhooks::dashboard::DashboardState::new(admission) });
        // GitHub's deliveries: the inbox is worked through on a task of its own, woken by each
        // new delivery; what a crash left queued is taken up at start.
        let door = state.github.as_ref().map(|hook| {
            let (state, wake, mut stop) = (Arc::clone(&state), Arc::clone(&hook.wake), stop.clone());
            tokio::spawn(async move {
                let halt = tokio::sync::Notify::new();
                let work = tollgate_controller::pulls::run(&state.service, &wake, state.reconcile.as_ref(), &halt);
                tokio::pin!(work);
                let stopping = tokio::select! {
                    () = &mut work => false,
                    stopped = stop.wait_for(|s| *s) => stopped.is_ok(),
                };
                // Stop between deliveries: the one in hand is finished (for up to 30 s; what is
                // cut short is claimed again when its lease ends, and handling is idempotent).
                if stopping {
                    halt.notify_one();
                    if tokio::time::timeout(Duration::from_secs(30), work).await.is_err() {
                        tracing::warn!("stopped while a GitHub delivery was in hand; it is taken up again after its lease");
                    }
                }
            })
        });
        // `/readyz` answers from the last prepare and never prepares itself: prepare at start,
        // then every fetch interval, so that it follows the branch even when no one reads.
        tokio::spawn({
            let (state, mut stop, every) = (Arc::clone(&state), stop.clone(), args.fetch_interval);
            async move {
                loop {
                    if let Err(err) = state.service.prepare().await {
                        tracing::warn!(error = %tollgate_error::chain(&err), "the config repo could not be prepared");
                    }
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        () = tokio::time::sleep(every) => {}
                    }
                }
            }
        });
        // Replicas follow the store: when the audit trail's head moves (another replica
        // promoted, or recorded an approval) the repo is fetched and prepared at once, so the
        // admission index follows within a second or so; the fetch interval stays the floor.
        tokio::spawn({
            let (state, mut stop) = (Arc::clone(&state), stop.clone());
            async move {
                let mut watch = match state.service.store().watch_head(Duration::from_secs(1)).await {
                    Ok(w) => w,
                    Err(err) => {
                        tracing::warn!(error = %tollgate_error::chain(&err), "cannot follow the store; the config repo is followed at the fetch interval only");
                        return;
                    }
                };
                loop {
                    let moved = tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        moved = watch.changed() => moved,
                    };
                    if let Err(err) = moved {
                        tracing::warn!(error = %tollgate_error::chain(&err), "lost the store's announcements; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    // Moves announced while this one is followed are followed with it.
                    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), watch.changed()).await {}
                    match state.service.follow().await {
                        Ok(commit) => tracing::debug!(commit, "followed the store"),
                        Err(err) => tracing::warn!(error = %tollgate_error::chain(&err), "the config repo could not be prepared"),
                    }
                }
            }
        });
        let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("failed to listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        // The first line on stdout, so scripts (and tests) can find a port chosen by the system.
        out(format!("listening on {scheme}://{addr}"));
        tracing::info!(%addr, scheme, reconcile = args.reconcile, "serving");
        let stop_tx = Arc::new(stop_tx);
        let on_signal = Arc::clone(&stop_tx);
        tokio::spawn(async move {
            super::shutdown_signal().await;
            let _ = on_signal.send(true);
        });
        let mut stopped = stop.clone();
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        // The server runs on its own task; the loop runs on this one (it holds Git handles,
        // which may not be shared across threads, and blocks while it prepares a commit, which
        // must not hold up accepting connections). Whichever ends first stops the other.
        let server = tokio::spawn({
            let stop_tx = Arc::clone(&stop_tx);
            async move {
                let r = tollgate_webhooks::serve(
                    listener,
                    tollgate_webhooks::router(state),
                    tls,
                    shutdown,
                    Duration::from_secs(10),
                    Limits::default(),
                )
                .await;
                let _ = stop_tx.send(true);
                r
            }
        });
        if let Some((cfg, fetcher)) = looping {
            let r = run_loop(&cfg, &log, fetcher, stop.clone(), |report| {
                log_pass(report);
                Ok(())
            })
            .await;
            let _ = stop_tx.send(true);
            r.context("the reconcile loop failed")?;
        }
        server.await.context("the server panicked")?.context("the server failed")?;
        if let Some(door) = door {
            door.await.context("the GitHub worker panicked")?;
        }
        if let Some(reloading) = reloading {
            reloading.await.context("the TLS certificate reloader panicked")?;
        }
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// A pass's report as log lines (a server has no terminal to print tables on).
fn log_pass(report: &PassReport) {
    for a in &report.actions {
        match a {
            Action::Recorded { subject, state, seq } => tracing::debug!(subject, state = state.as_str(), seq, "decision recorded"),
            other => tracing::info!(action = ?other, "promotion"),
        }
    }
    let blocked = report.decisions.iter().filter(|d| d.state == tollgate_decision::State::Blocked).count();
    tracing::info!(commit = report.commit, decisions = report.decisions.len(), blocked, "pass done");
}
