//! What a person does in a conversation from the console's inbox: reply (the visitor sees
//! it live, styled as a person), take over from the bot, hand back to it, and ask for a
//! payment by hand, which then behaves like a Request Payment node's: a card, Stripe's
//! webhook, a live status, and the outcome in the transcript.
//!
//! Like [`crate::chat`], each action writes in one transaction, commits, then publishes.

use chatpay_shared::console::ManualPayment;
use chatpay_shared::money::Money;
use chatpay_shared::protocol::ConversationStatus;
use chatpay_shared::protocol::{Author, MAX_TEXT_CHARS};
use chatpay_shared::workflow::{DESCRIPTION_MAX_CHARS, LIFETIME_MINUTES};

use crate::domain::SiteId;
use crate::engine::runner;
use crate::engine::step::Event;
use crate::error::{AppError, AppResult, FormErrors};
use crate::followups::Followups;
use crate::payments;
use crate::state::AppState;
use crate::store::messages::{self, NewMessage};
use crate::store::payments::{self as stored, NewPayment, Requester};
use crate::store::{conversations, new_id};

/// Sets the status and returns the followup that tells the console, when it changed.
async fn set_status(
    tx: &mut crate::store::Tx,
    site: &SiteId,
    conversation: &str,
    to: ConversationStatus,
) -> AppResult<Option<Followups>> {
    let before = conversations::status_in(tx, conversation).await?;
    if before == Some(to) {
        return Ok(None);
    }
    conversations::set_status(tx, conversation, to).await?;
    Ok(Some(Followups::status(site, conversation, to)))
}

/// A person's reply; the conversation is theirs from now on (the bot stays quiet).
pub async fn reply(state: &AppState, site: &SiteId, conversation: &str, text: &str) -> AppResult<()> {
    let text = crate::chat::plain_text(text);
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(AppError::Invalid {
            field: "text",
            message: format!("write 1-{MAX_TEXT_CHARS} characters"),
        });
    }
    let mut tx = state.store.begin().await?;
    conversations::lock_unerased(&mut tx, conversation).await?;
    let frames = messages::append(
        &mut tx,
        conversation,
        &[NewMessage {
            author: Author::Agent,
            text: text.to_owned(),
            client_id: None,
        }],
    )
    .await?;
    let mut followups = Followups::frames(site, conversation, frames);
    if let Some(f) = set_status(&mut tx, site, conversation, ConversationStatus::Agent).await? {
        followups.add(f);
    }
    tx.commit().await?;
    followups.finish(state);
    Ok(())
}

/// A person takes the conversation from the bot.
pub async fn take_over(state: &AppState, site: &SiteId, conversation: &str) -> AppResult<()> {
    let mut tx = state.store.begin().await?;
    conversations::lock_unerased(&mut tx, conversation).await?;
    let mut followups = Followups::default();
    if let Some(f) = set_status(&mut tx, site, conversation, ConversationStatus::Agent).await? {
        let frames = messages::append(
            &mut tx,
            conversation,
            &[NewMessage::bot("A person has joined the conversation.")],
        )
        .await?;
        followups.add(Followups::frames(site, conversation, frames));
        followups.add(f);
    }
    tx.commit().await?;
    followups.finish(state);
    Ok(())
}

/// The person gives the conversation back to the bot, which carries on after its handoff.
pub async fn hand_back(state: &AppState, site: &SiteId, conversation: &str) -> AppResult<()> {
    let mut tx = state.store.begin().await?;
    conversations::lock_unerased(&mut tx, conversation).await?;
    let mut followups = Followups::default();
    if let Some(f) = set_status(&mut tx, site, conversation, ConversationStatus::Bot).await? {
        followups.add(f);
        followups.add(runner::feed(&mut tx, &state.store, site, conversation, Event::AgentHandBack).await?);
    }
    tx.commit().await?;
    followups.finish(state);
    Ok(())
}

/// A payment asked for by a person: checked like a node's amount, stored, and its
/// Checkout Session created after this returns (the card appears in the conversation
/// then; a failure reaches the console as a notice). A repeated `request_key` in the same
/// conversation returns the payment the first request made. `agent` is the email of the
/// console account that asks (the Payments page says who asked). Returns the payment id.
pub async fn request_payment(
    state: &AppState,
    site: &SiteId,
    conversation: &str,
    asked: &ManualPayment,
    agent: &str,
) -> AppResult<String> {
    let (amount, currency) = (asked.amount.as_str(), asked.currency.as_str());
    let request_key = asked.request_key.as_deref();
    // Every mistake of the form at once.
    let mut bad = FormErrors::default();
    let money = bad.check(
        "amount",
        Money::parse(amount, currency).map_err(|e| AppError::Invalid {
            field: if matches!(e, chatpay_shared::money::MoneyError::UnknownCurrency(_)) {
                "currency"
            } else {
                "amount"
            },
            message: e.to_string(),
        }),
    );
    let description = asked.description.trim();
    if description.is_empty() || description.chars().count() > DESCRIPTION_MAX_CHARS {
        bad.add(
            "description",
            format!("say what is paid for (1-{DESCRIPTION_MAX_CHARS} characters); Checkout shows it"),
        );
    }
    bad.finish()?;
    let Some(money) = money else {
        return Err(AppError::BadRequest("the amount could not be read".into()));
    };
    if let Some(key) = request_key {
        if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AppError::BadRequest(format!(
                "invalid request_key '{key}': use 1-64 visible ASCII characters"
            )));
        }
    }
    let id = new_id("pay");
    let mut tx = state.store.begin().await?;
    conversations::lock_unerased(&mut tx, conversation).await?;
    let inserted = stored::insert(
        &mut tx,
        &NewPayment {
            id: &id,
            site_id: site,
            conversation_id: Some(conversation),
            amount_minor: money.minor,
            currency: money.currency.code,
            description,
            expires_at: crate::stripe::lifetime::link_expiry(*LIFETIME_MINUTES.start()),
            success_url: None,
            cancel_url: None,
            requested_by: Requester::Agent,
            request_key,
            workflow_version: None,
            agent: Some(agent),
        },
    )
    .await?;
    let id = match (inserted, request_key) {
        (true, _) => id,
        (false, Some(key)) => {
            stored::by_request_key(&mut tx, conversation, key)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("request key {key} vanished")))?
                .id
        }
        (false, None) => return Err(AppError::Internal(anyhow::anyhow!("payment {id} was not stored"))),
    };
    tx.commit().await?;
    if inserted {
        tokio::spawn(payments::open::open(state.clone(), id.clone()));
    }
    Ok(id)
}
