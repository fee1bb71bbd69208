//! The Stripe wizard: 1. secret key (tested against Stripe), 2. settings (display name,
//! publishable key, return URLs, Apple Pay and Google Pay through a payment method
//! configuration), 3. webhook (URL, events, signing secret, first event), 4. summary and
//! health. Running it again edits. Secrets go in and never come back out: every answer is
//! the masked [`StripeView`].

use axum::extract::State;
use axum::Json;
use chatpay_shared::console::{
    CreateWebhookInput, KeyInput, StripeSettingsInput, StripeView, WebhookSecretInput,
};

use super::OwnedSite;
use crate::domain::SiteId;
use crate::error::{AppError, AppResult, FormErrors};
use crate::payments::WEBHOOK_EVENTS;
use crate::state::AppState;
use crate::store::sites::NewSite;
use crate::stripe::client::{KeyRefused, StripeError};
use crate::stripe::keys;

/// The wizard's view of a site's connection.
pub async fn stripe_view(state: &AppState, site: &SiteId) -> AppResult<StripeView> {
    let s = state.store.stripe_status(&state.cipher, site).await?;
    Ok(StripeView {
        connected: s.connected,
        mode: s.mode.map(str::to_owned),
        secret_key: s.secret_key,
        publishable_key: s.publishable_key,
        webhook_secret: s.webhook_secret,
        previous_webhook_secret: s.previous_webhook_secret,
        previous_webhook_secret_until: s.previous_webhook_secret_until,
        success_url: s.success_url,
        cancel_url: s.cancel_url,
        apple_pay: s.apple_pay,
        google_pay: s.google_pay,
        webhook_url: format!("{}/webhooks/stripe/{site}", state.settings.public_url),
        events: WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        health: state.store.webhook_health(site).await?,
        last_error: s.last_error,
        last_error_at: s.last_error_at,
        simulator: state.simulator.is_some(),
        webhook_endpoint: state.store.webhook_endpoint(&state.cipher, site).await?,
    })
}

/// `GET /api/console/sites/{site}/stripe`.
pub async fn view(State(state): State<AppState>, owned: OwnedSite) -> AppResult<Json<StripeView>> {
    let site = owned.id();
    Ok(Json(stripe_view(&state, site).await?))
}

fn key_error(message: String) -> AppError {
    AppError::Invalid {
        field: "secret_key",
        message,
    }
}

/// `POST /api/console/sites/{site}/stripe/key`: step 1, Test & Continue.
pub async fn key(
    State(state): State<AppState>,
    owned: OwnedSite,
    super::Body(input): super::Body<KeyInput>,
) -> AppResult<Json<StripeView>> {
    let site = owned.id();
    let key = input.secret_key.trim().to_owned();
    let kind = keys::check_secret_key(&key).map_err(key_error)?;
    let livemode = match state.stripe.client(&key).verify_key(kind).await {
        Ok(livemode) => livemode,
        Err(KeyRefused::Unknown(message)) => {
            return Err(key_error(format!("Stripe refused this key: {message}")))
        }
        Err(KeyRefused::LacksPermission(message)) => {
            return Err(key_error(format!(
                "this restricted key lacks a permission chatpay needs: {message} {}",
                keys::PERMISSION_FIX
            )))
        }
        Err(KeyRefused::WrongMode { .. }) => {
            return Err(key_error(
                "Stripe reports a different mode than the key's prefix; copy the key again".into(),
            ))
        }
        Err(KeyRefused::NotTested(StripeError::Network { reason, .. })) => {
            return Err(AppError::Upstream(format!(
                "cannot reach Stripe to test the key ({reason}); try again"
            )))
        }
        Err(KeyRefused::NotTested(e)) => return Err(AppError::Upstream(e.to_string())),
    };
    let previous = state.store.stripe_account(&state.cipher, site).await?;
    state
        .store
        .save_stripe_keys(&state.cipher, site, &key, livemode, None)
        .await?;
    // A configuration belongs to one mode: switching test ↔ live starts a new one.
    if let Some(p) = previous.filter(|p| p.livemode != livemode) {
        state
            .store
            .save_stripe_settings(
                site,
                None,
                p.success_url.as_deref(),
                p.cancel_url.as_deref(),
                p.apple_pay,
                p.google_pay,
                None,
            )
            .await?;
    }
    Ok(Json(stripe_view(&state, site).await?))
}

fn check_return_url(field: &'static str, url: Option<&str>) -> AppResult<Option<String>> {
    let Some(u) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let parsed = url::Url::parse(u).map_err(|_| AppError::Invalid {
        field,
        message: format!("'{u}' is not a URL; write it like https://shop.example/thanks"),
    })?;
    let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1"));
    if parsed.scheme() == "https" || (parsed.scheme() == "http" && local) {
        Ok(Some(u.to_owned()))
    } else {
        Err(AppError::Invalid {
            field,
            message: format!("'{u}' must use https (http only for localhost)"),
        })
    }
}

/// `PUT /api/console/sites/{site}/stripe/settings`: step 2.
pub async fn settings(
    State(state): State<AppState>,
    owned: OwnedSite,
    super::Body(input): super::Body<StripeSettingsInput>,
) -> AppResult<Json<StripeView>> {
    let site = owned.id();
    let current = &owned.site;
    let account = state
        .store
        .stripe_account(&state.cipher, site)
        .await?
        .ok_or_else(|| AppError::Conflict("save and test a secret key first (step 1)".into()))?;
    // Every mistake of the form at once.
    let mut bad = FormErrors::default();
    let name = input.display_name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        bad.add("display_name", "the display name needs 1-80 characters");
    }
    let publishable = input
        .publishable_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if let Some(pk) = publishable {
        let want = if account.livemode { "pk_live_" } else { "pk_test_" };
        if !pk.starts_with("pk_") {
            bad.add(
                "publishable_key",
                "a publishable key starts with pk_live_ or pk_test_",
            );
        } else if !pk.starts_with(want) {
            bad.add(
                "publishable_key",
                format!(
                    "the secret key is in {} mode, so the publishable key must start with {want}",
                    if account.livemode { "live" } else { "test" }
                ),
            );
        }
    }
    let success = bad.check(
        "success_url",
        check_return_url("success_url", input.success_url.as_deref()),
    );
    let cancel = bad.check(
        "cancel_url",
        check_return_url("cancel_url", input.cancel_url.as_deref()),
    );
    bad.finish()?;
    let (success, cancel) = (success.flatten(), cancel.flatten());
    // Wallets are switched through chatpay's own payment method configuration.
    let client = state.stripe.client(&account.secret_key);
    let pmc = match &account.payment_method_configuration {
        Some(id) => {
            client
                .update_payment_method_configuration(id, input.apple_pay, input.google_pay)
                .await
        }
        None => {
            let key = format!("pmc-{site}-{}", crate::store::now_ms());
            client
                .create_payment_method_configuration(input.apple_pay, input.google_pay, &key)
                .await
        }
    }
    .map_err(|e| AppError::Invalid {
        field: "apple_pay",
        message: format!("Stripe did not accept the wallet settings: {e}"),
    })?;
    state
        .store
        .save_stripe_settings(
            site,
            publishable,
            success.as_deref(),
            cancel.as_deref(),
            input.apple_pay,
            input.google_pay,
            Some(&pmc.id),
        )
        .await?;
    let renamed = NewSite::parse(site.as_str(), name, &current.greeting, &current.origins)?;
    state
        .store
        .update_site(&renamed, current.color.as_deref())
        .await?;
    Ok(Json(stripe_view(&state, site).await?))
}

/// `PUT /api/console/sites/{site}/stripe/webhook`: step 3, the endpoint's signing secret.
/// The secret it replaces keeps working for the grace period (`CHATPAY_WEBHOOK_SECRET_GRACE`,
/// 24 h by default), as Stripe does while rolling, and no longer after it.
pub async fn webhook(
    State(state): State<AppState>,
    owned: OwnedSite,
    super::Body(input): super::Body<WebhookSecretInput>,
) -> AppResult<Json<StripeView>> {
    let site = owned.id();
    let secret = input.secret.trim().to_owned();
    keys::check_webhook_secret(&secret).map_err(|message| AppError::Invalid {
        field: "secret",
        message,
    })?;
    if state.store.stripe_account(&state.cipher, site).await?.is_none() {
        return Err(AppError::Conflict(
            "save and test a secret key first (step 1)".into(),
        ));
    }
    let dropped = state
        .store
        .rotate_webhook_secret(
            &state.cipher,
            site,
            &secret,
            state.settings.webhook_secret_grace.as_millis() as i64,
            None,
        )
        .await?;
    crate::payments::delete_replaced_endpoints(&state, site, dropped).await;
    Ok(Json(stripe_view(&state, site).await?))
}

/// Why Stripe could not deliver to `url`, if it can be told before asking: Stripe refuses
/// endpoints it cannot reach from the internet (localhost, private addresses) and, in live
/// mode, any that is not https. Not asked of the relay's own simulator, which delivers
/// here.
fn unreachable_reason(url: &str, livemode: bool) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str().unwrap_or_default();
    let private = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00
        }
        Err(_) => {
            host == "localhost"
                || host.ends_with(".localhost")
                || host.ends_with(".local")
                || !host.contains('.')
        }
    };
    if private {
        return Some(format!(
            "Stripe cannot reach {url}: '{host}' is not an address on the internet. Start chatpay with \
             --public-url set to the https address where Stripe reaches this relay, then try again."
        ));
    }
    if livemode && parsed.scheme() != "https" {
        return Some(format!(
            "Stripe only sends live events to https addresses, and {url} is not one. Serve chatpay behind https and \
             set --public-url to that address."
        ));
    }
    None
}

/// `POST /api/console/sites/{site}/stripe/webhook/endpoint`: "Create the webhook for me".
/// The relay registers its own webhook URL at Stripe with the events chatpay reads, in the
/// API version it is written against, and saves the signing secret Stripe returns: no
/// copying from Stripe's dashboard. Run again, it rolls the secret: a new endpoint, the old
/// one kept for the grace period, then deleted.
pub async fn create_webhook(
    State(state): State<AppState>,
    owned: OwnedSite,
    super::Body(input): super::Body<CreateWebhookInput>,
) -> AppResult<Json<StripeView>> {
    let site = owned.id();
    let account = state
        .store
        .stripe_account(&state.cipher, site)
        .await?
        .ok_or_else(|| AppError::Conflict("save and test a secret key first (step 1)".into()))?;
    let url = format!("{}/webhooks/stripe/{site}", state.settings.public_url);
    let own_simulator = state.stripe.base().starts_with(&state.settings.public_url);
    if !own_simulator {
        if let Some(why) = unreachable_reason(&url, account.livemode) {
            return Err(AppError::Invalid {
                field: "webhook_endpoint",
                message: why,
            });
        }
    }
    let request_key = input
        .request_key
        .filter(|k| !k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| crate::store::new_id("wh"));
    let idempotency_key = format!("chatpay-webhook-{site}-{request_key}");
    let endpoint = match state
        .stripe
        .client(&account.secret_key)
        .create_webhook_endpoint(&url, &WEBHOOK_EVENTS, Some(&idempotency_key))
        .await
    {
        Ok(e) => e,
        Err(StripeError::Api {
            status: 403, message, ..
        }) => {
            return Err(AppError::Invalid {
                field: "webhook_endpoint",
                message: format!(
                    "this key may not create webhook endpoints: {message} Give the key \"Webhook Endpoints: Write\" in \
                     Stripe's dashboard, or add the endpoint there yourself and paste its signing secret below."
                ),
            })
        }
        Err(StripeError::Api {
            status: 400, message, ..
        }) => {
            return Err(AppError::Invalid {
                field: "webhook_endpoint",
                message: format!("Stripe refused the endpoint: {message}"),
            })
        }
        Err(e @ StripeError::Network { .. }) => {
            return Err(AppError::Upstream(format!("cannot reach Stripe to create the endpoint ({e}); try again")))
        }
        Err(e) => return Err(AppError::Upstream(e.to_string())),
    };
    let Some(secret) = endpoint.secret.clone() else {
        // Stripe answered without the secret: nothing to save.
        return Ok(Json(stripe_view(&state, site).await?));
    };
    // A repeated request (same key) answers the endpoint made the first time, secret and
    // all: saving it again changes nothing (see `rotate_webhook_secret`).
    let dropped = state
        .store
        .rotate_webhook_secret(
            &state.cipher,
            site,
            &secret,
            state.settings.webhook_secret_grace.as_millis() as i64,
            Some(&endpoint.id),
        )
        .await?;
    crate::payments::delete_replaced_endpoints(&state, site, dropped).await;
    tracing::info!(%site, endpoint = %endpoint.id, "created the webhook endpoint at Stripe");
    Ok(Json(stripe_view(&state, site).await?))
}

/// `DELETE /api/console/sites/{site}/stripe/webhook/previous`: the replaced signing secret
/// stops verifying now ("revoke now"), before its grace period ends.
pub async fn revoke_previous(State(state): State<AppState>, owned: OwnedSite) -> AppResult<Json<StripeView>> {
    let site = owned.id();
    let dropped = state
        .store
        .revoke_previous_webhook_secrets(&state.cipher, site)
        .await?;
    crate::payments::delete_replaced_endpoints(&state, site, dropped).await;
    Ok(Json(stripe_view(&state, site).await?))
}
