//! The draft being edited, as plain state: a first workflow, what a new node of each kind
//! starts as, and the [`Edit`]s (with the [`NodeEdit`]s inside them) the page applies to it
//! through Yew's `use_reducer`. Edits are data, not closures: each applies to the draft as it
//! is when it arrives, so quick edits never overwrite each other, and each can be built and
//! checked without a browser. No DOM: unit-tested natively.

use std::rc::Rc;

use chatpay_shared::workflow::{
    Amount, Node, NodeKind, Operator, Workflow, DEFAULT_CURRENCY, DEFAULT_PAYMENT_MESSAGE,
    DEFAULT_RESULT_VARIABLE, FORMAT_VERSION, LIFETIME_MINUTES,
};
use yew::prelude::*;

/// A first draft for a site without a workflow.
pub(super) fn starter() -> Workflow {
    Workflow {
        format: FORMAT_VERSION,
        name: "My workflow".into(),
        start: "greet".into(),
        nodes: vec![Node {
            id: "greet".into(),
            kind: NodeKind::SendMessage {
                text: "Hi! How can we help?".into(),
                next: None,
            },
        }],
    }
}

pub(super) fn new_kind(kind: &str, first_id: &str) -> NodeKind {
    match kind {
        "ask" => NodeKind::Ask {
            text: String::new(),
            variable: "answer".into(),
            pattern: None,
            retry_text: None,
            next: None,
        },
        "set_variable" => NodeKind::SetVariable {
            variable: "name".into(),
            value: String::new(),
            next: None,
        },
        "request_payment" => NodeKind::RequestPayment {
            amount: Amount::Fixed("49.99".into()),
            currency: DEFAULT_CURRENCY.into(),
            description: String::new(),
            message: DEFAULT_PAYMENT_MESSAGE.into(),
            result_variable: DEFAULT_RESULT_VARIABLE.into(),
            lifetime_minutes: *LIFETIME_MINUTES.start(),
            success_url: None,
            cancel_url: None,
            next: None,
        },
        "condition" => NodeKind::Condition {
            variable: DEFAULT_RESULT_VARIABLE.into(),
            operator: Operator::Equals,
            value: "paid".into(),
            then: first_id.into(),
            otherwise: first_id.into(),
        },
        "handoff" => NodeKind::Handoff {
            text: None,
            next: None,
        },
        "close" => NodeKind::Close { text: None },
        _ => NodeKind::SendMessage {
            text: String::new(),
            next: None,
        },
    }
}

/// Renames a node and every reference to it.
pub(super) fn rename(wf: &mut Workflow, old: &str, new: &str) {
    let fix = |s: &mut String| {
        if s == old {
            *s = new.to_owned();
        }
    };
    fix(&mut wf.start);
    for n in &mut wf.nodes {
        fix(&mut n.id);
        for link in n.kind.successors_mut() {
            fix(link);
        }
    }
}

/// A change to the draft. Applied to the draft as it is when the change arrives, so quick
/// edits in different places never overwrite each other.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Edit {
    Replace(Workflow),
    Name(String),
    Start(String),
    /// Adds a node of this kind with a fresh id.
    Add(String),
    /// Changes the node with this id.
    Node(String, NodeEdit),
    /// Renames a node and every reference to it.
    Rename(String, String),
    Delete(String),
}

/// A text field of a node's form, named as the form names it (`name="…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeField {
    Text,
    Variable,
    Pattern,
    RetryText,
    Value,
    /// A fixed amount's text, or the name of the variable holding it.
    Amount,
    Currency,
    Description,
    Message,
    ResultVariable,
    LifetimeMinutes,
    SuccessUrl,
    CancelUrl,
}

/// One of a node's "go to" links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    Next,
    Then,
    Otherwise,
}

/// One edit of one node, as data.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum NodeEdit {
    /// What was typed into a field. A blank optional field (a pattern, a retry text, a
    /// handoff's or close's text, a return URL) is cleared; a lifetime that is not a number
    /// is 0, which the checks then name.
    Set(NodeField, String),
    /// A "go to" choice; `None` ends the workflow there (a condition's two links cannot end,
    /// so `None` leaves them as they are).
    Link(Link, Option<String>),
    /// Turns the node into a new one of this kind, with the kind's defaults (a condition's
    /// links point at `first`, the workflow's first node).
    Kind {
        kind: String,
        first: String,
    },
    Operator(Operator),
    /// A fixed amount (49.99) or one read from a variable (`amount`).
    AmountFixed(bool),
    /// Appends `<<paymentUrl>>` to the payment's chat message.
    InsertPaymentUrl,
}

/// An optional text field's value: `None` when left blank.
pub(super) fn optional(v: String) -> Option<String> {
    (!v.trim().is_empty()).then_some(v)
}

impl NodeEdit {
    /// Applies the edit. A field or link the node's kind does not have (the kind changed
    /// while the edit was on its way) is ignored.
    pub(super) fn apply(self, node: &mut Node) {
        use NodeKind as K;
        match self {
            NodeEdit::Set(field, v) => match (&mut node.kind, field) {
                (K::SendMessage { text, .. } | K::Ask { text, .. }, NodeField::Text) => *text = v,
                (K::Handoff { text, .. } | K::Close { text }, NodeField::Text) => *text = optional(v),
                (
                    K::Ask { variable, .. } | K::SetVariable { variable, .. } | K::Condition { variable, .. },
                    NodeField::Variable,
                ) => *variable = v,
                (K::Ask { pattern, .. }, NodeField::Pattern) => *pattern = optional(v),
                (K::Ask { retry_text, .. }, NodeField::RetryText) => *retry_text = optional(v),
                (K::SetVariable { value, .. } | K::Condition { value, .. }, NodeField::Value) => *value = v,
                (K::RequestPayment { amount, .. }, NodeField::Amount) => match amount {
                    Amount::Fixed(t) | Amount::FromVariable(t) => *t = v,
                },
                (K::RequestPayment { currency, .. }, NodeField::Currency) => *currency = v,
                (K::RequestPayment { description, .. }, NodeField::Description) => *description = v,
                (K::RequestPayment { message, .. }, NodeField::Message) => *message = v,
                (K::RequestPayment { result_variable, .. }, NodeField::ResultVariable) => {
                    *result_variable = v
                }
                (K::RequestPayment { lifetime_minutes, .. }, NodeField::LifetimeMinutes) => {
                    *lifetime_minutes = v.trim().parse().unwrap_or(0)
                }
                (K::RequestPayment { success_url, .. }, NodeField::SuccessUrl) => *success_url = optional(v),
                (K::RequestPayment { cancel_url, .. }, NodeField::CancelUrl) => *cancel_url = optional(v),
                _ => {}
            },
            NodeEdit::Link(link, to) => match (&mut node.kind, link, to) {
                (
                    K::SendMessage { next, .. }
                    | K::Ask { next, .. }
                    | K::SetVariable { next, .. }
                    | K::RequestPayment { next, .. }
                    | K::Handoff { next, .. },
                    Link::Next,
                    to,
                ) => *next = to,
                (K::Condition { then, .. }, Link::Then, Some(to)) => *then = to,
                (K::Condition { otherwise, .. }, Link::Otherwise, Some(to)) => *otherwise = to,
                _ => {}
            },
            NodeEdit::Kind { kind, first } => node.kind = new_kind(&kind, &first),
            NodeEdit::Operator(op) => {
                if let K::Condition { operator, .. } = &mut node.kind {
                    *operator = op;
                }
            }
            NodeEdit::AmountFixed(fixed) => {
                if let K::RequestPayment { amount, .. } = &mut node.kind {
                    *amount = if fixed {
                        Amount::Fixed("49.99".into())
                    } else {
                        Amount::FromVariable("amount".into())
                    };
                }
            }
            NodeEdit::InsertPaymentUrl => {
                if let K::RequestPayment { message, .. } = &mut node.kind {
                    if !message.ends_with(' ') && !message.is_empty() {
                        message.push(' ');
                    }
                    message.push_str("<<paymentUrl>>");
                }
            }
        }
    }
}

/// The draft being edited.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Draft(pub Workflow);

impl Reducible for Draft {
    type Action = Edit;

    fn reduce(self: Rc<Self>, edit: Edit) -> Rc<Self> {
        let mut wf = self.0.clone();
        match edit {
            Edit::Replace(w) => wf = w,
            Edit::Name(n) => wf.name = n,
            Edit::Start(s) => wf.start = s,
            Edit::Add(kind) => {
                let mut n = wf.nodes.len() + 1;
                let id = loop {
                    let candidate = format!("node{n}");
                    if !wf.nodes.iter().any(|x| x.id == candidate) {
                        break candidate;
                    }
                    n += 1;
                };
                let first = wf
                    .nodes
                    .first()
                    .map(|x| x.id.clone())
                    .unwrap_or_else(|| id.clone());
                wf.nodes.push(Node {
                    id,
                    kind: new_kind(&kind, &first),
                });
            }
            Edit::Node(id, edit) => {
                if let Some(node) = wf.nodes.iter_mut().find(|n| n.id == id) {
                    edit.apply(node);
                }
            }
            Edit::Rename(from, to) => rename(&mut wf, &from, &to),
            Edit::Delete(id) => wf.nodes.retain(|n| n.id != id),
        }
        Rc::new(Draft(wf))
    }
}

/// The kinds a node can have, as the editor offers them.
pub(super) const KINDS: [(&str, &str); 7] = [
    ("send_message", "Send Message"),
    ("ask", "Ask"),
    ("set_variable", "Set Variable"),
    ("request_payment", "Request Payment"),
    ("condition", "Condition"),
    ("handoff", "Handoff to agent"),
    ("close", "Close conversation"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(draft: Draft, edits: Vec<Edit>) -> Workflow {
        let mut d = Rc::new(draft);
        for e in edits {
            d = d.reduce(e);
        }
        d.0.clone()
    }

    #[test]
    fn a_new_node_gets_a_fresh_id_and_its_kinds_defaults() {
        let wf = apply(
            Draft(starter()),
            vec![
                Edit::Add("ask".into()),
                Edit::Add("condition".into()),
                Edit::Add("ask".into()),
            ],
        );
        let ids: Vec<&str> = wf.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["greet", "node2", "node3", "node4"]);
        assert!(matches!(&wf.nodes[1].kind, NodeKind::Ask { variable, .. } if variable == "answer"));
        // A new condition points at the first node until the owner says otherwise, and
        // tests the payment's result by default.
        let NodeKind::Condition {
            variable,
            then,
            otherwise,
            value,
            ..
        } = &wf.nodes[2].kind
        else {
            panic!("a condition")
        };
        assert_eq!(
            (
                variable.as_str(),
                value.as_str(),
                then.as_str(),
                otherwise.as_str()
            ),
            (DEFAULT_RESULT_VARIABLE, "paid", "greet", "greet")
        );
    }

    #[test]
    fn an_added_id_never_repeats_one_that_is_there() {
        let mut wf = starter();
        wf.nodes.push(Node {
            id: "node2".into(),
            kind: new_kind("close", "greet"),
        });
        let wf = apply(Draft(wf), vec![Edit::Add("send_message".into())]);
        assert_eq!(wf.nodes.last().map(|n| n.id.as_str()), Some("node3"));
    }

    #[test]
    fn a_rename_follows_every_reference() {
        let wf = apply(
            Draft(starter()),
            vec![
                Edit::Add("condition".into()),
                Edit::Start("node2".into()),
                Edit::Rename("greet".into(), "hello".into()),
            ],
        );
        assert_eq!(wf.nodes[0].id, "hello");
        let NodeKind::Condition { then, otherwise, .. } = &wf.nodes[1].kind else {
            panic!("a condition")
        };
        assert_eq!((then.as_str(), otherwise.as_str()), ("hello", "hello"));
        assert_eq!(wf.start, "node2", "the start was another node");
        let wf = apply(Draft(wf), vec![Edit::Rename("node2".into(), "check".into())]);
        assert_eq!(wf.start, "check");
    }

    #[test]
    fn quick_edits_apply_to_the_draft_as_it_is_when_they_arrive() {
        let set_text = |t: &str| NodeEdit::Set(NodeField::Text, t.to_owned());
        let wf = apply(
            Draft(starter()),
            vec![
                Edit::Name("Deposits".into()),
                Edit::Node("greet".into(), set_text("Hello")),
                Edit::Node("missing".into(), set_text("ignored")),
            ],
        );
        assert_eq!(wf.name, "Deposits");
        assert!(matches!(&wf.nodes[0].kind, NodeKind::SendMessage { text, .. } if text == "Hello"));
        let wf = apply(Draft(wf), vec![Edit::Delete("greet".into())]);
        assert!(wf.nodes.is_empty());
        let wf = apply(Draft(wf), vec![Edit::Replace(starter())]);
        assert_eq!(wf, starter());
    }

    /// A node of `kind` named `id`, as the editor adds it.
    fn node(id: &str, kind: &str) -> Node {
        Node {
            id: id.into(),
            kind: new_kind(kind, "greet"),
        }
    }

    fn edited(mut n: Node, edits: Vec<NodeEdit>) -> NodeKind {
        for e in edits {
            e.apply(&mut n);
        }
        n.kind
    }

    #[test]
    fn a_payment_forms_fields_land_where_they_are_named() {
        let kind = edited(
            node("pay", "request_payment"),
            vec![
                NodeEdit::Set(NodeField::Amount, "12.50".into()),
                NodeEdit::Set(NodeField::Currency, "EUR".into()),
                NodeEdit::Set(NodeField::Description, "Deposit".into()),
                NodeEdit::Set(NodeField::Message, "Pay here:".into()),
                NodeEdit::InsertPaymentUrl,
                NodeEdit::Set(NodeField::ResultVariable, "deposit".into()),
                NodeEdit::Set(NodeField::LifetimeMinutes, " 90 ".into()),
                NodeEdit::Set(NodeField::SuccessUrl, "https://shop.example/thanks".into()),
                NodeEdit::Set(NodeField::CancelUrl, "   ".into()),
                NodeEdit::Link(Link::Next, Some("greet".into())),
            ],
        );
        let NodeKind::RequestPayment {
            amount,
            currency,
            description,
            message,
            result_variable,
            lifetime_minutes,
            success_url,
            cancel_url,
            next,
        } = kind
        else {
            panic!("a payment")
        };
        assert_eq!(amount, Amount::Fixed("12.50".into()));
        assert_eq!((currency.as_str(), description.as_str()), ("EUR", "Deposit"));
        assert_eq!(message, "Pay here: <<paymentUrl>>");
        assert_eq!((result_variable.as_str(), lifetime_minutes), ("deposit", 90));
        assert_eq!(success_url.as_deref(), Some("https://shop.example/thanks"));
        assert_eq!(cancel_url, None, "a blank optional field is cleared");
        assert_eq!(next.as_deref(), Some("greet"));
    }

    #[test]
    fn switching_the_amount_mode_and_a_lifetime_that_is_not_a_number() {
        let kind = edited(
            node("pay", "request_payment"),
            vec![
                NodeEdit::AmountFixed(false),
                NodeEdit::Set(NodeField::Amount, "quote".into()),
                NodeEdit::Set(NodeField::LifetimeMinutes, "an hour".into()),
            ],
        );
        let NodeKind::RequestPayment {
            amount,
            lifetime_minutes,
            ..
        } = kind
        else {
            panic!("a payment")
        };
        assert_eq!(amount, Amount::FromVariable("quote".into()));
        assert_eq!(lifetime_minutes, 0, "0 is named by the checks, never guessed");
    }

    #[test]
    fn a_conditions_links_cannot_end_and_its_operator_is_kept() {
        let kind = edited(
            node("check", "condition"),
            vec![
                NodeEdit::Operator(Operator::IsEmpty),
                NodeEdit::Link(Link::Then, Some("pay".into())),
                NodeEdit::Link(Link::Otherwise, None),
                NodeEdit::Set(NodeField::Variable, "email".into()),
            ],
        );
        let NodeKind::Condition {
            variable,
            operator,
            then,
            otherwise,
            ..
        } = kind
        else {
            panic!("a condition")
        };
        assert_eq!((variable.as_str(), operator), ("email", Operator::IsEmpty));
        assert_eq!((then.as_str(), otherwise.as_str()), ("pay", "greet"));
    }

    #[test]
    fn an_edit_for_a_field_the_kind_lacks_changes_nothing() {
        // The kind changed while the edit was on its way: a close has no pattern or link.
        let before = node("bye", "close");
        let kind = edited(
            before.clone(),
            vec![
                NodeEdit::Set(NodeField::Pattern, "[0-9]+".into()),
                NodeEdit::Link(Link::Next, Some("greet".into())),
                NodeEdit::Operator(Operator::Contains),
                NodeEdit::InsertPaymentUrl,
            ],
        );
        assert_eq!(kind, before.kind);
        // …and its optional text is cleared when blanked.
        let kind = edited(
            before,
            vec![
                NodeEdit::Set(NodeField::Text, "Bye!".into()),
                NodeEdit::Set(NodeField::Text, " ".into()),
            ],
        );
        assert_eq!(kind, NodeKind::Close { text: None });
    }

    #[test]
    fn a_new_kind_takes_its_defaults() {
        let kind = edited(
            node("greet", "send_message"),
            vec![NodeEdit::Kind {
                kind: "condition".into(),
                first: "start".into(),
            }],
        );
        assert_eq!(kind, new_kind("condition", "start"));
    }

    #[test]
    fn every_kind_the_editor_offers_starts_as_that_kind() {
        for (kind, _) in KINDS {
            assert_eq!(new_kind(kind, "greet").type_name(), kind);
        }
    }
}
