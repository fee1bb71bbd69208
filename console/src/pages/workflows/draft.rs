//! The draft being edited, as plain state: a first workflow, what a new node of each kind
//! starts as, and the [`Edit`]s the page applies to it through Yew's `use_reducer` (each
//! edit applies to the draft as it is when it arrives, so quick edits never overwrite each
//! other). No DOM: unit-tested natively.

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

/// One edit of one node.
pub(super) type NodeEdit = Rc<dyn Fn(&mut Node)>;

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
            Edit::Node(id, f) => {
                if let Some(node) = wf.nodes.iter_mut().find(|n| n.id == id) {
                    f(node);
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
        let set_text = |t: &'static str| -> NodeEdit {
            Rc::new(move |n: &mut Node| {
                if let NodeKind::SendMessage { text, .. } = &mut n.kind {
                    *text = t.to_owned();
                }
            })
        };
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

    #[test]
    fn every_kind_the_editor_offers_starts_as_that_kind() {
        for (kind, _) in KINDS {
            assert_eq!(new_kind(kind, "greet").type_name(), kind);
        }
    }
}
