//! Test harness: a relay on 127.0.0.1:0 over a fresh database, SQLite or PostgreSQL, and a
//! WebSocket client that speaks the shared protocol.

#![allow(dead_code)]

pub mod standin;

/// Tries `attempt` every 50 ms until it gives `Ok`, for at most `within`; then the test
/// fails with what the last attempt saw.
pub async fn eventually<T, F, Fut>(within: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(saw) if tokio::time::Instant::now() > deadline => {
                panic!("{saw} (waited {} s)", within.as_secs())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

use std::net::SocketAddr;
use std::time::Duration;

use chatpay_server::assets::WidgetAssets;
use chatpay_server::domain::SiteId;
use chatpay_server::secrets::Cipher;
use chatpay_server::startup::{self, Parts, Shutdown};
use chatpay_server::state::{AppState, Settings};
use chatpay_server::store::payments::{NewPayment, Payment, Requester};
use chatpay_server::store::sites::NewSite;
use chatpay_server::store::Store;
use chatpay_server::stripe::client::StripeHttp;
use chatpay_shared::protocol::{ClientFrame, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use sqlx::{Connection, Executor};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `both!(name)` makes `name::sqlite` and
/// `name::postgres` from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    };
}

/// A fresh, empty database that lives as long as the test.
pub struct TestDb {
    pub url: String,
    cleanup: Option<std::path::PathBuf>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let name = format!(
            "chatpay_t_{}_{:08x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            rand::random::<u32>()
        );
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).unwrap();
                TestDb {
                    url: format!("sqlite://{}/chatpay.db", dir.display()),
                    cleanup: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at '{admin}' does not answer ({e}); start it or set CHATPAY_TEST_PG_URL \
                         (cargo xtask test does this for you)"
                    )
                });
                drop_stale_databases(&mut conn).await;
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&name);
                TestDb {
                    url: url.to_string(),
                    cleanup: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.cleanup.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Adds the test site (`SITE`, allowing `ORIGIN`) to a store.
pub async fn add_shop(store: &Store) {
    store
        .insert_site(
            &NewSite::parse(SITE, "The Shop", GREETING, &[ORIGIN.to_owned()]).unwrap(),
            None,
            None,
        )
        .await
        .unwrap();
}

pub fn pg_admin_url() -> String {
    std::env::var("CHATPAY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Test databases are named with their creation time; drop those older than two hours
/// (left behind by a run that was killed).
async fn drop_stale_databases(conn: &mut sqlx::AnyConnection) {
    use sqlx::Row;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let rows = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'chatpay_t_%'")
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
    for row in rows {
        let Ok(name) = row.try_get::<String, _>("datname") else {
            continue;
        };
        let born: u64 = name.split('_').nth(2).and_then(|s| s.parse().ok()).unwrap_or(now);
        if now.saturating_sub(born) > 7200 {
            let _ = conn
                .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
                .await;
        }
    }
}

/// Stores a pending payment of the shop asked for by an agent ("Support contract
/// deposit"), with no Checkout link yet.
pub async fn insert_pending(
    tx: &mut chatpay_server::store::Tx,
    id: &str,
    amount_minor: i64,
    currency: &str,
    conversation: Option<&str>,
) {
    chatpay_server::store::payments::insert(
        tx,
        &NewPayment {
            id,
            site_id: &shop(),
            conversation_id: conversation,
            amount_minor,
            currency,
            description: "Support contract deposit",
            expires_at: chatpay_server::stripe::lifetime::link_expiry(30),
            success_url: None,
            cancel_url: None,
            requested_by: Requester::Agent,
            request_key: None,
            workflow_version: None,
            agent: None,
        },
    )
    .await
    .unwrap();
}

/// A relay serving on a random local port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub db: TestDb,
    shutdown_tx: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub const SITE: &str = "shop";

/// `SITE` as the relay's functions take it: parsed.
pub fn shop() -> SiteId {
    SiteId::parse(SITE).unwrap()
}
pub const ORIGIN: &str = "http://shop.test:3000";
pub const GREETING: &str = "Hello from the shop!";
/// The shop's key at the simulator.
pub const STRIPE_KEY: &str = "sk_test_shoptest000000000000";
/// The test relay's simulator token (its clock needs it).
pub const SIMULATOR_TOKEN: &str = "test-simulator-token";

/// Budgets no ordinary test reaches.
pub fn generous_budgets() -> chatpay_server::budgets::Budgets {
    use chatpay_server::budgets::{Budgets, Rate};
    let lots = Rate::new(100_000, Duration::from_millis(1));
    Budgets {
        conversations_per_ip: lots,
        conversations_per_site: lots,
        messages_per_conversation: lots,
        messages_per_ip: lots,
        links_per_ip: lots,
        links_per_site: lots,
        sockets_per_ip: 100_000,
        lookups_per_payment: lots,
        lookups_per_site: lots,
        simulator_writes_per_ip: lots,
        webhook_failures_per_ip: lots,
    }
}

/// The test relay's Stripe client: the longest one try, and one call, may take.
pub const STRIPE_TRY: Duration = Duration::from_secs(3);
pub const STRIPE_BUDGET: Duration = Duration::from_secs(6);
/// The key that encrypts secrets in tests (hex of 32 bytes).
pub const SECRET_KEY_HEX: &str = "0101010101010101010101010101010101010101010101010101010101010101";

impl TestApp {
    /// A relay with one site, `shop`, that allows `http://shop.test:3000`.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with_assets(backend, WidgetAssets::none()).await
    }

    pub async fn spawn_with_assets(backend: Backend, assets: WidgetAssets) -> TestApp {
        Self::spawn_custom(backend, assets, None).await
    }

    /// A relay whose Stripe client talks to `stripe_base` instead of its own simulator.
    pub async fn spawn_custom(
        backend: Backend,
        assets: WidgetAssets,
        stripe_base: Option<String>,
    ) -> TestApp {
        Self::spawn_with(backend, assets, stripe_base, |_| {}).await
    }

    /// A relay with its settings changed by `adjust` before it starts.
    pub async fn spawn_with(
        backend: Backend,
        assets: WidgetAssets,
        stripe_base: Option<String>,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let db = TestDb::new(backend).await;
        let store = Store::connect(&db.url).await.expect("store connects");
        add_shop(&store).await;
        Self::serve_store(db, store, stripe_base, assets, adjust).await
    }

    /// A second relay on this relay's database (PostgreSQL), with its own hub, sockets and
    /// bus listener, its Stripe being this relay's simulator.
    pub async fn second_relay(&self) -> TestApp {
        let db = TestDb {
            url: self.db.url.clone(),
            cleanup: None,
        };
        let store = Store::connect(&db.url).await.expect("store connects");
        // Relays of one fleet share a public URL (the load balancer's): this one's is the
        // first relay's.
        let public_url = self.state.settings.public_url.clone();
        Self::serve_store(
            db,
            store,
            Some(self.url("/simulator/stripe")),
            WidgetAssets::none(),
            move |s| s.public_url = public_url,
        )
        .await
    }

    pub async fn serve_store(
        db: TestDb,
        store: Store,
        stripe_base: Option<String>,
        assets: WidgetAssets,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let public_url = format!("http://{addr}");
        let mut settings = Settings {
            public_url: public_url.clone(),
            webhook_tolerance_secs: 300,
            sweep_every: Duration::from_secs(3600),
            dist: std::path::PathBuf::from("/nonexistent/dist"),
            webhook_secret_grace: Duration::from_secs(24 * 3600),
            // Every test client is on loopback.
            connections: chatpay_server::connections::ConnLimits {
                max_per_ip: 100_000,
                ..Default::default()
            },
            ws_ping_every: Duration::from_secs(25),
            trusted_proxies: Vec::new(),
            webhook_sources: Vec::new(),
            // Tests make many conversations from one address: budgets out of the way,
            // except where a test sets its own.
            budgets: generous_budgets(),
            simulator_token: SIMULATOR_TOKEN.into(),
            simulator_deliver_to: Vec::new(),
            metrics_token: None,
            outbound_allow_private: false,
        };
        adjust(&mut settings);
        let (state, shutdown): (AppState, Shutdown) = startup::state(Parts {
            store,
            assets,
            settings,
            cipher: Cipher::from_key(&[1u8; 32]),
            // Short enough that tests with a hanging Stripe finish soon: 3 s a try, 6 s a
            // call (the relay's defaults are 10 s and 25 s).
            stripe: StripeHttp::new(
                &stripe_base.unwrap_or_else(|| format!("{public_url}/simulator/stripe")),
                STRIPE_TRY,
            )
            .with_retries(2, Duration::from_millis(20))
            .with_budget(STRIPE_BUDGET),
            simulator: true,
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(startup::serve(listener, state.clone(), shutdown, async move {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            state,
            db,
            shutdown_tx: Some(tx),
            server: Some(server),
        }
    }

    /// A relay whose Stripe is a [`standin::StandIn`] in front of its own simulator.
    pub async fn spawn_behind_standin(backend: Backend) -> (TestApp, standin::StandIn) {
        let stripe = standin::StandIn::start().await;
        let app = Self::spawn_custom(backend, WidgetAssets::none(), Some(stripe.url.clone())).await;
        stripe.forward_to(&app.url("/simulator/stripe"));
        (app, stripe)
    }

    /// The sessions the simulator holds for a payment (its `client_reference_id`), as JSON.
    pub async fn sessions_of(&self, payment: &str) -> Vec<serde_json::Value> {
        let account = STRIPE_KEY.trim_start_matches("sk_test_");
        self.state
            .store
            .sim_list(account, "checkout.session")
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s["client_reference_id"] == payment)
            .collect()
    }

    /// Moves the simulator's clock forward (with its token).
    pub async fn advance_clock(&self, seconds: i64) {
        let resp = reqwest::Client::new()
            .post(self.url(&format!("/simulator/clock/advance?seconds={seconds}")))
            .header("x-simulator-token", SIMULATOR_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connects the shop to the simulator like an owner would: test the key, register the
    /// webhook endpoint, save the key and the endpoint's signing secret. Returns the secret.
    pub async fn connect_stripe(&self) -> String {
        let client = self.state.stripe.client(STRIPE_KEY);
        client
            .balance()
            .await
            .expect("the simulator accepts the test key");
        let endpoint = client
            .create_webhook_endpoint(
                &self.url("/webhooks/stripe/shop"),
                &chatpay_server::payments::WEBHOOK_EVENTS,
                None,
            )
            .await
            .expect("webhook endpoint");
        let secret = endpoint.secret.expect("a new endpoint has a secret");
        self.state
            .store
            .save_stripe_keys(
                &self.state.cipher,
                &shop(),
                STRIPE_KEY,
                false,
                Some(std::slice::from_ref(&secret)),
            )
            .await
            .unwrap();
        secret
    }

    /// Publishes a workflow (JSON text) for the shop.
    pub async fn publish(&self, json: &str) -> i64 {
        let wf: chatpay_shared::workflow::Workflow = serde_json::from_str(json).expect("workflow JSON");
        let problems = chatpay_server::engine::runner::problems(&wf);
        assert!(problems.is_empty(), "{problems:#?}");
        self.state.store.publish_workflow(&shop(), &wf).await.unwrap()
    }

    /// Connects the shop's key and a webhook secret, but registers no endpoint at the
    /// simulator: no webhook will ever arrive (for reconciliation tests).
    pub async fn connect_stripe_without_webhooks(&self) {
        self.state
            .store
            .save_stripe_keys(
                &self.state.cipher,
                &shop(),
                STRIPE_KEY,
                false,
                Some(&["whsec_nowebhooks0000".to_owned()]),
            )
            .await
            .unwrap();
    }

    /// A stored pending payment with its Checkout Session at the simulator, opened the
    /// one way the relay opens every payment.
    pub async fn create_payment(
        &self,
        amount_minor: i64,
        currency: &str,
        conversation: Option<&str>,
    ) -> Payment {
        let id = chatpay_server::store::new_id("pay");
        let mut tx = self.state.store.begin().await.unwrap();
        insert_pending(&mut tx, &id, amount_minor, currency, conversation).await;
        tx.commit().await.unwrap();
        let opened = chatpay_server::payments::open::try_open(&self.state, &id)
            .await
            .expect("the payment opens");
        assert_eq!(opened, chatpay_server::payments::open::Opened::Opened);
        self.payment(&id).await
    }

    /// A new visitor walked through the demo workflow (published for the shop) to its
    /// payment card: the socket, the card's payment and its link.
    pub async fn demo_to_the_card(&self) -> (Client, String, String) {
        self.publish(chatpay_server::cli::DEMO_WORKFLOW).await;
        let (mut c, _) = self.visitor(None, None).await;
        c.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
            .await;
        c.send_text("v1", "help").await;
        let frames = c.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await;
        let (payment, url) = frames
            .iter()
            .find_map(|f| match f {
                ServerFrame::PaymentCard { payment, url, .. } => Some((payment.clone(), url.clone())),
                _ => None,
            })
            .unwrap();
        (c, payment, url)
    }

    /// The stored payment `id` (which must exist).
    pub async fn payment(&self, id: &str) -> Payment {
        self.state.store.payment(id).await.unwrap().unwrap()
    }

    /// Waits up to 10 s for a payment to reach `status`.
    pub async fn wait_payment(&self, id: &str, status: chatpay_shared::protocol::PaymentStatus) -> Payment {
        eventually(Duration::from_secs(10), || async {
            let p = self.payment(id).await;
            if p.status == status {
                Ok(p)
            } else {
                Err(format!("payment {id} is {:?}, expected {status:?}", p.status))
            }
        })
        .await
    }

    /// Opens a visitor socket with the given `Origin` (no Hello yet).
    pub async fn socket(
        &self,
        site: &str,
        origin: Option<&str>,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut req = format!("ws://{}/ws?site={site}", self.addr)
            .into_client_request()
            .unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Client { ws })
    }

    /// Opens a visitor socket of the shop from the local address `ip` (another client, as
    /// far as the relay can tell); `Err` carries the refused upgrade.
    pub async fn socket_from(&self, ip: &str) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::new(ip.parse().unwrap(), 0))
            .unwrap();
        let stream = socket.connect(self.addr).await.unwrap();
        let mut req = format!("ws://{}/ws?site={SITE}", self.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("origin", ORIGIN.parse().unwrap());
        let (ws, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(stream)).await?;
        Ok(Client { ws })
    }

    /// A visitor that said Hello and got Welcome: returns the client and the Welcome.
    pub async fn visitor(&self, token: Option<&str>, last_seq: Option<u64>) -> (Client, ServerFrame) {
        let mut c = self.socket(SITE, Some(ORIGIN)).await.expect("socket opens");
        c.send(&ClientFrame::Hello {
            site: SITE.into(),
            visitor_token: token.map(str::to_owned),
            last_seq,
            lang: None,
        })
        .await;
        let welcome = c.recv().await;
        assert!(matches!(welcome, ServerFrame::Welcome { .. }), "{welcome:?}");
        (c, welcome)
    }

    /// Posts `body` to the shop's webhook route signed with `secret` now; returns the status
    /// and the JSON answer (`null` when the answer is not JSON).
    pub async fn webhook(&self, secret: &str, body: &str) -> (u16, serde_json::Value) {
        let now = chatpay_server::store::now_ms() / 1000;
        let resp = reqwest::Client::new()
            .post(self.url(&format!("/webhooks/stripe/{SITE}")))
            .header(
                "stripe-signature",
                chatpay_server::stripe::signature::sign(body.as_bytes(), secret, now),
            )
            .body(body.to_owned())
            .send()
            .await
            .expect("the webhook route answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Stops the relay and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
        self.state.store.close().await;
    }
}

/// A WebSocket client speaking the shared protocol.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_raw(&serde_json::to_string(frame).unwrap()).await;
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next frame within 5 s; panics on timeout or close.
    pub async fn recv(&mut self) -> ServerFrame {
        match self.try_recv(Duration::from_secs(5)).await {
            Some(f) => f,
            None => panic!("no frame within 5 s"),
        }
    }

    /// Frames until one satisfies `last` (included), within 10 s.
    pub async fn until(&mut self, last: impl Fn(&ServerFrame) -> bool) -> Vec<ServerFrame> {
        let mut got = Vec::new();
        loop {
            match self.try_recv(Duration::from_secs(10)).await {
                Some(f) => {
                    let done = last(&f);
                    got.push(f);
                    if done {
                        return got;
                    }
                }
                None => panic!("the frame never came; got {got:#?}"),
            }
        }
    }

    /// The next frame within `wait`, or `None` (timeout or closed).
    pub async fn try_recv(&mut self, wait: Duration) -> Option<ServerFrame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => {
                    return Some(serde_json::from_str(t.as_str()).expect("valid server frame"))
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Every frame that arrives within `quiet` of the last one.
    pub async fn drain_for(&mut self, quiet: Duration) -> Vec<ServerFrame> {
        let mut got = Vec::new();
        while let Some(f) = self.try_recv(quiet).await {
            got.push(f);
        }
        got
    }

    /// Sends a visitor message (without waiting for anything).
    pub async fn send_text(&mut self, client_id: &str, text: &str) {
        self.send(&ClientFrame::Text {
            client_id: client_id.into(),
            text: text.into(),
        })
        .await;
    }

    /// Sends a visitor message and returns the confirmed frame.
    pub async fn say(&mut self, client_id: &str, text: &str) -> ServerFrame {
        self.send_text(client_id, text).await;
        self.recv().await
    }
}

/// An HTTP client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Answers the simulator's hosted Checkout page at `checkout_url` with `outcome` (`paid`,
/// `async_paid`, …) as the visitor's browser would, without following the redirect.
pub async fn checkout(checkout_url: &str, outcome: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{checkout_url}/pay"))
        .form(&[("outcome", outcome)])
        .send()
        .await
        .unwrap()
}

/// Pays at the hosted page with `outcome`; Checkout sends the visitor back (303).
pub async fn pay_with(checkout_url: &str, outcome: &str) {
    let resp = checkout(checkout_url, outcome).await;
    assert_eq!(resp.status(), 303, "paying at {checkout_url}");
}

/// Pays at the hosted page.
pub async fn pay(checkout_url: &str) {
    pay_with(checkout_url, "paid").await;
}

/// A Stripe event about a Checkout Session of `payment`, as Stripe would send it:
/// `kind` like `checkout.session.completed`, the session `status` and `payment_status`,
/// and the session's total.
#[allow(clippy::too_many_arguments)]
pub fn checkout_event(
    event_id: &str,
    kind: &str,
    payment: &str,
    session: &str,
    status: &str,
    payment_status: &str,
    amount_total: i64,
    currency: &str,
) -> String {
    serde_json::json!({
        "id": event_id, "object": "event", "type": kind, "created": 1, "livemode": false,
        "data": { "object": {
            "id": session, "object": "checkout.session", "status": status,
            "payment_status": payment_status, "client_reference_id": payment,
            "amount_total": amount_total, "currency": currency, "livemode": false,
            "metadata": { "payment": payment, "site": SITE }
        }}
    })
    .to_string()
}

/// A signed `checkout.session.completed` (paid) for 49.99 USD.
pub fn paid_event(event_id: &str, payment: &str, session: &str) -> String {
    checkout_event(
        event_id,
        "checkout.session.completed",
        payment,
        session,
        "complete",
        "paid",
        4999,
        "usd",
    )
}

/// The texts of message frames, in order.
pub fn texts(frames: &[ServerFrame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Message { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// A console API call as the signed-in owner (`cookie`), with the header every write needs;
/// the status and the JSON answer (`null` when it is not JSON).
pub async fn console(
    app: &TestApp,
    cookie: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .request(method, app.url(path))
        .header("x-chatpay-console", "1")
        .header("cookie", cookie);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// The owner account's password in tests.
pub const OWNER_PASSWORD: &str = "a long enough password";

/// Creates the owner account (if needed) and signs in; returns the session cookie.
pub async fn owner_cookie(app: &TestApp) -> String {
    chatpay_server::accounts::create_account(
        &app.state.store,
        &app.state.hashers,
        "owner@shop.test",
        OWNER_PASSWORD,
    )
    .await
    .ok();
    let resp = reqwest::Client::new()
        .post(app.url("/api/console/login"))
        .header("x-chatpay-console", "1")
        .json(&serde_json::json!({ "email": "owner@shop.test", "password": OWNER_PASSWORD }))
        .send()
        .await
        .unwrap();
    resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}
