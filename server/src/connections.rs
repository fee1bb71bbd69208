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
//!   not started a request (or idles between requests), else the oldest request that has
//!   taken longer than the body timeout; if there is none, the new one is closed at once.
//!   WebSockets may take the cap less a tenth (past that an upgrade is answered 503 and the
//!   widget comes back later), and one client address (an IPv6 /64; trusted proxies
//!   aside) holds at most [`ConnLimits::max_per_ip`]. So neither silent connections, nor
//!   slow requests, nor open sockets can keep a health check or a real visitor out, and
//!   `accept` never runs out of descriptors.
//! - Each request gets [`axum::extract::ConnectInfo`] with the peer's address.
//!
//! Shutdown: stop accepting, let requests in flight finish, close idle connections;
//! WebSockets are told by the relay's own shutdown signal.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
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
    /// Open connections per client address (an IPv6 /64).
    pub max_per_ip: usize,
    /// Peers not counted per address (trusted proxies: every visitor comes through them).
    pub exempt: Vec<ipnet::IpNet>,
}

impl ConnLimits {
    /// How many connections may be WebSockets: the cap less a tenth (at least 4 left).
    pub fn max_upgraded(&self) -> usize {
        self.max_connections
            .saturating_sub((self.max_connections / 10).max(4))
            .max(1)
    }
}

impl Default for ConnLimits {
    fn default() -> ConnLimits {
        ConnLimits {
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: max_connections_for(fd_limit()),
            max_per_ip: 256,
            exempt: Vec::new(),
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
    /// When its current request started (ms since the registry began), while busy.
    busy_since: Arc<AtomicU64>,
    /// The client address it counts against (`None`: exempt).
    holder: Option<IpAddr>,
    evict: Option<oneshot::Sender<()>>,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
enum NoRoom {
    /// Every connection is busy (and not for long) or a WebSocket.
    Full,
    /// The address holds its share.
    Address,
}

/// A connection's place in the registry.
struct Admitted {
    id: u64,
    stage: Arc<AtomicU8>,
    busy_since: Arc<AtomicU64>,
    evicted: oneshot::Receiver<()>,
}

/// The open connections, oldest first.
struct Registry {
    open: Mutex<Open>,
    next: AtomicU64,
    upgraded: AtomicUsize,
    started: std::time::Instant,
}

#[derive(Default)]
struct Open {
    by_id: BTreeMap<u64, Entry>,
    per_holder: HashMap<IpAddr, usize>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            open: Mutex::default(),
            next: AtomicU64::new(0),
            upgraded: AtomicUsize::new(0),
            started: std::time::Instant::now(),
        }
    }
}

impl Registry {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Registers a connection from `holder` (`None`: exempt). At `limits.max_connections`
    /// the oldest waiting connection makes room, else the oldest request running longer
    /// than `limits.body_timeout`.
    fn admit(&self, limits: &ConnLimits, holder: Option<IpAddr>) -> Result<Admitted, NoRoom> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = holder {
            if open.per_holder.get(&h).copied().unwrap_or(0) >= limits.max_per_ip {
                return Err(NoRoom::Address);
            }
        }
        if open.by_id.len() >= limits.max_connections {
            let now = self.now_ms();
            let slow = limits.body_timeout.as_millis() as u64;
            let waiting = open
                .by_id
                .iter()
                .find(|(_, e)| e.stage.load(Ordering::Acquire) == WAITING)
                .map(|(id, _)| *id);
            let victim = waiting
                .or_else(|| {
                    open.by_id
                        .iter()
                        .find(|(_, e)| {
                            e.stage.load(Ordering::Acquire) == BUSY
                                && now.saturating_sub(e.busy_since.load(Ordering::Acquire)) > slow
                        })
                        .map(|(id, _)| *id)
                })
                .ok_or(NoRoom::Full)?;
            if let Some(mut e) = Self::remove(&mut open, victim) {
                if let Some(tx) = e.evict.take() {
                    let _ = tx.send(());
                }
            }
            tracing::debug!("connection cap reached: evicted the oldest idle or slowest connection");
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let stage = Arc::new(AtomicU8::new(WAITING));
        let busy_since = Arc::new(AtomicU64::new(0));
        let (tx, rx) = oneshot::channel();
        open.by_id.insert(
            id,
            Entry {
                stage: Arc::clone(&stage),
                busy_since: Arc::clone(&busy_since),
                holder,
                evict: Some(tx),
            },
        );
        if let Some(h) = holder {
            *open.per_holder.entry(h).or_insert(0) += 1;
        }
        Ok(Admitted {
            id,
            stage,
            busy_since,
            evicted: rx,
        })
    }

    fn remove(open: &mut Open, id: u64) -> Option<Entry> {
        let e = open.by_id.remove(&id)?;
        if let Some(h) = e.holder {
            if let Some(n) = open.per_holder.get_mut(&h) {
                *n -= 1;
                if *n == 0 {
                    open.per_holder.remove(&h);
                }
            }
        }
        Some(e)
    }

    fn leave(&self, id: u64, stage: &AtomicU8) {
        if stage.swap(WAITING, Ordering::AcqRel) == UPGRADED {
            self.upgraded.fetch_sub(1, Ordering::AcqRel);
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        Self::remove(&mut open, id);
    }

    fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).by_id.len()
    }

    /// Takes one of the `max` WebSocket places; `false` when they are all taken.
    fn take_upgrade(&self, max: usize) -> bool {
        self.upgraded
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }
}

/// A connection's place in the registry, freed when the last holder lets go: the
/// connection's task, or the WebSocket the connection became (hyper hands an upgraded
/// connection over and forgets it: without this, open sockets were not counted at all).
struct Slot {
    registry: Arc<Registry>,
    id: u64,
    stage: Arc<AtomicU8>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.leave(self.id, &self.stage);
    }
}

/// Given to every request (an extension): a WebSocket keeps it for as long as it is open,
/// so its connection stays counted.
#[derive(Clone)]
pub struct HeldConnection(#[allow(dead_code)] Arc<Slot>);

/// Marks a connection busy while a request is answered, then waiting again (or upgraded
/// after a `101 Switching Protocols`, if a WebSocket place is free: else the answer becomes
/// a 503).
#[derive(Clone)]
struct Staged<S> {
    inner: S,
    slot: Arc<Slot>,
    busy_since: Arc<AtomicU64>,
    max_upgraded: usize,
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

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        self.busy_since
            .store(self.slot.registry.now_ms(), Ordering::Release);
        self.slot.stage.store(BUSY, Ordering::Release);
        req.extensions_mut()
            .insert(HeldConnection(Arc::clone(&self.slot)));
        let (stage, registry, max) = (
            Arc::clone(&self.slot.stage),
            Arc::clone(&self.slot.registry),
            self.max_upgraded,
        );
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await;
            match resp {
                Ok(r) if r.status() == StatusCode::SWITCHING_PROTOCOLS => {
                    if registry.take_upgrade(max) {
                        stage.store(UPGRADED, Ordering::Release);
                        Ok(r)
                    } else {
                        // Not upgraded after all: the socket's task ends without a socket.
                        stage.store(WAITING, Ordering::Release);
                        tracing::warn!(max, "socket refused: the relay holds all the sockets it may");
                        let mut busy = (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the relay holds as many live chats as it can; try again in a minute",
                        )
                            .into_response();
                        busy.headers_mut()
                            .insert("retry-after", axum::http::HeaderValue::from_static("30"));
                        Ok(busy)
                    }
                }
                other => {
                    stage.store(WAITING, Ordering::Release);
                    other
                }
            }
        })
    }
}

/// The largest body any route takes (axum's default limit, which routes only lower).
const MAX_ANY_BODY: u64 = 2 * 1024 * 1024;

/// Refuses a request whose announced body is larger than any route takes, before it is
/// read: a client asking `Expect: 100-continue` is not invited to send it.
async fn refuse_oversized(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match announced_length(req.headers()) {
        Some(n) if n > MAX_ANY_BODY => crate::error::AppError::TooLarge(format!(
            "the body would be {n} bytes; no request to chatpay takes more than {MAX_ANY_BODY}"
        ))
        .into_response(),
        _ => next.run(req).await,
    }
}

/// The body size a request announces in `Content-Length`, if it does.
pub fn announced_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Serves `app` on `listener` until `stop` completes (see the module docs).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app: Router = app
        .layer(axum::middleware::from_fn(refuse_oversized))
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
        let ip = peer.ip().to_canonical();
        let holder = (!limits.exempt.iter().any(|n| n.contains(&ip))).then(|| crate::budgets::holder(ip));
        let Admitted {
            id,
            stage,
            busy_since,
            evicted,
        } = match registry.admit(&limits, holder) {
            Ok(a) => a,
            Err(why) => {
                match why {
                    NoRoom::Full => {
                        tracing::warn!(%peer, open = registry.len(), "connection refused: every connection is busy")
                    }
                    NoRoom::Address => {
                        tracing::info!(%peer, "connection refused: the address holds its share")
                    }
                }
                drop(tcp);
                continue;
            }
        };
        let slot = Arc::new(Slot {
            registry: Arc::clone(&registry),
            id,
            stage,
        });
        let service = Staged {
            inner: Extension(ConnectInfo(peer)).layer(app.clone()),
            slot: Arc::clone(&slot),
            busy_since,
            max_upgraded: limits.max_upgraded(),
        };
        let (mut stop_rx, done_rx) = (stop_rx.clone(), done_rx.clone());
        let head_timeout = limits.head_timeout;
        tokio::spawn(async move {
            let _done = done_rx;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(head_timeout)
                // hyper checks the head's size after each read, so a head may reach about
                // twice this before it is refused with 431: 64 KiB at most.
                .max_buf_size(32 * 1024)
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
            // Freed here, or when the WebSocket it became ends.
            drop(slot);
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

    fn limits(max: usize, per_ip: usize) -> ConnLimits {
        ConnLimits {
            max_connections: max,
            max_per_ip: per_ip,
            body_timeout: Duration::from_millis(50),
            ..ConnLimits::default()
        }
    }

    #[test]
    fn at_the_cap_the_oldest_waiting_connection_makes_room() {
        let r = Registry::default();
        let l = limits(2, 10);
        let mut a = r.admit(&l, None).unwrap();
        let mut b = r.admit(&l, None).unwrap();
        a.busy_since.store(r.now_ms(), Ordering::Release);
        a.stage.store(BUSY, Ordering::Release);
        // a is busy: b (waiting) goes.
        let c = r.admit(&l, None).unwrap();
        assert!(b.evicted.try_recv().is_ok());
        assert!(a.evicted.try_recv().is_err());
        // Busy (not for long) or upgraded: no room.
        c.stage.store(UPGRADED, Ordering::Release);
        assert_eq!(r.admit(&l, None).err(), Some(NoRoom::Full));
        // A request running longer than the body timeout makes room.
        std::thread::sleep(Duration::from_millis(80));
        assert!(r.admit(&l, None).is_ok());
        assert!(a.evicted.try_recv().is_ok());
    }

    #[test]
    fn an_address_holds_its_share_and_sockets_their_part() {
        let r = Registry::default();
        let l = limits(100, 2);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let first = r.admit(&l, Some(ip)).unwrap();
        let _second = r.admit(&l, Some(ip)).unwrap();
        assert_eq!(r.admit(&l, Some(ip)).err(), Some(NoRoom::Address));
        assert!(r.admit(&l, None).is_ok(), "exempt peers are not counted");
        r.leave(first.id, &first.stage);
        assert!(r.admit(&l, Some(ip)).is_ok());

        assert_eq!(limits(40, 1).max_upgraded(), 36);
        assert_eq!(limits(1000, 1).max_upgraded(), 900);
        assert!((0..3).all(|_| r.take_upgrade(3)));
        assert!(!r.take_upgrade(3));
    }
}
