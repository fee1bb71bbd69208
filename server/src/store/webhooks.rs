//! The Stripe event ledger (each event id once per site) and each site's webhook health.

use chatpay_shared::console::HealthView;
use sqlx::Row;

use super::{is_unique_violation, now_ms, Store, Tx};
use crate::error::AppResult;

/// Records an event id; `false` when it was seen before (a redelivery).
pub async fn record_event(
    tx: &mut Tx,
    site: &str,
    event_id: &str,
    event_type: &str,
    outcome: &str,
) -> AppResult<bool> {
    let inserted = sqlx::query(
        "INSERT INTO stripe_events (site_id, event_id, event_type, outcome, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id, event_id) DO NOTHING",
    )
    .bind(site)
    .bind(event_id)
    .bind(event_type)
    .bind(outcome)
    .bind(now_ms())
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(done) => Ok(done.rows_affected() == 1),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Counts a correctly signed event (new or duplicate) in one statement.
pub async fn note_event(tx: &mut Tx, site: &str, event_type: &str, duplicate: bool) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO webhook_health (site_id, last_event_type, last_event_at, events_received, duplicates) \
         VALUES ($1, $2, $3, 1, $4) ON CONFLICT (site_id) DO UPDATE SET \
         last_event_type = excluded.last_event_type, last_event_at = excluded.last_event_at, \
         events_received = webhook_health.events_received + 1, \
         duplicates = webhook_health.duplicates + excluded.duplicates",
    )
    .bind(site)
    .bind(event_type)
    .bind(now_ms())
    .bind(i64::from(duplicate))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Records a refused delivery (bad signature, missing secret).
    pub async fn note_webhook_failure(&self, site: &str, reason: &str) -> AppResult<()> {
        self.write_one(sqlx::query(
            "INSERT INTO webhook_health (site_id, last_failure_reason, last_failure_at, signature_failures) \
             VALUES ($1, $2, $3, 1) ON CONFLICT (site_id) DO UPDATE SET \
             last_failure_reason = excluded.last_failure_reason, last_failure_at = excluded.last_failure_at, \
             signature_failures = webhook_health.signature_failures + 1",
        )
        .bind(site)
        .bind(reason)
        .bind(now_ms())
        )
        .await?;
        Ok(())
    }

    /// Counts a redelivered event whose transaction was rolled back.
    pub async fn note_duplicate_event(&self, site: &str, event_type: &str) -> AppResult<()> {
        let mut tx = self.begin().await?;
        note_event(&mut tx, site, event_type, true).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn webhook_health(&self, site: &str) -> AppResult<HealthView> {
        let row = sqlx::query(
            "SELECT last_event_type, last_event_at, last_failure_reason, last_failure_at, \
             events_received, duplicates, signature_failures FROM webhook_health WHERE site_id = $1",
        )
        .bind(site)
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else {
            return Ok(HealthView::default());
        };
        Ok(HealthView {
            last_event_type: r.try_get(0)?,
            last_event_at: r.try_get(1)?,
            last_failure_reason: r.try_get(2)?,
            last_failure_at: r.try_get(3)?,
            events_received: r.try_get(4)?,
            duplicates: r.try_get(5)?,
            signature_failures: r.try_get(6)?,
        })
    }
}
