//! The visitor wire protocol: JSON over one WebSocket per visitor tab.
//!
//! One enum per direction, internally tagged by `type`. Every server frame that belongs to
//! the conversation's history carries a per-conversation `seq`; a tab that reconnects sends
//! the last `seq` it saw and the relay replays what came after it.

use serde::{Deserialize, Serialize};

/// The longest visitor message the relay accepts, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// The longest `client_id` the relay accepts, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// A frame sent by the widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientFrame {
    /// The first frame on every socket. `visitor_token` is absent for a new visitor;
    /// `last_seq` is the newest `seq` the tab already shows (absent: replay everything).
    Hello {
        site: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visitor_token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seq: Option<u64>,
        /// The visitor's language (BCP 47, from the page's settings, its `lang`, or the
        /// browser): the relay answers with the widget's words in it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lang: Option<String>,
    },
    /// A visitor message. `client_id` is chosen by the tab and makes a resend harmless:
    /// the relay stores a given `client_id` once per conversation.
    Text { client_id: String, text: String },
    /// The visitor declined a payment (the card's "Not now"): the link is expired at once.
    DeclinePayment { payment: String },
    /// The tab saw a frame whose `seq` is not the next one: it asks for everything after
    /// `after` (the last `seq` it has without a gap), and the relay sends it again.
    Replay { after: u64 },
    /// The visitor pressed Pay on a card whose payment is made on Stripe's embedded
    /// Checkout page (its link is the relay's `/pay/…`): the relay answers with
    /// [`ServerFrame::Checkout`], on this socket only.
    Checkout { payment: String },
    /// Who the visitor is, as the host page told the widget (`chatpay.setVisitor`).
    Visitor {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
    },
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    Visitor,
    Bot,
    Agent,
}

impl Author {
    /// The stable lowercase name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Visitor => "visitor",
            Author::Bot => "bot",
            Author::Agent => "agent",
        }
    }

    /// The inverse of [`Author::as_str`].
    pub fn parse(s: &str) -> Option<Author> {
        match s {
            "visitor" => Some(Author::Visitor),
            "bot" => Some(Author::Bot),
            "agent" => Some(Author::Agent),
            _ => None,
        }
    }
}

/// Where a conversation stands (stored and sent as its snake_case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// The workflow answers.
    Bot,
    /// Handed off: waiting for a person to take it.
    WaitingAgent,
    /// A person answers.
    Agent,
    /// Ended: the visitor may start a new chat.
    Closed,
}

impl ConversationStatus {
    /// The stable name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Bot => "bot",
            ConversationStatus::WaitingAgent => "waiting_agent",
            ConversationStatus::Agent => "agent",
            ConversationStatus::Closed => "closed",
        }
    }

    /// The inverse of [`ConversationStatus::as_str`].
    pub fn parse(s: &str) -> Option<ConversationStatus> {
        match s {
            "bot" => Some(ConversationStatus::Bot),
            "waiting_agent" => Some(ConversationStatus::WaitingAgent),
            "agent" => Some(ConversationStatus::Agent),
            "closed" => Some(ConversationStatus::Closed),
            _ => None,
        }
    }
}

/// A frame sent by the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerFrame {
    /// The answer to `Hello`: the token to keep (new or the same) and the conversation.
    Welcome {
        visitor_token: String,
        conversation: String,
        site_name: String,
        /// The site's accent colour, `#rrggbb`, if the owner chose one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        color: Option<String>,
        /// The widget's words in the visitor's language with the owner's overrides, in
        /// [`crate::texts::KEYS`] order; empty: the widget's own English words.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        texts: Vec<String>,
    },
    /// One message of the conversation's history.
    Message {
        seq: u64,
        from: Author,
        text: String,
        /// Unix time in milliseconds.
        at: i64,
        /// Echoed for the visitor's own messages so the tab can match its pending copy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// A payment request: the card the widget shows, with its Checkout link.
    PaymentCard {
        seq: u64,
        payment: String,
        /// Minor units.
        amount: i64,
        /// Upper-case ISO code.
        currency: String,
        description: String,
        url: String,
        status: PaymentStatus,
        /// When the link stops working: Unix time in seconds (Stripe's unit for it).
        expires_at: i64,
        /// When the card was sent: Unix time in milliseconds, like every message's `at`.
        at: i64,
    },
    /// A payment card's new status.
    PaymentUpdate {
        seq: u64,
        payment: String,
        status: PaymentStatus,
        /// When the status changed: Unix time in milliseconds.
        at: i64,
    },
    /// What mounts a payment's embedded Checkout inside the chat panel, for the socket
    /// that asked ([`ClientFrame::Checkout`]) and no other: the session's client secret,
    /// the site's publishable key, and the Stripe.js to load. Not part of the history.
    Checkout {
        payment: String,
        client_secret: String,
        publishable_key: String,
        /// Stripe.js of chatpay's API version (or the simulator's stand-in).
        script: String,
    },
    /// The bot is working on a reply (like creating a payment link); the next bot message
    /// ends it. Not part of the history.
    Typing,
    /// Something the tab asked for was refused. `code` is stable; `message` is for people.
    Error { code: ErrorCode, message: String },
    /// The conversation is closed (the workflow or a person ended it): the tab offers a new
    /// chat instead of the composer. Sent when it closes and after the history on `Hello`.
    /// Not part of the history.
    Closed,
}

impl ServerFrame {
    /// The history position of this frame, if it is part of the history.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ServerFrame::Message { seq, .. }
            | ServerFrame::PaymentCard { seq, .. }
            | ServerFrame::PaymentUpdate { seq, .. } => Some(*seq),
            ServerFrame::Welcome { .. }
            | ServerFrame::Checkout { .. }
            | ServerFrame::Typing
            | ServerFrame::Error { .. }
            | ServerFrame::Closed => None,
        }
    }
}

/// Where a payment stands. `Paid`, `Expired`, `Failed` and `Mismatch` are terminal: they
/// never change.
///
/// The state machine, [`PaymentStatus::next`]: `pending → paid | expired | processing |
/// failed | mismatch`, `processing → paid | failed | mismatch`. `pending → failed` is allowed
/// because Stripe may deliver `async_payment_failed` before the `completed` event it
/// follows; the later `completed` then finds a terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Checkout link sent, nothing heard yet.
    Pending,
    /// Checkout completed with a delayed payment method; the money is not in yet.
    Processing,
    Paid,
    Expired,
    Failed,
    /// Stripe reported a completed payment that does not match what was asked (amount,
    /// currency or mode): not counted as paid; a person checks it ("Being checked").
    Mismatch,
}

impl PaymentStatus {
    /// Every status, for tests and decoders.
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Pending,
        PaymentStatus::Processing,
        PaymentStatus::Paid,
        PaymentStatus::Expired,
        PaymentStatus::Failed,
        PaymentStatus::Mismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Mismatch => "mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, PaymentStatus::Pending | PaymentStatus::Processing)
    }

    /// The state a payment in `self` moves to when told `to`, or `None` when it stays.
    pub fn next(self, to: PaymentStatus) -> Option<PaymentStatus> {
        use PaymentStatus::*;
        if self.is_terminal() || self == to {
            return None;
        }
        match (self, to) {
            (Pending, _) => Some(to),
            (Processing, Paid | Failed | Mismatch) => Some(to),
            _ => None,
        }
    }
}

/// Stable error codes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not valid JSON for [`ClientFrame`].
    BadFrame,
    /// The first frame was not `Hello`, or a second `Hello` arrived.
    HelloFirst,
    /// The `site` is not known to this relay (a typo in the script tag's `data-site`). The
    /// socket is closed after it; retrying cannot help.
    UnknownSite,
    /// The page's origin is not among the site's allowed origins. The socket is closed after
    /// it; retrying cannot help until the owner adds the origin.
    OriginNotAllowed,
    /// A message was empty or longer than [`MAX_TEXT_CHARS`].
    BadText,
    /// Too many messages in a short time.
    RateLimited,
    /// No such payment in this conversation.
    UnknownPayment,
    /// The visitor's name or email is not acceptable.
    BadVisitor,
    /// A declined payment's link could not be cancelled (Stripe did not answer); the card
    /// is still open and the visitor may try again.
    DeclineFailed,
    /// The conversation is closed; a message to it is not kept. The tab offers a new chat.
    Closed,
    /// The relay failed; the tab should reconnect later.
    Internal,
}

impl ErrorCode {
    /// Every code, for tests and decoders.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::BadFrame,
        ErrorCode::HelloFirst,
        ErrorCode::UnknownSite,
        ErrorCode::OriginNotAllowed,
        ErrorCode::BadText,
        ErrorCode::RateLimited,
        ErrorCode::UnknownPayment,
        ErrorCode::BadVisitor,
        ErrorCode::DeclineFailed,
        ErrorCode::Closed,
        ErrorCode::Internal,
    ];

    /// The stable snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::HelloFirst => "hello_first",
            ErrorCode::UnknownSite => "unknown_site",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::BadText => "bad_text",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UnknownPayment => "unknown_payment",
            ErrorCode::BadVisitor => "bad_visitor",
            ErrorCode::DeclineFailed => "decline_failed",
            ErrorCode::Closed => "closed",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The chat cannot work on this page as it is set up: the tab stops reconnecting.
    pub fn is_setup_problem(self) -> bool {
        matches!(self, ErrorCode::UnknownSite | ErrorCode::OriginNotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_for_a_new_visitor_omits_token_and_seq() {
        let hello = ClientFrame::Hello {
            site: "demo".into(),
            visitor_token: None,
            last_seq: None,
            lang: None,
        };
        let json = serde_json::to_string(&hello).unwrap();
        assert_eq!(json, r#"{"type":"Hello","site":"demo"}"#);
        assert_eq!(serde_json::from_str::<ClientFrame>(&json).unwrap(), hello);
    }

    #[test]
    fn message_round_trips_with_lowercase_author() {
        let frame = ServerFrame::Message {
            seq: 7,
            from: Author::Visitor,
            text: "hi".into(),
            at: 1_700_000_000_000,
            client_id: Some("c1".into()),
        };
        let json = serde_json::to_string(&frame).unwrap();
        assert_eq!(
            json,
            r#"{"type":"Message","seq":7,"from":"visitor","text":"hi","at":1700000000000,"client_id":"c1"}"#
        );
        assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), frame);
        assert_eq!(frame.seq(), Some(7));
    }

    #[test]
    fn error_code_names_match_serde() {
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn error_codes_are_snake_case() {
        let frame = ServerFrame::Error {
            code: ErrorCode::UnknownSite,
            message: "no site 'x'".into(),
        };
        let json = serde_json::to_string(&frame).unwrap();
        assert!(json.contains(r#""code":"unknown_site""#), "{json}");
    }

    #[test]
    fn payment_statuses_round_trip_and_know_what_is_final() {
        use PaymentStatus::*;
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert!(
            Paid.is_terminal() && Expired.is_terminal() && Failed.is_terminal() && Mismatch.is_terminal()
        );
        assert!(!Pending.is_terminal() && !Processing.is_terminal());
    }

    #[test]
    fn terminal_states_never_change() {
        use PaymentStatus::*;
        for from in [Paid, Expired, Failed, Mismatch] {
            for to in PaymentStatus::ALL {
                assert_eq!(from.next(to), None, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn pending_and_processing_move_as_stripe_says() {
        use PaymentStatus::*;
        for to in [Paid, Expired, Processing, Failed, Mismatch] {
            assert_eq!(Pending.next(to), Some(to));
        }
        for to in [Paid, Failed, Mismatch] {
            assert_eq!(Processing.next(to), Some(to));
        }
        assert_eq!(
            Processing.next(Expired),
            None,
            "a completed session cannot expire"
        );
        assert_eq!(Processing.next(Processing), None);
        assert_eq!(Pending.next(Pending), None);
    }

    #[test]
    fn author_names_round_trip() {
        for a in [Author::Visitor, Author::Bot, Author::Agent] {
            assert_eq!(Author::parse(a.as_str()), Some(a));
        }
        assert_eq!(Author::parse("robot"), None);
    }
}
