//! The caller's sites: list, create, rename, allowed origins, widget look, install snippet,
//! and how long their conversations are kept.

use axum::extract::State;
use axum::Json;
use chatpay_shared::console::{Retention, SiteInput, SiteTexts, SiteView};

use super::auth::Owner;
use super::{owned_site, OwnedSite};
use crate::error::{AppError, AppResult, FormErrors};
use crate::state::AppState;
use crate::store::sites::{NewSite, Site};

fn view(state: &AppState, s: Site) -> SiteView {
    SiteView {
        snippet: format!(
            "<script async src=\"{}/embed.js\" data-site=\"{}\"></script>",
            state.settings.public_url, s.id
        ),
        id: s.id.to_string(),
        name: s.name,
        origins: s.origins,
        greeting: s.greeting,
        color: s.color,
        retention_days: s.retention_days,
    }
}

/// `#rrggbb` or `#rgb`, else an error at the field.
fn check_color(color: Option<&str>) -> AppResult<Option<String>> {
    let Some(c) = color.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let hex = c.strip_prefix('#').unwrap_or("");
    if (hex.len() == 6 || hex.len() == 3) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(c.to_ascii_lowercase()))
    } else {
        Err(AppError::Invalid {
            field: "color",
            message: format!("'{c}' is not a colour; write it like #4f46e5"),
        })
    }
}

/// Turns a parse error into a field error for the form.
fn at_field(e: AppError, field: &'static str) -> AppError {
    match e {
        AppError::BadRequest(message) => AppError::Invalid { field, message },
        other => other,
    }
}

/// The site and its colour from the form, or every mistake in it at once.
fn parse(id: &str, input: &SiteInput) -> AppResult<(NewSite, Option<String>)> {
    let mut bad = FormErrors::default();
    bad.check(
        "id",
        crate::domain::SiteId::parse(id).map_err(|e| at_field(e, "id")),
    );
    if input.name.trim().is_empty() || input.name.trim().chars().count() > 80 {
        bad.add("name", "a site name needs 1-80 characters, like 'Acme Support'");
    }
    if input.greeting.trim().chars().count() > 500 {
        bad.add(
            "greeting",
            "the greeting is longer than 500 characters; shorten it",
        );
    }
    let origins: Vec<String> = input
        .origins
        .iter()
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        bad.add(
            "origins",
            "add at least one allowed origin, like https://shop.example",
        );
    }
    for o in &origins {
        bad.check(
            "origins",
            crate::domain::WebOrigin::parse(o).map_err(|e| at_field(e, "origins")),
        );
    }
    let color = bad.check("color", check_color(input.color.as_deref()));
    bad.finish()?;
    let site = NewSite::parse(id, &input.name, &input.greeting, &origins)?;
    Ok((site, color.unwrap_or_default()))
}

/// `GET /api/console/sites`.
pub async fn list(State(state): State<AppState>, owner: Owner) -> AppResult<Json<Vec<SiteView>>> {
    let sites = state.store.sites_of(&owner.account.id).await?;
    Ok(Json(sites.into_iter().map(|s| view(&state, s)).collect()))
}

/// `POST /api/console/sites`.
pub async fn create(
    State(state): State<AppState>,
    owner: Owner,
    super::Body(input): super::Body<SiteInput>,
) -> AppResult<Json<SiteView>> {
    let id = input.id.clone().unwrap_or_default();
    let (site, color) = parse(id.trim(), &input)?;
    state
        .store
        .insert_site(&site, Some(&owner.account.id), color.as_deref())
        .await
        .map_err(|e| match e {
            AppError::Conflict(message) => AppError::Invalid { field: "id", message },
            other => other,
        })?;
    let stored = owned_site(&state, &owner, &site.id).await?;
    Ok(Json(view(&state, stored)))
}

/// `GET /api/console/sites/{site}`.
pub async fn get(State(state): State<AppState>, owned: OwnedSite) -> AppResult<Json<SiteView>> {
    Ok(Json(view(&state, owned.site)))
}

/// `PUT /api/console/sites/{site}`: name, greeting, colour and origins.
pub async fn update(
    State(state): State<AppState>,
    owned: OwnedSite,
    super::Body(input): super::Body<SiteInput>,
) -> AppResult<Json<SiteView>> {
    let site = owned.id();
    let (parsed, color) = parse(site.as_str(), &input)?;
    state.store.update_site(&parsed, color.as_deref()).await?;
    Ok(Json(view(&state, owned_site(&state, &owned.owner, site).await?)))
}

/// What the console's "Widget texts" editor shows for a site.
fn texts_view(site: &Site) -> SiteTexts {
    use chatpay_shared::texts::{KEYS, LANGUAGES};
    SiteTexts {
        languages: LANGUAGES.iter().map(|l| (*l).to_owned()).collect(),
        keys: KEYS.iter().map(|k| (*k).to_owned()).collect(),
        defaults: LANGUAGES
            .iter()
            .map(|l| {
                (
                    (*l).to_owned(),
                    crate::texts::widget(l).iter().map(|t| (*t).to_owned()).collect(),
                )
            })
            .collect(),
        overrides: crate::texts::overrides_of(site.texts.as_deref()),
    }
}

/// `GET /api/console/sites/{site}/texts`: the widget's words, shipped and the owner's.
pub async fn texts(State(_state): State<AppState>, owned: OwnedSite) -> AppResult<Json<SiteTexts>> {
    Ok(Json(texts_view(&owned.site)))
}

/// `PUT /api/console/sites/{site}/texts`: the owner's words (language → key → text);
/// an empty text goes back to the shipped word. Visitors get them on their next connect.
pub async fn set_texts(
    State(state): State<AppState>,
    owned: OwnedSite,
    super::Body(overrides): super::Body<crate::texts::Overrides>,
) -> AppResult<Json<SiteTexts>> {
    let site = owned.id();
    let checked = crate::texts::checked_overrides(overrides)?;
    let json = (!checked.is_empty())
        .then(|| serde_json::to_string(&checked))
        .transpose()
        .map_err(|e| AppError::Internal(e.into()))?;
    state.store.set_site_texts(site, json.as_deref()).await?;
    Ok(Json(texts_view(&owned_site(&state, &owned.owner, site).await?)))
}

/// `PUT /api/console/sites/{site}/retention`: how long conversations nobody touches are kept.
pub async fn set_retention(
    State(state): State<AppState>,
    owned: OwnedSite,
    super::Body(input): super::Body<Retention>,
) -> AppResult<Json<SiteView>> {
    let days = crate::privacy::check_retention(input.days)?;
    state.store.set_retention(owned.id(), days).await?;
    let stored = owned_site(&state, &owned.owner, owned.id()).await?;
    Ok(Json(view(&state, stored)))
}
