//! `cargo xtask bench`: how fast a signed Stripe webhook becomes a frame on the visitor's
//! socket, with a real `chatpay` process on SQLite.
//!
//! It starts the relay (release build) with the Stripe simulator, publishes a one-node
//! payment workflow, opens one visitor socket per payment and waits for each card. Then:
//! - latency: webhooks one at a time; for each, the time from sending the signed request
//!   to the `PaymentUpdate` frame on that visitor's socket (p50, p90, p99, max);
//! - saturation: many webhooks at once (64 in flight); deliveries per second until every
//!   visitor has its frame.
//!
//! With `--postgres` it runs on a fresh PostgreSQL database instead; with `--relays 2`
//! (PostgreSQL only) a second relay on the same database holds the visitors' sockets while
//! the webhooks go to the first, so every frame crosses relays through the database.
//!
//! Usage: webhook-bench --bin PATH [--latency N] [--throughput N] [--postgres [--relays 2]]

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chatpay_e2e::bench::{arg, now, paid_event, wait_update, ORIGIN, WHSEC, WORKFLOW};
use chatpay_e2e::visitor::Visitor;
use chatpay_e2e::{fresh_postgres, stripe_signature, Chatpay, Scratch, FLEET_SECRET_KEY};
use chatpay_shared::protocol::ServerFrame;
use futures_util::stream::{self, StreamExt};

struct Waiting {
    visitor: Visitor,
    payment: String,
    session: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = arg(&args, "--bin").context("--bin PATH of a release chatpay is required")?;
    let latency_n: usize = arg(&args, "--latency").map_or(Ok(1000), |s| s.parse())?;
    let throughput_n: usize = arg(&args, "--throughput").map_or(Ok(2000), |s| s.parse())?;

    let postgres = args.iter().any(|a| a == "--postgres");
    let relays: usize = arg(&args, "--relays").map_or(Ok(1), |s| s.parse())?;
    if !(1..=2).contains(&relays) || (relays == 2 && !postgres) {
        bail!("--relays takes 1 or 2, and 2 needs --postgres (SQLite serves one relay)");
    }

    let scratch = Scratch::new("bench");
    let mut chatpay = Chatpay::new(&scratch.0)?;
    chatpay.bin = bin.into();
    if postgres {
        chatpay.database_url = fresh_postgres().await?;
        chatpay
            .env
            .push(("CHATPAY_SECRET_KEY".into(), FLEET_SECRET_KEY.into()));
    }
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
    let serve = ["--stripe-simulator", "--sweep-every", "3600"];
    let relay = chatpay.serve(&serve).await?;
    // With two relays the visitors are on the second; the webhooks go to the first, whose
    // URL is the fleet's public one.
    let second = match relays {
        2 => Some(
            chatpay
                .serve(&[&serve[..], &["--public-url", &relay.base]].concat())
                .await?,
        ),
        _ => None,
    };
    let sockets_base = second.as_ref().map_or(&relay.base, |r| &r.base).clone();
    let sim = format!("{}/simulator/stripe", relay.base);
    chatpay.cli_env(
        &["stripe", "connect", "--site", "bench"],
        &[
            ("CHATPAY_STRIPE_API_BASE", &sim),
            ("CHATPAY_STRIPE_SECRET_KEY", "sk_test_bench000000000000"),
            ("CHATPAY_STRIPE_WEBHOOK_SECRET", WHSEC),
        ],
    )?;

    println!(
        "setting up {} visitors waiting for a payment…",
        latency_n + throughput_n
    );
    let started = Instant::now();
    let base = sockets_base;
    let mut waiting: Vec<Waiting> = stream::iter(0..latency_n + throughput_n)
        .map(|_| {
            let base = base.clone();
            async move {
                let (mut visitor, _) = Visitor::connect(&base, "bench", ORIGIN, None, None).await?;
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
                anyhow::Ok(Waiting {
                    visitor,
                    payment,
                    session,
                })
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    println!("  ready in {:.1} s", started.elapsed().as_secs_f64());

    let client = reqwest::Client::builder().pool_max_idle_per_host(128).build()?;
    let url = format!("{}/webhooks/stripe/bench", relay.base);

    // Latency: one at a time.
    let mut lat: Vec<Duration> = Vec::with_capacity(latency_n);
    let throughput_set = waiting.split_off(latency_n);
    for (i, mut w) in waiting.into_iter().enumerate() {
        let body = paid_event(&format!("evt_lat_{i}"), &w.payment, &w.session);
        let t0 = Instant::now();
        let send = client
            .post(&url)
            .header("stripe-signature", stripe_signature(&body, WHSEC, now()))
            .body(body)
            .send();
        let (resp, frame) = tokio::join!(send, wait_update(&mut w.visitor));
        frame?;
        lat.push(t0.elapsed());
        let resp = resp?;
        if !resp.status().is_success() {
            bail!("webhook answered {}", resp.status());
        }
    }
    lat.sort();
    let pct = |p: f64| {
        lat[((lat.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(lat.len() - 1)]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;

    // Saturation: everything at once, 64 in flight.
    let mut readers = Vec::new();
    let mut bodies = Vec::new();
    for (i, mut w) in throughput_set.into_iter().enumerate() {
        bodies.push(paid_event(&format!("evt_tp_{i}"), &w.payment, &w.session));
        readers.push(tokio::spawn(async move { wait_update(&mut w.visitor).await }));
    }
    let n = bodies.len();
    let t0 = Instant::now();
    let statuses: Vec<Result<u16>> = stream::iter(bodies)
        .map(|body| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let resp = client
                    .post(&url)
                    .header("stripe-signature", stripe_signature(&body, WHSEC, now()))
                    .body(body)
                    .send()
                    .await?;
                Ok(resp.status().as_u16())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let http_done = t0.elapsed();
    for r in readers {
        r.await??;
    }
    let frames_done = t0.elapsed();
    let failed = statuses.iter().filter(|s| !matches!(s, Ok(200))).count();
    if failed > 0 {
        bail!("{failed} of {n} webhooks did not answer 200");
    }

    println!();
    let setup = match (postgres, relays) {
        (false, _) => "SQLite, one relay",
        (true, 1) => "PostgreSQL, one relay",
        _ => "PostgreSQL, two relays: webhooks to A, visitors on B",
    };
    println!(
        "signed webhook received → PaymentUpdate frame on the visitor's socket ({setup}, release build)"
    );
    println!("  latency over {} payments, one at a time:", lat.len());
    println!(
        "    p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );
    println!("  saturation, {n} payments, 64 webhooks in flight:");
    println!(
        "    {:.0} webhooks/s (all frames delivered in {:.2} s; HTTP answers done in {:.2} s)",
        n as f64 / frames_done.as_secs_f64(),
        frames_done.as_secs_f64(),
        http_done.as_secs_f64()
    );
    if relays == 2 {
        println!("  goal across relays: p99 ≤ 10 ms");
    } else if postgres {
        println!("  (no goal for one relay on PostgreSQL; the goals are SQLite's and two relays')");
    } else {
        println!("  goals (SQLite): p99 ≤ 5 ms, ≥ 3000 webhooks/s");
    }
    drop(second);
    drop(relay);
    Ok(())
}
