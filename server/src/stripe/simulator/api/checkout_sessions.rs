//! Checkout Sessions: create (every parameter checked like Stripe), list, retrieve, expire.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use chatpay_shared::money::{Money, MoneyError};
use serde_json::{json, Value};

use super::*;
use crate::stripe::client::UI_MODE_EMBEDDED;
use crate::stripe::form::Form;
use crate::stripe::simulator::{events, stripe_id, SimState, Simulator};

/// The parameters `POST /v1/checkout/sessions` accepts (plus any `metadata[…]`).
pub(super) const SESSION_PARAMS: [&str; 16] = [
    "mode",
    "ui_mode",
    "return_url",
    "redirect_on_completion",
    "line_items[0][quantity]",
    "line_items[0][price_data][currency]",
    "line_items[0][price_data][unit_amount]",
    "line_items[0][price_data][product_data][name]",
    "line_items[0][price_data][product_data][description]",
    "client_reference_id",
    "expires_at",
    "success_url",
    "cancel_url",
    "payment_method_configuration",
    "customer_email",
    "locale",
];

pub(super) fn integer(form: &Form, param: &str) -> Result<Option<i64>, SimError> {
    match form.get(param) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| invalid(&format!("Invalid integer: {v}"), Some(param))),
    }
}

pub(super) fn url_param(form: &Form, param: &str) -> Result<Option<String>, SimError> {
    match form.get(param) {
        None => Ok(None),
        Some(v) => match url::Url::parse(v) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(Some(v.to_owned())),
            _ => Err(invalid(&format!("Not a valid URL: {v}"), Some(param))),
        },
    }
}

pub(super) async fn create_session(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    no_checkout(&account)?;
    let form = decode(&body)?;
    let path = "/v1/checkout/sessions";
    let resp = idempotent(&sim, &account, &headers, path, &form, || async {
        let session = validate_session(&sim, &account, &form).await?;
        let id = session["id"].as_str().unwrap_or_default().to_owned();
        sim.store
            .sim_put(&account.id, "checkout.session", &id, &session)
            .await
            .map_err(internal)?;
        Ok(public(session))
    })
    .await;
    Ok(resp)
}

pub(super) async fn validate_session(
    sim: &Simulator,
    account: &Account,
    form: &Form,
) -> Result<Value, SimError> {
    for (k, _) in form.fields() {
        if !SESSION_PARAMS.contains(&k.as_str()) && !k.starts_with("metadata[") {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_unknown"),
                &format!("Received unknown parameter: {k}"),
                Some(k),
            ));
        }
    }
    match form.get("mode") {
        None => return Err(missing("mode")),
        Some("payment") => {}
        Some(other) => {
            return Err(invalid(
                &format!("The simulator supports mode=payment only, not '{other}'."),
                Some("mode"),
            ))
        }
    }
    let currency = form
        .get("line_items[0][price_data][currency]")
        .ok_or_else(|| missing("line_items[0][price_data][currency]"))?;
    let unit = integer(form, "line_items[0][price_data][unit_amount]")?
        .ok_or_else(|| missing("line_items[0][price_data][unit_amount]"))?;
    let quantity =
        integer(form, "line_items[0][quantity]")?.ok_or_else(|| missing("line_items[0][quantity]"))?;
    if quantity < 1 {
        return Err(invalid(
            "This value must be greater than or equal to 1.",
            Some("line_items[0][quantity]"),
        ));
    }
    if unit < 0 {
        return Err(invalid(
            "This value must be greater than or equal to 0.",
            Some("line_items[0][price_data][unit_amount]"),
        ));
    }
    let name = form
        .get("line_items[0][price_data][product_data][name]")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| missing("line_items[0][price_data][product_data][name]"))?;
    let total = unit.checked_mul(quantity).unwrap_or(i64::MAX);
    if currency != currency.to_ascii_lowercase() {
        return Err(invalid(
            &format!("Invalid currency: {currency}. Currency codes must be lowercase."),
            Some("line_items[0][price_data][currency]"),
        ));
    }
    if let Err(e) = Money::from_minor(total, currency) {
        let param = Some("line_items[0][price_data][unit_amount]");
        return Err(match e {
            MoneyError::UnknownCurrency(_) => invalid(
                &format!("Invalid currency: {currency}."),
                Some("line_items[0][price_data][currency]"),
            ),
            MoneyError::BelowMinimum {
                minimum, currency, ..
            } => stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("amount_too_small"),
                &format!(
                    "The Checkout Session's total amount due must add up to at least {minimum} {}",
                    currency.to_lowercase()
                ),
                param,
            ),
            MoneyError::AboveMaximum {
                maximum, currency, ..
            } => stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("amount_too_large"),
                &format!(
                    "The Checkout Session's total amount due must be no more than {maximum} {}",
                    currency.to_lowercase()
                ),
                param,
            ),
            other => invalid(&other.to_string(), param),
        });
    }
    let ui = UiMode::of(form)?;
    let (success_url, cancel_url) = match ui {
        UiMode::Hosted => (
            Some(url_param(form, "success_url")?.ok_or_else(|| missing("success_url"))?),
            url_param(form, "cancel_url")?,
        ),
        UiMode::Embedded => (None, None),
    };
    let return_url = url_param(form, "return_url")?;
    let now = sim.now();
    let expires_at = integer(form, "expires_at")?.unwrap_or(now + 86_400);
    if expires_at < now + 1800 {
        return Err(invalid(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            Some("expires_at"),
        ));
    }
    if expires_at > now + 86_400 {
        return Err(invalid(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            Some("expires_at"),
        ));
    }
    if form
        .get("client_reference_id")
        .is_some_and(|c| c.chars().count() > 200)
    {
        return Err(invalid(
            "client_reference_id must be at most 200 characters.",
            Some("client_reference_id"),
        ));
    }
    let mut metadata = BTreeMap::new();
    for (k, v) in form.entries_under("metadata") {
        if k.chars().count() > 40 || v.chars().count() > 500 {
            return Err(invalid(
                "Metadata keys are at most 40 characters and values at most 500.",
                Some("metadata"),
            ));
        }
        metadata.insert(k.to_owned(), v.to_owned());
    }
    if metadata.len() > 50 {
        return Err(invalid(
            "You can have at most 50 metadata keys.",
            Some("metadata"),
        ));
    }
    let pmc = match form.get("payment_method_configuration") {
        Some(id) => {
            fetch(
                sim,
                account,
                "payment_method_configuration",
                id,
                "payment_method_configuration",
            )
            .await?;
            json!({ "id": id, "parent": null })
        }
        None => Value::Null,
    };
    let id = stripe_id("cs_test_");
    let (url, client_secret) = match ui {
        UiMode::Hosted => (Some(format!("{}/simulator/checkout/{id}", sim.public_url)), None),
        UiMode::Embedded => (None, Some(format!("{id}_secret_{}", stripe_id("")))),
    };
    Ok(json!({
        "id": id,
        "object": "checkout.session",
        "mode": "payment",
        "ui_mode": ui.name(),
        "status": "open",
        "payment_status": "unpaid",
        "amount_subtotal": total,
        "amount_total": total,
        "currency": currency,
        "client_reference_id": form.get("client_reference_id"),
        "customer_email": form.get("customer_email"),
        "metadata": metadata,
        "created": now,
        "expires_at": expires_at,
        "livemode": false,
        "payment_intent": null,
        "payment_method_configuration_details": pmc,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "return_url": return_url,
        "redirect_on_completion": (ui == UiMode::Embedded)
            .then(|| form.get("redirect_on_completion").unwrap_or("always")),
        "url": url,
        "client_secret": client_secret,
        // Not a Stripe field: what the hosted page shows as the line item.
        "x_simulator_description": name,
    }))
}

/// Where the visitor pays: Stripe's `ui_mode` as named since 2026-03-25.dahlia. The
/// simulator draws the hosted page and the embedded one; `elements` and `form` (Stripe.js
/// building blocks chatpay does not use) are refused as unsupported, and the names dahlia
/// removed (`hosted`, `embedded`, `custom`) as Stripe refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UiMode {
    Hosted,
    Embedded,
}

/// Stripe's `ui_mode` values at the simulator's API version.
const UI_MODES: &str = "hosted_page, embedded_page, elements, or form";

impl UiMode {
    /// Reads `ui_mode` and checks the parameters that go with it, like Stripe: the hosted
    /// page takes no `return_url` or `redirect_on_completion`; the embedded page takes no
    /// `success_url` or `cancel_url`, needs a `return_url` unless it never redirects, and
    /// takes none when it never does.
    fn of(form: &Form) -> Result<UiMode, SimError> {
        let ui = match form.get("ui_mode") {
            None | Some("hosted_page") => UiMode::Hosted,
            Some(UI_MODE_EMBEDDED) => UiMode::Embedded,
            Some(other @ ("elements" | "form")) => {
                return Err(invalid(
                    &format!(
                        "The simulator draws ui_mode hosted_page and embedded_page only, not '{other}'."
                    ),
                    Some("ui_mode"),
                ))
            }
            Some(other) => {
                let shown: String = other.chars().take(40).collect();
                return Err(invalid(
                    &format!("Invalid ui_mode: must be one of {UI_MODES} (not '{shown}')."),
                    Some("ui_mode"),
                ));
            }
        };
        let refused: &[&str] = match ui {
            UiMode::Hosted => &["redirect_on_completion", "return_url"],
            UiMode::Embedded => &["cancel_url", "success_url"],
        };
        let sent: Vec<&str> = refused
            .iter()
            .copied()
            .filter(|p| form.get(p).is_some())
            .collect();
        if !sent.is_empty() {
            return Err(invalid(
                &format!(
                    "The following parameters are not supported with 'ui_mode: {}': {}.",
                    ui.name(),
                    sent.join(", ")
                ),
                Some(sent[0]),
            ));
        }
        if ui == UiMode::Embedded {
            match form.get("redirect_on_completion") {
                None | Some("always") | Some("if_required") => {
                    if form.get("return_url").is_none() {
                        return Err(missing("return_url"));
                    }
                }
                Some("never") => {
                    if form.get("return_url").is_some() {
                        return Err(invalid(
                            "return_url cannot be set when redirect_on_completion is 'never'.",
                            Some("return_url"),
                        ));
                    }
                }
                Some(_) => {
                    return Err(invalid(
                        "Invalid redirect_on_completion: must be one of always, if_required, or never.",
                        Some("redirect_on_completion"),
                    ))
                }
            }
        }
        Ok(ui)
    }

    fn name(self) -> &'static str {
        match self {
            UiMode::Hosted => "hosted_page",
            UiMode::Embedded => UI_MODE_EMBEDDED,
        }
    }
}

/// Drops the simulator's private fields before a session leaves the API.
pub(crate) fn public(mut session: Value) -> Value {
    if let Some(obj) = session.as_object_mut() {
        obj.retain(|k, _| !k.starts_with("x_simulator_"));
    }
    session
}

/// The 403 a restricted key without the Checkout Sessions permission gets.
pub(super) fn no_checkout(account: &Account) -> Result<(), SimError> {
    if account.no_checkout {
        return Err(missing_permission(account, "rak_checkout_session_read"));
    }
    Ok(())
}

/// `GET /v1/checkout/sessions`: the account's sessions, newest first (`limit`, default 10).
pub(super) async fn list_sessions(
    State(state): State<SimState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    no_checkout(&account)?;
    let limit = Form::decode(uri.query().unwrap_or("").as_bytes())
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let mut all = sim
        .store
        .sim_list(&account.id, "checkout.session")
        .await
        .map_err(internal)?;
    all.reverse();
    let has_more = all.len() > limit;
    let data: Vec<Value> = all.into_iter().take(limit).map(public).collect();
    Ok(ok(
        json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/checkout/sessions" }),
    ))
}

/// `GET /v1/checkout/sessions/{id}`, with `expand[]=payment_intent` inlining the intent.
pub(super) async fn retrieve_session(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    let mut session = fetch(&sim, &account, "checkout.session", &id, "session").await?;
    let query = Form::decode(uri.query().unwrap_or("").as_bytes());
    let expand = query
        .fields()
        .iter()
        .any(|(k, v)| k.starts_with("expand[") && v == "payment_intent");
    if expand {
        if let Some(pi) = session["payment_intent"].as_str().map(str::to_owned) {
            session["payment_intent"] =
                fetch(&sim, &account, "payment_intent", &pi, "payment_intent").await?;
        }
    }
    Ok(ok(public(session)))
}

pub(super) async fn expire_session(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    let form = decode(&body)?;
    let path = format!("/v1/checkout/sessions/{id}/expire");
    let resp = idempotent(&sim, &account, &headers, &path, &form, || async {
        fetch(&sim, &account, "checkout.session", &id, "session").await?;
        match events::expire(&sim, &account.id, &id).await {
            Ok(expired) => Ok(public(expired)),
            Err(crate::error::AppError::Conflict(message)) => Err(invalid(&message, None)),
            Err(e) => Err(internal(e)),
        }
    })
    .await;
    Ok(resp)
}
