//! The simulator's hosted Checkout page (TEST MODE): the amount and description, **Pay**
//! (a card that succeeds), two delayed methods (succeeds or fails a moment later), and
//! **Cancel**, which goes back to the session's `cancel_url` like Stripe's back link.
//!
//! An embedded session (`ui_mode=embedded_page`) is drawn by the same page in a frame
//! (`?embedded=1`), mounted by the simulator's stand-in for Stripe.js (`/simulator/stripe.js`):
//! it completes in place and tells the page that mounted it (`onComplete`), except for
//! **Pay with a redirect-based method**, which sends the whole tab to the session's
//! `return_url` like a bank's redirect. It has no Cancel: an embedded page has no back link.

use axum::extract::{Form as FormBody, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chatpay_shared::money::{currency, format_minor};
use serde::Deserialize;
use serde_json::Value;

use super::events::{self, Outcome};
use super::SimState;
use crate::pages::{escape, page};
use crate::stripe::client::UI_MODE_EMBEDDED;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/simulator/checkout/{id}", get(show))
        .route("/simulator/checkout/{id}/pay", post(pay))
        .route("/simulator/stripe.js", get(|| script(STANDIN_JS)))
        .route("/simulator/checkout-frame.js", get(|| script(FRAME_JS)))
}

/// The stand-in for Stripe.js's embedded Checkout.
const STANDIN_JS: &str = include_str!("stripe-standin.js");
/// The embedded page's script: tells the page that mounted it that the session completed.
const FRAME_JS: &str = include_str!("checkout-frame.js");

async fn script(body: &'static str) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `?embedded=1`: the page is asked for, or posted to, as an embedded session's frame.
#[derive(Deserialize)]
struct View {
    #[serde(default)]
    embedded: Option<String>,
}

impl View {
    /// Whether the way the page was reached fits the session: an embedded session only in
    /// its frame (Stripe draws it only where Stripe.js mounts it), a hosted one only at its
    /// URL. Returns whether it is embedded.
    fn fits(&self, session: &Value) -> Result<bool, ()> {
        let embedded = session["ui_mode"] == UI_MODE_EMBEDDED;
        if embedded == (self.embedded.as_deref() == Some("1")) {
            Ok(embedded)
        } else {
            Err(())
        }
    }
}

/// The embedded page's CSP: any page may frame it (as any site mounts Stripe's), its only
/// script is its own.
fn embedded_csp() -> String {
    format!(
        "default-src 'none'; style-src '{}'; script-src 'self'; form-action 'self' http: https:; \
         frame-ancestors http: https:; base-uri 'none'",
        crate::pages::css_hash()
    )
}

fn framed(html: String) -> Response {
    let mut resp = Html(html).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&embedded_csp()) {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

fn amount(session: &Value) -> String {
    let code = session["currency"].as_str().unwrap_or("usd");
    let minor = session["amount_total"].as_i64().unwrap_or(0);
    match currency(code) {
        Ok(c) => format!("{} {}", format_minor(minor, c), c.code),
        Err(_) => format!("{minor} {code}"),
    }
}

async fn load(
    state: &SimState,
    id: &str,
) -> Result<(std::sync::Arc<super::Simulator>, String, Value), Response> {
    let sim = std::sync::Arc::clone(&state.sim);
    match sim.store.sim_get_any(id).await {
        Ok(Some((account, s))) if s["object"] == "checkout.session" => Ok((sim, account, s)),
        Ok(_) => Err((
            StatusCode::NOT_FOUND,
            Html(page("Not found", "<h1>No such checkout session</h1>")),
        )
            .into_response()),
        Err(e) => Err(e.into_response()),
    }
}

async fn show(
    State(state): State<SimState>,
    Path(id): Path<String>,
    axum::extract::Query(view): axum::extract::Query<View>,
) -> Response {
    let (sim, _, session) = match load(&state, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(embedded) = view.fits(&session) else {
        return (
            StatusCode::NOT_FOUND,
            Html(page(
                "Not found",
                if session["ui_mode"] == UI_MODE_EMBEDDED {
                    "<h1>This checkout session is embedded</h1><p>It opens where the site mounts it with Stripe.js.</p>"
                } else {
                    "<h1>This checkout session is not embedded</h1>"
                },
            )),
        )
            .into_response();
    };
    let description = session["x_simulator_description"].as_str().unwrap_or("Payment");
    let status = session["status"].as_str().unwrap_or("open");
    let mut body = format!(
        "<span class=\"test\">TEST MODE · chatpay Stripe simulator</span>\
         <h1>{}</h1><div class=\"amount\" data-testid=\"amount\">{}</div>",
        escape(description),
        escape(&amount(&session))
    );
    if status == "open" {
        let left = session["expires_at"].as_i64().unwrap_or(0) - sim.now();
        body.push_str(&format!(
            "<p class=\"muted\">This link expires in {} min. No real money moves.</p>\
             <form method=\"post\" action=\"/simulator/checkout/{id}/pay{frame}\">\
             <button class=\"primary\" name=\"outcome\" value=\"paid\" id=\"pay\">Pay</button>\
             <button class=\"secondary\" name=\"outcome\" value=\"async_paid\" id=\"pay-delayed\">Pay by bank transfer (clears in a moment)</button>\
             <button class=\"secondary\" name=\"outcome\" value=\"async_failed\" id=\"pay-fails\">Pay by bank transfer (will fail)</button>\
             {embedded}</form>",
            (left.max(0) + 59) / 60,
            id = escape(&id),
            // Posted as the frame it is (headers.rs lets its answers be framed too).
            frame = if embedded { "?embedded=1" } else { "" },
            embedded = if embedded {
                "<button class=\"secondary\" name=\"outcome\" value=\"redirect_paid\" id=\"pay-redirect\" formtarget=\"_top\">Pay with a redirect-based method (leaves this page, then comes back)</button>"
            } else {
                ""
            }
        ));
        let site = session["metadata"]["site"].as_str();
        if let Some(cancel) = session["cancel_url"].as_str() {
            if sim.may_redirect_to(cancel, site).await {
                body.push_str(&format!(
                    "<a class=\"button secondary\" id=\"cancel\" href=\"{}\">Cancel and go back</a>",
                    escape(cancel)
                ));
            }
        }
    } else {
        body.push_str(&format!(
            "<p class=\"{}\" data-testid=\"status\">This checkout session is {}.</p>",
            if status == "complete" { "ok" } else { "bad" },
            escape(status)
        ));
    }
    if embedded {
        return framed(page("Checkout (TEST MODE)", &body));
    }
    Html(page("Checkout (TEST MODE)", &body)).into_response()
}

#[derive(Deserialize)]
struct PayForm {
    outcome: String,
}

async fn pay(
    State(state): State<SimState>,
    Path(id): Path<String>,
    axum::extract::Query(view): axum::extract::Query<View>,
    FormBody(form): FormBody<PayForm>,
) -> Response {
    let (sim, account, session) = match load(&state, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if session["status"] != "open" {
        return no_longer_open();
    }
    let Ok(embedded) = view.fits(&session) else {
        return (StatusCode::BAD_REQUEST, "this session is paid where it is drawn").into_response();
    };
    let redirected = embedded && form.outcome == "redirect_paid";
    let outcome = match form.outcome.as_str() {
        "paid" => Outcome::Paid,
        "redirect_paid" if embedded => Outcome::Paid,
        "async_paid" => Outcome::AsyncPaid,
        "async_failed" => Outcome::AsyncFailed,
        other => return (StatusCode::BAD_REQUEST, format!("unknown outcome '{other}'")).into_response(),
    };
    let back = if embedded { "return_url" } else { "success_url" };
    let success = session[back]
        .as_str()
        .unwrap_or("/")
        .replace("{CHECKOUT_SESSION_ID}", &id);
    let site = session["metadata"]["site"].as_str().map(str::to_owned);
    match events::complete(&sim, &account, &id, outcome).await {
        // Completed in place (`redirect_on_completion=if_required`): the frame tells the
        // page that mounted it.
        Ok(_) if embedded && !redirected => framed(page(
            "Complete (TEST MODE)",
            &format!(
                "<span class=\"test\">TEST MODE · chatpay Stripe simulator</span>\
                 <h1 class=\"ok\" data-complete=\"{}\">Payment submitted</h1>\
                 <p class=\"muted\">The page that opened this checkout hears that it completed.</p>\
                 <script src=\"/simulator/checkout-frame.js\"></script>",
                escape(&id)
            ),
        )),
        Ok(_) if sim.may_redirect_to(&success, site.as_deref()).await => Redirect::to(&success).into_response(),
        Ok(_) => Html(page(
            "Paid (TEST MODE)",
            &format!(
                "<span class=\"test\">TEST MODE · chatpay Stripe simulator</span><h1 class=\"ok\">Paid</h1>\
                 <p class=\"muted\">This test session's return address is not this relay nor a site it serves, so the simulator does not send you there: {}</p>",
                escape(&success)
            ),
        ))
        .into_response(),
        Err(crate::error::AppError::Conflict(_)) => no_longer_open(),
        Err(e) => e.into_response(),
    }
}

/// The answer to paying a session that is no longer open.
fn no_longer_open() -> Response {
    (
        StatusCode::CONFLICT,
        Html(page(
            "Checkout",
            "<h1>This checkout session is no longer open</h1>",
        )),
    )
        .into_response()
}
