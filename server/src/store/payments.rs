//! Payments as stored, and their transitions.

use chatpay_shared::protocol::PaymentStatus;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_ms, Store, Tx};
use crate::error::{AppError, AppResult};
use crate::payments::transition;

/// A payment row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: String,
    pub site_id: String,
    pub conversation_id: Option<String>,
    pub amount_minor: i64,
    /// Upper-case ISO code.
    pub currency: String,
    pub description: String,
    pub status: PaymentStatus,
    pub session_id: Option<String>,
    pub checkout_url: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    pub resolved_by: Option<String>,
    /// Return URLs a workflow node chose over the site's defaults.
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
}

/// What to insert.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub site_id: &'a str,
    pub conversation_id: Option<&'a str>,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub description: &'a str,
    pub expires_at: i64,
    pub success_url: Option<&'a str>,
    pub cancel_url: Option<&'a str>,
}

/// A status change that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: PaymentStatus,
    pub to: PaymentStatus,
}

const COLUMNS: &str = "id, site_id, conversation_id, amount_minor, currency, description, status, \
                       session_id, checkout_url, expires_at, resolved_by, success_url, cancel_url";

fn from_row(r: &AnyRow) -> AppResult<Payment> {
    let status: String = r.try_get(6)?;
    Ok(Payment {
        id: r.try_get(0)?,
        site_id: r.try_get(1)?,
        conversation_id: r.try_get(2)?,
        amount_minor: r.try_get(3)?,
        currency: r.try_get(4)?,
        description: r.try_get(5)?,
        status: PaymentStatus::parse(&status).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("unknown payment status '{status}' in the store"))
        })?,
        session_id: r.try_get(7)?,
        checkout_url: r.try_get(8)?,
        expires_at: r.try_get(9)?,
        resolved_by: r.try_get(10)?,
        success_url: r.try_get(11)?,
        cancel_url: r.try_get(12)?,
    })
}

/// Inserts a pending payment.
pub async fn insert(tx: &mut Tx, p: &NewPayment<'_>) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO payments (id, site_id, conversation_id, amount_minor, currency, description, status, \
         expires_at, success_url, cancel_url, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $10, $10)",
    )
    .bind(p.id)
    .bind(p.site_id)
    .bind(p.conversation_id)
    .bind(p.amount_minor)
    .bind(p.currency)
    .bind(p.description)
    .bind(p.expires_at)
    .bind(p.success_url)
    .bind(p.cancel_url)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Records the Checkout Session created for a payment.
pub async fn set_session(tx: &mut Tx, payment: &str, session_id: &str, url: Option<&str>) -> AppResult<()> {
    sqlx::query("UPDATE payments SET session_id = $1, checkout_url = COALESCE($2, checkout_url), updated_at = $3 WHERE id = $4")
        .bind(session_id)
        .bind(url)
        .bind(now_ms())
        .bind(payment)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A payment by id, read inside a transaction.
pub async fn get(tx: &mut Tx, id: &str) -> AppResult<Option<Payment>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Moves a payment towards `target` if the state machine allows it, and records the change
/// with its `source` (an event id, `reconcile`, `decline`). `None`: nothing changed.
pub async fn apply(
    tx: &mut Tx,
    payment: &str,
    target: PaymentStatus,
    source: &str,
) -> AppResult<Option<Transition>> {
    match get(tx, payment).await? {
        Some(current) => apply_from(tx, &current, target, source).await,
        None => Ok(None),
    }
}

/// [`apply`] for a payment already read in this transaction (saves a read on hot paths).
pub async fn apply_from(
    tx: &mut Tx,
    current: &Payment,
    target: PaymentStatus,
    source: &str,
) -> AppResult<Option<Transition>> {
    let mut from = current.status;
    // Two tries: a concurrent writer may change the status between the read and the update
    // (PostgreSQL); the conditional update notices, and the second read sees its result.
    for attempt in 0..2 {
        if attempt > 0 {
            match get(tx, &current.id).await? {
                Some(p) => from = p.status,
                None => return Ok(None),
            }
        }
        let Some(next) = transition(from, target) else {
            return Ok(None);
        };
        let now = now_ms();
        let resolved_by = next.is_terminal().then(|| source_kind(source));
        let done = sqlx::query(
            "UPDATE payments SET status = $1, updated_at = $2, resolved_by = COALESCE($3, resolved_by) \
             WHERE id = $4 AND status = $5",
        )
        .bind(next.as_str())
        .bind(now)
        .bind(resolved_by)
        .bind(&current.id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            continue;
        }
        // The machine allows at most two changes: from pending (first), from processing (second).
        let seq = if from == PaymentStatus::Pending { 1 } else { 2 };
        sqlx::query(
            "INSERT INTO payment_transitions (payment_id, seq, from_status, to_status, source, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&current.id)
        .bind(seq)
        .bind(from.as_str())
        .bind(next.as_str())
        .bind(source)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        return Ok(Some(Transition { from, to: next }));
    }
    Ok(None)
}

/// `webhook` for event ids, otherwise the source itself.
fn source_kind(source: &str) -> &str {
    if source.starts_with("evt_") {
        "webhook"
    } else {
        source
    }
}

impl Store {
    /// Moves a payment's link expiry (before its session exists).
    pub async fn set_payment_expiry(&self, id: &str, expires_at: i64) -> AppResult<()> {
        sqlx::query("UPDATE payments SET expires_at = $1, updated_at = $2 WHERE id = $3")
            .bind(expires_at)
            .bind(now_ms())
            .bind(id)
            .execute(&self.write_pool())
            .await?;
        Ok(())
    }

    /// A payment by id.
    pub async fn payment(&self, id: &str) -> AppResult<Option<Payment>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The recorded transitions of a payment, oldest first, as `(from, to, source)`.
    pub async fn payment_transitions(&self, id: &str) -> AppResult<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT from_status, to_status, source FROM payment_transitions WHERE payment_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// A conversation's payments that are still open and have a session (reconnect check).
    pub async fn open_payments_of(&self, conversation: &str) -> AppResult<Vec<Payment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE conversation_id = $1 AND status IN ('pending', 'processing') \
             AND session_id IS NOT NULL"
        ))
        .bind(conversation)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Payments still open (pending or processing) whose link expired before `now_secs`.
    pub async fn overdue_payments(&self, now_secs: i64, limit: i64) -> AppResult<Vec<Payment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE status IN ('pending', 'processing') AND expires_at < $1 \
             ORDER BY expires_at LIMIT $2"
        ))
        .bind(now_secs)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(from_row).collect()
    }
}
