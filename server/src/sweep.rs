//! The payment safety nets, run at start and then periodically:
//! - payments whose Checkout Session nobody is creating (a relay stopped mid-call, a try
//!   that Stripe may have acted on came due again) are opened — through the same claim
//!   as everyone else, so a call still in flight is never repeated beside itself;
//! - open payments whose next look came due are reconciled with Stripe, a few at once and
//!   each within the client's budget; each payment has its own schedule with backoff, so a
//!   long-processing payment or a Stripe outage never starves the rest (a missing webhook
//!   delays a resume, it never loses it);
//! - second charges marked for a refund are refunded;
//! - webhook endpoints chatpay created and replaced are deleted at Stripe once their
//!   secret's grace period ended;
//! - expired console sessions, setup links and old sign-in failures are purged;
//! - conversations past their site's retention are erased ([`crate::privacy`]);
//! - events for the owners' webhooks are retried when due ([`crate::outbound`]).
//!
//! Each item is claimed in the database first (a lease, or the next-look time moved
//! conditionally), so two relays never do the same one at once.

use std::time::Duration;

use futures_util::StreamExt as _;

use crate::payments;
use crate::state::AppState;
use crate::store::now_ms;

/// How many payments one sweep looks at, at most, per kind.
const SWEEP_BATCH: i64 = 100;
/// How many create calls one sweep makes at once.
const OPEN_PARALLEL: usize = 4;
/// A payment written this recently is left to the relay that wrote it (its call is
/// starting), in ms.
const FRESH_MS: i64 = 10_000;

/// Starts the sweep: once now (what a restart interrupted), then every `every`.
pub fn spawn(state: AppState, every: Duration) {
    tokio::spawn(async move {
        sweep(&state).await;
        let mut shutdown = state.shutdown.clone();
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => sweep(&state).await,
                _ = async { shutdown.wait_for(|d| *d).await.is_ok() } => return,
            }
        }
    });
}

/// One pass of every safety net.
pub async fn sweep(state: &AppState) {
    sweep_at_ms(state, now_ms()).await;
}

/// One pass as if the time were `now` (unix seconds) for payments' looks; tests move time
/// with it. Leases always follow the real clock.
pub async fn sweep_at(state: &AppState, now: i64) {
    sweep_at_ms(state, now.saturating_mul(1000)).await;
}

async fn sweep_at_ms(state: &AppState, now_ms_then: i64) {
    recover(state).await;
    match state.store.payments_due(now_ms_then, SWEEP_BATCH).await {
        Ok(due) => {
            let mut mine = Vec::with_capacity(due.len());
            for p in due {
                let next = now_ms_then + look_backoff_ms(p.checks);
                match state.store.claim_check(&p, next).await {
                    Ok(true) => mine.push(p),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(payment = %p.id, error = %e, "cannot schedule a payment's next look")
                    }
                }
            }
            crate::telemetry::sweep("payments_checked", mine.len());
            payments::reconcile_each(state, &mine, "in the sweep (will retry)").await;
        }
        Err(e) => tracing::warn!(error = %e, "cannot list payments due for a look"),
    }
    // Expired console sessions and setup links, and old sign-in failures, go.
    if let Err(e) = state
        .store
        .purge_expired_access(now_ms(), crate::accounts::signin::WINDOW_MS)
        .await
    {
        tracing::warn!(error = %e, "cannot purge expired sessions");
    }
    // Events for the owners' webhooks whose next try came: a round of their own, so an
    // endpoint that hangs never holds back the payments' looks, refunds or retention.
    crate::outbound::start_round(state);
    // An erase whose old text a long read kept in the WAL is finished.
    if let Err(e) = state.store.finish_wipe().await {
        tracing::warn!(error = %e, "cannot finish wiping erased text yet");
    }
    // Conversations nobody touched for longer than their site keeps them are erased.
    match crate::privacy::enforce_retention(&state.store).await {
        Ok(n) => crate::telemetry::sweep("conversations_erased", n),
        Err(e) => tracing::warn!(error = %e, "cannot erase conversations past their retention"),
    }
    // Webhook endpoints chatpay replaced whose grace ended are deleted at Stripe.
    match state.store.stripe_sites().await {
        Ok(sites) => {
            for site in sites {
                match state
                    .store
                    .end_replaced_webhook_secrets(&state.cipher, &site, now_ms())
                    .await
                {
                    Ok(gone) => payments::delete_replaced_endpoints(state, &site, gone).await,
                    Err(e) => tracing::warn!(%site, error = %e, "cannot end replaced webhook secrets"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list the sites connected to Stripe"),
    }
    match state.store.refunds_due(SWEEP_BATCH).await {
        Ok(list) => {
            crate::telemetry::sweep("refunds_retried", list.len());
            for (session, payment, _) in list {
                match state.store.payment(&payment).await {
                    Ok(Some(p)) => {
                        payments::news::refund_second_charge(state.clone(), p.site_id, session).await
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot read a payment to refund"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list refunds due"),
    }
}

/// Opens the payments whose Checkout Session nobody is creating.
pub async fn recover(state: &AppState) {
    let now = now_ms();
    match state
        .store
        .payments_unopened(now, now - FRESH_MS, SWEEP_BATCH)
        .await
    {
        Ok(ids) => {
            crate::telemetry::sweep("payments_recovered", ids.len());
            futures_util::stream::iter(ids)
                .for_each_concurrent(OPEN_PARALLEL, |id| async move {
                    if let Err(e) = payments::open::try_open(state, &id).await {
                        tracing::warn!(payment = %id, error = %e, "recovering a payment's session failed");
                    }
                })
                .await
        }
        Err(e) => tracing::warn!(error = %e, "cannot list payments without a session"),
    }
}

/// The wait before a payment's next look after `checks` looks: a minute, doubling, at
/// most an hour.
fn look_backoff_ms(checks: i64) -> i64 {
    (60_000i64 << checks.clamp(0, 6)).min(3_600_000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn looks_back_off_from_a_minute_to_an_hour() {
        assert_eq!(super::look_backoff_ms(0), 60_000);
        assert_eq!(super::look_backoff_ms(1), 120_000);
        assert_eq!(super::look_backoff_ms(5), 1_920_000);
        assert_eq!(super::look_backoff_ms(6), 3_600_000);
        assert_eq!(super::look_backoff_ms(40), 3_600_000);
    }
}
