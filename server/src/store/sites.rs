//! Sites: the websites that embed the widget, with the origins allowed to open sockets.

use sqlx::Row;

use super::{now_ms, taken_is_conflict, Store};
use crate::domain::{SiteId, WebOrigin};
use crate::error::{AppError, AppResult};

/// A site as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    pub greeting: String,
    pub origins: Vec<String>,
    /// The widget's accent colour, `#rrggbb`.
    pub color: Option<String>,
    /// The account that owns it (none for sites made with the CLI before any account).
    pub owner_id: Option<String>,
    /// The owner's words for the widget, as JSON (`{"de": {"pay": "Jetzt zahlen"}}`); the
    /// store keeps it as it is given (see [`crate::texts`]).
    pub texts: Option<String>,
    /// Conversations untouched for this many days are erased (`None`: kept).
    pub retention_days: Option<i64>,
}

/// What `chatpay site add` and the console create.
#[derive(Debug, Clone)]
pub struct NewSite {
    pub id: SiteId,
    pub name: String,
    pub greeting: String,
    pub origins: Vec<WebOrigin>,
}

impl NewSite {
    /// Validates raw input; every error names the value and the fix.
    pub fn parse(id: &str, name: &str, greeting: &str, origins: &[String]) -> AppResult<NewSite> {
        let id = SiteId::parse(id)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(AppError::BadRequest(format!(
                "invalid site name '{name}': use 1-80 characters, like 'Acme Support'"
            )));
        }
        let greeting = greeting.trim();
        if greeting.chars().count() > 500 {
            return Err(AppError::BadRequest(
                "the greeting is longer than 500 characters; shorten it".into(),
            ));
        }
        if origins.is_empty() {
            return Err(AppError::BadRequest(
                "a site needs at least one allowed origin, like --origin https://shop.example".into(),
            ));
        }
        let origins = origins
            .iter()
            .map(|o| WebOrigin::parse(o))
            .collect::<AppResult<Vec<_>>>()?;
        Ok(NewSite {
            id,
            name: name.to_owned(),
            greeting: greeting.to_owned(),
            origins,
        })
    }
}

impl Store {
    /// Adds a site with its origins, owner and colour, all or nothing; a taken id is a
    /// [`AppError::Conflict`].
    pub async fn insert_site(
        &self,
        site: &NewSite,
        owner: Option<&str>,
        color: Option<&str>,
    ) -> AppResult<()> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO sites (id, name, greeting, owner_id, color, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(site.id.as_str())
        .bind(&site.name)
        .bind(&site.greeting)
        .bind(owner)
        .bind(color)
        .bind(now_ms())
        .execute(&mut tx)
        .await;
        taken_is_conflict(inserted, || {
            format!("a site with id '{}' already exists; pick another id", site.id)
        })?;
        replace_origins(&mut tx, &site.id, &site.origins).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates the site or, if it exists, sets its name, greeting and origins.
    pub async fn upsert_site(&self, site: &NewSite) -> AppResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO sites (id, name, greeting, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, greeting = excluded.greeting",
        )
        .bind(site.id.as_str())
        .bind(&site.name)
        .bind(&site.greeting)
        .bind(now_ms())
        .execute(&mut tx)
        .await?;
        replace_origins(&mut tx, &site.id, &site.origins).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One site with its origins, or `None`.
    pub async fn site(&self, id: &SiteId) -> AppResult<Option<Site>> {
        let row = sqlx::query(
            "SELECT id, name, greeting, color, owner_id, texts, retention_days FROM sites WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let origins = sqlx::query("SELECT origin FROM site_origins WHERE site_id = $1 ORDER BY origin")
            .bind(id.as_str())
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("origin"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Site {
            id: SiteId::from_stored(row.try_get("id")?),
            name: row.try_get("name")?,
            greeting: row.try_get("greeting")?,
            origins,
            color: row.try_get("color")?,
            owner_id: row.try_get("owner_id")?,
            texts: row.try_get("texts")?,
            retention_days: row.try_get("retention_days")?,
        }))
    }

    /// Sets how many days an untouched conversation of `site` is kept (`None`: always).
    pub async fn set_retention(&self, site: &SiteId, days: Option<i64>) -> AppResult<()> {
        self.write_one(
            sqlx::query("UPDATE sites SET retention_days = $1 WHERE id = $2")
                .bind(days)
                .bind(site.as_str()),
        )
        .await?;
        Ok(())
    }

    /// Gives a site to an account (it is the one account that sees it in the console).
    pub async fn set_site_owner(&self, site: &SiteId, account: &str) -> AppResult<()> {
        self.write_one(
            sqlx::query("UPDATE sites SET owner_id = $1 WHERE id = $2")
                .bind(account)
                .bind(site.as_str()),
        )
        .await?;
        Ok(())
    }

    /// All sites, by id.
    pub async fn sites(&self) -> AppResult<Vec<Site>> {
        let ids = sqlx::query("SELECT id FROM sites ORDER BY id")
            .fetch_all(self.reader())
            .await?;
        self.sites_in(ids).await
    }

    /// The sites an account owns, by id.
    pub async fn sites_of(&self, account: &str) -> AppResult<Vec<Site>> {
        let ids = sqlx::query("SELECT id FROM sites WHERE owner_id = $1 ORDER BY id")
            .bind(account)
            .fetch_all(self.reader())
            .await?;
        self.sites_in(ids).await
    }

    /// The sites whose ids are the `id` column of `rows`, in that order.
    async fn sites_in(&self, rows: Vec<sqlx::any::AnyRow>) -> AppResult<Vec<Site>> {
        let mut sites = Vec::with_capacity(rows.len());
        for row in rows {
            let id = SiteId::from_stored(row.try_get("id")?);
            if let Some(site) = self.site(&id).await? {
                sites.push(site);
            }
        }
        Ok(sites)
    }

    /// Changes a site's name, greeting, colour and origins.
    pub async fn update_site(&self, site: &NewSite, color: Option<&str>) -> AppResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE sites SET name = $1, greeting = $2, color = $3 WHERE id = $4")
            .bind(&site.name)
            .bind(&site.greeting)
            .bind(color)
            .bind(site.id.as_str())
            .execute(&mut tx)
            .await?;
        replace_origins(&mut tx, &site.id, &site.origins).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Saves the owner's words for the widget (JSON; `None` clears them).
    pub async fn set_site_texts(&self, site: &SiteId, texts: Option<&str>) -> AppResult<()> {
        self.write_one(
            sqlx::query("UPDATE sites SET texts = $1 WHERE id = $2")
                .bind(texts)
                .bind(site.as_str()),
        )
        .await?;
        Ok(())
    }

    /// Whether `origin` may open a visitor socket for `site`.
    pub async fn origin_allowed(&self, site: &SiteId, origin: &str) -> AppResult<bool> {
        let row = sqlx::query("SELECT 1 FROM site_origins WHERE site_id = $1 AND origin = $2")
            .bind(site.as_str())
            .bind(origin)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.is_some())
    }
}

async fn replace_origins(tx: &mut super::Tx, site: &SiteId, origins: &[WebOrigin]) -> AppResult<()> {
    sqlx::query("DELETE FROM site_origins WHERE site_id = $1")
        .bind(site.as_str())
        .execute(&mut *tx)
        .await?;
    for origin in origins {
        sqlx::query("INSERT INTO site_origins (site_id, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(site.as_str())
            .bind(origin.as_str())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
