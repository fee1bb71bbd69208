//! Runs the engine against the store: every step's new state is saved in the same
//! transaction as the messages and payment rows it produces, so a crash at any point loses
//! nothing and repeats nothing. Work that must wait for the commit (publishing to sockets,
//! calling Stripe) is returned as [`Followups`].

use chatpay_shared::protocol::{PaymentStatus, ServerFrame};
use chatpay_shared::workflow::validate;

use super::step::{self, step, Effect, Event, RunState};
use crate::error::{AppError, AppResult};
use crate::payments;
use crate::state::AppState;
use crate::store::messages::{self, Card, NewEvent, NewMessage};
use crate::store::payments::{self as stored, NewPayment, Requester};
use crate::store::{conversations, workflows, Store, Tx};

/// What a commit changed in one conversation, to publish.
#[derive(Debug)]
struct Changed {
    site: String,
    conversation: String,
    frames: Vec<ServerFrame>,
    /// The conversation's new status (`waiting_agent`, `agent`, `bot`, `closed`).
    status: Option<&'static str>,
    /// A note for the site's console only (not part of the history).
    notice: Option<String>,
}

/// Stripe work to start once the transaction has committed.
#[derive(Debug)]
enum AfterCommit {
    /// Create the Checkout Session of this payment.
    Open(String),
    /// Expire a session that must not take money.
    Expire { site: String, session: String },
    /// Refund a second paid session of one payment.
    Refund { site: String, session: String },
}

/// What to do once the transaction has committed.
#[derive(Debug, Default)]
#[must_use = "followups must be finished after the commit"]
pub struct Followups {
    changed: Vec<Changed>,
    after: Vec<AfterCommit>,
}

impl Followups {
    fn changed(site: &str, conversation: &str) -> Changed {
        Changed {
            site: site.to_owned(),
            conversation: conversation.to_owned(),
            frames: Vec::new(),
            status: None,
            notice: None,
        }
    }

    pub fn frames(site: &str, conversation: &str, frames: Vec<ServerFrame>) -> Followups {
        Followups {
            changed: vec![Changed {
                frames,
                ..Self::changed(site, conversation)
            }],
            after: Vec::new(),
        }
    }

    /// A conversation's status changed (the console's inbox shows it live).
    pub fn status(site: &str, conversation: &str, status: &'static str) -> Followups {
        Followups {
            changed: vec![Changed {
                status: Some(status),
                ..Self::changed(site, conversation)
            }],
            after: Vec::new(),
        }
    }

    /// A note for the site's agents about a conversation (a payment that failed to open, a
    /// mismatch, a double charge), kept in `tx` for every relay's console; visitors never
    /// see it.
    pub async fn notice(tx: &mut Tx, site: &str, conversation: &str, text: String) -> AppResult<Followups> {
        crate::store::notices::add(tx, site, conversation, &text).await?;
        Ok(Self::notice_here(site, conversation, text))
    }

    /// The local half of [`Followups::notice`]: this relay's consoles.
    fn notice_here(site: &str, conversation: &str, text: String) -> Followups {
        Followups {
            changed: vec![Changed {
                notice: Some(text),
                ..Self::changed(site, conversation)
            }],
            after: Vec::new(),
        }
    }

    /// After the commit, expire this session at Stripe.
    pub fn expire(&mut self, site: &str, session: &str) {
        self.after.push(AfterCommit::Expire {
            site: site.to_owned(),
            session: session.to_owned(),
        });
    }

    /// After the commit, refund this (second) paid session at Stripe.
    pub fn refund(&mut self, site: &str, session: &str) {
        self.after.push(AfterCommit::Refund {
            site: site.to_owned(),
            session: session.to_owned(),
        });
    }

    pub fn add(&mut self, other: Followups) {
        self.changed.extend(other.changed);
        self.after.extend(other.after);
    }

    /// Publishes the frames (to the conversation's sockets and the site's console) and
    /// starts the Stripe work: creating ordered payments (the visitor sees the bot typing
    /// meanwhile), expiring and refunding.
    pub fn finish(self, state: &AppState) {
        let typing = self.after.iter().any(|a| matches!(a, AfterCommit::Open(_)));
        for mut c in self.changed {
            if typing {
                c.frames.push(ServerFrame::Typing);
            }
            state
                .hub
                .publish_live(&c.site, &c.conversation, &c.frames, c.status, c.notice.as_deref());
            if c.status == Some("closed") {
                // The visitor's tabs offer a new chat from now on.
                c.frames.push(ServerFrame::Closed);
            }
            state.hub.publish(&c.conversation, &c.frames);
        }
        for work in self.after {
            let state = state.clone();
            match work {
                AfterCommit::Open(payment) => tokio::spawn(payments::open::open(state, payment)),
                AfterCommit::Expire { site, session } => {
                    tokio::spawn(payments::news::expire_session(state, site, session))
                }
                AfterCommit::Refund { site, session } => {
                    tokio::spawn(payments::news::refund_second_charge(state, site, session))
                }
            };
        }
    }
}

/// Starts the site's latest workflow for a new conversation. `None`: the site has none.
pub async fn start(
    tx: &mut Tx,
    store: &Store,
    site: &str,
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
    site: &str,
    conversation: &str,
    event: Event<'_>,
) -> AppResult<Followups> {
    feed_after(tx, store, site, conversation, event, Vec::new()).await
}

/// Like [`feed`], with history events that go before whatever the run says.
async fn feed_after(
    tx: &mut Tx,
    store: &Store,
    site: &str,
    conversation: &str,
    event: Event<'_>,
    lead: Vec<NewEvent>,
) -> AppResult<Followups> {
    let Some(locked) = workflows::lock_run(tx, conversation).await? else {
        // No workflow runs here (the site had none): a person answers the visitor, and a
        // person handing back ends the chat.
        let mut events = lead;
        let status = match event {
            Event::VisitorText(_) => Some("waiting_agent"),
            Event::AgentHandBack => Some("closed"),
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
        let mut followups = Followups::frames(site, conversation, frames);
        followups.changed[0].status = status;
        return Ok(followups);
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
    site: &str,
    conversation: &str,
    version: i64,
    run: RunState,
    effects: Vec<Effect>,
    lead: Vec<NewEvent>,
) -> AppResult<Followups> {
    let mut events = lead;
    let mut after = Vec::new();
    let mut status = None;
    let mut bot_again = false;
    for effect in effects {
        match effect {
            Effect::Say(text) => events.push(NewEvent::Text(NewMessage::bot(text))),
            Effect::CreatePayment(order) => {
                let expires_at = payments::link_expiry(order.lifetime_minutes);
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
                    },
                )
                .await?;
                after.push(AfterCommit::Open(order.id));
            }
            Effect::ShowCard { payment } => {
                let p = stored::get(tx, &payment).await?.ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("card for unknown payment {payment}"))
                })?;
                events.push(NewEvent::Card(Card::from(&p)));
            }
            // Set with the history below, in one write of the conversation's row.
            Effect::Handoff => status = Some("waiting_agent"),
            Effect::Close => status = Some("closed"),
            Effect::BotAgain => bot_again = true,
        }
    }
    if bot_again && status.is_none() && conversations::hand_back_if_waiting(tx, conversation).await? {
        status = Some("bot");
    }
    let frames = messages::append_events_as(tx, conversation, &events, status).await?;
    workflows::save_run(tx, conversation, site, version, &run).await?;
    let mut followups = Followups::frames(site, conversation, frames);
    followups.changed[0].status = status;
    followups.after = after;
    Ok(followups)
}

/// After a payment moved: its card update in the history, and the run resumed if the
/// payment reached a terminal state (one history append for both).
pub async fn on_payment_transition(
    tx: &mut Tx,
    store: &Store,
    site: &str,
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
