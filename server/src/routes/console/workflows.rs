//! The workflow editor's API: the published versions, one version's definition, checking a
//! draft (every problem with its node and field, and warnings about what will not work as
//! the site is set up now), and publishing it as the next version.
//! Running conversations keep the version they started with.

use axum::extract::{Path, State};
use axum::Json;
use chatpay_shared::console::{PublishResult, WorkflowVersion};
use chatpay_shared::workflow::{NodeKind, Problem, Workflow};

use super::OwnedSite;
use crate::domain::SiteId;
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

/// What will not work as the site is set up now: each Request Payment node of `wf`, when
/// the site is not connected to Stripe or Stripe refused its key the last time.
async fn warnings(state: &AppState, site: &SiteId, wf: &Workflow) -> AppResult<Vec<Problem>> {
    let payment_nodes: Vec<&str> = wf
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::RequestPayment { .. }))
        .map(|n| n.id.as_str())
        .collect();
    if payment_nodes.is_empty() {
        return Ok(Vec::new());
    }
    let stripe = state.store.stripe_status(&state.cipher, site).await?;
    let refused = stripe
        .last_error
        .as_deref()
        .filter(|e| e.contains("HTTP 401") || e.contains("HTTP 403"));
    let message = match (stripe.connected, refused) {
        (false, _) => "this site is not connected to Stripe: visitors who reach this node are told payments are \
             unavailable and handed to a person. Connect Stripe in Stripe Payments (step 1)."
            .to_owned(),
        (true, Some(e)) => format!(
            "Stripe refused this site's key the last time ({e}): visitors who reach this node are told payments \
             are unavailable. Test a working key in Stripe Payments (step 1)."
        ),
        (true, None) => return Ok(Vec::new()),
    };
    Ok(payment_nodes
        .into_iter()
        .map(|id| Problem {
            node: Some(id.to_owned()),
            field: None,
            message: message.clone(),
        })
        .collect())
}

/// `GET /api/console/sites/{site}/workflows`: newest first.
pub async fn list(State(state): State<AppState>, owned: OwnedSite) -> AppResult<Json<Vec<WorkflowVersion>>> {
    let site = owned.id();
    Ok(Json(state.store.workflow_versions(site).await?))
}

/// `GET /api/console/sites/{site}/workflows/{version}`.
pub async fn get(
    State(state): State<AppState>,
    owned: OwnedSite,
    Path((_, version)): Path<(String, i64)>,
) -> AppResult<Json<Workflow>> {
    let site = owned.id();
    let workflow = state
        .store
        .workflow_version(site, version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("site '{site}' has no workflow version {version}")))?;
    Ok(Json(std::sync::Arc::unwrap_or_clone(workflow)))
}

/// `POST /api/console/sites/{site}/workflows/check`: the draft's problems, nothing saved.
pub async fn check(
    State(state): State<AppState>,
    owned: OwnedSite,
    body: String,
) -> AppResult<Json<PublishResult>> {
    let site = owned.id();
    Ok(Json(match checked(&body) {
        Ok(wf) => PublishResult {
            version: None,
            problems: Vec::new(),
            warnings: warnings(&state, site, &wf).await?,
        },
        Err(problems) => PublishResult {
            version: None,
            problems,
            warnings: Vec::new(),
        },
    }))
}

/// `POST /api/console/sites/{site}/workflows`: publishes the draft as the next version,
/// unless it has problems (then nothing is saved and the problems come back).
pub async fn publish(
    State(state): State<AppState>,
    owned: OwnedSite,
    body: String,
) -> AppResult<Json<PublishResult>> {
    let site = owned.id();
    let result = match checked(&body) {
        Ok(wf) => PublishResult {
            version: Some(state.store.publish_workflow(site, &wf).await?),
            problems: Vec::new(),
            warnings: warnings(&state, site, &wf).await?,
        },
        Err(problems) => PublishResult {
            version: None,
            problems,
            warnings: Vec::new(),
        },
    };
    Ok(Json(result))
}
