//! How payment requests convert: for the Payments page's dates, every request a workflow or
//! an agent made and what became of it (paid, declined, expired, failed, invalid amount,
//! still open, other), by UTC day as stacked bars and by workflow version as stacked rows,
//! each with its figures in a table beside it. Plain SVG, laid out here (no chart library).

use chatpay_shared::console::{paths, Conversion as Report, Funnel};
use yew::prelude::*;

use crate::api;

/// The outcomes in drawing order: name, label, colour.
pub const OUTCOMES: [(&str, &str, &str); 7] = [
    ("paid", "Paid", "#16a34a"),
    ("declined", "Declined", "#f59e0b"),
    ("expired", "Expired", "#9ca3af"),
    ("failed", "Failed", "#dc2626"),
    ("invalid_amount", "Invalid amount", "#7c3aed"),
    ("open", "Still open", "#3b82f6"),
    ("other", "Other", "#111827"),
];

/// A stacked piece of a bar: the outcome, where it starts and how long it is (in the
/// chart's units along the bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub outcome: &'static str,
    pub start: f64,
    pub length: f64,
}

/// A bar's pieces for `f`, scaled so that `max` requests fill `full`.
pub fn stack(f: &Funnel, max: u64, full: f64) -> Vec<Piece> {
    let mut at = 0.0;
    OUTCOMES
        .iter()
        .filter_map(|(o, _, _)| {
            let n = f.count(o);
            if n == 0 || max == 0 {
                return None;
            }
            let length = full * n as f64 / max as f64;
            let piece = Piece {
                outcome: o,
                start: at,
                length,
            };
            at += length;
            Some(piece)
        })
        .collect()
}

fn colour(outcome: &str) -> &'static str {
    OUTCOMES
        .iter()
        .find(|(o, _, _)| *o == outcome)
        .map_or("#111827", |(_, _, c)| c)
}

/// `4 requests — 2 paid, 1 invalid amount, 1 still open`.
fn figures_said(f: &Funnel) -> String {
    let parts: Vec<String> = OUTCOMES
        .iter()
        .filter(|(o, _, _)| f.count(o) > 0)
        .map(|(o, label, _)| format!("{} {}", f.count(o), label.to_lowercase()))
        .collect();
    let noun = if f.requests == 1 { "request" } else { "requests" };
    format!("{} {noun} — {}", f.requests, parts.join(", "))
}

/// A bar's title: its day or version, then its figures.
fn said(f: &Funnel) -> String {
    format!("{}: {}", f.key, figures_said(f))
}

const CHART_H: f64 = 140.0;
const AXIS: f64 = 32.0;

fn days_chart(days: &[Funnel]) -> Html {
    let max = days.iter().map(|d| d.requests).max().unwrap_or(0);
    let n = days.len().max(1) as f64;
    let w = (600.0 / n).clamp(4.0, 28.0);
    let width = (AXIS + n * (w + 2.0) + 8.0).max(320.0);
    let bars = days.iter().enumerate().map(|(i, d)| {
        let x = AXIS + i as f64 * (w + 2.0);
        let pieces = stack(d, max, CHART_H).into_iter().map(|p| {
            html! { <rect x={x.to_string()} y={(CHART_H + 8.0 - p.start - p.length).to_string()} width={w.to_string()} height={p.length.to_string()} fill={colour(p.outcome)} /> }
        });
        html! { <g class="bar" data-day={d.key.clone()}><title>{ said(d) }</title>{ for pieces }</g> }
    });
    let first = days.first().map(|d| d.key.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.key.clone()).unwrap_or_default();
    let one_day = first == last;
    html! {
        <svg class="chart" id="conversion-chart" role="img" aria-label={format!("Payment requests per day, {first} to {last}, at most {max} a day")}
             width={width.to_string()} height={(CHART_H + 40.0).to_string()} viewBox={format!("0 0 {width} {}", CHART_H + 40.0)}>
            <text x="0" y="14" class="axis">{ max }</text>
            <text x="0" y={(CHART_H + 8.0).to_string()} class="axis">{ "0" }</text>
            <line x1={AXIS.to_string()} x2={width.to_string()} y1={(CHART_H + 8.0).to_string()} y2={(CHART_H + 8.0).to_string()} stroke="#cfd4de" />
            { for bars }
            <text x={AXIS.to_string()} y={(CHART_H + 28.0).to_string()} class="axis">{ first }</text>
            if !one_day {
                <text x={(width - 8.0).to_string()} y={(CHART_H + 28.0).to_string()} class="axis" text-anchor="end">{ last }</text>
            }
        </svg>
    }
}

fn versions_chart(rows: &[Funnel]) -> Html {
    let max = rows.iter().map(|d| d.requests).max().unwrap_or(0);
    let full = 360.0;
    let bars = rows.iter().enumerate().map(|(i, r)| {
        let y = 4.0 + i as f64 * 26.0;
        let pieces = stack(r, max, full).into_iter().map(|p| {
            html! { <rect x={(80.0 + p.start).to_string()} y={y.to_string()} width={p.length.to_string()} height="18" fill={colour(p.outcome)} /> }
        });
        html! {
            <g class="bar" data-version={r.key.clone()}>
                <title>{ said(r) }</title>
                <text x="0" y={(y + 14.0).to_string()} class="axis">{ &r.key }</text>
                { for pieces }
            </g>
        }
    });
    let height = 8.0 + rows.len() as f64 * 26.0;
    html! {
        <svg class="chart" id="version-chart" role="img" aria-label="Payment requests per workflow version"
             width="460" height={height.to_string()} viewBox={format!("0 0 460 {height}")}>
            { for bars }
        </svg>
    }
}

fn figures(id: &str, first: &str, rows: &[Funnel], total: Option<&Funnel>) -> Html {
    let line = |f: &Funnel, all: bool| {
        // Rounded to the nearest whole percent; none of no requests.
        let rate = (f.paid * 100 + f.requests / 2)
            .checked_div(f.requests)
            .unwrap_or(0);
        html! {
            <tr data-key={f.key.clone()} class={classes!(all.then_some("total"))}>
                <th scope="row">{ if all { "Total" } else { f.key.as_str() } }</th>
                <td class="num" data-outcome="requests">{ f.requests }</td>
                { for OUTCOMES.iter().map(|(o, _, _)| html! { <td class="num" data-outcome={*o}>{ f.count(o) }</td> }) }
                <td class="num">{ rate }{ "%" }</td>
            </tr>
        }
    };
    html! {
        <div class="scroll">
            <table class="payments figures" id={id.to_owned()}>
                <thead><tr>
                    <th scope="col">{ first }</th><th scope="col">{ "Requests" }</th>
                    { for OUTCOMES.iter().map(|(_, label, c)| html! { <th scope="col"><svg class="swatch" width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill={*c} /></svg>{ *label }</th> }) }
                    <th scope="col">{ "Paid %" }</th>
                </tr></thead>
                <tbody>
                    { for rows.iter().map(|f| line(f, false)) }
                    if let Some(t) = total { { line(t, true) } }
                </tbody>
            </table>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct ConversionProps {
    pub site: String,
    /// The page's query (`?from=…&to=…`), status left out.
    pub query: String,
}

#[component(Conversion)]
pub fn conversion(p: &ConversionProps) -> Html {
    let report = use_state(|| None::<Result<Report, String>>);
    // The dates last asked for: an older answer that arrives late is dropped.
    let asked = use_mut_ref(String::new);
    {
        let (report, site, q, asked) = (report.clone(), p.site.clone(), p.query.clone(), asked.clone());
        use_effect_with((site.clone(), q.clone()), move |_| {
            let path = format!("{}{q}", paths::fill(paths::CONVERSION, &[&*site]));
            *asked.borrow_mut() = path.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let r = api::get::<Report>(&path).await.map_err(|f| f.message);
                if *asked.borrow() == path {
                    report.set(Some(r));
                }
            });
        });
    }
    let body = match &*report {
        None => html! { <p class="muted">{ "Loading…" }</p> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
        Some(Ok(r)) if r.total.requests == 0 => {
            html! { <p class="muted" id="no-requests">{ "No payment requests in these dates." }</p> }
        }
        Some(Ok(r)) => html! {
            <>
                <p id="conversion-summary">{ figures_said(&r.total) }{ " in these dates." }</p>
                if r.clipped {
                    <p class="muted" id="conversion-clipped">{ "Only the latest 366 days with requests are drawn and counted: choose dates to see earlier ones." }</p>
                }
                <h3>{ "By day (UTC)" }</h3>
                { days_chart(&r.by_day) }
                { figures("conversion-days", "Day", &r.by_day, Some(&r.total)) }
                <h3>{ "By workflow version" }</h3>
                { versions_chart(&r.by_version) }
                { figures("conversion-versions", "Version", &r.by_version, None) }
            </>
        },
    };
    html! {
        <section class="card" id="conversion">
            <h2>{ "Conversion" }</h2>
            { body }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(key: &str, paid: u64, expired: u64, invalid: u64) -> Funnel {
        Funnel {
            key: key.into(),
            requests: paid + expired + invalid,
            paid,
            expired,
            invalid_amount: invalid,
            ..Funnel::default()
        }
    }

    #[test]
    fn a_bar_stacks_its_outcomes_in_order_and_the_busiest_fills_the_chart() {
        let busy = day("2026-12-01", 3, 1, 0);
        let pieces = stack(&busy, 4, 140.0);
        assert_eq!(pieces.len(), 2);
        assert_eq!(
            (pieces[0].outcome, pieces[0].start, pieces[0].length),
            ("paid", 0.0, 105.0)
        );
        assert_eq!(
            (pieces[1].outcome, pieces[1].start, pieces[1].length),
            ("expired", 105.0, 35.0)
        );
        let quiet = day("2026-12-02", 0, 0, 2);
        let pieces = stack(&quiet, 4, 140.0);
        assert_eq!(
            pieces,
            vec![Piece {
                outcome: "invalid_amount",
                start: 0.0,
                length: 70.0
            }]
        );
        assert!(
            stack(&day("2026-12-03", 0, 0, 0), 4, 140.0).is_empty(),
            "a quiet day draws nothing"
        );
    }

    #[test]
    fn a_bar_says_its_figures() {
        assert_eq!(said(&day("v2", 3, 1, 0)), "v2: 4 requests — 3 paid, 1 expired");
    }
}
