//! Opening a payment's Checkout Session: the one way, whoever asks for it — a workflow's
//! Request Payment node, a person in the inbox, or the sweep recovering a call a stopped
//! relay left unfinished.
//!
//! 1. **Claim.** The payment is leased in the database for longer than the Stripe client's
//!    whole budget, so the sweep, the start-up recovery and other relays leave it alone
//!    while the call is in flight. The first claim fixes everything the call sends on the
//!    row — return URLs (the node's, else the site's, else chatpay's own), the payment
//!    method configuration, the mode, and the idempotency key — so every later try sends
//!    exactly the same request, even if the owner edited the settings meanwhile.
//! 2. **Call** `POST /v1/checkout/sessions` with the row's key.
//! 3. **Store** the session: set once, never overwritten; a session that is not the card's
//!    is expired at Stripe. Then tell whoever asked: the run moves on (the node's message
//!    and card), or the person's card appears in the conversation.
//!
//! A try Stripe may have acted on (timeout, network, 5xx, 409, 429) is tried again later
//! with the same key; only a definite refusal (another 4xx) ends the payment as failed.
//! When Stripe refuses the expiry because a long outage made it too close, the expiry is
//! moved and the key replaced with it (a refused request saved no result at Stripe).

use std::time::Duration;

use chatpay_shared::protocol::PaymentStatus;

use super::{own_return_urls, CHECK_GRACE_MS};
use crate::engine::runner;
use crate::engine::step::Event;
use crate::error::AppResult;
use crate::followups::Followups;
use crate::state::AppState;
use crate::store::messages::{self, Card, NewEvent};
use crate::store::payments::{self as stored, OpenParams, Payment, Requester, SessionSet};
use crate::store::stripe_accounts::StripeAccount;
use crate::store::{conversations, now_ms};
use crate::stripe::client::{NewCheckoutSession, UI_MODE_EMBEDDED};
use crate::stripe::lifetime::expiry_from;
use crate::stripe::types::CheckoutSession;

/// How long a create call's lease lasts: the Stripe client's whole budget, plus half of it
/// (at least 5 s) for the database round trips and clocks that differ between relays. A
/// relay that stops mid-call leaves the payment to the sweep once this has passed.
pub fn lease_for(budget: Duration) -> Duration {
    budget + (budget / 2).max(Duration::from_secs(5))
}

/// A payment still without a session this long after it was asked for is given up.
pub const GIVE_UP_AFTER_MS: i64 = 10 * 60 * 1000;

/// What became of an attempt to open a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The session is stored and whoever asked was told.
    Opened,
    /// Stripe refused for good (or the payment was given up): the payment failed.
    Failed,
    /// Stripe may have acted; the same request goes again later.
    Later,
    /// Someone else holds the payment, or it needs no session any more.
    NotMine,
}

/// Opens the payment's session and logs what could not be done (it is tried again later).
pub async fn open(state: AppState, payment: String) {
    match try_open(&state, &payment).await {
        Ok(Opened::Later) => {
            // A retry in this process soon; the sweep is the safety net if it stops.
            if let Ok(Some(p)) = state.store.payment(&payment).await {
                let wait = p.lease_until.map_or(0, |t| t - now_ms()).clamp(0, 5 * 60 * 1000);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                    if let Err(e) = try_open(&state, &payment).await {
                        tracing::warn!(%payment, error = %e, "opening the payment failed; the sweep will retry");
                    }
                });
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(%payment, error = %e, "cannot open the payment; the sweep will retry"),
    }
}

/// One attempt: claim, call Stripe, store and tell (see the module docs).
pub async fn try_open(state: &AppState, payment_id: &str) -> AppResult<Opened> {
    let Some(seen) = state.store.payment(payment_id).await? else {
        return Ok(Opened::NotMine);
    };
    let now = now_ms();
    if seen.status != PaymentStatus::Pending
        || seen.session_id.is_some()
        || seen.lease_until.is_some_and(|t| t > now)
    {
        return Ok(Opened::NotMine);
    }
    let Some(account) = state.store.stripe_account(&state.cipher, &seen.site_id).await? else {
        let why = format!(
            "site '{}' is not connected to Stripe; connect it in the console or with `chatpay stripe connect`",
            seen.site_id
        );
        return fail(state, &seen, &why, true).await;
    };
    if seen.idempotency_key.is_none() && seen.requested_by == Requester::Workflow {
        // A new link a visitor's chat asks for counts against the budgets of the
        // visitor's address and of the site (a person's request does not).
        let ip = match &seen.conversation_id {
            Some(c) => state.store.client_ip_of(c).await?,
            None => None,
        };
        if let Err(refused) = state.limits.payment_link(ip, &seen.site_id) {
            return fail(state, &seen, refused.message(), false).await;
        }
    }
    let lease = lease_for(state.stripe.budget());
    let lease_until = |now: i64| now + lease.as_millis() as i64;
    let params = seen
        .idempotency_key
        .is_none()
        .then(|| fixed_params(state, &seen, &account));
    let Some(mut payment) =
        stored::claim_for_open(&state.store, payment_id, now, lease_until(now), params.as_ref()).await?
    else {
        return Ok(Opened::NotMine);
    };
    let client = state.stripe.client(&account.secret_key);
    for rotation in 1..=2 {
        let key = payment
            .idempotency_key
            .clone()
            .unwrap_or_else(|| payment.id.clone());
        match client
            .create_checkout_session(&session_params(&payment), &key)
            .await
        {
            Ok(session) => return stored_and_told(state, &payment, &session).await,
            Err(e) if e.is_definitive() && e.is_about("expires_at") && rotation < 2 => {
                // A long outage made the expiry too close: Stripe saved nothing for the
                // refused request, so a new expiry with a new key cannot double anything.
                let now = now_ms();
                let lifetime = (payment.expires_at * 1000 - payment.created_at).max(0) / 1000;
                let expires_at = expiry_from(now / 1000, lifetime);
                let key = format!("{}:{rotation}", payment.id);
                tracing::info!(payment = %payment.id, expires_at, "Stripe refused the expiry; moving it");
                state
                    .store
                    .rotate_expiry(&payment.id, expires_at, &key, lease_until(now))
                    .await?;
                payment = state.store.payment(&payment.id).await?.unwrap_or(payment);
            }
            Err(e) if e.is_definitive() => {
                let why = e.to_string();
                super::stripe_failure(state, &payment.site_id, e).await;
                // Stripe refused for good (the key, its permissions, the account's settings):
                // the same request would be refused again.
                return fail(state, &payment, &why, true).await;
            }
            Err(e) => {
                tracing::warn!(payment = %payment.id, error = %e, "Stripe did not answer the create call; it will be repeated");
                super::stripe_failure(state, &payment.site_id, e).await;
                let now = now_ms();
                if now - payment.created_at > GIVE_UP_AFTER_MS {
                    return fail(state, &payment, "Stripe did not answer for ten minutes", false).await;
                }
                let wait = (5_000i64 << payment.checks.clamp(0, 6)).min(120_000);
                state.store.release_lease(&payment.id, now + wait).await?;
                return Ok(Opened::Later);
            }
        }
    }
    Ok(Opened::Later)
}

/// What the first create call fixes on the row: return URLs, configuration, mode, key, and
/// Checkout's page. A site with a publishable key gets Stripe's embedded page, paid inside
/// chatpay's own pay page (`/pay/{payment}`, the link the card and the message carry):
/// its only return address is chatpay's return page (for a redirect-based method), never a
/// node's or an owner's URL, since Stripe refuses success and cancel URLs there.
fn fixed_params(state: &AppState, p: &Payment, account: &StripeAccount) -> OpenParams {
    let (own_success, own_cancel) = own_return_urls(&state.settings.public_url, &state.cipher, &p.id);
    // A publishable key of the other mode cannot mount the session: the hosted page then.
    let publishable = account.publishable_key.clone().filter(|pk| {
        let live = if account.livemode { "pk_live_" } else { "pk_test_" };
        pk.starts_with(live)
    });
    let embedded = publishable.is_some();
    let or_own = |own: String, node: &Option<String>, site: &Option<String>| {
        if embedded {
            return own;
        }
        node.clone().or_else(|| site.clone()).unwrap_or(own)
    };
    OpenParams {
        idempotency_key: p.id.clone(),
        success_url: or_own(own_success, &p.success_url, &account.success_url),
        cancel_url: or_own(own_cancel, &p.cancel_url, &account.cancel_url),
        payment_method_configuration: account.payment_method_configuration.clone(),
        livemode: account.livemode,
        ui_mode: embedded.then(|| UI_MODE_EMBEDDED.to_owned()),
        publishable_key: publishable,
    }
}

/// The create call's parameters, all from the row.
fn session_params(p: &Payment) -> NewCheckoutSession<'_> {
    let mut metadata = vec![("site", p.site_id.as_str()), ("payment", p.id.as_str())];
    if let Some(c) = &p.conversation_id {
        metadata.push(("conversation", c.as_str()));
    }
    NewCheckoutSession {
        amount: p.amount_minor,
        currency: p.currency.to_ascii_lowercase(),
        description: &p.description,
        client_reference_id: &p.id,
        metadata,
        expires_at: p.expires_at,
        success_url: p.success_url.as_deref().unwrap_or_default(),
        cancel_url: p.cancel_url.as_deref().unwrap_or_default(),
        payment_method_configuration: p.payment_method_configuration.as_deref(),
        return_to: p
            .ui_mode
            .as_deref()
            .filter(|m| *m == UI_MODE_EMBEDDED)
            .and(p.success_url.as_deref()),
    }
}

/// The link a card and the chat message carry: Stripe's hosted page, or for an embedded
/// session chatpay's own pay page, which mounts it (an embedded session has no URL).
fn link_of(state: &AppState, p: &Payment, session: &CheckoutSession) -> String {
    if p.ui_mode.as_deref() == Some(UI_MODE_EMBEDDED) {
        let mut url = state.settings.public_url.clone();
        url.push_str("/pay/");
        url.push_str(&p.id);
        return url;
    }
    session.url.clone().unwrap_or_default()
}

/// Stores the session Stripe made and tells whoever asked, in one transaction. A session
/// that is not the card's (the payment has one, or is settled) is expired at Stripe.
async fn stored_and_told(state: &AppState, p: &Payment, session: &CheckoutSession) -> AppResult<Opened> {
    let mut tx = state.store.begin().await?;
    // Locked, and erased meanwhile? Then the link is kept on the payment (the visitor may
    // still pay it) but nothing is written into the conversation: the card would carry the
    // description read before the erase.
    let mut erased = false;
    if let Some(c) = &p.conversation_id {
        erased = conversations::erased_at(&mut tx, c).await?.is_some();
    }
    // Stripe's news about this session may have come before its create call's answer (it was
    // then another session's news, and ignored): the payment is then looked at now.
    let news_came_first = stored::session_status(&mut tx, &session.id)
        .await?
        .is_some_and(|s| s != "open");
    stored::record_session(&mut tx, &p.id, &session.id, "open", false, None).await?;
    let link = link_of(state, p, session);
    if let Some(secret) = &session.client_secret {
        stored::set_client_secret(&mut tx, &p.id, &state.cipher.seal(secret, &p.id)).await?;
    }
    let now_pending = stored::get(&mut tx, &p.id)
        .await?
        .is_some_and(|now| now.status == PaymentStatus::Pending);
    let expires_at = session.expires_at.unwrap_or(p.expires_at);
    let set = if now_pending {
        stored::set_session(
            &mut tx,
            &p.id,
            &session.id,
            Some(link.as_str()).filter(|l| !l.is_empty()),
            if news_came_first {
                now_ms()
            } else {
                expires_at * 1000 + CHECK_GRACE_MS
            },
        )
        .await?
    } else {
        SessionSet::Other(None)
    };
    let mut followups = Followups::default();
    match (&set, p.conversation_id.as_ref().filter(|_| !erased)) {
        (SessionSet::Set, Some(conversation)) => {
            let url = link;
            followups = match p.requested_by {
                Requester::Workflow => {
                    runner::feed(
                        &mut tx,
                        &state.store,
                        &p.site_id,
                        conversation,
                        Event::PaymentOpened {
                            payment: &p.id,
                            url: &url,
                        },
                    )
                    .await?
                }
                Requester::Agent => {
                    let card = Card {
                        url,
                        expires_at,
                        status: PaymentStatus::Pending,
                        ..Card::from(p)
                    };
                    let frames =
                        messages::append_events(&mut tx, conversation, &[NewEvent::Card(card)]).await?;
                    Followups::frames(&p.site_id, conversation, frames)
                }
            };
        }
        (SessionSet::Set | SessionSet::Same, None) | (SessionSet::Same, Some(_)) => {}
        (SessionSet::Other(_), _) => {
            tracing::warn!(payment = %p.id, session = %session.id, "a second session for one payment; expiring it at Stripe");
            followups.expire(&p.site_id, &session.id);
        }
    }
    tx.commit().await?;
    followups.finish(state);
    Ok(Opened::Opened)
}

/// Ends a payment that could not be opened, keeps why (for Troubleshooting), and tells
/// whoever asked. `unavailable`: retrying cannot help (see [`Event::PaymentNotOpened`]).
async fn fail(state: &AppState, p: &Payment, why: &str, unavailable: bool) -> AppResult<Opened> {
    tracing::warn!(payment = %p.id, reason = why, "the payment could not be opened");
    let mut tx = state.store.begin().await?;
    if let Some(c) = &p.conversation_id {
        conversations::lock(&mut tx, c).await?;
    }
    let moved = stored::apply(&mut tx, &p.id, PaymentStatus::Failed, "create_failed").await?;
    if moved.is_some() {
        stored::set_open_error(&mut tx, &p.id, why).await?;
    }
    let mut followups = Followups::default();
    if let (Some(_), Some(conversation)) = (moved, &p.conversation_id) {
        followups = match p.requested_by {
            Requester::Workflow => {
                runner::feed(
                    &mut tx,
                    &state.store,
                    &p.site_id,
                    conversation,
                    Event::PaymentNotOpened {
                        payment: &p.id,
                        unavailable,
                    },
                )
                .await?
            }
            Requester::Agent => {
                Followups::notice(
                    &mut tx,
                    &p.site_id,
                    conversation,
                    format!("The payment link could not be created: {why}"),
                )
                .await?
            }
        };
    }
    tx.commit().await?;
    followups.finish(state);
    Ok(Opened::Failed)
}
