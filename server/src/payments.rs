//! Payments: the state machine and how Stripe's news moves a payment along it.
//!
//! `pending → paid | expired | processing | failed`, `processing → paid | failed`. Terminal
//! states (paid, expired, failed) never change: a late `expired` after `paid` is recorded in
//! the event ledger and ignored. Each change is one row in `payment_transitions`, written in
//! the same transaction as whatever else the event caused.
//!
//! `pending → failed` is allowed because Stripe may deliver `async_payment_failed` before
//! the `completed` event it follows; the later `completed` then finds a terminal state.

use chatpay_shared::protocol::PaymentStatus;
use serde::Deserialize as _;

use crate::engine::runner::{self, Followups};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::payments::{self as stored, Payment, Transition};
use crate::store::{webhooks, Store, Tx};
use crate::stripe::client::StripeError;
use crate::stripe::types::{CheckoutSession, Event, SessionPaymentStatus, SessionStatus};

/// The four Checkout events that move payments.
pub const CHECKOUT_EVENTS: [&str; 4] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
];

/// Where a Checkout event says the payment is now, or `None` for other events.
pub fn target_for_event(event_type: &str, session: &CheckoutSession) -> Option<PaymentStatus> {
    match event_type {
        "checkout.session.completed" => Some(match session.payment_status {
            SessionPaymentStatus::Paid | SessionPaymentStatus::NoPaymentRequired => PaymentStatus::Paid,
            SessionPaymentStatus::Unpaid => PaymentStatus::Processing,
        }),
        "checkout.session.async_payment_succeeded" => Some(PaymentStatus::Paid),
        "checkout.session.async_payment_failed" => Some(PaymentStatus::Failed),
        "checkout.session.expired" => Some(PaymentStatus::Expired),
        _ => None,
    }
}

/// Where a retrieved session says the payment is (reconciliation), or `None` while open.
pub fn target_for_session(session: &CheckoutSession) -> Option<PaymentStatus> {
    match session.status? {
        SessionStatus::Open => None,
        SessionStatus::Expired => Some(PaymentStatus::Expired),
        SessionStatus::Complete => Some(match session.payment_status {
            SessionPaymentStatus::Paid | SessionPaymentStatus::NoPaymentRequired => PaymentStatus::Paid,
            SessionPaymentStatus::Unpaid => PaymentStatus::Processing,
        }),
    }
}

/// The state a payment in `from` moves to when told `to`, or `None` when it stays.
pub fn transition(from: PaymentStatus, to: PaymentStatus) -> Option<PaymentStatus> {
    use PaymentStatus::*;
    if from.is_terminal() || from == to {
        return None;
    }
    match (from, to) {
        (Pending, _) => Some(to),
        (Processing, Paid | Failed) => Some(to),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentStatus::*;

    #[test]
    fn terminal_states_never_change() {
        for from in [Paid, Expired, Failed] {
            for to in [Pending, Processing, Paid, Expired, Failed] {
                assert_eq!(transition(from, to), None, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn pending_and_processing_move_as_stripe_says() {
        assert_eq!(transition(Pending, Paid), Some(Paid));
        assert_eq!(transition(Pending, Expired), Some(Expired));
        assert_eq!(transition(Pending, Processing), Some(Processing));
        assert_eq!(transition(Pending, Failed), Some(Failed));
        assert_eq!(transition(Processing, Paid), Some(Paid));
        assert_eq!(transition(Processing, Failed), Some(Failed));
        assert_eq!(
            transition(Processing, Expired),
            None,
            "a completed session cannot expire"
        );
        assert_eq!(transition(Processing, Processing), None);
        assert_eq!(transition(Pending, Pending), None);
    }

    fn session(status: SessionStatus, payment_status: SessionPaymentStatus) -> CheckoutSession {
        serde_json::from_value(serde_json::json!({
            "id": "cs_test_1",
            "status": status,
            "payment_status": payment_status,
        }))
        .unwrap()
    }

    #[test]
    fn events_and_sessions_map_to_targets() {
        let paid = session(SessionStatus::Complete, SessionPaymentStatus::Paid);
        let unpaid = session(SessionStatus::Complete, SessionPaymentStatus::Unpaid);
        assert_eq!(target_for_event("checkout.session.completed", &paid), Some(Paid));
        assert_eq!(
            target_for_event("checkout.session.completed", &unpaid),
            Some(Processing)
        );
        let free = session(SessionStatus::Complete, SessionPaymentStatus::NoPaymentRequired);
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
        assert_eq!(
            target_for_session(&session(SessionStatus::Open, SessionPaymentStatus::Unpaid)),
            None
        );
        assert_eq!(
            target_for_session(&session(SessionStatus::Expired, SessionPaymentStatus::Unpaid)),
            Some(Expired)
        );
    }
}

// ---------------------------------------------------------------------------------------
// What moves payments: Stripe events, reconciliation, and the visitor declining.
// ---------------------------------------------------------------------------------------

/// What a delivered event did; recorded in the ledger as `as_str()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// The event id was seen before: nothing changed.
    Duplicate,
    /// The payment moved.
    Applied(Transition),
    /// The payment was already past this point (a late or repeated message).
    Ignored,
    /// No payment of this site matches the session.
    UnknownPayment,
    /// An event type chatpay does not use.
    NotUsed,
    /// A Checkout event whose session could not be read.
    Unreadable,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Applied(_) => "applied",
            EventOutcome::Ignored => "ignored",
            EventOutcome::UnknownPayment => "unknown_payment",
            EventOutcome::NotUsed => "not_used",
            EventOutcome::Unreadable => "unreadable",
        }
    }
}

/// Moves a payment inside `tx`; when it moved and belongs to a conversation, its card is
/// updated and the conversation's run resumes. The followups run after the commit.
pub async fn resolve_in(
    tx: &mut Tx,
    store: &Store,
    payment: &Payment,
    target: PaymentStatus,
    source: &str,
) -> AppResult<(Option<Transition>, Followups)> {
    let Some(transition) = stored::apply_from(tx, payment, target, source).await? else {
        return Ok((None, Followups::default()));
    };
    let followups = match &payment.conversation_id {
        Some(c) => {
            runner::on_payment_transition(tx, store, &payment.site_id, &payment.id, c, transition.to).await?
        }
        None => Followups::default(),
    };
    Ok((Some(transition), followups))
}

/// Moves the payment with this id (read inside `tx`).
async fn resolve_id(
    tx: &mut Tx,
    store: &Store,
    id: &str,
    target: PaymentStatus,
    source: &str,
) -> AppResult<Followups> {
    match stored::get(tx, id).await? {
        Some(p) => Ok(resolve_in(tx, store, &p, target, source).await?.1),
        None => Ok(Followups::default()),
    }
}

/// Applies one verified Stripe event for `site`, in one transaction: the payment
/// transition and whatever follows from it, the health counters, and the ledger row. The
/// ledger row goes in last: if the event id was seen before, everything is rolled back and
/// the delivery only counts as a duplicate.
pub async fn on_event(state: &AppState, site: &str, event: &Event) -> AppResult<EventOutcome> {
    let mut tx = state.store.begin().await?;
    let mut followups = Followups::default();
    let outcome = if CHECKOUT_EVENTS.contains(&event.kind.as_str()) {
        match CheckoutSession::deserialize(&event.data.object) {
            Err(e) => {
                tracing::warn!(event = %event.id, error = %e, "cannot read the session of a Checkout event");
                EventOutcome::Unreadable
            }
            Ok(session) => {
                let payment_id = session
                    .client_reference_id
                    .clone()
                    .or_else(|| session.metadata.get("payment").cloned())
                    .unwrap_or_default();
                match stored::get(&mut tx, &payment_id).await? {
                    Some(p)
                        if p.site_id == site && p.session_id.as_deref().is_none_or(|s| s == session.id) =>
                    {
                        if p.session_id.is_none() {
                            // The session was created but its id never stored (a crash
                            // between Stripe's answer and our commit): adopt it now.
                            stored::set_session(&mut tx, &p.id, &session.id, session.url.as_deref()).await?;
                        }
                        match target_for_event(&event.kind, &session) {
                            Some(target) => {
                                let (transition, f) =
                                    resolve_in(&mut tx, &state.store, &p, target, &event.id).await?;
                                followups = f;
                                transition.map_or(EventOutcome::Ignored, EventOutcome::Applied)
                            }
                            None => EventOutcome::NotUsed,
                        }
                    }
                    _ => EventOutcome::UnknownPayment,
                }
            }
        }
    } else {
        EventOutcome::NotUsed
    };
    if !webhooks::record_event(&mut tx, site, &event.id, &event.kind, outcome.as_str()).await? {
        tx.rollback().await?;
        state.store.note_duplicate_event(site, &event.kind).await?;
        return Ok(EventOutcome::Duplicate);
    }
    webhooks::note_event(&mut tx, site, &event.kind, false).await?;
    tx.commit().await?;
    followups.finish(state);
    Ok(outcome)
}

/// A Stripe failure as the visitor-facing error, remembered for the site's troubleshooting.
async fn stripe_failure(state: &AppState, site: &str, err: StripeError) -> AppError {
    let text = err.to_string();
    if let Err(e) = state.store.note_stripe_error(site, Some(&text)).await {
        tracing::warn!(error = %e, "cannot record a Stripe error");
    }
    AppError::Upstream(text)
}

async fn client_for(state: &AppState, site: &str) -> AppResult<crate::stripe::client::StripeClient> {
    let account = state
        .store
        .stripe_account(&state.cipher, site)
        .await?
        .ok_or_else(|| AppError::Conflict(format!("site '{site}' is not connected to Stripe")))?;
    Ok(state.stripe.client(&account.secret_key))
}

/// Asks Stripe where a payment's session stands and applies it: the safety net for a
/// webhook that is late or never comes. Returns the payment as it is now.
pub async fn reconcile(state: &AppState, payment: &Payment) -> AppResult<Payment> {
    let Some(session_id) = payment
        .session_id
        .clone()
        .filter(|_| !payment.status.is_terminal())
    else {
        return Ok(payment.clone());
    };
    let client = client_for(state, &payment.site_id).await?;
    let session = match client.retrieve_checkout_session(&session_id).await {
        Ok(s) => s,
        Err(e) => return Err(stripe_failure(state, &payment.site_id, e).await),
    };
    settle(state, &payment.id, target_for_session(&session), "reconcile").await
}

/// Reconciles each payment in turn; a failure is logged (with `why`) and the rest go on.
pub async fn reconcile_each(state: &AppState, payments: &[Payment], why: &str) {
    for p in payments {
        if let Err(e) = reconcile(state, p).await {
            tracing::warn!(payment = %p.id, error = %e, "reconciliation {why} failed");
        }
    }
}

/// The visitor said no (Checkout's back link or the card's "Not now"): expire the session
/// at Stripe so the expired branch runs now rather than when the link times out.
pub async fn decline(state: &AppState, payment: &Payment) -> AppResult<Payment> {
    if payment.status != PaymentStatus::Pending {
        return Ok(payment.clone());
    }
    let target = match &payment.session_id {
        None => Some(PaymentStatus::Expired),
        Some(session_id) => {
            let client = client_for(state, &payment.site_id).await?;
            match client.expire_checkout_session(session_id).await {
                Ok(session) => target_for_session(&session),
                // Not open any more (paid or expired meanwhile): take Stripe's word for it.
                Err(StripeError::Api { status: 400, .. }) => return reconcile(state, payment).await,
                Err(e) => return Err(stripe_failure(state, &payment.site_id, e).await),
            }
        }
    };
    settle(state, &payment.id, target, "decline").await
}

/// Moves the payment to `target` (when there is one) in its own transaction, runs what
/// follows from it, and returns the payment as it is now.
async fn settle(
    state: &AppState,
    payment_id: &str,
    target: Option<PaymentStatus>,
    source: &str,
) -> AppResult<Payment> {
    if let Some(target) = target {
        let mut tx = state.store.begin().await?;
        let followups = resolve_id(&mut tx, &state.store, payment_id, target, source).await?;
        tx.commit().await?;
        followups.finish(state);
    }
    load(state, payment_id).await
}

/// A stored payment; a missing one is a [`AppError::NotFound`].
pub async fn load(state: &AppState, payment_id: &str) -> AppResult<Payment> {
    state
        .store
        .payment(payment_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no payment '{payment_id}'")))
}

/// Seconds added to a link's lifetime so Stripe's 30-minute minimum holds by the time the
/// session is created.
const LINK_MARGIN_SECS: i64 = 15;

/// When a link asked for now, living `lifetime_minutes`, expires (Unix seconds).
pub fn link_expiry(lifetime_minutes: u32) -> i64 {
    crate::store::now_ms() / 1000 + i64::from(lifetime_minutes) * 60 + LINK_MARGIN_SECS
}

/// Overrides of where Checkout sends the visitor back to.
#[derive(Debug, Clone, Default)]
pub struct ReturnUrls<'a> {
    pub success_url: Option<&'a str>,
    pub cancel_url: Option<&'a str>,
}

/// Creates (or, after a crash, finds again: the payment id is the idempotency key) the
/// Checkout Session of a stored payment. Return URLs: the override, else the site's
/// default, else chatpay's own return pages.
pub async fn open_session(
    state: &AppState,
    payment: &Payment,
    urls: &ReturnUrls<'_>,
) -> AppResult<CheckoutSession> {
    let account = state.store.stripe_account(&state.cipher, &payment.site_id).await?.ok_or_else(|| {
        AppError::Conflict(format!(
            "site '{}' is not connected to Stripe; connect it in the console or with `chatpay stripe connect`",
            payment.site_id
        ))
    })?;
    let (own_success, own_cancel) =
        crate::routes::checkout::return_urls(&state.settings.public_url, &payment.id);
    let success = urls
        .success_url
        .or(account.success_url.as_deref())
        .unwrap_or(&own_success);
    let cancel = urls
        .cancel_url
        .or(account.cancel_url.as_deref())
        .unwrap_or(&own_cancel);
    let currency = payment.currency.to_ascii_lowercase();
    let mut metadata = vec![
        ("site", payment.site_id.as_str()),
        ("payment", payment.id.as_str()),
    ];
    if let Some(c) = &payment.conversation_id {
        metadata.push(("conversation", c.as_str()));
    }
    // Stripe wants 30 min to 24 h from *now*; a payment opened late (recovery after a
    // restart) gets its expiry moved into that window, and a new idempotency key with it.
    let now = crate::store::now_ms() / 1000;
    let expires_at = payment.expires_at.clamp(now + 1800 + 5, now + 86_400 - 5);
    if expires_at != payment.expires_at {
        state.store.set_payment_expiry(&payment.id, expires_at).await?;
    }
    let idempotency_key = format!("{}:{expires_at}", payment.id);
    let params = crate::stripe::client::NewCheckoutSession {
        amount: payment.amount_minor,
        currency: &currency,
        description: &payment.description,
        client_reference_id: &payment.id,
        metadata,
        expires_at,
        success_url: success,
        cancel_url: cancel,
        payment_method_configuration: account.payment_method_configuration.as_deref(),
    };
    match state
        .stripe
        .client(&account.secret_key)
        .create_checkout_session(&params, &idempotency_key)
        .await
    {
        Ok(session) => Ok(session),
        Err(e) => Err(stripe_failure(state, &payment.site_id, e).await),
    }
}
