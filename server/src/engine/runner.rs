//! Runs the engine against the store: every step's new state is saved in the same
//! transaction as the messages and payment rows it produces, so a crash at any point loses
//! nothing and repeats nothing. Work that must wait for the commit (publishing to sockets,
//! calling Stripe) is returned as [`Followups`], which the caller finishes after its commit:
//! the runner publishes nothing and calls nobody.

use chatpay_shared::protocol::ConversationStatus;
use chatpay_shared::protocol::PaymentStatus;
use chatpay_shared::run::RunState;
use chatpay_shared::workflow::validate;

use super::step::{self, step, Effect, Event};
use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use crate::followups::Followups;
use crate::store::messages::{self, Card, NewEvent, NewMessage};
use crate::store::payments::{self as stored, NewPayment, Requester};
use crate::store::{conversations, workflows, Store, Tx};

/// Starts the site's latest workflow for a new conversation. `None`: the site has none.
pub async fn start(
    tx: &mut Tx,
    store: &Store,
    site: &SiteId,
    conversation: &str,
) -> AppResult<Option<Followups>> {
    let Some(published) = workflows::latest(tx, store, site).await? else {
        return Ok(None);
    };
    let key = crate::store::new_id("r");
    let run = RunState::new(key.trim_start_matches("r_").get(..16).unwrap_or("run"));
    let (run, effects) = step(&published.workflow, &run, Event::Start);
    apply(
        tx,
        site,
        conversation,
        published.version,
        run,
        effects,
        Vec::new(),
    )
    .await
    .map(Some)
}

/// Feeds an event to a conversation's run (if it has one), locking it for the transaction.
pub async fn feed(
    tx: &mut Tx,
    store: &Store,
    site: &SiteId,
    conversation: &str,
    event: Event<'_>,
) -> AppResult<Followups> {
    feed_after(tx, store, site, conversation, event, Vec::new()).await
}

/// Like [`feed`], with history events that go before whatever the run says.
async fn feed_after(
    tx: &mut Tx,
    store: &Store,
    site: &SiteId,
    conversation: &str,
    event: Event<'_>,
    lead: Vec<NewEvent>,
) -> AppResult<Followups> {
    let Some(locked) = workflows::lock_run(tx, conversation).await? else {
        // No workflow runs here (the site had none): a person answers the visitor, and a
        // person handing back ends the chat.
        let mut events = lead;
        let status = match event {
            Event::VisitorText(_) => Some(ConversationStatus::WaitingAgent),
            Event::AgentHandBack => Some(ConversationStatus::Closed),
            _ => None,
        };
        let say = match event {
            Event::VisitorText(_) => Some(step::SAY_HANDOFF),
            Event::AgentHandBack => Some(step::SAY_ALL_DONE),
            _ => None,
        };
        if let Some(text) = say {
            events.push(NewEvent::Text(NewMessage::bot(text.to_owned())));
        }
        let frames = messages::append_events_as(tx, conversation, &events, status).await?;
        return Ok(Followups::frames_and_status(site, conversation, frames, status));
    };
    let wf = workflows::version(tx, store, &locked.site, locked.version).await?;
    let (next, effects) = step(&wf, &locked.state, event);
    if next == locked.state && effects.is_empty() {
        let frames = messages::append_events(tx, conversation, &lead).await?;
        return Ok(Followups::frames(site, conversation, frames));
    }
    apply(
        tx,
        &locked.site,
        conversation,
        locked.version,
        next,
        effects,
        lead,
    )
    .await
}

/// Carries out effects inside `tx`, appends `lead` and the effects' history in one go, and
/// saves the run.
async fn apply(
    tx: &mut Tx,
    site: &SiteId,
    conversation: &str,
    version: i64,
    run: RunState,
    effects: Vec<Effect>,
    lead: Vec<NewEvent>,
) -> AppResult<Followups> {
    let mut events = lead;
    let mut opens = Vec::new();
    let mut status = None;
    let mut bot_again = false;
    for effect in effects {
        match effect {
            Effect::Say(text) => events.push(NewEvent::Text(NewMessage::bot(text))),
            Effect::CreatePayment(order) => {
                let expires_at = crate::stripe::lifetime::link_expiry(order.lifetime_minutes);
                stored::insert(
                    tx,
                    &NewPayment {
                        id: &order.id,
                        site_id: site,
                        conversation_id: Some(conversation),
                        amount_minor: order.amount_minor,
                        currency: &order.currency,
                        description: &order.description,
                        expires_at,
                        success_url: order.success_url.as_deref(),
                        cancel_url: order.cancel_url.as_deref(),
                        requested_by: Requester::Workflow,
                        request_key: None,
                        workflow_version: Some(version),
                        agent: None,
                    },
                )
                .await?;
                opens.push(order.id);
            }
            Effect::ShowCard { payment } => {
                let p = stored::get(tx, &payment).await?.ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("card for unknown payment {payment}"))
                })?;
                events.push(NewEvent::Card(Card::from(&p)));
            }
            // Set with the history below, in one write of the conversation's row.
            Effect::Handoff => status = Some(ConversationStatus::WaitingAgent),
            Effect::Close => status = Some(ConversationStatus::Closed),
            Effect::BotAgain => bot_again = true,
            Effect::RequestRefused { node, reason } => {
                stored::insert_refusal(tx, site, conversation, version, &node, reason).await?;
            }
        }
    }
    if bot_again && status.is_none() && conversations::hand_back_if_waiting(tx, conversation).await? {
        status = Some(ConversationStatus::Bot);
    }
    let frames = messages::append_events_as(tx, conversation, &events, status).await?;
    workflows::save_run(tx, conversation, site, version, &run).await?;
    let mut followups = Followups::frames_and_status(site, conversation, frames, status);
    if status == Some(ConversationStatus::WaitingAgent) {
        followups.handoff_event(site, conversation);
    }
    for payment in opens {
        followups.open(payment);
    }
    Ok(followups)
}

/// After a payment moved: its card update in the history, and the run resumed if the
/// payment reached a terminal state (one history append for both).
pub async fn on_payment_transition(
    tx: &mut Tx,
    store: &Store,
    site: &SiteId,
    payment: &str,
    conversation: &str,
    status: PaymentStatus,
) -> AppResult<Followups> {
    let lead = vec![NewEvent::Update {
        payment: payment.to_owned(),
        status,
    }];
    if status.is_terminal() {
        feed_after(
            tx,
            store,
            site,
            conversation,
            Event::PaymentResolved { payment, status },
            lead,
        )
        .await
    } else {
        let frames = messages::append_events(tx, conversation, &lead).await?;
        Ok(Followups::frames(site, conversation, frames))
    }
}

/// Checks a definition for publishing: the shared validator plus what only the relay can
/// check (that Ask patterns compile).
pub fn problems(wf: &chatpay_shared::workflow::Workflow) -> Vec<chatpay_shared::workflow::Problem> {
    let mut problems = validate(wf);
    for node in &wf.nodes {
        if let chatpay_shared::workflow::NodeKind::Ask { pattern: Some(p), .. } = &node.kind {
            if let Err(e) = regex::Regex::new(p) {
                problems.push(chatpay_shared::workflow::Problem {
                    node: Some(node.id.clone()),
                    field: Some("pattern".into()),
                    message: format!("the pattern does not compile: {e}"),
                });
            }
        }
    }
    problems
}
