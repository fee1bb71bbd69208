//! One anonymous script must not knock the relay over: work per request is bounded, and
//! what an anonymous caller writes never reaches the owner as trusted text. On SQLite and
//! PostgreSQL where the store is involved.

mod common;

use std::time::{Duration, Instant};

use chatpay_server::assets::WidgetAssets;
use chatpay_server::budgets::Rate;
use chatpay_server::domain::SiteId;
use chatpay_shared::protocol::{ClientFrame, ErrorCode, ServerFrame};
use common::{generous_budgets, paid_event, Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Waits until the relay closes `conn` (EOF or reset), at most `wait`; how long it took.
async fn closed_within(conn: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(tokio::time::Instant::now() + wait, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

async fn short_timeouts() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, WidgetAssets::none(), None, |s| {
        s.connections.head_timeout = Duration::from_secs(1);
        s.connections.body_timeout = Duration::from_secs(1);
        s.connections.request_timeout = Duration::from_secs(3);
        s.ws_ping_every = Duration::from_secs(1);
    })
    .await
}

/// Connections that send nothing, stop in the middle of their headers, never send the
/// body they promised, or idle after a request are closed, instead of holding a file
/// descriptor each for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_slow_and_idle_connections_are_closed() {
    let app = short_timeouts().await;
    let wait = Duration::from_secs(4);

    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(&mut silent, wait).await.is_some(),
        "a silent connection is closed"
    );

    let mut partial = TcpStream::connect(app.addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut partial, wait).await.is_some(),
        "stopped mid-headers"
    );

    let mut no_body = TcpStream::connect(app.addr).await.unwrap();
    no_body
        .write_all(
            b"POST /webhooks/stripe/shop HTTP/1.1\r\nHost: relay\r\nContent-Length: 100\r\n\r\n{\"id\"",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, no_body.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 408"),
        "a body that never comes ends the request: {answer}"
    );

    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, wait).await.is_some(),
        "an idle kept-alive connection is closed"
    );
    app.stop().await;
}

/// Far more silent connections than the cap: the oldest ones make room, so a health check
/// (or a visitor) still gets in at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_never_keeps_a_health_check_out() {
    let app = TestApp::spawn_with(Backend::Sqlite, WidgetAssets::none(), None, |s| {
        s.connections.max_connections = 50;
        s.connections.head_timeout = Duration::from_secs(60);
    })
    .await;
    let mut flood = Vec::new();
    for _ in 0..300 {
        flood.push(TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the health check gets in");
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The relay holds at most its cap: most of the flood was closed.
    let mut closed = 0;
    for c in &mut flood {
        if closed_within(c, Duration::from_millis(20)).await.is_some() {
            closed += 1;
        }
    }
    assert!(
        closed >= 250,
        "only {closed} of 300 silent connections were closed"
    );
    app.stop().await;
}

/// Open visitor sockets were never evicted: enough of them (from many addresses) filled
/// the cap, and health checks and new visitors were shut out. Sockets may take the cap
/// less a tenth; past that a new one is told to come back (503), and plain requests still
/// get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_sockets_never_take_the_last_connections() {
    let app = TestApp::spawn_with(Backend::Sqlite, WidgetAssets::none(), None, |s| {
        s.connections.max_connections = 40;
    })
    .await;
    let mut open = Vec::new();
    let mut refused = 0;
    for i in 0..50 {
        match app.socket_from(&format!("127.0.3.{}", i + 1)).await {
            Ok(c) => open.push(c),
            Err(_) => refused += 1,
        }
    }
    assert_eq!(
        (open.len(), refused),
        (36, 14),
        "sockets get the cap less a tenth"
    );
    for _ in 0..3 {
        let resp = reqwest::Client::new()
            .get(app.url("/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("the health check gets in");
        assert_eq!(resp.status(), 200);
    }
    drop(open);
    app.stop().await;
}

/// One address held thousands of connections with requests whose body came a byte every
/// few seconds; busy connections are not evictable, so it filled the cap alone. An address
/// may hold a few of the connections (its holder: an IPv6 /64 for IPv6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_fill_the_cap_with_slow_requests() {
    let app = TestApp::spawn_with(Backend::Sqlite, WidgetAssets::none(), None, |s| {
        s.connections.max_connections = 60;
        s.connections.max_per_ip = 20;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..60 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.50:0".parse().unwrap()).unwrap();
        let mut c = socket.connect(app.addr).await.unwrap();
        let _ = c
            .write_all(b"POST /api/console/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{")
            .await;
        slow.push(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut closed = 0;
    for c in &mut slow {
        if closed_within(c, Duration::from_millis(20)).await.is_some() {
            closed += 1;
        }
    }
    assert_eq!(closed, 40, "the address holds 20 connections");
    let resp = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the health check gets in");
    assert_eq!(resp.status(), 200);
    app.stop().await;
}

/// A visitor socket whose other end answers nothing (a laptop closed mid-chat) is pinged
/// and closed, not kept for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_socket_that_answers_no_ping_is_closed() {
    use futures_util::StreamExt as _;
    let app = short_timeouts().await;
    let (mut c, _) = app.visitor(None, None).await;
    // Not reading: no pong goes back.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(msg)) = c.ws.next().await {
            if msg.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the relay closed the silent socket");
    app.stop().await;
}

/// A `Stripe-Signature` header with thousands of `v1` entries once cost an HMAC of the
/// whole body per entry (about a CPU-second a request). It is refused for its size before
/// any hashing, and the reason the owner sees is chatpay's own words, not the header's.
async fn a_signature_header_with_thousands_of_entries_is_refused_cheaply(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.connect_stripe().await;
    let body = paid_event("evt_heavy", "pay_x", "cs_x");
    let now = chatpay_server::store::now_ms() / 1000;
    let header = |entries: usize| {
        let mut h = format!("t={now}");
        for i in 0..entries {
            h.push_str(&format!(",v1={:064x}", i));
        }
        h
    };
    // Thousands: the request head itself is refused (64 KiB at most).
    let resp = reqwest::Client::new()
        .post(app.url("/webhooks/stripe/shop"))
        .header("stripe-signature", header(5000))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 431);
    // Past 64 KiB in one header: refused too (hyper once read up to twice its buffer
    // before checking, so 100 KB heads passed).
    for size in [70_000, 100_000] {
        let resp = reqwest::Client::new()
            .get(app.url("/healthz"))
            .header("x-padding", "a".repeat(size))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 431, "a {size}-byte header");
    }
    let resp = reqwest::Client::new()
        .get(app.url("/healthz"))
        .header("cookie", "a".repeat(16_000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "a big cookie is fine");
    // Forty: refused for its size before any hashing, naming the limit.
    let resp = reqwest::Client::new()
        .post(app.url("/webhooks/stripe/shop"))
        .header("stripe-signature", header(40))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let answer: serde_json::Value = resp.json().await.unwrap();
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("too long"), "{message}");

    // Attacker-written text never becomes the reason shown to the owner.
    let resp = reqwest::Client::new()
        .post(app.url("/webhooks/stripe/shop"))
        .header(
            "stripe-signature",
            format!("t={now},v1=<script>alert(1)</script>"),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let health = app.state.store.webhook_health(&common::shop()).await.unwrap();
    let reason = health.last_failure_reason.unwrap();
    assert!(!reason.contains("script"), "{reason}");
    assert!(reason.contains("malformed"), "{reason}");

    // A real signature next to a few junk entries still verifies.
    let good = chatpay_server::stripe::signature::sign(body.as_bytes(), &secret, now);
    let (_, v1) = good.split_once(",v1=").unwrap();
    let resp = reqwest::Client::new()
        .post(app.url("/webhooks/stripe/shop"))
        .header("stripe-signature", format!("t={now},v1={:064x},v1={v1},v0=ab", 7))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}
both!(a_signature_header_with_thousands_of_entries_is_refused_cheaply);

async fn with_budgets(
    backend: Backend,
    adjust: impl FnOnce(&mut chatpay_server::budgets::Budgets),
) -> TestApp {
    TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        let mut b = generous_budgets();
        adjust(&mut b);
        s.budgets = b;
    })
    .await
}

async fn hello(c: &mut common::Client, token: Option<&str>) -> ServerFrame {
    c.send(&ClientFrame::Hello {
        site: common::SITE.into(),
        visitor_token: token.map(str::to_owned),
        last_seq: None,
        lang: None,
    })
    .await;
    c.recv().await
}

async fn conversations(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM conversations")
        .fetch_one(app.state.store.reader())
        .await
        .unwrap()
}

/// One client once opened 271 new conversations a second. New conversations are budgeted
/// per client address (and per site): over it, a clear error frame, nothing written, and
/// other clients carry on.
async fn a_script_cannot_open_conversations_without_end(backend: Backend) {
    let app = with_budgets(backend, |b| {
        b.conversations_per_ip = Rate::new(3, Duration::from_secs(60))
    })
    .await;
    for _ in 0..3 {
        let mut c = app.socket_from("127.0.0.1").await.unwrap();
        assert!(matches!(hello(&mut c, None).await, ServerFrame::Welcome { .. }));
    }
    let mut c = app.socket_from("127.0.0.1").await.unwrap();
    match hello(&mut c, None).await {
        ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message,
        } => {
            assert!(message.contains("too many new chats"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        c.try_recv(Duration::from_secs(1)).await.is_none(),
        "and the socket is closed"
    );
    assert_eq!(conversations(&app).await, 3, "nothing half-written");
    let mut other = app.socket_from("127.0.0.2").await.unwrap();
    assert!(matches!(
        hello(&mut other, None).await,
        ServerFrame::Welcome { .. }
    ));
    let refused = app.state.limits.refusals();
    assert!(refused.contains(&("conversations_per_ip", 1)), "{refused:?}");
    app.stop().await;
}
both!(a_script_cannot_open_conversations_without_end);

/// Twenty sockets on one visitor token once sent twenty messages a second into one
/// conversation. Messages are budgeted per conversation, across all its sockets.
async fn messages_are_limited_per_conversation_across_its_sockets(backend: Backend) {
    let app = with_budgets(backend, |b| {
        b.messages_per_conversation = Rate::new(5, Duration::from_secs(60))
    })
    .await;
    let (_, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome {
        visitor_token,
        conversation,
        ..
    } = welcome
    else {
        unreachable!()
    };
    let mut sockets = Vec::new();
    for _ in 0..4 {
        let mut c = app.socket(common::SITE, Some(common::ORIGIN)).await.unwrap();
        assert!(matches!(
            hello(&mut c, Some(&visitor_token)).await,
            ServerFrame::Welcome { .. }
        ));
        sockets.push(c);
    }
    let mut refused = 0;
    for (i, c) in sockets.iter_mut().enumerate() {
        for j in 0..3 {
            c.send_text(&format!("m{i}-{j}"), "hello").await;
        }
        for f in c.drain_for(Duration::from_millis(300)).await {
            if matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            ) {
                refused += 1;
            }
        }
    }
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND author = 'visitor'")
            .bind(&conversation)
            .fetch_one(app.state.store.reader())
            .await
            .unwrap();
    assert_eq!(
        (stored, refused),
        (5, 7),
        "five of twelve stored, the rest refused"
    );
    app.stop().await;
}
both!(messages_are_limited_per_conversation_across_its_sockets);

/// One address kept twenty conversations and sent a message a second in each (24 a second,
/// 8 MB a minute, kept for good). Messages are also budgeted per address.
async fn messages_are_limited_per_address_across_its_conversations(backend: Backend) {
    let app = with_budgets(backend, |b| {
        b.messages_per_ip = Rate::new(6, Duration::from_secs(60))
    })
    .await;
    let mut visitors = Vec::new();
    for _ in 0..4 {
        let (c, _) = app.visitor(None, None).await;
        visitors.push(c);
    }
    let mut refused = 0;
    for (i, c) in visitors.iter_mut().enumerate() {
        for j in 0..3 {
            c.send_text(&format!("m{i}-{j}"), "hello").await;
        }
        for f in c.drain_for(Duration::from_millis(300)).await {
            if matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            ) {
                refused += 1;
            }
        }
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE author = 'visitor'")
        .fetch_one(app.state.store.reader())
        .await
        .unwrap();
    assert_eq!(
        (stored, refused),
        (6, 6),
        "six of twelve stored, the rest refused"
    );
    app.stop().await;
}
both!(messages_are_limited_per_address_across_its_conversations);

/// `Replay {after: 0}` makes the relay send the whole history again: one address sent
/// 91,000 of them in 15 s (547,000 frames back, /healthz past 50 ms). A tab asks again only
/// when it saw a gap, so replays count against the visitor's message budgets.
async fn replays_are_budgeted_like_messages(backend: Backend) {
    let app = with_budgets(backend, |b| {
        b.messages_per_conversation = Rate::new(3, Duration::from_secs(60))
    })
    .await;
    let (mut c, _) = app.visitor(None, None).await;
    c.drain_for(Duration::from_millis(300)).await;
    for _ in 0..10 {
        c.send(&ClientFrame::Replay { after: 0 }).await;
    }
    let frames = c.drain_for(Duration::from_millis(500)).await;
    let refused = frames
        .iter()
        .filter(|f| {
            matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            )
        })
        .count();
    let replayed = frames.iter().filter(|f| f.seq() == Some(1)).count();
    assert_eq!(
        (replayed, refused),
        (3, 7),
        "three replays answered, seven refused"
    );
    app.stop().await;
}
both!(replays_are_budgeted_like_messages);

/// Open visitor sockets are capped per client address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_sockets_are_capped_per_address() {
    let app = with_budgets(Backend::Sqlite, |b| b.sockets_per_ip = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(app.socket_from("127.0.0.1").await.unwrap());
    }
    match app.socket_from("127.0.0.1").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            assert!(resp.headers().contains_key("retry-after"));
        }
        other => panic!("the fourth socket was not refused: {:?}", other.is_ok()),
    }
    assert!(
        app.socket_from("127.0.0.2").await.is_ok(),
        "another address gets in"
    );
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        app.socket_from("127.0.0.1").await.is_ok(),
        "a closed socket frees its place"
    );
    app.stop().await;
}

/// A hundred anonymous sockets once made a hundred Checkout Sessions in two seconds.
/// Payment links are budgeted per client address (and per site): over it, the visitor is
/// told, and Stripe is not called.
async fn payment_links_are_budgeted_per_address(backend: Backend) {
    use axum::http::Method;
    let stripe = common::standin::StandIn::start().await;
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), Some(stripe.url.clone()), |s| {
        let mut b = generous_budgets();
        b.links_per_ip = Rate::new(2, Duration::from_secs(60));
        s.budgets = b;
    })
    .await;
    stripe.forward_to(&app.url("/simulator/stripe"));
    app.connect_stripe().await;
    app.publish(chatpay_server::cli::DEMO_WORKFLOW).await;
    let mut cards = 0;
    let mut apologies = 0;
    for i in 0..3 {
        let (mut c, _) = app.visitor(None, None).await;
        c.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
            .await;
        c.send_text(&format!("n{i}"), "help").await;
        let frames = c
            .until(|f| {
                matches!(f, ServerFrame::PaymentCard { .. })
                    || matches!(f, ServerFrame::Message { text, .. } if text.starts_with("Sorry, I couldn't create"))
            })
            .await;
        match frames.last() {
            Some(ServerFrame::PaymentCard { .. }) => cards += 1,
            _ => apologies += 1,
        }
    }
    assert_eq!((cards, apologies), (2, 1));
    let creates = stripe
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::POST && c.path == "/v1/checkout/sessions")
        .count();
    assert_eq!(creates, 2, "no Stripe call over budget");
    app.stop().await;
}
both!(payment_links_are_budgeted_per_address);

/// A hundred anonymous loads of the return page once made a hundred Stripe calls. The page
/// asks Stripe about a payment at most once per few seconds, and shows what is stored
/// in between.
async fn the_return_page_asks_stripe_once_per_payment_per_few_seconds(backend: Backend) {
    use axum::http::Method;
    let stripe = common::standin::StandIn::start().await;
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), Some(stripe.url.clone()), |s| {
        let mut b = generous_budgets();
        b.lookups_per_payment = Rate::new(1, Duration::from_secs(60));
        s.budgets = b;
    })
    .await;
    stripe.forward_to(&app.url("/simulator/stripe"));
    app.connect_stripe().await;
    let p = app.create_payment(4999, "USD", None).await;
    for _ in 0..20 {
        let page = reqwest::get(app.url(&format!("/checkout/return?payment={}", p.id)))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("Almost there"), "{page}");
    }
    let lookups = stripe
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::GET && c.path.starts_with("/v1/checkout/sessions/"))
        .count();
    assert_eq!(lookups, 1);
    app.stop().await;
}
both!(the_return_page_asks_stripe_once_per_payment_per_few_seconds);

/// A visitor rejoining its conversation once made the relay ask Stripe about every open
/// payment, each time, with no budget: one script rejoining in a loop made 280 Stripe calls a
/// second (Stripe allows 25 in test mode), and a relay restart made one per returning
/// visitor at once. Look-ups on visitors' behalf share a budget per payment and per site;
/// over it, the sweep and the webhooks still settle the payment.
async fn rejoining_visitors_ask_stripe_within_budget(backend: Backend) {
    use axum::http::Method;
    let stripe = common::standin::StandIn::start().await;
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), Some(stripe.url.clone()), |s| {
        let mut b = generous_budgets();
        b.lookups_per_payment = Rate::new(1, Duration::from_secs(60));
        b.lookups_per_site = Rate::new(4, Duration::from_secs(60));
        s.budgets = b;
    })
    .await;
    stripe.forward_to(&app.url("/simulator/stripe"));
    app.connect_stripe().await;
    let lookups = || {
        stripe
            .calls()
            .into_iter()
            .filter(|c| c.method == Method::GET && c.path.starts_with("/v1/checkout/sessions/"))
            .count()
    };
    let visitor_with_a_payment = || async {
        let (c, welcome) = app.visitor(None, None).await;
        let ServerFrame::Welcome {
            visitor_token,
            conversation,
            ..
        } = welcome
        else {
            unreachable!()
        };
        app.create_payment(1200, "USD", Some(&conversation)).await;
        drop(c);
        visitor_token
    };
    let first = visitor_with_a_payment().await;
    for _ in 0..30 {
        let (c, _) = app.visitor(Some(&first), None).await;
        drop(c);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(lookups(), 1, "thirty rejoins of one conversation");

    let mut others = Vec::new();
    for _ in 0..6 {
        others.push(visitor_with_a_payment().await);
    }
    for token in &others {
        let (c, _) = app.visitor(Some(token), None).await;
        drop(c);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        lookups(),
        4,
        "six more visitors rejoining: the site's budget holds"
    );
    app.stop().await;
}
both!(rejoining_visitors_ask_stripe_within_budget);

/// Anyone could point their own simulator account's endpoints at the shop's webhook route:
/// their deliveries, signed with their secrets, failed the shop's check from the relay's own
/// address, and once over the bad-signature budget the shop's genuine deliveries (from the
/// same address) were refused too: a paid visitor stayed pending. The simulator's own
/// deliveries are known by its token and never blocked (behind Stripe, list Stripe's
/// webhook addresses in CHATPAY_WEBHOOK_SOURCES for the same).
async fn another_accounts_endpoints_cannot_block_the_sites_webhooks(backend: Backend) {
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        let mut b = generous_budgets();
        b.webhook_failures_per_ip = Rate::new(3, Duration::from_secs(600));
        s.budgets = b;
    })
    .await;
    app.connect_stripe().await;
    let attacker = app.state.stripe.client("sk_test_attacker000000000000");
    attacker
        .create_webhook_endpoint(&app.url("/webhooks/stripe/shop"), &["*"], None)
        .await
        .unwrap();
    for i in 0..8 {
        let params = chatpay_server::stripe::client::NewCheckoutSession {
            amount: 100,
            currency: "usd".into(),
            description: "noise",
            client_reference_id: "noise",
            metadata: vec![("site", "shop")],
            expires_at: chatpay_server::store::now_ms() / 1000 + 3600,
            success_url: "https://shop.example/ok",
            cancel_url: "https://shop.example/back",
            payment_method_configuration: None,
            return_to: None,
        };
        let session = attacker
            .create_checkout_session(&params, &format!("noise-{i}"))
            .await
            .unwrap();
        attacker.expire_checkout_session(&session.id).await.unwrap();
    }
    // Their deliveries were refused for their signatures…
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let health = app.state.store.webhook_health(&common::shop()).await.unwrap();
    assert!(health.signature_failures >= 3, "{health:?}");
    // …and the shop's own still land.
    let p = app.create_payment(2500, "USD", None).await;
    let url = p.checkout_url.clone().unwrap();
    common::pay(&url).await;
    let p = app
        .wait_payment(&p.id, chatpay_shared::protocol::PaymentStatus::Paid)
        .await;
    assert_eq!(p.resolved_by.as_deref(), Some("webhook"));
    app.stop().await;
}
both!(another_accounts_endpoints_cannot_block_the_sites_webhooks);

/// The simulator took every write from anyone: one script made 13,673 sessions in 150 s
/// (740 MB of database, 1.37 GB of memory) and its sweep then read them all every second.
/// Writes are budgeted per address, answered like Stripe's rate limit.
async fn the_simulator_budgets_writes_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        let mut b = generous_budgets();
        b.simulator_writes_per_ip = Rate::new(5, Duration::from_secs(600));
        s.budgets = b;
    })
    .await;
    let http = reqwest::Client::builder()
        .local_address("127.0.0.40".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut answers = Vec::new();
    for i in 0..12 {
        let resp = http
            .post(app.url("/simulator/stripe/v1/checkout/sessions"))
            .bearer_auth(format!("sk_test_flood{i:020}"))
            .form(&[
                ("mode", "payment"),
                ("line_items[0][quantity]", "1"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "500"),
                ("line_items[0][price_data][product_data][name]", "x"),
                ("success_url", "https://shop.example/ok"),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        answers.push((status, body["error"]["code"].as_str().unwrap_or("").to_owned()));
    }
    let made = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(made, 5, "{answers:?}");
    assert!(
        answers
            .iter()
            .skip(5)
            .all(|(s, c)| *s == 429 && c == "rate_limit"),
        "{answers:?}"
    );
    // Someone else still gets through.
    let client = app.state.stripe.client(common::STRIPE_KEY);
    assert!(client.balance().await.is_ok());
    app.stop().await;
}
both!(the_simulator_budgets_writes_per_address);

/// A Stripe key's ciphertext copied into another site's row (someone with write access to
/// the database) does not decrypt there; and what older relays sealed unbound is re-sealed
/// bound at start.
async fn sealed_secrets_are_bound_to_their_row(backend: Backend) {
    use aes_gcm::aead::{Aead, KeyInit};
    use base64::Engine as _;
    let app = TestApp::spawn(backend).await;
    let store = &app.state.store;
    let cipher = &app.state.cipher;
    let (shop_id, rival_id) = (common::shop(), SiteId::parse("rival").unwrap());
    store
        .insert_site(
            &chatpay_server::store::sites::NewSite::parse(
                "rival",
                "Rival",
                "",
                &["https://rival.test".into()],
            )
            .unwrap(),
            None,
            None,
        )
        .await
        .unwrap();
    store
        .save_stripe_keys(cipher, &shop_id, "sk_test_shopsecret0001", false, None)
        .await
        .unwrap();
    store
        .save_stripe_keys(cipher, &rival_id, "sk_test_rivalsecret001", false, None)
        .await
        .unwrap();
    store
        .write_one(sqlx::query("UPDATE stripe_accounts SET secret_key_enc = (SELECT secret_key_enc FROM stripe_accounts WHERE site_id = 'shop') WHERE site_id = 'rival'"))
        .await
        .unwrap();
    let copied = store.stripe_account(cipher, &rival_id).await;
    assert!(copied.is_err(), "the shop's key does not open as the rival's");
    assert_eq!(
        store
            .stripe_account(cipher, &shop_id)
            .await
            .unwrap()
            .unwrap()
            .secret_key,
        "sk_test_shopsecret0001"
    );

    // What a relay before binding wrote: v1, AES-GCM without associated data, and webhook
    // secrets as a plain list.
    let aead = aes_gcm::Aes256Gcm::new(&[1u8; 32].into());
    let v1 = |plain: &str| {
        let nonce = [9u8; 12];
        let ct = aead
            .encrypt(aes_gcm::Nonce::from_slice(&nonce), plain.as_bytes())
            .unwrap();
        format!(
            "v1:{}",
            base64::engine::general_purpose::STANDARD.encode([nonce.to_vec(), ct].concat())
        )
    };
    store
        .write_one(
            sqlx::query(
                "UPDATE stripe_accounts SET secret_key_enc = $1, webhook_secrets_enc = $2 WHERE site_id = 'rival'",
            )
            .bind(v1("sk_test_rivalsecret001"))
            .bind(v1(r#"["whsec_current000","whsec_previous00"]"#)),
        )
        .await
        .unwrap();
    assert_eq!(store.reseal_secrets(cipher).await.unwrap(), 2);
    let rival = store.stripe_account(cipher, &rival_id).await.unwrap().unwrap();
    assert_eq!(rival.secret_key, "sk_test_rivalsecret001");
    assert_eq!(
        rival.webhook_secrets,
        vec!["whsec_current000", "whsec_previous00"]
    );
    let status = store.stripe_status(cipher, &rival_id).await.unwrap();
    let until = status.previous_webhook_secret_until.unwrap();
    let now = chatpay_server::store::now_ms();
    assert!(
        (now + 23 * 3_600_000..=now + 24 * 3_600_000).contains(&until),
        "24 h from now, once"
    );
    assert_eq!(
        store.reseal_secrets(cipher).await.unwrap(),
        0,
        "nothing left to re-seal"
    );
    app.stop().await;
}
both!(sealed_secrets_are_bound_to_their_row);

/// An address that keeps sending badly signed webhooks is refused before its body is read
/// (each one cost a body read and an HMAC); others, Stripe included, are not affected.
async fn an_address_sending_bad_signatures_is_refused_early(backend: Backend) {
    let app = with_budgets(backend, |b| {
        b.webhook_failures_per_ip = Rate::new(3, Duration::from_secs(60))
    })
    .await;
    let secret = app.connect_stripe().await;
    let body = paid_event("evt_x", "pay_x", "cs_x");
    let now = chatpay_server::store::now_ms() / 1000;
    let attacker = reqwest::Client::builder()
        .local_address("127.0.0.9".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let resp = attacker
            .post(app.url("/webhooks/stripe/shop"))
            .header(
                "stripe-signature",
                chatpay_server::stripe::signature::sign(body.as_bytes(), "whsec_wrong", now),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [400, 400, 400, 400, 429, 429]);
    let (status, _) = app.webhook(&secret, &body).await;
    assert_eq!(
        status, 200,
        "a correctly signed delivery from elsewhere goes through"
    );
    app.stop().await;
}
both!(an_address_sending_bad_signatures_is_refused_early);

/// The statuses of six badly signed webhooks from one address (127.0.0.9) to `path(i)`,
/// on a relay that refuses an address after three failures a minute.
async fn six_bad_webhooks(app: &TestApp, path: impl Fn(usize) -> String) -> Vec<u16> {
    let attacker = reqwest::Client::builder()
        .local_address("127.0.0.9".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let resp = attacker
            .post(app.url(&path(i)))
            .header("stripe-signature", "t=1,v1=00")
            .body("{}")
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    statuses
}

async fn three_failures_a_minute(backend: Backend) -> TestApp {
    with_budgets(backend, |b| {
        b.webhook_failures_per_ip = Rate::new(3, Duration::from_secs(60))
    })
    .await
}

/// Webhooks for sites that do not exist cost a database read each and never counted as
/// failures (7,589 in 8 s from one address, half a core): they count like bad signatures.
async fn webhooks_for_unknown_sites_count_as_failures(backend: Backend) {
    let app = three_failures_a_minute(backend).await;
    let statuses = six_bad_webhooks(&app, |i| format!("/webhooks/stripe/nosuchsite{i}")).await;
    assert_eq!(statuses, [404, 404, 404, 404, 429, 429]);
    app.stop().await;
}
both!(webhooks_for_unknown_sites_count_as_failures);

/// A site with no signing secret saved yet answered every webhook with a write (the
/// failure noted for Troubleshooting) and never refused the address: 4,000 in 2 s from one
/// script. They count like bad signatures, and a refused one writes nothing.
async fn webhooks_for_a_site_without_a_secret_count_as_failures(backend: Backend) {
    let app = three_failures_a_minute(backend).await;
    let statuses = six_bad_webhooks(&app, |_| "/webhooks/stripe/shop".into()).await;
    assert_eq!(statuses, [400, 400, 400, 400, 429, 429]);
    let health = app.state.store.webhook_health(&common::shop()).await.unwrap();
    assert_eq!(health.signature_failures, 4, "{health:?}");
    app.stop().await;
}
both!(webhooks_for_a_site_without_a_secret_count_as_failures);
