//! Component tests in headless Chromium (wasm-bindgen-test): the reducer, the wire
//! encoding against the relay's serde, every payment card state, and amounts in the
//! visitor's locale.

use std::rc::Rc;
use std::time::Duration;

use chatpay_shared::protocol::{Author, ClientFrame, ErrorCode, PaymentStatus, ServerFrame};
use chatpay_widget::components::card::{CardProps, PaymentCard};
use chatpay_widget::format;
use chatpay_widget::services::wire;
use chatpay_widget::state::{Action, Body, Card, ChatState, Words};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use yew::Reducible;

wasm_bindgen_test_configure!(run_in_browser);

fn reduce(s: ChatState, actions: Vec<Action>) -> ChatState {
    let mut s = Rc::new(s);
    for a in actions {
        s = s.reduce(a);
    }
    (*s).clone()
}

fn msg(seq: u64, from: Author, text: &str, client_id: Option<&str>) -> Action {
    Action::Frame(ServerFrame::Message {
        seq,
        from,
        text: text.into(),
        at: 1_700_000_000_000,
        client_id: client_id.map(str::to_owned),
    })
}

fn card_frame(seq: u64, payment: &str) -> Action {
    Action::Frame(ServerFrame::PaymentCard {
        seq,
        payment: payment.into(),
        amount: 4999,
        currency: "USD".into(),
        description: "Deposit".into(),
        url: "https://checkout.example/cs_1".into(),
        status: PaymentStatus::Pending,
        expires_at: 2_000,
        at: 1,
    })
}

fn texts(s: &ChatState) -> Vec<String> {
    s.items
        .iter()
        .map(|i| match &i.body {
            Body::Line(l) => l.text.to_string(),
            Body::Card(c) => {
                let mut t = String::from("card:");
                t.push_str(&c.payment);
                t.push(':');
                t.push_str(c.status.as_str());
                t
            }
        })
        .collect()
}

#[wasm_bindgen_test]
fn reducer_confirms_pending_messages_in_place_and_orders_by_seq() {
    let s = reduce(
        ChatState::new(true, 0),
        vec![
            msg(1, Author::Bot, "hi", None),
            Action::Sent {
                client_id: "c1".into(),
                text: "hello".into(),
                at: 5,
            },
            msg(3, Author::Bot, "late bot", None),
            msg(2, Author::Visitor, "hello", Some("c1")),
            msg(3, Author::Bot, "late bot", None),
        ],
    );
    assert_eq!(texts(&s), vec!["hi", "hello", "late bot"]);
    assert!(s.items.iter().all(|i| !i.is_pending()));
    assert_eq!(s.last_seq(), 3);
}

#[wasm_bindgen_test]
fn reducer_cards_update_live_and_typing_ends_with_the_next_bot_frame() {
    let s = reduce(
        ChatState::new(true, 0),
        vec![Action::Frame(ServerFrame::Typing), card_frame(4, "pay_1")],
    );
    assert!(!s.typing, "the card ends the typing indicator");
    assert!(s.has_open_card());
    let s = reduce(
        s,
        vec![Action::Frame(ServerFrame::PaymentUpdate {
            seq: 5,
            payment: "pay_1".into(),
            status: PaymentStatus::Paid,
            at: 2,
        })],
    );
    assert_eq!(texts(&s), vec!["card:pay_1:paid"]);
    assert!(!s.has_open_card());
    let s = reduce(s, vec![Action::Frame(ServerFrame::Typing)]);
    assert!(s.typing);
    let s = reduce(s, vec![msg(6, Author::Bot, "thanks", None)]);
    assert!(!s.typing);
}

#[wasm_bindgen_test]
fn reducer_counts_unread_only_while_closed_and_opening_clears_it() {
    let s = reduce(
        ChatState::new(false, 0),
        vec![
            msg(1, Author::Bot, "a", None),
            msg(2, Author::Agent, "b", None),
            card_frame(3, "pay_x"),
        ],
    );
    assert_eq!(s.unread, 3);
    let s = reduce(s, vec![Action::Toggle, msg(4, Author::Bot, "c", None)]);
    assert_eq!((s.open, s.unread), (true, 0));
    let s = reduce(
        s,
        vec![Action::Frame(ServerFrame::Error {
            code: ErrorCode::BadText,
            message: "too long".into(),
        })],
    );
    assert_eq!(s.notice.as_deref(), Some("too long"));
}

#[wasm_bindgen_test]
fn the_wire_matches_the_relays_serde_both_ways() {
    let frames = vec![
        ServerFrame::Welcome {
            visitor_token: "t".into(),
            conversation: "c".into(),
            site_name: "Shop \"A\"".into(),
            color: None,
            texts: Vec::new(),
        },
        ServerFrame::Welcome {
            visitor_token: "t".into(),
            conversation: "c".into(),
            site_name: "S".into(),
            color: Some("#0a7".into()),
            texts: vec!["Bezahlen".into(), "Nicht jetzt".into()],
        },
        ServerFrame::Message {
            seq: 9,
            from: Author::Agent,
            text: "ünï <b>ok</b>\n".into(),
            at: 1_764_160_000_123,
            client_id: None,
        },
        ServerFrame::Message {
            seq: 10,
            from: Author::Visitor,
            text: "x".into(),
            at: 1,
            client_id: Some("m-1".into()),
        },
        ServerFrame::PaymentCard {
            seq: 11,
            payment: "pay_1".into(),
            amount: 5120,
            currency: "KWD".into(),
            description: "Deposit".into(),
            url: "https://c.example/1".into(),
            status: PaymentStatus::Pending,
            expires_at: 1_764_161_800,
            at: 2,
        },
        ServerFrame::PaymentUpdate {
            seq: 12,
            payment: "pay_1".into(),
            status: PaymentStatus::Expired,
            at: 3,
        },
        ServerFrame::Typing,
        ServerFrame::Closed,
        ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
        },
        ServerFrame::Error {
            code: ErrorCode::OriginNotAllowed,
            message: "add it".into(),
        },
    ];
    for f in frames {
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(wire::decode(&json), Some(f), "{json}");
    }
    assert_eq!(wire::decode(r#"{"type":"FutureThing"}"#), None);
    // A Checkout frame is not decoded here: it goes to the loader as it came, and must start
    // with its tag for the socket to see it.
    let checkout = serde_json::to_string(&ServerFrame::Checkout {
        payment: "pay_1".into(),
        client_secret: "cs_1_secret_x".into(),
        publishable_key: "pk_test_1".into(),
        script: "https://js.stripe.com/endive/stripe.js".into(),
    })
    .unwrap();
    assert!(checkout.starts_with(r#"{"type":"Checkout""#), "{checkout}");
    let client = vec![
        ClientFrame::Hello {
            site: "demo".into(),
            visitor_token: None,
            last_seq: None,
            lang: None,
        },
        ClientFrame::Hello {
            site: "demo".into(),
            visitor_token: Some("t".into()),
            last_seq: Some(42),
            lang: Some("de".into()),
        },
        ClientFrame::Text {
            client_id: "m-1".into(),
            text: "hi \"there\"".into(),
        },
        ClientFrame::DeclinePayment {
            payment: "pay_1".into(),
        },
        ClientFrame::Checkout {
            payment: "pay_1".into(),
        },
        ClientFrame::Visitor {
            name: Some("Ana".into()),
            email: None,
        },
    ];
    for f in client {
        let json = wire::encode(&f);
        assert_eq!(serde_json::from_str::<ClientFrame>(&json).unwrap(), f, "{json}");
    }
}

#[wasm_bindgen_test]
fn countdowns_read_like_a_clock() {
    assert_eq!(format::countdown(1781), "29:41");
    assert_eq!(format::countdown(5), "0:05");
    assert_eq!(format::countdown(3723), "1:02:03");
    assert_eq!(format::countdown(-3), "0:00");
}

/// Normalises the no-break spaces `Intl` puts between number and symbol.
fn plain(s: &str) -> String {
    s.replace(['\u{a0}', '\u{202f}'], " ")
}

#[wasm_bindgen_test]
fn amounts_follow_the_currency_and_the_locale() {
    assert_eq!(plain(&format::amount(4999, "USD", "en-US")), "$49.99");
    assert_eq!(plain(&format::amount(4999, "EUR", "de-DE")), "49,99 €");
    assert_eq!(
        plain(&format::amount(500, "JPY", "en-US")),
        "¥500",
        "JPY has no decimals"
    );
    assert_eq!(
        plain(&format::amount(5120, "KWD", "en-US")),
        "KWD 5.120",
        "three decimals"
    );
    assert_eq!(
        plain(&format::amount(500, "ISK", "en-US")),
        "ISK 5",
        "two API decimals, shown whole"
    );
}

fn card(status: PaymentStatus) -> Card {
    Card {
        payment: "pay_1".into(),
        amount: 4999,
        currency: "USD".into(),
        description: "Support contract deposit".into(),
        url: "https://checkout.example/cs_1".into(),
        status,
        expires_at: 1_000 + 29 * 60 + 41,
        expiring: false,
        confirming: false,
    }
}

/// Renders a card and returns its element once Yew has drawn it.
async fn render(status: PaymentStatus) -> web_sys::Element {
    render_card(card(status)).await
}

async fn render_card(card: Card) -> web_sys::Element {
    render_card_in(card, Words::default()).await
}

async fn render_card_in(card: Card, words: Words) -> web_sys::Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    yew::Renderer::<PaymentCard>::with_root_and_props(
        root.clone(),
        CardProps {
            card,
            now: 1_000,
            locale: "en-US".into(),
            latest: true,
            words,
            on_decline: Default::default(),
            on_new_link: Default::default(),
        },
    )
    .render();
    yew::platform::time::sleep(Duration::from_millis(20)).await;
    root
}

fn text_of(root: &web_sys::Element, css: &str) -> Option<String> {
    root.query_selector(css)
        .ok()
        .flatten()
        .and_then(|e| e.text_content())
}

#[wasm_bindgen_test]
async fn every_card_state_shows_the_right_chip_and_actions() {
    let pending = render(PaymentStatus::Pending).await;
    assert_eq!(text_of(&pending, ".cp-chip").as_deref(), Some("Pending"));
    assert_eq!(
        text_of(&pending, ".cp-desc").as_deref(),
        Some("Support contract deposit")
    );
    assert_eq!(text_of(&pending, ".cp-amount").as_deref(), Some("$49.99"));
    assert_eq!(text_of(&pending, ".cp-countdown").as_deref(), Some("29:41"));
    let pay = pending.query_selector("a.cp-pay").unwrap().unwrap();
    assert_eq!(
        pay.get_attribute("href").as_deref(),
        Some("https://checkout.example/cs_1")
    );
    assert_eq!(
        pay.get_attribute("target").as_deref(),
        Some("_blank"),
        "Checkout opens in a new tab"
    );
    assert!(pay.get_attribute("rel").unwrap().contains("noopener"));
    assert_eq!(text_of(&pending, "button.cp-decline").as_deref(), Some("Not now"));
    assert!(
        pending.query_selector("iframe").unwrap().is_none(),
        "never an iframe"
    );

    let processing = render(PaymentStatus::Processing).await;
    assert_eq!(text_of(&processing, ".cp-chip").as_deref(), Some("Processing"));
    assert!(processing.query_selector(".cp-pay").unwrap().is_none());

    let paid = render(PaymentStatus::Paid).await;
    assert_eq!(text_of(&paid, ".cp-chip").as_deref(), Some("Paid ✓"));
    assert!(
        paid.query_selector("button").unwrap().is_none(),
        "nothing left to do"
    );

    let checked = render(PaymentStatus::Mismatch).await;
    assert_eq!(text_of(&checked, ".cp-chip").as_deref(), Some("Being checked"));
    assert_eq!(
        text_of(&checked, ".cp-note").as_deref(),
        Some("A person will check this payment and reply here.")
    );
    assert!(checked.query_selector("button, .cp-pay").unwrap().is_none());

    let expiring = render_card(Card {
        expiring: true,
        ..card(PaymentStatus::Pending)
    })
    .await;
    assert_eq!(text_of(&expiring, ".cp-chip").as_deref(), Some("Expiring…"));
    assert!(
        expiring.query_selector(".cp-pay, button").unwrap().is_none(),
        "a link being cancelled is not offered"
    );

    for (status, chip) in [
        (PaymentStatus::Expired, "Expired"),
        (PaymentStatus::Failed, "Failed"),
    ] {
        let el = render(status).await;
        assert_eq!(text_of(&el, ".cp-chip").as_deref(), Some(chip));
        assert_eq!(
            text_of(&el, "button.cp-newlink").as_deref(),
            Some("Get a new link")
        );
        assert!(
            el.query_selector(".cp-pay").unwrap().is_none(),
            "an expired link is not offered"
        );
    }
}

#[wasm_bindgen_test]
fn not_now_shows_expiring_at_once_until_stripe_confirms_or_fails() {
    let card_of = |s: &ChatState| match &s.items[0].body {
        Body::Card(c) => (c.status, c.expiring),
        Body::Line(_) => unreachable!(),
    };
    let s = reduce(
        ChatState::new(true, 1_000),
        vec![card_frame(1, "pay_1"), Action::Declining("pay_1".into())],
    );
    assert_eq!(card_of(&s), (PaymentStatus::Pending, true));

    // Stripe could not be reached: the link is still open, Pay and Not now come back.
    let failed = reduce(
        s.clone(),
        vec![Action::Frame(ServerFrame::Error {
            code: ErrorCode::DeclineFailed,
            message: "the payment link could not be cancelled just now; please try again".into(),
        })],
    );
    assert_eq!(card_of(&failed), (PaymentStatus::Pending, false));
    assert!(failed.notice.as_deref().unwrap().contains("try again"));

    // Stripe confirmed: Expired.
    let done = reduce(
        s,
        vec![Action::Frame(ServerFrame::PaymentUpdate {
            seq: 2,
            payment: "pay_1".into(),
            status: PaymentStatus::Expired,
            at: 2,
        })],
    );
    assert_eq!(card_of(&done), (PaymentStatus::Expired, false));
}

#[wasm_bindgen_test]
fn a_gap_in_the_history_is_asked_for_once_and_closes_when_filled() {
    use chatpay_widget::services::socket::SeqTracker;
    let mut t = SeqTracker::default();
    assert_eq!((t.saw(1), t.saw(2)), (None, None));
    // 3 was lost (another relay's frame): 4 arrives and the tab asks for what follows 2.
    assert_eq!(t.saw(4), Some(2));
    assert_eq!(t.saw(5), None, "asked once for this gap");
    assert_eq!(t.last, 2, "a reconnect would continue after 2, not skip 3");
    // The replay brings 3, 4, 5 again.
    assert_eq!((t.saw(3), t.saw(4), t.saw(5)), (None, None, None));
    assert_eq!(t.last, 5);
    assert_eq!(t.saw(2), None, "old frames change nothing");
    assert_eq!(t.saw(7), Some(5), "a new gap is asked for again");
}

#[wasm_bindgen_test]
fn a_page_the_chat_is_not_set_up_for_stays_refused() {
    use chatpay_widget::state::Conn;
    for code in [ErrorCode::OriginNotAllowed, ErrorCode::UnknownSite] {
        let s = reduce(
            ChatState::new(true, 0),
            vec![
                Action::Conn(Conn::Connecting),
                Action::Frame(ServerFrame::Error {
                    code,
                    message: "the page's origin 'https://x.test' may not open the chat".into(),
                }),
                // The socket's close comes after the reason: it must not say "reconnecting".
                Action::Conn(Conn::Offline),
            ],
        );
        assert_eq!(s.conn, Conn::NotSetUp, "{code:?}");
        assert_eq!(s.notice, None, "the owner's words go to the browser's console");
    }
    // Any other error is a notice, and the tab stays connected.
    let s = reduce(
        ChatState::new(true, 0),
        vec![
            Action::Conn(Conn::Online),
            Action::Frame(ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
            }),
        ],
    );
    assert_eq!((s.conn, s.notice.as_deref()), (Conn::Online, Some("slow down")));
}

#[wasm_bindgen_test]
fn a_closed_chat_drops_what_was_refused_and_starting_over_clears_it() {
    let s = reduce(
        ChatState::new(true, 0),
        vec![
            msg(1, Author::Bot, "This conversation is now closed.", None),
            Action::Frame(ServerFrame::Closed),
        ],
    );
    assert!(s.closed);
    // Written just as it closed: refused, and gone from view.
    let s = reduce(
        s,
        vec![
            Action::Sent {
                client_id: "m-1".into(),
                text: "one more thing".into(),
                at: 0,
            },
            Action::Frame(ServerFrame::Error {
                code: ErrorCode::Closed,
                message: "This conversation has ended".into(),
            }),
        ],
    );
    assert_eq!(texts(&s), vec!["This conversation is now closed."]);
    assert!(s.closed);
    let s = reduce(s, vec![Action::StartOver]);
    assert!(!s.closed && s.items.is_empty() && s.open);
}

/// The card in two languages: the relay's German words, and the English ones the widget
/// carries when the relay sends none.
#[wasm_bindgen_test]
async fn the_card_speaks_the_visitors_language() {
    use chatpay_shared::texts::{Text, COUNT, EN};
    let mut german: Vec<String> = EN.iter().map(|t| (*t).to_owned()).collect();
    german[Text::Pay as usize] = "Bezahlen".into();
    german[Text::NotNow as usize] = "Nicht jetzt".into();
    german[Text::ChipPending as usize] = "Offen".into();
    german[Text::ExpiresIn as usize] = "Link läuft ab in ".into();
    german[Text::ChipPaid as usize] = "Bezahlt ✓".into();
    assert_eq!(german.len(), COUNT);
    let words = Words::from_table(german);

    let de = render_card_in(card(PaymentStatus::Pending), words.clone()).await;
    assert_eq!(text_of(&de, ".cp-pay").as_deref(), Some("Bezahlen"));
    assert_eq!(text_of(&de, ".cp-decline").as_deref(), Some("Nicht jetzt"));
    assert_eq!(text_of(&de, ".cp-chip").as_deref(), Some("Offen"));
    assert!(text_of(&de, ".cp-note")
        .unwrap()
        .starts_with("Link läuft ab in 29:41"));
    let paid = render_card_in(card(PaymentStatus::Paid), words).await;
    assert_eq!(text_of(&paid, ".cp-chip").as_deref(), Some("Bezahlt ✓"));

    let en = render_card(card(PaymentStatus::Pending)).await;
    assert_eq!(text_of(&en, ".cp-pay").as_deref(), Some("Pay"));
    assert_eq!(text_of(&en, ".cp-chip").as_deref(), Some("Pending"));
    // A table of the wrong length is not believed.
    assert_eq!(Words::from_table(vec!["x".into()]), Words::default());
}

/// The widget's small allocator gives freed memory back to later allocations: a long chat
/// replayed two hundred times (every message, card and update allocated and dropped) leaves
/// the wasm memory the size one replay needs, not two hundred times it.
#[wasm_bindgen_test]
fn a_long_chat_replayed_many_times_does_not_grow_memory() {
    let bytes = || {
        js_sys::WebAssembly::Memory::from(wasm_bindgen::memory())
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length()
    };
    let replay = || {
        let mut actions = Vec::new();
        for i in 0..400u64 {
            actions.push(msg(
                i * 2 + 1,
                Author::Visitor,
                &"a visitor's words ".repeat(8),
                None,
            ));
            actions.push(card_frame(i * 2 + 2, &format!("pay_{i}")));
        }
        let s = reduce(ChatState::new(true, 0), actions);
        assert_eq!(s.items.len(), 800);
    };
    replay();
    let after_one = bytes();
    for _ in 0..200 {
        replay();
    }
    let after_many = bytes();
    assert!(
        after_many <= after_one * 2,
        "memory grew from {after_one} to {after_many} bytes"
    );
}

#[wasm_bindgen_test]
fn a_completed_checkout_says_confirming_until_the_relay_says_paid() {
    let s = reduce(
        ChatState::new(true, 1_000),
        vec![card_frame(1, "pay_1"), Action::Confirming("pay_1".into())],
    );
    assert!(matches!(&s.items[0].body, Body::Card(c) if c.confirming && c.status == PaymentStatus::Pending));
    // Paid only from the relay's update (the signed webhook), never on the browser's word.
    let paid = reduce(
        s,
        vec![Action::Frame(ServerFrame::PaymentUpdate {
            seq: 2,
            payment: "pay_1".into(),
            status: PaymentStatus::Paid,
            at: 3,
        })],
    );
    assert!(matches!(&paid.items[0].body, Body::Card(c) if c.status == PaymentStatus::Paid));
}

#[wasm_bindgen_test]
async fn a_card_paid_over_the_panel_says_confirming_and_the_loaders_words_are_read() {
    let confirming = render_card(Card {
        confirming: true,
        ..card(PaymentStatus::Pending)
    })
    .await;
    assert_eq!(
        text_of(&confirming, ".cp-note").as_deref(),
        Some("Confirming the payment with Stripe…")
    );
    assert_eq!(text_of(&confirming, ".cp-chip").as_deref(), Some("Pending"));
    assert!(
        confirming.query_selector(".cp-pay").unwrap().is_none(),
        "nothing to press while Stripe confirms"
    );

    // What the loader says: Pay pressed on such a card, and Stripe's onComplete.
    let detail = |k: &str| {
        let o = js_sys::Object::new();
        js_sys::Reflect::set(&o, &k.into(), &"pay_1".into()).unwrap();
        o.into()
    };
    assert_eq!(
        chatpay_widget::bridge::command(&detail("checkout")),
        Some(chatpay_widget::bridge::Command::Checkout("pay_1".into()))
    );
    assert_eq!(
        chatpay_widget::bridge::command(&detail("paid")),
        Some(chatpay_widget::bridge::Command::Chat(Action::Confirming(
            "pay_1".into()
        )))
    );
}
