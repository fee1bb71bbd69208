//! Site owners' accounts, their console sessions, and one-time setup tokens. Passwords are
//! kept as argon2 hashes; session and setup tokens as SHA-256 of 256-bit random secrets.

use sqlx::Row;

use super::{new_id, now_ms, taken_is_conflict, Store};
use crate::error::AppResult;

/// An account as the console sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub email: String,
}

impl Store {
    /// Creates an account; the first account ever adopts the sites nobody owns yet (the
    /// ones an operator made with `chatpay site add`).
    pub async fn create_account(&self, email: &str, password_hash: &str) -> AppResult<Account> {
        let id = new_id("acct");
        let mut tx = self.begin().await?;
        let first: i64 = sqlx::query("SELECT COUNT(*) AS accounts FROM accounts")
            .fetch_one(&mut tx)
            .await?
            .try_get("accounts")?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(email)
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut tx)
        .await;
        taken_is_conflict(inserted, || {
            format!("an account with the email '{email}' already exists; sign in instead")
        })?;
        if first == 0 {
            sqlx::query("UPDATE sites SET owner_id = $1 WHERE owner_id IS NULL")
                .bind(&id)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Account {
            id,
            email: email.to_owned(),
        })
    }

    /// Every account's id and email, by email.
    pub async fn accounts(&self) -> AppResult<Vec<Account>> {
        let rows = sqlx::query("SELECT id, email FROM accounts ORDER BY email")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Account {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                })
            })
            .collect()
    }

    pub async fn account_count(&self) -> AppResult<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS accounts FROM accounts")
            .fetch_one(self.reader())
            .await?
            .try_get("accounts")?)
    }

    /// `(account, password hash)` for a login.
    pub async fn account_by_email(&self, email: &str) -> AppResult<Option<(Account, String)>> {
        let row = sqlx::query("SELECT id, email, password_hash FROM accounts WHERE email = $1")
            .bind(email)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            Ok((
                Account {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                },
                r.try_get("password_hash")?,
            ))
        })
        .transpose()
    }

    pub async fn create_session(&self, token_hash: &str, account: &str, ttl_ms: i64) -> AppResult<()> {
        let now = now_ms();
        self.write_one(sqlx::query("INSERT INTO console_sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(account)
            .bind(now)
            .bind(now + ttl_ms)
            )
            .await?;
        Ok(())
    }

    /// The account of a live session.
    pub async fn session_account(&self, token_hash: &str) -> AppResult<Option<Account>> {
        let row = sqlx::query(
            "SELECT a.id, a.email FROM console_sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            Ok(Account {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, token_hash: &str) -> AppResult<()> {
        self.write_one(sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1").bind(token_hash))
            .await?;
        Ok(())
    }

    pub async fn create_setup_token(&self, token_hash: &str, ttl_ms: i64) -> AppResult<()> {
        self.write_one(
            sqlx::query("INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, $2)")
                .bind(token_hash)
                .bind(now_ms() + ttl_ms),
        )
        .await?;
        Ok(())
    }

    /// Whether a setup link is there and not expired (it stays).
    pub async fn setup_token_valid(&self, token_hash: &str) -> AppResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT expires_at FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.reader())
        .await?;
        Ok(found.is_some())
    }

    /// Uses up a setup token: `true` if it was valid (it is gone either way).
    pub async fn take_setup_token(&self, token_hash: &str) -> AppResult<bool> {
        let done = self
            .write_one(
                sqlx::query("DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2")
                    .bind(token_hash)
                    .bind(now_ms()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends every console session of an account ("sign out everywhere").
    pub async fn delete_sessions_of(&self, account: &str) -> AppResult<u64> {
        let done = self
            .write_one(sqlx::query("DELETE FROM console_sessions WHERE account_id = $1").bind(account))
            .await?;
        Ok(done.rows_affected())
    }

    /// Removes expired console sessions, setup tokens and old sign-in failures; returns how
    /// many rows went.
    pub async fn purge_expired_access(&self, now: i64, signin_window_ms: i64) -> AppResult<u64> {
        let mut gone = 0;
        for (sql, cutoff) in [
            ("DELETE FROM console_sessions WHERE expires_at < $1", now),
            ("DELETE FROM setup_tokens WHERE expires_at < $1", now),
            (
                "DELETE FROM signin_failures WHERE window_start < $1 AND blocked_until < $1",
                now - signin_window_ms,
            ),
        ] {
            gone += self
                .write_one(sqlx::query(sql).bind(cutoff))
                .await?
                .rows_affected();
        }
        Ok(gone)
    }

    /// Counts a sign-in attempt against each of `keys` (with its number of free tries)
    /// before its password is checked: counted first, so that parallel guesses and guesses
    /// whose client hangs up are counted too. Refused (`Err(until)`, nothing counted) while
    /// any key is blocked. Within a `window_ms` window, the `free`-th attempt and each after
    /// it block the key for `first_block_ms`, doubling, at most `max_block_ms`; a success
    /// gives the attempt back ([`Store::signin_succeeded`]).
    pub async fn signin_attempt(
        &self,
        keys: &[(&str, i64)],
        now: i64,
        window_ms: i64,
        first_block_ms: i64,
        max_block_ms: i64,
    ) -> AppResult<Result<(), i64>> {
        let mut tx = self.begin().await?;
        let mut rows = Vec::with_capacity(keys.len());
        for (key, free) in keys {
            // The upsert takes the row's lock (PostgreSQL) until commit: parallel attempts
            // on one key are counted one after another.
            let row = sqlx::query(
                "INSERT INTO signin_failures (key, failures, window_start, blocked_until) VALUES ($1, 0, $2, 0) \
                 ON CONFLICT (key) DO UPDATE SET failures = signin_failures.failures \
                 RETURNING failures, window_start, blocked_until",
            )
            .bind(*key)
            .bind(now)
            .fetch_one(&mut tx)
            .await?;
            let (failures, start, blocked): (i64, i64, i64) = (
                row.try_get("failures")?,
                row.try_get("window_start")?,
                row.try_get("blocked_until")?,
            );
            rows.push((*key, *free, failures, start, blocked));
        }
        let until = rows.iter().map(|r| r.4).max().unwrap_or(0);
        if until > now {
            tx.commit().await?;
            return Ok(Err(until));
        }
        for (key, free, failures, start, _) in rows {
            let (failures, start) = if start > now - window_ms {
                (failures + 1, start)
            } else {
                (1, now)
            };
            let blocked_until = if failures >= free {
                let doublings = (failures - free).clamp(0, 20) as u32;
                now + first_block_ms.saturating_mul(1 << doublings).min(max_block_ms)
            } else {
                0
            };
            sqlx::query("UPDATE signin_failures SET failures = $2, window_start = $3, blocked_until = $4 WHERE key = $1")
                .bind(key)
                .bind(failures)
                .bind(start)
                .bind(blocked_until)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// A successful sign-in: forgets the failures of `forget` (the email and address) and
    /// gives back the attempt counted against `give_back` (the address).
    pub async fn signin_succeeded(&self, forget: &str, give_back: &str) -> AppResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM signin_failures WHERE key = $1")
            .bind(forget)
            .execute(&mut tx)
            .await?;
        sqlx::query(
            "UPDATE signin_failures SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END WHERE key = $1",
        )
        .bind(give_back)
        .execute(&mut tx)
        .await?;
        tx.commit().await
    }
}
