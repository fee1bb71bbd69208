//! What a committed transaction leaves to do: publish what it changed (to the
//! conversation's sockets and the site's consoles, on this relay; other relays hear the
//! pointers the commit carried) and start the Stripe work it ordered (create, expire,
//! refund). Use cases and the runner gather [`Followups`] inside the transaction and
//! [`Followups::finish`] them after the commit, so nothing is published or called for work
//! that did not commit.

use chatpay_shared::protocol::ConversationStatus;
use chatpay_shared::protocol::ServerFrame;

use crate::domain::SiteId;
use crate::error::AppResult;
use crate::payments;
use crate::state::AppState;
use crate::store::Tx;

/// What a commit changed in one conversation, to publish.
#[derive(Debug)]
struct Changed {
    site: SiteId,
    conversation: String,
    frames: Vec<ServerFrame>,
    /// The conversation's new status, when it changed.
    status: Option<ConversationStatus>,
    /// A note for the site's console only (not part of the history).
    notice: Option<String>,
}

/// Stripe work to start once the transaction has committed.
#[derive(Debug)]
enum AfterCommit {
    /// Create the Checkout Session of this payment.
    Open(String),
    /// Expire a session that must not take money.
    Expire { site: SiteId, session: String },
    /// Refund a second paid session of one payment.
    Refund { site: SiteId, session: String },
    /// Try an event for the owner's webhook.
    Deliver(String),
    /// Tell the owner's webhook (if the site has one) what a payment's move was.
    PaymentEvent { payment: String, kind: String },
    /// Tell the owner's webhook (if the site has one) of a handoff.
    Handoff { site: SiteId, conversation: String },
}

/// What to do once the transaction has committed.
#[derive(Debug, Default)]
#[must_use = "followups must be finished after the commit"]
pub struct Followups {
    changed: Vec<Changed>,
    after: Vec<AfterCommit>,
}

impl Followups {
    fn changed(site: &SiteId, conversation: &str) -> Changed {
        Changed {
            site: site.clone(),
            conversation: conversation.to_owned(),
            frames: Vec::new(),
            status: None,
            notice: None,
        }
    }

    /// Frames and, when it changed, the conversation's new status.
    pub fn frames_and_status(
        site: &SiteId,
        conversation: &str,
        frames: Vec<ServerFrame>,
        status: Option<ConversationStatus>,
    ) -> Followups {
        Followups {
            changed: vec![Changed {
                frames,
                status,
                ..Self::changed(site, conversation)
            }],
            after: Vec::new(),
        }
    }

    /// After the commit, create this payment's Checkout Session (the visitor sees the bot
    /// typing meanwhile).
    pub fn open(&mut self, payment: String) {
        self.after.push(AfterCommit::Open(payment));
    }

    pub fn frames(site: &SiteId, conversation: &str, frames: Vec<ServerFrame>) -> Followups {
        Followups {
            changed: vec![Changed {
                frames,
                ..Self::changed(site, conversation)
            }],
            after: Vec::new(),
        }
    }

    /// A conversation's status changed (the console's inbox shows it live).
    pub fn status(site: &SiteId, conversation: &str, status: ConversationStatus) -> Followups {
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
    pub async fn notice(
        tx: &mut Tx,
        site: &SiteId,
        conversation: &str,
        text: String,
    ) -> AppResult<Followups> {
        crate::store::notices::add(tx, site, conversation, &text).await?;
        Ok(Self::notice_here(site, conversation, text))
    }

    /// The local half of [`Followups::notice`]: this relay's consoles.
    fn notice_here(site: &SiteId, conversation: &str, text: String) -> Followups {
        Followups {
            changed: vec![Changed {
                notice: Some(text),
                ..Self::changed(site, conversation)
            }],
            after: Vec::new(),
        }
    }

    /// After the commit, expire this session at Stripe.
    pub fn expire(&mut self, site: &SiteId, session: &str) {
        self.after.push(AfterCommit::Expire {
            site: site.clone(),
            session: session.to_owned(),
        });
    }

    /// After the commit, refund this (second) paid session at Stripe.
    pub fn refund(&mut self, site: &SiteId, session: &str) {
        self.after.push(AfterCommit::Refund {
            site: site.clone(),
            session: session.to_owned(),
        });
    }

    /// After the commit, try this queued event for the owner's webhook.
    pub fn deliver(&mut self, event: Option<String>) {
        if let Some(id) = event {
            self.after.push(AfterCommit::Deliver(id));
        }
    }

    /// After the commit, tell the site's webhook (if any) of the payment as it is then, as
    /// a `kind` event (`payment.paid`, …).
    pub fn payment_event(&mut self, payment: &str, kind: String) {
        self.after.push(AfterCommit::PaymentEvent {
            payment: payment.to_owned(),
            kind,
        });
    }

    /// After the commit, tell the site's webhook (if any) of a handoff.
    pub fn handoff_event(&mut self, site: &SiteId, conversation: &str) {
        self.after.push(AfterCommit::Handoff {
            site: site.clone(),
            conversation: conversation.to_owned(),
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
            if c.status == Some(ConversationStatus::Closed) {
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
                AfterCommit::Deliver(event) => {
                    tokio::spawn(async move { crate::outbound::deliver(&state, &event).await })
                }
                AfterCommit::PaymentEvent { payment, kind } => tokio::spawn(async move {
                    crate::outbound::after_payment_moved(&state, &payment, &kind).await
                }),
                AfterCommit::Handoff { site, conversation } => {
                    tokio::spawn(
                        async move { crate::outbound::after_handoff(&state, &site, &conversation).await },
                    )
                }
            };
        }
    }
}
