//! Chaos: visitors pay, decline, pay by delayed methods and walk away while the relay's
//! writer fails at random (`--inject-faults`: a full disk, killed connections) and the relay
//! is killed -9 and restarted. "Stripe" lives outside the faults: a second `chatpay` process
//! running only the simulator, on its own database, which delivers signed webhooks (with
//! retries) to the relay; the test also redelivers Stripe's events, duplicated and
//! shuffled.
//!
//! At the end — the disk fixed, Stripe's clock moved past every link — every payment's
//! stored state equals its state at Stripe, no payment has a second session, every webhook
//! the relay acknowledged is stored, and no visitor was told "paid" for a payment that is not
//! paid. The counts are printed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chatpay_e2e::visitor::Visitor;
use chatpay_e2e::{deliver_event, free_port, stripe_events, Chatpay, Scratch};
use chatpay_server::store::Store;
use chatpay_shared::protocol::{Author, ClientFrame, PaymentStatus, ServerFrame};
use rand::seq::SliceRandom as _;
use rand::Rng as _;
use serde_json::Value;

const VISITORS: usize = 32;
const KEY: &str = "sk_test_chaos000000000000";
const ACCOUNT: &str = "chaos000000000000";
const ORIGIN: &str = "http://shop.test";
const FAULTS: &str = "disk_full=0.04,kill=0.01";
const RESTARTS: usize = 3;
const SIM_TOKEN: &str = "chaos-simulator-token";

/// What one visitor means to do at the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Pay,
    Decline,
    PayLater,
    WalkAway,
}

/// What one visitor saw.
#[derive(Debug, Default, Clone)]
struct Seen {
    payment: Option<String>,
    /// The relay told this visitor the payment was paid.
    told_paid: bool,
}

/// One visitor's whole visit: it keeps coming back (with its token and last seq) while
/// the relay is killed and restarted, until its plan is done or `until` passes.
async fn visit(base: String, plan: Plan, i: usize, until: Instant) -> Seen {
    let mut seen = Seen::default();
    let mut token: Option<String> = None;
    let mut last_seq: Option<u64> = None;
    let mut answered = false;
    let mut acted = false;
    let mut card_url: Option<String> = None;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    while Instant::now() < until {
        let Ok((mut v, welcome)) = Visitor::connect(&base, "shop", ORIGIN, token.as_deref(), last_seq).await
        else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        if let ServerFrame::Welcome { visitor_token, .. } = welcome {
            token = Some(visitor_token);
        }
        loop {
            if Instant::now() >= until {
                return seen;
            }
            let frame = match v.recv(Duration::from_secs(2)).await {
                Ok(Some(f)) => f,
                Ok(None) | Err(_) => {
                    // Quiet or closed: say again what may have been lost (both are safe to
                    // repeat), or reconnect.
                    let again = match (&seen.payment, plan) {
                        _ if !answered => ClientFrame::Text {
                            client_id: "need".into(),
                            text: format!("chaos {i}"),
                        },
                        (Some(p), Plan::Decline) => ClientFrame::DeclinePayment { payment: p.clone() },
                        _ => continue,
                    };
                    if v.send(&again).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            if let Some(s) = frame.seq() {
                last_seq = Some(last_seq.unwrap_or(0).max(s));
            }
            match &frame {
                ServerFrame::Message {
                    from: Author::Bot,
                    text,
                    ..
                } if text.starts_with("What do you need") && !answered => {
                    let _ = v
                        .send(&ClientFrame::Text {
                            client_id: "need".into(),
                            text: format!("chaos {i}"),
                        })
                        .await;
                }
                ServerFrame::Message {
                    client_id: Some(c), ..
                } if c == "need" => answered = true,
                ServerFrame::Message {
                    from: Author::Bot,
                    text,
                    ..
                } if text.starts_with("Sorry, I couldn't create") => {
                    return seen;
                }
                ServerFrame::PaymentCard {
                    payment, url, status, ..
                } => {
                    if seen.payment.is_none() {
                        seen.payment = Some(payment.clone());
                        card_url = Some(url.clone());
                    }
                    if *status == PaymentStatus::Paid && seen.payment.as_deref() == Some(payment) {
                        seen.told_paid = true;
                    }
                }
                ServerFrame::PaymentUpdate { payment, status, .. }
                    if seen.payment.as_deref() == Some(payment) =>
                {
                    if *status == PaymentStatus::Paid {
                        seen.told_paid = true;
                    }
                    if status.is_terminal() && *status != PaymentStatus::Processing {
                        return seen;
                    }
                }
                _ => {}
            }
            if let (false, Some(payment), Some(url)) = (acted, seen.payment.clone(), card_url.clone()) {
                acted = true;
                match plan {
                    Plan::Pay | Plan::PayLater => {
                        let outcome = if plan == Plan::Pay { "paid" } else { "async_paid" };
                        let _ = http
                            .post(format!("{url}/pay"))
                            .form(&[("outcome", outcome)])
                            .send()
                            .await;
                    }
                    Plan::Decline => {
                        let _ = v.send(&ClientFrame::DeclinePayment { payment }).await;
                    }
                    Plan::WalkAway => return seen,
                }
            }
        }
    }
    seen
}

/// The state a payment must have for what Stripe holds of its card's session.
fn expected(session: Option<&Value>) -> Vec<PaymentStatus> {
    match session {
        None => vec![PaymentStatus::Failed, PaymentStatus::Expired],
        Some(s) => match (s["status"].as_str(), s["payment_status"].as_str()) {
            (Some("complete"), Some("paid")) => vec![PaymentStatus::Paid],
            (Some("complete"), _) => vec![PaymentStatus::Processing, PaymentStatus::Failed],
            (Some("expired"), _) => vec![PaymentStatus::Expired],
            _ => vec![PaymentStatus::Pending],
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payments_stay_true_through_write_faults_kills_and_duplicate_events() -> anyhow::Result<()> {
    let stripe_dir = Scratch::new("chaos-stripe");
    let relay_dir = Scratch::new("chaos-relay");
    let stripe_cp = Chatpay::new(&stripe_dir.0)?;
    let relay_cp = Chatpay::new(&relay_dir.0)?;
    // "Stripe" may deliver to the relay under test (another process), and its clock moves
    // with its token. Each of the two must know the other's address before it starts, so
    // this one test picks the relay's port before starting it (bound and released).
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let deliver_to = format!("{base}/webhooks/stripe/");
    let stripe = stripe_cp
        .serve(&[
            "--stripe-simulator",
            "--simulator-token",
            SIM_TOKEN,
            "--simulator-deliver-to",
            &deliver_to,
        ])
        .await?;
    let api = format!("{}/simulator/stripe", stripe.base);
    let http = reqwest::Client::new();

    // The shop: the demo workflow, Stripe (the other process) with an endpoint here.
    relay_cp.add_site("shop", "Shop", ORIGIN)?;
    relay_cp.import_demo_workflow("shop")?;
    let endpoint: Value = http
        .post(format!("{api}/v1/webhook_endpoints"))
        .bearer_auth(KEY)
        .form(&[
            ("url", format!("{base}/webhooks/stripe/shop")),
            ("enabled_events[0]", "*".into()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let whsec = endpoint["secret"]
        .as_str()
        .context("an endpoint secret")?
        .to_owned();
    relay_cp.cli_env(
        &["stripe", "connect", "--site", "shop"],
        &[
            ("CHATPAY_STRIPE_API_BASE", &api),
            ("CHATPAY_STRIPE_SECRET_KEY", KEY),
            ("CHATPAY_STRIPE_WEBHOOK_SECRET", &whsec),
        ],
    )?;
    let log = relay_dir.0.join("relay.log");
    let faulty = [
        "--stripe-api-base",
        &api,
        "--inject-faults",
        FAULTS,
        "--sweep-every",
        "1",
        "--stripe-timeout",
        "2",
        "--stripe-budget",
        "4",
    ];
    let relay = Arc::new(Mutex::new(Some(
        relay_cp.serve_logged(port, &faulty, Some(&log)).await?,
    )));

    // Visitors, each with a plan.
    let until = Instant::now() + Duration::from_secs(45);
    let plans = [Plan::Pay, Plan::Decline, Plan::PayLater, Plan::WalkAway];
    let visitors: Vec<_> = (0..VISITORS)
        .map(|i| tokio::spawn(visit(base.clone(), plans[i % plans.len()], i, until)))
        .collect();

    // Stripe's events again, duplicated and shuffled, while everything else goes on.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<HashSet<String>>> = Default::default();
    let redelivered = Arc::new(AtomicUsize::new(0));
    let duplicator = {
        let (stop, acked, redelivered) = (stop.clone(), acked.clone(), redelivered.clone());
        let (http, api, base, whsec) = (http.clone(), api.clone(), base.clone(), whsec.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut events = stripe_events(&http, &api, KEY).await;
                let picked: Vec<Value> = {
                    let mut rng = rand::thread_rng();
                    events.shuffle(&mut rng);
                    events.into_iter().filter(|_| rng.gen_bool(0.3)).collect()
                };
                for e in picked {
                    if let Some(200) = deliver_event(&http, &base, "shop", &whsec, &e).await {
                        acked
                            .lock()
                            .unwrap()
                            .insert(e["id"].as_str().unwrap_or_default().to_owned());
                    }
                    redelivered.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        })
    };

    // Crashes: kill -9 and restart on the same port and database, faults still on.
    for _ in 0..RESTARTS {
        let wait = rand::thread_rng().gen_range(6_000..10_000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if let Some(mut r) = relay.lock().unwrap().take() {
            r.kill9();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let restarted = relay_cp.serve_logged(port, &faulty, Some(&log)).await?;
        *relay.lock().unwrap() = Some(restarted);
    }
    let mut seen = Vec::new();
    for v in visitors {
        seen.push(v.await?);
    }
    stop.store(true, Ordering::Relaxed);
    duplicator.await?;

    // The disk is fixed: a last restart without faults; Stripe's clock passes every link,
    // so every open session expires and says so; every event is delivered once more.
    if let Some(mut r) = relay.lock().unwrap().take() {
        r.kill9();
    }
    let clean = [
        "--stripe-api-base",
        &api,
        "--sweep-every",
        "1",
        "--stripe-timeout",
        "2",
        "--stripe-budget",
        "4",
    ];
    let _relay = relay_cp.serve_logged(port, &clean, Some(&log)).await?;
    let moved = http
        .post(format!("{}/simulator/clock/advance?seconds=7200", stripe.base))
        .header("x-simulator-token", SIM_TOKEN)
        .send()
        .await?;
    anyhow::ensure!(moved.status().is_success(), "the clock moved: {}", moved.status());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut all = stripe_events(&http, &api, KEY).await;
    all.shuffle(&mut rand::thread_rng());
    for e in &all {
        if let Some(200) = deliver_event(&http, &base, "shop", &whsec, e).await {
            acked
                .lock()
                .unwrap()
                .insert(e["id"].as_str().unwrap_or_default().to_owned());
        }
    }

    // Converge: every payment's stored state equals its state at Stripe.
    let ours = Store::connect(&relay_cp.database_url).await?;
    let theirs = Store::connect(&stripe_cp.database_url).await?;
    let deadline = Instant::now() + Duration::from_secs(40);
    let (payments, mismatches, sessions_by_payment) = loop {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM payments")
            .fetch_all(ours.reader())
            .await?;
        let sessions = theirs.sim_list(ACCOUNT, "checkout.session").await?;
        let mut by_payment: HashMap<String, Vec<Value>> = HashMap::new();
        for s in sessions {
            by_payment
                .entry(s["client_reference_id"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(s);
        }
        let mut wrong = Vec::new();
        for id in &ids {
            let p = ours.payment(id).await?.context("a listed payment")?;
            let card = p
                .session_id
                .as_deref()
                .and_then(|sid| by_payment.get(id).and_then(|l| l.iter().find(|s| s["id"] == sid)));
            if !expected(card).contains(&p.status) {
                wrong.push(format!(
                    "{id}: stored {:?}, Stripe {:?}",
                    p.status,
                    card.map(|s| (&s["status"], &s["payment_status"]))
                ));
            }
        }
        if wrong.is_empty() || Instant::now() > deadline {
            break (ids, wrong, by_payment);
        }
        // The sweep and a visitor's return reconcile what a lost webhook left behind.
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    let faults = std::fs::read_to_string(&log)?.matches("injected fault").count();
    let ledger: HashSet<String> = sqlx::query_scalar("SELECT event_id FROM stripe_events")
        .fetch_all(ours.reader())
        .await?
        .into_iter()
        .collect();
    let lost: Vec<_> = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|e| !ledger.contains(*e))
        .cloned()
        .collect();
    let mut told_paid_wrongly = Vec::new();
    for s in seen.iter().filter(|s| s.told_paid) {
        let id = s.payment.clone().unwrap_or_default();
        let stored = ours.payment(&id).await?.map(|p| p.status);
        let at_stripe = sessions_by_payment
            .get(&id)
            .is_some_and(|l| l.iter().any(|x| x["payment_status"] == "paid"));
        if stored != Some(PaymentStatus::Paid) || !at_stripe {
            told_paid_wrongly.push(format!("{id}: stored {stored:?}, paid at Stripe: {at_stripe}"));
        }
    }
    let doubled: Vec<_> = sessions_by_payment
        .iter()
        .filter(|(_, l)| l.len() > 1)
        .map(|(p, l)| format!("{p}: {} sessions", l.len()))
        .collect();
    let paid = seen.iter().filter(|s| s.told_paid).count();
    println!(
        "chaos: {} payments ({} visitors, {paid} told paid), {faults} faults injected, {RESTARTS} kill -9 restarts, \
         {} events redelivered ({} distinct events acknowledged), mismatches found = {}, second sessions = {}, \
         acknowledged events lost = {}, visitors told paid wrongly = {}",
        payments.len(),
        VISITORS,
        redelivered.load(Ordering::Relaxed) + all.len(),
        acked.lock().unwrap().len(),
        mismatches.len(),
        doubled.len(),
        lost.len(),
        told_paid_wrongly.len(),
    );
    if !mismatches.is_empty() {
        // What the relay said about each payment that ended wrong, to find out why.
        let text = std::fs::read_to_string(&log)?;
        for id in mismatches.iter().filter_map(|m| m.split(':').next()) {
            println!("relay log lines about {id}:");
            for line in text.lines().filter(|l| l.contains(id)).take(40) {
                println!("  {line}");
            }
        }
    }
    assert!(faults > 0, "faults were injected");
    assert!(!payments.is_empty(), "payments were made");
    assert!(
        mismatches.is_empty(),
        "stored state differs from Stripe's: {mismatches:#?}"
    );
    assert!(doubled.is_empty(), "payments with a second session: {doubled:#?}");
    assert!(lost.is_empty(), "acknowledged events not stored: {lost:#?}");
    assert!(told_paid_wrongly.is_empty(), "{told_paid_wrongly:#?}");
    ours.close().await;
    theirs.close().await;
    Ok(())
}
