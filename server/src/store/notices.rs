//! Notes for agents about a conversation (a payment that could not be opened, a mismatch,
//! a double charge), kept so that every relay's console shows them and a reload keeps them,
//! and the leases through which one relay at a time does shared work.

use sqlx::Row;

use super::{new_id, now_ms, Store, Tx};
use crate::domain::SiteId;
use crate::error::AppResult;

/// Keeps a note for agents about `conversation`, and tells the other relays at commit.
pub async fn add(tx: &mut Tx, site: &SiteId, conversation: &str, text: &str) -> AppResult<String> {
    let id = new_id("note");
    sqlx::query(
        "INSERT INTO notices (id, site_id, conversation_id, text, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(site.as_str())
    .bind(conversation)
    .bind(text)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.notify('n', &[site.as_str(), conversation, &id]).await?;
    Ok(id)
}

impl Store {
    /// A note by id, as `(conversation, text)`.
    pub async fn notice(&self, id: &str) -> AppResult<Option<(String, String)>> {
        let row = sqlx::query("SELECT conversation_id, text FROM notices WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| Ok((r.try_get("conversation_id")?, r.try_get("text")?)))
            .transpose()
    }

    /// A conversation's notes, oldest first, as `(text, unix ms)`.
    pub async fn notices_of(&self, conversation: &str) -> AppResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT text, created_at FROM notices WHERE conversation_id = $1 ORDER BY created_at",
        )
        .bind(conversation)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("text")?, r.try_get("created_at")?)))
            .collect()
    }

    /// Takes (or keeps) the lease `name` for `ttl_ms`: `true` when this relay holds it now.
    pub async fn try_lease(&self, name: &str, ttl_ms: i64) -> AppResult<bool> {
        let now = now_ms();
        let done = self
            .write_one(
                sqlx::query(
                    "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE leases.until < $4 OR leases.holder = excluded.holder",
                )
                .bind(name)
                .bind(self.relay_id())
                .bind(now + ttl_ms)
                .bind(now),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
