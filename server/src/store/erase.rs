//! Erasing one conversation for a visitor who asks (privacy): its transcript, the visitor's
//! details, the run's saved answers and its payments' descriptions are gone; the payments'
//! amounts, statuses and Stripe ids stay for the owner's accounting.
//!
//! On SQLite the writer runs with `secure_delete` (freed bytes are zeroed) and the erase ends
//! with a `TRUNCATE` checkpoint (or, when a long read holds the WAL, the sweep does it once
//! the read is over), so no old copy of the erased text stays in the database file or its
//! WAL; the tests check the files' bytes. Stripe keeps its own copy of a payment's
//! description: erase it there too (the dashboard, or the API's customer/payment tools).

use chatpay_shared::run::{RunState, RunStatus};
use sqlx::Row;

use super::Store;
use crate::domain::SiteId;
use crate::error::{AppError, AppResult};

/// What an erased text becomes (the history keeps its order and length).
pub const ERASED: &str = "(erased)";

impl Store {
    /// Erases the conversation `conversation` of `site`. `Ok(false)`: no such conversation
    /// there. The visitor's old token no longer opens it; it is closed.
    pub async fn erase_conversation(&self, site: &SiteId, conversation: &str) -> AppResult<bool> {
        let mut tx = self.begin().await?;
        // A value no token hashes to (hashes are hex): the visitor's link to it is cut.
        let unreachable = format!("erased:{}", super::new_id("conv"));
        let found = sqlx::query(
            "UPDATE conversations SET visitor_name = NULL, visitor_email = NULL, client_ip = NULL, \
             status = 'closed', visitor_token_hash = $1, erased_at = $4 WHERE id = $2 AND site_id = $3",
        )
        .bind(&unreachable)
        .bind(conversation)
        .bind(site.as_str())
        .bind(super::now_ms())
        .execute(&mut tx)
        .await?
        .rows_affected();
        if found == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE messages SET body = $1, client_id = NULL WHERE conversation_id = $2 AND kind = 'text'",
        )
        .bind(ERASED)
        .bind(conversation)
        .execute(&mut tx)
        .await?;
        // Payment cards keep amount, currency, status and link; their description goes.
        let cards =
            sqlx::query("SELECT seq, body FROM messages WHERE conversation_id = $1 AND kind <> 'text'")
                .bind(conversation)
                .fetch_all(&mut tx)
                .await?;
        for card in cards {
            let seq: i64 = card.try_get("seq")?;
            let body: String = card.try_get("body")?;
            let mut value: serde_json::Value = serde_json::from_str(&body)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("a stored card is not JSON: {e}")))?;
            if let Some(d) = value.get_mut("description") {
                *d = serde_json::Value::from(ERASED);
                sqlx::query("UPDATE messages SET body = $1 WHERE conversation_id = $2 AND seq = $3")
                    .bind(value.to_string())
                    .bind(conversation)
                    .bind(seq)
                    .execute(&mut tx)
                    .await?;
            }
        }
        // Events sent to the owner's own webhook about it go too (their log held descriptions).
        sqlx::query("DELETE FROM hook_deliveries WHERE conversation_id = $1")
            .bind(conversation)
            .execute(&mut tx)
            .await?;
        sqlx::query("UPDATE payments SET description = $1 WHERE conversation_id = $2")
            .bind(ERASED)
            .bind(conversation)
            .execute(&mut tx)
            .await?;
        // The run ends and forgets every answer; its payment keys stay (a late webhook still
        // finds its payment, and changes nothing in the conversation).
        let run = sqlx::query("SELECT state FROM runs WHERE conversation_id = $1")
            .bind(conversation)
            .fetch_optional(&mut tx)
            .await?;
        if let Some(run) = run {
            let text: String = run.try_get("state")?;
            let mut state: RunState = serde_json::from_str(&text)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("a stored run is not a run: {e}")))?;
            state.vars.clear();
            state.node = None;
            state.status = RunStatus::Finished;
            let state = serde_json::to_string(&state).map_err(|e| AppError::Internal(e.into()))?;
            sqlx::query("UPDATE runs SET state = $1, status = $2 WHERE conversation_id = $3")
                .bind(state)
                .bind(RunStatus::Finished.as_str())
                .bind(conversation)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        self.forget_old_pages().await?;
        Ok(true)
    }

    /// Conversations past their site's retention (untouched for longer than its
    /// `retention_days`) and not erased yet, as `(site, conversation)`, at most `limit`.
    pub async fn past_retention(&self, now_ms: i64, limit: i64) -> AppResult<Vec<(SiteId, String)>> {
        let rows = sqlx::query(
            "SELECT c.site_id AS site_id, c.id AS id FROM conversations c JOIN sites s ON s.id = c.site_id \
             WHERE s.retention_days IS NOT NULL AND c.erased_at IS NULL \
             AND c.updated_at < $1 - s.retention_days * 86400000 ORDER BY c.updated_at LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((SiteId::from_stored(r.try_get("site_id")?), r.try_get("id")?)))
            .collect()
    }

    /// SQLite: empties the WAL into the database file, so the erased rows' old pages are
    /// gone from the WAL too. A reader in the middle of a long read (a big CSV, a backup)
    /// pins the WAL: after a second of trying the erase answers anyway, the wipe is marked
    /// pending and the sweep finishes it once the read is over ([`Store::finish_wipe`]).
    async fn forget_old_pages(&self) -> AppResult<()> {
        let super::Writer::Sqlite(writer) = &self.write else {
            return Ok(());
        };
        for _ in 0..10 {
            if writer.truncate_wal().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        writer
            .wipe_pending
            .store(true, std::sync::atomic::Ordering::Release);
        tracing::warn!("an erased conversation's old text is still in the WAL while a long read holds it; the sweep empties it when the read ends");
        Ok(())
    }

    /// SQLite: finishes a wipe an erase left pending (see [`Store::erase_conversation`]):
    /// the sweep's part. Nothing to do on PostgreSQL or when none is pending.
    pub async fn finish_wipe(&self) -> AppResult<()> {
        use std::sync::atomic::Ordering;
        let super::Writer::Sqlite(writer) = &self.write else {
            return Ok(());
        };
        if !writer.wipe_pending.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        if let Err(e) = writer.truncate_wal().await {
            writer.wipe_pending.store(true, Ordering::Release);
            return Err(AppError::Internal(anyhow::anyhow!(
                "erased text is still in the WAL ({e}); a long read holds it, the next sweep tries again"
            )));
        }
        tracing::info!("the WAL no longer holds erased text");
        Ok(())
    }
}
