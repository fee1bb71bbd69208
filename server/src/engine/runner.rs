//! Runs the engine against the store: every step's new state is saved in the same
//! transaction as the messages and payment rows it produces, so a crash at any point loses
//! nothing and repeats nothing. Work that must wait for the commit (publishing to sockets,
//! calling Stripe) is returned as [`Followups`].

use chatpay_shared::protocol::{PaymentStatus, ServerFrame};
use chatpay_shared::workflow::validate;

use super::step::{step, Effect, Event, RunState, RunStatus};
use crate::error::{AppError, AppResult};
use crate::payments::{self, ReturnUrls};
use crate::state::AppState;
use crate::store::messages::{self, Card, NewEvent, NewMessage};
use crate::store::payments::{self as stored, NewPayment};
use crate::store::{conversations, now_ms, workflows, Store, Tx};

/// What a commit changed in one conversation, to publish.
#[derive(Debug)]
struct Changed {
    site: String,
    conversation: String,
    frames: Vec<ServerFrame>,
    /// The conversation's new status (`waiting_agent`, `agent`, `bot`, `closed`).
    status: Option<&'static str>,
}

/// What to do once the transaction has committed.
#[derive(Debug, Default)]
#[must_use = "followups must be finished after the commit"]
pub struct Followups {
    changed: Vec<Changed>,
    /// Payments whose Checkout Session must be created.
    orders: Vec<String>,
}

impl Followups {
    pub fn frames(site: &str, conversation: &str, frames: Vec<ServerFrame>) -> Followups {
        Followups {
            changed: vec![Changed {
                site: site.to_owned(),
                conversation: conversation.to_owned(),
                frames,
                status: None,
            }],
            orders: Vec::new(),
        }
    }

    /// A conversation's status changed (the console's inbox shows it live).
    pub fn status(site: &str, conversation: &str, status: &'static str) -> Followups {
        Followups {
            changed: vec![Changed {
                site: site.to_owned(),
                conversation: conversation.to_owned(),
                frames: Vec::new(),
                status: Some(status),
            }],
            orders: Vec::new(),
        }
    }

    pub fn add(&mut self, other: Followups) {
        self.changed.extend(other.changed);
        self.orders.extend(other.orders);
    }

    /// Publishes the frames (to the conversation's sockets and the site's console) and
    /// starts creating the ordered payments (the visitor sees the bot typing meanwhile).
    pub fn finish(self, state: &AppState) {
        let typing = !self.orders.is_empty();
        for mut c in self.changed {
            if typing {
                c.frames.push(ServerFrame::Typing);
            }
            state.hub.publish(&c.conversation, &c.frames);
            state
                .hub
                .publish_live(&c.site, &c.conversation, &c.frames, c.status);
        }
        for payment in self.orders {
            tokio::spawn(open_payment(state.clone(), payment));
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
        let frames = messages::append_events(tx, conversation, &lead).await?;
        return Ok(Followups::frames(site, conversation, frames));
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
    let mut orders = Vec::new();
    let mut status = None;
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
                    },
                )
                .await?;
                orders.push(order.id);
            }
            Effect::ShowCard { payment } => {
                let p = stored::get(tx, &payment).await?.ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("card for unknown payment {payment}"))
                })?;
                events.push(NewEvent::Card(Card::from(&p)));
            }
            Effect::Handoff => {
                conversations::set_status(tx, conversation, "waiting_agent").await?;
                status = Some("waiting_agent");
            }
            Effect::Close => {
                conversations::set_status(tx, conversation, "closed").await?;
                status = Some("closed");
            }
        }
    }
    let frames = messages::append_events(tx, conversation, &events).await?;
    workflows::save_run(tx, conversation, site, version, &run).await?;
    let mut followups = Followups::frames(site, conversation, frames);
    followups.changed[0].status = status;
    followups.orders = orders;
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

/// Creates the Checkout Session of an ordered payment and tells the run. Safe to repeat: the
/// payment id is the idempotency key, and the run only moves once.
pub async fn open_payment(state: AppState, payment: String) {
    if let Err(e) = try_open_payment(&state, &payment).await {
        tracing::error!(%payment, error = %e, "cannot open the payment; the recovery sweep will retry");
    }
}

async fn try_open_payment(state: &AppState, payment_id: &str) -> AppResult<()> {
    let Some(payment) = state.store.payment(payment_id).await? else {
        return Ok(());
    };
    if payment.status != PaymentStatus::Pending {
        return Ok(());
    }
    let Some(conversation) = payment.conversation_id.clone() else {
        return Ok(());
    };
    let urls = ReturnUrls {
        success_url: payment.success_url.as_deref(),
        cancel_url: payment.cancel_url.as_deref(),
    };
    let opened = payments::open_session(state, &payment, &urls).await;
    let mut tx = state.store.begin().await?;
    let followups = match opened {
        Ok(session) => {
            stored::set_session(&mut tx, payment_id, &session.id, session.url.as_deref()).await?;
            let url = session.url.clone().unwrap_or_default();
            feed(
                &mut tx,
                &state.store,
                &payment.site_id,
                &conversation,
                Event::PaymentOpened {
                    payment: payment_id,
                    url: &url,
                },
            )
            .await?
        }
        Err(e) => {
            tracing::warn!(payment = %payment_id, error = %e, "Stripe did not create the Checkout Session");
            stored::apply(&mut tx, payment_id, PaymentStatus::Failed, "create_failed").await?;
            feed(
                &mut tx,
                &state.store,
                &payment.site_id,
                &conversation,
                Event::PaymentNotOpened { payment: payment_id },
            )
            .await?
        }
    };
    tx.commit().await?;
    followups.finish(state);
    Ok(())
}

/// Runs stuck in `creating_payment` (the relay stopped between ordering a payment and
/// hearing back from Stripe): open their payments again.
pub async fn recover_interrupted(state: &AppState, older_than_ms: i64) -> AppResult<usize> {
    let stuck = state
        .store
        .runs_in(RunStatus::CreatingPayment, now_ms() - older_than_ms)
        .await?;
    let mut n = 0;
    for conversation in stuck {
        if let Some((_, run)) = state.store.run_of(&conversation).await? {
            if let Some(payment) = run.payment {
                try_open_payment(state, &payment).await?;
                n += 1;
            }
        }
    }
    Ok(n)
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
