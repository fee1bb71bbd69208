//! `cargo xtask bench --abuse`: does one flooding client hurt a real visitor?
//!
//! A release `chatpay` with its production budgets. Real visitors come from their own
//! loopback addresses (127.1.x.y); the attacker from others (127.2.0.x). First the quiet
//! figure: webhook → `PaymentUpdate` frame, one payment at a time. Then, for 10 s, one
//! client floods at once with
//! - new conversations (sockets saying Hello without a token),
//! - messages into one conversation through 20 sockets,
//! - silent connections that send nothing,
//! - webhooks with the largest signature header and body chatpay reads,
//!
//! while the same measurement runs again, a real visitor pays through the hosted page and
//! `/healthz` is timed. It prints both p99s (goal: under attack within 2× of quiet), what
//! each flood got (accepted vs refused), and the health check's figures.
//!
//! Usage: abuse-bench --bin PATH [--payments N]

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chatpay_e2e::bench::{arg, now, paid_event, wait_update, ORIGIN, WHSEC, WORKFLOW};
use chatpay_e2e::visitor::Visitor;
use chatpay_e2e::{stripe_signature, Chatpay, Scratch};
use chatpay_shared::protocol::{ClientFrame, ErrorCode, PaymentStatus, ServerFrame};
use futures_util::stream::{self, StreamExt};

struct Waiting {
    visitor: Visitor,
    payment: String,
    session: String,
    url: String,
}

/// A real visitor's address: 127.1.x.y, one per visitor.
fn visitor_ip(i: usize) -> IpAddr {
    IpAddr::from([127, 1, (i / 250) as u8, (i % 250 + 1) as u8])
}

/// The attacker's addresses.
fn attacker_ip(n: u8) -> IpAddr {
    IpAddr::from([127, 2, 0, n])
}

async fn visitor_at_card(base: &str, i: usize) -> Result<Waiting> {
    let (mut visitor, _) = Visitor::connect_from(base, "bench", ORIGIN, None, visitor_ip(i)).await?;
    let frames = visitor
        .until(|f| matches!(f, ServerFrame::PaymentCard { .. }))
        .await?;
    let (payment, url) = frames
        .iter()
        .find_map(|f| match f {
            ServerFrame::PaymentCard { payment, url, .. } => Some((payment.clone(), url.clone())),
            _ => None,
        })
        .context("card")?;
    let session = url.rsplit('/').next().unwrap_or_default().to_owned();
    Ok(Waiting {
        visitor,
        payment,
        session,
        url,
    })
}

/// Webhook → frame, one payment at a time; the sorted latencies.
async fn latencies(
    client: &reqwest::Client,
    url: &str,
    set: Vec<Waiting>,
    tag: &str,
) -> Result<Vec<Duration>> {
    let mut lat = Vec::with_capacity(set.len());
    for (i, mut w) in set.into_iter().enumerate() {
        let body = paid_event(&format!("evt_{tag}_{i}"), &w.payment, &w.session);
        let t0 = Instant::now();
        let send = client
            .post(url)
            .header("stripe-signature", stripe_signature(&body, WHSEC, now()))
            .body(body)
            .send();
        let (resp, frame) = tokio::join!(send, wait_update(&mut w.visitor));
        frame?;
        lat.push(t0.elapsed());
        if !resp?.status().is_success() {
            bail!("a real webhook was refused");
        }
    }
    lat.sort();
    Ok(lat)
}

fn pct(lat: &[Duration], p: f64) -> f64 {
    let i = ((lat.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(lat.len() - 1);
    lat[i].as_secs_f64() * 1000.0
}

/// CPU seconds a process has used so far (user + system), from `/proc`.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or("", |(_, rest)| rest)
        .split(' ')
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Counts of one flood: what the relay took and what it refused.
#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    refused: AtomicU64,
}

impl Tally {
    fn line(&self, what: &str) -> String {
        format!(
            "    {what:<34} accepted {:>6}   refused {:>6}",
            self.accepted.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed)
        )
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = arg(&args, "--bin").context("--bin PATH of a release chatpay is required")?;
    let n: usize = arg(&args, "--payments").map_or(Ok(200), |s| s.parse())?;

    let scratch = Scratch::new("abuse-bench");
    let mut chatpay = Chatpay::new(&scratch.0)?;
    chatpay.bin = bin.into();
    chatpay.cli(&[
        "site", "add", "--id", "bench", "--name", "Bench", "--origin", ORIGIN,
    ])?;
    let wf = scratch.0.join("bench.json");
    std::fs::write(&wf, WORKFLOW)?;
    chatpay.cli(&[
        "workflow",
        "import",
        "--site",
        "bench",
        wf.to_str().unwrap_or_default(),
    ])?;
    // The production budgets (flags win over the tests' generous environment), except the
    // per-site ones: this bench's real visitors are many more than a site's usual minute.
    let relay = chatpay
        .serve(&[
            "--stripe-simulator",
            "--sweep-every",
            "3600",
            "--budget-conversations-per-ip",
            "20/30s",
            "--budget-messages-per-conversation",
            "8/1s",
            "--budget-messages-per-ip",
            "30/500ms",
            "--budget-links-per-ip",
            "10/60s",
            "--budget-sockets-per-ip",
            "50",
            "--budget-lookups-per-payment",
            "1/5s",
            "--budget-webhook-failures-per-ip",
            "30/10s",
            "--budget-simulator-writes-per-ip",
            "100/40ms",
            "--max-connections-per-ip",
            "256",
            // This bench's sockets read only when they expect a frame, so they would
            // not answer pings in time; pings are not what it measures.
            "--ws-ping-every",
            "600",
        ])
        .await?;
    let sim = format!("{}/simulator/stripe", relay.base);
    chatpay.cli_env(
        &["stripe", "connect", "--site", "bench"],
        &[
            ("CHATPAY_STRIPE_API_BASE", &sim),
            ("CHATPAY_STRIPE_SECRET_KEY", "sk_test_bench000000000000"),
            ("CHATPAY_STRIPE_WEBHOOK_SECRET", WHSEC),
        ],
    )?;
    let base = relay.base.clone();
    println!("setting up {} real visitors, each from its own address…", 2 * n);
    let mut all: Vec<Waiting> = stream::iter(0..2 * n)
        .map(|i| {
            let base = base.clone();
            async move { visitor_at_card(&base, i).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let under_attack = all.split_off(n);
    let client = reqwest::Client::builder().pool_max_idle_per_host(16).build()?;
    let hook = format!("{base}/webhooks/stripe/bench");

    let quiet = latencies(&client, &hook, all, "quiet").await?;

    // The floods.
    let stop = Arc::new(AtomicBool::new(false));
    let (conversations, messages, silent, heavy) = (
        Arc::new(Tally::default()),
        Arc::new(Tally::default()),
        Arc::new(Tally::default()),
        Arc::new(Tally::default()),
    );
    let mut floods = Vec::new();
    for _ in 0..4 {
        let (stop, t, base) = (stop.clone(), conversations.clone(), base.clone());
        floods.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match Visitor::connect_from(&base, "bench", ORIGIN, None, attacker_ip(1)).await {
                    Ok((_, ServerFrame::Welcome { .. })) => t.accepted.fetch_add(1, Ordering::Relaxed),
                    _ => t.refused.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    {
        let (stop, t, base) = (stop.clone(), messages.clone(), base.clone());
        floods.push(tokio::spawn(async move {
            let Ok((_, ServerFrame::Welcome { visitor_token, .. })) =
                Visitor::connect_from(&base, "bench", ORIGIN, None, attacker_ip(2)).await
            else {
                return;
            };
            let mut sockets = Vec::new();
            for _ in 0..20 {
                if let Ok((v, _)) =
                    Visitor::connect_from(&base, "bench", ORIGIN, Some(&visitor_token), attacker_ip(2)).await
                {
                    sockets.push(v);
                }
            }
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for v in sockets.iter_mut() {
                    i += 1;
                    let _ = v
                        .send(&ClientFrame::Text {
                            client_id: format!("spam-{i}"),
                            text: "spam".into(),
                        })
                        .await;
                }
                for v in sockets.iter_mut() {
                    for f in v.drain(Duration::from_millis(1)).await.unwrap_or_default() {
                        match f {
                            ServerFrame::Error {
                                code: ErrorCode::RateLimited,
                                ..
                            } => t.refused.fetch_add(1, Ordering::Relaxed),
                            ServerFrame::Message {
                                client_id: Some(_), ..
                            } => t.accepted.fetch_add(1, Ordering::Relaxed),
                            _ => 0,
                        };
                    }
                }
            }
        }));
    }
    {
        let (stop, t, addr) = (
            stop.clone(),
            silent.clone(),
            base.trim_start_matches("http://").to_owned(),
        );
        floods.push(tokio::spawn(async move {
            let addr: std::net::SocketAddr = addr.parse().expect("relay address");
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..100 {
                    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
                        break;
                    };
                    if socket.bind(std::net::SocketAddr::new(attacker_ip(3), 0)).is_err() {
                        break;
                    }
                    match socket.connect(addr).await {
                        Ok(s) => {
                            t.accepted.fetch_add(1, Ordering::Relaxed);
                            held.push(s);
                        }
                        Err(_) => {
                            t.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if held.len() > 3000 {
                    held.drain(..1000);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    for _ in 0..4 {
        let (stop, t, hook) = (stop.clone(), heavy.clone(), hook.clone());
        floods.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .local_address(attacker_ip(4))
                .build()
                .expect("client");
            let body = "x".repeat(250 * 1024);
            let mut header = format!("t={}", now());
            while header.len() < 1000 {
                header.push_str(&format!(",v1={:064x}", header.len()));
            }
            while !stop.load(Ordering::Relaxed) {
                match http
                    .post(&hook)
                    .header("stripe-signature", &header)
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => t.accepted.fetch_add(1, Ordering::Relaxed),
                    _ => t.refused.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attack_started = Instant::now();
    let relay_pid = relay.child.id().to_string();
    let (relay_cpu0, own_cpu0) = (cpu_secs(&relay_pid), cpu_secs("self"));

    // Meanwhile: the health check, a real payment through the hosted page, the same
    // measurement as before.
    let health = {
        let (stop, base) = (stop.clone(), base.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut times = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let ok = http
                    .get(format!("{base}/healthz"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                times.push(if ok { t0.elapsed() } else { Duration::from_secs(5) });
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            times.sort();
            times
        })
    };
    let paid = {
        let mut payer = visitor_at_card(&base, 2 * n).await?;
        let pay = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?
            .post(format!("{}/pay", payer.url))
            .form(&[("outcome", "paid")])
            .send()
            .await?;
        // Back from Checkout on the return page (this bench's Stripe sends no webhooks of
        // its own: the return page asks it).
        if let Some(back) = pay.headers().get("location").and_then(|l| l.to_str().ok()) {
            let _ = reqwest::get(back).await;
        }
        let mut got = false;
        while let Some(f) = payer.visitor.recv(Duration::from_secs(20)).await? {
            if matches!(
                f,
                ServerFrame::PaymentUpdate {
                    status: PaymentStatus::Paid,
                    ..
                }
            ) {
                got = true;
                break;
            }
        }
        pay.status().as_u16() == 303 && got
    };
    let attacked = latencies(&client, &hook, under_attack, "attack").await?;
    while attack_started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall = attack_started.elapsed().as_secs_f64();
    let (relay_cpu, own_cpu) = (cpu_secs(&relay_pid) - relay_cpu0, cpu_secs("self") - own_cpu0);
    stop.store(true, Ordering::Relaxed);
    let health = health.await?;
    for f in floods {
        f.abort();
    }

    println!();
    println!(
        "one client flooding for {:.0} s while real visitors pay (release build, SQLite, production budgets)",
        attack_started.elapsed().as_secs_f64()
    );
    println!("  webhook → PaymentUpdate frame, {n} payments one at a time:");
    println!(
        "    quiet          p50 {:.2} ms   p99 {:.2} ms",
        pct(&quiet, 0.5),
        pct(&quiet, 0.99)
    );
    println!(
        "    under attack   p50 {:.2} ms   p99 {:.2} ms",
        pct(&attacked, 0.5),
        pct(&attacked, 0.99)
    );
    let ratio = pct(&attacked, 0.99) / pct(&quiet, 0.99);
    println!(
        "    p99 ratio {ratio:.2} (goal ≤ 2.00: {})",
        if ratio <= 2.0 { "met" } else { "missed" }
    );
    println!(
        "  a real visitor paying through the hosted page meanwhile: {}",
        if paid { "Paid ✓" } else { "NOT PAID" }
    );
    println!(
        "  /healthz during the attack: {} checks, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal < 50 ms)",
        health.len(),
        pct(&health, 0.5),
        pct(&health, 0.99),
        pct(&health, 1.0)
    );
    println!(
        "  CPU during the attack ({} cores): the relay {:.0}% of one core, the flooding client (this bench) {:.0}%",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        100.0 * relay_cpu / wall,
        100.0 * own_cpu / wall
    );
    println!("  the floods (accepted vs refused by the relay):");
    println!("{}", conversations.line("new conversations (one address)"));
    println!("{}", messages.line("messages (one conversation, 20 sockets)"));
    println!("{}", silent.line("silent connections (opened)"));
    println!("{}", heavy.line("signature-heavy webhooks"));
    drop(relay);
    Ok(())
}
