//! Several relays on one PostgreSQL: whatever relay a visitor's socket, a webhook, an
//! agent or a console reaches, every other one hears of it through the database
//! (`LISTEN`/`NOTIFY` pointers, frames read from the store).

mod common;

use std::time::Duration;

use chatpay_shared::console::LiveEvent;
use chatpay_shared::protocol::{Author, PaymentStatus, ServerFrame};
use common::{Backend, TestApp};
use futures_util::StreamExt as _;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_one_relay_hears_what_happens_on_another() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.second_relay().await;
    a.connect_stripe().await; // the webhook endpoint is relay A's
    a.publish(chatpay_server::cli::DEMO_WORKFLOW).await;

    // The visitor's socket is on relay B.
    let (mut v, welcome) = b.visitor(None, None).await;
    let ServerFrame::Welcome {
        conversation,
        visitor_token,
        ..
    } = welcome
    else {
        unreachable!()
    };
    v.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
        .await;
    v.send_text("v1", "help").await;
    let frames = v.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await;
    let url = frames
        .iter()
        .find_map(|f| match f {
            ServerFrame::PaymentCard { url, .. } => Some(url.clone()),
            _ => None,
        })
        .unwrap();

    // Paid at Stripe; the webhook reaches relay A; the visitor on B sees Paid and the paid
    // branch, once.
    common::pay(&url).await;
    let after = v
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("This conversation is now closed")))
        .await;
    assert!(after.iter().any(|f| matches!(
        f,
        ServerFrame::PaymentUpdate {
            status: PaymentStatus::Paid,
            ..
        }
    )));
    let thanks = after
        .iter()
        .filter(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("Thank you")))
        .count();
    assert_eq!(thanks, 1, "the paid branch ran once");

    // A person on relay A replies: the visitor on B sees it.
    chatpay_server::agents::reply(&a.state, &common::shop(), &conversation, "Hello from a person.")
        .await
        .unwrap();
    let got = v
        .until(|f| {
            matches!(
                f,
                ServerFrame::Message {
                    from: Author::Agent,
                    ..
                }
            )
        })
        .await;
    assert!(matches!(got.last(), Some(ServerFrame::Message { text, .. }) if text == "Hello from a person."));

    // A second tab of the same visitor opens on relay A: it has the whole history, and
    // what the first tab (on B) writes reaches it.
    let (mut second, _) = a.visitor(Some(&visitor_token), None).await;
    let history = second
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text == "Hello from a person."))
        .await;
    assert!(history.iter().any(|f| matches!(
        f,
        ServerFrame::PaymentUpdate {
            status: PaymentStatus::Paid,
            ..
        }
    )));
    v.send_text("v2", "Thanks!").await;
    second
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text == "Thanks!"))
        .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_on_one_relay_sees_visitors_on_another() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.second_relay().await;
    chatpay_server::accounts::create_account(
        &a.state.store,
        &a.state.hashers,
        "owner@shop.test",
        "a long enough password",
    )
    .await
    .unwrap();
    let login = reqwest::Client::new()
        .post(b.url("/api/console/login"))
        .header("x-chatpay-console", "1")
        .json(&serde_json::json!({ "email": "owner@shop.test", "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let mut req = format!("ws://{}/api/console/sites/shop/live", b.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    // The fleet's one public origin (relay A's URL here).
    req.headers_mut()
        .insert("origin", a.url("").trim_end_matches('/').parse().unwrap());
    let (mut live, _) = tokio_tungstenite::connect_async(req).await.unwrap();

    // A visitor on relay A writes; the console on B hears of the conversation.
    let (mut v, welcome) = a.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    v.say("m1", "Is anyone there?").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, live.next())
            .await
            .expect("the console on B hears of the visitor on A")
            .unwrap()
            .unwrap();
        if let Ok(e) = serde_json::from_str::<LiveEvent>(msg.to_text().unwrap_or("")) {
            if e.conversation == conversation {
                break;
            }
        }
    }
    a.stop().await;
    b.stop().await;
}

/// A TCP path to PostgreSQL that can be cut (the database becomes unreachable).
struct CuttablePath {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttablePath {
    async fn to_postgres() -> CuttablePath {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Default::default();
        let (c, k) = (cut.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(std::sync::atomic::Ordering::Relaxed) {
                    continue; // dropped: the database does not answer
                }
                k.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut pg) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut pg).await;
                    }
                }));
            }
        });
        CuttablePath { port, cut, conns }
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

/// When the database is unreachable, /healthz and /readyz say so at once (not after a
/// pool's long wait) and a webhook fails fast with a 5xx, so Stripe retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_said_at_once() {
    let db = common::TestDb::new(Backend::Postgres).await;
    let path = CuttablePath::to_postgres().await;
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_port(Some(path.port)).unwrap();
    let store = chatpay_server::store::Store::connect(url.as_str()).await.unwrap();
    common::add_shop(&store).await;
    let app = TestApp::serve_store(
        db,
        store,
        None,
        chatpay_server::assets::WidgetAssets::none(),
        |_| {},
    )
    .await;
    let secret = app.connect_stripe().await;
    assert_eq!(reqwest::get(app.url("/readyz")).await.unwrap().status(), 200);

    path.cut();
    for probe in ["/healthz", "/readyz"] {
        let started = std::time::Instant::now();
        let resp = reqwest::get(app.url(probe)).await.unwrap();
        assert_eq!(resp.status(), 503, "{probe}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{probe}: {:?}",
            started.elapsed()
        );
    }
    let started = std::time::Instant::now();
    let (status, _) = app
        .webhook(&secret, &common::paid_event("evt_down", "pay_x", "cs_x"))
        .await;
    assert!(status >= 500, "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

/// The bus's pointers travel with the `COMMIT`: a committed transaction's arrive, in the
/// order they were made, and a rolled-back one's never do. A pointer that is not made of id
/// characters is sent as a bound parameter at once, and still only delivered at commit.
#[tokio::test]
async fn pointers_arrive_with_the_commit_and_never_without_it() {
    use chatpay_server::store::{Store, BUS_CHANNEL};
    let db = common::TestDb::new(Backend::Postgres).await;
    let store = Store::connect(&db.url).await.unwrap();
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
    listener.listen(BUS_CHANNEL).await.unwrap();
    let relay = store.relay_id().to_owned();

    // Rolled back: nothing is said.
    let mut tx = store.begin().await.unwrap();
    tx.notify('h', &["shop", "conv_a", "3"]).await.unwrap();
    tx.rollback().await.unwrap();
    // Committed: each pointer, in order, the odd one as it was written.
    let mut tx = store.begin().await.unwrap();
    tx.notify('s', &["shop", "conv_b"]).await.unwrap();
    tx.notify('n', &["shop", "conv_b", "it's; COMMIT; --"])
        .await
        .unwrap();
    tx.notify('h', &["shop", "conv_b", "12"]).await.unwrap();
    tx.commit().await.unwrap();

    let mut heard = Vec::new();
    while heard.len() < 3 {
        let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
            .await
            .expect("the committed pointers arrive")
            .unwrap();
        heard.push(n.payload().to_owned());
    }
    // The bound one went out when it was made; PostgreSQL still delivers it at commit, and
    // the two sent with the COMMIT keep their order.
    let expected = vec![
        format!("n|{relay}|shop|conv_b|it's; COMMIT; --"),
        format!("s|{relay}|shop|conv_b"),
        format!("h|{relay}|shop|conv_b|12"),
    ];
    assert_eq!(heard, expected);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), listener.recv())
            .await
            .is_err(),
        "the rolled-back transaction's pointer was delivered"
    );
}
