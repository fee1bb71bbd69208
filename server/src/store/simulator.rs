//! Storage for the Stripe simulator: Stripe objects as JSON per simulated account, and the
//! saved results of idempotent requests. Kept in the relay's database so a restart of the
//! relay does not make "Stripe" forget its sessions.

use sqlx::Row;

use super::{is_unique_violation, now_ms, Store};
use crate::error::AppResult;

/// A saved idempotent result.
#[derive(Debug, Clone)]
pub struct SavedResult {
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

impl Store {
    pub async fn sim_put(
        &self,
        account: &str,
        kind: &str,
        id: &str,
        body: &serde_json::Value,
    ) -> AppResult<()> {
        sqlx::query(
            "INSERT INTO simulator_objects (id, account, kind, body, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
        )
        .bind(id)
        .bind(account)
        .bind(kind)
        .bind(body.to_string())
        .bind(now_ms())
        .execute(&self.write_pool())
        .await?;
        Ok(())
    }

    pub async fn sim_get(&self, account: &str, id: &str) -> AppResult<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT body FROM simulator_objects WHERE id = $1 AND account = $2")
            .bind(id)
            .bind(account)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| Ok(serde_json::from_str(&r.try_get::<String, _>(0)?).unwrap_or_default()))
            .transpose()
    }

    /// An object by id in any account, with its account (the hosted page has no key).
    pub async fn sim_get_any(&self, id: &str) -> AppResult<Option<(String, serde_json::Value)>> {
        let row = sqlx::query("SELECT account, body FROM simulator_objects WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            Ok((
                r.try_get(0)?,
                serde_json::from_str(&r.try_get::<String, _>(1)?).unwrap_or_default(),
            ))
        })
        .transpose()
    }

    /// Every object of a kind in an account, oldest first.
    pub async fn sim_list(&self, account: &str, kind: &str) -> AppResult<Vec<serde_json::Value>> {
        let rows = sqlx::query(
            "SELECT body FROM simulator_objects WHERE account = $1 AND kind = $2 ORDER BY created_at, id",
        )
        .bind(account)
        .bind(kind)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(&r.try_get::<String, _>(0)?).unwrap_or_default()))
            .collect()
    }

    /// Every object of a kind in all accounts, as `(account, body)`.
    pub async fn sim_list_all(&self, kind: &str) -> AppResult<Vec<(String, serde_json::Value)>> {
        let rows = sqlx::query("SELECT account, body FROM simulator_objects WHERE kind = $1")
            .bind(kind)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    serde_json::from_str(&r.try_get::<String, _>(1)?).unwrap_or_default(),
                ))
            })
            .collect()
    }

    pub async fn sim_saved_result(&self, account: &str, key: &str) -> AppResult<Option<SavedResult>> {
        let row = sqlx::query(
            "SELECT fingerprint, status, body FROM simulator_idempotency WHERE account = $1 AND idem_key = $2",
        )
        .bind(account)
        .bind(key)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            Ok(SavedResult {
                fingerprint: r.try_get(0)?,
                status: r.try_get::<i64, _>(1)? as u16,
                body: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Saves a result; `false` if another request saved one under the key first.
    pub async fn sim_save_result(&self, account: &str, key: &str, result: &SavedResult) -> AppResult<bool> {
        let done = sqlx::query(
            "INSERT INTO simulator_idempotency (account, idem_key, fingerprint, status, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(account)
        .bind(key)
        .bind(&result.fingerprint)
        .bind(i64::from(result.status))
        .bind(&result.body)
        .bind(now_ms())
        .execute(&self.write_pool())
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
