//! A conversation's history: every event a visitor tab shows, numbered by `seq`.

use chatpay_shared::protocol::{Author, ServerFrame};
use sqlx::Row;

use super::conversations::reserve_seq;
use super::{now_ms, Store, Tx};
use crate::error::{AppError, AppResult};

/// A message to append.
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

/// Appends messages in order and returns them as the frames to publish.
pub async fn append(
    tx: &mut Tx,
    conversation: &str,
    messages: &[NewMessage],
) -> AppResult<Vec<ServerFrame>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let first = reserve_seq(tx, conversation, messages.len() as u64).await?;
    let at = now_ms();
    let mut frames = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let seq = first + i as u64;
        sqlx::query(
            "INSERT INTO messages (conversation_id, seq, author, body, client_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(conversation)
        .bind(seq as i64)
        .bind(m.author.as_str())
        .bind(&m.text)
        .bind(m.client_id.as_deref())
        .bind(at)
        .execute(&mut **tx)
        .await?;
        frames.push(ServerFrame::Message {
            seq,
            from: m.author,
            text: m.text.clone(),
            at,
            client_id: m.client_id.clone(),
        });
    }
    Ok(frames)
}

/// The `seq` of a visitor message already stored under `client_id`, if any.
pub async fn seq_of_client_id(
    tx: &mut Tx,
    conversation: &str,
    client_id: &str,
) -> AppResult<Option<u64>> {
    let row = sqlx::query("SELECT seq FROM messages WHERE conversation_id = $1 AND client_id = $2")
        .bind(conversation)
        .bind(client_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64, _>(0))
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
            "SELECT seq, author, body, client_id, created_at FROM messages \
             WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(conversation)
        .bind(after_seq as i64)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let author: String = r.try_get(1)?;
                Ok(ServerFrame::Message {
                    seq: r.try_get::<i64, _>(0)? as u64,
                    from: Author::parse(&author).ok_or_else(|| {
                        AppError::Internal(anyhow::anyhow!(
                            "unknown author '{author}' in the store"
                        ))
                    })?,
                    text: r.try_get(2)?,
                    client_id: r.try_get(3)?,
                    at: r.try_get(4)?,
                })
            })
            .collect()
    }
}
