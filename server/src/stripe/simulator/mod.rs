//! The Stripe simulator: an in-process fake of the part of Stripe's API chatpay uses,
//! reached by the real client over real HTTP through the base URL
//! (`CHATPAY_STRIPE_API_BASE=http://HOST/simulator/stripe`). Off unless `--stripe-simulator`
//! is given, and labelled TEST MODE wherever it shows.
//!
//! - [`api`]: `/simulator/stripe/v1/…`, one file per resource: balance, Checkout Sessions
//!   (create, retrieve, expire), payment method configurations, webhook endpoints, events,
//!   refunds; keys and idempotency apart. It checks the key
//!   (`sk_test_…`/`rk_test_…`), required parameters and their types, unknown parameters,
//!   and idempotency like Stripe.
//! - [`hosted`]: `/simulator/checkout/{id}`: the hosted page with Pay and Cancel.
//! - [`dashboard`]: `/simulator/`: the TEST MODE dashboard (keys, endpoints and their
//!   secrets, events and deliveries with Resend, sessions, the clock), behind the token.
//! - [`events`]: makes Stripe-shaped events and delivers them, signed, to the account's
//!   webhook endpoints, retrying on failure; expires open sessions at `expires_at`.
//!
//! An "account" is the part of the key after `sk_test_`/`rk_test_`, so a secret key and a
//! restricted key with the same suffix share their objects. The simulator has its own
//! clock, which tests can move forward (`POST /simulator/clock/advance?seconds=N`).
//!
//! It cannot be turned against the relay's host: it delivers webhooks only to this relay's
//! own webhook routes (and prefixes the operator adds with `--simulator-deliver-to`), its
//! test controls (the clock) need the token printed at start (`--simulator-token`), and
//! its hosted page redirects only to the relay itself or to an origin the session's site
//! allows.

pub mod api;
pub mod dashboard;
pub mod events;
pub mod hosted;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::budgets::Limiters;
use crate::client::KnowsProxies;
use crate::store::Store;

/// What the simulator's routes are given (their own state, not the relay's): the simulator,
/// and the relay's anonymous budgets and trusted proxies, since its writes are budgeted per
/// client address.
#[derive(Debug, Clone)]
pub struct SimState {
    pub sim: Arc<Simulator>,
    pub limits: Arc<Limiters>,
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

impl KnowsProxies for SimState {
    fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.trusted_proxies
    }
}

/// The simulator's state.
#[derive(Debug)]
pub struct Simulator {
    pub(crate) store: Store,
    /// Where the relay is reachable, for hosted-page URLs.
    pub(crate) public_url: String,
    pub(crate) http: reqwest::Client,
    offset_secs: AtomicI64,
    /// Idempotency keys whose first request is still running, as `account/key`.
    running: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Held while a session changes state (paid, expired, settled): one change at a time.
    pub(crate) changing: tokio::sync::Mutex<()>,
    /// What the test controls need.
    token: String,
    /// URL prefixes webhook endpoints may point at.
    deliver_to: Vec<String>,
}

/// Marks an idempotency key as running until dropped.
pub(crate) struct Running<'a> {
    sim: &'a Simulator,
    key: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.sim
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl Simulator {
    /// A simulator for the relay at `public_url`: `token` guards the test controls, and
    /// `deliver_to` adds URL prefixes webhooks may go to beside the relay's own routes.
    pub fn new(store: Store, public_url: &str, token: &str, deliver_to: &[String]) -> Simulator {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let mut targets = vec![format!("{public_url}/webhooks/stripe/")];
        targets.extend(deliver_to.iter().cloned());
        Simulator {
            store,
            token: token.to_owned(),
            deliver_to: targets,
            public_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            offset_secs: AtomicI64::new(0),
            running: Default::default(),
            changing: Default::default(),
        }
    }

    /// Marks `key` of `account` as running; `None` when a request with it already runs.
    pub(crate) fn start_idempotent(&self, account: &str, key: &str) -> Option<Running<'_>> {
        let key = format!("{account}/{key}");
        let fresh = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        fresh.then_some(Running { sim: self, key })
    }

    /// The simulator's clock, in unix seconds.
    pub fn now(&self) -> i64 {
        crate::store::now_ms() / 1000 + self.offset_secs.load(Ordering::Relaxed)
    }

    /// Moves the clock forward (tests), by at most 30 days at a time.
    pub fn advance(&self, seconds: i64) {
        let seconds = seconds.clamp(0, 30 * 24 * 3600);
        let _ = self
            .offset_secs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(seconds).min(10 * 365 * 24 * 3600))
            });
    }

    /// The header the simulator's webhook deliveries carry its token in: the relay knows
    /// its own simulator's deliveries by it (a badly signed one never blocks the address
    /// they all come from).
    pub const DELIVERY_HEADER: &'static str = "x-chatpay-simulator";

    /// Whether `token` is the test controls' token (compared in constant time).
    pub fn token_ok(&self, token: &str) -> bool {
        crate::secrets::same_secret(token, &self.token)
    }

    /// The URL a webhook endpoint may point at, normalised (`..` and `%2e%2e` resolved as
    /// the HTTP client would), or `None`: one of this relay's `/webhooks/stripe/SITE` routes,
    /// or under a prefix the operator added.
    pub fn may_deliver_to(&self, url: &str) -> Option<String> {
        let url = url::Url::parse(url).ok()?;
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some()
        {
            return None;
        }
        let allowed = self.deliver_to.iter().enumerate().any(|(i, prefix)| {
            let Ok(prefix) = url::Url::parse(prefix) else {
                return false;
            };
            if prefix.origin() != url.origin() {
                return false;
            }
            match url.path().strip_prefix(prefix.path()) {
                // The relay's own routes: exactly one segment, the site.
                Some(site) if i == 0 => !site.is_empty() && !site.contains('/'),
                Some(_) => true,
                None => false,
            }
        });
        allowed.then(|| url.to_string())
    }

    /// Whether the hosted page may send the visitor to `url`: the relay itself, or an
    /// origin the session's site allows.
    pub async fn may_redirect_to(&self, url: &str, site: Option<&str>) -> bool {
        if url.starts_with(&format!("{}/", self.public_url)) {
            return true;
        }
        let Ok(origin) = url::Url::parse(url).map(|u| u.origin().ascii_serialization()) else {
            return false;
        };
        // A made-up id in the session's metadata names no site.
        match site.and_then(|s| crate::domain::SiteId::parse(s).ok()) {
            Some(site) => self
                .store
                .site(&site)
                .await
                .ok()
                .flatten()
                .is_some_and(|s| s.origins.contains(&origin)),
            None => false,
        }
    }
}

/// Every simulator route, under `/simulator`, with its own state (merged into any router).
pub fn router<S>(state: SimState) -> Router<S> {
    Router::new()
        .merge(api::router(state.clone()))
        .merge(hosted::router())
        .merge(dashboard::router())
        .with_state(state)
}

/// Random id with Stripe's prefix, like `cs_test_a1B2…`.
pub(crate) fn stripe_id(prefix: &str) -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng as _;
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

/// How long the simulator keeps what is done (sessions, events, deliveries, payments).
const KEEP_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long it keeps an idempotent request's result (as Stripe: 24 hours).
const IDEMPOTENCY_MS: i64 = 24 * 3600 * 1000;

/// Runs the simulator's sweep (expiries, delayed payments that settle, webhook deliveries
/// due; once a minute, forgetting what is a week old) every second until the relay stops.
pub fn spawn_sweeper(sim: std::sync::Arc<Simulator>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    // Several relays may serve the simulator on one database: one sweeps.
                    if !sim.store.try_lease("simulator-sweep", 5_000).await.unwrap_or(false) {
                        continue;
                    }
                    ticks += 1;
                    if ticks % 60 == 1 {
                        let now = crate::store::now_ms();
                        match sim.store.sim_forget_old(now, KEEP_MS, IDEMPOTENCY_MS).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(rows = n, "simulator: forgot what is a week old"),
                            Err(e) => tracing::warn!(error = %e, "simulator: cannot forget old objects"),
                        }
                    }
                    if let Err(e) = events::expire_due_sessions(&sim).await {
                        tracing::warn!(error = %e, "simulator: expiry sweep failed");
                    }
                    if let Err(e) = events::deliver_due(&sim).await {
                        tracing::warn!(error = %e, "simulator: delivery sweep failed");
                    }
                }
                _ = async { shutdown.wait_for(|d| *d).await.is_ok() } => return,
            }
        }
    });
}
