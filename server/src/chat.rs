//! Visitor chat: joining a conversation and writing to it.
//!
//! Each function writes to the store in one transaction (the visitor's message, the run's
//! new state, the bot's replies), commits, and only then publishes to the hub, so a socket
//! never shows what the store could still lose.

use chatpay_shared::protocol::ConversationStatus;
use std::net::IpAddr;

use chatpay_shared::protocol::{Author, ServerFrame, MAX_CLIENT_ID_LEN, MAX_TEXT_CHARS};

use crate::domain::{SiteId, VisitorToken};
use crate::engine::runner;
use crate::engine::step::Event;
use crate::error::{AppError, AppResult};
use crate::followups::Followups;
use crate::state::AppState;
use crate::store::conversations::{self, Conversation};
use crate::store::messages::{self, NewMessage};
use crate::store::sites::Site;

/// A visitor's tab attached to its conversation.
#[derive(Debug)]
pub struct Joined {
    pub conversation: Conversation,
    pub token: VisitorToken,
    /// `true` when the conversation was created now (no token, or an unknown one).
    pub is_new: bool,
}

/// Finds the conversation of `token` on `site`, or starts a new one (within the budgets of
/// the visitor's address `ip` and of the site): with the site's workflow when it has one,
/// else with its greeting. The conversation remembers the address it last came from.
pub async fn join(state: &AppState, site: &Site, token: Option<&str>, ip: IpAddr) -> AppResult<Joined> {
    let ip_text = ip.to_string();
    if let Some(token) = token.and_then(VisitorToken::parse) {
        if let Some(conversation) = state.store.conversation_by_token(&site.id, &token.hash()).await? {
            if conversation.client_ip.as_deref() != Some(ip_text.as_str()) {
                state.store.set_client_ip(&conversation.id, &ip_text).await?;
            }
            return Ok(Joined {
                conversation,
                token,
                is_new: false,
            });
        }
    }
    state.limits.new_conversation(ip, &site.id)?;
    let token = VisitorToken::generate();
    let mut tx = state.store.begin().await?;
    let conversation = conversations::create(&mut tx, &site.id, &token.hash(), &ip_text).await?;
    let followups = match runner::start(&mut tx, &state.store, &site.id, &conversation.id).await? {
        Some(f) => f,
        None if site.greeting.is_empty() => Followups::default(),
        None => {
            let frames = messages::append(
                &mut tx,
                &conversation.id,
                &[NewMessage::bot(site.greeting.clone())],
            )
            .await?;
            Followups::frames(&site.id, &conversation.id, frames)
        }
    };
    tx.commit().await?;
    followups.finish(state);
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

/// Text as a person can have typed it: control characters other than line breaks and tabs
/// (NUL, which PostgreSQL cannot store, bell, escape…) are taken out.
pub fn plain_text(text: &str) -> std::borrow::Cow<'_, str> {
    let unwanted = |c: char| c.is_control() && c != '\n' && c != '\t';
    if text.contains(unwanted) {
        std::borrow::Cow::Owned(text.chars().filter(|c| !unwanted(*c)).collect())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Validates and stores a visitor message, lets the workflow answer, then publishes both.
pub async fn visitor_text(
    state: &AppState,
    site: &SiteId,
    conversation: &str,
    client_id: &str,
    text: &str,
) -> AppResult<Posted> {
    let text = plain_text(text);
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
    let mut tx = state.store.begin().await?;
    if let Some(seq) = messages::seq_of_client_id(&mut tx, conversation, client_id).await? {
        return Ok(Posted::Duplicate(seq));
    }
    // Locked first (the lock order), and its status read in the same statement: a webhook
    // that closes the conversation comes wholly before or after this message.
    let status = conversations::lock(&mut tx, conversation).await?;
    if status == Some(ConversationStatus::Closed) {
        // Nobody would read it: the visitor is told how to go on instead.
        tx.rollback().await?;
        return Err(AppError::Conflict(
            "This conversation has ended, so your message was not sent. Start a new chat to write again."
                .into(),
        ));
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
    let seq = frames.first().and_then(ServerFrame::seq).unwrap_or(0);
    let mut followups = Followups::frames(site, conversation, frames);
    // While a person has the conversation, the bot stays quiet.
    let bot_on = !matches!(
        status,
        Some(ConversationStatus::Agent | ConversationStatus::WaitingAgent)
    );
    if bot_on {
        followups.add(
            runner::feed(
                &mut tx,
                &state.store,
                site,
                conversation,
                Event::VisitorText(text),
            )
            .await?,
        );
    }
    tx.commit().await?;
    followups.finish(state);
    Ok(Posted::New(seq))
}

/// Records the visitor's name and email from the host page (`chatpay.setVisitor`).
pub async fn set_visitor(
    state: &AppState,
    conversation: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> AppResult<()> {
    let (name, email) = (name.map(plain_text), email.map(plain_text));
    let name = name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let email = email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    if let Some(n) = name {
        if n.chars().count() > 100 {
            return Err(AppError::BadRequest(
                "the visitor name is longer than 100 characters".into(),
            ));
        }
    }
    if let Some(e) = email {
        let plausible = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'));
        if !plausible {
            return Err(AppError::BadRequest(format!(
                "'{e}' does not look like an email address"
            )));
        }
    }
    let mut tx = state.store.begin().await?;
    conversations::set_visitor(&mut tx, conversation, name, email).await?;
    tx.commit().await?;
    Ok(())
}
