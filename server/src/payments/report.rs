//! The owner's view of a site's payments: the word each payment is shown with (refunds and
//! disputes made at Stripe included), the Payments page's filter (status and UTC dates),
//! the totals per currency, and the CSV export with the same columns.

use std::collections::BTreeMap;

use chatpay_shared::console::{Conversion, CurrencyTotal, Funnel, PaymentRow, PAYMENT_STATUSES as STATUSES};
use chatpay_shared::money::{currency, format_minor};
use chatpay_shared::protocol::PaymentStatus;

use crate::error::{cut, AppError, AppResult};
use crate::store::payments::{Payment, Refusal, Requester};

/// How many payments a page lists; the CSV has them all.
pub const PAGE_LIMIT: i64 = 500;
/// The most the CSV holds (a year of a busy site is well below).
pub const CSV_LIMIT: i64 = 100_000;

const DAY_MS: i64 = 86_400_000;

/// What the Payments page asks for: a status (`None`: all) and UTC days, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub status: Option<&'static str>,
    /// Unix ms, included.
    pub from_ms: i64,
    /// Unix ms, excluded (the day after `to`).
    pub to_ms: i64,
}

impl Filter {
    /// Reads the page's query: `status` one of [`STATUSES`] (or empty), `from` and `to` as
    /// `YYYY-MM-DD` (UTC; either may be left out).
    pub fn parse(status: Option<&str>, from: Option<&str>, to: Option<&str>) -> AppResult<Filter> {
        let status = match status.map(str::trim).filter(|s| !s.is_empty() && *s != "all") {
            None => None,
            Some(s) => Some(
                *STATUSES
                    .iter()
                    .find(|k| **k == s)
                    .ok_or_else(|| AppError::Invalid {
                        field: "status",
                        message: format!("unknown status '{}': use one of {}", cut(s), STATUSES.join(", ")),
                    })?,
            ),
        };
        let day = |field: &'static str, v: Option<&str>| -> AppResult<Option<i64>> {
            match v.map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(text) => day_start_ms(text).map(Some).ok_or_else(|| AppError::Invalid {
                    field,
                    message: format!(
                        "'{}' is not a date: write it as YYYY-MM-DD, like 2026-12-01",
                        cut(text)
                    ),
                }),
            }
        };
        let from_ms = day("from", from)?.unwrap_or(0);
        let to_ms = day("to", to)?.map_or(i64::MAX, |d| d + DAY_MS);
        if to_ms <= from_ms {
            return Err(AppError::Invalid {
                field: "to",
                message: "the last day is before the first: swap them".into(),
            });
        }
        Ok(Filter {
            status,
            from_ms,
            to_ms,
        })
    }

    pub fn keeps(&self, row: &PaymentRow) -> bool {
        self.status.is_none_or(|s| s == row.status)
    }
}

/// Unix ms of the start of a UTC day written `YYYY-MM-DD`.
fn day_start_ms(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(y, 4) || !digits(m, 2) || !digits(d, 2) {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let date = time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}

/// Where the owner finds a payment at Stripe: the Dashboard's page of its PaymentIntent, or
/// the simulator's dashboard when the relay talks to its simulator.
#[derive(Debug, Clone)]
pub struct StripeLinks {
    /// The simulator's dashboard, when the Stripe API base is a simulator's.
    pub simulator: Option<String>,
}

impl StripeLinks {
    /// From the Stripe API base the relay calls.
    pub fn for_base(api_base: &str) -> StripeLinks {
        StripeLinks {
            simulator: api_base
                .trim_end_matches('/')
                .strip_suffix("/simulator/stripe")
                .map(|root| format!("{root}/simulator/")),
        }
    }

    fn of(&self, p: &Payment) -> Option<String> {
        let pi = p.payment_intent.as_deref()?;
        Some(match (&self.simulator, p.livemode) {
            (Some(sim), _) => format!("{sim}#{pi}"),
            (None, Some(true)) => format!("https://dashboard.stripe.com/payments/{pi}"),
            (None, _) => format!("https://dashboard.stripe.com/test/payments/{pi}"),
        })
    }
}

/// A stored payment as the owner sees it.
pub fn row(p: &Payment, links: &StripeLinks) -> PaymentRow {
    let money = |minor: i64| match currency(&p.currency) {
        Ok(c) => format_minor(minor, c),
        Err(_) => minor.to_string(),
    };
    let disputed = p
        .dispute
        .as_deref()
        .is_some_and(crate::domain::dispute_is_open_or_lost);
    let (status, detail) = if disputed {
        (
            "disputed",
            p.dispute
                .as_deref()
                .map(|d| format!("dispute: {}", d.replace('_', " "))),
        )
    } else if p.refunded_minor > 0 && p.refunded_minor >= p.amount_minor {
        ("refunded", None)
    } else {
        let detail = match p.status {
            PaymentStatus::Expired if p.resolved_by.as_deref() == Some("decline") => {
                Some("declined by the visitor".to_owned())
            }
            PaymentStatus::Expired => Some("the link timed out".to_owned()),
            PaymentStatus::Mismatch => p.problem.clone(),
            _ if p.refunded_minor > 0 => Some(format!("{} {} refunded", money(p.refunded_minor), p.currency)),
            _ => None,
        };
        (p.status.as_str(), detail)
    };
    PaymentRow {
        id: p.id.clone(),
        created_at: p.created_at,
        status: status.to_owned(),
        detail,
        amount_minor: p.amount_minor,
        amount: money(p.amount_minor),
        currency: p.currency.clone(),
        refunded: money(p.refunded_minor),
        description: p.description.clone(),
        conversation: p.conversation_id.clone(),
        asked_by: match (p.requested_by, &p.agent, p.workflow_version) {
            (Requester::Agent, Some(email), _) => format!("agent {email}"),
            (Requester::Agent, None, _) => "agent".to_owned(),
            (Requester::Workflow, _, Some(v)) => format!("workflow v{v}"),
            (Requester::Workflow, _, None) => "workflow".to_owned(),
        },
        stripe_url: links.of(p),
    }
}

/// The dispute statuses under which Stripe holds a payment's money back (a dispute is
/// opened, lost, or its loss appealed); an inquiry (`warning_*`) takes nothing, a won one
/// gives it back, a prevented one never took it.
const FUNDS_WITHDRAWN: [&str; 5] = [
    "needs_response",
    "under_review",
    "lost",
    "appeal_needs_response",
    "appeal_under_review",
];

/// What the matching payments add up to per currency: money taken (paid, refunded and
/// disputed payments), refunded, held back by a dispute, and what is left.
pub fn totals(payments: &[&Payment]) -> Vec<CurrencyTotal> {
    // currency → (count, paid, refunded, disputed), in minor units.
    let mut sums: BTreeMap<&str, (u64, i64, i64, i64)> = BTreeMap::new();
    for p in payments {
        let e = sums.entry(p.currency.as_str()).or_default();
        e.0 += 1;
        if p.status == PaymentStatus::Paid {
            let refunded = p.refunded_minor.min(p.amount_minor).max(0);
            e.1 = e.1.saturating_add(p.amount_minor);
            e.2 = e.2.saturating_add(refunded);
            if p.dispute.as_deref().is_some_and(|d| FUNDS_WITHDRAWN.contains(&d)) {
                e.3 = e.3.saturating_add(p.amount_minor - refunded);
            }
        }
    }
    sums.into_iter()
        .map(|(code, (n, paid, refunded, disputed))| {
            let money = |minor: i64| match currency(code) {
                Ok(c) => format_minor(minor, c),
                Err(_) => minor.to_string(),
            };
            CurrencyTotal {
                currency: code.to_owned(),
                payments: n,
                paid: money(paid),
                refunded: money(refunded),
                disputed: money(disputed),
                net: money(paid.saturating_sub(refunded).saturating_sub(disputed)),
            }
        })
        .collect()
}

/// `YYYY-MM-DD` (UTC) of a Unix ms.
fn day_of(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => {
            let d = t.date();
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        }
        Err(_) => String::new(),
    }
}

/// The most days a conversion report draws.
const MAX_DAYS: i64 = 366;

/// Counts one outcome into a funnel.
fn count(f: &mut Funnel, outcome: &str) {
    f.requests += 1;
    match outcome {
        "paid" => f.paid += 1,
        "declined" => f.declined += 1,
        "expired" => f.expired += 1,
        "failed" => f.failed += 1,
        "invalid_amount" => f.invalid_amount += 1,
        "open" => f.open += 1,
        _ => f.other += 1,
    }
}

/// Where a payment's request ended, in the funnel's words.
fn outcome(p: &Payment) -> &'static str {
    match p.status {
        PaymentStatus::Paid => "paid",
        PaymentStatus::Expired if p.resolved_by.as_deref() == Some("decline") => "declined",
        PaymentStatus::Expired => "expired",
        PaymentStatus::Failed => "failed",
        PaymentStatus::Pending | PaymentStatus::Processing => "open",
        PaymentStatus::Mismatch => "other",
    }
}

/// The conversion report of the payments and refused requests of a date range.
pub fn conversion(payments: &[Payment], refusals: &[Refusal]) -> Conversion {
    // (day ms, version key, outcome) of every request.
    let requests = payments
        .iter()
        .map(|p| {
            let version = match (p.requested_by, p.workflow_version) {
                (Requester::Agent, _) => None,
                (Requester::Workflow, v) => Some(v.unwrap_or(0)),
            };
            (p.created_at, version, outcome(p))
        })
        .chain(refusals.iter().map(|r| {
            let reason = if r.reason == "invalid_amount" {
                "invalid_amount"
            } else {
                "other"
            };
            (r.at, Some(r.workflow_version.unwrap_or(0)), reason)
        }))
        .collect::<Vec<_>>();
    // Only the latest MAX_DAYS days are drawn; the total and the versions count the same.
    let first_drawn = requests
        .iter()
        .map(|(at, ..)| at.div_euclid(DAY_MS))
        .max()
        .map_or(i64::MIN, |last| last - MAX_DAYS + 1);
    let all = requests.len();
    let requests: Vec<_> = requests
        .into_iter()
        .filter(|(at, ..)| at.div_euclid(DAY_MS) >= first_drawn)
        .collect();
    let clipped = requests.len() < all;
    let mut total = Funnel {
        key: "all".into(),
        ..Funnel::default()
    };
    let mut days: BTreeMap<i64, Funnel> = BTreeMap::new();
    // Newest version first, the inbox's (None) last.
    let mut versions: BTreeMap<std::cmp::Reverse<Option<i64>>, Funnel> = BTreeMap::new();
    for (at, version, outcome) in requests {
        count(&mut total, outcome);
        count(days.entry(at.div_euclid(DAY_MS)).or_default(), outcome);
        count(versions.entry(std::cmp::Reverse(version)).or_default(), outcome);
    }
    // Quiet days between the first and the last are drawn too.
    let by_day = match (days.keys().next().copied(), days.keys().last().copied()) {
        (Some(first), Some(last)) => (first..=last)
            .map(|d| Funnel {
                key: day_of(d * DAY_MS),
                ..days.remove(&d).unwrap_or_default()
            })
            .collect(),
        _ => Vec::new(),
    };
    let by_version = versions
        .into_iter()
        .map(|(std::cmp::Reverse(v), f)| Funnel {
            key: match v {
                Some(0) => "workflow".into(),
                Some(v) => format!("v{v}"),
                None => "agent".into(),
            },
            ..f
        })
        .collect();
    Conversion {
        by_day,
        by_version,
        total,
        clipped,
    }
}

/// The CSV's header: the page's columns, amounts in major units beside their currency code.
pub const CSV_HEADER: [&str; 11] = [
    "created_utc",
    "payment",
    "status",
    "detail",
    "amount",
    "currency",
    "refunded",
    "description",
    "conversation",
    "asked_by",
    "stripe",
];

/// The rows as CSV (RFC 4180, UTF-8). A text cell that a spreadsheet would run as a formula
/// (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return: a description may carry
/// a visitor's words) is prefixed with `'`.
pub fn csv(rows: &[PaymentRow]) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER).map_err(internal)?;
    for r in rows {
        let created = time::OffsetDateTime::from_unix_timestamp(r.created_at.div_euclid(1000))
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        let text = |s: &str| {
            if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{s}")
            } else {
                s.to_owned()
            }
        };
        w.write_record([
            created.as_str(),
            &r.id,
            &r.status,
            &text(r.detail.as_deref().unwrap_or("")),
            &r.amount,
            &r.currency,
            &r.refunded,
            &text(&r.description),
            r.conversation.as_deref().unwrap_or(""),
            &text(&r.asked_by),
            r.stripe_url.as_deref().unwrap_or(""),
        ])
        .map_err(internal)?;
    }
    w.into_inner().map_err(|e| internal(e.error()))
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("cannot write the CSV: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(description: &str) -> PaymentRow {
        PaymentRow {
            id: "pay_1".into(),
            created_at: 1_764_633_600_000,
            status: "paid".into(),
            detail: None,
            amount_minor: 4999,
            amount: "49.99".into(),
            currency: "USD".into(),
            refunded: "0.00".into(),
            description: description.into(),
            conversation: Some("conv_1".into()),
            asked_by: "workflow v3".into(),
            stripe_url: None,
        }
    }

    #[test]
    fn the_conversion_counts_only_the_days_it_draws() {
        let day = |d: i64| Refusal {
            workflow_version: Some(1),
            reason: "invalid_amount".into(),
            at: 1_796_083_200_000 + d * DAY_MS,
        };
        // Two years apart: only the latest 366 days are drawn, and only they are counted.
        let r = conversion(&[], &[day(0), day(400), day(401)]);
        assert_eq!(r.by_day.len(), 2);
        assert_eq!(r.total.requests, 2, "the total is of the days drawn");
        assert_eq!(r.by_version[0].requests, 2, "and so is each version's");
        assert!(r.clipped, "the report says it left older ones out");
        let r = conversion(&[], &[day(0), day(365)]);
        assert_eq!((r.by_day.len(), r.total.requests, r.clipped), (366, 2, false));
    }

    #[test]
    fn the_csv_quotes_and_defuses_what_a_spreadsheet_would_run() {
        let text =
            String::from_utf8(csv(&[one("=HYPERLINK(\"http://x\",\"a, b\")"), one("Deposit")]).unwrap())
                .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER.join(","));
        assert_eq!(
            lines[1],
            "2025-12-02T00:00:00Z,pay_1,paid,,49.99,USD,0.00,\"'=HYPERLINK(\"\"http://x\"\",\"\"a, b\"\")\",conv_1,workflow v3,"
        );
        assert_eq!(
            lines[2],
            "2025-12-02T00:00:00Z,pay_1,paid,,49.99,USD,0.00,Deposit,conv_1,workflow v3,"
        );
    }

    #[test]
    fn the_filter_names_a_bad_status_or_date_with_the_fix() {
        let f = Filter::parse(Some("paid"), Some("2026-12-01"), Some("2026-12-01")).unwrap();
        assert_eq!(f.status, Some("paid"));
        assert_eq!(f.to_ms - f.from_ms, DAY_MS, "both ends are included");
        assert_eq!(f.from_ms, 1_796_083_200_000);
        let all = Filter::parse(Some("all"), None, Some("")).unwrap();
        assert_eq!((all.status, all.from_ms, all.to_ms), (None, 0, i64::MAX));
        let bad = |s: Option<&str>, from: Option<&str>, to: Option<&str>| {
            Filter::parse(s, from, to).unwrap_err().to_string()
        };
        assert!(bad(Some("settled"), None, None).contains("unknown status 'settled': use one of pending"));
        assert!(bad(None, Some("2026-02-30"), None)
            .contains("'2026-02-30' is not a date: write it as YYYY-MM-DD"));
        assert!(bad(None, Some("1/12/2026"), None).contains("YYYY-MM-DD"));
        assert!(bad(None, Some("2026-12-02"), Some("2026-12-01")).contains("swap them"));
    }

    #[test]
    fn links_go_to_the_dashboard_of_the_keys_mode_or_to_the_simulator() {
        let sim = StripeLinks::for_base("http://127.0.0.1:8080/simulator/stripe");
        assert_eq!(sim.simulator.as_deref(), Some("http://127.0.0.1:8080/simulator/"));
        assert_eq!(StripeLinks::for_base("https://api.stripe.com").simulator, None);
    }
}
