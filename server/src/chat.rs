//! Visitor chat: joining a conversation and writing to it.
//!
//! Each function writes to the store in one transaction, commits, and only then publishes
//! the new history to the hub, so a socket never shows what the store could still lose.

use chatpay_shared::protocol::{Author, ServerFrame, MAX_CLIENT_ID_LEN, MAX_TEXT_CHARS};

use crate::domain::VisitorToken;
use crate::error::{AppError, AppResult};
use crate::hub::Hub;
use crate::store::conversations::{self, Conversation};
use crate::store::messages::{self, NewMessage};
use crate::store::sites::Site;
use crate::store::Store;

/// A visitor's tab attached to its conversation.
#[derive(Debug)]
pub struct Joined {
    pub conversation: Conversation,
    pub token: VisitorToken,
    /// `true` when the conversation was created now (no token, or an unknown one).
    pub is_new: bool,
}

/// Finds the conversation of `token` on `site`, or starts a new one with the site's greeting.
pub async fn join(store: &Store, hub: &Hub, site: &Site, token: Option<&str>) -> AppResult<Joined> {
    if let Some(token) = token.and_then(VisitorToken::parse) {
        if let Some(conversation) = store.conversation_by_token(&site.id, &token.hash()).await? {
            return Ok(Joined {
                conversation,
                token,
                is_new: false,
            });
        }
    }
    let token = VisitorToken::generate();
    let mut tx = store.begin().await?;
    let mut conversation = conversations::create(&mut tx, &site.id, &token.hash()).await?;
    let mut frames = Vec::new();
    if !site.greeting.is_empty() {
        frames = messages::append(
            &mut tx,
            &conversation.id,
            &[NewMessage::bot(site.greeting.clone())],
        )
        .await?;
    }
    tx.commit().await?;
    conversation.last_seq = frames.len() as u64;
    hub.publish(&conversation.id, &frames);
    Ok(Joined {
        conversation,
        token,
        is_new: true,
    })
}

/// What became of a visitor message.
#[derive(Debug, PartialEq, Eq)]
pub enum Posted {
    /// Stored with this `seq` and published.
    New(u64),
    /// That `client_id` was stored before, with this `seq`; nothing changed.
    Duplicate(u64),
}

/// Validates and stores a visitor message, then publishes it.
pub async fn visitor_text(
    store: &Store,
    hub: &Hub,
    conversation: &str,
    client_id: &str,
    text: &str,
) -> AppResult<Posted> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::BadRequest(
            "the message is empty; type something first".into(),
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(AppError::BadRequest(format!(
            "the message has {chars} characters; the limit is {MAX_TEXT_CHARS}, please shorten it"
        )));
    }
    if client_id.is_empty()
        || client_id.len() > MAX_CLIENT_ID_LEN
        || !client_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(AppError::BadRequest(format!(
            "invalid client_id '{client_id}': use 1-{MAX_CLIENT_ID_LEN} visible ASCII characters"
        )));
    }
    let mut tx = store.begin().await?;
    if let Some(seq) = messages::seq_of_client_id(&mut tx, conversation, client_id).await? {
        return Ok(Posted::Duplicate(seq));
    }
    let frames = messages::append(
        &mut tx,
        conversation,
        &[NewMessage {
            author: Author::Visitor,
            text: text.to_owned(),
            client_id: Some(client_id.to_owned()),
        }],
    )
    .await?;
    tx.commit().await?;
    hub.publish(conversation, &frames);
    let seq = frames.first().and_then(ServerFrame::seq).unwrap_or(0);
    Ok(Posted::New(seq))
}
