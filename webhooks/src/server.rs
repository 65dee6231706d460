//! The accept loop of every listener, plain HTTP or TLS, and the limits it holds to (issue
//! #12): a client that sends its headers slowly, or not at all, is cut off; a request head is
//! bounded; connections beyond the limit wait in the kernel's backlog instead of taking a task
//! and a descriptor each.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// What one server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's headers, and how long an idle keep-alive
    /// connection waits for the next request.
    pub header_read_timeout: Duration,
    /// How long a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// The largest request head (request line and headers) read, in bytes (at least 8 KiB);
    /// a larger one closes the connection.
    pub max_head_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_head_bytes: 16 * 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish
/// (at most `grace`). With `tls`, every connection is TLS (HTTP/1.1). Plain or TLS, every
/// connection is held to `limits`.
///
/// # Errors
///
/// None today: a failed accept is logged and retried; the `Result` is for callers that await
/// the server as they would `axum::serve`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    limits: Limits,
) -> std::io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper refuses buffers under 8 KiB.
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_buf_size(limits.max_head_bytes.max(8192));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the limit, nothing more is accepted until a connection ends.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors and the like: back off instead of spinning.
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let Some(acceptor) = acceptor else {
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                return finish(watcher.watch(conn).await, peer);
            };
            // A handshake that stalls must not hold a slot forever.
            match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let conn = builder.serve_connection(TokioIo::new(tls), service);
                    finish(watcher.watch(conn).await, peer);
                }
                Ok(Err(err)) => tracing::debug!(%peer, error = %err, "tls handshake failed"),
                Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
            }
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => tracing::warn!("connections still open after the grace period; closing"),
    }
    Ok(())
}

fn finish(result: Result<(), hyper::Error>, peer: std::net::SocketAddr) {
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection closed with an error");
    }
}
