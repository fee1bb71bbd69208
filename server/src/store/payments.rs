//! Payments as stored: the row, its status transitions, the lease a create call holds, the
//! sweep's schedule, and every Checkout Session a payment ever had.
//!
//! A payment's Checkout Session parameters and idempotency key are fixed on the row before
//! the first create call ([`claim_for_open`]) and never change after, except that a key is
//! replaced together with the expiry once Stripe has definitely refused the request
//! ([`Store::rotate_expiry`]). The session the card shows (`session_id`) is set once and
//! never overwritten ([`set_session`]).

use chatpay_shared::protocol::PaymentStatus;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_ms, Dialect, Store, Tx};
use crate::domain::SiteId;
use crate::error::{AppError, AppResult};

/// Who asked for a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// A workflow's Request Payment node: the run waits for it.
    Workflow,
    /// A person in the console's inbox.
    Agent,
}

impl Requester {
    pub fn as_str(self) -> &'static str {
        match self {
            Requester::Workflow => "workflow",
            Requester::Agent => "agent",
        }
    }
}

/// A payment row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: String,
    pub site_id: SiteId,
    pub conversation_id: Option<String>,
    /// In the currency's minor units.
    pub amount_minor: i64,
    /// Upper-case ISO code.
    pub currency: String,
    pub description: String,
    pub status: PaymentStatus,
    /// The session the card shows; set once, never replaced.
    pub session_id: Option<String>,
    pub checkout_url: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    pub resolved_by: Option<String>,
    /// Where Checkout returns to. Before the first create call: a workflow node's override
    /// (if any); from then on the URL actually sent.
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    /// The create call's key; `None` until the first create call is prepared.
    pub idempotency_key: Option<String>,
    pub payment_method_configuration: Option<String>,
    /// The mode of the key the session is created with (`None`: written by an older relay).
    pub livemode: Option<bool>,
    /// Unix ms until which a create call owns the payment.
    pub lease_until: Option<i64>,
    /// Unix ms of the sweep's next look (a payment with a session).
    pub next_check_at: Option<i64>,
    /// How many times the sweep (or a failed create call) looked already.
    pub checks: i64,
    pub requested_by: Requester,
    /// Why a person must look at it (mismatch, double charge).
    pub problem: Option<String>,
    /// The published workflow version whose Request Payment node asked (`None`: an agent's,
    /// or written by an older relay).
    pub workflow_version: Option<i64>,
    /// The email of the console account that asked (an agent's payment).
    pub agent: Option<String>,
    /// The PaymentIntent of the session that took the money.
    pub payment_intent: Option<String>,
    /// How much Stripe has refunded of it, in minor units (refunds made at Stripe).
    pub refunded_minor: i64,
    /// The status of a dispute on it, in Stripe's words (`needs_response`, `won`, `lost`, …).
    pub dispute: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Checkout's page for this payment: `None` Stripe's hosted page, `Some("embedded_page")`
    /// the embedded one (fixed with the create parameters).
    pub ui_mode: Option<String>,
    /// An embedded session's client secret, sealed with the relay's key (bound to the
    /// payment id).
    pub client_secret_enc: Option<String>,
    /// The publishable key an embedded session is mounted with (fixed with it).
    pub publishable_key: Option<String>,
}

/// What to insert.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub site_id: &'a SiteId,
    pub conversation_id: Option<&'a str>,
    /// In the currency's minor units.
    pub amount_minor: i64,
    /// Upper-case ISO code.
    pub currency: &'a str,
    pub description: &'a str,
    /// Unix seconds (within Stripe's 30 minutes to 24 hours).
    pub expires_at: i64,
    pub success_url: Option<&'a str>,
    pub cancel_url: Option<&'a str>,
    pub requested_by: Requester,
    /// The console's key for a manual request (one payment per key and conversation).
    pub request_key: Option<&'a str>,
    /// The published workflow version whose node asked (a workflow's payment).
    pub workflow_version: Option<i64>,
    /// The email of the console account that asked (an agent's payment).
    pub agent: Option<&'a str>,
}

/// A status change that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: PaymentStatus,
    pub to: PaymentStatus,
}

/// Everything the create call sends that is not on the row from the start.
#[derive(Debug, Clone)]
pub struct OpenParams {
    pub idempotency_key: String,
    pub success_url: String,
    pub cancel_url: String,
    pub payment_method_configuration: Option<String>,
    pub livemode: bool,
    /// Checkout's page: `None` hosted, `Some("embedded_page")` embedded.
    pub ui_mode: Option<String>,
    /// The publishable key that mounts an embedded session.
    pub publishable_key: Option<String>,
}

const COLUMNS: &str = "id, site_id, conversation_id, amount_minor, currency, description, status, \
     session_id, checkout_url, expires_at, resolved_by, success_url, cancel_url, idempotency_key, \
     payment_method_configuration, livemode, lease_until, next_check_at, checks, requested_by, problem, workflow_version, agent, \
     payment_intent, refunded_minor, dispute, created_at, ui_mode, client_secret_enc, publishable_key";

fn from_row(r: &AnyRow) -> AppResult<Payment> {
    let status: String = r.try_get("status")?;
    let requested_by: Option<String> = r.try_get("requested_by")?;
    Ok(Payment {
        id: r.try_get("id")?,
        site_id: SiteId::from_stored(r.try_get("site_id")?),
        conversation_id: r.try_get("conversation_id")?,
        amount_minor: r.try_get("amount_minor")?,
        currency: r.try_get("currency")?,
        description: r.try_get("description")?,
        status: PaymentStatus::parse(&status).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("unknown payment status '{status}' in the store"))
        })?,
        session_id: r.try_get("session_id")?,
        checkout_url: r.try_get("checkout_url")?,
        expires_at: r.try_get("expires_at")?,
        resolved_by: r.try_get("resolved_by")?,
        success_url: r.try_get("success_url")?,
        cancel_url: r.try_get("cancel_url")?,
        idempotency_key: r.try_get("idempotency_key")?,
        payment_method_configuration: r.try_get("payment_method_configuration")?,
        livemode: r.try_get::<Option<i64>, _>("livemode")?.map(|m| m != 0),
        lease_until: r.try_get("lease_until")?,
        next_check_at: r.try_get("next_check_at")?,
        checks: r.try_get("checks")?,
        requested_by: match requested_by.as_deref() {
            Some("agent") => Requester::Agent,
            _ => Requester::Workflow,
        },
        problem: r.try_get("problem")?,
        workflow_version: r.try_get("workflow_version")?,
        agent: r.try_get("agent")?,
        payment_intent: r.try_get("payment_intent")?,
        refunded_minor: r.try_get("refunded_minor")?,
        dispute: r.try_get("dispute")?,
        created_at: r.try_get("created_at")?,
        ui_mode: r.try_get("ui_mode")?,
        client_secret_enc: r.try_get("client_secret_enc")?,
        publishable_key: r.try_get("publishable_key")?,
    })
}

/// Inserts a pending payment. `false`: a payment with this request key exists already in
/// the conversation (a repeated manual request), and nothing was written.
pub async fn insert(tx: &mut Tx, p: &NewPayment<'_>) -> AppResult<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO payments (id, site_id, conversation_id, amount_minor, currency, description, status, \
         expires_at, success_url, cancel_url, requested_by, request_key, workflow_version, agent, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $10, $11, $12, $13, $14, $14) \
         ON CONFLICT (conversation_id, request_key) DO NOTHING",
    )
    .bind(p.id)
    .bind(p.site_id.as_str())
    .bind(p.conversation_id)
    .bind(p.amount_minor)
    .bind(p.currency)
    .bind(p.description)
    .bind(p.expires_at)
    .bind(p.success_url)
    .bind(p.cancel_url)
    .bind(p.requested_by.as_str())
    .bind(p.request_key)
    .bind(p.workflow_version)
    .bind(p.agent)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The payment a manual request key made in a conversation, if any.
pub async fn by_request_key(tx: &mut Tx, conversation: &str, key: &str) -> AppResult<Option<Payment>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE conversation_id = $1 AND request_key = $2"
    ))
    .bind(conversation)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// What [`set_session`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionSet {
    /// The payment had no session: this one is its session now.
    Set,
    /// It is the payment's session already.
    Same,
    /// The payment has another session (this one is a stray); or the payment is gone.
    Other(Option<String>),
}

/// Makes `session_id` the payment's session unless it has one, and ends any create lease.
/// A stored session id is never overwritten.
pub async fn set_session(
    tx: &mut Tx,
    payment: &str,
    session_id: &str,
    url: Option<&str>,
    next_check_at: i64,
) -> AppResult<SessionSet> {
    let done = sqlx::query(
        "UPDATE payments SET session_id = $1, checkout_url = COALESCE($2, checkout_url), lease_until = NULL, \
         next_check_at = $3, updated_at = $4 WHERE id = $5 AND session_id IS NULL",
    )
    .bind(session_id)
    .bind(url)
    .bind(next_check_at)
    .bind(now_ms())
    .bind(payment)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(SessionSet::Set);
    }
    let current: Option<Option<String>> = sqlx::query_scalar("SELECT session_id FROM payments WHERE id = $1")
        .bind(payment)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(match current {
        Some(Some(s)) if s == session_id => SessionSet::Same,
        Some(s) => SessionSet::Other(s),
        None => SessionSet::Other(None),
    })
}

/// Keeps an embedded session's client secret (sealed by the caller) on its payment, once.
pub async fn set_client_secret(tx: &mut Tx, payment: &str, sealed: &str) -> AppResult<()> {
    sqlx::query("UPDATE payments SET client_secret_enc = $1 WHERE id = $2 AND client_secret_enc IS NULL")
        .bind(sealed)
        .bind(payment)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// What a session's record says after [`record_session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRecord {
    /// Another session of the same payment was paid before this one.
    pub another_paid: bool,
}

/// What was last heard of a session (`open`, `complete`, `expired`), if it is recorded.
pub async fn session_status(tx: &mut Tx, session_id: &str) -> AppResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT status FROM payment_sessions WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await?,
    )
}

/// Records what Stripe said of one session of a payment (every session a payment had is
/// kept), and whether another session of the payment is paid. News never goes back to
/// `open`: the create call's answer can come after Stripe's word that the session ended.
pub async fn record_session(
    tx: &mut Tx,
    payment: &str,
    session_id: &str,
    status: &str,
    paid: bool,
    payment_intent: Option<&str>,
) -> AppResult<SessionRecord> {
    // One statement: the row, and how many *other* sessions of the payment took money (the
    // count leaves this session out, so it reads the same whether or not it sees this row).
    let others: i64 = sqlx::query_scalar(
        "INSERT INTO payment_sessions (session_id, payment_id, status, paid, payment_intent, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO UPDATE SET \
         status = CASE WHEN excluded.status = 'open' THEN payment_sessions.status ELSE excluded.status END, \
         paid = CASE WHEN payment_sessions.paid = 1 THEN 1 ELSE excluded.paid END, \
         payment_intent = COALESCE(excluded.payment_intent, payment_sessions.payment_intent) \
         RETURNING (SELECT COUNT(*) FROM payment_sessions o \
                    WHERE o.payment_id = $2 AND o.session_id <> $1 AND o.paid = 1)",
    )
    .bind(session_id)
    .bind(payment)
    .bind(status)
    .bind(i64::from(paid))
    .bind(payment_intent)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    Ok(SessionRecord {
        another_paid: others > 0,
    })
}

/// Marks a paid session to be refunded (a second charge for one payment); `true` when it
/// was not marked before.
pub async fn mark_refund_due(tx: &mut Tx, session_id: &str) -> AppResult<bool> {
    let done =
        sqlx::query("UPDATE payment_sessions SET refund = 'due' WHERE session_id = $1 AND refund IS NULL")
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Notes why a person must look at a payment.
pub async fn set_problem(tx: &mut Tx, payment: &str, problem: &str) -> AppResult<()> {
    sqlx::query("UPDATE payments SET problem = $1, updated_at = $2 WHERE id = $3")
        .bind(problem)
        .bind(now_ms())
        .bind(payment)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Keeps why a payment's session could not be created.
pub async fn set_open_error(tx: &mut Tx, payment: &str, why: &str) -> AppResult<()> {
    sqlx::query("UPDATE payments SET open_error = $1 WHERE id = $2")
        .bind(why)
        .bind(payment)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Keeps the PaymentIntent that took a payment's money (the first one heard; a second
/// charge's intent is refunded, not the payment's).
pub async fn set_payment_intent(tx: &mut Tx, payment: &str, payment_intent: &str) -> AppResult<()> {
    sqlx::query("UPDATE payments SET payment_intent = COALESCE(payment_intent, $1) WHERE id = $2")
        .bind(payment_intent)
        .bind(payment)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Whose money a PaymentIntent of `site` is: the payment, and whether chatpay itself is
/// refunding that session (a second charge), so Stripe's word of that refund is not the
/// owner's refund of the payment.
pub async fn of_intent(
    tx: &mut Tx,
    site: &SiteId,
    payment_intent: &str,
) -> AppResult<Option<(String, bool)>> {
    let row = sqlx::query(
        "SELECT s.payment_id AS payment_id, s.refund AS refund FROM payment_sessions s \
         JOIN payments p ON p.id = s.payment_id WHERE s.payment_intent = $1 AND p.site_id = $2",
    )
    .bind(payment_intent)
    .bind(site.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("payment_id")?,
            r.try_get::<Option<String>, _>("refund")?.is_some(),
        ))
    })
    .transpose()
}

/// Records how much Stripe has refunded of a payment in all (a `charge.refunded`'s
/// `amount_refunded`, which only grows); `true` when it grew. A late, older event changes
/// nothing.
pub async fn set_refunded(tx: &mut Tx, payment: &str, refunded_minor: i64) -> AppResult<bool> {
    let done = sqlx::query(
        "UPDATE payments SET refunded_minor = $1, updated_at = $2 WHERE id = $3 AND refunded_minor < $1",
    )
    .bind(refunded_minor)
    .bind(now_ms())
    .bind(payment)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a dispute's status on a payment; `true` when it changed.
pub async fn set_dispute(tx: &mut Tx, payment: &str, status: &str) -> AppResult<bool> {
    let current: Option<Option<String>> = sqlx::query_scalar("SELECT dispute FROM payments WHERE id = $1")
        .bind(payment)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(current) = current else {
        return Ok(false);
    };
    // A settled dispute stays settled (a late or repeated word changes nothing).
    if !crate::domain::dispute_may_move(current.as_deref(), status) {
        return Ok(false);
    }
    sqlx::query("UPDATE payments SET dispute = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now_ms())
        .bind(payment)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// Keeps a request a workflow's node made that created no payment (see `payment_refusals`).
pub async fn insert_refusal(
    tx: &mut Tx,
    site: &SiteId,
    conversation: &str,
    workflow_version: i64,
    node: &str,
    reason: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO payment_refusals (site_id, conversation_id, workflow_version, node, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(site.as_str())
    .bind(conversation)
    .bind(workflow_version)
    .bind(node)
    .bind(reason)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A refused request as the conversion report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub workflow_version: Option<i64>,
    /// `invalid_amount` or `too_many`.
    pub reason: String,
    /// Unix ms.
    pub at: i64,
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

/// How long a payment that went to `processing` waits for the sweep's next look, in ms
/// (a delayed method's webhook usually comes first).
const PROCESSING_CHECK_MS: i64 = 15 * 60 * 1000;

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
        let Some(next) = from.next(target) else {
            return Ok(None);
        };
        let now = now_ms();
        let resolved_by = next.is_terminal().then(|| source_kind(source));
        // A terminal payment needs no more looks; a processing one is looked at later.
        let next_check = match next {
            PaymentStatus::Processing => Some(now + PROCESSING_CHECK_MS),
            _ => None,
        };
        // The machine allows at most two changes: from pending (first), from processing (second).
        let seq: i32 = if from == PaymentStatus::Pending { 1 } else { 2 };
        const MOVE: &str =
            "UPDATE payments SET status = $1, updated_at = $2, resolved_by = COALESCE($3, resolved_by), \
             lease_until = NULL, next_check_at = $4 WHERE id = $5 AND status = $6";
        const NOTE: &str =
            "INSERT INTO payment_transitions (payment_id, seq, from_status, to_status, source, at)";
        let moved = if tx.dialect() == Dialect::Postgres {
            // One statement: the move, and its transition only if it moved.
            let sql = [
                "WITH moved AS (",
                MOVE,
                " RETURNING id) ",
                NOTE,
                " SELECT id, $7, $6, $1, $8, $2 FROM moved",
            ]
            .concat();
            sqlx::query(&sql)
                .bind(next.as_str())
                .bind(now)
                .bind(resolved_by)
                .bind(next_check)
                .bind(&current.id)
                .bind(from.as_str())
                .bind(seq)
                .bind(source)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1
        } else {
            let done = sqlx::query(MOVE)
                .bind(next.as_str())
                .bind(now)
                .bind(resolved_by)
                .bind(next_check)
                .bind(&current.id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 1 {
                sqlx::query(&[NOTE, " VALUES ($1, $2, $3, $4, $5, $6)"].concat())
                    .bind(&current.id)
                    .bind(seq)
                    .bind(from.as_str())
                    .bind(next.as_str())
                    .bind(source)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                true
            } else {
                false
            }
        };
        if !moved {
            continue;
        }
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

/// Claims a pending, session-less payment for a create call until `lease_until` (unix ms),
/// unless another caller holds it. `params` fixes the create call's parameters and key on
/// the row, and is only used when they are not fixed yet. Returns the payment as claimed.
pub async fn claim_for_open(
    store: &Store,
    id: &str,
    now: i64,
    lease_until: i64,
    params: Option<&OpenParams>,
) -> AppResult<Option<Payment>> {
    let done = match params {
        Some(p) => store.write_one(sqlx::query(
            "UPDATE payments SET lease_until = $1, idempotency_key = $2, success_url = $3, cancel_url = $4, \
                 payment_method_configuration = $5, livemode = $6, updated_at = $7, ui_mode = $9, \
                 publishable_key = $10 WHERE id = $8 \
                 AND status = 'pending' AND session_id IS NULL AND idempotency_key IS NULL \
                 AND COALESCE(lease_until, 0) <= $7",
        )
        .bind(lease_until)
        .bind(&p.idempotency_key)
        .bind(&p.success_url)
        .bind(&p.cancel_url)
        .bind(&p.payment_method_configuration)
        .bind(i64::from(p.livemode))
        .bind(now)
        .bind(id)
        .bind(&p.ui_mode)
        .bind(&p.publishable_key)
        )
        .await?,
        None => {
            store.write_one(sqlx::query(
                "UPDATE payments SET lease_until = $1, updated_at = $2 WHERE id = $3 AND status = 'pending' \
                 AND session_id IS NULL AND idempotency_key IS NOT NULL AND COALESCE(lease_until, 0) <= $2",
            )
            .bind(lease_until)
            .bind(now)
            .bind(id)
            )
            .await?
        }
    };
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    store.payment(id).await
}

impl Store {
    /// Ends a create lease after a call that may be tried again, no sooner than `retry_at`
    /// (unix ms); counts the try.
    pub async fn release_lease(&self, id: &str, retry_at: i64) -> AppResult<()> {
        self.write_one(
            sqlx::query(
                "UPDATE payments SET lease_until = $1, checks = checks + 1, updated_at = $2 \
             WHERE id = $3 AND session_id IS NULL",
            )
            .bind(retry_at)
            .bind(now_ms())
            .bind(id),
        )
        .await?;
        Ok(())
    }

    /// After Stripe definitely refused a create call for its expiry (a long outage made it
    /// too close): a new expiry and a new key, while the caller still holds the lease.
    pub async fn rotate_expiry(
        &self,
        id: &str,
        expires_at: i64,
        idempotency_key: &str,
        lease_until: i64,
    ) -> AppResult<()> {
        self.write_one(sqlx::query(
            "UPDATE payments SET expires_at = $1, idempotency_key = $2, lease_until = $3, updated_at = $4 \
             WHERE id = $5 AND session_id IS NULL",
        )
        .bind(expires_at)
        .bind(idempotency_key)
        .bind(lease_until)
        .bind(now_ms())
        .bind(id)
        )
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
            .map(|r| {
                Ok((
                    r.try_get("from_status")?,
                    r.try_get("to_status")?,
                    r.try_get("source")?,
                ))
            })
            .collect()
    }

    /// Every session a payment had, as `(session id, status, paid, refund)`, oldest first.
    pub async fn payment_sessions(&self, id: &str) -> AppResult<Vec<(String, String, bool, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT session_id, status, paid, refund FROM payment_sessions WHERE payment_id = $1 \
             ORDER BY created_at, session_id",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("session_id")?,
                    r.try_get("status")?,
                    r.try_get::<i64, _>("paid")? != 0,
                    r.try_get("refund")?,
                ))
            })
            .collect()
    }

    /// The session of a payment that Stripe reported complete most recently, if any (the
    /// one a delayed payment's money moves through).
    pub async fn completed_session_of(&self, payment: &str) -> AppResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT session_id FROM payment_sessions WHERE payment_id = $1 AND status = 'complete' \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(payment)
        .fetch_optional(self.reader())
        .await?)
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

    /// Open payments with a session whose next look is due at `now` (unix ms), the most
    /// overdue first. A payment written by an older relay has no schedule: its look is due
    /// a minute after its link expired.
    pub async fn payments_due(&self, now: i64, limit: i64) -> AppResult<Vec<Payment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE status IN ('pending', 'processing') AND session_id IS NOT NULL \
             AND COALESCE(next_check_at, expires_at * 1000 + 60000) <= $1 \
             ORDER BY COALESCE(next_check_at, expires_at * 1000 + 60000) LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Takes a due payment's look for this caller: moves its next look to `next` (unix ms)
    /// if it is still where `seen` says. `false`: another relay took it.
    pub async fn claim_check(&self, seen: &Payment, next: i64) -> AppResult<bool> {
        let done = self.write_one(sqlx::query(
            "UPDATE payments SET next_check_at = $1, checks = checks + 1 WHERE id = $2 AND checks = $3 \
             AND status IN ('pending', 'processing')",
        )
        .bind(next)
        .bind(&seen.id)
        .bind(seen.checks)
        )
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Pending payments without a session whose create call nobody holds (a relay stopped
    /// mid-call, or a try failed and its retry time came), created before `created_before`.
    pub async fn payments_unopened(
        &self,
        now: i64,
        created_before: i64,
        limit: i64,
    ) -> AppResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM payments WHERE status = 'pending' AND session_id IS NULL \
             AND COALESCE(lease_until, 0) <= $1 AND created_at < $2 ORDER BY created_at LIMIT $3",
        )
        .bind(now)
        .bind(created_before)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// Paid sessions marked for a refund that has not been made, as `(session, payment,
    /// payment_intent)`.
    pub async fn refunds_due(&self, limit: i64) -> AppResult<Vec<(String, String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT session_id, payment_id, payment_intent FROM payment_sessions WHERE refund = 'due' LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("session_id")?,
                    r.try_get("payment_id")?,
                    r.try_get("payment_intent")?,
                ))
            })
            .collect()
    }

    /// A site's payments that need a person (a mismatch, a double charge), newest first, as
    /// `(payment, status, problem)`, and how many there are.
    pub async fn payment_problems(
        &self,
        site: &SiteId,
        limit: i64,
    ) -> AppResult<(i64, Vec<(String, String, String)>)> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE site_id = $1 AND problem IS NOT NULL")
                .bind(site.as_str())
                .fetch_one(self.reader())
                .await?;
        let rows = sqlx::query(
            "SELECT id, status, problem FROM payments WHERE site_id = $1 AND problem IS NOT NULL \
             ORDER BY updated_at DESC LIMIT $2",
        )
        .bind(site.as_str())
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        let list = rows
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("status")?, r.try_get("problem")?)))
            .collect::<AppResult<_>>()?;
        Ok((count, list))
    }

    /// Payments of `site` whose session could not be created since `since_ms`: how many,
    /// and the newest one's reason.
    pub async fn unopened_since(&self, site: &SiteId, since_ms: i64) -> AppResult<(i64, Option<String>)> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments WHERE site_id = $1 AND open_error IS NOT NULL AND updated_at >= $2",
        )
        .bind(site.as_str())
        .bind(since_ms)
        .fetch_one(self.reader())
        .await?;
        let last: Option<String> = sqlx::query_scalar(
            "SELECT open_error FROM payments WHERE site_id = $1 AND open_error IS NOT NULL AND updated_at >= $2 \
             ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(site.as_str())
        .bind(since_ms)
        .fetch_optional(self.reader())
        .await?;
        Ok((count, last))
    }

    /// How many of `site`'s payments have been processing since before `before_ms`, and
    /// whether Stripe ever sent the site one of the async payment events.
    pub async fn processing_without_news(&self, site: &SiteId, before_ms: i64) -> AppResult<(i64, bool)> {
        let stale: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments WHERE site_id = $1 AND status = 'processing' AND updated_at < $2",
        )
        .bind(site.as_str())
        .bind(before_ms)
        .fetch_one(self.reader())
        .await?;
        let seen: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM stripe_events WHERE site_id = $1 \
             AND event_type IN ('checkout.session.async_payment_succeeded', 'checkout.session.async_payment_failed')",
        )
        .bind(site.as_str())
        .fetch_one(self.reader())
        .await?;
        Ok((stale, seen > 0))
    }

    /// Every payment of a conversation, oldest first.
    pub async fn conversation_payments(&self, conversation: &str) -> AppResult<Vec<Payment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE conversation_id = $1 ORDER BY created_at, id"
        ))
        .bind(conversation)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// `site`'s payments made in `[from_ms, to_ms)`, newest first, at most `limit`.
    pub async fn site_payments(
        &self,
        site: &SiteId,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> AppResult<Vec<Payment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE site_id = $1 AND created_at >= $2 AND created_at < $3 \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(site.as_str())
        .bind(from_ms)
        .bind(to_ms)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// `site`'s refused requests in `[from_ms, to_ms)`, oldest first.
    pub async fn site_refusals(&self, site: &SiteId, from_ms: i64, to_ms: i64) -> AppResult<Vec<Refusal>> {
        let rows = sqlx::query(
            "SELECT workflow_version, reason, at FROM payment_refusals \
             WHERE site_id = $1 AND at >= $2 AND at < $3 ORDER BY at",
        )
        .bind(site.as_str())
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Refusal {
                    workflow_version: r.try_get("workflow_version")?,
                    reason: r.try_get("reason")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// Records the refund Stripe made for a session.
    pub async fn set_refund(&self, session_id: &str, refund: &str) -> AppResult<()> {
        self.write_one(
            sqlx::query("UPDATE payment_sessions SET refund = $1 WHERE session_id = $2")
                .bind(refund)
                .bind(session_id),
        )
        .await?;
        Ok(())
    }
}
