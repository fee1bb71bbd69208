//! The wire protocol in the browser: frames are parsed and written with the browser's own
//! `JSON`, and read field by field into the shared-crate types. Same JSON as the relay's
//! serde (tests check both directions), without a JSON library in the download.

use chatpay_shared::protocol::{Author, ClientFrame, ErrorCode, PaymentStatus, ServerFrame};
use js_sys::{Object, JSON};
use wasm_bindgen::JsValue;

use crate::js::{self, set};

struct Fields(JsValue);

impl Fields {
    fn get(&self, key: &str) -> Option<JsValue> {
        js::get(&self.0, key)
    }
    fn text(&self, key: &str) -> Option<String> {
        js::text(&self.0, key)
    }
    fn int(&self, key: &str) -> Option<i64> {
        self.get(key)?.as_f64().map(|n| n as i64)
    }
    /// A list of strings (missing: empty).
    fn strings(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                js_sys::Array::from(&v)
                    .iter()
                    .filter_map(|x| x.as_string())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn seq(&self) -> Option<u64> {
        self.int("seq").map(|n| n.max(0) as u64)
    }
}

/// A server frame from its JSON text; `None` for anything this widget does not know.
pub fn decode(text: &str) -> Option<ServerFrame> {
    let f = Fields(JSON::parse(text).ok()?);
    Some(match f.text("type")?.as_str() {
        "Welcome" => ServerFrame::Welcome {
            visitor_token: f.text("visitor_token")?,
            conversation: f.text("conversation")?,
            site_name: f.text("site_name")?,
            color: f.text("color"),
            texts: f.strings("texts"),
        },
        "Message" => ServerFrame::Message {
            seq: f.seq()?,
            from: Author::parse(&f.text("from")?)?,
            text: f.text("text")?,
            at: f.int("at")?,
            client_id: f.text("client_id"),
        },
        "PaymentCard" => ServerFrame::PaymentCard {
            seq: f.seq()?,
            payment: f.text("payment")?,
            amount: f.int("amount")?,
            currency: f.text("currency")?,
            description: f.text("description")?,
            url: f.text("url")?,
            status: PaymentStatus::parse(&f.text("status")?)?,
            expires_at: f.int("expires_at")?,
            at: f.int("at")?,
        },
        "PaymentUpdate" => ServerFrame::PaymentUpdate {
            seq: f.seq()?,
            payment: f.text("payment")?,
            status: PaymentStatus::parse(&f.text("status")?)?,
            at: f.int("at")?,
        },
        "Typing" => ServerFrame::Typing,
        "Closed" => ServerFrame::Closed,
        "Error" => ServerFrame::Error {
            code: f
                .text("code")
                .and_then(|c| ErrorCode::parse(&c))
                .unwrap_or(ErrorCode::Internal),
            message: f.text("message")?,
        },
        _ => return None,
    })
}

fn set_opt(obj: &Object, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        set(obj, key, &JsValue::from_str(v));
    }
}

/// A client frame as JSON text.
pub fn encode(frame: &ClientFrame) -> String {
    let o = Object::new();
    match frame {
        ClientFrame::Hello {
            site,
            visitor_token,
            last_seq,
            lang,
        } => {
            set(&o, "type", &"Hello".into());
            set(&o, "site", &JsValue::from_str(site));
            set_opt(&o, "visitor_token", visitor_token);
            set_opt(&o, "lang", lang);
            if let Some(s) = last_seq {
                set(&o, "last_seq", &JsValue::from_f64(*s as f64));
            }
        }
        ClientFrame::Text { client_id, text } => {
            set(&o, "type", &"Text".into());
            set(&o, "client_id", &JsValue::from_str(client_id));
            set(&o, "text", &JsValue::from_str(text));
        }
        ClientFrame::DeclinePayment { payment } => {
            set(&o, "type", &"DeclinePayment".into());
            set(&o, "payment", &JsValue::from_str(payment));
        }
        ClientFrame::Checkout { payment } => {
            set(&o, "type", &"Checkout".into());
            set(&o, "payment", &JsValue::from_str(payment));
        }
        ClientFrame::Replay { after } => {
            set(&o, "type", &"Replay".into());
            set(&o, "after", &JsValue::from_f64(*after as f64));
        }
        ClientFrame::Visitor { name, email } => {
            set(&o, "type", &"Visitor".into());
            set_opt(&o, "name", name);
            set_opt(&o, "email", email);
        }
    }
    JSON::stringify(&o)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}
