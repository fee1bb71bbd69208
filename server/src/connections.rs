//! The accept loop: every connection is served by hyper's HTTP/1 with a timer, so no
//! connection can hold the relay's resources for free.
//!
//! - **Head timeout** ([`ConnLimits::head_timeout`]): hyper's `header_read_timeout` starts
//!   when the connection is served, covers the first byte and the whole request head, and
//!   restarts while a kept-alive connection waits for its next request — one timer for
//!   "sends nothing", "stops mid-headers" and "idles forever".
//! - **Body timeout** (a gap between body bytes) and **request timeout** (a whole request)
//!   are tower-http layers on the router; a WebSocket is exempt once it has upgraded.
//! - **A cap on open connections**, derived from the process's file-descriptor limit
//!   ([`max_connections_for`]). At the cap a new connection evicts the oldest one that has
//!   not started a request (or idles between requests); if every connection is busy or a
//!   WebSocket, the new one is closed at once. So a flood of silent connections can never
//!   keep a health check or a real visitor out, and `accept` never runs out of descriptors.
//! - Each request gets [`axum::extract::ConnectInfo`] with the peer's address.
//!
//! Shutdown: stop accepting, let requests in flight finish, close idle connections;
//! WebSockets are told by the relay's own shutdown signal.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tower::{Layer as _, Service};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

/// How connections are bounded. Every field is a `CHATPAY_*` option of `chatpay serve`.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// From the start of a connection (or the end of its last request) to a complete
    /// request head.
    pub head_timeout: Duration,
    /// The longest gap between two pieces of a request body.
    pub body_timeout: Duration,
    /// The longest a request may take to be answered (WebSockets: until they upgrade).
    pub request_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> ConnLimits {
        ConnLimits {
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: max_connections_for(fd_limit()),
        }
    }
}

/// The process's file-descriptor limit, raised to the hard limit when the soft one is lower
/// (as servers usually do).
pub fn fd_limit() -> u64 {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, hard)) if soft < hard => rlimit::increase_nofile_limit(hard).unwrap_or(soft),
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

/// Connections allowed for a descriptor limit: what is left after the database, the
/// outgoing calls to Stripe and the files the relay opens (a tenth, at least 64).
pub fn max_connections_for(fd_limit: u64) -> usize {
    let reserve = (fd_limit / 10).max(64);
    fd_limit.saturating_sub(reserve).max(16) as usize
}

/// Where a connection is, for eviction.
const WAITING: u8 = 0;
const BUSY: u8 = 1;
const UPGRADED: u8 = 2;

struct Entry {
    stage: Arc<AtomicU8>,
    evict: Option<oneshot::Sender<()>>,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Registry {
    open: Mutex<BTreeMap<u64, Entry>>,
    next: AtomicU64,
}

impl Registry {
    /// Registers a connection, evicting the oldest waiting one when at `cap`. `None`: no
    /// room (everything busy or upgraded).
    fn admit(&self, cap: usize) -> Option<(u64, Arc<AtomicU8>, oneshot::Receiver<()>)> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= cap {
            let victim = open
                .iter()
                .find(|(_, e)| e.stage.load(Ordering::Acquire) == WAITING)
                .map(|(id, _)| *id)?;
            if let Some(mut e) = open.remove(&victim) {
                if let Some(tx) = e.evict.take() {
                    let _ = tx.send(());
                }
            }
            tracing::debug!("connection cap reached: evicted the oldest idle connection");
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let stage = Arc::new(AtomicU8::new(WAITING));
        let (tx, rx) = oneshot::channel();
        open.insert(
            id,
            Entry {
                stage: Arc::clone(&stage),
                evict: Some(tx),
            },
        );
        Some((id, stage, rx))
    }

    fn leave(&self, id: u64) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Marks a connection busy while a request is answered, then waiting again (or upgraded
/// after a `101 Switching Protocols`).
#[derive(Clone)]
struct Staged<S> {
    inner: S,
    stage: Arc<AtomicU8>,
}

impl<S, B> Service<axum::http::Request<B>> for Staged<S>
where
    S: Service<axum::http::Request<B>, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        self.stage.store(BUSY, Ordering::Release);
        let stage = Arc::clone(&self.stage);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await;
            let next = match &resp {
                Ok(r) if r.status() == StatusCode::SWITCHING_PROTOCOLS => UPGRADED,
                _ => WAITING,
            };
            stage.store(next, Ordering::Release);
            resp
        })
    }
}

/// Serves `app` on `listener` until `stop` completes (see the module docs).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app: Router = app
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ));
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut stop = std::pin::pin!(stop);
    tracing::info!(max_connections = limits.max_connections, "accepting connections");
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait, do not spin.
                    tracing::warn!(error = %e, open = registry.len(), "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Some((id, stage, evicted)) = registry.admit(limits.max_connections) else {
            tracing::warn!(%peer, open = registry.len(), "connection refused: every connection is busy");
            drop(tcp);
            continue;
        };
        let service = Staged {
            inner: Extension(ConnectInfo(peer)).layer(app.clone()),
            stage,
        };
        let (registry, mut stop_rx, done_rx) = (Arc::clone(&registry), stop_rx.clone(), done_rx.clone());
        let head_timeout = limits.head_timeout;
        tokio::spawn(async move {
            let _done = done_rx;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(head_timeout)
                .max_buf_size(64 * 1024)
                .keep_alive(true);
            let conn = builder
                .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = evicted => Ok(()),
                _ = async { let _ = stop_rx.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await
                }
            };
            registry.leave(id);
            if let Err(e) = result {
                if !e.is_timeout() {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_relays_own_descriptors() {
        assert_eq!(max_connections_for(1024), 922);
        assert_eq!(max_connections_for(20_000), 18_000);
        assert_eq!(max_connections_for(100), 36);
        assert_eq!(max_connections_for(10), 16);
    }

    #[test]
    fn at_the_cap_the_oldest_waiting_connection_makes_room() {
        let r = Registry::default();
        let (a, a_stage, mut a_gone) = r.admit(2).unwrap();
        let (_b, _, mut b_gone) = r.admit(2).unwrap();
        a_stage.store(BUSY, Ordering::Release);
        // a is busy: b (waiting) goes.
        let (_c, c_stage, _) = r.admit(2).unwrap();
        assert!(b_gone.try_recv().is_ok());
        assert!(a_gone.try_recv().is_err());
        // Both busy or upgraded: no room.
        c_stage.store(UPGRADED, Ordering::Release);
        assert!(r.admit(2).is_none());
        r.leave(a);
        assert!(r.admit(2).is_some());
    }
}
