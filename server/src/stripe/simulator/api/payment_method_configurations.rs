//! Payment method configurations: the Apple Pay / Google Pay switches chatpay sets.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{json, Value};

use super::*;
use crate::stripe::form::Form;
use crate::stripe::simulator::{stripe_id, SimState};

pub(super) fn wallet(form: &Form, name: &str, previous: Option<&Value>) -> Result<Value, SimError> {
    let param = format!("{name}[display_preference][preference]");
    let pref = match form.get(&param) {
        Some(p @ ("on" | "off" | "none")) => p.to_owned(),
        Some(other) => {
            return Err(invalid(
                &format!("Invalid {param}: must be one of on, off, or none (got '{other}')"),
                Some(&param),
            ))
        }
        None => previous
            .and_then(|p| p["display_preference"]["preference"].as_str())
            .unwrap_or("none")
            .to_owned(),
    };
    let value = if pref == "off" { "off" } else { "on" };
    Ok(
        json!({ "available": true, "display_preference": { "overridable": null, "preference": pref, "value": value } }),
    )
}

pub(super) async fn create_pmc(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    let form = decode(&body)?;
    let resp = idempotent(
        &sim,
        &account,
        &headers,
        "/v1/payment_method_configurations",
        &form,
        || async {
            let id = stripe_id("pmc_");
            let pmc = json!({
                "id": id,
                "object": "payment_method_configuration",
                "active": true,
                "livemode": false,
                "name": form.get("name").unwrap_or("chatpay"),
                "apple_pay": wallet(&form, "apple_pay", None)?,
                "google_pay": wallet(&form, "google_pay", None)?,
            });
            sim.store
                .sim_put(&account.id, "payment_method_configuration", &id, &pmc)
                .await
                .map_err(internal)?;
            Ok(pmc)
        },
    )
    .await;
    Ok(resp)
}

pub(super) async fn update_pmc(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    let form = decode(&body)?;
    let path = format!("/v1/payment_method_configurations/{id}");
    let resp = idempotent(&sim, &account, &headers, &path, &form, || async {
        let mut pmc = fetch(
            &sim,
            &account,
            "payment_method_configuration",
            &id,
            "configuration",
        )
        .await?;
        pmc["apple_pay"] = wallet(&form, "apple_pay", Some(&pmc["apple_pay"]))?;
        pmc["google_pay"] = wallet(&form, "google_pay", Some(&pmc["google_pay"]))?;
        sim.store
            .sim_put(&account.id, "payment_method_configuration", &id, &pmc)
            .await
            .map_err(internal)?;
        Ok(pmc)
    })
    .await;
    Ok(resp)
}

pub(super) async fn retrieve_pmc(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    let pmc = fetch(
        &sim,
        &account,
        "payment_method_configuration",
        &id,
        "configuration",
    )
    .await?;
    Ok(ok(pmc))
}
