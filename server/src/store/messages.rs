//! A conversation's history: every event a visitor tab shows, numbered by `seq`: text
//! messages, payment cards, and payment updates (the latter two stored as JSON bodies).

use chatpay_shared::protocol::ConversationStatus;
use chatpay_shared::protocol::{Author, PaymentStatus, ServerFrame};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::conversations::reserve_seq;
use super::payments::Payment;
use super::{now_ms, Store, Tx};
use crate::error::{AppError, AppResult};

/// A text message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub author: Author,
    pub text: String,
    pub client_id: Option<String>,
}

impl NewMessage {
    pub fn bot(text: impl Into<String>) -> NewMessage {
        NewMessage {
            author: Author::Bot,
            text: text.into(),
            client_id: None,
        }
    }
}

/// A payment card as stored in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub payment: String,
    /// In the currency's minor units.
    pub amount: i64,
    /// Upper-case ISO code.
    pub currency: String,
    pub description: String,
    pub url: String,
    pub status: PaymentStatus,
    /// Unix seconds (the Checkout link stops working then).
    pub expires_at: i64,
}

/// The card of a stored payment, as it is now.
impl From<&Payment> for Card {
    fn from(p: &Payment) -> Card {
        Card {
            payment: p.id.clone(),
            amount: p.amount_minor,
            currency: p.currency.clone(),
            description: p.description.clone(),
            url: p.checkout_url.clone().unwrap_or_default(),
            status: p.status,
            expires_at: p.expires_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Update {
    payment: String,
    status: PaymentStatus,
}

/// Anything that goes into the history.
#[derive(Debug, Clone)]
pub enum NewEvent {
    Text(NewMessage),
    Card(Card),
    Update { payment: String, status: PaymentStatus },
}

/// Appends text messages in order and returns them as the frames to publish.
pub async fn append(tx: &mut Tx, conversation: &str, messages: &[NewMessage]) -> AppResult<Vec<ServerFrame>> {
    let events: Vec<NewEvent> = messages.iter().cloned().map(NewEvent::Text).collect();
    append_events(tx, conversation, &events).await
}

/// Appends history events in order and returns them as the frames to publish.
pub async fn append_events(
    tx: &mut Tx,
    conversation: &str,
    events: &[NewEvent],
) -> AppResult<Vec<ServerFrame>> {
    append_events_as(tx, conversation, events, None).await
}

/// [`append_events`], and with `status` the conversation's new status set in the same
/// statement (one write of the conversation's row instead of two). With no events, only the
/// status is set.
pub async fn append_events_as(
    tx: &mut Tx,
    conversation: &str,
    events: &[NewEvent],
    status: Option<ConversationStatus>,
) -> AppResult<Vec<ServerFrame>> {
    if events.is_empty() {
        if let Some(status) = status {
            super::conversations::set_status(tx, conversation, status).await?;
        }
        return Ok(Vec::new());
    }
    let first = reserve_seq(tx, conversation, events.len() as u64, status).await?;
    let at = now_ms();
    let mut frames = Vec::with_capacity(events.len());
    let mut rows = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let seq = first + i as u64;
        let (kind, author, body, client_id, frame) = match event {
            NewEvent::Text(m) => (
                "text",
                m.author,
                m.text.clone(),
                m.client_id.clone(),
                ServerFrame::Message {
                    seq,
                    from: m.author,
                    text: m.text.clone(),
                    at,
                    client_id: m.client_id.clone(),
                },
            ),
            NewEvent::Card(c) => (
                "payment_card",
                Author::Bot,
                json(c)?,
                None,
                card_frame(seq, c.clone(), at),
            ),
            NewEvent::Update { payment, status } => (
                "payment_update",
                Author::Bot,
                json(&Update {
                    payment: payment.clone(),
                    status: *status,
                })?,
                None,
                ServerFrame::PaymentUpdate {
                    seq,
                    payment: payment.clone(),
                    status: *status,
                    at,
                },
            ),
        };
        rows.push((seq, kind, author, body, client_id));
        frames.push(frame);
    }
    // One statement for all rows.
    let mut sql = String::from(
        "INSERT INTO messages (conversation_id, seq, kind, author, body, client_id, created_at) VALUES ",
    );
    for i in 0..rows.len() {
        let b = i * 7;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7
        ));
    }
    let mut query = sqlx::query(&sql);
    for (seq, kind, author, body, client_id) in rows {
        query = query
            .bind(conversation)
            .bind(seq as i64)
            .bind(kind)
            .bind(author.as_str())
            .bind(body)
            .bind(client_id)
            .bind(at);
    }
    query.execute(&mut *tx).await?;
    Ok(frames)
}

fn json<T: Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(|e| AppError::Internal(e.into()))
}

fn card_frame(seq: u64, c: Card, at: i64) -> ServerFrame {
    ServerFrame::PaymentCard {
        seq,
        payment: c.payment,
        amount: c.amount,
        currency: c.currency,
        description: c.description,
        url: c.url,
        status: c.status,
        expires_at: c.expires_at,
        at,
    }
}

/// The `seq` of a visitor message already stored under `client_id`, if any.
pub async fn seq_of_client_id(tx: &mut Tx, conversation: &str, client_id: &str) -> AppResult<Option<u64>> {
    let row = sqlx::query("SELECT seq FROM messages WHERE conversation_id = $1 AND client_id = $2")
        .bind(conversation)
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64, _>("seq"))
        .transpose()?
        .map(|s| s as u64))
}

impl Store {
    /// The history after `after_seq`, oldest first, at most `limit` events.
    pub async fn history_after(
        &self,
        conversation: &str,
        after_seq: u64,
        limit: u32,
    ) -> AppResult<Vec<ServerFrame>> {
        let rows = sqlx::query(
            "SELECT seq, kind, author, body, client_id, created_at FROM messages \
             WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(conversation)
        .bind(after_seq as i64)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        let bad = |what: &str| AppError::Internal(anyhow::anyhow!("unreadable history row: {what}"));
        rows.iter()
            .map(|r| {
                let seq = r.try_get::<i64, _>("seq")? as u64;
                let kind: String = r.try_get("kind")?;
                let author: String = r.try_get("author")?;
                let body: String = r.try_get("body")?;
                let at: i64 = r.try_get("created_at")?;
                Ok(match kind.as_str() {
                    "payment_card" => {
                        card_frame(seq, serde_json::from_str(&body).map_err(|_| bad("card"))?, at)
                    }
                    "payment_update" => {
                        let u: Update = serde_json::from_str(&body).map_err(|_| bad("update"))?;
                        ServerFrame::PaymentUpdate {
                            seq,
                            payment: u.payment,
                            status: u.status,
                            at,
                        }
                    }
                    _ => ServerFrame::Message {
                        seq,
                        from: Author::parse(&author).ok_or_else(|| bad("author"))?,
                        text: body,
                        client_id: r.try_get("client_id")?,
                        at,
                    },
                })
            })
            .collect()
    }
}
