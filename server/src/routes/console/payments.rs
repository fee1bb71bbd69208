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

/// Every payment of the site that passes the filter, newest first. The filter's status is
/// a word worked out per payment (a refund or a dispute at Stripe changes it), so the
/// dates are read whole and the status kept after: a page limit taken before it would hide
/// older matches. Dates holding more than [`report::CSV_LIMIT`] payments are refused with
/// the fix (nothing is cut silently).
async fn matching(state: &AppState, owned: &OwnedSite, q: &Asked) -> AppResult<Vec<Payment>> {
    let filter = Filter::parse(q.status.as_deref(), q.from.as_deref(), q.to.as_deref())?;
    let links = StripeLinks::for_base(state.stripe.base());
    let mut found = in_dates(state, owned, &filter).await?;
    found.retain(|p| filter.keeps(&report::row(p, &links)));
    Ok(found)
}

/// The site's payments of the filter's dates (any status), refused past
/// [`report::CSV_LIMIT`].
async fn in_dates(state: &AppState, owned: &OwnedSite, filter: &Filter) -> AppResult<Vec<Payment>> {
    let found = state
        .store
        .site_payments(owned.id(), filter.from_ms, filter.to_ms, report::CSV_LIMIT + 1)
        .await?;
    if found.len() as i64 > report::CSV_LIMIT {
        return Err(AppError::BadRequest(format!(
            "these dates hold more than {} payments: choose a shorter range (from and to)",
            report::CSV_LIMIT
        )));
    }
    Ok(found)
}

/// `GET …/payments`: the newest [`report::PAGE_LIMIT`] matching payments, and the totals of
/// all that match.
pub async fn list(
    State(state): State<AppState>,
    owned: OwnedSite,
    q: Result<Query<Asked>, QueryRejection>,
) -> AppResult<Json<PaymentList>> {
    let q = asked(q)?;
    let found = matching(&state, &owned, &q).await?;
    let links = StripeLinks::for_base(state.stripe.base());
    let refs: Vec<&Payment> = found.iter().collect();
    let truncated = found.len() as i64 > report::PAGE_LIMIT;
    Ok(Json(PaymentList {
        payments: found
            .iter()
            .take(report::PAGE_LIMIT as usize)
            .map(|p| report::row(p, &links))
            .collect(),
        totals: report::totals(&refs),
        truncated,
    }))
}

/// `GET …/payments.csv`: the same filter, every matching payment, as a download.
pub async fn csv(
    State(state): State<AppState>,
    owned: OwnedSite,
    q: Result<Query<Asked>, QueryRejection>,
) -> AppResult<Response> {
    let q = asked(q)?;
    let found = matching(&state, &owned, &q).await?;
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
    let payments = in_dates(&state, &owned, &filter).await?;
    let refusals = state
        .store
        .site_refusals(owned.id(), filter.from_ms, filter.to_ms)
        .await?;
    Ok(Json(report::conversion(&payments, &refusals)))
}
