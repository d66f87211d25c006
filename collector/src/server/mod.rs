//! Serving the router on a bound listener, over rustls or (only when asked) plain HTTP, until shutdown, with the
//! connection bounds and timeouts of `connections.rs`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;

pub mod connections;
pub mod proxy;

pub use connections::ConnectionLimits;
use connections::{Limited, Slots};

/// How long in-flight requests may finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes; TLS when `tls` is given.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, tls, ConnectionLimits::default(), shutdown).await
}

/// [`serve`] with the given connection bounds and timeouts.
pub async fn serve_with(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle: Handle<SocketAddr> = Handle::new();
    let signal = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        signal.graceful_shutdown(Some(GRACE));
    });
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let slots = Slots::new(limits.clone());
    let server = axum_server::from_tcp(listener)?.handle(handle).first_request_timeout(limits.header_read);
    match tls {
        Some(config) => {
            let tls = RustlsAcceptor::new(RustlsConfig::from_config(config)).handshake_timeout(limits.tls_handshake);
            timed(server.acceptor(Limited { inner: tls, slots }), &limits).serve(service).await
        }
        None => timed(server.acceptor(Limited { inner: DefaultAcceptor, slots }), &limits).serve(service).await,
    }
}

/// Later requests on a kept-alive connection get the same time to send their headers as the first; an idle
/// connection is closed when it runs out (HTTP/2: when it stops answering pings).
fn timed<A>(
    mut server: axum_server::Server<SocketAddr, A>,
    limits: &ConnectionLimits,
) -> axum_server::Server<SocketAddr, A> {
    server.http_builder().http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read);
    server
        .http_builder()
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_read)
        .keep_alive_timeout(limits.header_read);
    server
}

/// Resolves on SIGINT or SIGTERM. On Unix both are listened for from this call on, so `serve` keeps a stop that
/// comes while it finishes starting and ends cleanly once it listens (elsewhere, Ctrl-C from the first poll).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // A signal that cannot be listened for keeps its default action: it ends the process at once, without the
    // stop's clean-up.
    #[cfg(unix)]
    let [terminate, interrupt] = {
        use tokio::signal::unix::{SignalKind, signal};
        [SignalKind::terminate(), SignalKind::interrupt()]
            .map(|kind| signal(kind).map_err(|e| tracing::warn!(error = %e, "cannot listen for a stop signal")).ok())
    };
    async move {
        #[cfg(unix)]
        {
            async fn next(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(terminate) => {}
                () = next(interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}
