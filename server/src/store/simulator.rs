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
    /// The HTTP status the first answer had (replayed with it).
    pub status: u16,
    pub body: String,
}

/// When the simulator's sweep has something to do about an object (see the migration
/// `0009_simulator_due.sql`): an open session at its expiry, a delayed payment when it
/// settles (simulator clock, ms), a pending delivery at its next attempt (real ms).
fn due_of(kind: &str, body: &serde_json::Value) -> Option<i64> {
    match kind {
        "checkout.session" => {
            let expiry = (body["status"] == "open")
                .then(|| body["expires_at"].as_i64())
                .flatten()
                .map(|s| s.saturating_mul(1000));
            let settle = body["x_simulator_settle_at"]
                .as_i64()
                .map(|s| s.saturating_mul(1000));
            match (expiry, settle) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        "x_simulator_delivery" => (body["status"] == "pending")
            .then(|| body["next_at_ms"].as_i64())
            .flatten(),
        _ => None,
    }
}

/// What the simulator keeps for good: its accounts' settings. Everything else (sessions,
/// events, deliveries, payments) is forgotten a week after it is done.
const KEPT: [&str; 2] = ["webhook_endpoint", "payment_method_configuration"];

impl Store {
    pub async fn sim_put(
        &self,
        account: &str,
        kind: &str,
        id: &str,
        body: &serde_json::Value,
    ) -> AppResult<()> {
        self.write_one(sqlx::query(
            "INSERT INTO simulator_objects (id, account, kind, body, created_at, due_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, due_at = excluded.due_at",
        )
        .bind(id)
        .bind(account)
        .bind(kind)
        .bind(body.to_string())
        .bind(now_ms())
        .bind(due_of(kind, body))
        )
        .await?;
        Ok(())
    }

    /// Objects of `kind` due at `now` (ms, in the clock [`due_of`] uses for the kind), at
    /// most `limit`, as `(account, body)`.
    pub async fn sim_due(
        &self,
        kind: &str,
        now: i64,
        limit: i64,
    ) -> AppResult<Vec<(String, serde_json::Value)>> {
        let rows = sqlx::query(
            "SELECT account, body FROM simulator_objects WHERE kind = $1 AND due_at <= $2 ORDER BY due_at LIMIT $3",
        )
        .bind(kind)
        .bind(now)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(account_and_body).collect()
    }

    /// Stores an object's due moment again (rows marked due by the migration).
    pub async fn sim_refresh_due(&self, kind: &str, id: &str, body: &serde_json::Value) -> AppResult<()> {
        self.write_one(
            sqlx::query("UPDATE simulator_objects SET due_at = $2 WHERE id = $1")
                .bind(id)
                .bind(due_of(kind, body)),
        )
        .await?;
        Ok(())
    }

    /// Forgets what is done and older than `keep_ms` (the accounts' endpoints and settings
    /// stay), and idempotent results older than `idempotency_ms` (Stripe keeps them 24 h).
    /// Returns how many rows went.
    pub async fn sim_forget_old(&self, now: i64, keep_ms: i64, idempotency_ms: i64) -> AppResult<u64> {
        let objects = self.write_one(sqlx::query(
            "DELETE FROM simulator_objects WHERE due_at IS NULL AND created_at < $1 AND kind <> $2 AND kind <> $3",
        )
        .bind(now - keep_ms)
        .bind(KEPT[0])
        .bind(KEPT[1])
        )
        .await?;
        let results = self
            .write_one(
                sqlx::query("DELETE FROM simulator_idempotency WHERE created_at < $1")
                    .bind(now - idempotency_ms),
            )
            .await?;
        Ok(objects.rows_affected() + results.rows_affected())
    }

    pub async fn sim_get(&self, account: &str, id: &str) -> AppResult<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT body FROM simulator_objects WHERE id = $1 AND account = $2")
            .bind(id)
            .bind(account)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| Ok(serde_json::from_str(&r.try_get::<String, _>("body")?).unwrap_or_default()))
            .transpose()
    }

    /// Deletes an object of `kind` by id in an account; `false` when there was none.
    pub async fn sim_delete(&self, account: &str, kind: &str, id: &str) -> AppResult<bool> {
        let done = self
            .write_one(
                sqlx::query("DELETE FROM simulator_objects WHERE id = $1 AND account = $2 AND kind = $3")
                    .bind(id)
                    .bind(account)
                    .bind(kind),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// An object by id in any account, with its account (the hosted page has no key).
    pub async fn sim_get_any(&self, id: &str) -> AppResult<Option<(String, serde_json::Value)>> {
        let row = sqlx::query("SELECT account, body FROM simulator_objects WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(account_and_body).transpose()
    }

    /// The newest objects of a kind in every account, as `(account, body)`, at most `limit`.
    pub async fn sim_recent(&self, kind: &str, limit: i64) -> AppResult<Vec<(String, serde_json::Value)>> {
        let rows = sqlx::query(
            "SELECT account, body FROM simulator_objects WHERE kind = $1 ORDER BY created_at DESC, id LIMIT $2",
        )
        .bind(kind)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(account_and_body).collect()
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
            .map(|r| Ok(serde_json::from_str(&r.try_get::<String, _>("body")?).unwrap_or_default()))
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
                fingerprint: r.try_get("fingerprint")?,
                status: r.try_get::<i64, _>("status")? as u16,
                body: r.try_get("body")?,
            })
        })
        .transpose()
    }

    /// Saves a result; `false` if another request saved one under the key first.
    pub async fn sim_save_result(&self, account: &str, key: &str, result: &SavedResult) -> AppResult<bool> {
        let done = self.write_one(sqlx::query(
            "INSERT INTO simulator_idempotency (account, idem_key, fingerprint, status, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(account)
        .bind(key)
        .bind(&result.fingerprint)
        .bind(i64::from(result.status))
        .bind(&result.body)
        .bind(now_ms())
        )
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// A `SELECT account, body …` row as `(account, body)` (a body that is not JSON reads as
/// null).
fn account_and_body(r: &sqlx::any::AnyRow) -> AppResult<(String, serde_json::Value)> {
    Ok((
        r.try_get("account")?,
        serde_json::from_str(&r.try_get::<String, _>("body")?).unwrap_or_default(),
    ))
}
