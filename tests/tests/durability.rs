//! Durability with a real `chatpay` process: kill -9 while a payment is pending, or while
//! Stripe is still answering; restart; the visitor gets the outcome exactly once.

use std::time::Duration;

use chatpay_e2e::visitor::Visitor;
use chatpay_e2e::{stripe_signature, Chatpay, Scratch};
use chatpay_shared::protocol::{Author, ClientFrame, PaymentStatus, ServerFrame};
use serde_json::json;

const ORIGIN: &str = "http://shop.test";
const KEY: &str = "sk_test_durable000000000000";
const WHSEC: &str = "whsec_durabletest0000000000";

fn bot(frames: &[ServerFrame], starts: &str) -> usize {
    frames
        .iter()
        .filter(
            |f| matches!(f, ServerFrame::Message { from: Author::Bot, text, .. } if text.starts_with(starts)),
        )
        .count()
}

fn card(frames: &[ServerFrame]) -> Option<(String, String)> {
    frames.iter().find_map(|f| match f {
        ServerFrame::PaymentCard { payment, url, .. } => Some((payment.clone(), url.clone())),
        _ => None,
    })
}

/// A new visitor who answers the demo workflow's question with `need`; returns the socket
/// and the visitor's token.
async fn new_visitor_says(base: &str, need: &str) -> anyhow::Result<(Visitor, String)> {
    let (mut v, welcome) = Visitor::connect(base, "shop", ORIGIN, None, None).await?;
    let ServerFrame::Welcome { visitor_token, .. } = welcome else {
        anyhow::bail!("no welcome")
    };
    v.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
        .await?;
    v.send(&ClientFrame::Text {
        client_id: "a".into(),
        text: need.into(),
    })
    .await?;
    Ok((v, visitor_token))
}

/// A site with the demo workflow; Stripe connected through the relay's own simulator, with a
/// webhook secret but no endpoint registered, so only this test delivers webhooks.
async fn set_up(chatpay: &Chatpay) -> anyhow::Result<()> {
    chatpay.add_site("shop", "Shop", ORIGIN)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    let base = format!("{}/simulator/stripe", relay.base);
    chatpay.cli_env(
        &["stripe", "connect", "--site", "shop"],
        &[
            ("CHATPAY_STRIPE_API_BASE", &base),
            ("CHATPAY_STRIPE_SECRET_KEY", KEY),
            ("CHATPAY_STRIPE_WEBHOOK_SECRET", WHSEC),
        ],
    )?;
    drop(relay);
    Ok(())
}

async fn deliver(base: &str, body: &str) -> anyhow::Result<serde_json::Value> {
    let header = stripe_signature(body, WHSEC, chatpay_server_now());
    let resp = reqwest::Client::new()
        .post(format!("{base}/webhooks/stripe/shop"))
        .header("stripe-signature", header)
        .body(body.to_owned())
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "webhook answered {}", resp.status());
    Ok(resp.json().await?)
}

fn chatpay_server_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn completed(event: &str, payment: &str, session: &str) -> String {
    json!({
        "id": event, "object": "event", "type": "checkout.session.completed", "created": chatpay_server_now(),
        "livemode": false, "data": { "object": {
            "id": session, "object": "checkout.session", "status": "complete", "payment_status": "paid",
            "client_reference_id": payment, "amount_total": 4999, "currency": "usd", "metadata": { "payment": payment }
        }}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_while_a_payment_is_pending_loses_nothing_and_repeats_nothing() -> anyhow::Result<()> {
    let scratch = Scratch::new("durable");
    let chatpay = Chatpay::new(&scratch.0)?;
    set_up(&chatpay).await?;
    let mut relay = chatpay.serve(&["--stripe-simulator"]).await?;
    let port = relay.port();

    // The visitor walks to the payment card.
    let (mut v, visitor_token) = new_visitor_says(&relay.base, "Backup help").await?;
    let frames = v.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await?;
    let (payment, url) = card(&frames).unwrap();
    let session = url.rsplit('/').next().unwrap().to_owned();
    let last_seq = frames.iter().filter_map(ServerFrame::seq).max().unwrap();

    // Crash.
    relay.kill9();
    drop(v);

    // Restart and deliver Stripe's event.
    let relay = chatpay.serve_on(port, &["--stripe-simulator"]).await?;
    let answer = deliver(&relay.base, &completed("evt_durable_1", &payment, &session)).await?;
    assert_eq!(answer["outcome"], "applied");

    // The visitor comes back and gets the outcome once.
    let (mut v, _) =
        Visitor::connect(&relay.base, "shop", ORIGIN, Some(&visitor_token), Some(last_seq)).await?;
    let after = v.drain(Duration::from_millis(1500)).await?;
    assert!(
        after.iter().any(|f| matches!(
            f,
            ServerFrame::PaymentUpdate {
                status: PaymentStatus::Paid,
                ..
            }
        )),
        "{after:#?}"
    );
    assert_eq!(bot(&after, "Thank you, your deposit is in!"), 1, "{after:#?}");
    assert_eq!(bot(&after, "This conversation is now closed"), 1);

    // Stripe delivers the same event again: nothing changes, nothing is sent.
    let again = deliver(&relay.base, &completed("evt_durable_1", &payment, &session)).await?;
    assert_eq!(again["outcome"], "duplicate");
    assert!(v.drain(Duration::from_millis(700)).await?.is_empty());

    // The whole history has every message once.
    let (mut full, _) = Visitor::connect(&relay.base, "shop", ORIGIN, Some(&visitor_token), None).await?;
    let history = full.drain(Duration::from_millis(800)).await?;
    assert_eq!(bot(&history, "Thank you, your deposit is in!"), 1);
    assert_eq!(
        history
            .iter()
            .filter(|f| matches!(f, ServerFrame::PaymentCard { .. }))
            .count(),
        1
    );
    let seqs: Vec<u64> = history.iter().filter_map(ServerFrame::seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );
    Ok(())
}

/// A Stripe that accepts connections and never answers.
async fn silent_stripe() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    Ok((base, task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_while_stripe_is_creating_the_session_is_recovered_on_restart() -> anyhow::Result<()> {
    let scratch = Scratch::new("durable-creating");
    let chatpay = Chatpay::new(&scratch.0)?;
    set_up(&chatpay).await?;
    let (silent, _hold) = silent_stripe().await?;
    let mut relay = chatpay
        .serve(&[
            "--stripe-simulator",
            "--stripe-api-base",
            &silent,
            "--stripe-timeout",
            "1",
            "--stripe-budget",
            "2",
        ])
        .await?;
    let port = relay.port();

    let (mut v, visitor_token) = new_visitor_says(&relay.base, "Restore my files").await?;
    // The relay is now waiting on Stripe, which says nothing. Crash it there.
    v.until(|f| {
        matches!(
            f,
            ServerFrame::Message {
                from: Author::Visitor,
                ..
            }
        )
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.kill9();
    drop(v);

    // Back up with the real (simulated) Stripe: the interrupted payment is created once —
    // after the lease of the stopped relay's call ran out (2 s budget: 7 s), by the sweep.
    let relay = chatpay
        .serve_on(
            port,
            &[
                "--stripe-simulator",
                "--stripe-timeout",
                "1",
                "--stripe-budget",
                "2",
                "--sweep-every",
                "1",
            ],
        )
        .await?;
    let (mut v, _) = Visitor::connect(&relay.base, "shop", ORIGIN, Some(&visitor_token), None).await?;
    let frames = v.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await?;
    let (payment, _) = card(&frames).unwrap();
    assert!(
        payment.ends_with("_1"),
        "the first payment of the run, not a second one: {payment}"
    );
    let rest = v.drain(Duration::from_millis(800)).await?;
    assert!(
        !rest.iter().any(|f| matches!(f, ServerFrame::PaymentCard { .. })),
        "one card only"
    );
    assert_eq!(bot(&frames, "Happy to help with that."), 1);
    Ok(())
}

/// A relay restarted after a crash may meet a write fault that lasts a moment (a disk full
/// for a second, a dropped connection). Its start-up writes (the demo site, the owner's
/// setup link) are then tried again, said in its log, and it serves: before, the first such
/// fault made it exit, and the chaos test's restart never became healthy (issue 30).
#[tokio::test]
async fn a_relay_whose_first_writes_fail_says_so_and_starts() -> anyhow::Result<()> {
    let dir = Scratch::new("start-faults");
    let chatpay = Chatpay::new(&dir.0)?;
    let log = dir.0.join("relay.log");

    let relay = chatpay
        .serve_logged(
            0,
            &[
                "--demo",
                "--stripe-simulator",
                "--inject-faults",
                "first_writes=3",
            ],
            Some(&log),
        )
        .await?;

    // It serves the demo, and the setup link it printed opens the console.
    let http = reqwest::Client::new();
    let demo = http.get(format!("{}/demo", relay.base)).send().await?;
    assert_eq!(demo.status(), 200, "the demo page");
    let said = relay.said.lock().unwrap().clone();
    let token = said
        .iter()
        .find_map(|l| l.split("/console/#/setup/").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no setup link among {said:?}"))?;
    let setup = http
        .post(format!("{}/api/console/setup", relay.base))
        .header("x-chatpay-console", "1")
        .json(&json!({ "token": token, "email": "owner@shop.test", "password": "a long passphrase 42" }))
        .send()
        .await?;
    assert_eq!(
        setup.status(),
        200,
        "the setup link works: {}",
        setup.text().await?
    );

    // The operator reads what went wrong and that it was tried again.
    let logged = std::fs::read_to_string(&log)?;
    assert!(
        logged.contains("failed while starting") && logged.contains("trying again"),
        "the log says which start-up write failed and that it is tried again:\n{logged}"
    );
    Ok(())
}
