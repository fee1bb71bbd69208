//! A stand-in for Stripe in front of the relay's simulator: every request is forwarded over
//! real HTTP, and chosen calls can be made slow (the simulator does the work, the answer
//! comes late) or hang (nothing reaches the simulator, no answer ever comes).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

/// What happens to a matching call.
#[derive(Debug, Clone, Copy)]
pub enum Delay {
    /// Forwarded at once; the answer is held this long (Stripe is slow to answer).
    Answer(Duration),
    /// Held this long before it is forwarded (Stripe is slow to start).
    Start(Duration),
    /// Never forwarded, never answered (Stripe hangs).
    Hang,
    /// Not forwarded; answered at once with this HTTP status and a Stripe error body.
    Status(u16),
}

#[derive(Debug)]
struct Rule {
    method: Method,
    /// Matches paths that contain this text.
    path: String,
    delay: Delay,
    /// How many more calls it applies to.
    times: usize,
}

/// One call the stand-in saw.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub body: String,
}

#[derive(Debug, Default)]
struct Inner {
    target: String,
    rules: Vec<Rule>,
    calls: Vec<Call>,
}

/// The stand-in; its [`StandIn::url`] is the Stripe API base to give the relay.
#[derive(Clone)]
pub struct StandIn {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl StandIn {
    pub async fn start() -> StandIn {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = Arc::clone(&inner);
        let http = reqwest::Client::new();
        let app = Router::new().fallback(any(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let inner = Arc::clone(&shared);
                let http = http.clone();
                async move { forward(inner, http, method, uri, headers, body).await }
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIn {
            url: format!("http://{addr}"),
            inner,
        }
    }

    /// Where calls go on (the relay's simulator, `http://relay/simulator/stripe`).
    pub fn forward_to(&self, target: &str) {
        self.inner.lock().unwrap().target = target.trim_end_matches('/').to_owned();
    }

    /// Delays the next `times` calls of `method` whose path contains `path`.
    pub fn delay(&self, method: Method, path: &str, delay: Delay, times: usize) {
        self.inner.lock().unwrap().rules.push(Rule {
            method,
            path: path.to_owned(),
            delay,
            times,
        });
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }
}

async fn forward(
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    let (target, delay) = {
        let mut inner = inner.lock().unwrap();
        inner.calls.push(Call {
            method: method.clone(),
            path: uri.path().to_owned(),
            idempotency_key: headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let delay = inner
            .rules
            .iter_mut()
            .find(|r| r.times > 0 && r.method == method && uri.path().contains(&r.path))
            .map(|r| {
                r.times -= 1;
                r.delay
            });
        (inner.target.clone(), delay)
    };
    match delay {
        Some(Delay::Hang) => std::future::pending::<()>().await,
        Some(Delay::Status(code)) => {
            let body = serde_json::json!({"error": {"type": "invalid_request_error", "code": "rate_limit",
                "message": "Too many requests hit the API too quickly."}});
            return (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response();
        }
        Some(Delay::Start(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    let mut req = http
        .request(
            reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
            format!("{target}{path_and_query}"),
        )
        .body(body.to_vec());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match req.send().await {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
            let mut out = HeaderMap::new();
            for (name, value) in resp.headers() {
                if let (Ok(n), Ok(v)) = (
                    axum::http::HeaderName::from_bytes(name.as_str().as_bytes()),
                    axum::http::HeaderValue::from_bytes(value.as_bytes()),
                ) {
                    if n != "content-length" && n != "transfer-encoding" {
                        out.insert(n, v);
                    }
                }
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            (status, out, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("stand-in: {e}")).into_response(),
    };
    if let Some(Delay::Answer(d)) = delay {
        tokio::time::sleep(d).await;
    }
    answer
}
