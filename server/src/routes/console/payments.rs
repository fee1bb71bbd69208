//! The site's Payments page: every payment with who asked and what Stripe said since, by
//! status and UTC dates, with totals per currency, and the same list as CSV; and the
//! conversion of payment requests by day and workflow version.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chatpay_shared::console::{Conversion, PaymentList};
use serde::Deserialize;

use super::OwnedSite;
use crate::error::{cut, AppError, AppResult};
use crate::payments::report::{self, Filter, StripeLinks};
use crate::state::AppState;
use crate::store::payments::Payment;

/// The page's query, refused like every console mistake (JSON naming what was wrong; axum's
/// own rejection is plain text).
fn asked(q: Result<Query<Asked>, QueryRejection>) -> AppResult<Asked> {
    q.map(|Query(a)| a).map_err(|e| {
        AppError::BadRequest(format!(
            "the query is not what this page takes: {}",
            cut(&e.body_text())
        ))
    })
}

/// The page's query: `?status=paid&from=2026-12-01&to=2026-12-31` (each may be left out).
#[derive(Debug, Deserialize)]
pub struct Asked {
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The payments of the filter's dates (at most `limit`), those of its status, and whether
/// the dates held more.
async fn listed(
    state: &AppState,
    owned: &OwnedSite,
    q: &Asked,
    limit: i64,
) -> AppResult<(Vec<Payment>, bool)> {
    let filter = Filter::parse(q.status.as_deref(), q.from.as_deref(), q.to.as_deref())?;
    let links = StripeLinks::for_base(state.stripe.base());
    let mut found = state
        .store
        .site_payments(owned.id(), filter.from_ms, filter.to_ms, limit + 1)
        .await?;
    let truncated = found.len() as i64 > limit;
    found.truncate(limit as usize);
    found.retain(|p| filter.keeps(&report::row(p, &links)));
    Ok((found, truncated))
}

/// `GET …/payments`.
pub async fn list(
    State(state): State<AppState>,
    owned: OwnedSite,
    q: Result<Query<Asked>, QueryRejection>,
) -> AppResult<Json<PaymentList>> {
    let q = asked(q)?;
    let (found, truncated) = listed(&state, &owned, &q, report::PAGE_LIMIT).await?;
    let links = StripeLinks::for_base(state.stripe.base());
    let refs: Vec<&Payment> = found.iter().collect();
    Ok(Json(PaymentList {
        payments: found.iter().map(|p| report::row(p, &links)).collect(),
        totals: report::totals(&refs),
        truncated,
    }))
}

/// `GET …/payments.csv`: the same filter, every payment, as a download.
pub async fn csv(
    State(state): State<AppState>,
    owned: OwnedSite,
    q: Result<Query<Asked>, QueryRejection>,
) -> AppResult<Response> {
    let q = asked(q)?;
    let (found, _) = listed(&state, &owned, &q, report::CSV_LIMIT).await?;
    let links = StripeLinks::for_base(state.stripe.base());
    let rows: Vec<_> = found.iter().map(|p| report::row(p, &links)).collect();
    let body = report::csv(&rows)?;
    let name = format!("attachment; filename=\"payments-{}.csv\"", owned.id());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// `GET …/conversion?from=…&to=…`: requests and their outcomes by day and workflow version.
pub async fn conversion(
    State(state): State<AppState>,
    owned: OwnedSite,
    q: Result<Query<Asked>, QueryRejection>,
) -> AppResult<Json<Conversion>> {
    let q = asked(q)?;
    let filter = Filter::parse(None, q.from.as_deref(), q.to.as_deref())?;
    let payments = state
        .store
        .site_payments(owned.id(), filter.from_ms, filter.to_ms, report::CSV_LIMIT)
        .await?;
    let refusals = state
        .store
        .site_refusals(owned.id(), filter.from_ms, filter.to_ms)
        .await?;
    Ok(Json(report::conversion(&payments, &refusals)))
}
