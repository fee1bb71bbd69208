//! The workflow editor's API: the published versions, one version's definition, checking a
//! draft (every problem with its node and field), and publishing it as the next version.
//! Running conversations keep the version they started with.

use axum::extract::{Path, State};
use axum::Json;
use chatpay_shared::console::{PublishResult, WorkflowVersion};
use chatpay_shared::workflow::{Problem, Workflow};
use sqlx::Row;

use super::auth::Owner;
use super::owned_site;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Reads a draft; a body that is not a workflow is one problem at the `json` field.
fn read(body: &str) -> Result<Workflow, Vec<Problem>> {
    serde_json::from_str::<Workflow>(body).map_err(|e| {
        vec![Problem {
            node: None,
            field: Some("json".into()),
            message: format!("this is not a workflow: {e}"),
        }]
    })
}

/// `GET /api/console/sites/{site}/workflows`: newest first.
pub async fn list(
    State(state): State<AppState>,
    owner: Owner,
    Path(site): Path<String>,
) -> AppResult<Json<Vec<WorkflowVersion>>> {
    owned_site(&state, &owner, &site).await?;
    let rows = sqlx::query(
        "SELECT version, definition, created_at FROM workflows WHERE site_id = $1 ORDER BY version DESC",
    )
    .bind(&site)
    .fetch_all(state.store.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let def: String = r.try_get(1)?;
        let wf: Workflow = serde_json::from_str(&def).map_err(|e| AppError::Internal(e.into()))?;
        out.push(WorkflowVersion {
            version: r.try_get(0)?,
            name: wf.name,
            nodes: wf.nodes.len(),
            created_at: r.try_get(2)?,
        });
    }
    Ok(Json(out))
}

/// `GET /api/console/sites/{site}/workflows/{version}`.
pub async fn get(
    State(state): State<AppState>,
    owner: Owner,
    Path((site, version)): Path<(String, i64)>,
) -> AppResult<Json<Workflow>> {
    owned_site(&state, &owner, &site).await?;
    let row = sqlx::query("SELECT definition FROM workflows WHERE site_id = $1 AND version = $2")
        .bind(&site)
        .bind(version)
        .fetch_optional(state.store.reader())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("site '{site}' has no workflow version {version}")))?;
    let def: String = row.try_get(0)?;
    Ok(Json(
        serde_json::from_str(&def).map_err(|e| AppError::Internal(e.into()))?,
    ))
}

/// `POST /api/console/sites/{site}/workflows/check`: the draft's problems, nothing saved.
pub async fn check(
    State(state): State<AppState>,
    owner: Owner,
    Path(site): Path<String>,
    body: String,
) -> AppResult<Json<PublishResult>> {
    owned_site(&state, &owner, &site).await?;
    let problems = match read(&body) {
        Ok(wf) => crate::engine::runner::problems(&wf),
        Err(p) => p,
    };
    Ok(Json(PublishResult {
        version: None,
        problems,
    }))
}

/// `POST /api/console/sites/{site}/workflows`: publishes the draft as the next version,
/// unless it has problems (then nothing is saved and the problems come back).
pub async fn publish(
    State(state): State<AppState>,
    owner: Owner,
    Path(site): Path<String>,
    body: String,
) -> AppResult<Json<PublishResult>> {
    owned_site(&state, &owner, &site).await?;
    let wf = match read(&body) {
        Ok(wf) => wf,
        Err(problems) => {
            return Ok(Json(PublishResult {
                version: None,
                problems,
            }))
        }
    };
    let problems = crate::engine::runner::problems(&wf);
    if !problems.is_empty() {
        return Ok(Json(PublishResult {
            version: None,
            problems,
        }));
    }
    let version = state.store.publish_workflow(&site, &wf).await?;
    Ok(Json(PublishResult {
        version: Some(version),
        problems: Vec::new(),
    }))
}
