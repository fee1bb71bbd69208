//! Payments: how a payment gets its Checkout Session, and how Stripe's word moves it along
//! the state machine ([`PaymentStatus::next`]).
//!
//! - [`open`]: the one way a payment's session is created, whoever asks (a workflow node,
//!   a person in the inbox, the recovery sweep): parameters and idempotency key fixed on
//!   the row, a lease in the database while the call is in flight, never a second session.
//! - [`news`]: what Stripe says about a session — a webhook event, a reconciliation, the
//!   visitor declining — checked against the payment (amount, currency, mode) and applied
//!   in one transaction with whatever follows (the card's update, the run's resume).
//!
//! - [`mount`]: what mounts an embedded session (client secret, publishable key, Stripe.js)
//!   for the pay page and the visitor's panel.
//! - [`report`]: the owner's Payments page: shown status, filter, totals, CSV.
//!
//! Every change is one row in `payment_transitions`, written in the same transaction as
//! whatever else it caused. Nothing a person does waits on Stripe: sessions are created and
//! expired after the request has been answered, within the client's budget.

pub mod mount;
pub mod news;
pub mod open;
pub mod report;

use chatpay_shared::protocol::PaymentStatus;

use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use crate::secrets::Cipher;
use crate::state::AppState;
use crate::store::payments::Payment;
use crate::stripe::client::{StripeClient, StripeError};
use crate::stripe::types::{CheckoutSession, SessionPaymentStatus, SessionStatus};

pub use news::{decline, on_event, reconcile, reconcile_each, EventOutcome};

/// The four Checkout events that move payments.
pub const CHECKOUT_EVENTS: [&str; 4] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
];

/// What Stripe says after a payment was paid: refunds and disputes made at Stripe, so the
/// owner's Payments page stays true. They never move the payment's status (its run has
/// resumed on "paid" already); they are kept beside it.
pub const AFTER_PAYMENT_EVENTS: [&str; 5] = [
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
];

/// Every event a site's webhook endpoint is created with (the wizard lists them): the
/// Checkout events, then the after-payment ones.
pub const WEBHOOK_EVENTS: [&str; 9] = [
    CHECKOUT_EVENTS[0],
    CHECKOUT_EVENTS[1],
    CHECKOUT_EVENTS[2],
    CHECKOUT_EVENTS[3],
    AFTER_PAYMENT_EVENTS[0],
    AFTER_PAYMENT_EVENTS[1],
    AFTER_PAYMENT_EVENTS[2],
    AFTER_PAYMENT_EVENTS[3],
    AFTER_PAYMENT_EVENTS[4],
];

/// How long after its link expired a payment gets its first look by the sweep, in ms (the
/// webhook usually wins).
pub const CHECK_GRACE_MS: i64 = 60_000;

/// Where a retrieved session says the payment is (reconciliation), or `None` while open.
/// A completed session with a delayed payment is judged by its PaymentIntent when it was
/// expanded: succeeded → paid, failed → failed, else still processing.
pub fn target_for_session(session: &CheckoutSession) -> Option<PaymentStatus> {
    match session.status? {
        SessionStatus::Open => None,
        SessionStatus::Expired => Some(PaymentStatus::Expired),
        SessionStatus::Complete => Some(
            match (
                completed(session),
                session.payment_intent.as_ref().and_then(|p| p.status()),
            ) {
                (PaymentStatus::Processing, Some("succeeded")) => PaymentStatus::Paid,
                (PaymentStatus::Processing, Some("requires_payment_method" | "canceled")) => {
                    PaymentStatus::Failed
                }
                (target, _) => target,
            },
        ),
    }
}

/// Where a Checkout event says the payment is now, or `None` for other events.
pub fn target_for_event(event_type: &str, session: &CheckoutSession) -> Option<PaymentStatus> {
    match event_type {
        "checkout.session.completed" => Some(completed(session)),
        "checkout.session.async_payment_succeeded" => Some(PaymentStatus::Paid),
        "checkout.session.async_payment_failed" => Some(PaymentStatus::Failed),
        "checkout.session.expired" => Some(PaymentStatus::Expired),
        _ => None,
    }
}

fn completed(session: &CheckoutSession) -> PaymentStatus {
    match session.payment_status {
        SessionPaymentStatus::Paid | SessionPaymentStatus::NoPaymentRequired => PaymentStatus::Paid,
        SessionPaymentStatus::Unpaid => PaymentStatus::Processing,
    }
}

/// Why a session that says money moved does not match its payment, if it does not: the
/// amount or currency charged (the integration's, see [`CheckoutSession::charged`]), or the
/// mode of the key. `None`: it matches.
pub fn mismatch(payment: &Payment, session: &CheckoutSession) -> Option<String> {
    if let Some(live) = payment.livemode {
        if session.livemode != live {
            let mode = |l: bool| if l { "live" } else { "test" };
            return Some(format!(
                "Stripe reported a {} mode payment for a {} mode payment request",
                mode(session.livemode),
                mode(live)
            ));
        }
    }
    let asked = (payment.amount_minor, payment.currency.to_ascii_lowercase());
    match session.charged() {
        Some(charged) if charged == asked => None,
        Some((amount, currency)) => Some(format!(
            "Stripe charged {} {} but {} {} was asked",
            format_minor(amount, &currency),
            currency.to_ascii_uppercase(),
            format_minor(payment.amount_minor, &payment.currency),
            payment.currency
        )),
        None => Some("Stripe did not say what it charged".to_owned()),
    }
}

fn format_minor(minor: i64, currency: &str) -> String {
    match chatpay_shared::money::currency(currency) {
        Ok(c) => chatpay_shared::money::format_minor(minor, c),
        Err(_) => minor.to_string(),
    }
}

/// chatpay's own return pages for a payment: the success URL with Stripe's
/// `{CHECKOUT_SESSION_ID}` template, and the cancel URL with a token only a relay holding
/// the key can make, so that knowing a payment id is not enough to cancel it.
pub fn own_return_urls(public_url: &str, cipher: &Cipher, payment: &str) -> (String, String) {
    (
        format!("{public_url}/checkout/return?payment={payment}&session_id={{CHECKOUT_SESSION_ID}}"),
        format!(
            "{public_url}/checkout/cancel?payment={payment}&token={}",
            cancel_token(cipher, payment)
        ),
    )
}

/// The token a payment's cancel link carries.
pub fn cancel_token(cipher: &Cipher, payment: &str) -> String {
    cipher.token("cancel", payment)
}

/// A Stripe failure as the caller-facing error, remembered for the site's troubleshooting.
async fn stripe_failure(state: &AppState, site: &SiteId, err: StripeError) -> AppError {
    let text = if err.status() == Some(429) {
        tracing::warn!(%site, "Stripe is rate limiting this site's key");
        format!("Stripe is rate limiting this account's requests (HTTP 429); chatpay retries later. {err}")
    } else {
        err.to_string()
    };
    if let Err(e) = state.store.note_stripe_error(site, Some(&text)).await {
        tracing::warn!(error = %e, "cannot record a Stripe error");
    }
    AppError::Upstream(text)
}

/// The Stripe client of a site (its secret key).
async fn client_for(state: &AppState, site: &SiteId) -> AppResult<StripeClient> {
    let account = state
        .store
        .stripe_account(&state.cipher, site)
        .await?
        .ok_or_else(|| AppError::Conflict(format!("site '{site}' is not connected to Stripe")))?;
    Ok(state.stripe.client(&account.secret_key))
}

/// A stored payment; a missing one is a [`AppError::NotFound`].
pub async fn load(state: &AppState, payment_id: &str) -> AppResult<Payment> {
    state
        .store
        .payment(payment_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no payment '{payment_id}'")))
}

/// Deletes at Stripe the endpoints chatpay created whose secrets ended; a failure is
/// logged (the endpoint then only fails deliveries, which Stripe's dashboard shows).
pub async fn delete_replaced_endpoints(state: &AppState, site: &SiteId, endpoints: Vec<String>) {
    if endpoints.is_empty() {
        return;
    }
    let Ok(Some(account)) = state.store.stripe_account(&state.cipher, site).await else {
        return;
    };
    let client = state.stripe.client(&account.secret_key);
    for id in endpoints {
        if let Err(e) = client.delete_webhook_endpoint(&id).await {
            tracing::warn!(%site, endpoint = %id, error = %e, "cannot delete a replaced webhook endpoint at Stripe");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentStatus::*;

    fn session(json: serde_json::Value) -> CheckoutSession {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn events_and_sessions_map_to_targets() {
        let paid = session(serde_json::json!({"id": "cs_1", "status": "complete", "payment_status": "paid"}));
        let unpaid =
            session(serde_json::json!({"id": "cs_1", "status": "complete", "payment_status": "unpaid"}));
        let free = session(
            serde_json::json!({"id": "cs_1", "status": "complete", "payment_status": "no_payment_required"}),
        );
        assert_eq!(target_for_event("checkout.session.completed", &paid), Some(Paid));
        assert_eq!(
            target_for_event("checkout.session.completed", &unpaid),
            Some(Processing)
        );
        assert_eq!(target_for_event("checkout.session.completed", &free), Some(Paid));
        assert_eq!(
            target_for_event("checkout.session.async_payment_succeeded", &unpaid),
            Some(Paid)
        );
        assert_eq!(
            target_for_event("checkout.session.async_payment_failed", &unpaid),
            Some(Failed)
        );
        assert_eq!(
            target_for_event("checkout.session.expired", &unpaid),
            Some(Expired)
        );
        assert_eq!(target_for_event("customer.created", &paid), None);
        assert_eq!(target_for_session(&paid), Some(Paid));
        assert_eq!(target_for_session(&unpaid), Some(Processing));
        let open = session(serde_json::json!({"id": "cs_1", "status": "open", "payment_status": "unpaid"}));
        assert_eq!(target_for_session(&open), None);
        let expired =
            session(serde_json::json!({"id": "cs_1", "status": "expired", "payment_status": "unpaid"}));
        assert_eq!(target_for_session(&expired), Some(Expired));
    }

    fn payment(amount: i64, currency: &str, livemode: Option<bool>) -> Payment {
        Payment {
            id: "pay_1".into(),
            site_id: SiteId::parse("shop").unwrap(),
            conversation_id: None,
            amount_minor: amount,
            currency: currency.into(),
            description: "d".into(),
            status: Pending,
            session_id: Some("cs_1".into()),
            checkout_url: None,
            expires_at: 0,
            resolved_by: None,
            success_url: None,
            cancel_url: None,
            idempotency_key: None,
            payment_method_configuration: None,
            livemode,
            lease_until: None,
            next_check_at: None,
            checks: 0,
            workflow_version: None,
            agent: None,
            payment_intent: None,
            refunded_minor: 0,
            dispute: None,
            ui_mode: None,
            client_secret_enc: None,
            publishable_key: None,
            requested_by: crate::store::payments::Requester::Workflow,
            problem: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_session_matches_only_the_amount_currency_and_mode_asked() {
        let s = |json: serde_json::Value| session(json);
        let base = serde_json::json!({"id": "cs_1", "status": "complete", "payment_status": "paid",
            "amount_total": 4999, "currency": "usd", "livemode": false});
        let p = payment(4999, "USD", Some(false));
        assert_eq!(mismatch(&p, &s(base.clone())), None);

        let mut more = base.clone();
        more["amount_total"] = 5000.into();
        assert_eq!(
            mismatch(&p, &s(more)).as_deref(),
            Some("Stripe charged 50.00 USD but 49.99 USD was asked")
        );
        let mut eur = base.clone();
        eur["currency"] = "eur".into();
        assert!(mismatch(&p, &s(eur)).unwrap().contains("EUR"));
        let mut live = base.clone();
        live["livemode"] = true.into();
        assert!(mismatch(&p, &s(live))
            .unwrap()
            .contains("live mode payment for a test mode"));
        let mut none = base.clone();
        none.as_object_mut().unwrap().remove("amount_total");
        assert!(
            mismatch(&p, &s(none)).is_some(),
            "a completed session must say what it charged"
        );

        // Legacy Adaptive Pricing: the customer paid in EUR; the integration's USD is under
        // currency_conversion, and that is what must match.
        let mut converted = base.clone();
        converted["currency"] = "eur".into();
        converted["amount_total"] = 4620.into();
        converted["currency_conversion"] =
            serde_json::json!({"amount_total": 4999, "source_currency": "usd", "fx_rate": "0.924"});
        assert_eq!(mismatch(&p, &s(converted.clone())), None);
        converted["currency_conversion"]["amount_total"] = 4000.into();
        assert!(mismatch(&p, &s(converted)).is_some());
        // An older row without a mode is checked on amount and currency only.
        let mut live = base;
        live["livemode"] = true.into();
        assert_eq!(mismatch(&payment(4999, "USD", None), &s(live)), None);
    }

    #[test]
    fn cancel_links_carry_a_token_of_the_relays_key() {
        let cipher = Cipher::from_key(&[3u8; 32]);
        let (success, cancel) = own_return_urls("https://relay.test", &cipher, "pay_9");
        assert_eq!(
            success,
            "https://relay.test/checkout/return?payment=pay_9&session_id={CHECKOUT_SESSION_ID}"
        );
        let token = cancel.split("token=").nth(1).unwrap();
        assert!(cipher.check_token("cancel", "pay_9", token));
        assert!(!cipher.check_token("cancel", "pay_8", token));
    }
}
