//! The widget's own words (not the site's or the bot's): one table of short strings, in a
//! fixed order. The widget carries the English ones; the relay sends the visitor's language
//! (and the site owner's overrides) in `Welcome` as a list in this order, so no translation
//! table travels to a visitor who does not need it. [`KEYS`] names each entry for the
//! console's editor and the overrides' JSON.

/// One of the widget's words; `Text as usize` is its place in every table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    Placeholder,
    Send,
    MessageLabel,
    CloseChat,
    OpenChat,
    Unread,
    Chat,
    Connecting,
    Reconnecting,
    Typing,
    Support,
    Ended,
    NewChat,
    NotSetUp,
    NotSetUpHint,
    PaymentRequest,
    Pay,
    NotNow,
    ExpiresIn,
    LinkExpired,
    Cancelling,
    ProcessingNote,
    PaidNote,
    MismatchNote,
    NewLink,
    ChipPending,
    ChipProcessing,
    ChipPaid,
    ChipExpired,
    ChipFailed,
    ChipChecking,
    ChipExpiring,
    /// The card after Stripe's checkout in the panel said it completed, until the webhook.
    Confirming,
}

/// How many words a table has.
pub const COUNT: usize = 33;

/// Each word's stable name, in table order.
pub const KEYS: [&str; COUNT] = [
    "placeholder",
    "send",
    "message_label",
    "close_chat",
    "open_chat",
    "unread",
    "chat",
    "connecting",
    "reconnecting",
    "typing",
    "support",
    "ended",
    "new_chat",
    "not_set_up",
    "not_set_up_hint",
    "payment_request",
    "pay",
    "not_now",
    "expires_in",
    "link_expired",
    "cancelling",
    "processing_note",
    "paid_note",
    "mismatch_note",
    "new_link",
    "chip_pending",
    "chip_processing",
    "chip_paid",
    "chip_expired",
    "chip_failed",
    "chip_checking",
    "chip_expiring",
    "confirming",
];

/// The English words, in table order: what the widget shows until the relay says otherwise.
pub const EN: [&str; COUNT] = [
    "Write a message…",
    "Send",
    "Message",
    "Close chat",
    "Open chat",
    "unread messages",
    "Chat",
    "Connecting…",
    "Connection lost. Reconnecting…",
    "The bot is typing",
    "Support",
    "This conversation has ended.",
    "Start a new chat",
    "This chat isn't set up for this page.",
    "Please contact the site another way for now.",
    "Payment request",
    "Pay",
    "Not now",
    "Link expires in ",
    "This link has expired.",
    "Cancelling this link…",
    "Your bank is confirming the payment. This can take a moment.",
    "Payment received. Thank you!",
    "A person will check this payment and reply here.",
    "Get a new link",
    "Pending",
    "Processing",
    "Paid ✓",
    "Expired",
    "Failed",
    "Being checked",
    "Expiring…",
    "Confirming the payment with Stripe…",
];

/// The languages chatpay ships the widget's words in (BCP 47 primary subtags).
pub const LANGUAGES: [&str; 8] = ["en", "de", "fr", "es", "pt", "it", "nl", "ja"];

/// The shipped language for a BCP 47 tag (`de-AT` → `de`), if there is one.
pub fn language_of(tag: &str) -> Option<&'static str> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    LANGUAGES.iter().copied().find(|l| *l == primary)
}

/// The place of a key in every table.
pub fn index_of(key: &str) -> Option<usize> {
    KEYS.iter().position(|k| *k == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enum_and_the_tables_agree() {
        assert_eq!(Text::Confirming as usize + 1, COUNT);
        assert_eq!(KEYS[Text::Pay as usize], "pay");
        assert_eq!(EN[Text::Pay as usize], "Pay");
        assert_eq!(index_of("chip_paid"), Some(Text::ChipPaid as usize));
        let mut keys = KEYS.to_vec();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), COUNT, "every key once");
    }

    #[test]
    fn languages_come_from_tags() {
        assert_eq!(language_of("de-AT"), Some("de"));
        assert_eq!(language_of("pt_BR"), Some("pt"));
        assert_eq!(language_of("JA"), Some("ja"));
        assert_eq!(language_of("sv-SE"), None);
        assert_eq!(language_of(""), None);
    }
}
