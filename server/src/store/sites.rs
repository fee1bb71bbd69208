//! Sites: the websites that embed the widget, with the origins allowed to open sockets.

use sqlx::Row;

use super::{is_unique_violation, now_ms, Store};
use crate::domain::{SiteId, WebOrigin};
use crate::error::{AppError, AppResult};

/// A site as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub greeting: String,
    pub origins: Vec<String>,
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
    /// Adds a site; a taken id is a [`AppError::Conflict`].
    pub async fn insert_site(&self, site: &NewSite) -> AppResult<()> {
        let mut tx = self.begin().await?;
        let inserted =
            sqlx::query("INSERT INTO sites (id, name, greeting, created_at) VALUES ($1, $2, $3, $4)")
                .bind(site.id.as_str())
                .bind(&site.name)
                .bind(&site.greeting)
                .bind(now_ms())
                .execute(&mut *tx)
                .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(AppError::Conflict(format!(
                    "a site with id '{}' already exists; pick another id",
                    site.id
                )))
            }
            other => other?,
        };
        replace_origins(&mut tx, site.id.as_str(), &site.origins).await?;
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
        .execute(&mut *tx)
        .await?;
        replace_origins(&mut tx, site.id.as_str(), &site.origins).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One site with its origins, or `None`.
    pub async fn site(&self, id: &str) -> AppResult<Option<Site>> {
        let row = sqlx::query("SELECT id, name, greeting FROM sites WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let origins = sqlx::query("SELECT origin FROM site_origins WHERE site_id = $1 ORDER BY origin")
            .bind(id)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Site {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            greeting: row.try_get(2)?,
            origins,
        }))
    }

    /// All sites, by id.
    pub async fn sites(&self) -> AppResult<Vec<Site>> {
        let ids = sqlx::query("SELECT id FROM sites ORDER BY id")
            .fetch_all(self.reader())
            .await?;
        let mut sites = Vec::with_capacity(ids.len());
        for row in ids {
            let id: String = row.try_get(0)?;
            if let Some(site) = self.site(&id).await? {
                sites.push(site);
            }
        }
        Ok(sites)
    }

    /// Whether `origin` may open a visitor socket for `site`.
    pub async fn origin_allowed(&self, site: &str, origin: &str) -> AppResult<bool> {
        let row = sqlx::query("SELECT 1 FROM site_origins WHERE site_id = $1 AND origin = $2")
            .bind(site)
            .bind(origin)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.is_some())
    }
}

async fn replace_origins(tx: &mut super::Tx, site: &str, origins: &[WebOrigin]) -> AppResult<()> {
    sqlx::query("DELETE FROM site_origins WHERE site_id = $1")
        .bind(site)
        .execute(&mut **tx)
        .await?;
    for origin in origins {
        sqlx::query("INSERT INTO site_origins (site_id, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(site)
            .bind(origin.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
