//! A site's outbound webhook (URL and sealed signing secret) and the deliveries of its
//! events, each retried until it is answered 2xx or a day has passed (see
//! [`crate::outbound`]). A delivery is claimed before each try (its `next_at` moved forward
//! conditionally), so two relays never send one event at once.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_ms, Store, Tx};
use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use crate::secrets::Cipher;

/// A site's webhook, its secret opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub url: String,
    pub secret: String,
    /// The secret's last characters (`…a1b2`).
    pub secret_hint: String,
}

/// One event for a site's webhook and where its delivery stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event's id.
    pub id: String,
    pub site_id: SiteId,
    pub event_type: String,
    /// The JSON body sent.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// Unix ms of the next try (or of a try's lease); `None` when done.
    pub next_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, site_id, event_type, payload, status, attempts, next_at, last_status, last_error, created_at";

fn delivery(r: &AnyRow) -> AppResult<Delivery> {
    Ok(Delivery {
        id: r.try_get("id")?,
        site_id: SiteId::from_stored(r.try_get("site_id")?),
        event_type: r.try_get("event_type")?,
        payload: r.try_get("payload")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_at: r.try_get("next_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Where a site's secret is sealed to.
fn place(site: &SiteId) -> String {
    format!("site_hooks.secret:{site}")
}

/// Queues an event for `site`'s webhook inside `tx`, if the site has one; returns the
/// event's id then.
pub async fn enqueue(
    tx: &mut Tx,
    site: &SiteId,
    conversation: Option<&str>,
    event_id: &str,
    event_type: &str,
    payload: &str,
) -> AppResult<Option<String>> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO hook_deliveries (id, site_id, conversation_id, event_type, payload, status, attempts, \
         next_at, created_at, updated_at) \
         SELECT $1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6 FROM site_hooks WHERE site_id = $2",
    )
    .bind(event_id)
    .bind(site.as_str())
    .bind(conversation)
    .bind(event_type)
    .bind(payload)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok((done.rows_affected() == 1).then(|| event_id.to_owned()))
}

impl Store {
    /// Sets `site`'s webhook URL; a new secret is made (and returned, to be shown once) when
    /// the site had none or `new_secret` is asked.
    pub async fn set_hook(
        &self,
        cipher: &Cipher,
        site: &SiteId,
        url: &str,
        new_secret: bool,
    ) -> AppResult<Option<String>> {
        let had = self.hook(cipher, site).await?;
        let secret = match (&had, new_secret) {
            (Some(_), false) => None,
            _ => Some(format!("chs_{}", super::new_id("k").trim_start_matches("k_"))),
        };
        let now = now_ms();
        match &secret {
            Some(s) => {
                let hint = format!("…{}", &s[s.len() - 4..]);
                self.write_one(
                    sqlx::query(
                        "INSERT INTO site_hooks (site_id, url, secret_enc, secret_hint, updated_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id) DO UPDATE SET url = excluded.url, \
                         secret_enc = excluded.secret_enc, secret_hint = excluded.secret_hint, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(site.as_str())
                    .bind(url)
                    .bind(cipher.seal(s, &place(site)))
                    .bind(hint)
                    .bind(now),
                )
                .await?;
            }
            None => {
                self.write_one(
                    sqlx::query("UPDATE site_hooks SET url = $1, updated_at = $2 WHERE site_id = $3")
                        .bind(url)
                        .bind(now)
                        .bind(site.as_str()),
                )
                .await?;
            }
        }
        Ok(secret)
    }

    /// Removes `site`'s webhook; its pending deliveries end as failed.
    pub async fn remove_hook(&self, site: &SiteId) -> AppResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM site_hooks WHERE site_id = $1")
            .bind(site.as_str())
            .execute(&mut tx)
            .await?;
        sqlx::query(
            "UPDATE hook_deliveries SET status = 'failed', next_at = NULL, last_error = $1, updated_at = $2 \
             WHERE site_id = $3 AND status = 'pending'",
        )
        .bind("the site's webhook was removed")
        .bind(now_ms())
        .bind(site.as_str())
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `site`'s webhook, its secret opened.
    pub async fn hook(&self, cipher: &Cipher, site: &SiteId) -> AppResult<Option<Hook>> {
        let row = sqlx::query("SELECT url, secret_enc, secret_hint FROM site_hooks WHERE site_id = $1")
            .bind(site.as_str())
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            let sealed: String = r.try_get("secret_enc")?;
            Ok(Hook {
                url: r.try_get("url")?,
                secret: cipher
                    .open(&sealed, &place(site))
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("the webhook secret of {site}: {e}")))?,
                secret_hint: r.try_get("secret_hint")?,
            })
        })
        .transpose()
    }

    /// Queues one event in a transaction of its own; the id when the site has a webhook and
    /// the conversation it is about (if any) was not erased. The conversation's row is locked
    /// first, as the erase locks it: an erase that commits before sees no event to remove
    /// and this sees it erased; one that commits after removes this event with the others.
    pub async fn enqueue_hook_event(
        &self,
        site: &SiteId,
        conversation: Option<&str>,
        event_id: &str,
        event_type: &str,
        payload: &str,
    ) -> AppResult<Option<String>> {
        let mut tx = self.begin().await?;
        if let Some(c) = conversation {
            if super::conversations::erased_at(&mut tx, c).await?.is_some() {
                return Ok(None);
            }
        }
        let id = enqueue(&mut tx, site, conversation, event_id, event_type, payload).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Queues a `test` event, unless the site's last one is still being tried (refused, to
    /// wait for its answer): the check and the queuing in one transaction, the site's
    /// webhook row locked first, so two at once never both pass. The id when the site has a
    /// webhook.
    pub async fn enqueue_test_event(
        &self,
        site: &SiteId,
        event_id: &str,
        payload: &str,
    ) -> AppResult<Option<String>> {
        let mut tx = self.begin().await?;
        if tx.locks_rows() {
            sqlx::query("UPDATE site_hooks SET url = url WHERE site_id = $1")
                .bind(site.as_str())
                .execute(&mut tx)
                .await?;
        }
        let busy: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM hook_deliveries WHERE site_id = $1 AND event_type = 'test' AND status = 'pending'",
        )
        .bind(site.as_str())
        .fetch_one(&mut tx)
        .await?;
        if busy > 0 {
            return Err(AppError::RateLimited {
                message: "the last test event is still being sent; wait for its answer in the list below"
                    .into(),
                retry_after_secs: 10,
            });
        }
        let id = enqueue(&mut tx, site, None, event_id, "test", payload).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Whether `site` has a webhook (a read: no writer turn for the sites without one).
    pub async fn has_hook(&self, site: &SiteId) -> AppResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM site_hooks WHERE site_id = $1")
            .bind(site.as_str())
            .fetch_one(self.reader())
            .await?;
        Ok(n > 0)
    }

    /// `site`'s latest deliveries, newest first.
    pub async fn hook_deliveries(&self, site: &SiteId, limit: i64) -> AppResult<Vec<Delivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM hook_deliveries WHERE site_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(site.as_str())
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(delivery).collect()
    }

    /// Pending deliveries whose next try came by `now` (unix ms), oldest first: at most
    /// `per_site` of any one site, so a site with a backlog never fills the list and hides
    /// the others' (a window per site, in SQL: both SQLite and PostgreSQL have it).
    pub async fn hook_deliveries_due(&self, now: i64, per_site: i64, limit: i64) -> AppResult<Vec<Delivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM (SELECT {COLUMNS}, ROW_NUMBER() OVER (PARTITION BY site_id ORDER BY next_at, id) AS nth \
             FROM hook_deliveries WHERE status = 'pending' AND next_at <= $1) due \
             WHERE nth <= $2 ORDER BY next_at, id LIMIT $3"
        ))
        .bind(now)
        .bind(per_site)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(delivery).collect()
    }

    /// One delivery.
    pub async fn hook_delivery(&self, id: &str) -> AppResult<Option<Delivery>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM hook_deliveries WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(delivery).transpose()
    }

    /// Claims a pending delivery for one try until `lease_until` (unix ms): `true` when it
    /// was still as `seen` and due by `now` (nobody else took it meanwhile: a try under way
    /// holds a lease in the future, which is not due).
    pub async fn claim_hook_delivery(&self, seen: &Delivery, now: i64, lease_until: i64) -> AppResult<bool> {
        let done = self
            .write_one(
                sqlx::query(
                    "UPDATE hook_deliveries SET next_at = $1, updated_at = $2 \
                     WHERE id = $3 AND status = 'pending' AND attempts = $4 AND next_at = $5 AND next_at <= $6",
                )
                .bind(lease_until)
                .bind(now_ms())
                .bind(&seen.id)
                .bind(seen.attempts)
                .bind(seen.next_at)
                .bind(now),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a try's answer: `status` the HTTP status (if one came), `error` why it did
    /// not count (if it did not); `next_at` the next try (`None`: no more, it is done). Only
    /// while the try's claim holds (`seen`'s attempts, the lease `lease_until`, still
    /// pending): a delivery given up meanwhile (its webhook removed) stays given up, and a
    /// try whose lease ran out and was taken by another does not overwrite that one's.
    pub async fn record_hook_try(
        &self,
        seen: &Delivery,
        lease_until: i64,
        delivered: bool,
        status: Option<i64>,
        error: Option<&str>,
        next_at: Option<i64>,
    ) -> AppResult<()> {
        let state = match (delivered, next_at) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        self.write_one(
            sqlx::query(
                "UPDATE hook_deliveries SET status = $1, attempts = attempts + 1, next_at = $2, \
                 last_status = $3, last_error = $4, updated_at = $5 \
                 WHERE id = $6 AND status = 'pending' AND attempts = $7 AND next_at = $8",
            )
            .bind(state)
            .bind(if delivered { None } else { next_at })
            .bind(status)
            .bind(error)
            .bind(now_ms())
            .bind(&seen.id)
            .bind(seen.attempts)
            .bind(lease_until),
        )
        .await?;
        Ok(())
    }
}
