//! Workflow definitions: the bot conversation a site runs, as versioned JSON.
//!
//! A workflow is a set of nodes with ids; `start` names the first. Nodes continue through
//! `next` (or `then`/`else` for a Condition); a node without a `next` ends the workflow.
//! Texts may contain `<<variable>>` placeholders, filled from the conversation's variables
//! in a single pass (a value that itself contains `<<x>>` is not filled again). Texts are
//! plain text end to end: the widget renders them as text, never as markup.
//!
//! [`validate`] checks a definition and returns every problem at once, each with the node
//! and field it concerns, so an editor can show it at the field.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::money::{currency, Money};

/// The definition format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The variable a Request Payment node sets unless told otherwise.
pub const DEFAULT_RESULT_VARIABLE: &str = "paymentStatus";

/// Link lifetimes Stripe allows for a Checkout Session, in minutes.
pub const LIFETIME_MINUTES: std::ops::RangeInclusive<u32> = 30..=1440;

/// A Request Payment node's currency when none is written.
pub const DEFAULT_CURRENCY: &str = "USD";

/// A Request Payment node's message when none is written.
pub const DEFAULT_PAYMENT_MESSAGE: &str = "Here is your secure payment link: <<paymentUrl>>";

/// The longest payment description, in characters (Checkout shows it).
pub const DESCRIPTION_MAX_CHARS: usize = 250;

/// A workflow definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Always [`FORMAT_VERSION`] for now.
    pub format: u32,
    /// A name for people.
    #[serde(default)]
    pub name: String,
    /// The id of the first node.
    pub start: String,
    pub nodes: Vec<Node>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(flatten)]
    pub kind: NodeKind,
}

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NodeKind {
    /// Sends a bot message.
    SendMessage {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Asks a question and waits for the visitor's reply into `variable`. With a `pattern`
    /// (a regular expression the whole reply must match), other replies get `retry_text`
    /// and the question waits again.
    Ask {
        text: String,
        variable: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pattern: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Sets `variable` to `value` (placeholders filled).
    SetVariable {
        variable: String,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Sends a Stripe Checkout link and waits until the visitor paid, the link expired or
    /// the payment failed; then sets `result_variable` to `paid`, `expired` or `failed`
    /// (or to `invalid_amount` / `error` when no link could be made) and goes on.
    RequestPayment {
        amount: Amount,
        #[serde(default = "default_currency")]
        currency: String,
        /// Shown on Stripe Checkout as what is being paid for.
        description: String,
        /// The chat message; `<<paymentUrl>>` is the link (the card shows it either way).
        #[serde(default = "default_payment_message")]
        message: String,
        #[serde(default = "default_result_variable")]
        result_variable: String,
        #[serde(default = "default_lifetime")]
        lifetime_minutes: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        success_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cancel_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Branches on a variable.
    Condition {
        variable: String,
        operator: Operator,
        #[serde(default)]
        value: String,
        then: String,
        #[serde(rename = "else")]
        otherwise: String,
    },
    /// Hands the conversation to a person; the workflow waits until an agent hands back.
    Handoff {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Ends the conversation.
    Close {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}

/// Where a Request Payment's amount comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Amount {
    /// A fixed amount in major units, like `"49.99"`.
    Fixed(String),
    /// The value of a variable (what the visitor typed), parsed at run time.
    FromVariable(String),
}

/// How a Condition compares. Text comparisons ignore case and surrounding space;
/// `greater_than`/`less_than` compare numbers and are false when either side is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    GreaterThan,
    LessThan,
    IsEmpty,
}

fn default_currency() -> String {
    DEFAULT_CURRENCY.into()
}
fn default_payment_message() -> String {
    DEFAULT_PAYMENT_MESSAGE.into()
}
fn default_result_variable() -> String {
    DEFAULT_RESULT_VARIABLE.into()
}
fn default_lifetime() -> u32 {
    *LIFETIME_MINUTES.start()
}

impl NodeKind {
    /// The nodes this one can continue to.
    pub fn successors(&self) -> Vec<&str> {
        match self {
            NodeKind::SendMessage { next, .. }
            | NodeKind::Ask { next, .. }
            | NodeKind::SetVariable { next, .. }
            | NodeKind::RequestPayment { next, .. }
            | NodeKind::Handoff { next, .. } => next.as_deref().into_iter().collect(),
            NodeKind::Condition { then, otherwise, .. } => vec![then.as_str(), otherwise.as_str()],
            NodeKind::Close { .. } => Vec::new(),
        }
    }

    /// The links to the nodes this one can continue to, to change them (a rename).
    pub fn successors_mut(&mut self) -> Vec<&mut String> {
        match self {
            NodeKind::SendMessage { next, .. }
            | NodeKind::Ask { next, .. }
            | NodeKind::SetVariable { next, .. }
            | NodeKind::RequestPayment { next, .. }
            | NodeKind::Handoff { next, .. } => next.as_mut().into_iter().collect(),
            NodeKind::Condition { then, otherwise, .. } => vec![then, otherwise],
            NodeKind::Close { .. } => Vec::new(),
        }
    }

    /// Whether the conversation stops here for the visitor, Stripe or a person.
    pub fn waits(&self) -> bool {
        matches!(
            self,
            NodeKind::Ask { .. }
                | NodeKind::RequestPayment { .. }
                | NodeKind::Handoff { .. }
                | NodeKind::Close { .. }
        )
    }

    /// The `type` as written in JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::SendMessage { .. } => "send_message",
            NodeKind::Ask { .. } => "ask",
            NodeKind::SetVariable { .. } => "set_variable",
            NodeKind::RequestPayment { .. } => "request_payment",
            NodeKind::Condition { .. } => "condition",
            NodeKind::Handoff { .. } => "handoff",
            NodeKind::Close { .. } => "close",
        }
    }
}

impl Workflow {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// Fills `<<name>>` placeholders from `lookup` in one pass; unknown names become empty.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        let Some(len) = rest[start + 2..].find(">>") else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        if is_variable_name(name) {
            out.push_str(&rest[..start]);
            out.push_str(&lookup(name).unwrap_or_default());
        } else {
            out.push_str(&rest[..start + 2 + len + 2]);
        }
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

/// Variable names: a letter or `_`, then letters, digits or `_`, at most 64.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// One problem with a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The node it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The field it concerns, if any (like `amount` or `next`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.node, &self.field) {
            (Some(n), Some(fl)) => write!(f, "node '{n}', {fl}: {}", self.message),
            (Some(n), None) => write!(f, "node '{n}': {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Collects problems as they are found.
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, node: Option<&str>, field: Option<&str>, message: String) {
        self.0.push(Problem {
            node: node.map(str::to_owned),
            field: field.map(str::to_owned),
            message,
        });
    }

    fn target(&mut self, node: &str, field: &str, to: Option<&str>, ids: &BTreeSet<&str>) {
        if let Some(to) = to {
            if !ids.contains(to) {
                self.add(Some(node), Some(field), format!("unknown node '{to}'"));
            }
        }
    }

    fn variable(&mut self, node: &str, field: &str, name: &str) {
        if !is_variable_name(name) {
            self.add(
                Some(node),
                Some(field),
                format!("invalid variable name '{name}': use letters, digits and _, like paymentStatus"),
            );
        }
    }
}

/// Checks a definition; an empty list means it can be published.
pub fn validate(wf: &Workflow) -> Vec<Problem> {
    let mut p = Problems(Vec::new());
    if wf.format != FORMAT_VERSION {
        p.add(
            None,
            Some("format"),
            format!(
                "unsupported format {}; this relay reads format {FORMAT_VERSION}",
                wf.format
            ),
        );
    }
    if wf.nodes.is_empty() {
        p.add(
            None,
            Some("nodes"),
            "the workflow has no nodes; add at least one".into(),
        );
    }
    let mut ids = BTreeSet::new();
    for n in &wf.nodes {
        if n.id.trim().is_empty() || n.id.len() > 64 {
            p.add(Some(&n.id), Some("id"), "a node id needs 1-64 characters".into());
        }
        if !ids.insert(n.id.as_str()) {
            p.add(
                Some(&n.id),
                Some("id"),
                format!("two nodes have the id '{}'; ids must be unique", n.id),
            );
        }
    }
    if !ids.contains(wf.start.as_str()) {
        p.add(
            None,
            Some("start"),
            format!("the start node '{}' does not exist", wf.start),
        );
    }
    for n in &wf.nodes {
        check_node(n, &ids, &mut p);
    }
    // Reachability from the start.
    if ids.contains(wf.start.as_str()) {
        let mut seen = BTreeSet::new();
        let mut todo = vec![wf.start.as_str()];
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(n) = wf.node(id) {
                todo.extend(n.kind.successors().into_iter().filter(|s| ids.contains(s)));
            }
        }
        for n in &wf.nodes {
            if !seen.contains(n.id.as_str()) {
                p.add(
                    Some(&n.id),
                    None,
                    "this node is unreachable from the start; connect it or delete it".into(),
                );
            }
        }
    }
    // A loop through nodes that never wait would spin forever.
    if let Some(cycle) = busy_loop(wf) {
        p.add(
            Some(&cycle[0]),
            Some("next"),
            format!(
                "the nodes {} form a loop that never waits for the visitor; put an Ask or a Request Payment in it",
                cycle.join(" → ")
            ),
        );
    }
    p.0
}

fn check_node(n: &Node, ids: &BTreeSet<&str>, p: &mut Problems) {
    let id = n.id.as_str();
    match &n.kind {
        NodeKind::SendMessage { text, next } => {
            p.target(id, "next", next.as_deref(), ids);
            if text.trim().is_empty() {
                p.add(Some(id), Some("text"), "the message is empty".into());
            }
        }
        NodeKind::Ask {
            text, variable, next, ..
        } => {
            p.target(id, "next", next.as_deref(), ids);
            if text.trim().is_empty() {
                p.add(Some(id), Some("text"), "the question is empty".into());
            }
            p.variable(id, "variable", variable);
        }
        NodeKind::SetVariable { variable, next, .. } => {
            p.target(id, "next", next.as_deref(), ids);
            p.variable(id, "variable", variable);
        }
        NodeKind::Condition {
            variable,
            then,
            otherwise,
            ..
        } => {
            p.target(id, "then", Some(then), ids);
            p.target(id, "else", Some(otherwise), ids);
            p.variable(id, "variable", variable);
        }
        NodeKind::Handoff { next, .. } => p.target(id, "next", next.as_deref(), ids),
        NodeKind::Close { .. } => {}
        NodeKind::RequestPayment {
            amount,
            currency: code,
            description,
            result_variable,
            lifetime_minutes,
            success_url,
            cancel_url,
            next,
            ..
        } => {
            p.target(id, "next", next.as_deref(), ids);
            p.variable(id, "result_variable", result_variable);
            let known = match currency(code) {
                Ok(_) => true,
                Err(e) => {
                    p.add(Some(id), Some("currency"), e.to_string());
                    false
                }
            };
            match amount {
                Amount::Fixed(text) => {
                    if known {
                        if let Err(e) = Money::parse(text, code) {
                            p.add(Some(id), Some("amount"), e.to_string());
                        }
                    }
                }
                Amount::FromVariable(name) => p.variable(id, "amount", name),
            }
            if description.trim().is_empty() {
                p.add(
                    Some(id),
                    Some("description"),
                    "Checkout needs a description of what is paid for".into(),
                );
            } else if description.chars().count() > DESCRIPTION_MAX_CHARS {
                p.add(
                    Some(id),
                    Some("description"),
                    format!("the description is longer than {DESCRIPTION_MAX_CHARS} characters"),
                );
            }
            if !LIFETIME_MINUTES.contains(lifetime_minutes) {
                p.add(
                    Some(id),
                    Some("lifetime_minutes"),
                    format!("a link lives 30 to 1440 minutes (Stripe's limits), not {lifetime_minutes}"),
                );
            }
            for (field, url) in [("success_url", success_url), ("cancel_url", cancel_url)] {
                if let Some(u) = url {
                    let local = u.starts_with("http://localhost") || u.starts_with("http://127.0.0.1");
                    if !(u.starts_with("https://") || local) {
                        p.add(
                            Some(id),
                            Some(field),
                            format!("'{u}' must be an https:// URL (http only for localhost)"),
                        );
                    }
                }
            }
        }
    }
}

/// A cycle made only of nodes that do not wait, if there is one.
fn busy_loop(wf: &Workflow) -> Option<Vec<String>> {
    let busy: BTreeMap<&str, Vec<&str>> = wf
        .nodes
        .iter()
        .filter(|n| !n.kind.waits())
        .map(|n| (n.id.as_str(), n.kind.successors()))
        .collect();
    // Depth-first search with colours: 1 = on the path, 2 = done.
    fn visit<'a>(
        id: &'a str,
        busy: &BTreeMap<&'a str, Vec<&'a str>>,
        colour: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        colour.insert(id, 1);
        path.push(id);
        for next in busy.get(id).into_iter().flatten() {
            if !busy.contains_key(next) {
                continue;
            }
            match colour.get(next) {
                Some(1) => {
                    let from = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut cycle: Vec<String> = path[from..].iter().map(|s| (*s).to_owned()).collect();
                    cycle.push((*next).to_owned());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, busy, colour, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        colour.insert(id, 2);
        None
    }
    let mut colour = BTreeMap::new();
    for id in busy.keys() {
        if !colour.contains_key(id) {
            if let Some(c) = visit(id, &busy, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wf(json: &str) -> Workflow {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_request_payment_node_reads_with_defaults() {
        let w = wf(r#"{"format":1,"start":"pay","nodes":[
            {"id":"pay","type":"request_payment","amount":{"fixed":"49.99"},"description":"Deposit"}]}"#);
        match &w.nodes[0].kind {
            NodeKind::RequestPayment {
                currency,
                result_variable,
                lifetime_minutes,
                message,
                ..
            } => {
                assert_eq!(currency, "USD");
                assert_eq!(result_variable, "paymentStatus");
                assert_eq!(*lifetime_minutes, 30);
                assert!(message.contains("<<paymentUrl>>"));
            }
            other => panic!("{other:?}"),
        }
        assert!(validate(&w).is_empty());
        let back: Workflow = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back, w);
    }

    #[test]
    fn unknown_fields_and_types_are_refused_when_reading() {
        assert!(serde_json::from_str::<Workflow>(
            r#"{"format":1,"start":"a","nodes":[{"id":"a","type":"teleport"}]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<Workflow>(
            r#"{"format":1,"start":"a","nodes":[{"id":"a","type":"close","colour":"red"}]}"#
        )
        .is_err());
        assert!(
            serde_json::from_str::<Workflow>(
                r#"{"format":1,"start":"a","nodes":[{"id":"a","type":"ask","text":"?"}]}"#
            )
            .is_err(),
            "missing variable"
        );
    }

    #[test]
    fn successors_mut_reaches_the_same_links_as_successors() {
        let mut w = wf(r#"{"format":1,"start":"a","nodes":[
            {"id":"a","type":"send_message","text":"hi","next":"b"},
            {"id":"b","type":"ask","text":"?","variable":"x","next":"c"},
            {"id":"c","type":"set_variable","variable":"y","value":"1","next":"d"},
            {"id":"d","type":"condition","variable":"x","operator":"equals","value":"1","then":"e","else":"f"},
            {"id":"e","type":"request_payment","amount":{"fixed":"5"},"currency":"USD","description":"x","next":"f"},
            {"id":"f","type":"handoff","next":"g"},
            {"id":"g","type":"close"}]}"#);
        for n in &mut w.nodes {
            let before: Vec<String> = n.kind.successors().into_iter().map(str::to_owned).collect();
            for link in n.kind.successors_mut() {
                link.push('!');
            }
            let after: Vec<String> = n.kind.successors().into_iter().map(str::to_owned).collect();
            let expected: Vec<String> = before.iter().map(|s| format!("{s}!")).collect();
            assert_eq!(after, expected, "node {}", n.id);
        }
        assert_eq!(w.node("d").unwrap().kind.successors(), ["e!", "f!"]);
    }

    #[test]
    fn problems_name_the_node_and_field() {
        let w = wf(r#"{"format":1,"start":"a","nodes":[
            {"id":"a","type":"send_message","text":"hi","next":"ghost"},
            {"id":"b","type":"close"},
            {"id":"p","type":"request_payment","amount":{"fixed":"49.5"},"currency":"JPY","description":"x","lifetime_minutes":10},
            {"id":"q","type":"request_payment","amount":{"from_variable":"my amount"},"currency":"XYZ","description":" "}
        ]}"#);
        let problems = validate(&w);
        let has = |node: &str, field: Option<&str>, text: &str| {
            problems.iter().any(|p| {
                p.node.as_deref() == Some(node) && p.field.as_deref() == field && p.message.contains(text)
            })
        };
        assert!(has("a", Some("next"), "unknown node 'ghost'"), "{problems:#?}");
        assert!(has("b", None, "unreachable"), "{problems:#?}");
        assert!(has("p", Some("amount"), "JPY has no decimals"), "{problems:#?}");
        assert!(has("p", Some("lifetime_minutes"), "30 to 1440"), "{problems:#?}");
        assert!(
            has("q", Some("currency"), "unknown currency 'XYZ'"),
            "{problems:#?}"
        );
        assert!(
            has("q", Some("amount"), "invalid variable name 'my amount'"),
            "{problems:#?}"
        );
        assert!(
            has("q", Some("description"), "needs a description"),
            "{problems:#?}"
        );
        assert_eq!(
            problems
                .iter()
                .find(|p| p.node.as_deref() == Some("a"))
                .unwrap()
                .to_string(),
            "node 'a', next: unknown node 'ghost'"
        );
    }

    #[test]
    fn a_loop_that_never_waits_is_refused_but_one_that_asks_is_fine() {
        let spin = wf(r#"{"format":1,"start":"a","nodes":[
            {"id":"a","type":"send_message","text":"hi","next":"b"},
            {"id":"b","type":"set_variable","variable":"x","value":"1","next":"c"},
            {"id":"c","type":"condition","variable":"x","operator":"equals","value":"1","then":"a","else":"a"}]}"#);
        let problems = validate(&spin);
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("loop that never waits") && p.message.contains("a → b → c → a")),
            "{problems:#?}"
        );
        let asks = wf(r#"{"format":1,"start":"a","nodes":[
            {"id":"a","type":"ask","text":"again?","variable":"x","next":"c"},
            {"id":"c","type":"condition","variable":"x","operator":"equals","value":"yes","then":"a","else":"d"},
            {"id":"d","type":"close"}]}"#);
        assert!(validate(&asks).is_empty(), "{:#?}", validate(&asks));
    }

    #[test]
    fn interpolation_is_single_pass_and_leaves_non_names_alone() {
        let vars = |n: &str| match n {
            "name" => Some("<<secret>>".to_owned()),
            "secret" => Some("LEAK".to_owned()),
            _ => None,
        };
        assert_eq!(interpolate("Hi <<name>>!", vars), "Hi <<secret>>!");
        assert_eq!(
            interpolate("<<missing>> and << not a name >> and <<", vars),
            " and << not a name >> and <<"
        );
        assert_eq!(interpolate("a<<name>>b<<name>>", |_| Some("x".into())), "axbx");
    }

    #[test]
    fn start_and_format_are_checked() {
        let w = wf(r#"{"format":2,"start":"nope","nodes":[{"id":"a","type":"close"}]}"#);
        let problems = validate(&w);
        assert!(problems.iter().any(|p| p.field.as_deref() == Some("format")));
        assert!(problems.iter().any(|p| p.message.contains("start node 'nope'")));
    }
}
