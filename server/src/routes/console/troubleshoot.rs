//! Live answers to the questions the help page promises: why is the payment link not
//! sending, why is the workflow not resuming, why is Apple Pay not showing. Each check
//! reads the site's current state; nothing is cached.

use axum::extract::State;
use axum::Json;
use chatpay_shared::console::Check;
use chatpay_shared::workflow::NodeKind;

use super::OwnedSite;
use crate::domain::SiteId;
use crate::error::AppResult;
use crate::state::AppState;

const LINK: &str = "Payment link not sending";
const RESUME: &str = "Workflow not resuming";
const WALLET: &str = "Apple Pay or Google Pay not showing";
const CHECK: &str = "Payments that need a person";
const PAGES: &str = "Chat not showing on your site";

fn check(id: &str, ok: bool, topic: &str, title: &str, detail: String) -> Check {
    Check {
        id: id.into(),
        ok,
        topic: topic.into(),
        title: title.into(),
        detail,
    }
}

fn ago(at_ms: i64) -> String {
    let mins = (crate::store::now_ms() - at_ms) / 60_000;
    match mins {
        0 => "just now".into(),
        1 => "1 minute ago".into(),
        m if m < 120 => format!("{m} minutes ago"),
        m => format!("{} hours ago", m / 60),
    }
}

/// `GET /api/console/sites/{site}/troubleshoot`.
pub async fn checks(State(state): State<AppState>, owned: OwnedSite) -> AppResult<Json<Vec<Check>>> {
    let site = owned.id();
    Ok(Json(site_checks(&state, site).await?))
}

/// Every check of one site, as it stands now.
pub async fn site_checks(state: &AppState, site: &SiteId) -> AppResult<Vec<Check>> {
    let this_site = state
        .store
        .site(site)
        .await?
        .ok_or_else(|| crate::error::AppError::NotFound(format!("no site '{site}'")))?;
    let stripe = state.store.stripe_status(&state.cipher, site).await?;
    let health = state.store.webhook_health(site).await?;
    let workflow = state.store.latest_workflow(site).await?;
    let (unopened, last_unopened) = state
        .store
        .unopened_since(site, crate::store::now_ms() - 24 * 3600 * 1000)
        .await?;
    let resolutions = state.store.resolutions(site).await?;
    let mut out = Vec::new();

    // Pages the chat was refused on: an origin the site does not allow (yet).
    let refused = state.refused.of(site);
    let named: Vec<String> = refused
        .origins
        .iter()
        .filter(|o| !this_site.origins.contains(&o.origin))
        .map(|o| {
            let times = if o.count == 1 {
                "once".to_owned()
            } else {
                format!("{} times", o.count)
            };
            format!("{} ({times}, last {})", o.origin, ago(o.last_at))
        })
        .collect();
    out.push(if named.is_empty() && refused.others == 0 {
        check(
            "origins",
            true,
            PAGES,
            "No page was refused the chat",
            format!("Allowed origins: {}.", this_site.origins.join(", ")),
        )
    } else {
        let more = match refused.others {
            0 => String::new(),
            n => format!(", and {n} more attempts from other origins"),
        };
        check(
            "origins",
            false,
            PAGES,
            "Pages that are not allowed tried to open the chat",
            format!(
                "{}{more}. If one of them is yours, add it to the site's allowed origins (Sites); visitors there see \"This chat isn't set up for this page\".",
                named.join("; ")
            ),
        )
    });

    // Payment link not sending.
    out.push(if stripe.connected {
        check(
            "key",
            true,
            LINK,
            "A Stripe key is saved",
            format!(
                "{} key {}",
                stripe.mode.unwrap_or("?"),
                stripe.secret_key.unwrap_or_default()
            ),
        )
    } else {
        check(
            "key",
            false,
            LINK,
            "No Stripe key is saved",
            "Open the Stripe Payments tab and do step 1: paste a secret key and press Test & Continue."
                .into(),
        )
    });
    out.push(match (&stripe.last_error, stripe.last_error_at) {
        (Some(e), Some(at)) => check(
            "stripe_error",
            false,
            LINK,
            "Stripe refused the last request",
            format!(
                "{} ({}). If the key was revoked or rolled, run step 1 again with the new key.",
                e,
                ago(at)
            ),
        ),
        _ => check(
            "stripe_error",
            true,
            LINK,
            "No recent Stripe errors",
            "The last calls to Stripe went through.".into(),
        ),
    });
    out.push(match (unopened, last_unopened) {
        (0, _) | (_, None) => check(
            "unopened",
            true,
            LINK,
            "Every payment link asked for was created",
            "In the last 24 hours no visitor was told that payments are unavailable.".into(),
        ),
        (n, Some(why)) => check(
            "unopened",
            false,
            LINK,
            "Visitors could not get a payment link",
            format!(
                "{n} {} in the last 24 hours: they were told payments are unavailable and handed to a person \
                 (the inbox shows them waiting). The last reason: {why}",
                if n == 1 { "visitor" } else { "visitors" }
            ),
        ),
    });
    let has_payment_node = workflow.as_ref().is_some_and(|p| {
        p.workflow
            .nodes
            .iter()
            .any(|n| matches!(n.kind, NodeKind::RequestPayment { .. }))
    });
    out.push(match (&workflow, has_payment_node) {
        (None, _) => check(
            "workflow",
            false,
            LINK,
            "No workflow is published",
            "Publish a workflow with a Request Payment node.".into(),
        ),
        (Some(p), false) => check(
            "workflow",
            false,
            LINK,
            "The workflow has no Request Payment node",
            format!(
                "Version {} asks for no payment; add a Request Payment node and publish.",
                p.version
            ),
        ),
        (Some(p), true) => check(
            "workflow",
            true,
            LINK,
            "The workflow requests payments",
            format!("Version {} has a Request Payment node.", p.version),
        ),
    });

    // Workflow not resuming.
    out.push(if stripe.webhook_secret.is_some() {
        check("webhook_secret", true, RESUME, "A webhook signing secret is saved", stripe.webhook_secret.clone().unwrap_or_default())
    } else {
        check("webhook_secret", false, RESUME, "No webhook signing secret is saved", "Do step 3: add the endpoint in Stripe and paste its whsec_ signing secret. Until then payments resume only when chatpay asks Stripe itself (slower).".into())
    });
    // A refusal counts while it is recent and no good delivery came after it.
    let recent_failure = health.last_failure_at.filter(|at| {
        crate::store::now_ms() - at < 24 * 3600 * 1000 && health.last_event_at.is_none_or(|ok| ok < *at)
    });
    out.push(match (recent_failure, &health.last_failure_reason) {
        (Some(at), Some(reason)) => check(
            "signatures",
            false,
            RESUME,
            "Webhook deliveries were refused",
            format!(
                "{} failures; the last {}: {reason}",
                health.signature_failures,
                ago(at)
            ),
        ),
        _ => check(
            "signatures",
            true,
            RESUME,
            "Webhook deliveries are accepted",
            match health.last_failure_at {
                Some(at) if crate::store::now_ms() - at < 24 * 3600 * 1000 => format!(
                    "{} events received; the last refused delivery ({}) came before a good one.",
                    health.events_received,
                    ago(at)
                ),
                _ => format!(
                    "{} events received, none refused in the last 24 hours.",
                    health.events_received
                ),
            },
        ),
    });
    // Delayed payment methods (bank transfers) finish with the async events: without them a
    // payment stays processing until chatpay asks Stripe itself.
    let (stale_processing, async_seen) = state
        .store
        .processing_without_news(site, crate::store::now_ms() - 15 * 60 * 1000)
        .await?;
    out.push(if stale_processing > 0 && !async_seen {
        check(
            "async_events",
            false,
            RESUME,
            "Delayed payments are not heard of",
            format!(
                "{stale_processing} payment(s) have been processing for more than 15 minutes and Stripe has never sent this site \
                 checkout.session.async_payment_succeeded or checkout.session.async_payment_failed. Add both events to the \
                 endpoint in Stripe (Developers → Webhooks → the endpoint → Select events); until then chatpay only learns the \
                 outcome by asking Stripe itself, later."
            ),
        )
    } else {
        check(
            "async_events",
            true,
            RESUME,
            "Delayed payments are heard of",
            if async_seen {
                "Stripe sends the async payment events to this site.".into()
            } else {
                "No payment has waited long for a bank transfer.".into()
            },
        )
    });
    out.push(match (health.last_event_type, health.last_event_at) {
        (Some(kind), Some(at)) => check("events", true, RESUME, "Stripe events are arriving", format!("Last: {kind}, {}.", ago(at))),
        _ => check("events", false, RESUME, "No event from Stripe has arrived yet", "Check that the endpoint URL in Stripe is this site's webhook URL (step 3) and that the four checkout.session events are selected.".into()),
    });
    let by = |k: &str| resolutions.iter().find(|(r, _)| r == k).map_or(0, |(_, n)| *n);
    let (webhook, reconcile) = (by("webhook"), by("reconcile"));
    out.push(if reconcile > 0 && webhook == 0 {
        check("reconcile", false, RESUME, "Payments resumed only by reconciliation", format!("{reconcile} payments resumed because chatpay asked Stripe, none by webhook: webhooks are not reaching this site."))
    } else {
        check("reconcile", true, RESUME, "Payments resume through webhooks", format!("{webhook} by webhook, {reconcile} by reconciliation."))
    });

    // Payments Stripe reported differently from what was asked, or charged twice.
    let (count, problems) = state.store.payment_problems(site, 3).await?;
    out.push(if count == 0 {
        check(
            "payment_problems",
            true,
            CHECK,
            "Every payment matches what was asked",
            "No mismatched amounts, currencies or modes, and no double charges.".into(),
        )
    } else {
        let list: Vec<String> = problems
            .iter()
            .map(|(id, status, problem)| format!("{id} ({status}): {problem}"))
            .collect();
        check(
            "payment_problems",
            false,
            CHECK,
            "Payments need a person",
            format!(
                "{count} payment(s) were not counted as paid as asked or were charged twice; check them in Stripe and answer the visitor in the inbox. Latest: {}",
                list.join("; ")
            ),
        )
    });

    // Wallets.
    out.push(if stripe.apple_pay {
        check(
            "apple_pay",
            true,
            WALLET,
            "Apple Pay is switched on",
            "Checkout shows it in Safari on devices with a card in Apple Wallet.".into(),
        )
    } else {
        check(
            "apple_pay",
            false,
            WALLET,
            "Apple Pay is switched off",
            "Switch it on in step 2 of the Stripe wizard.".into(),
        )
    });
    out.push(if stripe.google_pay {
        check(
            "google_pay",
            true,
            WALLET,
            "Google Pay is switched on",
            "Checkout shows it in Chrome when the visitor has a card saved with Google.".into(),
        )
    } else {
        check(
            "google_pay",
            false,
            WALLET,
            "Google Pay is switched off",
            "Switch it on in step 2 of the Stripe wizard.".into(),
        )
    });
    Ok(out)
}
