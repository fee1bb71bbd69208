//! The workflow editor's API: the published versions, one version's definition, checking a
//! draft (every problem with its node and field), and publishing it as the next version.
//! Running conversations keep the version they started with.

use axum::extract::{Path, State};
use axum::Json;
use chatpay_shared::console::{PublishResult, WorkflowVersion};
use chatpay_shared::workflow::{Problem, Workflow};

use super::auth::Owner;
use super::owned_site;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Reads a draft and checks it: the workflow, or every problem with its node and field (a
/// body that is not a workflow is one problem at the `json` field).
fn checked(body: &str) -> Result<Workflow, Vec<Problem>> {
    let wf = serde_json::from_str::<Workflow>(body).map_err(|e| {
        vec![Problem {
            node: None,
            field: Some("json".into()),
            message: format!("this is not a workflow: {e}"),
        }]
    })?;
    let problems = crate::engine::runner::problems(&wf);
    if problems.is_empty() {
        Ok(wf)
    } else {
        Err(problems)
    }
}

/// `GET /api/console/sites/{site}/workflows`: newest first.
pub async fn list(
    State(state): State<AppState>,
    owner: Owner,
    Path(site): Path<String>,
) -> AppResult<Json<Vec<WorkflowVersion>>> {
    owned_site(&state, &owner, &site).await?;
    Ok(Json(state.store.workflow_versions(&site).await?))
}

/// `GET /api/console/sites/{site}/workflows/{version}`.
pub async fn get(
    State(state): State<AppState>,
    owner: Owner,
    Path((site, version)): Path<(String, i64)>,
) -> AppResult<Json<Workflow>> {
    owned_site(&state, &owner, &site).await?;
    let workflow = state
        .store
        .workflow_version(&site, version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("site '{site}' has no workflow version {version}")))?;
    Ok(Json(std::sync::Arc::unwrap_or_clone(workflow)))
}

/// `POST /api/console/sites/{site}/workflows/check`: the draft's problems, nothing saved.
pub async fn check(
    State(state): State<AppState>,
    owner: Owner,
    Path(site): Path<String>,
    body: String,
) -> AppResult<Json<PublishResult>> {
    owned_site(&state, &owner, &site).await?;
    Ok(Json(PublishResult {
        version: None,
        problems: checked(&body).err().unwrap_or_default(),
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
    let result = match checked(&body) {
        Ok(wf) => PublishResult {
            version: Some(state.store.publish_workflow(&site, &wf).await?),
            problems: Vec::new(),
        },
        Err(problems) => PublishResult {
            version: None,
            problems,
        },
    };
    Ok(Json(result))
}
