//! The chat as data. Components render a [`ChatState`]; everything that changes it is an
//! [`Action`] through the reducer, so the behaviour is testable without a socket.

use std::rc::Rc;

use chatpay_shared::protocol::{Author, ErrorCode, PaymentStatus, ServerFrame};
use chatpay_shared::texts::{Text, COUNT, EN};
use yew::{AttrValue, Reducible};

/// The socket's state as the visitor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Online,
    /// Lost; a reconnect is scheduled.
    Offline,
    /// The relay refused this page (the site does not allow its origin, or the script tag
    /// names no site): retrying cannot help, so the tab does not.
    NotSetUp,
}

/// The widget's own words: the relay's (the visitor's language, with the site owner's
/// words), else the English ones the widget carries. Handed out as `AttrValue`s: a shared
/// or static string, never a copy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Words(Option<Rc<[AttrValue]>>);

impl Words {
    /// A full table in [`chatpay_shared::texts`] order; any other length is ignored.
    pub fn from_table(table: Vec<String>) -> Words {
        Words((table.len() == COUNT).then(|| table.into_iter().map(AttrValue::from).collect()))
    }

    /// A word as an attribute value (a shared or static string, never a copy). Not inlined:
    /// one copy of this code serves every place a word is shown (size is a feature).
    #[inline(never)]
    pub fn get(&self, t: Text) -> AttrValue {
        let i = t as usize;
        match self.0.as_deref().and_then(|w| w.get(i)) {
            Some(w) => w.clone(),
            None => AttrValue::Static(EN.get(i).copied().unwrap_or("")),
        }
    }

    /// A word as page text (see [`Words::get`]).
    #[inline(never)]
    pub fn html(&self, t: Text) -> yew::Html {
        yew::Html::from(self.get(t))
    }
}

/// A text line of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub from: Author,
    pub text: Rc<str>,
    pub at: i64,
    /// The tab's id for its own messages.
    pub client_id: Option<Rc<str>>,
}

/// A payment card.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub payment: Rc<str>,
    /// Minor units.
    pub amount: i64,
    pub currency: Rc<str>,
    pub description: Rc<str>,
    pub url: Rc<str>,
    pub status: PaymentStatus,
    /// Unix seconds.
    pub expires_at: i64,
    /// The visitor said "Not now" and the relay is cancelling the link (shown at once,
    /// until the card's update or a `decline_failed` error comes).
    pub expiring: bool,
    /// Stripe's checkout in the panel said it completed: "Confirming…" until the webhook's
    /// update (the card is never Paid on the browser's word).
    pub confirming: bool,
}

/// One entry of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Line(Line),
    Card(Card),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// 0 while a visitor message is not yet confirmed by the relay.
    pub seq: u64,
    pub body: Body,
}

impl Item {
    pub fn is_pending(&self) -> bool {
        self.seq == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatState {
    pub open: bool,
    pub conn: Conn,
    pub site_name: Rc<str>,
    pub items: Vec<Item>,
    /// Messages and cards that arrived while the panel was closed.
    pub unread: u32,
    /// The bot is working on a reply.
    pub typing: bool,
    /// The last error the relay reported, shown until the next message.
    pub notice: Option<Rc<str>>,
    /// Unix seconds, for countdowns (moved by `Tick`).
    pub now: i64,
    /// The conversation ended: the panel offers a new chat instead of the composer.
    pub closed: bool,
    /// The widget's words.
    pub words: Words,
}

impl ChatState {
    pub fn new(open: bool, now: i64) -> ChatState {
        ChatState {
            open,
            conn: Conn::Connecting,
            site_name: Rc::from(""),
            items: Vec::new(),
            unread: 0,
            typing: false,
            notice: None,
            now,
            closed: false,
            words: Words::default(),
        }
    }

    /// The newest confirmed `seq`.
    pub fn last_seq(&self) -> u64 {
        self.items.iter().map(|i| i.seq).max().unwrap_or(0)
    }

    /// Whether any card still waits for the visitor or Stripe (the countdown ticks then).
    pub fn has_open_card(&self) -> bool {
        self.items
            .iter()
            .any(|i| matches!(&i.body, Body::Card(c) if c.status == PaymentStatus::Pending))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Open,
    Close,
    Toggle,
    Conn(Conn),
    /// The visitor sent a message; shown at once as pending.
    Sent {
        client_id: Rc<str>,
        text: Rc<str>,
        at: i64,
    },
    Frame(ServerFrame),
    /// The clock moved (unix seconds).
    Tick(i64),
    /// The visitor declined this payment; its link is being cancelled.
    Declining(Rc<str>),
    /// "Start a new chat": the old conversation goes from view; a new one is connecting.
    StartOver,
    /// Stripe's checkout in the panel said it completed: the card says "Confirming…".
    Confirming(Rc<str>),
}

impl Reducible for ChatState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Open => {
                s.open = true;
                s.unread = 0;
            }
            Action::Close => s.open = false,
            Action::Toggle => {
                s.open = !s.open;
                s.unread = 0;
            }
            // A refused page stays refused (the socket's close comes after the reason).
            Action::Conn(_) if s.conn == Conn::NotSetUp => {}
            Action::Conn(c) => s.conn = c,
            Action::Tick(now) => s.now = now,
            Action::Sent { client_id, text, at } => {
                s.notice = None;
                s.items.push(Item {
                    seq: 0,
                    body: Body::Line(Line {
                        from: Author::Visitor,
                        text,
                        at,
                        client_id: Some(client_id),
                    }),
                });
            }
            Action::Frame(frame) => apply_frame(&mut s, frame),
            Action::StartOver => {
                s = ChatState {
                    site_name: s.site_name.clone(),
                    words: s.words.clone(),
                    ..ChatState::new(s.open, s.now)
                };
            }
            Action::Declining(payment) => {
                for c in cards(&mut s) {
                    c.expiring |= c.payment == payment;
                }
            }
            Action::Confirming(payment) => {
                for c in cards(&mut s) {
                    c.confirming |= c.payment == payment;
                }
            }
        }
        Rc::new(s)
    }
}

fn apply_frame(s: &mut ChatState, frame: ServerFrame) {
    match frame {
        ServerFrame::Welcome { site_name, texts, .. } => {
            s.site_name = site_name.into();
            s.conn = Conn::Online;
            if !texts.is_empty() {
                s.words = Words::from_table(texts);
            }
        }
        ServerFrame::Message {
            seq,
            from,
            text,
            at,
            client_id,
        } => {
            if from != Author::Visitor {
                s.typing = false;
            }
            let line = Line {
                from,
                text: text.into(),
                at,
                client_id: client_id.map(Rc::from),
            };
            // Our own pending copy becomes the confirmed one, in place.
            let pending = line.client_id.as_ref().and_then(|id| {
                s.items.iter().position(|i| {
                    i.is_pending() && matches!(&i.body, Body::Line(l) if l.client_id.as_ref() == Some(id))
                })
            });
            match pending {
                // Confirmed: it takes its place in the relay's order.
                Some(i) => {
                    s.items.remove(i);
                    insert(s, seq, Body::Line(line), false);
                }
                None => insert(s, seq, Body::Line(line), from != Author::Visitor),
            }
            s.notice = None;
        }
        ServerFrame::PaymentCard {
            seq,
            payment,
            amount,
            currency,
            description,
            url,
            status,
            expires_at,
            ..
        } => {
            s.typing = false;
            let card = Card {
                payment: payment.into(),
                amount,
                currency: currency.into(),
                description: description.into(),
                url: url.into(),
                status,
                expires_at,
                expiring: false,
                confirming: false,
            };
            insert(s, seq, Body::Card(card), true);
        }
        ServerFrame::PaymentUpdate { payment, status, .. } => {
            for c in cards(s) {
                if &*c.payment == payment.as_str() {
                    c.status = status;
                    c.expiring = false;
                }
            }
        }
        // Handed to the loader by the app (it mounts the checkout); nothing to show here.
        ServerFrame::Checkout { .. } => {}
        ServerFrame::Typing => s.typing = true,
        ServerFrame::Closed => {
            s.closed = true;
            s.typing = false;
        }
        ServerFrame::Error {
            code: ErrorCode::Closed,
            ..
        } => {
            // What was written after the end was not kept: it goes from view.
            s.items.retain(|i| !i.is_pending());
            s.closed = true;
        }
        ServerFrame::Error { code, .. } if code.is_setup_problem() => {
            // The owner's fix is in the browser console; the visitor gets plain words.
            s.conn = Conn::NotSetUp;
        }
        ServerFrame::Error { code, message } => {
            if code == ErrorCode::DeclineFailed {
                // The link is still open: the card offers Pay and Not now again.
                for c in cards(s) {
                    c.expiring = false;
                }
            }
            s.notice = Some(message.into());
        }
    }
}

fn cards(s: &mut ChatState) -> impl Iterator<Item = &mut Card> {
    s.items.iter_mut().filter_map(|i| match &mut i.body {
        Body::Card(c) => Some(c),
        Body::Line(_) => None,
    })
}

/// Inserts a confirmed item in `seq` order (a replay may interleave with live frames);
/// repeats are ignored.
fn insert(s: &mut ChatState, seq: u64, body: Body, counts_as_unread: bool) {
    if s.items.iter().any(|i| i.seq == seq) {
        return;
    }
    if !s.open && counts_as_unread {
        s.unread += 1;
    }
    let at = s
        .items
        .iter()
        .rposition(|i| !i.is_pending() && i.seq < seq)
        .map_or(0, |i| i + 1);
    s.items.insert(at, Item { seq, body });
}
