//! Workflows and runs: every published version of a site's workflow, and the run state of
//! each conversation (which keeps the version it started with).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chatpay_shared::console::WorkflowVersion;
use chatpay_shared::workflow::Workflow;
use sqlx::{Any, Executor, Row};

use super::{now_ms, Store, Tx};
use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use chatpay_shared::run::{RunState, RunStatus};

/// A published version.
#[derive(Debug, Clone)]
pub struct Published {
    /// 1 for a site's first published workflow, then one more per publish.
    pub version: i64,
    pub workflow: Arc<Workflow>,
}

fn decode(def: &str) -> AppResult<Workflow> {
    serde_json::from_str(def)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored workflow is unreadable: {e}")))
}

/// Parsed published versions by `(site, version)`.
pub(crate) type Cache = Arc<Mutex<HashMap<(SiteId, i64), Arc<Workflow>>>>;

/// The number of a site's latest published version.
async fn latest_number<'e>(e: impl Executor<'e, Database = Any>, site: &SiteId) -> AppResult<Option<i64>> {
    let row = sqlx::query("SELECT version FROM workflows WHERE site_id = $1 ORDER BY version DESC LIMIT 1")
        .bind(site.as_str())
        .fetch_optional(e)
        .await?;
    Ok(row.map(|r| r.try_get("version")).transpose()?)
}

/// One published version: from the cache, else read with `e` and cached. Versions never
/// change once published, so the cache never goes stale.
async fn cached<'e>(
    e: impl Executor<'e, Database = Any>,
    store: &Store,
    site: &SiteId,
    version: i64,
) -> AppResult<Option<Arc<Workflow>>> {
    let key = (site.clone(), version);
    if let Some(wf) = store
        .workflow_cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(Some(Arc::clone(wf)));
    }
    let row = sqlx::query("SELECT definition FROM workflows WHERE site_id = $1 AND version = $2")
        .bind(site.as_str())
        .bind(version)
        .fetch_optional(e)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let wf = Arc::new(decode(&row.try_get::<String, _>("definition")?)?);
    store
        .workflow_cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, Arc::clone(&wf));
    Ok(Some(wf))
}

/// The latest published version of a site's workflow, read inside `tx`.
pub async fn latest(tx: &mut Tx, store: &Store, site: &SiteId) -> AppResult<Option<Published>> {
    let Some(version) = latest_number(&mut *tx, site).await? else {
        return Ok(None);
    };
    let workflow = cached(&mut *tx, store, site, version)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok(Some(Published { version, workflow }))
}

/// A specific version (one a run started with), read inside `tx`.
pub async fn version(tx: &mut Tx, store: &Store, site: &SiteId, version: i64) -> AppResult<Arc<Workflow>> {
    Ok(cached(&mut *tx, store, site, version)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?)
}

/// A run locked for the transaction: its workflow version, site and state.
#[derive(Debug)]
pub struct LockedRun {
    /// The published version the run started on (it finishes on it).
    pub version: i64,
    pub site: SiteId,
    pub state: RunState,
}

/// A run, locked for this transaction (PostgreSQL row lock; SQLite has one writer).
pub async fn lock_run(tx: &mut Tx, conversation: &str) -> AppResult<Option<LockedRun>> {
    let sql = if tx.locks_rows() {
        "UPDATE runs SET updated_at = updated_at WHERE conversation_id = $1 \
         RETURNING workflow_version, site_id, state"
    } else {
        // SQLite: the transaction holds the database already (see `Tx::locks_rows`).
        "SELECT workflow_version, site_id, state FROM runs WHERE conversation_id = $1"
    };
    let row = sqlx::query(sql)
        .bind(conversation)
        .fetch_optional(&mut *tx)
        .await?;
    row.map(|r| {
        let state: String = r.try_get("state")?;
        Ok(LockedRun {
            version: r.try_get("workflow_version")?,
            site: SiteId::from_stored(r.try_get("site_id")?),
            state: serde_json::from_str(&state)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("stored run is unreadable: {e}")))?,
        })
    })
    .transpose()
}

/// Creates or replaces a run's state.
pub async fn save_run(
    tx: &mut Tx,
    conversation: &str,
    site: &SiteId,
    version: i64,
    run: &RunState,
) -> AppResult<()> {
    let state = serde_json::to_string(run).map_err(|e| AppError::Internal(e.into()))?;
    sqlx::query(
        "INSERT INTO runs (conversation_id, site_id, workflow_version, status, state, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (conversation_id) DO UPDATE SET status = excluded.status, state = excluded.state, \
         updated_at = excluded.updated_at",
    )
    .bind(conversation)
    .bind(site.as_str())
    .bind(version)
    .bind(run.status.as_str())
    .bind(state)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Publishes a (validated) workflow as the site's next version; returns the version.
    pub async fn publish_workflow(&self, site: &SiteId, workflow: &Workflow) -> AppResult<i64> {
        let def = serde_json::to_string(workflow).map_err(|e| AppError::Internal(e.into()))?;
        let mut tx = self.begin().await?;
        let next: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 AS next_version FROM workflows WHERE site_id = $1",
        )
        .bind(site.as_str())
        .fetch_one(&mut tx)
        .await?
        .try_get("next_version")?;
        sqlx::query(
            "INSERT INTO workflows (site_id, version, definition, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(site.as_str())
        .bind(next)
        .bind(def)
        .bind(now_ms())
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Every published version of a site's workflow, newest first.
    pub async fn workflow_versions(&self, site: &SiteId) -> AppResult<Vec<WorkflowVersion>> {
        let rows = sqlx::query(
            "SELECT version, definition, created_at FROM workflows WHERE site_id = $1 ORDER BY version DESC",
        )
        .bind(site.as_str())
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(|r| {
                let wf = decode(&r.try_get::<String, _>("definition")?)?;
                Ok(WorkflowVersion {
                    version: r.try_get("version")?,
                    name: wf.name,
                    nodes: wf.nodes.len(),
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// One published version of a site's workflow, if there is one.
    pub async fn workflow_version(&self, site: &SiteId, version: i64) -> AppResult<Option<Arc<Workflow>>> {
        cached(self.reader(), self, site, version).await
    }

    /// The latest published workflow of a site.
    pub async fn latest_workflow(&self, site: &SiteId) -> AppResult<Option<Published>> {
        let Some(version) = latest_number(self.reader(), site).await? else {
            return Ok(None);
        };
        let workflow = cached(self.reader(), self, site, version).await?;
        Ok(workflow.map(|workflow| Published { version, workflow }))
    }

    /// A conversation's run, if it has one.
    pub async fn run_of(&self, conversation: &str) -> AppResult<Option<(i64, RunState)>> {
        let row = sqlx::query("SELECT workflow_version, state FROM runs WHERE conversation_id = $1")
            .bind(conversation)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            let state: String = r.try_get("state")?;
            Ok((
                r.try_get("workflow_version")?,
                serde_json::from_str(&state)
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("stored run: {e}")))?,
            ))
        })
        .transpose()
    }

    /// Conversations whose run is in `status` and was last touched before `before_ms`.
    pub async fn runs_in(&self, status: RunStatus, before_ms: i64) -> AppResult<Vec<String>> {
        let rows = sqlx::query("SELECT conversation_id FROM runs WHERE status = $1 AND updated_at < $2")
            .bind(status.as_str())
            .bind(before_ms)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| Ok(r.try_get("conversation_id")?)).collect()
    }
}
