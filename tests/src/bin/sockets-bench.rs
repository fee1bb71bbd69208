//! `cargo xtask bench --sockets [N]`: what idle visitors cost, and how a relay restart goes.
//!
//! A release `chatpay` on SQLite. It opens N visitor sockets (default 10,000; each says
//! Hello and gets its greeting) and prints the relay's memory before and after (RSS, KB per
//! socket; goal ≤ 16 KB) and the open rate; then, with all of them connected, webhook →
//! frame latency for other visitors waiting for a payment (p50/p99). Then the relay is
//! killed -9 and restarted: every socket comes back as the widget does (after 1 s with
//! jitter, its token and last seq), and it prints the time until all are back and how many
//! Stripe calls the reconnects made (a tenth of the visitors have an open payment link,
//! which a returning visitor's Hello reconciles).
//!
//! Usage: sockets-bench --bin PATH [--sockets N]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chatpay_e2e::bench::{arg, now, ORIGIN, WHSEC};
use chatpay_e2e::visitor::Visitor;
use chatpay_e2e::{stripe_signature, Chatpay, Scratch};
use chatpay_shared::protocol::ServerFrame;
use futures_util::stream::{self, StreamExt};
use rand::Rng as _;
use serde_json::json;

const PAY_WORKFLOW: &str = r#"{"format":1,"name":"bench","start":"pay","nodes":[
  {"id":"pay","type":"request_payment","amount":{"fixed":"10.00"},"currency":"USD","description":"Bench","next":"bye"},
  {"id":"bye","type":"close"}]}"#;

/// The relay's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Calls by kind ("GET /v1/checkout/sessions/{id}").
type Kinds = Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>;

/// A path with its object ids replaced by `{id}`.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.contains('_') && seg.len() > 12 {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A stand-in for Stripe in front of the relay's simulator that counts the calls it passes on.
async fn counting_stripe(
    target: Arc<std::sync::OnceLock<String>>,
    calls: Arc<AtomicU64>,
    kinds: Kinds,
) -> Result<String> {
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let http = reqwest::Client::new();
    let forward = move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
        let (http, target, calls, kinds) = (http.clone(), target.clone(), calls.clone(), kinds.clone());
        async move {
            calls.fetch_add(1, Ordering::Relaxed);
            let kind = format!("{method} {}", shape(uri.path()));
            *kinds
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(kind)
                .or_insert(0) += 1;
            let Some(target) = target.get() else {
                return StatusCode::BAD_GATEWAY.into_response();
            };
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let method =
                reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
            let mut req = http.request(method, format!("{target}{path}")).body(body);
            for (k, v) in &headers {
                if k != "host" && k != "content-length" {
                    req = req.header(k.as_str(), v.as_bytes());
                }
            }
            let Ok(answer) = req.send().await else {
                return StatusCode::BAD_GATEWAY.into_response();
            };
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, [("content-type", "application/json")], bytes).into_response()
        }
    };
    let app = axum::Router::new().fallback(forward);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(base)
}

struct Idle {
    visitor: Visitor,
    token: String,
    last_seq: u64,
}

async fn open_idle(base: &str, site: &str) -> Result<Idle> {
    let (mut visitor, welcome) = Visitor::connect(base, site, ORIGIN, None, None).await?;
    let ServerFrame::Welcome { visitor_token, .. } = welcome else {
        bail!("no welcome")
    };
    let first = visitor.until(|f| f.seq().is_some()).await?;
    let last_seq = first.iter().filter_map(ServerFrame::seq).max().unwrap_or(0);
    Ok(Idle {
        visitor,
        token: visitor_token,
        last_seq,
    })
}

/// A delay between half and all of `ms`, as the widget's backoff draws it.
fn jittered(ms: f64) -> Duration {
    Duration::from_millis((ms * rand::thread_rng().gen_range(0.5..1.0)) as u64)
}

/// What the widget does after its socket drops: wait 1 s (jittered), then again with the
/// wait doubled up to 30 s, until the relay says Welcome to its token and last seq.
async fn come_back(base: String, site: &'static str, token: String, last_seq: u64) -> Visitor {
    let mut delay = 1000.0;
    loop {
        tokio::time::sleep(jittered(delay)).await;
        match Visitor::connect(&base, site, ORIGIN, Some(&token), Some(last_seq)).await {
            Ok((v, ServerFrame::Welcome { .. })) => return v,
            _ => delay = f64::min(delay * 2.0, 30_000.0),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = arg(&args, "--bin").context("--bin PATH of a release chatpay is required")?;
    let n: usize = arg(&args, "--sockets").map_or(Ok(10_000), |s| s.parse())?;
    // This process holds every client socket: as many files as the system lets it.
    let files = rlimit::increase_nofile_limit(u64::MAX)?;
    if (files as usize) < n + n / 10 + 500 {
        bail!(
            "{n} sockets need about {} open files; this process may have {files} (ulimit -n)",
            n + n / 10 + 500
        );
    }

    let scratch = Scratch::new("sockets-bench");
    let mut chatpay = Chatpay::new(&scratch.0)?;
    chatpay.bin = bin.into();
    chatpay.cli(&[
        "site",
        "add",
        "--id",
        "idle",
        "--name",
        "Idle",
        "--origin",
        ORIGIN,
        "--greeting",
        "Hello!",
    ])?;
    chatpay.cli(&["site", "add", "--id", "pay", "--name", "Pay", "--origin", ORIGIN])?;
    let wf = scratch.0.join("pay.json");
    std::fs::write(&wf, PAY_WORKFLOW)?;
    chatpay.cli(&[
        "workflow",
        "import",
        "--site",
        "pay",
        wf.to_str().unwrap_or_default(),
    ])?;
    let calls = Arc::new(AtomicU64::new(0));
    let kinds = Kinds::default();
    // The proxy stands in front of the relay's own simulator; where that is is known once
    // the relay listens.
    let simulator = Arc::new(std::sync::OnceLock::new());
    let stripe = counting_stripe(simulator.clone(), calls.clone(), kinds.clone()).await?;
    // Pings are not what this bench measures, and its sockets read only now and then.
    let flags = [
        "--stripe-simulator",
        "--stripe-api-base",
        &stripe,
        "--sweep-every",
        "3600",
        "--ws-ping-every",
        "600",
        // Stripe look-ups on a visitor's behalf keep the relay's defaults (the other
        // budgets are set out of the way: every bench visitor is 127.0.0.1).
        "--budget-lookups-per-payment",
        "1/5s",
        "--budget-lookups-per-site",
        "20/200ms",
    ];
    let mut relay = chatpay.serve(&flags).await?;
    let port = relay.port();
    let _ = simulator.set(format!("{}/simulator/stripe", relay.base));
    chatpay.cli_env(
        &["stripe", "connect", "--site", "pay"],
        &[
            ("CHATPAY_STRIPE_API_BASE", &stripe),
            ("CHATPAY_STRIPE_SECRET_KEY", "sk_test_bench000000000000"),
            ("CHATPAY_STRIPE_WEBHOOK_SECRET", WHSEC),
        ],
    )?;
    let base = relay.base.clone();

    // Warm up (code paths, allocator), then the baseline.
    let _warm: Vec<Idle> = stream::iter(0..50)
        .map(|_| open_idle(&base, "idle"))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    // The baseline waits for start-up to settle: what the relay freed after start-up
    // (compressing the widget's files) is given back to the system only once the thread that
    // freed it ends (tokio ends an idle blocking thread after 10 s); measured before that,
    // the sockets would reuse it and look cheaper than they are.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let rss0 = rss_kib(relay.child.id());
    let t0 = Instant::now();
    let mut idle: Vec<Idle> = stream::iter(0..n)
        .map(|_| open_idle(&base, "idle"))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let opened_in = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = rss_kib(relay.child.id());

    // Visitors waiting for a payment (a tenth of N), and latency with everyone connected.
    let payers = (n / 10).max(200);
    let mut waiting = Vec::new();
    for _ in 0..payers {
        let (mut v, welcome) = Visitor::connect(&base, "pay", ORIGIN, None, None).await?;
        let ServerFrame::Welcome { visitor_token, .. } = welcome else {
            bail!("no welcome")
        };
        let frames = v.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await?;
        let (payment, url) = frames
            .iter()
            .find_map(|f| match f {
                ServerFrame::PaymentCard { payment, url, .. } => Some((payment.clone(), url.clone())),
                _ => None,
            })
            .context("card")?;
        let last_seq = frames.iter().filter_map(ServerFrame::seq).max().unwrap_or(0);
        waiting.push((
            v,
            visitor_token,
            payment,
            url.rsplit('/').next().unwrap_or_default().to_owned(),
            last_seq,
        ));
    }
    let client = reqwest::Client::new();
    let hook = format!("{base}/webhooks/stripe/pay");
    let mut lat = Vec::new();
    for (i, (v, _, payment, session, _)) in waiting.iter_mut().take(200).enumerate() {
        let body = json!({
            "id": format!("evt_s_{i}"), "object": "event", "type": "checkout.session.completed", "created": now(),
            "livemode": false, "data": { "object": {
                "id": session, "object": "checkout.session", "status": "complete", "payment_status": "paid",
                "client_reference_id": payment, "amount_total": 1000, "currency": "usd", "metadata": { "payment": payment }
            }}
        })
        .to_string();
        let t = Instant::now();
        let send = client
            .post(&hook)
            .header("stripe-signature", stripe_signature(&body, WHSEC, now()))
            .body(body)
            .send();
        let wait = async {
            loop {
                match v.recv(Duration::from_secs(30)).await? {
                    Some(ServerFrame::PaymentUpdate { .. }) => return anyhow::Ok(()),
                    Some(_) => continue,
                    None => bail!("no update"),
                }
            }
        };
        let (r, f) = tokio::join!(send, wait);
        f?;
        r?;
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |p: f64| {
        lat[((lat.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(lat.len() - 1)]
        .as_secs_f64()
            * 1000.0
    };

    // The relay dies; everyone comes back as the widget does.
    let with_open_payments = waiting.len() - 200;
    relay.kill9();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let relay = chatpay.serve_on(port, &flags).await?;
    let calls_before = calls.load(Ordering::Relaxed);
    kinds.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let t1 = Instant::now();
    let mut back = Vec::new();
    for Idle {
        visitor,
        token,
        last_seq,
    } in idle.drain(..)
    {
        drop(visitor);
        let base = base.clone();
        back.push(tokio::spawn(come_back(base, "idle", token, last_seq)));
    }
    for (_, token, _, _, last_seq) in waiting.into_iter().skip(200) {
        let base = base.clone();
        back.push(tokio::spawn(come_back(base, "pay", token, last_seq)));
    }
    let total = back.len();
    let mut all_back = Vec::with_capacity(total);
    for b in back {
        all_back.push(b.await?);
    }
    let back_in = t1.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reconnect_calls = calls.load(Ordering::Relaxed) - calls_before;

    println!();
    println!("idle visitor sockets on one relay (release build, SQLite)");
    println!(
        "  {n} sockets opened in {:.1} s ({:.0}/s); relay RSS {:.1} MB → {:.1} MB: {:.1} KB per socket (goal ≤ 16 KB)",
        opened_in.as_secs_f64(),
        n as f64 / opened_in.as_secs_f64(),
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        (rss1.saturating_sub(rss0)) as f64 / n as f64
    );
    println!(
        "  webhook → frame with all of them connected, 200 payments one at a time: p50 {:.2} ms, p99 {:.2} ms",
        pct(0.5),
        pct(0.99)
    );
    println!(
        "  after kill -9 and restart: {total} sockets back in {:.1} s (jittered backoff from 1 s); Stripe calls made by the reconnects: {reconnect_calls} ({with_open_payments} visitors had an open link)",
        back_in.as_secs_f64()
    );
    for (kind, n) in kinds.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        println!("    {n:>6}  {kind}");
    }
    drop(all_back);
    drop(relay);
    Ok(())
}
