//! Two `chatpay` processes on one PostgreSQL database, as a fleet behind one public URL.
//!
//! First, every kind of live traffic crosses from one relay to the other: a visitor on B
//! pays and the webhook reaches A (the visitor sees Paid and the paid branch once), a person
//! signed in on A answers the visitor on B, the inbox open on B hears a visitor on A.
//!
//! Then a storm: visitors on both relays pay while 1,000 deliveries of Stripe's events
//! (duplicated, shuffled, split across both relays) arrive, and relay A is killed -9 when
//! half of them have paid. A's visitors come back on B with the last seq they saw. Per payment: it is paid,
//! its visitor saw Paid, and its paid branch ran exactly once (in what the visitor saw and
//! in the stored history).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use chatpay_e2e::visitor::Visitor;
use chatpay_e2e::{
    connect_with_simulator, deliver_event, fresh_postgres, stripe_events, Chatpay, Relay, Scratch,
    FLEET_SECRET_KEY,
};
use chatpay_server::store::Store;
use chatpay_shared::protocol::{Author, ClientFrame, PaymentStatus, ServerFrame};
use futures_util::StreamExt as _;
use rand::seq::SliceRandom as _;
use rand::Rng as _;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const KEY: &str = "sk_test_tworelays0000000000";
const ORIGIN: &str = "http://shop.test";
const VISITORS: usize = 24;
const DELIVERIES: usize = 1_000;
const OWNER: (&str, &str) = ("owner@shop.test", "a long enough password for the fleet");

/// What one visitor saw, by seq (a frame replayed after a reconnect counts once).
#[derive(Default)]
struct Seen {
    frames: BTreeMap<u64, ServerFrame>,
}

impl Seen {
    fn add(&mut self, f: ServerFrame) {
        if let Some(s) = f.seq() {
            self.frames.insert(s, f);
        }
    }
    /// The highest seq up to which nothing is missing.
    fn last_seq(&self) -> Option<u64> {
        let mut last = None;
        for s in self.frames.keys() {
            match last {
                None if *s == 1 => last = Some(1),
                Some(l) if *s == l + 1 => last = Some(*s),
                _ => break,
            }
        }
        last
    }
    fn thanks(&self) -> usize {
        self.frames
            .values()
            .filter(|f| matches!(f, ServerFrame::Message { from: Author::Bot, text, .. } if text.starts_with("Thank you")))
            .count()
    }
    fn paid(&self) -> bool {
        self.frames.values().any(|f| {
            matches!(
                f,
                ServerFrame::PaymentUpdate {
                    status: PaymentStatus::Paid,
                    ..
                }
            )
        })
    }
}

/// Chats to the payment card on `base`: the socket, the token, the payment, its link.
async fn to_the_card(base: &str, i: usize, seen: &mut Seen) -> Result<(Visitor, String, String, String)> {
    let (mut v, welcome) = Visitor::connect(base, "shop", ORIGIN, None, None).await?;
    let ServerFrame::Welcome { visitor_token, .. } = welcome else {
        bail!("no Welcome: {welcome:?}")
    };
    for f in v
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
        .await?
    {
        seen.add(f);
    }
    v.send(&ClientFrame::Text {
        client_id: format!("need-{i}"),
        text: format!("my printer {i} is on fire"),
    })
    .await?;
    let frames = v.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await?;
    let (payment, url) = frames
        .iter()
        .find_map(|f| match f {
            ServerFrame::PaymentCard { payment, url, .. } => Some((payment.clone(), url.clone())),
            _ => None,
        })
        .context("a card")?;
    for f in frames {
        seen.add(f);
    }
    Ok((v, visitor_token, payment, url))
}

async fn pay(http: &reqwest::Client, url: &str) -> Result<()> {
    let resp = http
        .post(format!("{url}/pay"))
        .form(&[("outcome", "paid")])
        .send()
        .await?;
    ensure!(resp.status() == 303, "paying {url}: {}", resp.status());
    Ok(())
}

/// The fleet: relay A and relay B on one database, both answering for the public URL (a load
/// balancer's, here A's).
///
/// A relay of the fleet on `port` (0: any); Stripe's webhooks go to `public`, the first
/// relay's URL (`None`: this is the first).
async fn relay(cp: &Chatpay, port: u16, public: Option<&str>, log: &std::path::Path) -> Result<Relay> {
    let mut flags = vec![
        "--stripe-simulator",
        "--simulator-token",
        "two-relays-token",
        "--sweep-every",
        "1",
    ];
    if let Some(public) = public {
        flags.extend(["--public-url", public]);
    }
    cp.serve_logged(port, &flags, Some(log)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_on_one_postgres_lose_and_double_nothing() -> Result<()> {
    let dir = Scratch::new("two-relays");
    let mut cp = Chatpay::new(&dir.0)?;
    cp.database_url = fresh_postgres().await?;
    cp.env
        .push(("CHATPAY_SECRET_KEY".into(), FLEET_SECRET_KEY.into()));
    cp.add_site("shop", "Shop", ORIGIN)?;
    cp.import_demo_workflow("shop")?;
    cp.add_owner(OWNER.0, OWNER.1)?;
    let log = dir.0.join("relays.log");
    let mut a = relay(&cp, 0, None, &log).await?;
    let public = a.base.clone();
    let b = relay(&cp, 0, Some(&public), &log).await?;
    let whsec = connect_with_simulator(&cp, &a, "shop", KEY).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    // 1. A visitor on B pays; Stripe's webhook goes to A (the endpoint's URL).
    let mut first = Seen::default();
    let (mut v, _, payment, url) = to_the_card(&b.base, 0, &mut first).await?;
    pay(&http, &url).await?;
    for f in v
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("This conversation is now closed")))
        .await?
    {
        first.add(f);
    }
    ensure!(first.paid(), "the visitor on B saw Paid for {payment}");
    ensure!(
        first.thanks() == 1,
        "the paid branch ran once, not {}",
        first.thanks()
    );

    // A person signed in on A answers the visitor on B; the inbox open on B hears a
    // visitor who writes on A.
    let login = http
        .post(format!("{}/api/console/login", a.base))
        .header("x-chatpay-console", "1")
        .json(&serde_json::json!({ "email": OWNER.0, "password": OWNER.1 }))
        .send()
        .await?;
    ensure!(login.status().is_success(), "sign-in on A: {}", login.status());
    let cookie = login.headers()["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .context("a session cookie")?
        .to_owned();
    let conversation = http
        .get(format!("{}/api/console/sites/shop/conversations", a.base))
        .header("cookie", &cookie)
        .header("x-chatpay-console", "1")
        .send()
        .await?
        .json::<Value>()
        .await?;
    let conversation = conversation
        .as_array()
        .or_else(|| conversation["conversations"].as_array())
        .and_then(|l| l.first())
        .and_then(|c| c["id"].as_str())
        .context("the conversation in the inbox")?
        .to_owned();
    let replied = http
        .post(format!(
            "{}/api/console/sites/shop/conversations/{conversation}/reply",
            a.base
        ))
        .header("cookie", &cookie)
        .header("x-chatpay-console", "1")
        .header("origin", &public)
        .json(&serde_json::json!({ "text": "Hello from a person on A." }))
        .send()
        .await?;
    ensure!(replied.status().is_success(), "reply on A: {}", replied.status());
    v.until(|f| matches!(f, ServerFrame::Message { from: Author::Agent, text, .. } if text == "Hello from a person on A."))
        .await?;

    let mut req =
        format!("{}/api/console/sites/shop/live", b.base.replacen("http", "ws", 1)).into_client_request()?;
    req.headers_mut().insert("cookie", cookie.parse()?);
    req.headers_mut().insert("origin", public.parse()?);
    let (mut live, _) = tokio_tungstenite::connect_async(req)
        .await
        .context("the inbox on B")?;
    let (mut on_a, welcome) = Visitor::connect(&a.base, "shop", ORIGIN, None, None).await?;
    let ServerFrame::Welcome {
        conversation: on_a_conversation,
        ..
    } = welcome
    else {
        bail!("no Welcome")
    };
    on_a.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
        .await?;
    on_a.send(&ClientFrame::Text {
        client_id: "hi".into(),
        text: "Is anyone there?".into(),
    })
    .await?;
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(msg)) = live.next().await {
            if msg.to_text().unwrap_or_default().contains(&on_a_conversation) {
                return true;
            }
        }
        false
    })
    .await;
    ensure!(heard == Ok(true), "the inbox on B heard of the visitor on A");
    drop((live, on_a, v));

    // 2. The storm. Visitors on both relays come to their card.
    let mut visitors = Vec::new();
    for i in 1..=VISITORS {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let mut seen = Seen::default();
        let (v, token, payment, url) = to_the_card(base, i, &mut seen).await?;
        visitors.push((i % 2 == 0, v, token, payment, url, seen));
    }

    // They pay, one every 40 ms, while 1,000 deliveries of Stripe's events go to both
    // relays (the simulator delivers each to the endpoint, A, as well).
    let a_alive = Arc::new(AtomicBool::new(true));
    let paid = Arc::new(AtomicUsize::new(0));
    let delivered = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<HashSet<String>>> = Default::default();
    let urls: Vec<String> = visitors.iter().map(|v| v.4.clone()).collect();
    let payer = {
        let (http, a_alive, paid) = (http.clone(), a_alive.clone(), paid.clone());
        let (a_base, b_base) = (a.base.clone(), b.base.clone());
        tokio::spawn(async move {
            for url in urls {
                // The public URL is A's: once A is gone, the balancer sends it to B.
                let url = if a_alive.load(Ordering::SeqCst) {
                    url
                } else {
                    url.replacen(&a_base, &b_base, 1)
                };
                if pay(&http, &url).await.is_err() {
                    pay(&http, &url.replacen(&a_base, &b_base, 1)).await?;
                }
                paid.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            anyhow::Ok(())
        })
    };
    let api = format!("{}/simulator/stripe", b.base);
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (http, api, whsec) = (http.clone(), api.clone(), whsec.clone());
        let (a_alive, delivered, acked) = (a_alive.clone(), delivered.clone(), acked.clone());
        let (a_base, b_base) = (a.base.clone(), b.base.clone());
        workers.push(tokio::spawn(async move {
            while delivered.fetch_add(1, Ordering::SeqCst) < DELIVERIES {
                let events = completed(stripe_events(&http, &api, KEY).await);
                let Some(event) = events.choose(&mut rand::thread_rng()).cloned() else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    delivered.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let to_a = a_alive.load(Ordering::SeqCst) && rand::thread_rng().gen_bool(0.5);
                let mut status = deliver_event(
                    &http,
                    if to_a { &a_base } else { &b_base },
                    "shop",
                    &whsec,
                    &event,
                )
                .await;
                if status != Some(200) {
                    // A died under it (or it failed): Stripe tries again, the balancer picks B.
                    status = deliver_event(&http, &b_base, "shop", &whsec, &event).await;
                }
                if status == Some(200) {
                    acked
                        .lock()
                        .unwrap()
                        .insert(event["id"].as_str().unwrap_or_default().to_owned());
                }
            }
        }));
    }
    // A dies with half the visitors paid: some of its webhooks in flight, frames unsent.
    while paid.load(Ordering::SeqCst) < VISITORS / 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a_alive.store(false, Ordering::SeqCst);
    a.kill9();
    payer.await??;
    for w in workers {
        w.await?;
    }
    // Every event Stripe has once more, to B (what Stripe's retries would do).
    for e in completed(stripe_events(&http, &api, KEY).await) {
        if deliver_event(&http, &b.base, "shop", &whsec, &e).await == Some(200) {
            acked
                .lock()
                .unwrap()
                .insert(e["id"].as_str().unwrap_or_default().to_owned());
        }
    }

    // Every visitor waits for Paid and the paid branch; A's come back on B with their last seq.
    let mut outcomes = Vec::new();
    for (on_a, mut v, token, payment, _, mut seen) in visitors {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut closed = false;
        while Instant::now() < deadline && !(closed && seen.thanks() > 0) {
            match v.recv(Duration::from_secs(2)).await {
                Ok(Some(f)) => {
                    closed |= matches!(&f, ServerFrame::Message { text, .. } if text.starts_with("This conversation is now closed"));
                    seen.add(f)
                }
                Ok(None) | Err(_) if on_a || closed => {
                    // The socket died with A (or went quiet): back on B with the last seq.
                    match Visitor::connect(&b.base, "shop", ORIGIN, Some(&token), seen.last_seq()).await {
                        Ok((again, _)) => v = again,
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
                _ => {}
            }
        }
        // A little longer: anything doubled would come now.
        while let Ok(Some(f)) = v.recv(Duration::from_millis(300)).await {
            seen.add(f);
        }
        outcomes.push((on_a, token, payment, seen));
    }

    // Per payment: paid in the store, Paid seen, one paid branch seen and stored.
    let store = Store::connect(&cp.database_url).await?;
    let mut wrong = Vec::new();
    let mut histories: HashMap<String, usize> = HashMap::new();
    for (on_a, token, payment, seen) in &outcomes {
        let stored = store.payment(payment).await?.map(|p| p.status);
        let (mut replay, _) = Visitor::connect(&b.base, "shop", ORIGIN, Some(token), None).await?;
        let mut history = Seen::default();
        while let Ok(Some(f)) = replay.recv(Duration::from_millis(500)).await {
            history.add(f);
        }
        histories.insert(payment.clone(), history.thanks());
        if stored != Some(PaymentStatus::Paid) || !seen.paid() || seen.thanks() != 1 || history.thanks() != 1
        {
            wrong.push(format!(
                "{payment} (visitor on {}): stored {stored:?}, saw Paid {}, paid branch seen {} times, stored {} times",
                if *on_a { "A, then B" } else { "B" },
                seen.paid(),
                seen.thanks(),
                history.thanks()
            ));
        }
    }
    let acked = acked.lock().unwrap().len();
    let ledger: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events")
        .fetch_one(store.reader())
        .await?;
    println!(
        "two relays: {VISITORS} payments in the storm ({} visitors moved from A to B), {DELIVERIES} deliveries, \
         {acked} distinct events acknowledged, {ledger} events in the ledger, wrong = {}",
        outcomes.iter().filter(|o| o.0).count(),
        wrong.len()
    );
    ensure!(wrong.is_empty(), "payments that went wrong: {wrong:#?}");
    ensure!(
        acked >= VISITORS,
        "every payment's event was acknowledged ({acked})"
    );
    store.close().await;
    drop(b);
    Ok(())
}

/// Stripe's `checkout.session.completed` events among `events`.
fn completed(events: Vec<Value>) -> Vec<Value> {
    events
        .into_iter()
        .filter(|e| e["type"] == "checkout.session.completed")
        .collect()
}
