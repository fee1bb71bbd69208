//! The draft as a picture: nodes as boxes by kind, edges labelled next / then / else (paid /
//! not paid after a Request Payment), unreachable nodes dashed, nodes with problems red.
//!
//! [`layout`] is plain computation (no DOM, unit-tested natively), a layered drawing from the
//! top down: a node's row is the longest path to it from the start, so every forward edge
//! points down; edges that loop back (a retry) are drawn up the side. Within a row nodes are
//! ordered by where their parents are (two barycenter passes), which keeps edges short and
//! uncrossed for flows like the demo. Nodes no path reaches are laid out below, apart.
//! [`WorkflowGraph`] draws it as plain SVG; clicking a box opens its card.

use std::collections::HashMap;

use chatpay_shared::workflow::{NodeKind, Operator, Problem, Workflow};
use yew::prelude::*;

/// A box's size and the gaps between rows and columns, in SVG units (CSS pixels at 1:1).
pub(super) const BOX_W: i32 = 150;
pub(super) const BOX_H: i32 = 44;
const COL_GAP: i32 = 28;
const ROW_GAP: i32 = 56;
const MARGIN: i32 = 16;

/// One node's box.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Placed {
    pub id: String,
    /// The kind as written in JSON (`request_payment`), for its colour.
    pub kind: &'static str,
    /// Top-left corner.
    pub x: i32,
    pub y: i32,
    /// Its row and its place in the row.
    pub row: usize,
    pub col: usize,
    pub start: bool,
    pub reachable: bool,
    /// The problems the checks found at this node (shown in red, listed on hover).
    pub problems: Vec<String>,
}

/// One link between two boxes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Edge {
    pub from: String,
    pub to: String,
    /// `next`, `then`, `else`, or for a condition on a payment's result `paid` / `not paid`.
    pub label: &'static str,
    /// The SVG path from the source's bottom to the target's top.
    pub path: String,
    /// Where the label goes.
    pub label_at: (i32, i32),
    /// It goes back up (a loop, like "try again").
    pub back: bool,
}

/// The whole drawing.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Layout {
    pub boxes: Vec<Placed>,
    pub edges: Vec<Edge>,
    pub width: i32,
    pub height: i32,
}

/// The labelled links out of a node. A condition that tests a payment's result variable for
/// "paid" says which branch is the paid one.
fn links(kind: &NodeKind, payment_results: &[&str]) -> Vec<(&'static str, String)> {
    match kind {
        NodeKind::Condition {
            variable,
            operator,
            value,
            then,
            otherwise,
        } => {
            let on_payment = payment_results.contains(&variable.as_str()) && value.trim() == "paid";
            let (t, e) = match (on_payment, operator) {
                (true, Operator::Equals) => ("paid", "not paid"),
                (true, Operator::NotEquals) => ("not paid", "paid"),
                _ => ("then", "else"),
            };
            vec![(t, then.clone()), (e, otherwise.clone())]
        }
        other => other
            .successors()
            .into_iter()
            .map(|s| ("next", s.to_owned()))
            .collect(),
    }
}

/// Lays the workflow out. `problems` are the checks' findings (node ids name their boxes).
pub(super) fn layout(wf: &Workflow, problems: &[Problem]) -> Layout {
    let n = wf.nodes.len();
    if n == 0 {
        return Layout::default();
    }
    let index: HashMap<&str, usize> = wf
        .nodes
        .iter()
        .enumerate()
        .map(|(i, x)| (x.id.as_str(), i))
        .collect();
    let payment_results: Vec<&str> = wf
        .nodes
        .iter()
        .filter_map(|x| match &x.kind {
            NodeKind::RequestPayment { result_variable, .. } => Some(result_variable.as_str()),
            _ => None,
        })
        .collect();
    // Links to nodes that exist (a dangling link is a problem the checks name).
    let out: Vec<Vec<(&'static str, usize)>> = wf
        .nodes
        .iter()
        .map(|x| {
            links(&x.kind, &payment_results)
                .into_iter()
                .filter_map(|(label, to)| index.get(to.as_str()).map(|&t| (label, t)))
                .collect()
        })
        .collect();

    // Depth-first from the start, then from every node not reached yet (in the order they
    // are written): which edges go back (to a node still on the path), the finishing order,
    // and what the start reaches.
    let start = index.get(wf.start.as_str()).copied();
    let mut state = vec![0u8; n]; // 0 new, 1 on the path, 2 done
    let mut back = vec![Vec::new(); n];
    let mut finished = Vec::with_capacity(n);
    let mut reachable = vec![false; n];
    let roots = start.into_iter().chain(0..n);
    for (k, root) in roots.enumerate() {
        if state[root] != 0 {
            continue;
        }
        let from_start = k == 0 && start.is_some();
        // An explicit stack of (node, next link to look at).
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        reachable[root] |= from_start;
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            if let Some(&(_, w)) = out[v].get(*i) {
                *i += 1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        reachable[w] |= from_start;
                        stack.push((w, 0));
                    }
                    1 => back[v].push(w),
                    _ => {}
                }
            } else {
                state[v] = 2;
                finished.push(v);
                stack.pop();
            }
        }
    }

    // Rows: the longest path over forward edges, in topological order (reverse finish). The
    // unreachable part starts one row below the reachable one.
    let mut row = vec![0usize; n];
    for &v in finished.iter().rev() {
        for &(_, w) in &out[v] {
            if !back[v].contains(&w) && reachable[w] == reachable[v] {
                row[w] = row[w].max(row[v] + 1);
            }
        }
    }
    let reach_rows = (0..n)
        .filter(|&v| reachable[v])
        .map(|v| row[v] + 1)
        .max()
        .unwrap_or(0);
    for v in 0..n {
        if !reachable[v] {
            row[v] += reach_rows;
        }
    }
    let rows = row.iter().max().map_or(0, |r| r + 1);

    // Order within rows: first seen first, then by the mean place of the parents.
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); rows];
    for &v in finished.iter().rev() {
        order[row[v]].push(v);
    }
    let mut parents = vec![Vec::new(); n];
    // Which of its parent's links reaches a node (then before else, so a condition's two
    // children sit in the order of its links).
    let mut link_rank = vec![0usize; n];
    for v in 0..n {
        for (k, &(_, w)) in out[v].iter().enumerate() {
            if !back[v].contains(&w) && row[w] > row[v] {
                if parents[w].is_empty() {
                    link_rank[w] = k;
                }
                parents[w].push(v);
            }
        }
    }
    for _ in 0..2 {
        let mut place = vec![0f64; n];
        for r in 0..rows {
            for (c, &v) in order[r].iter().enumerate() {
                place[v] = c as f64;
            }
            if r + 1 < rows {
                let next = &mut order[r + 1];
                let key = |v: usize, place: &[f64]| -> f64 {
                    let ps = &parents[v];
                    if ps.is_empty() {
                        f64::MAX
                    } else {
                        ps.iter().map(|&p| place[p]).sum::<f64>() / ps.len() as f64
                            + link_rank[v] as f64 * 0.01
                    }
                };
                let keys: HashMap<usize, f64> = next.iter().map(|&v| (v, key(v, &place))).collect();
                // Stable: ties keep the order they had.
                next.sort_by(|a, b| keys[a].partial_cmp(&keys[b]).unwrap_or(std::cmp::Ordering::Equal));
            }
        }
    }

    // Coordinates: each row centred on the widest.
    let widest = order.iter().map(Vec::len).max().unwrap_or(1) as i32;
    let row_width = |len: i32| len * BOX_W + (len - 1).max(0) * COL_GAP;
    let content_w = row_width(widest);
    let mut at = vec![(0i32, 0i32, 0usize); n];
    for (r, members) in order.iter().enumerate() {
        let left = MARGIN + (content_w - row_width(members.len() as i32)) / 2;
        for (c, &v) in members.iter().enumerate() {
            at[v] = (
                left + c as i32 * (BOX_W + COL_GAP),
                MARGIN + r as i32 * (BOX_H + ROW_GAP),
                c,
            );
        }
    }
    // Loops go up the right side: leave room for them.
    let loops = back.iter().map(Vec::len).sum::<usize>() as i32;
    let width = content_w + 2 * MARGIN + if loops > 0 { 24 + 10 * loops } else { 0 };
    let height = rows as i32 * (BOX_H + ROW_GAP) - ROW_GAP + 2 * MARGIN;

    let problems_at = |id: &str| -> Vec<String> {
        problems
            .iter()
            .filter(|p| p.node.as_deref() == Some(id))
            .map(|p| p.message.clone())
            .collect()
    };
    let boxes = wf
        .nodes
        .iter()
        .enumerate()
        .map(|(i, x)| Placed {
            id: x.id.clone(),
            kind: x.kind.type_name(),
            x: at[i].0,
            y: at[i].1,
            row: row[i],
            col: at[i].2,
            start: Some(i) == start,
            reachable: reachable[i],
            problems: problems_at(&x.id),
        })
        .collect();

    let mut edges = Vec::new();
    let mut loop_lane = 0;
    for v in 0..n {
        for (k, &(label, w)) in out[v].iter().enumerate() {
            let (sx, sy, _) = at[v];
            let (tx, ty, _) = at[w];
            // Two links out of one box leave from two points of its bottom edge, the left one
            // for the target further left (so they never cross under the box).
            let spread = match out[v].as_slice() {
                [(_, a), (_, b)] if a != b => {
                    let other = if k == 0 { *b } else { *a };
                    if at[w].0 < at[other].0 || (at[w].0 == at[other].0 && k == 0) {
                        -BOX_W / 5
                    } else {
                        BOX_W / 5
                    }
                }
                _ => 0,
            };
            let (x1, y1) = (sx + BOX_W / 2 + spread, sy + BOX_H);
            let is_back = back[v].contains(&w) || row[w] <= row[v];
            let (path, label_at) = if is_back {
                // Out of the right side, up the margin lane, into the target's right side.
                loop_lane += 1;
                let lane = MARGIN + content_w + 12 + 10 * loop_lane;
                let (ax, ay) = (sx + BOX_W, sy + BOX_H / 2);
                let (bx, by) = (tx + BOX_W, ty + BOX_H / 2);
                (
                    format!("M{ax},{ay} H{lane} V{by} H{bx}"),
                    (lane - 4, (ay + by) / 2),
                )
            } else {
                let (x2, y2) = (tx + BOX_W / 2, ty);
                let mid = (y1 + y2) / 2;
                (
                    format!("M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2}"),
                    ((x1 + x2) / 2, mid),
                )
            };
            edges.push(Edge {
                from: wf.nodes[v].id.clone(),
                to: wf.nodes[w].id.clone(),
                label,
                path,
                label_at,
                back: is_back,
            });
        }
    }
    Layout {
        boxes,
        edges,
        width,
        height,
    }
}

/// How a kind is named on its box: as the editor's kind menu names it.
fn kind_label(kind: &str) -> &'static str {
    super::draft::KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("Node", |(_, label)| *label)
}

#[derive(Properties, PartialEq)]
pub(super) struct GraphProps {
    pub(super) workflow: Workflow,
    pub(super) problems: Vec<Problem>,
    /// The node whose card is open.
    pub(super) selected: Option<String>,
    /// A box was clicked (or chosen with Enter): open that node's card.
    pub(super) on_open: Callback<String>,
}

/// The draft as a graph, drawn as plain SVG.
#[component(WorkflowGraph)]
pub(super) fn workflow_graph(p: &GraphProps) -> Html {
    let layout = use_memo((p.workflow.clone(), p.problems.clone()), |(wf, problems)| {
        layout(wf, problems)
    });
    if layout.boxes.is_empty() {
        return html! {};
    }
    let unreachable = layout.boxes.iter().filter(|b| !b.reachable).count();
    let boxes = layout.boxes.iter().map(|b| {
        let open = {
            let (on, id) = (p.on_open.clone(), b.id.clone());
            Callback::from(move |_: MouseEvent| on.emit(id.clone()))
        };
        let key = {
            let (on, id) = (p.on_open.clone(), b.id.clone());
            Callback::from(move |e: KeyboardEvent| {
                if e.key() == "Enter" || e.key() == " " {
                    e.prevent_default();
                    on.emit(id.clone());
                }
            })
        };
        // The name begins with the words on the box (the id, then the kind or "unreachable"),
        // so what is seen is what a screen reader says first.
        let shown = if b.reachable { kind_label(b.kind) } else { "unreachable" };
        let mut says = format!("{} {shown}", b.id);
        if !b.reachable {
            says.push_str(": no path from the start leads to this ");
            says.push_str(kind_label(b.kind));
        }
        if b.start {
            says.push_str(", the start");
        }
        for pr in &b.problems {
            says.push_str(". ");
            says.push_str(pr);
        }
        let class = classes!(
            "graph-node",
            b.kind,
            (!b.reachable).then_some("unreachable"),
            (!b.problems.is_empty()).then_some("has-problems"),
            (p.selected.as_deref() == Some(b.id.as_str())).then_some("selected"),
        );
        html! {
            <g class={class} data-graph-node={b.id.clone()} transform={format!("translate({},{})", b.x, b.y)}
               role="button" tabindex="0" onclick={open} onkeydown={key}>
                // SVG's <title> names the button (and is its tooltip).
                <title>{ says }</title>
                <rect width={BOX_W.to_string()} height={BOX_H.to_string()} rx="8" />
                <text x="10" y="18" class="graph-id">{ if b.start { format!("▶ {}", b.id) } else { b.id.clone() } }</text>
                <text x="10" y="35" class="graph-kind">{ shown }</text>
            </g>
        }
    });
    let edges = layout.edges.iter().map(|e| {
        html! {
            <g class={classes!("graph-edge", e.back.then_some("back"), e.label.replace(' ', "-"))} data-edge={format!("{}>{}", e.from, e.to)}>
                <path d={e.path.clone()} marker-end="url(#graph-arrow)" />
                <text x={e.label_at.0.to_string()} y={e.label_at.1.to_string()} text-anchor="middle">{ e.label }</text>
            </g>
        }
    });
    html! {
        <div class="card graph" id="workflow-graph">
            <p class="muted graph-legend">
                { format!("{} nodes", layout.boxes.len()) }
                if unreachable > 0 { <span class="error">{ format!(" · {unreachable} unreachable (dashed)") }</span> }
                { " · click a node to open its card" }
            </p>
            <div class="graph-scroll">
                <svg viewBox={format!("0 0 {} {}", layout.width, layout.height)} width={layout.width.to_string()} height={layout.height.to_string()}
                     role="group" aria-label="The workflow as a graph">
                    <defs>
                        <marker id="graph-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                            <path d="M0,0 L10,5 L0,10 z" />
                        </marker>
                    </defs>
                    { for edges }
                    { for boxes }
                </svg>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatpay_shared::workflow::{validate, Node};

    fn demo() -> Workflow {
        serde_json::from_str(include_str!("../../../../server/assets/demo-workflow.json")).unwrap()
    }

    fn placed<'a>(l: &'a Layout, id: &str) -> &'a Placed {
        l.boxes.iter().find(|b| b.id == id).unwrap()
    }

    fn every_forward_edge_points_down(l: &Layout) {
        for e in l.edges.iter().filter(|e| !e.back) {
            assert!(
                placed(l, &e.from).row < placed(l, &e.to).row,
                "{} → {}",
                e.from,
                e.to
            );
        }
    }

    fn no_two_boxes_overlap(l: &Layout) {
        for (i, a) in l.boxes.iter().enumerate() {
            for b in &l.boxes[i + 1..] {
                let apart =
                    a.x + BOX_W <= b.x || b.x + BOX_W <= a.x || a.y + BOX_H <= b.y || b.y + BOX_H <= a.y;
                assert!(apart, "{} and {} overlap", a.id, b.id);
            }
            assert!(a.x >= 0 && a.y >= 0 && a.x + BOX_W <= l.width && a.y + BOX_H <= l.height);
        }
    }

    #[test]
    fn the_demo_reads_top_down_with_its_paid_and_not_paid_branches() {
        let l = layout(&demo(), &[]);
        no_two_boxes_overlap(&l);
        assert!(placed(&l, "greet").start);
        assert_eq!(placed(&l, "greet").row, 0);
        assert!(placed(&l, "need").row < placed(&l, "pay").row);
        assert!(placed(&l, "pay").row < placed(&l, "paid").row);
        let label = |from: &str, to: &str| {
            l.edges
                .iter()
                .find(|e| e.from == from && e.to == to)
                .map(|e| (e.label, e.back))
                .unwrap()
        };
        assert_eq!(label("paid", "thanks"), ("paid", false));
        assert_eq!(label("paid", "offer"), ("not paid", false));
        assert_eq!(label("greet", "need"), ("next", false));
        // "want a new link?" goes back up to the payment: a loop, drawn up the side.
        assert_eq!(label("route", "pay"), ("then", true));
        assert!(l.boxes.iter().all(|b| b.reachable));
        every_forward_edge_points_down(&l);
    }

    #[test]
    fn a_node_nothing_leads_to_is_marked_and_drawn_apart() {
        let mut wf = demo();
        wf.nodes.push(Node {
            id: "orphan".into(),
            kind: NodeKind::SendMessage {
                text: "Nobody gets here".into(),
                next: Some("done".into()),
            },
        });
        let problems = validate(&wf);
        let l = layout(&wf, &problems);
        let orphan = placed(&l, "orphan");
        assert!(!orphan.reachable);
        let deepest = l
            .boxes
            .iter()
            .filter(|b| b.reachable)
            .map(|b| b.row)
            .max()
            .unwrap();
        assert!(orphan.row > deepest, "below everything the start reaches");
        assert!(
            placed(&l, "done").reachable,
            "a reachable node stays reachable when an orphan links to it"
        );
        no_two_boxes_overlap(&l);
    }

    #[test]
    fn a_problem_is_shown_on_its_node() {
        let mut wf = demo();
        if let NodeKind::SendMessage { next, .. } = &mut wf.nodes[0].kind {
            *next = Some("nowhere".into());
        }
        let problems = validate(&wf);
        let l = layout(&wf, &problems);
        let greet = &placed(&l, "greet").problems;
        assert!(greet.iter().any(|m| m.contains("nowhere")), "{problems:?}");
        // The dangling link is not drawn; what it no longer reaches is marked.
        assert!(!placed(&l, "need").reachable);
    }

    /// A 30-node flow: a chain of questions, each with a condition that either goes on or
    /// sends the visitor to a person, a payment in the middle, a retry loop.
    #[test]
    fn thirty_nodes_stay_readable() {
        let mut nodes = Vec::new();
        for i in 0..10 {
            let next_ask = if i < 9 {
                format!("ask{}", i + 1)
            } else {
                "pay".into()
            };
            nodes.push(Node {
                id: format!("ask{i}"),
                kind: NodeKind::Ask {
                    text: format!("Question {i}?"),
                    variable: format!("a{i}"),
                    pattern: None,
                    retry_text: None,
                    next: Some(format!("check{i}")),
                },
            });
            nodes.push(Node {
                id: format!("check{i}"),
                kind: NodeKind::Condition {
                    variable: format!("a{i}"),
                    operator: Operator::Equals,
                    value: "help".into(),
                    then: format!("person{}", i % 4),
                    otherwise: next_ask,
                },
            });
        }
        for i in 0..4 {
            nodes.push(Node {
                id: format!("person{i}"),
                kind: NodeKind::Handoff {
                    text: None,
                    next: Some("ask0".into()),
                },
            });
        }
        let mut wf = Workflow {
            format: 1,
            name: "Thirty".into(),
            start: "ask0".into(),
            nodes,
        };
        let mut pay = crate::pages::workflows::draft::new_kind("request_payment", "ask0");
        if let NodeKind::RequestPayment { next, .. } = &mut pay {
            *next = Some("paid".into());
        }
        wf.nodes.push(Node {
            id: "pay".into(),
            kind: pay,
        });
        wf.nodes.push(Node {
            id: "paid".into(),
            kind: crate::pages::workflows::draft::new_kind("condition", "ask0"),
        });
        if let NodeKind::Condition { then, otherwise, .. } = &mut wf.nodes.last_mut().unwrap().kind {
            *then = "thanks".into();
            *otherwise = "pay".into();
        }
        for id in ["thanks", "bye", "spare", "extra"] {
            wf.nodes.push(Node {
                id: id.into(),
                kind: NodeKind::Close { text: None },
            });
        }
        assert_eq!(wf.nodes.len(), 30);
        let l = layout(&wf, &[]);
        no_two_boxes_overlap(&l);
        assert_eq!(l.boxes.len(), 30);
        assert_eq!(l.edges.len(), 10 + 20 + 4 + 1 + 2);
        // Readable: no row wider than five boxes, so the picture fits a laptop's editor
        // without shrinking the text; the rest scrolls down.
        let widest = (0..=l.boxes.iter().map(|b| b.row).max().unwrap())
            .map(|r| l.boxes.iter().filter(|b| b.row == r).count())
            .max()
            .unwrap();
        assert!(widest <= 5, "a row of {widest}");
        let paid = l
            .edges
            .iter()
            .find(|e| e.from == "paid" && e.to == "thanks")
            .unwrap();
        assert_eq!(paid.label, "paid");
        every_forward_edge_points_down(&l);
        assert!(!placed(&l, "bye").reachable);
    }
}
