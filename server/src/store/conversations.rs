//! Conversations: one per visitor and site, found again by the hash of the visitor's token.

use chatpay_shared::protocol::ConversationStatus;
use sqlx::Row;

use super::{new_id, now_ms, Store, Tx};
use crate::domain::SiteId;
use crate::error::{AppError, AppResult};

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: String,
    pub site_id: SiteId,
    /// The seq of the newest history entry (0: none yet).
    pub last_seq: u64,
    /// The client address the visitor last came from (for budgets).
    pub client_ip: Option<String>,
    /// What it waits for.
    pub status: ConversationStatus,
}

impl Store {
    /// Remembers the address a returning visitor comes from now.
    pub async fn set_client_ip(&self, conversation: &str, client_ip: &str) -> AppResult<()> {
        self.write_one(
            sqlx::query("UPDATE conversations SET client_ip = $1 WHERE id = $2")
                .bind(client_ip)
                .bind(conversation),
        )
        .await?;
        Ok(())
    }

    /// The address a conversation's visitor last came from.
    pub async fn client_ip_of(&self, conversation: &str) -> AppResult<Option<std::net::IpAddr>> {
        let ip: Option<Option<String>> =
            sqlx::query_scalar("SELECT client_ip FROM conversations WHERE id = $1")
                .bind(conversation)
                .fetch_optional(self.reader())
                .await?;
        Ok(ip.flatten().and_then(|i| i.parse().ok()))
    }

    /// A conversation's status.
    pub async fn conversation_status(&self, conversation: &str) -> AppResult<Option<ConversationStatus>> {
        let row = sqlx::query("SELECT status FROM conversations WHERE id = $1")
            .bind(conversation)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| status_of(r.try_get("status")?)).transpose()
    }

    /// The conversation of `site` whose visitor token hashes to `token_hash`.
    pub async fn conversation_by_token(
        &self,
        site: &SiteId,
        token_hash: &str,
    ) -> AppResult<Option<Conversation>> {
        let row = sqlx::query(
            "SELECT id, site_id, last_seq, client_ip, status FROM conversations \
             WHERE site_id = $1 AND visitor_token_hash = $2",
        )
        .bind(site.as_str())
        .bind(token_hash)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            Ok(Conversation {
                id: r.try_get("id")?,
                site_id: SiteId::from_stored(r.try_get("site_id")?),
                last_seq: r.try_get::<i64, _>("last_seq")? as u64,
                client_ip: r.try_get("client_ip")?,
                status: status_of(r.try_get("status")?)?,
            })
        })
        .transpose()
    }
}

/// Inserts a new, empty conversation of a visitor at `client_ip`.
pub async fn create(
    tx: &mut Tx,
    site: &SiteId,
    token_hash: &str,
    client_ip: &str,
) -> AppResult<Conversation> {
    let id = new_id("conv");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO conversations (id, site_id, visitor_token_hash, last_seq, client_ip, created_at, updated_at) \
         VALUES ($1, $2, $3, 0, $4, $5, $5)",
    )
    .bind(&id)
    .bind(site.as_str())
    .bind(token_hash)
    .bind(client_ip)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(Conversation {
        id,
        site_id: site.clone(),
        last_seq: 0,
        client_ip: Some(client_ip.to_owned()),
        status: ConversationStatus::Bot,
    })
}

/// Locks a conversation's row for the transaction and returns its status (`None`: no such
/// conversation). Every transaction that writes to a conversation, its run or its payments
/// takes this lock first (see the lock order in [`crate::store`]), so two of them for one
/// conversation queue instead of deadlocking.
pub async fn lock(tx: &mut Tx, conversation: &str) -> AppResult<Option<ConversationStatus>> {
    let sql = if tx.locks_rows() {
        "UPDATE conversations SET last_seq = last_seq WHERE id = $1 RETURNING status"
    } else {
        // SQLite: the transaction holds the database already; an UPDATE would only write a page.
        "SELECT status FROM conversations WHERE id = $1"
    };
    let row = sqlx::query(sql)
        .bind(conversation)
        .fetch_optional(&mut *tx)
        .await?;
    row.map(|r| status_of(r.try_get("status")?)).transpose()
}

/// [`lock`] for a person's action (reply, takeover, hand-back, a payment by hand): refused
/// when the conversation was erased, since nothing written to it afterwards would ever be
/// erased (the retention passes erased conversations by).
pub async fn lock_unerased(tx: &mut Tx, conversation: &str) -> AppResult<()> {
    if erased_at(tx, conversation).await?.is_some() {
        return Err(AppError::Conflict(format!(
            "conversation {} was erased at the visitor's request: nothing more can be written to it; \
             start a new conversation with them instead",
            crate::error::cut(conversation)
        )));
    }
    Ok(())
}

/// Locks the conversation's row as [`lock`] does and says when it was erased (`None`: not
/// erased, or no such conversation).
pub async fn erased_at(tx: &mut Tx, conversation: &str) -> AppResult<Option<i64>> {
    let sql = if tx.locks_rows() {
        "UPDATE conversations SET last_seq = last_seq WHERE id = $1 RETURNING erased_at"
    } else {
        "SELECT erased_at FROM conversations WHERE id = $1"
    };
    let at: Option<Option<i64>> = sqlx::query_scalar(sql)
        .bind(conversation)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(at.flatten())
}

/// PostgreSQL: locks the conversation a payment belongs to (as [`lock`] does), found in the
/// same statement; a payment of no conversation locks nothing. A payment never changes
/// conversation, so the payment read after this is current. `false`: nothing was locked.
pub async fn lock_for_payment(tx: &mut Tx, payment: &str) -> AppResult<bool> {
    let done = sqlx::query(
        "UPDATE conversations SET last_seq = last_seq \
         WHERE id = (SELECT conversation_id FROM payments WHERE id = $1)",
    )
    .bind(payment)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a conversation that waits for a person back to the bot, unless a person has joined
/// (`agent`) or it ended; `true` when it changed.
pub async fn hand_back_if_waiting(tx: &mut Tx, conversation: &str) -> AppResult<bool> {
    let site: Option<String> = sqlx::query_scalar(
        "UPDATE conversations SET status = 'bot', updated_at = $1 WHERE id = $2 AND status = 'waiting_agent' \
         RETURNING site_id",
    )
    .bind(now_ms())
    .bind(conversation)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(site) = &site {
        tx.notify('s', &[site, conversation]).await?;
    }
    Ok(site.is_some())
}

/// Sets what a conversation waits for.
pub async fn set_status(tx: &mut Tx, conversation: &str, status: ConversationStatus) -> AppResult<()> {
    let site: Option<String> = sqlx::query_scalar(
        "UPDATE conversations SET status = $1, updated_at = $2 WHERE id = $3 RETURNING site_id",
    )
    .bind(status.as_str())
    .bind(now_ms())
    .bind(conversation)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(site) = site {
        tx.notify('s', &[&site, conversation]).await?;
    }
    Ok(())
}

/// A conversation's status, read inside `tx`.
pub async fn status_in(tx: &mut Tx, conversation: &str) -> AppResult<Option<ConversationStatus>> {
    let row = sqlx::query("SELECT status FROM conversations WHERE id = $1")
        .bind(conversation)
        .fetch_optional(&mut *tx)
        .await?;
    row.map(|r| status_of(r.try_get("status")?)).transpose()
}

/// A stored status as its type (the column holds only what [`ConversationStatus::as_str`]
/// writes).
pub fn status_of(stored: String) -> AppResult<ConversationStatus> {
    ConversationStatus::parse(&stored).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "unknown conversation status '{stored}' in the database"
        ))
    })
}

/// Records who the visitor is (as the host page said).
pub async fn set_visitor(
    tx: &mut Tx,
    conversation: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE conversations SET visitor_name = COALESCE($1, visitor_name), \
         visitor_email = COALESCE($2, visitor_email), updated_at = $3 WHERE id = $4 AND erased_at IS NULL",
    )
    .bind(name)
    .bind(email)
    .bind(now_ms())
    .bind(conversation)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Reserves the next `count` sequence numbers of a conversation and returns the first;
/// with `status`, sets what the conversation waits for in the same statement (as
/// [`set_status`] does). On PostgreSQL this also locks the conversation row until the
/// transaction ends, so the history of one conversation is written by one transaction at a
/// time; and it tells the other relays, at commit, that the history grew to the last of them
/// ([`crate::bus`]).
pub async fn reserve_seq(
    tx: &mut Tx,
    conversation: &str,
    count: u64,
    status: Option<ConversationStatus>,
) -> AppResult<u64> {
    let row = sqlx::query(
        "UPDATE conversations SET last_seq = last_seq + $1, updated_at = $2, status = COALESCE($4, status) \
         WHERE id = $3 RETURNING last_seq, site_id",
    )
    .bind(count as i64)
    .bind(now_ms())
    .bind(conversation)
    .bind(status.map(ConversationStatus::as_str))
    .fetch_one(&mut *tx)
    .await?;
    let last: i64 = row.try_get("last_seq")?;
    let site: String = row.try_get("site_id")?;
    if status.is_some() {
        tx.notify('s', &[&site, conversation]).await?;
    }
    tx.notify('h', &[&site, conversation, &last.to_string()]).await?;
    Ok(last as u64 - count + 1)
}

/// A conversation as the inbox lists it.
pub fn summary_from(r: &sqlx::any::AnyRow) -> AppResult<chatpay_shared::console::ConversationSummary> {
    Ok(chatpay_shared::console::ConversationSummary {
        id: r.try_get("id")?,
        status: status_of(r.try_get("status")?)?,
        visitor_name: r.try_get("visitor_name")?,
        visitor_email: r.try_get("visitor_email")?,
        updated_at: r.try_get("updated_at")?,
        last_text: r.try_get("last_text")?,
    })
}

const SUMMARY: &str = "SELECT c.id, c.status, c.visitor_name, c.visitor_email, c.updated_at, \
     (SELECT m.body FROM messages m WHERE m.conversation_id = c.id AND m.kind = 'text' ORDER BY m.seq DESC LIMIT 1) AS last_text \
     FROM conversations c";

impl Store {
    /// A page of a site's conversations, newest activity first, after the cursor `before`
    /// (`updated_at:id` of the last one of the previous page); only those waiting for a
    /// person with `waiting`. Every conversation is on some page: nothing is capped away.
    pub async fn conversations_of(
        &self,
        site: &SiteId,
        waiting: bool,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> AppResult<chatpay_shared::console::ConversationPage> {
        let filter = if waiting {
            " AND c.status = 'waiting_agent'"
        } else {
            ""
        };
        let (ts, id) = before.unwrap_or((i64::MAX, ""));
        let rows = sqlx::query(&format!(
            "{SUMMARY} WHERE c.site_id = $1{filter} AND (c.updated_at < $2 OR (c.updated_at = $2 AND c.id < $3)) \
             ORDER BY c.updated_at DESC, c.id DESC LIMIT $4"
        ))
        .bind(site.as_str())
        .bind(ts)
        .bind(if before.is_some() { id } else { "\u{10FFFF}" })
        .bind(limit + 1)
        .fetch_all(self.reader())
        .await?;
        let mut conversations = rows.iter().map(summary_from).collect::<AppResult<Vec<_>>>()?;
        let next = if conversations.len() as i64 > limit {
            conversations.truncate(limit as usize);
            conversations.last().map(|c| format!("{}:{}", c.updated_at, c.id))
        } else {
            None
        };
        Ok(chatpay_shared::console::ConversationPage { conversations, next })
    }

    /// One conversation of a site, or `None` (also when it belongs to another site).
    pub async fn conversation_summary(
        &self,
        site: &SiteId,
        id: &str,
    ) -> AppResult<Option<chatpay_shared::console::ConversationSummary>> {
        let row = sqlx::query(&format!("{SUMMARY} WHERE c.site_id = $1 AND c.id = $2"))
            .bind(site.as_str())
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(summary_from).transpose()
    }
}
