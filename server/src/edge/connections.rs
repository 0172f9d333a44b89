//! Accepting connections with hyper directly, for what `axum::serve` does not expose: HTTP/1
//! only, with a deadline for reading request headers that counts from accept (a client that
//! connects and sends nothing, or trickles a request, is cut off), a header size limit, and a
//! cap on open connections, for everyone and per client address. Shutdown drains: held polls are answered at once, new connections
//! are still served for a moment (a balancer notices `/readyz` and moves clients), then the
//! listener closes and requests in flight finish.

use super::client_shares::ClientShares;
use crate::api::error_answers;
use app::error::{ApiError, ErrorKind};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Connections the kernel completes and queues for `accept` (capped by `net.core.somaxconn`).
/// The usual 128 overflows when clients arrive in a burst faster than the accept loop takes
/// them (thousands of pages reconnecting at once): the kernel then drops their SYNs and each
/// waits a full second to retry.
const BACKLOG: u32 = 4096;

/// The most bytes of request headers read; larger is answered 431.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long shutdown waits for requests in flight.
const FINISH: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Options {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// What one peer address may have open (trusted proxies and exempt addresses aside).
    pub per_client: Arc<ClientShares>,
    /// How long the server keeps serving after a shutdown begins.
    pub drain: Duration,
}

/// A listener on `addr` with a deep accept queue ([`BACKLOG`]).
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's TcpListener::bind does: a restarted server can bind while old connections
    // linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Open connections, shared with the metrics.
#[derive(Clone)]
pub struct Connections {
    slots: Arc<Semaphore>,
    max: usize,
}

impl Connections {
    pub fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then calls `draining`, serves for
/// `options.drain` more, and stops.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: Options,
    connections: Connections,
    shutdown: impl Future<Output = ()> + Send + 'static,
    draining: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    let drain = options.drain;
    let stop_accepting = async move {
        shutdown.await;
        tracing::info!("shutting down: draining for {drain:?}");
        draining();
        tokio::time::sleep(drain).await;
    };
    tokio::pin!(stop_accepting);
    loop {
        // Past the cap, new connections wait in the listen backlog.
        let slot = tokio::select! {
            slot = connections.slots.clone().acquire_owned() => slot.expect("never closed"),
            () = &mut stop_accepting => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait, do not stop serving.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop_accepting => break,
        };
        let _ = stream.set_nodelay(true);
        let Some(share) = options.per_client.take(peer.ip()) else {
            // Past its share: one answer that says so, then the connection closes.
            let refuse = hyper::service::service_fn(|_| async {
                Ok::<_, std::convert::Infallible>(too_many_connections())
            });
            let connection = builder.serve_connection(TokioIo::new(stream), refuse);
            tokio::spawn(async move {
                let _ = connection.await;
                drop(slot);
            });
            continue;
        };
        let service = app
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
            drop((share, slot));
        });
    }
    drop(listener);
    if tokio::time::timeout(FINISH, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {FINISH:?}; stopping anyway");
    }
    Ok(())
}

/// 429 for a connection past its client's share, closing it.
fn too_many_connections() -> axum::response::Response {
    let mut response = error_answers::error(
        &ApiError::new(
            ErrorKind::RateLimited,
            "Too many connections from your address at once; close some and try again.",
        )
        .with_retry_after(1),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of clients is queued by the kernel while the accept loop is busy (here: not
    /// accepting at all), rather than having its SYNs dropped past the usual 128.
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_accept_queue() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..1000 {
            let connect = tokio::net::TcpStream::connect(addr);
            // Only bounds a failing run: a dropped SYN is retried after a second.
            let client = tokio::time::timeout(Duration::from_secs(5), connect)
                .await
                .expect("connected without being accepted")
                .unwrap();
            clients.push(client);
        }
        for _ in 0..1000 {
            listener.accept().await.unwrap();
        }
    }
}
