//! The socket to the relay, with reconnects.
//!
//! [`Connection`] opens `ws(s)://relay/ws?site=…`, says `Hello` with the stored token and
//! the last `seq` it has, hands every server frame to `on_frame`, resends messages the relay
//! has not confirmed, and reconnects with backoff (1 s, doubling, at most 30 s, jittered) —
//! unless the relay said the chat is not set up for this page (then it says so in the
//! browser's console, for the owner, and stops).

use std::cell::RefCell;
use std::rc::Rc;

use chatpay_shared::protocol::{ClientFrame, ErrorCode, ServerFrame};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, WebSocket};
use yew::Callback;

use super::storage;
use crate::state::Conn;

struct Inner {
    url: String,
    site: String,
    /// The visitor's language, said in every Hello.
    lang: String,
    ws: Option<WebSocket>,
    /// The `seq`s this tab has (and what to ask for when one is missing).
    seqs: SeqTracker,
    /// Sent but not yet echoed back: (client_id, text).
    unconfirmed: Vec<(String, String)>,
    backoff_ms: i32,
    /// The relay said this page cannot have the chat: no more reconnects.
    refused: bool,
    /// The visitor's name and email from the host page, sent after every Welcome.
    visitor: Option<(Option<String>, Option<String>)>,
    on_frame: Callback<ServerFrame>,
    on_conn: Callback<Conn>,
    // Kept alive as long as the socket uses them.
    handlers: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

/// A live, self-healing connection. Cloning shares it.
#[derive(Clone)]
pub struct Connection(Rc<RefCell<Inner>>);

impl Connection {
    /// `base` is the relay's origin, like `https://chat.example`.
    pub fn open(
        base: &str,
        site: &str,
        lang: &str,
        on_frame: Callback<ServerFrame>,
        on_conn: Callback<Conn>,
    ) -> Connection {
        let mut url = String::with_capacity(base.len() + site.len() + 12);
        url.push_str(if base.starts_with("https:") { "wss" } else { "ws" });
        let rest = base
            .strip_prefix("https")
            .or_else(|| base.strip_prefix("http"))
            .unwrap_or(base);
        url.push_str(rest);
        url.push_str("/ws?site=");
        url.push_str(&js_sys::encode_uri_component(site).as_string().unwrap_or_default());
        let conn = Connection(Rc::new(RefCell::new(Inner {
            url,
            site: site.to_owned(),
            lang: lang.to_owned(),
            ws: None,
            seqs: SeqTracker::default(),
            unconfirmed: Vec::new(),
            backoff_ms: 1000,
            refused: false,
            visitor: None,
            on_frame,
            on_conn,
            handlers: Vec::new(),
        })));
        conn.connect();
        conn
    }

    /// Sends a frame now if the socket is open (declines and identity are not queued: the
    /// relay's state decides, and a later reconnect reconciles).
    pub fn send_now(&self, frame: &ClientFrame) {
        if let Some(ws) = &self.0.borrow().ws {
            if ws.ready_state() == WebSocket::OPEN {
                send(ws, frame);
            }
        }
    }

    /// Tells the relay who the visitor is, now and after every reconnect.
    pub fn set_visitor(&self, name: Option<String>, email: Option<String>) {
        let frame = ClientFrame::Visitor {
            name: name.clone(),
            email: email.clone(),
        };
        self.0.borrow_mut().visitor = Some((name, email));
        self.send_now(&frame);
    }

    /// Sends a visitor message now, or as soon as the socket is back.
    pub fn send_text(&self, client_id: &str, text: &str) {
        let frame = ClientFrame::Text {
            client_id: client_id.to_owned(),
            text: text.to_owned(),
        };
        let mut inner = self.0.borrow_mut();
        inner.unconfirmed.push((client_id.to_owned(), text.to_owned()));
        if let Some(ws) = &inner.ws {
            if ws.ready_state() == WebSocket::OPEN {
                send(ws, &frame);
            }
        }
    }

    /// Starts a new conversation ("Start a new chat"): the stored token is forgotten, and the
    /// socket is opened again from nothing.
    pub fn start_over(&self) {
        let (old, handlers) = {
            let mut inner = self.0.borrow_mut();
            storage::forget_token(&inner.site);
            inner.seqs = SeqTracker::default();
            inner.unconfirmed.clear();
            inner.backoff_ms = 1000;
            (inner.ws.take(), std::mem::take(&mut inner.handlers))
        };
        if let Some(ws) = old {
            // Unhooked first: closing it schedules no reconnect and reports nothing.
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
        drop(handlers);
        self.connect();
    }

    fn connect(&self) {
        let url = self.0.borrow().url.clone();
        let Ok(ws) = WebSocket::new(&url) else {
            self.schedule_reconnect();
            return;
        };
        let on_conn = self.0.borrow().on_conn.clone();
        on_conn.emit(Conn::Connecting);
        let on_open = {
            let me = self.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| me.on_open())
        };
        let on_message = {
            let me = self.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
                if let Some(text) = e.dyn_ref::<MessageEvent>().and_then(|m| m.data().as_string()) {
                    me.on_message(&text);
                }
            })
        };
        let on_close = {
            let me = self.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| me.on_close())
        };
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut inner = self.0.borrow_mut();
        inner.handlers = vec![on_open, on_message, on_close];
        inner.ws = Some(ws);
    }

    fn on_open(&self) {
        let inner = self.0.borrow();
        let Some(ws) = &inner.ws else { return };
        let last_seq = inner.seqs.last;
        send(
            ws,
            &ClientFrame::Hello {
                site: inner.site.clone(),
                visitor_token: storage::load_token(&inner.site),
                last_seq: (last_seq > 0).then_some(last_seq),
                lang: Some(inner.lang.clone()),
            },
        );
    }

    fn on_message(&self, text: &str) {
        // What mounts a checkout goes to the loader as it came (see `bridge`): the relay's
        // serde writes the tag first.
        if text.starts_with("{\"type\":\"Checkout\"") {
            crate::bridge::to_loader("pay", text);
            return;
        }
        let Some(frame) = super::wire::decode(text) else {
            return;
        };
        let on_frame = {
            let mut inner = self.0.borrow_mut();
            if let Some(seq) = frame.seq() {
                if let (Some(after), Some(ws)) = (inner.seqs.saw(seq), &inner.ws) {
                    // A frame lost between relays must not be skipped, nor forgotten at the
                    // next reconnect: ask for what is missing.
                    send(ws, &ClientFrame::Replay { after });
                }
            }
            match &frame {
                ServerFrame::Welcome { visitor_token, .. } => {
                    storage::save_token(&inner.site, visitor_token);
                    inner.backoff_ms = 1000;
                    // Whatever the relay has not confirmed goes again; it drops repeats.
                    if let Some(ws) = &inner.ws {
                        if let Some((name, email)) = &inner.visitor {
                            send(
                                ws,
                                &ClientFrame::Visitor {
                                    name: name.clone(),
                                    email: email.clone(),
                                },
                            );
                        }
                        for (client_id, text) in &inner.unconfirmed {
                            send(
                                ws,
                                &ClientFrame::Text {
                                    client_id: client_id.clone(),
                                    text: text.clone(),
                                },
                            );
                        }
                    }
                }
                ServerFrame::Message {
                    client_id: Some(id), ..
                } => inner.unconfirmed.retain(|(c, _)| c != id),
                // Nothing more will be taken: messages not yet confirmed are not resent.
                ServerFrame::Closed
                | ServerFrame::Error {
                    code: ErrorCode::Closed,
                    ..
                } => inner.unconfirmed.clear(),
                ServerFrame::Error { code, message } if code.is_setup_problem() => {
                    // For the site owner, who opens the browser's console: the exact fix.
                    web_sys::console::error_1(&["chatpay: ", message].concat().into());
                    inner.refused = true;
                }
                _ => {}
            }
            inner.on_frame.clone()
        };
        on_frame.emit(frame);
    }

    fn on_close(&self) {
        let (on_conn, refused) = {
            let mut inner = self.0.borrow_mut();
            inner.ws = None;
            (inner.on_conn.clone(), inner.refused)
        };
        if refused {
            on_conn.emit(Conn::NotSetUp);
            return;
        }
        on_conn.emit(Conn::Offline);
        self.schedule_reconnect();
    }

    fn schedule_reconnect(&self) {
        let delay = {
            let mut inner = self.0.borrow_mut();
            let d = inner.backoff_ms;
            inner.backoff_ms = (d * 2).min(30_000);
            // Jitter: after a relay restarts, its visitors do not all come back at once.
            (f64::from(d) * (0.5 + js_sys::Math::random() / 2.0)) as i32
        };
        let me = self.clone();
        let retry = Closure::once_into_js(move || me.connect());
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(retry.unchecked_ref(), delay);
        }
    }
}

/// The history a tab has: the newest `seq` with nothing missing before it (what a
/// reconnect asks to continue from), and the `seq`s seen past a gap.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SeqTracker {
    pub last: u64,
    ahead: Vec<u64>,
    asked: u64,
}

impl SeqTracker {
    /// Notes a frame's `seq`. `Some(after)`: a gap opened; ask the relay for everything
    /// after `after` (once per gap).
    pub fn saw(&mut self, seq: u64) -> Option<u64> {
        if seq == self.last + 1 {
            self.last = seq;
            while let Some(i) = self.ahead.iter().position(|s| *s == self.last + 1) {
                self.last = self.ahead.swap_remove(i);
            }
            self.ahead.retain(|s| *s > self.last);
            None
        } else if seq > self.last + 1 {
            self.ahead.push(seq);
            (self.asked != self.last + 1).then(|| {
                self.asked = self.last + 1;
                self.last
            })
        } else {
            None
        }
    }
}

fn send(ws: &WebSocket, frame: &ClientFrame) {
    let _ = ws.send_with_str(&super::wire::encode(frame));
}
