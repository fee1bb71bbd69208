//! The Stripe event ledger (each event id once per site) and each site's webhook health.

use chatpay_shared::console::HealthView;
use sqlx::Row;

use super::{is_unique_violation, now_ms, Dialect, Store, Tx};
use crate::domain::SiteId;
use crate::error::AppResult;

/// The health counters' upsert for a correctly signed event, with `$1` site, `$2` type,
/// `$3` time and `$4` 1 for a duplicate, 0 for a new one.
const COUNT_EVENT: &str = "ON CONFLICT (site_id) DO UPDATE SET \
     last_event_type = excluded.last_event_type, last_event_at = excluded.last_event_at, \
     events_received = webhook_health.events_received + 1, \
     duplicates = webhook_health.duplicates + excluded.duplicates";

/// Records a new event in the ledger and counts it in the site's webhook health; `false`
/// (and nothing written) when its id was seen before (a redelivery). On PostgreSQL both are
/// one statement: the ledger row, and the count only if the row went in.
pub async fn record_event(
    tx: &mut Tx,
    site: &SiteId,
    event_id: &str,
    event_type: &str,
    outcome: &str,
) -> AppResult<bool> {
    if tx.dialect() == Dialect::Postgres {
        let sql = [
            "WITH e AS (INSERT INTO stripe_events (site_id, event_id, event_type, outcome, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id, event_id) DO NOTHING RETURNING site_id) \
             INSERT INTO webhook_health (site_id, last_event_type, last_event_at, events_received, duplicates) \
             SELECT site_id, $3, $5, 1, 0 FROM e ",
            COUNT_EVENT,
        ]
        .concat();
        let done = sqlx::query(&sql)
            .bind(site.as_str())
            .bind(event_id)
            .bind(event_type)
            .bind(outcome)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        return Ok(done.rows_affected() == 1);
    }
    let inserted = sqlx::query(
        "INSERT INTO stripe_events (site_id, event_id, event_type, outcome, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id, event_id) DO NOTHING",
    )
    .bind(site.as_str())
    .bind(event_id)
    .bind(event_type)
    .bind(outcome)
    .bind(now_ms())
    .execute(&mut *tx)
    .await;
    let new = match inserted {
        Ok(done) => done.rows_affected() == 1,
        Err(e) if is_unique_violation(&e) => false,
        Err(e) => return Err(e.into()),
    };
    if new {
        note_event(tx, site, event_type, false).await?;
    }
    Ok(new)
}

/// Counts a correctly signed event (new or duplicate) in one statement.
async fn note_event(tx: &mut Tx, site: &SiteId, event_type: &str, duplicate: bool) -> AppResult<()> {
    let sql = [
        "INSERT INTO webhook_health (site_id, last_event_type, last_event_at, events_received, duplicates) \
         VALUES ($1, $2, $3, 1, $4) ",
        COUNT_EVENT,
    ]
    .concat();
    sqlx::query(&sql)
        .bind(site.as_str())
        .bind(event_type)
        .bind(now_ms())
        .bind(i64::from(duplicate))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

impl Store {
    /// Records a refused delivery (bad signature, missing secret).
    pub async fn note_webhook_failure(&self, site: &SiteId, reason: &str) -> AppResult<()> {
        self.write_one(sqlx::query(
            "INSERT INTO webhook_health (site_id, last_failure_reason, last_failure_at, signature_failures) \
             VALUES ($1, $2, $3, 1) ON CONFLICT (site_id) DO UPDATE SET \
             last_failure_reason = excluded.last_failure_reason, last_failure_at = excluded.last_failure_at, \
             signature_failures = webhook_health.signature_failures + 1",
        )
        .bind(site.as_str())
        .bind(reason)
        .bind(now_ms())
        )
        .await?;
        Ok(())
    }

    /// Counts a redelivered event whose transaction was rolled back.
    pub async fn note_duplicate_event(&self, site: &SiteId, event_type: &str) -> AppResult<()> {
        let mut tx = self.begin().await?;
        note_event(&mut tx, site, event_type, true).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn webhook_health(&self, site: &SiteId) -> AppResult<HealthView> {
        let row = sqlx::query(
            "SELECT last_event_type, last_event_at, last_failure_reason, last_failure_at, \
             events_received, duplicates, signature_failures FROM webhook_health WHERE site_id = $1",
        )
        .bind(site.as_str())
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else {
            return Ok(HealthView::default());
        };
        Ok(HealthView {
            last_event_type: r.try_get("last_event_type")?,
            last_event_at: r.try_get("last_event_at")?,
            last_failure_reason: r.try_get("last_failure_reason")?,
            last_failure_at: r.try_get("last_failure_at")?,
            events_received: r.try_get("events_received")?,
            duplicates: r.try_get("duplicates")?,
            signature_failures: r.try_get("signature_failures")?,
        })
    }
}
