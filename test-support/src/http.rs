//! A loopback HTTP/1.1 server on a thread of its own, for the doubles of remote APIs (GitHub,
//! Kubernetes): each connection is served by `handle`, until the returned sender fires or is
//! dropped.

use std::convert::Infallible;
use std::future::Future;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};

/// Serves `listener` with `handle` on `rt`, on a thread named `name`. When the server stops, the
/// runtime is shut down without waiting for what still runs on it (child processes a double
/// started are killed on drop).
///
/// # Errors
/// The thread cannot be started.
pub fn serve_http1<F, Fut, B>(
    listener: std::net::TcpListener,
    name: &str,
    rt: tokio::runtime::Runtime,
    handle: F,
) -> std::io::Result<tokio::sync::oneshot::Sender<()>>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        rt.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
            let mut stopped = stopped;
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = &mut stopped => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let handle = handle.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, hyper::service::service_fn(handle)).await;
                });
            }
        });
        rt.shutdown_background();
    })?;
    Ok(stop)
}
