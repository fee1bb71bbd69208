//! The relay's console API from the browser: JSON over `fetch`, the session cookie sent by
//! the browser, and the `X-Chatpay-Console: 1` header every write needs (CSRF protection).

use chatpay_shared::console::ApiError;
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A failed call as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub message: String,
    /// The form field the error is about.
    pub field: Option<String>,
    /// Every mistake of a form, each at its field (the form shows them all at once).
    pub fields: Vec<(String, String)>,
}

impl Failure {
    /// The message when it is about `field`.
    pub fn at(&self, field: &str) -> Option<String> {
        if let Some((_, m)) = self.fields.iter().find(|(f, _)| f == field) {
            return Some(m.clone());
        }
        (self.field.as_deref() == Some(field)).then(|| self.message.clone())
    }

    /// The message when it is about no particular field.
    pub fn general(&self) -> Option<String> {
        self.field.is_none().then(|| self.message.clone())
    }
}

fn network(e: gloo_net::Error) -> Failure {
    Failure {
        status: 0,
        message: format!("the relay did not answer ({e}); check your connection and try again"),
        field: None,
        fields: Vec::new(),
    }
}

async fn read<T: DeserializeOwned>(resp: Response) -> Result<T, Failure> {
    let status = resp.status();
    if (200..300).contains(&status) {
        return resp.json::<T>().await.map_err(|e| Failure {
            status,
            message: format!("unexpected answer from the relay: {e}"),
            field: None,
            fields: Vec::new(),
        });
    }
    match resp.json::<ApiError>().await {
        Ok(e) => Err(Failure {
            status,
            message: e.error.message,
            field: e.error.field,
            fields: e.error.fields.into_iter().map(|f| (f.field, f.message)).collect(),
        }),
        Err(_) => Err(Failure {
            status,
            message: format!("the relay answered {status}"),
            field: None,
            fields: Vec::new(),
        }),
    }
}

fn with_header(b: RequestBuilder) -> RequestBuilder {
    b.header("X-Chatpay-Console", "1")
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, Failure> {
    let resp = with_header(Request::get(path)).send().await.map_err(network)?;
    read(resp).await
}

async fn send<B: Serialize, T: DeserializeOwned>(builder: RequestBuilder, body: &B) -> Result<T, Failure> {
    let req = with_header(builder).json(body).map_err(network)?;
    let resp = req.send().await.map_err(network)?;
    read(resp).await
}

pub async fn post<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, Failure> {
    send(Request::post(path), body).await
}

pub async fn put<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, Failure> {
    send(Request::put(path), body).await
}

pub async fn delete<T: DeserializeOwned>(path: &str) -> Result<T, Failure> {
    let resp = with_header(Request::delete(path)).send().await.map_err(network)?;
    read(resp).await
}
