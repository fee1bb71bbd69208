//! The chat as data. Components render a [`ChatState`]; everything that changes it is an
//! [`Action`] through the reducer, so the behaviour can be tested without a browser.

use std::rc::Rc;

use chatpay_shared::protocol::{Author, ServerFrame};
use yew::Reducible;

/// The socket's state as the visitor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Online,
    /// Lost; a reconnect is scheduled.
    Offline,
}

/// One line of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// 0 while a visitor message is not yet confirmed by the relay.
    pub seq: u64,
    pub from: Author,
    pub text: Rc<str>,
    pub at: i64,
    /// The tab's id for its own messages.
    pub client_id: Option<Rc<str>>,
}

impl Line {
    pub fn is_pending(&self) -> bool {
        self.seq == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatState {
    pub open: bool,
    pub conn: Conn,
    pub site_name: Rc<str>,
    pub lines: Vec<Line>,
    /// Messages that arrived while the panel was closed.
    pub unread: u32,
    /// The last error the relay reported, shown until the next message.
    pub notice: Option<Rc<str>>,
}

impl ChatState {
    pub fn new(open: bool) -> ChatState {
        ChatState {
            open,
            conn: Conn::Connecting,
            site_name: Rc::from(""),
            lines: Vec::new(),
            unread: 0,
            notice: None,
        }
    }

    /// The newest confirmed `seq`.
    pub fn last_seq(&self) -> u64 {
        self.lines.iter().map(|l| l.seq).max().unwrap_or(0)
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
            Action::Conn(c) => s.conn = c,
            Action::Sent { client_id, text, at } => {
                s.notice = None;
                s.lines.push(Line {
                    seq: 0,
                    from: Author::Visitor,
                    text,
                    at,
                    client_id: Some(client_id),
                });
            }
            Action::Frame(frame) => apply_frame(&mut s, frame),
        }
        Rc::new(s)
    }
}

fn apply_frame(s: &mut ChatState, frame: ServerFrame) {
    match frame {
        ServerFrame::Welcome { site_name, .. } => {
            s.site_name = site_name.into();
            s.conn = Conn::Online;
        }
        ServerFrame::Message {
            seq,
            from,
            text,
            at,
            client_id,
        } => {
            if s.lines.iter().any(|l| l.seq == seq) {
                return;
            }
            let line = Line {
                seq,
                from,
                text: text.into(),
                at,
                client_id: client_id.map(Rc::from),
            };
            // Our own pending copy becomes the confirmed one, in place.
            let pending = line.client_id.as_ref().and_then(|id| {
                s.lines
                    .iter()
                    .position(|l| l.is_pending() && l.client_id.as_ref() == Some(id))
            });
            match pending {
                Some(i) => s.lines[i] = line,
                None => {
                    if !s.open && from != Author::Visitor {
                        s.unread += 1;
                    }
                    let at = s
                        .lines
                        .iter()
                        .rposition(|l| !l.is_pending() && l.seq < seq)
                        .map_or(0, |i| i + 1);
                    s.lines.insert(at, line);
                }
            }
            s.notice = None;
        }
        ServerFrame::Error { message, .. } => s.notice = Some(message.into()),
        // Payment cards arrive with the card component.
        ServerFrame::PaymentCard { .. } | ServerFrame::PaymentUpdate { .. } => {}
    }
}
