//! `/simulator/`: the simulator's TEST MODE dashboard, so a test setup is never a dead end.
//! It shows which test keys work, every webhook endpoint with its signing secret (behind
//! "Reveal"), recent events with their deliveries (and **Resend**), recent Checkout Sessions
//! with their state, and the simulator's clock (with **Advance**).
//!
//! It is behind the simulator's token, like the test controls: the link the relay prints at
//! start carries it once (`/simulator/?token=…`); the dashboard then keeps it in an HttpOnly,
//! SameSite=Strict cookie scoped to `/simulator/` and drops it from the address bar. Its
//! forms post to the same origin only (the cookie is never sent from another site).

use axum::extract::{Form as FormBody, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;

use super::SimState;
use crate::pages::{escape, wide_page};

/// The cookie that keeps the token on the dashboard's pages.
const COOKIE: &str = "chatpay_simulator";
/// How many events and sessions the page lists.
const RECENT: i64 = 20;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/simulator/", get(show))
        .route("/simulator/deliveries/{id}/resend", post(resend))
        .route("/simulator/clock", post(advance))
}

#[derive(Debug, Deserialize)]
struct Entry {
    token: Option<String>,
}

/// The token from the cookie, when it is the simulator's.
fn signed_in(state: &SimState, headers: &HeaderMap) -> Option<std::sync::Arc<super::Simulator>> {
    let sim = std::sync::Arc::clone(&state.sim);
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let token = cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)?;
    sim.token_ok(token).then_some(sim)
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Html(wide_page(
            "Stripe simulator",
            "<span class=\"test\">TEST MODE · chatpay Stripe simulator</span>\
             <h1>Open the link chatpay printed</h1>\
             <p>This dashboard needs the simulator's token. chatpay prints a link that carries it when it starts \
             (“Stripe simulator dashboard: …/simulator/?token=…”).</p>",
        )),
    )
        .into_response()
}

async fn show(State(state): State<SimState>, headers: HeaderMap, Query(q): Query<Entry>) -> Response {
    if let Some(token) = q.token {
        if !state.sim.token_ok(&token) {
            return refused();
        }
        // Kept in a cookie; the address bar (and history) forget it.
        let secure = if state.sim.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!("{COOKIE}={token}; Path=/simulator/; HttpOnly; SameSite=Strict{secure}");
        return ([(header::SET_COOKIE, cookie)], Redirect::to("/simulator/")).into_response();
    }
    let Some(sim) = signed_in(&state, &headers) else {
        return refused();
    };
    match render(&sim).await {
        Ok(body) => Html(wide_page("Stripe simulator (TEST MODE)", &body)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The dashboard's body: every value that came from a request is escaped.
async fn render(sim: &super::Simulator) -> crate::error::AppResult<String> {
    let e = |v: &Value| escape(v.as_str().unwrap_or(""));
    let mut out = String::from(
        "<span class=\"test\">TEST MODE · chatpay Stripe simulator</span><h1>Stripe simulator</h1>\
         <p class=\"muted\">A stand-in for the part of Stripe chatpay uses. No real money moves and nothing leaves this relay.</p>",
    );
    let ahead = sim.now() - crate::store::now_ms() / 1000;
    out.push_str(&format!(
        "<h2>Clock</h2><p id=\"clock\">Simulator time: {} (unix), {ahead} s ahead of real time.</p>\
         <form method=\"post\" action=\"/simulator/clock\" class=\"inline\">\
         <label>Advance by <input name=\"seconds\" type=\"number\" min=\"1\" max=\"172800\" value=\"1800\"> seconds</label>\
         <button class=\"primary small\" id=\"advance\">Advance</button></form>",
        sim.now()
    ));
    out.push_str(
        "<h2>Test keys</h2><ul id=\"keys\">\
         <li><code>sk_test_</code> followed by 10 or more letters and digits works; what follows <code>sk_test_</code> names the account.</li>\
         <li><code>rk_test_…</code> is a restricted key of the same account; with <code>readonly</code> in it, it may only read; \
         with <code>nocheckout</code>, it may not touch Checkout Sessions.</li>\
         <li>Live keys (<code>sk_live_…</code>) and publishable keys (<code>pk_…</code>) are refused, as Stripe refuses a wrong key.</li>\
         <li>From a terminal: <code>curl -u sk_test_yourshop0001: RELAY/simulator/stripe/v1/balance</code> (Basic auth, the key as the user, like Stripe).</li></ul>",
    );

    out.push_str("<h2>Webhook endpoints</h2>");
    let endpoints = sim.store.sim_recent("webhook_endpoint", 100).await?;
    if endpoints.is_empty() {
        out.push_str("<p class=\"muted\">None yet: chatpay's wizard creates one in one click.</p>");
    } else {
        out.push_str("<table id=\"endpoints\"><tr><th>Account</th><th>Endpoint</th><th>URL and events</th><th>Signing secret</th></tr>");
        for (account, w) in &endpoints {
            let events: Vec<String> = w["enabled_events"]
                .as_array()
                .map(|l| l.iter().map(|x| escape(x.as_str().unwrap_or(""))).collect())
                .unwrap_or_default();
            out.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code><br><span class=\"muted\">API {}</span></td><td>{}<br><span class=\"muted\">{}</span></td>\
                 <td><details><summary>Reveal</summary><code class=\"secret\">{}</code></details></td></tr>",
                escape(account),
                e(&w["id"]),
                w["api_version"].as_str().map_or("default".to_owned(), escape),
                e(&w["url"]),
                events.join(", "),
                e(&w["secret"]),
            ));
        }
        out.push_str("</table>");
    }

    out.push_str("<h2>Recent events</h2>");
    let events = sim.store.sim_recent("event", RECENT).await?;
    let deliveries = sim.store.sim_recent("x_simulator_delivery", RECENT * 4).await?;
    if events.is_empty() {
        out.push_str("<p class=\"muted\">None yet: pay or cancel a Checkout Session.</p>");
    } else {
        out.push_str("<table id=\"events\"><tr><th>Event</th><th>Account</th><th>Deliveries</th></tr>");
        for (account, ev) in &events {
            let mut cell = String::new();
            for (_, d) in deliveries.iter().filter(|(_, d)| d["event"] == ev["id"]) {
                cell.push_str(&format!(
                    "<div class=\"delivery\" data-delivery=\"{id}\">{status} · {attempts} attempt(s) · last answer {answer} · {url}\
                     <form method=\"post\" action=\"/simulator/deliveries/{id}/resend\" class=\"inline\"><button class=\"secondary small\">Resend</button></form></div>",
                    id = e(&d["id"]),
                    status = e(&d["status"]),
                    attempts = d["attempts"].as_i64().unwrap_or(0),
                    answer = escape(&d["last_answer"].to_string().trim_matches('"').replace("null", "none")),
                    url = e(&d["url"]),
                ));
            }
            if cell.is_empty() {
                cell.push_str("<span class=\"muted\">no endpoint wanted it</span>");
            }
            out.push_str(&format!(
                "<tr><td><code>{}</code><br>{}</td><td>{}</td><td>{cell}</td></tr>",
                e(&ev["id"]),
                e(&ev["type"]),
                escape(account)
            ));
        }
        out.push_str("</table>");
    }

    out.push_str("<h2>Recent Checkout Sessions</h2>");
    let sessions = sim.store.sim_recent("checkout.session", RECENT).await?;
    if sessions.is_empty() {
        out.push_str("<p class=\"muted\">None yet.</p>");
    } else {
        out.push_str(
            "<table id=\"sessions\"><tr><th>Session</th><th>Account</th><th>Amount</th><th>State</th></tr>",
        );
        for (account, s) in &sessions {
            let left = s["expires_at"].as_i64().unwrap_or(0) - sim.now();
            let state = match (s["status"].as_str(), s["payment_status"].as_str()) {
                (Some("open"), _) => format!("open, expires in {} min", left.max(0) / 60),
                (Some(st), Some(ps)) => format!("{st}, {ps}"),
                (Some(st), None) => st.to_owned(),
                _ => "?".into(),
            };
            out.push_str(&format!(
                "<tr><td><a href=\"/simulator/checkout/{id}\"><code>{id}</code></a></td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
                escape(account),
                s["amount_total"].as_i64().unwrap_or(0),
                e(&s["currency"]),
                escape(&state),
                id = e(&s["id"]),
            ));
        }
        out.push_str("</table>");
    }
    Ok(out)
}

/// A button press from a page other than the dashboard's: a form on another page of the
/// same site (another port, a sibling subdomain) carries the SameSite cookie too. Browsers
/// send `Origin` with every POST; a tool without one is not a browser being misled.
fn forged(sim: &super::Simulator, headers: &HeaderMap) -> Option<Response> {
    let origin = headers.get(header::ORIGIN)?;
    let own = url::Url::parse(&sim.public_url)
        .ok()?
        .origin()
        .ascii_serialization();
    (origin.as_bytes() != own.as_bytes()).then(|| {
        (
            StatusCode::FORBIDDEN,
            Html(wide_page(
                "Stripe simulator",
                "<h1>Refused</h1><p>The simulator's buttons work only from its dashboard.</p>",
            )),
        )
            .into_response()
    })
}

/// Queues a delivery again ("Resend"): the simulator's sweep sends it within a second.
async fn resend(State(state): State<SimState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(sim) = signed_in(&state, &headers) else {
        return refused();
    };
    if let Some(refusal) = forged(&sim, &headers) {
        return refusal;
    }
    let found = match sim.store.sim_get_any(&id).await {
        Ok(Some((account, d))) if d["object"] == "x_simulator_delivery" => Some((account, d)),
        Ok(_) => None,
        Err(e) => return e.into_response(),
    };
    let Some((account, mut delivery)) = found else {
        return (
            StatusCode::NOT_FOUND,
            Html(wide_page("Not found", "<h1>No such delivery</h1>")),
        )
            .into_response();
    };
    delivery["status"] = "pending".into();
    delivery["attempts"] = 0.into();
    delivery["next_at_ms"] = crate::store::now_ms().into();
    if let Err(e) = sim
        .store
        .sim_put(&account, "x_simulator_delivery", &id, &delivery)
        .await
    {
        return e.into_response();
    }
    Redirect::to("/simulator/").into_response()
}

#[derive(Debug, Deserialize)]
struct Advance {
    seconds: i64,
}

/// Moves the simulator's clock forward (links expire, delayed payments settle).
async fn advance(
    State(state): State<SimState>,
    headers: HeaderMap,
    FormBody(f): FormBody<Advance>,
) -> Response {
    let Some(sim) = signed_in(&state, &headers) else {
        return refused();
    };
    if let Some(refusal) = forged(&sim, &headers) {
        return refusal;
    }
    if !(1..=172_800).contains(&f.seconds) {
        return (StatusCode::BAD_REQUEST, "advance by 1 to 172800 seconds").into_response();
    }
    sim.advance(f.seconds);
    if let Err(e) = super::events::expire_due_sessions(&sim).await {
        return e.into_response();
    }
    Redirect::to("/simulator/").into_response()
}
