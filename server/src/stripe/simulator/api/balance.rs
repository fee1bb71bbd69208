//! `GET /v1/balance`: what chatpay calls to test a key.

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::json;

use super::*;

pub(super) async fn balance(headers: HeaderMap) -> Result<Response, SimError> {
    authenticate(&headers, &Method::GET)?;
    Ok(ok(json!({
        "object": "balance",
        "available": [{ "amount": 0, "currency": "usd", "source_types": { "card": 0 } }],
        "pending": [{ "amount": 0, "currency": "usd", "source_types": { "card": 0 } }],
        "livemode": false,
    })))
}
