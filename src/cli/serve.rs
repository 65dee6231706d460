//! `tollgate serve`: the HTTP server (JSON API, health, readiness, metrics), plain or TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tollgate_controller::service::Service;
use tollgate_webhooks::{AppState, Metrics};

use super::control::{RepoArgs, locate, options, parse_duration};
use super::{out, runtime};

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
    /// With a remote `--repo`: fetch at most this often for reads (approvals always fetch).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    fetch_interval: Duration,
}

/// Runs `tollgate serve` until SIGINT or SIGTERM.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            tollgate_webhooks::tls::server_config(cert, key)
                .context("failed to set up TLS")
                .map_err(|e| e.context("hint: give a PEM certificate chain and its PEM private key"))?,
        ),
        _ => None,
    };
    if tls.is_none() && !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "serving plain HTTP on a non-loopback address: API tokens travel in clear; use --tls-cert/--tls-key or a TLS-terminating proxy");
    }
    runtime()?.block_on(async move {
        let log = args.keys.open_log(&args.repo.db).await.context("failed to open the audit log")?;
        let (repo, mirror) = locate(&args.repo, Some(&log)).await?;
        let service = Service::new(log, options(&repo, jiff::Timestamp::now(), None), mirror, args.fetch_interval);
        let state = Arc::new(AppState { service, metrics: Metrics::new() });
        let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("failed to listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        // The first line on stdout, so scripts (and tests) can find a port chosen by the system.
        out(format!("listening on {scheme}://{addr}"));
        tracing::info!(%addr, scheme, "serving");
        tollgate_webhooks::serve(listener, tollgate_webhooks::router(state), tls, shutdown_signal(), Duration::from_secs(10))
            .await
            .context("the server failed")?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
