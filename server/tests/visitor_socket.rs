//! The visitor socket over a real WebSocket, on SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use chatpay_shared::protocol::{Author, ClientFrame, ErrorCode, ServerFrame};
use common::{shop, texts, Backend, TestApp, GREETING, ORIGIN, SITE};

/// What a site without a workflow says to a visitor's first message.
const WAIT_FOR_PERSON: &str = "I'm connecting you with a person. They will reply here.";

async fn new_visitor_gets_a_token_and_the_greeting(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let (mut c, welcome) = app.visitor(None, None).await;

    let ServerFrame::Welcome {
        visitor_token,
        site_name,
        ..
    } = welcome
    else {
        unreachable!()
    };
    assert_eq!(visitor_token.len(), 32, "a 128-bit token in hex");
    assert_eq!(site_name, "The Shop");
    match c.recv().await {
        ServerFrame::Message { seq, from, text, .. } => {
            assert_eq!((seq, from, text.as_str()), (1, Author::Bot, GREETING));
        }
        other => panic!("expected the greeting, got {other:?}"),
    }
    app.stop().await;
}
both!(new_visitor_gets_a_token_and_the_greeting);

async fn messages_are_stored_echoed_in_order_and_replayed_after_last_seq(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut c, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome {
        visitor_token,
        conversation,
        ..
    } = welcome
    else {
        unreachable!()
    };
    c.recv().await; // greeting, seq 1

    let mut seqs = Vec::new();
    for (i, text) in ["I need help", "with my order", "  #1234  "].iter().enumerate() {
        let echo = c.say(&format!("c{i}"), text).await;
        if i == 0 {
            // A site without a workflow is a live chat: a person is asked for, once.
            assert_eq!(texts(&[c.recv().await]), vec![WAIT_FOR_PERSON]);
        }
        match echo {
            ServerFrame::Message {
                seq,
                from,
                text: echoed,
                client_id,
                ..
            } => {
                assert_eq!(from, Author::Visitor);
                assert_eq!(echoed, text.trim(), "stored trimmed");
                assert_eq!(client_id.as_deref(), Some(format!("c{i}").as_str()));
                seqs.push(seq);
            }
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    assert_eq!(seqs, vec![2, 4, 5]);
    drop(c);

    // A reload: same token, and the tab already shows up to seq 3.
    let (mut again, welcome) = app.visitor(Some(&visitor_token), Some(3)).await;
    let ServerFrame::Welcome {
        visitor_token: same,
        conversation: same_conv,
        ..
    } = welcome
    else {
        unreachable!()
    };
    assert_eq!((same, same_conv), (visitor_token.clone(), conversation));
    let replay = vec![again.recv().await, again.recv().await];
    assert_eq!(texts(&replay), vec!["with my order", "#1234"]);
    assert!(
        again.try_recv(Duration::from_millis(300)).await.is_none(),
        "nothing else replayed"
    );

    // A fresh tab with the token and no last_seq gets the whole history.
    let (mut full, _) = app.visitor(Some(&visitor_token), None).await;
    let mut all = Vec::new();
    for _ in 0..5 {
        all.push(full.recv().await);
    }
    assert_eq!(
        texts(&all),
        vec![GREETING, "I need help", WAIT_FOR_PERSON, "with my order", "#1234"]
    );
    app.stop().await;
}
both!(messages_are_stored_echoed_in_order_and_replayed_after_last_seq);

async fn a_resent_client_id_is_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut c, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { visitor_token, .. } = welcome else {
        unreachable!()
    };
    c.recv().await;

    c.say("same", "hello?").await;
    assert_eq!(texts(&[c.recv().await]), vec![WAIT_FOR_PERSON]);
    c.send_text("same", "hello?").await;
    assert!(
        c.try_recv(Duration::from_millis(300)).await.is_none(),
        "a repeat is not echoed again"
    );

    let (mut other, _) = app.visitor(Some(&visitor_token), None).await;
    let history = vec![other.recv().await, other.recv().await, other.recv().await];
    assert_eq!(texts(&history), vec![GREETING, "hello?", WAIT_FOR_PERSON]);
    assert!(other.try_recv(Duration::from_millis(300)).await.is_none());
    app.stop().await;
}
both!(a_resent_client_id_is_stored_once);

/// Control characters typed or pasted by a script (NUL among them, which PostgreSQL cannot
/// store at all) are taken out: the message is stored and echoed without them, the same on
/// both databases, and the visitor's name with them is stored clean too.
async fn control_characters_are_taken_out_of_visitor_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut c, _) = app.visitor(None, None).await;
    c.recv().await;
    let echoed = c.say("nul", "before\u{0}after\u{7}!\nsecond line").await;
    assert_eq!(texts(&[echoed]), vec!["beforeafter!\nsecond line"]);
    assert_eq!(texts(&[c.recv().await]), vec![WAIT_FOR_PERSON]);
    c.send(&chatpay_shared::protocol::ClientFrame::Visitor {
        name: Some("Ada\u{0} Lovelace".into()),
        email: None,
    })
    .await;
    let echoed = c.say("after", "still here").await;
    assert_eq!(texts(&[echoed]), vec!["still here"], "the socket is fine");
    let name: Option<String> = sqlx::query_scalar("SELECT visitor_name FROM conversations")
        .fetch_one(app.state.store.reader())
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("Ada Lovelace"));
    app.stop().await;
}
both!(control_characters_are_taken_out_of_visitor_text);

async fn every_tab_of_a_conversation_sees_new_messages_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut a, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { visitor_token, .. } = welcome else {
        unreachable!()
    };
    a.recv().await;
    let (mut b, _) = app.visitor(Some(&visitor_token), Some(1)).await;

    a.say("x1", "from tab a").await;

    assert_eq!(texts(&[b.recv().await]), vec!["from tab a"]);
    app.stop().await;
}
both!(every_tab_of_a_conversation_sees_new_messages_live);

async fn an_unknown_token_starts_a_new_conversation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_c, welcome) = app
        .visitor(Some("0123456789abcdef0123456789abcdef"), Some(40))
        .await;
    let ServerFrame::Welcome { visitor_token, .. } = welcome else {
        unreachable!()
    };
    assert_ne!(visitor_token, "0123456789abcdef0123456789abcdef");
    let (mut c, _) = app.visitor(Some(&visitor_token), None).await;
    assert_eq!(texts(&[c.recv().await]), vec![GREETING]);
    app.stop().await;
}
both!(an_unknown_token_starts_a_new_conversation);

async fn sockets_from_other_origins_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // A page the site does not allow, and a data-site that names no site: the socket opens
    // only to say why (a browser cannot read an HTTP refusal), then closes.
    let refused = [
        (
            "http://evil.test",
            SITE,
            ErrorCode::OriginNotAllowed,
            "'http://evil.test'",
        ),
        (
            "http://shop.test:3001",
            SITE,
            ErrorCode::OriginNotAllowed,
            "allowed origins",
        ),
        (ORIGIN, "nope", ErrorCode::UnknownSite, "no site 'nope'"),
    ];
    for (origin, site, want, says) in refused {
        let mut c = app.socket(site, Some(origin)).await.unwrap();
        match c.recv().await {
            ServerFrame::Error { code, message } => {
                assert_eq!(code, want, "{origin} {site}");
                assert!(message.contains(says), "{message}");
            }
            other => panic!("expected the reason, got {other:?}"),
        }
        // Then the relay closes it, saying it is a policy refusal (the widget stops retrying).
        let closed = tokio::time::timeout(Duration::from_secs(5), futures_util::StreamExt::next(&mut c.ws))
            .await
            .expect("closed at once");
        match closed {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), 4403, "{f:?}")
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    // Without an Origin it is not a browser: plain HTTP 403.
    let err = app.socket(SITE, None).await.err().expect("refused");
    assert!(
        matches!(err, tokio_tungstenite::tungstenite::Error::Http(ref r) if r.status() == 403),
        "{err:?}"
    );
    app.stop().await;
}
both!(sockets_from_other_origins_are_refused);

async fn bad_frames_get_a_clear_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let mut c = app.socket(SITE, Some(ORIGIN)).await.unwrap();
    c.send_text("a", "hi").await;
    assert!(matches!(
        c.recv().await,
        ServerFrame::Error {
            code: ErrorCode::HelloFirst,
            ..
        }
    ));

    let (mut c, _) = app.visitor(None, None).await;
    c.recv().await;
    c.send_raw("{not json").await;
    assert!(matches!(
        c.recv().await,
        ServerFrame::Error {
            code: ErrorCode::BadFrame,
            ..
        }
    ));
    c.send_text("e", "   ").await;
    match c.recv().await {
        ServerFrame::Error {
            code: ErrorCode::BadText,
            message,
        } => assert!(message.contains("empty"), "{message}"),
        other => panic!("{other:?}"),
    }
    c.send(&ClientFrame::Text {
        client_id: "l".into(),
        text: "x".repeat(2001),
    })
    .await;
    match c.recv().await {
        ServerFrame::Error {
            code: ErrorCode::BadText,
            message,
        } => assert!(message.contains("2001"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Still usable afterwards.
    assert_eq!(texts(&[c.say("ok", "fine now").await]), vec!["fine now"]);
    app.stop().await;
}
both!(bad_frames_get_a_clear_error);

async fn a_flood_is_rate_limited(backend: Backend) {
    // The production default: eight at once, then one a second.
    let app = TestApp::spawn_with(backend, chatpay_server::assets::WidgetAssets::none(), None, |s| {
        s.budgets.messages_per_conversation =
            chatpay_server::budgets::Budgets::default().messages_per_conversation
    })
    .await;
    let (mut c, _) = app.visitor(None, None).await;
    c.recv().await;

    for i in 0..12 {
        c.send(&ClientFrame::Text {
            client_id: format!("f{i}"),
            text: "spam".into(),
        })
        .await;
    }
    let mut limited = 0;
    let mut stored = 0;
    while let Some(f) = c.try_recv(Duration::from_millis(500)).await {
        match f {
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited += 1,
            ServerFrame::Message {
                from: Author::Visitor,
                ..
            } => stored += 1,
            // A person is asked for after the first (a site without a workflow).
            ServerFrame::Message {
                from: Author::Bot, ..
            } => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(
        stored >= 8 && limited >= 1 && stored + limited == 12,
        "stored {stored}, limited {limited}"
    );
    app.stop().await;
}
both!(a_flood_is_rate_limited);

async fn shutdown_closes_sockets_with_a_restart_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut c, _) = app.visitor(None, None).await;
    c.recv().await;
    let stopping = tokio::spawn(app.stop());

    use futures_util::StreamExt;
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match c.ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f))) => {
                    return f.map(|f| u16::from(f.code))
                }
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("closed within 5 s");
    assert_eq!(close, Some(1012));
    stopping.await.unwrap();
}
both!(shutdown_closes_sockets_with_a_restart_code);

/// A frame that never reached this relay's hub (written by another relay, its news lost):
/// the next frame makes the relay send both, in order; and a tab that asks to replay after
/// a seq gets everything after it again.
async fn a_lost_frame_is_never_skipped(backend: Backend) {
    use chatpay_server::store::messages::{self, NewMessage};
    let app = TestApp::spawn(backend).await;
    let (mut c, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    c.recv().await; // the greeting, seq 1
    let mut tx = app.state.store.begin().await.unwrap();
    let frames = messages::append(
        &mut tx,
        &conversation,
        &[NewMessage::bot("lost on the way"), NewMessage::bot("arrived")],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.state.hub.publish(&conversation, &frames[1..]);
    let got = c
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text == "arrived"))
        .await;
    assert_eq!(texts(&got), vec!["lost on the way", "arrived"]);

    c.send(&ClientFrame::Replay { after: 1 }).await;
    let again = c
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text == "arrived"))
        .await;
    assert_eq!(texts(&again), vec!["lost on the way", "arrived"]);
    app.stop().await;
}
both!(a_lost_frame_is_never_skipped);

/// The socket loop is generic over any `Sink`/`Stream` of messages (its docs promise it can
/// be driven without a network): a conversation through two in-memory channels — Hello,
/// Welcome and the greeting, a message echoed with the next seq, and the loop ending when
/// the tab's side goes away.
async fn the_socket_loop_runs_over_channels_without_a_network(backend: Backend) {
    use axum::extract::ws::{Message, Utf8Bytes};

    let app = TestApp::spawn(backend).await;
    let site = app.state.store.site(&shop()).await.unwrap().unwrap();
    let (to_relay, from_tab) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let (to_tab, mut from_relay) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let stream = Box::pin(futures_util::stream::unfold(from_tab, |mut rx| async move {
        rx.recv().await.map(|m| (Ok::<_, axum::Error>(m), rx))
    }));
    let sink = Box::pin(futures_util::sink::unfold(to_tab, |tx, m: Message| async move {
        tx.send(m).map_err(|_| ())?;
        Ok::<_, ()>(tx)
    }));
    let ip = "127.0.0.1".parse().unwrap();
    let served = tokio::spawn(chatpay_server::routes::ws::run(
        app.state.clone(),
        site,
        ip,
        sink,
        stream,
    ));

    let say = |frame: ClientFrame| Message::Text(Utf8Bytes::from(serde_json::to_string(&frame).unwrap()));
    async fn hear(from_relay: &mut tokio::sync::mpsc::UnboundedReceiver<Message>) -> ServerFrame {
        match tokio::time::timeout(Duration::from_secs(5), from_relay.recv()).await {
            Ok(Some(Message::Text(t))) => serde_json::from_str::<ServerFrame>(&t).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
    to_relay
        .send(say(ClientFrame::Hello {
            site: SITE.into(),
            visitor_token: None,
            last_seq: None,
            lang: None,
        }))
        .unwrap();
    assert!(
        matches!(hear(&mut from_relay).await, ServerFrame::Welcome { site_name, .. } if site_name == "The Shop")
    );
    assert!(
        matches!(hear(&mut from_relay).await, ServerFrame::Message { seq: 1, text, .. } if text == GREETING)
    );
    to_relay
        .send(say(ClientFrame::Text {
            client_id: "c1".into(),
            text: "hello over a channel".into(),
        }))
        .unwrap();
    loop {
        match hear(&mut from_relay).await {
            ServerFrame::Message {
                seq,
                from: Author::Visitor,
                text,
                ..
            } => {
                assert_eq!((seq, text.as_str()), (2, "hello over a channel"));
                break;
            }
            _ => continue,
        }
    }
    drop(to_relay);
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the loop ends when the tab's side is gone")
        .unwrap();
    app.stop().await;
}
both!(the_socket_loop_runs_over_channels_without_a_network);
