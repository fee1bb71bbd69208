//! A site's Stripe connection: keys sealed with the relay's [`Cipher`], never stored or
//! returned in the clear, plus the settings Checkout Sessions are made with.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{now_ms, Store};
use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use crate::secrets::{mask, Cipher};

/// A connection as the relay uses it (secrets opened).
#[derive(Clone)]
pub struct StripeAccount {
    pub site_id: SiteId,
    pub livemode: bool,
    pub secret_key: String,
    /// Current first.
    pub webhook_secrets: Vec<String>,
    pub publishable_key: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub apple_pay: bool,
    pub google_pay: bool,
    pub payment_method_configuration: Option<String>,
}

impl std::fmt::Debug for StripeAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeAccount")
            .field("site_id", &self.site_id)
            .field("livemode", &self.livemode)
            .field("secret_key", &mask(&self.secret_key))
            .field("webhook_secrets", &self.webhook_secrets.len())
            .finish_non_exhaustive()
    }
}

/// How long a replaced webhook signing secret keeps verifying, unless told otherwise (like
/// Stripe's own roll: 24 hours), in ms.
pub const DEFAULT_SECRET_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// A webhook signing secret as sealed in the row: the current one has no end; a replaced
/// one verifies until `until` (unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredSecret {
    secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<i64>,
    /// The Stripe webhook endpoint chatpay created for this secret ("Create the webhook for
    /// me"): deleted at Stripe when the secret ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
}

/// What older relays sealed: plain strings, the current first.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnySecret {
    Stored(StoredSecret),
    Legacy(String),
}

/// What is safe to show: masks, flags and settings, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StripeStatus {
    pub connected: bool,
    /// `live` or `test` (the key's mode); `None` when not connected.
    pub mode: Option<&'static str>,
    pub secret_key: Option<String>,
    pub webhook_secret: Option<String>,
    /// The replaced secret that still verifies, masked, and until when (unix ms).
    pub previous_webhook_secret: Option<String>,
    /// Unix milliseconds until which the replaced signing secret still verifies.
    pub previous_webhook_secret_until: Option<i64>,
    pub publishable_key: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub apple_pay: bool,
    pub google_pay: bool,
    pub last_error: Option<String>,
    /// Unix milliseconds of the last error Stripe gave for this key.
    pub last_error_at: Option<i64>,
}

impl Store {
    /// Creates or replaces the site's key (and webhook secrets when given), keeping settings.
    pub async fn save_stripe_keys(
        &self,
        cipher: &Cipher,
        site: &SiteId,
        secret_key: &str,
        livemode: bool,
        webhook_secrets: Option<&[String]>,
    ) -> AppResult<()> {
        let sealed_key = cipher.seal(secret_key, &key_place(site));
        let until = now_ms() + DEFAULT_SECRET_GRACE_MS;
        let sealed_hooks = webhook_secrets.map(|list| {
            let stored: Vec<StoredSecret> = list
                .iter()
                .enumerate()
                .map(|(i, s)| StoredSecret {
                    secret: s.clone(),
                    until: (i > 0).then_some(until),
                    endpoint: None,
                })
                .collect();
            seal_secrets(cipher, site, &stored)
        });
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO stripe_accounts (site_id, livemode, secret_key_enc, secret_key_masked, webhook_secrets_enc, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (site_id) DO UPDATE SET livemode = excluded.livemode, secret_key_enc = excluded.secret_key_enc, \
             publishable_key = CASE WHEN stripe_accounts.livemode = excluded.livemode \
                 THEN stripe_accounts.publishable_key ELSE NULL END, \
             secret_key_masked = excluded.secret_key_masked, \
             webhook_secrets_enc = COALESCE(excluded.webhook_secrets_enc, stripe_accounts.webhook_secrets_enc), \
             last_error = NULL, last_error_at = NULL, updated_at = excluded.updated_at",
        )
        .bind(site.as_str())
        .bind(i64::from(livemode))
        .bind(sealed_key)
        .bind(mask(secret_key))
        .bind(sealed_hooks)
        .bind(now_ms())
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `secret` the site's webhook signing secret (of the Stripe endpoint `endpoint`
    /// when chatpay created it). The one it replaces keeps verifying for `grace_ms` (Stripe's
    /// roll keeps the old one for a while too); any older one stops now. Returns the
    /// endpoints chatpay created whose secrets stopped now, to delete at Stripe.
    pub async fn rotate_webhook_secret(
        &self,
        cipher: &Cipher,
        site: &SiteId,
        secret: &str,
        grace_ms: i64,
        endpoint: Option<&str>,
    ) -> AppResult<Vec<String>> {
        let now = now_ms();
        let stored = self.stored_secrets(cipher, site).await?;
        if stored.iter().any(|s| s.until.is_none() && s.secret == secret) {
            // The current secret again (a repeated idempotent create answers the same
            // endpoint and secret; a secret pasted twice): nothing changes, and the replaced
            // one keeps its grace.
            return Ok(Vec::new());
        }
        let mut list = vec![StoredSecret {
            secret: secret.to_owned(),
            until: None,
            endpoint: endpoint.map(str::to_owned),
        }];
        let mut dropped = Vec::new();
        for old in stored {
            if old.secret == secret {
                continue;
            }
            if old.until.is_none() {
                list.push(StoredSecret {
                    until: Some(now + grace_ms),
                    ..old
                });
            } else {
                dropped.extend(old.endpoint);
            }
        }
        self.write_secrets(cipher, site, &list).await?;
        Ok(dropped)
    }

    /// Stops every replaced webhook secret now ("revoke now"); the current one stays.
    /// Returns the endpoints chatpay created for them, to delete at Stripe.
    pub async fn revoke_previous_webhook_secrets(
        &self,
        cipher: &Cipher,
        site: &SiteId,
    ) -> AppResult<Vec<String>> {
        let (keep, gone): (Vec<StoredSecret>, Vec<StoredSecret>) = self
            .stored_secrets(cipher, site)
            .await?
            .into_iter()
            .partition(|s| s.until.is_none());
        self.write_secrets(cipher, site, &keep).await?;
        Ok(gone.into_iter().filter_map(|s| s.endpoint).collect())
    }

    /// Forgets the replaced secrets whose grace ended by `now`; returns the endpoints
    /// chatpay created for them, to delete at Stripe (the sweep does).
    pub async fn end_replaced_webhook_secrets(
        &self,
        cipher: &Cipher,
        site: &SiteId,
        now: i64,
    ) -> AppResult<Vec<String>> {
        let all = self.stored_secrets(cipher, site).await?;
        if !all.iter().any(|s| s.until.is_some_and(|u| u <= now)) {
            return Ok(Vec::new());
        }
        let (keep, gone): (Vec<StoredSecret>, Vec<StoredSecret>) =
            all.into_iter().partition(|s| s.until.is_none_or(|u| u > now));
        self.write_secrets(cipher, site, &keep).await?;
        Ok(gone.into_iter().filter_map(|s| s.endpoint).collect())
    }

    /// The Stripe endpoint chatpay created for the current webhook secret, if it did.
    pub async fn webhook_endpoint(&self, cipher: &Cipher, site: &SiteId) -> AppResult<Option<String>> {
        Ok(self
            .stored_secrets(cipher, site)
            .await?
            .into_iter()
            .find(|s| s.until.is_none())
            .and_then(|s| s.endpoint))
    }

    /// The sites connected to Stripe.
    pub async fn stripe_sites(&self) -> AppResult<Vec<SiteId>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT site_id FROM stripe_accounts")
            .fetch_all(self.reader())
            .await?;
        Ok(ids.into_iter().map(SiteId::from_stored).collect())
    }

    async fn write_secrets(&self, cipher: &Cipher, site: &SiteId, list: &[StoredSecret]) -> AppResult<()> {
        let done = self
            .write_one(
                sqlx::query(
                    "UPDATE stripe_accounts SET webhook_secrets_enc = $1, updated_at = $2 WHERE site_id = $3",
                )
                .bind(seal_secrets(cipher, site, list))
                .bind(now_ms())
                .bind(site.as_str()),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(AppError::Conflict(format!(
                "site '{site}' has no Stripe key yet; connect a secret key first"
            )));
        }
        Ok(())
    }

    /// Every sealed webhook secret of the site, ended ones included.
    async fn stored_secrets(&self, cipher: &Cipher, site: &SiteId) -> AppResult<Vec<StoredSecret>> {
        let row = sqlx::query("SELECT webhook_secrets_enc FROM stripe_accounts WHERE site_id = $1")
            .bind(site.as_str())
            .fetch_optional(self.reader())
            .await?;
        match row {
            Some(r) => open_secrets(cipher, site, r.try_get("webhook_secrets_enc")?),
            None => Ok(Vec::new()),
        }
    }

    /// Saves wizard step 2: return URLs, publishable key, wallets and their configuration.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_stripe_settings(
        &self,
        site: &SiteId,
        publishable_key: Option<&str>,
        success_url: Option<&str>,
        cancel_url: Option<&str>,
        apple_pay: bool,
        google_pay: bool,
        payment_method_configuration: Option<&str>,
    ) -> AppResult<()> {
        self.write_one(sqlx::query(
            "UPDATE stripe_accounts SET publishable_key = $1, success_url = $2, cancel_url = $3, apple_pay = $4, \
             google_pay = $5, payment_method_configuration = $6, updated_at = $7 WHERE site_id = $8",
        )
        .bind(publishable_key)
        .bind(success_url)
        .bind(cancel_url)
        .bind(i64::from(apple_pay))
        .bind(i64::from(google_pay))
        .bind(payment_method_configuration)
        .bind(now_ms())
        .bind(site.as_str())
        )
        .await?;
        Ok(())
    }

    /// How a site's resolved payments were resolved: `(resolved_by, count)`.
    pub async fn resolutions(&self, site: &SiteId) -> AppResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT resolved_by, COUNT(*) AS payments FROM payments WHERE site_id = $1 AND resolved_by IS NOT NULL \
             GROUP BY resolved_by",
        )
        .bind(site.as_str())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("resolved_by")?, r.try_get("payments")?)))
            .collect()
    }

    /// Remembers the last Stripe failure for troubleshooting (or clears it with `None`).
    pub async fn note_stripe_error(&self, site: &SiteId, error: Option<&str>) -> AppResult<()> {
        self.write_one(
            sqlx::query("UPDATE stripe_accounts SET last_error = $1, last_error_at = $2 WHERE site_id = $3")
                .bind(error)
                .bind(error.map(|_| now_ms()))
                .bind(site.as_str()),
        )
        .await?;
        Ok(())
    }

    /// The site's connection with secrets opened, or `None` when not connected.
    pub async fn stripe_account(&self, cipher: &Cipher, site: &SiteId) -> AppResult<Option<StripeAccount>> {
        let row = sqlx::query(
            "SELECT livemode, secret_key_enc, webhook_secrets_enc, publishable_key, success_url, cancel_url, \
             apple_pay, google_pay, payment_method_configuration, updated_at FROM stripe_accounts WHERE site_id = $1",
        )
        .bind(site.as_str())
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let secret_key = cipher.open(&r.try_get::<String, _>("secret_key_enc")?, &key_place(site))?;
        let webhook_secrets = valid_now(open_secrets(cipher, site, r.try_get("webhook_secrets_enc")?)?);
        Ok(Some(StripeAccount {
            site_id: site.clone(),
            livemode: r.try_get::<i64, _>("livemode")? != 0,
            secret_key,
            webhook_secrets,
            publishable_key: r.try_get("publishable_key")?,
            success_url: r.try_get("success_url")?,
            cancel_url: r.try_get("cancel_url")?,
            apple_pay: r.try_get::<i64, _>("apple_pay")? != 0,
            google_pay: r.try_get::<i64, _>("google_pay")? != 0,
            payment_method_configuration: r.try_get("payment_method_configuration")?,
        }))
    }

    /// The site's webhook signing secrets that verify now, opened, the current first (empty
    /// when none are saved or the site is not connected). Only these: verifying a webhook
    /// needs no other secret.
    pub async fn webhook_secrets(&self, cipher: &Cipher, site: &SiteId) -> AppResult<Vec<String>> {
        Ok(valid_now(self.stored_secrets(cipher, site).await?))
    }

    /// The connection as it may be shown to the site's owner.
    pub async fn stripe_status(&self, cipher: &Cipher, site: &SiteId) -> AppResult<StripeStatus> {
        let row = sqlx::query(
            "SELECT last_error, last_error_at, secret_key_masked FROM stripe_accounts WHERE site_id = $1",
        )
        .bind(site.as_str())
        .fetch_optional(self.reader())
        .await?;
        let account = self.stripe_account(cipher, site).await?;
        let now = now_ms();
        let previous = self
            .stored_secrets(cipher, site)
            .await?
            .into_iter()
            .find(|s| s.until.is_some_and(|u| u > now));
        Ok(match (account, row) {
            (Some(a), Some(r)) => StripeStatus {
                connected: true,
                mode: Some(if a.livemode { "live" } else { "test" }),
                secret_key: Some(r.try_get("secret_key_masked")?),
                webhook_secret: a.webhook_secrets.first().map(|s| mask(s)),
                previous_webhook_secret: previous.as_ref().map(|p| mask(&p.secret)),
                previous_webhook_secret_until: previous.and_then(|p| p.until),
                publishable_key: a.publishable_key,
                success_url: a.success_url,
                cancel_url: a.cancel_url,
                apple_pay: a.apple_pay,
                google_pay: a.google_pay,
                last_error: r.try_get("last_error")?,
                last_error_at: r.try_get("last_error_at")?,
            },
            _ => StripeStatus {
                connected: false,
                mode: None,
                secret_key: None,
                webhook_secret: None,
                previous_webhook_secret: None,
                previous_webhook_secret_until: None,
                publishable_key: None,
                success_url: None,
                cancel_url: None,
                apple_pay: true,
                google_pay: true,
                last_error: None,
                last_error_at: None,
            },
        })
    }
}

/// Where a site's secret key is sealed (the ciphertext's associated data).
fn key_place(site: &SiteId) -> String {
    format!("stripe_accounts.secret_key:{site}")
}

/// Where a site's webhook secrets are sealed.
fn secrets_place(site: &SiteId) -> String {
    format!("stripe_accounts.webhook_secrets:{site}")
}

/// Opens the sealed JSON list of a site's webhook secrets (none when nothing is sealed).
fn open_secrets(cipher: &Cipher, site: &SiteId, sealed: Option<String>) -> AppResult<Vec<StoredSecret>> {
    let Some(sealed) = sealed else {
        return Ok(Vec::new());
    };
    decode_secrets(
        &cipher.open(&sealed, &secrets_place(site))?,
        crate::store::now_ms(),
    )
}

/// The list as JSON; a list an older relay wrote (plain strings, the current first) gets
/// the default grace for its replaced secrets, counted from `now`.
fn decode_secrets(json: &str, now: i64) -> AppResult<Vec<StoredSecret>> {
    let list: Vec<AnySecret> = serde_json::from_str(json)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored webhook secrets: {e}")))?;
    Ok(list
        .into_iter()
        .enumerate()
        .map(|(i, s)| match s {
            AnySecret::Stored(s) => s,
            AnySecret::Legacy(secret) => StoredSecret {
                secret,
                until: (i > 0).then_some(now + DEFAULT_SECRET_GRACE_MS),
                endpoint: None,
            },
        })
        .collect())
}

fn seal_secrets(cipher: &Cipher, site: &SiteId, list: &[StoredSecret]) -> String {
    cipher.seal(
        &serde_json::to_string(list).unwrap_or_default(),
        &secrets_place(site),
    )
}

impl Store {
    /// Re-seals what older relays stored: unbound (`v1`) ciphertexts become bound to their
    /// row and column, and webhook secret lists in the old format get their replaced
    /// secrets' grace fixed from now (it would otherwise restart with every settings save).
    /// Returns how many values were re-sealed. Run at start.
    pub async fn reseal_secrets(&self, cipher: &Cipher) -> AppResult<usize> {
        let rows = sqlx::query("SELECT site_id, secret_key_enc, webhook_secrets_enc FROM stripe_accounts")
            .fetch_all(self.reader())
            .await?;
        let mut resealed = 0;
        for r in rows {
            let site = SiteId::from_stored(r.try_get("site_id")?);
            let key: String = r.try_get("secret_key_enc")?;
            let hooks: Option<String> = r.try_get("webhook_secrets_enc")?;
            if let Some(plain) = cipher.open_unbound(&key) {
                let sealed = cipher.seal(&plain?, &key_place(&site));
                self.write_one(sqlx::query("UPDATE stripe_accounts SET secret_key_enc = $1 WHERE site_id = $2 AND secret_key_enc = $3")
                    .bind(sealed)
                    .bind(site.as_str())
                    .bind(&key)
                    )
                    .await?;
                resealed += 1;
            }
            if let Some(Some(plain)) = hooks.as_deref().map(|h| cipher.open_unbound(h)) {
                let list = decode_secrets(&plain?, crate::store::now_ms())?;
                self.write_one(sqlx::query(
                    "UPDATE stripe_accounts SET webhook_secrets_enc = $1 WHERE site_id = $2 AND webhook_secrets_enc = $3",
                )
                .bind(seal_secrets(cipher, &site, &list))
                .bind(site.as_str())
                .bind(&hooks)
                )
                .await?;
                resealed += 1;
            }
        }
        if resealed > 0 {
            tracing::info!(
                resealed,
                "re-sealed secrets of an older chatpay, bound to their rows"
            );
        }
        Ok(resealed)
    }
}

/// The secrets that verify now: the current one, and replaced ones within their grace.
fn valid_now(list: Vec<StoredSecret>) -> Vec<String> {
    let now = now_ms();
    list.into_iter()
        .filter(|s| s.until.is_none_or(|u| u > now))
        .map(|s| s.secret)
        .collect()
}
