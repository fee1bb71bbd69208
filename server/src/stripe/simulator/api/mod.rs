//! The simulated Stripe API under `/simulator/stripe/v1/…`, answering like Stripe: the same
//! paths, form-encoded parameters, JSON objects and error envelopes
//! (`{"error": {"type", "code", "message", "param"}}`).
//!
//! One file per Stripe resource ([`checkout_sessions`], [`payment_method_configurations`],
//! [`webhook_endpoints`], [`events`], [`refunds`], [`balance`], the
//! [`disputes`] test helper); [`auth`] holds the keys and
//! idempotency, [`clock`] the test control; this file the routes, the write budget and the
//! Stripe-shaped errors they share.

mod auth;
mod balance;
mod checkout_sessions;
mod clock;
mod disputes;
mod events;
mod payment_method_configurations;
mod refunds;
mod webhook_endpoints;

pub(crate) use auth::{authenticate, authenticate_for, Account};
use auth::{idempotent, missing_permission};
use balance::balance;
pub(crate) use checkout_sessions::public;
use checkout_sessions::url_param;
use checkout_sessions::{create_session, expire_session, list_sessions, retrieve_session};
use clock::advance_clock;
use disputes::dispute;
use events::list_events;
use payment_method_configurations::{create_pmc, retrieve_pmc, update_pmc};
use refunds::create_refund;
use webhook_endpoints::{create_endpoint, delete_endpoint, list_endpoints};

use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{stripe_id, SimState, Simulator};
use crate::client::ClientIp;
use crate::stripe::client::API_VERSION;
use crate::stripe::form::Form;

const BASE: &str = "/simulator/stripe";

pub fn router(state: SimState) -> Router<SimState> {
    Router::new()
        .route("/simulator/stripe/v1/balance", get(balance))
        .route(
            "/simulator/stripe/v1/checkout/sessions",
            post(create_session).get(list_sessions),
        )
        .route(
            "/simulator/stripe/v1/checkout/sessions/{id}",
            get(retrieve_session),
        )
        .route(
            "/simulator/stripe/v1/checkout/sessions/{id}/expire",
            post(expire_session),
        )
        .route(
            "/simulator/stripe/v1/payment_method_configurations",
            post(create_pmc),
        )
        .route(
            "/simulator/stripe/v1/payment_method_configurations/{id}",
            post(update_pmc).get(retrieve_pmc),
        )
        .route(
            "/simulator/stripe/v1/webhook_endpoints",
            post(create_endpoint).get(list_endpoints),
        )
        .route(
            "/simulator/stripe/v1/webhook_endpoints/{id}",
            axum::routing::delete(delete_endpoint),
        )
        .route("/simulator/stripe/v1/refunds", post(create_refund))
        .route("/simulator/stripe/v1/test_helpers/disputes", post(dispute))
        .route("/simulator/stripe/v1/events", get(list_events))
        .route("/simulator/stripe/{*rest}", axum::routing::any(unknown_path))
        .route("/simulator/clock/advance", post(advance_clock))
        .route_layer(axum::middleware::from_fn_with_state(state, budget_writes))
        .route_layer(axum::middleware::from_fn(speaks_one_version))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

/// The simulator answers in chatpay's API version only ([`API_VERSION`]): a request that
/// names another `Stripe-Version` is refused, saying which one it speaks, rather than
/// answered in a shape its caller did not ask for. A request without the header gets the
/// simulator's version, as Stripe gives an account's default.
async fn speaks_one_version(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let asked = req
        .headers()
        .get("stripe-version")
        .map(|v| v.to_str().unwrap_or("?"));
    match asked {
        Some(v) if v != API_VERSION => {
            let shown: String = v.chars().take(40).collect();
            invalid(
                &format!(
                    "The simulator answers in Stripe API version {API_VERSION} only, not '{shown}': send Stripe-Version: {API_VERSION}, or none."
                ),
                None,
            )
            .into_response()
        }
        _ => next.run(req).await,
    }
}

/// Writes (POST) are budgeted per client address, answered like Stripe's rate limit: an
/// anonymous script once filled the database with sessions.
async fn budget_writes(
    ClientIp(ip): ClientIp,
    State(state): State<SimState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() == Method::POST {
        if let Err(refused) = state.limits.simulator_write(ip) {
            let mut resp = stripe_error(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request_error",
                Some("rate_limit"),
                refused.message(),
                None,
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&refused.retry_after_secs().to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
            return resp;
        }
    }
    next.run(req).await
}

/// A Stripe-shaped error: `{"error": {"type", "code", "message", "param"}}`.
#[derive(Debug)]
pub(crate) struct SimError(Box<(StatusCode, Value)>);

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let (status, body) = *self.0;
        let mut resp = (status, Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&stripe_id("req_")) {
            resp.headers_mut().insert("request-id", v);
        }
        resp
    }
}

pub(crate) fn stripe_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> SimError {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(c) = code {
        error["code"] = json!(c);
    }
    if let Some(p) = param {
        error["param"] = json!(p);
    }
    SimError(Box::new((status, json!({ "error": error }))))
}

/// Stripe's longest string parameter (most take 5,000 characters).
const MAX_STRING: usize = 5000;
/// The largest request body the simulator reads: its requests are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// A request's form, refused like Stripe does when a value is longer than it takes.
fn decode(body: &[u8]) -> Result<Form, SimError> {
    let form = Form::decode(body);
    if let Some((k, v)) = form.fields().iter().find(|(_, v)| v.chars().count() > MAX_STRING) {
        let start: String = v.chars().take(20).collect();
        return Err(invalid(
            &format!(
                "Invalid string: {start}...; must be at most {MAX_STRING} characters (this one has {}).",
                v.chars().count()
            ),
            Some(k),
        ));
    }
    Ok(form)
}

fn invalid(message: &str, param: Option<&str>) -> SimError {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
        param,
    )
}

fn missing(param: &str) -> SimError {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("parameter_missing"),
        &format!("Missing required param: {param}."),
        Some(param),
    )
}

fn not_found(kind: &str, id: &str, param: &str) -> SimError {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
        Some(param),
    )
}

/// The account's stored object `id` when it is an `object`, else Stripe's resource_missing
/// error on `param`.
async fn fetch(
    sim: &Simulator,
    account: &Account,
    object: &str,
    id: &str,
    param: &str,
) -> Result<Value, SimError> {
    match sim.store.sim_get(&account.id, id).await.map_err(internal)? {
        Some(v) if v["object"] == object => Ok(v),
        _ => Err(not_found(object, id, param)),
    }
}

fn ok(value: Value) -> Response {
    let mut resp = Json(value).into_response();
    if let Ok(v) = HeaderValue::from_str(&stripe_id("req_")) {
        resp.headers_mut().insert("request-id", v);
    }
    resp
}

fn internal(e: impl std::fmt::Display) -> SimError {
    tracing::error!(error = %e, "simulator failed");
    stripe_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "api_error",
        None,
        "An unknown error occurred (simulator).",
        None,
    )
}

async fn unknown_path(method: Method, uri: Uri) -> SimError {
    let path = uri.path().strip_prefix(BASE).unwrap_or(uri.path());
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        None,
        &format!("Unrecognized request URL ({method}: {path}). The chatpay simulator implements only the endpoints chatpay uses."),
        None,
    )
}
