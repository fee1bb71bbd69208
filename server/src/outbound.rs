//! Telling the owner's own systems: a site may set a webhook URL, and chatpay POSTs it a
//! JSON event when a payment ends (paid, expired, failed, mismatch), when Stripe reports a
//! refund or a dispute, and when a conversation is handed to a person. Each event is signed
//! like Stripe's — `Chatpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`
//! with the site's secret, shown once — queued right after what it tells has committed
//! (outside the webhook's transaction, which stays as fast as before: queuing inside it
//! cost about a millisecond a webhook on the bench), tried at once and again with backoff
//! for a day until the receiver answers 2xx. A relay killed between the commit and the
//! queuing loses that one event. The console lists each delivery with its last answer.
//!
//! Deliveries never go to the relay's own host nor to a private, loopback or link-local
//! address (checked when the URL is saved and again on every try, after resolving the
//! name, and the connection goes to the address checked; redirects are not followed),
//! unless the operator starts chatpay with `--outbound-allow-private`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use chatpay_shared::console::PaymentRow;
use serde_json::{json, Value};

use crate::domain::SiteId;
use crate::error::{cut, AppError, AppResult};
use crate::payments::report::{self, StripeLinks};
use crate::state::AppState;
use crate::store::hooks::Delivery;
use crate::store::payments::Payment;
use crate::store::{new_id, now_ms};

/// Waits before each retry after the first try, in seconds: about a day in all.
const RETRY_AFTER_SECS: [i64; 10] = [10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 43200];
/// How long one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a receiver's answer the log keeps.
const ANSWER_KEPT: usize = 300;
/// How many deliveries one sweep tries at most, how many of one site, and how many at once.
const DUE_BATCH: i64 = 20;
const PER_SITE: i64 = 5;
const PARALLEL: usize = 4;

/// A payment as the owner's systems get it: the Payments page's row, with the
/// PaymentIntent instead of a Dashboard link.
fn payment_data(p: &Payment) -> Value {
    let row: PaymentRow = report::row(p, &StripeLinks { simulator: None });
    json!({
        "id": row.id,
        "status": row.status,
        "amount": row.amount,
        "amount_minor": row.amount_minor,
        "currency": row.currency,
        "refunded": row.refunded,
        "description": row.description,
        "conversation": row.conversation,
        "asked_by": row.asked_by,
        "payment_intent": p.payment_intent,
        "created_at": row.created_at,
    })
}

/// The event's JSON: `{id, type, created (unix s), site, data}`.
fn event(id: &str, kind: &str, site: &SiteId, data: Value) -> String {
    json!({ "id": id, "object": "event", "type": kind, "created": now_ms() / 1000, "site": site.as_str(), "data": data })
        .to_string()
}

/// After a payment moved (committed): queues `kind` (`payment.paid`, `payment.refunded`, …)
/// with the payment as it now is, if its site has a webhook, and tries it. A site without
/// one costs a read, off the webhook's transaction (the hot path stays as it was).
pub async fn after_payment_moved(state: &AppState, payment_id: &str, kind: &str) {
    let queued = async {
        let Some(p) = state.store.payment(payment_id).await? else {
            return Ok(None);
        };
        if !state.store.has_hook(&p.site_id).await? {
            return Ok(None);
        }
        let id = new_id("evt");
        let body = event(&id, kind, &p.site_id, json!({ "payment": payment_data(&p) }));
        let queued = state
            .store
            .enqueue_hook_event(&p.site_id, p.conversation_id.as_deref(), &id, kind, &body)
            .await?;
        if queued.is_some() || p.conversation_id.is_none() {
            return Ok(queued);
        }
        // Its conversation was erased (before, or while this was built): the owner still
        // hears of the money, told from the payment as the erase left it (no description),
        // and tied to no conversation (its erase is done).
        let Some(p) = state.store.payment(payment_id).await? else {
            return Ok(None);
        };
        let body = event(&id, kind, &p.site_id, json!({ "payment": payment_data(&p) }));
        state
            .store
            .enqueue_hook_event(&p.site_id, None, &id, kind, &body)
            .await
    };
    match queued.await {
        Ok(Some(id)) => deliver(state, &id).await,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(payment = %payment_id, error = %e, "cannot queue the {kind} event for the site's webhook")
        }
    }
}

/// After a handoff (committed): queues `conversation.handoff` if the site has a webhook, and
/// tries it.
pub async fn after_handoff(state: &AppState, site: &SiteId, conversation: &str) {
    let queued = async {
        if !state.store.has_hook(site).await? {
            return Ok(None);
        }
        let id = new_id("evt");
        let body = event(
            &id,
            "conversation.handoff",
            site,
            json!({ "conversation": conversation }),
        );
        state
            .store
            .enqueue_hook_event(site, Some(conversation), &id, "conversation.handoff", &body)
            .await
    };
    match queued.await {
        Ok(Some(id)) => deliver(state, &id).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(%site, error = %e, "cannot queue the handoff event for the site's webhook"),
    }
}

/// Queues a `test` event (the console's "Send a test event") and tries it at once, once: a
/// test is not retried (so a stream of them cannot pile up retries). Refused while the
/// site's last test event is still being tried.
pub async fn test_event(state: &AppState, site: &SiteId) -> AppResult<String> {
    let id = new_id("evt");
    let body = event(
        &id,
        "test",
        site,
        json!({ "message": "A test event from chatpay: your endpoint verified its signature if it answered 2xx." }),
    );
    let queued = state
        .store
        .enqueue_test_event(site, &id, &body)
        .await?
        .ok_or_else(|| AppError::BadRequest("set a webhook URL first".into()))?;
    deliver(state, &queued).await;
    Ok(queued)
}

/// Whether an address is one deliveries may not reach: loopback, private, link-local,
/// carrier-grade NAT, unspecified, multicast, broadcast, reserved or documentation ranges;
/// for IPv6 also site-local, and any form that carries an IPv4 address (mapped,
/// compatible, NAT64, 6to4) is judged by that address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let v4_of = |hi: u16, lo: u16| {
                IpAddr::V4(std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
            };
            // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible; not :: and ::1, judged below)
            if s[..5] == [0; 5] && (s[5] == 0xffff || (s[5] == 0 && (s[6] != 0 || s[7] > 1))) {
                return is_private(v4_of(s[6], s[7]));
            }
            // ::ffff:0:a.b.c.d (translated), 64:ff9b::a.b.c.d (NAT64)
            if (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4])
            {
                return is_private(v4_of(s[6], s[7]));
            }
            // 6to4 carries the IPv4 address in its second and third groups.
            if s[0] == 0x2002 {
                return is_private(v4_of(s[1], s[2]));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || (s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

/// The longest URL a site may set.
pub const URL_MAX: usize = 2048;

/// Where a URL may be delivered to: the URL and the addresses its name resolves to now,
/// all checked; or why not, with the fix.
pub async fn check_target(state: &AppState, text: &str) -> AppResult<(url::Url, Vec<SocketAddr>)> {
    let bad = |message: String| AppError::Invalid {
        field: "url",
        message,
    };
    let allow = state.settings.outbound_allow_private;
    if text.len() > URL_MAX {
        return Err(bad(format!(
            "the URL is {} characters long; use one of at most {URL_MAX}",
            text.len()
        )));
    }
    let url = url::Url::parse(text.trim()).map_err(|e| {
        bad(format!(
            "'{}' is not a URL ({e}); write it like https://orders.example/chatpay",
            cut(text.trim())
        ))
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow => {}
        "http" => return Err(bad("use https:// (the events carry payments); plain http is only for test setups the operator allows".into())),
        other => return Err(bad(format!("'{other}:' URLs cannot receive webhooks; use https://"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "put no user name or password in the URL; verify the Chatpay-Signature header instead".into(),
        ));
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    if host.is_empty() {
        return Err(bad("the URL has no host".into()));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        _ => tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| bad(format!("{host} did not resolve within 5 s; check the name")))?
        .map_err(|e| bad(format!("{host} does not resolve ({e}); check the name")))?
        .collect(),
    };
    if addrs.is_empty() {
        return Err(bad(format!("{host} resolves to no address; check the name")));
    }
    if !allow {
        if let Some(p) = addrs.iter().find(|a| is_private(a.ip())) {
            return Err(bad(format!(
                "{host} is a private address ({}): deliveries go only to public addresses, unless the operator starts chatpay with --outbound-allow-private",
                p.ip()
            )));
        }
        let own = url::Url::parse(&state.settings.public_url).ok();
        if own.as_ref().and_then(|u| u.host_str()) == Some(host.as_str()) {
            return Err(bad(format!(
                "{host} is this relay's own address: deliveries go to your own systems, not back to chatpay"
            )));
        }
    }
    Ok((url, addrs))
}

/// One try of a delivery, now, unless another try (of this relay or another) holds it; the
/// outcome is recorded.
pub async fn deliver(state: &AppState, id: &str) {
    deliver_at(state, id, now_ms()).await
}

/// [`deliver`] at `now` (unix ms; the sweep's clock): the delivery is tried only if it is
/// still pending and due by then, so a try under way (its lease is in the future) is
/// never doubled.
async fn deliver_at(state: &AppState, id: &str, now: i64) {
    let seen = match state.store.hook_delivery(id).await {
        Ok(Some(d)) if d.status == "pending" => d,
        Ok(_) => return,
        Err(e) => return tracing::warn!(delivery = %id, error = %e, "cannot read a webhook delivery"),
    };
    let lease = now.max(now_ms()) + (TRY_TIMEOUT.as_millis() as i64) * 3;
    match state.store.claim_hook_delivery(&seen, now, lease).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => return tracing::warn!(delivery = %id, error = %e, "cannot claim a webhook delivery"),
    }
    let (delivered, status, error) = try_once(state, &seen).await;
    let next = if delivered || seen.event_type == "test" {
        None
    } else {
        RETRY_AFTER_SECS
            .get(seen.attempts as usize)
            .map(|secs| now_ms() + secs * 1000)
    };
    if let Err(e) = state
        .store
        .record_hook_try(&seen, lease, delivered, status, error.as_deref(), next)
        .await
    {
        tracing::warn!(delivery = %id, error = %e, "cannot record a webhook try");
    }
    if !delivered {
        tracing::info!(site = %seen.site_id, delivery = %id, status = ?status, error = ?error, retry = next.is_some(), "webhook delivery not accepted");
    }
}

/// Sends the delivery once: `(accepted, the HTTP status, why it did not count)`.
async fn try_once(state: &AppState, d: &Delivery) -> (bool, Option<i64>, Option<String>) {
    let hook = match state.store.hook(&state.cipher, &d.site_id).await {
        Ok(Some(h)) => h,
        Ok(None) => return (false, None, Some("the site has no webhook URL any more".into())),
        Err(e) => return (false, None, Some(e.to_string())),
    };
    let (url, addrs) = match check_target(state, &hook.url).await {
        Ok(t) => t,
        Err(e) => return (false, None, Some(format!("refused: {e}"))),
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    // The connection goes to the addresses just checked (no second lookup to trick).
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TRY_TIMEOUT)
        .resolve_to_addrs(&host, &addrs)
        .user_agent(concat!("chatpay-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => return (false, None, Some(format!("cannot make the HTTP client: {e}"))),
    };
    let signature = crate::stripe::signature::sign(d.payload.as_bytes(), &hook.secret, now_ms() / 1000);
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("chatpay-signature", signature)
        .header("chatpay-event-id", &d.id)
        .body(d.payload.clone())
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status();
            let code = Some(i64::from(status.as_u16()));
            if status.is_success() {
                return (true, code, None);
            }
            let text = resp.text().await.unwrap_or_default();
            let kept: String = text.chars().take(ANSWER_KEPT).collect();
            (false, code, Some(format!("answered {status}: {kept}")))
        }
        Err(e) if e.is_timeout() => (
            false,
            None,
            Some(format!("no answer within {} s", TRY_TIMEOUT.as_secs())),
        ),
        Err(e) => (false, None, Some(format!("could not reach it: {e}"))),
    }
}

/// Starts a round of [`deliver_due`] beside the caller (the sweep), unless one still runs.
pub fn start_round(state: &AppState) {
    use std::sync::atomic::Ordering;
    if state.outbound_round.swap(true, Ordering::AcqRel) {
        return;
    }
    /// Ends the round when dropped: also if a try panicked, so rounds never stop for good.
    struct RoundDone(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for RoundDone {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    let state = state.clone();
    tokio::spawn(async move {
        let _done = RoundDone(state.outbound_round.clone());
        deliver_due(&state, now_ms()).await;
    });
}

/// Tries the deliveries whose next try came by `now` (unix ms): the sweep's part. A few at
/// once, and at most [`PER_SITE`] of one site per sweep, so one site's slow or silent
/// endpoint never holds back the others' events.
pub async fn deliver_due(state: &AppState, now: i64) {
    use futures_util::StreamExt as _;
    let mine = match state.store.hook_deliveries_due(now, PER_SITE, DUE_BATCH).await {
        Ok(due) => due,
        Err(e) => return tracing::warn!(error = %e, "cannot list webhook deliveries due"),
    };
    futures_util::stream::iter(&mine)
        .for_each_concurrent(PARALLEL, |d| deliver_at(state, &d.id, now))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused_public_ones_pass() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "::127.0.0.1",
            "::7f00:1",
            "::ffff:0:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a00:1::",
            "fec0::1",
            "240.0.0.1",
            "192.0.0.1",
            "192.88.99.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
            "64:ff9b::808:808",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn retries_last_about_a_day() {
        let total: i64 = RETRY_AFTER_SECS.iter().sum();
        assert!((20 * 3600..=26 * 3600).contains(&total), "{total} s");
    }
}
