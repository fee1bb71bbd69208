//! The engine's safety nets, run periodically:
//! - payments still open after their link expired are reconciled with Stripe (a missing
//!   webhook delays a resume, it never loses it);
//! - runs interrupted while a payment was being created are resumed.

use std::time::Duration;

use crate::state::AppState;
use crate::store::now_ms;

/// Grace after `expires_at` before asking Stripe ourselves (the webhook usually wins).
const OVERDUE_GRACE_SECS: i64 = 60;

/// Starts the periodic sweep every `every` until the relay stops.
pub fn spawn(state: AppState, every: Duration) {
    tokio::spawn(async move {
        // Right after start: whatever a crash interrupted.
        if let Err(e) = super::runner::recover_interrupted(&state, 0).await {
            tracing::warn!(error = %e, "recovery of interrupted runs failed");
        }
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

/// One pass of both safety nets.
pub async fn sweep(state: &AppState) {
    sweep_at(state, now_ms() / 1000).await;
}

/// One pass as if the time were `now` (unix seconds); tests move time with it.
pub async fn sweep_at(state: &AppState, now: i64) {
    match state.store.overdue_payments(now - OVERDUE_GRACE_SECS, 100).await {
        Ok(list) => crate::payments::reconcile_each(state, &list, "in the sweep (will retry)").await,
        Err(e) => tracing::warn!(error = %e, "cannot list overdue payments"),
    }
    if let Err(e) = super::runner::recover_interrupted(state, 30_000).await {
        tracing::warn!(error = %e, "recovery of interrupted runs failed");
    }
}
