//! What Stripe says about a session, applied to its payment: a signed webhook event, a
//! reconciliation (`GET` the session: the safety net for a webhook that is late or never
//! comes), or the answer to expiring a session the visitor declined.
//!
//! Every path goes through [`apply_news`] inside one transaction that locks the
//! conversation first (see the lock order in [`crate::store`]):
//! - the session is recorded among the payment's sessions;
//! - a session that says money moved is checked against the payment — amount and currency
//!   charged, and the key's mode; a difference makes the payment `mismatch` (a person
//!   checks it), never `paid`;
//! - news of the card's session moves the payment; money that moved through another
//!   session of the payment counts too (and the card's session is then expired at Stripe),
//!   while another session's expiry or failure does not;
//! - a second paid session for one payment is refunded at Stripe and noted for the owner:
//!   a double charge is never silent.

use std::time::Duration;

use chatpay_shared::protocol::PaymentStatus;
use futures_util::StreamExt as _;
use serde::Deserialize as _;

use super::{client_for, mismatch, stripe_failure, target_for_event, target_for_session};
use crate::domain::{SiteId, DISPUTE_STATUSES};
use crate::engine::runner;
use crate::error::AppResult;
use crate::followups::Followups;
use crate::state::AppState;
use crate::store::payments::{self as stored, Payment, Transition};
use crate::store::{conversations, webhooks, Store, Tx};
use crate::stripe::client::StripeError;
use crate::stripe::types::{Charge, CheckoutSession, Dispute, Event, SessionStatus};

/// What a delivered event did; recorded in the ledger as `as_str()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// The event id was seen before: nothing changed.
    Duplicate,
    /// The payment moved.
    Applied(Transition),
    /// The payment was already past this point (a late or repeated message), or the news
    /// is of a session that does not decide the payment.
    Ignored,
    /// A second paid session of one payment: it is being refunded.
    DoubleCharge,
    /// Money taken for a payment that had already ended unpaid (expired, failed): it is
    /// being refunded.
    LateCharge,
    /// No payment of this site matches the session.
    UnknownPayment,
    /// An event type chatpay does not use.
    NotUsed,
    /// A Checkout event whose session could not be read.
    Unreadable,
    /// A refund or dispute of a paid payment, kept beside its status.
    Recorded,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Applied(_) => "applied",
            EventOutcome::Ignored => "ignored",
            EventOutcome::DoubleCharge => "double_charge",
            EventOutcome::LateCharge => "late_charge",
            EventOutcome::UnknownPayment => "unknown_payment",
            EventOutcome::NotUsed => "not_used",
            EventOutcome::Unreadable => "unreadable",
            EventOutcome::Recorded => "recorded",
        }
    }
}

/// Applies what Stripe says about `session` (a session of `payment`, read inside `tx` after
/// its conversation was locked) with the raw `target` it implies.
async fn apply_news(
    tx: &mut Tx,
    store: &Store,
    payment: &Payment,
    session: &CheckoutSession,
    target: PaymentStatus,
    source: &str,
) -> AppResult<(EventOutcome, Followups)> {
    let money_moved = matches!(target, PaymentStatus::Paid | PaymentStatus::Processing);
    let status_word = match session.status {
        Some(SessionStatus::Open) => "open",
        Some(SessionStatus::Complete) => "complete",
        Some(SessionStatus::Expired) => "expired",
        None if money_moved => "complete",
        None => "expired",
    };
    let paid = target == PaymentStatus::Paid;
    let record = stored::record_session(
        tx,
        &payment.id,
        &session.id,
        status_word,
        paid,
        session.payment_intent.as_ref().map(|p| p.id()),
    )
    .await?;
    let mut followups = Followups::default();
    if paid && record.another_paid {
        if stored::mark_refund_due(tx, &session.id).await? {
            let problem = format!(
                "charged twice: the second charge (session {}) is being refunded at Stripe",
                session.id
            );
            tracing::error!(payment = %payment.id, session = %session.id, "{problem}");
            stored::set_problem(tx, &payment.id, &problem).await?;
            followups.refund(&payment.site_id, &session.id);
            if let Some(c) = &payment.conversation_id {
                followups.add(Followups::notice(tx, &payment.site_id, c, problem).await?);
            }
        }
        return Ok((EventOutcome::DoubleCharge, followups));
    }
    let is_card = payment.session_id.as_deref() == Some(session.id.as_str());
    // The delayed payment of another session of this payment failed: that session is the
    // one the money was moving through.
    let its_money_failed = target == PaymentStatus::Failed
        && payment.status == PaymentStatus::Processing
        && status_word == "complete";
    if !is_card && !money_moved && !its_money_failed {
        // Another session's expiry or failure does not decide the payment.
        return Ok((EventOutcome::Ignored, followups));
    }
    let (target, problem) = if money_moved {
        match mismatch(payment, session) {
            Some(why) => (PaymentStatus::Mismatch, Some(why)),
            None => (target, None),
        }
    } else {
        (target, None)
    };
    // The PaymentIntent that takes the money is kept before the move, so what the move
    // tells (the owner's webhook) carries it.
    if let (true, Some(_), Some(pi)) = (money_moved, payment.status.next(target), &session.payment_intent) {
        stored::set_payment_intent(tx, &payment.id, pi.id()).await?;
    }
    let (transition, more) = resolve_in(tx, store, payment, target, source).await?;
    followups.add(more);
    if transition.is_none()
        && paid
        && matches!(payment.status, PaymentStatus::Expired | PaymentStatus::Failed)
    {
        // Money for a payment the visitor was already told had ended: never kept silently.
        if stored::mark_refund_due(tx, &session.id).await? {
            let problem = format!(
                "paid after the payment had ended as {}: the charge (session {}) is being refunded at Stripe",
                payment.status.as_str(),
                session.id
            );
            tracing::error!(payment = %payment.id, session = %session.id, "{problem}");
            stored::set_problem(tx, &payment.id, &problem).await?;
            followups.refund(&payment.site_id, &session.id);
            if let Some(c) = &payment.conversation_id {
                followups.add(Followups::notice(tx, &payment.site_id, c, problem).await?);
            }
        }
        return Ok((EventOutcome::LateCharge, followups));
    }
    if let (Some(why), Some(_)) = (&problem, transition) {
        tracing::error!(payment = %payment.id, session = %session.id, reason = %why, "payment mismatch");
        stored::set_problem(tx, &payment.id, why).await?;
        if let Some(c) = &payment.conversation_id {
            followups.add(Followups::notice(tx, &payment.site_id, c, why.clone()).await?);
        }
    }
    if !is_card && transition.is_some() {
        if let Some(card) = &payment.session_id {
            // Settled through another session: the card's link must not take money too.
            followups.expire(&payment.site_id, card);
        }
    }
    Ok((
        transition.map_or(EventOutcome::Ignored, EventOutcome::Applied),
        followups,
    ))
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
    let mut followups = match &payment.conversation_id {
        Some(c) => {
            runner::on_payment_transition(tx, store, &payment.site_id, &payment.id, c, transition.to).await?
        }
        None => Followups::default(),
    };
    if transition.to.is_terminal() {
        let kind = format!("payment.{}", transition.to.as_str());
        followups.payment_event(&payment.id, kind);
    }
    Ok((Some(transition), followups))
}

/// Begins a transaction that locks the payment's conversation first, and reads the payment
/// inside it (so it is current). `None`: no such payment. The payment is looked up inside the
/// transaction too (it takes no lock), so the whole of it is one trip to the writer.
async fn locked(store: &Store, payment_id: &str) -> AppResult<Option<(Tx, Payment)>> {
    let mut tx = store.begin().await?;
    if tx.locks_rows() {
        // PostgreSQL: the lock finds the conversation by the payment, then the payment is read
        // under it.
        conversations::lock_for_payment(&mut tx, payment_id).await?;
    }
    // SQLite: nobody else writes until this transaction ends; what is read is current.
    match stored::get(&mut tx, payment_id).await? {
        Some(p) => Ok(Some((tx, p))),
        None => {
            tx.rollback().await?;
            Ok(None)
        }
    }
}

/// Applies one verified Stripe event for `site`, in one transaction: the payment's news and
/// whatever follows from it, the health counters, and the ledger row. The ledger row goes
/// in last: if the event id was seen before, everything is rolled back and the delivery
/// only counts as a duplicate.
pub async fn on_event(state: &AppState, site: &SiteId, event: &Event) -> AppResult<EventOutcome> {
    let mut followups = Followups::default();
    let mut tx = None;
    let outcome = if super::CHECKOUT_EVENTS.contains(&event.kind.as_str()) {
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
                match locked(&state.store, &payment_id).await? {
                    Some((mut t, p)) if p.site_id == *site => {
                        let outcome = match target_for_event(&event.kind, &session) {
                            Some(target) => {
                                let (outcome, f) =
                                    apply_news(&mut t, &state.store, &p, &session, target, &event.id).await?;
                                followups = f;
                                outcome
                            }
                            None => EventOutcome::NotUsed,
                        };
                        tx = Some(t);
                        outcome
                    }
                    Some((t, _)) => {
                        tx = Some(t);
                        EventOutcome::UnknownPayment
                    }
                    None => EventOutcome::UnknownPayment,
                }
            }
        }
    } else if super::AFTER_PAYMENT_EVENTS.contains(&event.kind.as_str()) {
        let (t, outcome, f) = after_payment(&state.store, site, event).await?;
        tx = t;
        followups = f;
        outcome
    } else {
        EventOutcome::NotUsed
    };
    let mut tx = match tx {
        Some(t) => t,
        None => state.store.begin().await?,
    };
    if !webhooks::record_event(&mut tx, site, &event.id, &event.kind, outcome.as_str()).await? {
        tx.rollback().await?;
        state.store.note_duplicate_event(site, &event.kind).await?;
        return Ok(EventOutcome::Duplicate);
    }
    tx.commit().await?;
    followups.finish(state);
    Ok(outcome)
}

/// A refund or dispute Stripe reports for a charge of `site`: kept on the payment whose
/// PaymentIntent it is (inside a transaction that locked its conversation, returned for the
/// ledger row). A dispute is told in the conversation, for the owner. Chatpay's own refund
/// of a second charge is not the payment's refund.
async fn after_payment(
    store: &Store,
    site: &SiteId,
    event: &Event,
) -> AppResult<(Option<Tx>, EventOutcome, Followups)> {
    let object = &event.data.object;
    let read = if event.kind == "charge.refunded" {
        Charge::deserialize(object).map(|c| (c.payment_intent, Some(c.amount_refunded), None))
    } else {
        Dispute::deserialize(object).map(|d| (d.payment_intent, None, Some(d.status)))
    };
    let (intent, refunded, dispute) = match read {
        Ok((Some(pi), refunded, dispute)) => (pi, refunded, dispute),
        Ok((None, ..)) => return Ok((None, EventOutcome::UnknownPayment, Followups::default())),
        Err(e) => {
            tracing::warn!(event = %event.id, error = %e, "cannot read the object of a {} event", event.kind);
            return Ok((None, EventOutcome::Unreadable, Followups::default()));
        }
    };
    let mut tx = store.begin().await?;
    let Some((payment_id, ours)) = stored::of_intent(&mut tx, site, &intent).await? else {
        return Ok((Some(tx), EventOutcome::UnknownPayment, Followups::default()));
    };
    tx.rollback().await?;
    let Some((mut tx, payment)) = locked(store, &payment_id).await? else {
        return Ok((None, EventOutcome::UnknownPayment, Followups::default()));
    };
    let mut followups = Followups::default();
    let changed = match (refunded, dispute) {
        // The second charge of a double charge is chatpay's to refund, not the payment's
        // money: its refund was told as the payment's problem, and a dispute of it is not
        // the payment's dispute.
        _ if ours => {
            tracing::warn!(payment = %payment.id, event = %event.id, "{} about a second charge chatpay refunds; the payment keeps its own", event.kind);
            false
        }
        // Never more than was paid (a refund in another currency's units, or a forged event).
        (Some(amount), _) => {
            let amount = amount.clamp(0, payment.amount_minor);
            stored::set_refunded(&mut tx, &payment.id, amount).await?
        }
        (None, Some(status)) if !DISPUTE_STATUSES.contains(&status.as_str()) => {
            tracing::warn!(payment = %payment.id, event = %event.id, "a dispute status Stripe does not have; ignored");
            false
        }
        (None, Some(status)) => {
            let changed = stored::set_dispute(&mut tx, &payment.id, &status).await?;
            if changed && event.kind == "charge.dispute.created" {
                if let Some(c) = &payment.conversation_id {
                    let notice = format!(
                        "the visitor disputed this payment at their bank (Stripe: {status}); answer it in the Stripe Dashboard"
                    );
                    followups.add(Followups::notice(&mut tx, &payment.site_id, c, notice).await?);
                }
            }
            changed
        }
        (None, None) => false,
    };
    let outcome = if changed {
        let kind = if refunded.is_some() {
            "payment.refunded"
        } else {
            "payment.disputed"
        };
        followups.payment_event(&payment.id, kind.to_owned());
        EventOutcome::Recorded
    } else {
        EventOutcome::Ignored
    };
    Ok((Some(tx), outcome, followups))
}

/// Applies a session Stripe returned (reconcile, decline) to its payment in a transaction
/// of its own; returns the payment as it is now.
async fn settle_session(
    state: &AppState,
    payment_id: &str,
    session: &CheckoutSession,
    target: Option<PaymentStatus>,
    source: &str,
) -> AppResult<Payment> {
    if let Some(target) = target {
        if let Some((mut tx, p)) = locked(&state.store, payment_id).await? {
            let (_, followups) = apply_news(&mut tx, &state.store, &p, session, target, source).await?;
            tx.commit().await?;
            followups.finish(state);
        }
    }
    super::load(state, payment_id).await
}

/// Asks Stripe where a payment's session stands and applies it: the safety net for a
/// webhook that is late or never comes. The session asked about is the one money is moving
/// through (a processing payment's completed session), else the card's. Returns the payment
/// as it is now.
pub async fn reconcile(state: &AppState, payment: &Payment) -> AppResult<Payment> {
    if payment.status.is_terminal() {
        return Ok(payment.clone());
    }
    let completing = match payment.status {
        PaymentStatus::Processing => state.store.completed_session_of(&payment.id).await?,
        _ => None,
    };
    let Some(session_id) = completing.or_else(|| payment.session_id.clone()) else {
        return Ok(payment.clone());
    };
    let client = client_for(state, &payment.site_id).await?;
    let session = match client.retrieve_checkout_session(&session_id).await {
        Ok(s) => s,
        Err(e) => return Err(stripe_failure(state, &payment.site_id, e).await),
    };
    settle_session(
        state,
        &payment.id,
        &session,
        target_for_session(&session),
        "reconcile",
    )
    .await
}

/// How many reconciliations run at once.
const RECONCILE_PARALLEL: usize = 8;

/// Reconciles the payments, a few at once, each within the Stripe client's budget; a
/// failure is logged (with `why`) and the rest go on.
pub async fn reconcile_each(state: &AppState, payments: &[Payment], why: &str) {
    let deadline = state.stripe.budget() + Duration::from_secs(5);
    futures_util::stream::iter(payments)
        .for_each_concurrent(RECONCILE_PARALLEL, |p| async move {
            match tokio::time::timeout(deadline, reconcile(state, p)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(payment = %p.id, error = %e, "reconciliation {why} failed"),
                Err(_) => tracing::warn!(payment = %p.id, "reconciliation {why} ran out of time"),
            }
        })
        .await;
}

/// The visitor said no (Checkout's back link or the card's "Not now"): expire the session
/// at Stripe so the expired branch runs now rather than when the link times out.
pub async fn decline(state: &AppState, payment: &Payment) -> AppResult<Payment> {
    if payment.status != PaymentStatus::Pending {
        return Ok(payment.clone());
    }
    let Some(session_id) = &payment.session_id else {
        // No session yet (its create call is in flight or failed): the payment ends here;
        // a session that still comes is a stray and is expired at Stripe.
        if let Some((mut tx, p)) = locked(&state.store, &payment.id).await? {
            let (_, followups) =
                resolve_in(&mut tx, &state.store, &p, PaymentStatus::Expired, "decline").await?;
            tx.commit().await?;
            followups.finish(state);
        }
        return super::load(state, &payment.id).await;
    };
    let client = client_for(state, &payment.site_id).await?;
    match client.expire_checkout_session(session_id).await {
        Ok(session) => {
            let target = target_for_session(&session);
            settle_session(state, &payment.id, &session, target, "decline").await
        }
        // Not open any more (paid or expired meanwhile): take Stripe's word for it.
        Err(StripeError::Api { status: 400, .. }) => reconcile(state, payment).await,
        Err(e) => Err(stripe_failure(state, &payment.site_id, e).await),
    }
}

/// Expires a session that must not take money (a stray second session, or the card's
/// session of a payment settled through another). A session no longer open needs nothing.
pub async fn expire_session(state: AppState, site: SiteId, session: String) {
    let result = async {
        let client = client_for(&state, &site).await?;
        match client.expire_checkout_session(&session).await {
            Ok(_) | Err(StripeError::Api { status: 400, .. }) => Ok(()),
            Err(e) => Err(stripe_failure(&state, &site, e).await),
        }
    }
    .await;
    if let Err(e) = result {
        tracing::error!(%session, error = %e, "cannot expire a session that must not take money");
    }
}

/// Refunds a second paid session of one payment (its whole PaymentIntent), once: the
/// idempotency key is the session's. Retried by the sweep until Stripe has answered.
pub async fn refund_second_charge(state: AppState, site: SiteId, session: String) {
    let result = async {
        let client = client_for(&state, &site).await?;
        let intent = match state
            .store
            .refunds_due(1000)
            .await?
            .into_iter()
            .find(|r| r.0 == session)
        {
            Some((_, _, Some(pi))) => pi,
            Some((_, _, None)) => client
                .retrieve_checkout_session(&session)
                .await
                .map_err(|e| crate::error::AppError::Upstream(e.to_string()))?
                .payment_intent
                .map(|p| p.id().to_owned())
                .ok_or_else(|| {
                    crate::error::AppError::Upstream(format!(
                        "session {session} has no PaymentIntent to refund"
                    ))
                })?,
            None => return Ok(()),
        };
        let refund = match client
            .refund_payment_intent(&intent, &format!("refund-{session}"))
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(stripe_failure(&state, &site, e).await),
        };
        tracing::warn!(%session, refund = %refund.id, "a second charge of one payment was refunded");
        state.store.set_refund(&session, &refund.id).await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(%session, error = %e, "cannot refund a second charge yet; the sweep will retry");
    }
}
