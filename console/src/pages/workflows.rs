//! The workflow editor: the published versions, and a draft edited as node cards (add,
//! edit, delete, connect). Unpublished changes are kept in the browser (a tab switch or a
//! reload loses nothing), leaving the page with them asks first, and the header says what
//! is shown: a published version or unpublished changes. Check and Publish send the draft to the relay; its problems come
//! back at the node and field they concern. JSON export and import; "Try it" opens the
//! published version in a widget (against the site's Stripe, the simulator in test setups).

use std::rc::Rc;

use chatpay_shared::console::{PublishResult, WorkflowVersion};
use chatpay_shared::money::{format_minor, Money, CURRENCIES};
use chatpay_shared::workflow::{
    Amount, Node, NodeKind, Operator, Problem, Workflow, DEFAULT_CURRENCY, DEFAULT_PAYMENT_MESSAGE,
    DEFAULT_RESULT_VARIABLE, FORMAT_VERSION, LIFETIME_MINUTES,
};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::api;
use crate::components::field::{copy, Field};

#[derive(Properties, PartialEq)]
pub struct WorkflowsProps {
    pub site: String,
}

/// A first draft for a site without a workflow.
fn starter() -> Workflow {
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

/// The draft as the browser keeps it between visits (localStorage, per site), so a tab
/// switch, a reload or a closed laptop loses no edit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SavedDraft {
    /// The published version the draft started from (none: a new or imported one).
    based_on: Option<i64>,
    workflow: Workflow,
}

fn draft_key(site: &str) -> String {
    format!("chatpay-draft:{site}")
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn load_draft(site: &str) -> Option<SavedDraft> {
    let text = local_storage()?.get_item(&draft_key(site)).ok()??;
    serde_json::from_str(&text).ok()
}

fn save_draft(site: &str, saved: Option<&SavedDraft>) {
    let Some(store) = local_storage() else { return };
    let _ = match saved.and_then(|d| serde_json::to_string(d).ok()) {
        Some(text) => store.set_item(&draft_key(site), &text),
        None => store.remove_item(&draft_key(site)),
    };
}

/// The kinds a node can have, as the editor offers them.
const KINDS: [(&str, &str); 7] = [
    ("send_message", "Send Message"),
    ("ask", "Ask"),
    ("set_variable", "Set Variable"),
    ("request_payment", "Request Payment"),
    ("condition", "Condition"),
    ("handoff", "Handoff to agent"),
    ("close", "Close conversation"),
];

fn new_kind(kind: &str, first_id: &str) -> NodeKind {
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
fn rename(wf: &mut Workflow, old: &str, new: &str) {
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
pub enum Edit {
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
pub type NodeEdit = Rc<dyn Fn(&mut Node)>;

/// The draft being edited.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft(pub Workflow);

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

#[function_component(Workflows)]
pub fn workflows(p: &WorkflowsProps) -> Html {
    let versions = use_state(Vec::<WorkflowVersion>::new);
    let draft = use_reducer(|| Draft(starter()));
    let based_on = use_state(|| None::<i64>);
    // The published definition the draft started from: the draft differs from it when there
    // are unpublished changes.
    let base = use_state(|| None::<Workflow>);
    // The draft was read back from the browser: it may be saved from now on (not before,
    // or the starter would overwrite it).
    let restored = use_state(|| false);
    let problems = use_state(Vec::<Problem>::new);
    let message = use_state(|| None::<(bool, String)>);
    let warnings = use_state(Vec::<Problem>::new);
    let import = use_state(|| None::<String>);
    let export = use_state(|| false);

    let load_versions = {
        let (versions, draft, based_on, site, base, restored, message) = (
            versions.clone(),
            draft.clone(),
            based_on.clone(),
            p.site.clone(),
            base.clone(),
            restored.clone(),
            message.clone(),
        );
        move |open_latest: bool| {
            let (versions, draft, based_on, site, base, restored, message) = (
                versions.clone(),
                draft.clone(),
                based_on.clone(),
                site.clone(),
                base.clone(),
                restored.clone(),
                message.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                let Ok(list) =
                    api::get::<Vec<WorkflowVersion>>(&format!("/api/console/sites/{site}/workflows")).await
                else {
                    return;
                };
                if open_latest {
                    // Unpublished edits kept in this browser come back first.
                    let saved = load_draft(&site);
                    let start_from = saved
                        .as_ref()
                        .map_or(list.first().map(|v| v.version), |d| d.based_on);
                    let published = match start_from {
                        Some(v) => api::get::<Workflow>(&format!("/api/console/sites/{site}/workflows/{v}"))
                            .await
                            .ok(),
                        None => None,
                    };
                    match saved {
                        Some(d) => {
                            draft.dispatch(Edit::Replace(d.workflow));
                            based_on.set(d.based_on);
                            message.set(Some((
                                true,
                                "Your unpublished changes were kept in this browser. Publish them, or discard them.".into(),
                            )));
                        }
                        None => {
                            if let Some(wf) = published.clone() {
                                draft.dispatch(Edit::Replace(wf));
                            }
                            based_on.set(start_from);
                        }
                    }
                    base.set(published);
                    restored.set(true);
                }
                versions.set(list);
            });
        }
    };
    {
        let load = load_versions.clone();
        use_effect_with(p.site.clone(), move |_| load(true));
    }

    let send = {
        let (draft, problems, message, site, load, warnings, base, based_on) = (
            draft.clone(),
            problems.clone(),
            message.clone(),
            p.site.clone(),
            load_versions.clone(),
            warnings.clone(),
            base.clone(),
            based_on.clone(),
        );
        move |publish: bool| {
            let body = serde_json::to_value(&draft.0).unwrap_or_default();
            let sent = draft.0.clone();
            let (problems, message, site, load, warnings, base, based_on) = (
                problems.clone(),
                message.clone(),
                site.clone(),
                load.clone(),
                warnings.clone(),
                base.clone(),
                based_on.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                let path = if publish {
                    format!("/api/console/sites/{site}/workflows")
                } else {
                    format!("/api/console/sites/{site}/workflows/check")
                };
                match api::post::<_, PublishResult>(&path, &body).await {
                    Ok(r) => {
                        let n = r.problems.len();
                        problems.set(r.problems);
                        warnings.set(r.warnings);
                        message.set(Some(match (r.version, n) {
                            (Some(v), _) => {
                                // What was sent is the published version now.
                                base.set(Some(sent.clone()));
                                based_on.set(Some(v));
                                save_draft(&site, None);
                                load(false);
                                (true, format!("Published as version {v}. New conversations use it; running ones keep theirs."))
                            }
                            (None, 0) => (true, "No problems found.".into()),
                            (None, n) => (false, format!("{n} problem(s) to fix before publishing; see the marked fields.")),
                        }));
                    }
                    Err(f) => message.set(Some((false, f.message))),
                }
            });
        }
    };
    let on_check = {
        let send = send.clone();
        Callback::from(move |_: MouseEvent| send(false))
    };
    let on_publish = Callback::from(move |_: MouseEvent| send(true));
    let on_try = {
        let site = p.site.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(w) = web_sys::window() {
                let _ = w.open_with_url_and_target(&format!("/preview/{site}"), "_blank");
            }
        })
    };
    let open_version = {
        let (draft, based_on, site, problems, base) = (
            draft.clone(),
            based_on.clone(),
            p.site.clone(),
            problems.clone(),
            base.clone(),
        );
        move |version: i64| {
            let (draft, based_on, site, problems, base) = (
                draft.clone(),
                based_on.clone(),
                site.clone(),
                problems.clone(),
                base.clone(),
            );
            Callback::from(move |_: MouseEvent| {
                let (draft, based_on, site, problems, base) = (
                    draft.clone(),
                    based_on.clone(),
                    site.clone(),
                    problems.clone(),
                    base.clone(),
                );
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(wf) =
                        api::get::<Workflow>(&format!("/api/console/sites/{site}/workflows/{version}")).await
                    {
                        draft.dispatch(Edit::Replace(wf.clone()));
                        based_on.set(Some(version));
                        base.set(Some(wf));
                        problems.set(Vec::new());
                    }
                });
            })
        }
    };
    // Unpublished changes: kept in the browser while they last, and leaving the page asks
    // first.
    let dirty = *restored && base.as_ref() != Some(&draft.0);
    {
        let (site, draft, based_on) = (p.site.clone(), draft.0.clone(), *based_on);
        use_effect_with((dirty, draft.clone(), *restored), move |(dirty, _, restored)| {
            if *restored {
                let saved = dirty.then(|| SavedDraft {
                    based_on,
                    workflow: draft,
                });
                save_draft(&site, saved.as_ref());
            }
        });
    }
    use_effect_with(dirty, move |dirty| {
        let listener = dirty.then(|| {
            let ask =
                wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(|e: web_sys::Event| {
                    // The browser asks "Leave site? Changes you made may not be saved."
                    e.prevent_default();
                    if let Some(e) = wasm_bindgen::JsCast::dyn_ref::<web_sys::BeforeUnloadEvent>(&e) {
                        e.set_return_value("unpublished changes");
                    }
                });
            if let Some(w) = web_sys::window() {
                let _ = w.add_event_listener_with_callback(
                    "beforeunload",
                    wasm_bindgen::JsCast::unchecked_ref(ask.as_ref()),
                );
            }
            ask
        });
        move || {
            if let (Some(ask), Some(w)) = (listener, web_sys::window()) {
                let _ = w.remove_event_listener_with_callback(
                    "beforeunload",
                    wasm_bindgen::JsCast::unchecked_ref(ask.as_ref()),
                );
            }
        }
    });
    let on_discard = {
        let (draft, base, site, message) = (draft.clone(), base.clone(), p.site.clone(), message.clone());
        Callback::from(move |_: MouseEvent| {
            save_draft(&site, None);
            draft.dispatch(Edit::Replace((*base).clone().unwrap_or_else(starter)));
            message.set(Some((true, "The unpublished changes were discarded.".into())));
        })
    };

    let wf = draft.0.clone();
    let ids: Vec<String> = wf.nodes.iter().map(|n| n.id.clone()).collect();
    let general: Vec<&Problem> = problems.iter().filter(|pr| pr.node.is_none()).collect();

    let add = {
        let draft = draft.clone();
        Callback::from(move |e: Event| {
            let sel: HtmlSelectElement = e.target_unchecked_into();
            let kind = sel.value();
            sel.set_value("");
            if !kind.is_empty() {
                draft.dispatch(Edit::Add(kind));
            }
        })
    };

    let cards = wf.nodes.iter().map(|node| {
        let mine: Vec<Problem> = problems.iter().filter(|pr| pr.node.as_deref() == Some(node.id.as_str())).cloned().collect();
        let id = node.id.clone();
        let on_edit = {
            let (draft, id) = (draft.clone(), id.clone());
            Callback::from(move |f: NodeEdit| draft.dispatch(Edit::Node(id.clone(), f)))
        };
        let on_rename = {
            let (draft, id) = (draft.clone(), id.clone());
            Callback::from(move |to: String| draft.dispatch(Edit::Rename(id.clone(), to)))
        };
        let on_delete = {
            let (draft, id) = (draft.clone(), id.clone());
            Callback::from(move |_| draft.dispatch(Edit::Delete(id.clone())))
        };
        html! { <NodeCard key={node.id.clone()} node={node.clone()} ids={ids.clone()} problems={mine} {on_edit} {on_rename} {on_delete} /> }
    });

    let start_select = {
        let draft = draft.clone();
        Callback::from(move |e: Event| {
            let sel: HtmlSelectElement = e.target_unchecked_into();
            draft.dispatch(Edit::Start(sel.value()));
        })
    };
    let name_input = {
        let draft = draft.clone();
        Callback::from(move |v: String| draft.dispatch(Edit::Name(v)))
    };
    let json = serde_json::to_string_pretty(&wf).unwrap_or_default();
    let on_export = {
        let export = export.clone();
        Callback::from(move |_: MouseEvent| export.set(!*export))
    };
    let on_copy_json = {
        let json = json.clone();
        Callback::from(move |_: MouseEvent| copy(&json))
    };
    let on_import_toggle = {
        let import = import.clone();
        Callback::from(move |_: MouseEvent| {
            import.set(if import.is_some() {
                None
            } else {
                Some(String::new())
            })
        })
    };
    let on_import_text = {
        let import = import.clone();
        Callback::from(move |v: String| import.set(Some(v)))
    };
    let on_import_load = {
        let (import, draft, message, based_on) =
            (import.clone(), draft.clone(), message.clone(), based_on.clone());
        Callback::from(move |_: MouseEvent| {
            let text = (*import).clone().unwrap_or_default();
            match serde_json::from_str::<Workflow>(&text) {
                Ok(wf) => {
                    draft.dispatch(Edit::Replace(wf));
                    based_on.set(None);
                    import.set(None);
                    message.set(Some((
                        true,
                        "Imported into the draft. Check or publish it.".into(),
                    )));
                }
                Err(e) => message.set(Some((false, format!("That is not a workflow: {e}")))),
            }
        })
    };

    html! {
        <div class="editor">
            <div class="editor-bar">
                <button class="button" id="check-workflow" onclick={on_check}>{ "Check" }</button>
                <button class="button primary" id="publish-workflow" onclick={on_publish}>{ "Publish" }</button>
                <button class="button" id="try-workflow" onclick={on_try}>{ "Try it ↗" }</button>
                <button class="button" id="export-workflow" onclick={on_export}>{ "Export JSON" }</button>
                <button class="button" id="import-workflow" onclick={on_import_toggle}>{ "Import JSON" }</button>
            </div>
            if let Some((ok, text)) = &*message {
                <p class={if *ok { "ok" } else { "error" }} id="editor-message" role="status">{ text }</p>
            }
            if !warnings.is_empty() {
                <ul class="warnings" id="editor-warnings">
                    { for warnings.iter().map(|w| html! {
                        <li data-node={w.node.clone().unwrap_or_default()}>
                            <strong>{ w.node.clone().unwrap_or_default() }</strong>{ ": " }{ &w.message }
                        </li>
                    }) }
                </ul>
            }
            if *export {
                <div class="card"><pre id="workflow-json">{ json.clone() }</pre><button class="button small" onclick={on_copy_json}>{ "Copy" }</button></div>
            }
            if let Some(text) = &*import {
                <div class="card">
                    <Field name="import_json" label="Paste a workflow (JSON)" multiline=true value={text.clone()} on_input={on_import_text} />
                    <button class="button" id="load-import" onclick={on_import_load}>{ "Load into the draft" }</button>
                </div>
            }
            <div class="versions">
                <span class="muted">{ "Published: " }</span>
                if versions.is_empty() { <span class="muted">{ "nothing yet" }</span> }
                { for versions.iter().map(|v| html! {
                    <button class={classes!("chip-button", (*based_on == Some(v.version)).then_some("active"))} onclick={open_version(v.version)}>
                        { format!("v{}", v.version) }
                    </button>
                }) }
            </div>
            <p class={classes!("draft-status", dirty.then_some("dirty"))} id="draft-status" role="status">
                { match (dirty, *based_on) {
                    (true, Some(v)) => format!("Unpublished changes, based on v{v}."),
                    (true, None) => "Unpublished changes: not published yet.".to_owned(),
                    (false, Some(v)) => format!("Showing v{v}, as published."),
                    (false, None) => "Not published yet.".to_owned(),
                } }
                if dirty { <button class="link" id="discard-draft" onclick={on_discard}>{ "Discard changes" }</button> }
            </p>
            <div class="card">
                <Field name="workflow_name" label="Name" value={wf.name.clone()} on_input={name_input} />
                <div class="field">
                    <label>{ "Starts at" }</label>
                    <select name="start" aria-label="Starts at" onchange={start_select}>
                        { for ids.iter().map(|id| html! { <option value={id.clone()} selected={*id == wf.start}>{ id }</option> }) }
                    </select>
                </div>
                { for general.iter().map(|pr| html! { <p class="error" data-field={pr.field.clone().unwrap_or_default()}>{ &pr.message }</p> }) }
            </div>
            { for cards }
            <div class="card add-node">
                <label for="add-node">{ "Add a node: " }</label>
                <select id="add-node" name="add_node" onchange={add}>
                    <option value="" selected=true>{ "choose a kind…" }</option>
                    { for KINDS.iter().map(|(k, label)| html! { <option value={*k}>{ *label }</option> }) }
                </select>
            </div>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct NodeCardProps {
    node: Node,
    ids: Vec<String>,
    problems: Vec<Problem>,
    on_edit: Callback<NodeEdit>,
    on_rename: Callback<String>,
    on_delete: Callback<()>,
}

/// A select of the nodes to continue to (with "end" where allowed).
fn target(
    name: &str,
    label: &str,
    value: Option<&str>,
    ids: &[String],
    allow_end: bool,
    error: Option<String>,
    on: Callback<Option<String>>,
) -> Html {
    let onchange = Callback::from(move |e: Event| {
        let sel: HtmlSelectElement = e.target_unchecked_into();
        let v = sel.value();
        on.emit((!v.is_empty()).then_some(v));
    });
    html! {
        <div class={classes!("field", error.is_some().then_some("has-error"))}>
            <label>{ label.to_owned() }</label>
            <select name={name.to_owned()} aria-label={label.to_owned()} {onchange}>
                if allow_end { <option value="" selected={value.is_none()}>{ "(end)" }</option> }
                { for ids.iter().map(|id| html! { <option value={id.clone()} selected={value == Some(id.as_str())}>{ id }</option> }) }
            </select>
            if let Some(e) = error { <p class="error" data-field={name.to_owned()}>{ e }</p> }
        </div>
    }
}

#[function_component(NodeCard)]
fn node_card(p: &NodeCardProps) -> Html {
    let node = p.node.clone();
    let err = |field: &str| field_error(&p.problems, field);
    let general: Vec<String> = p
        .problems
        .iter()
        .filter(|pr| pr.field.is_none())
        .map(|pr| pr.message.clone())
        .collect();
    let edit = |f: fn(&mut NodeKind, String)| edit_kind(&p.on_edit, f);
    let edit_target = |f: fn(&mut NodeKind, Option<String>)| edit_link(&p.on_edit, f);
    let on_id = p.on_rename.clone();
    let on_kind = {
        let (on, first) = (p.on_edit.clone(), p.ids.first().cloned().unwrap_or_default());
        Callback::from(move |e: Event| {
            let sel: HtmlSelectElement = e.target_unchecked_into();
            let (kind, first) = (sel.value(), first.clone());
            on.emit(Rc::new(move |n: &mut Node| n.kind = new_kind(&kind, &first)));
        })
    };
    let on_delete = p.on_delete.reform(|_: MouseEvent| ());
    let ids = &p.ids;

    let form = match &node.kind {
        NodeKind::SendMessage { text, next } => html! {
            <>
                <Field name="text" label="Message" multiline=true hint="<<variable>> is replaced by its value." value={text.clone()} on_input={edit(|k, v| if let NodeKind::SendMessage { text, .. } = k { *text = v })} error={err("text")} />
                { target("next", "Then go to", next.as_deref(), ids, true, err("next"), edit_target(|k, v| if let NodeKind::SendMessage { next, .. } = k { *next = v })) }
            </>
        },
        NodeKind::Ask {
            text,
            variable,
            pattern,
            retry_text,
            next,
        } => html! {
            <>
                <Field name="text" label="Question" multiline=true value={text.clone()} on_input={edit(|k, v| if let NodeKind::Ask { text, .. } = k { *text = v })} error={err("text")} />
                <Field name="variable" label="Save the answer in" value={variable.clone()} on_input={edit(|k, v| if let NodeKind::Ask { variable, .. } = k { *variable = v })} error={err("variable")} />
                <Field name="pattern" label="Pattern the answer must match (optional)" placeholder="[0-9]{4}" value={pattern.clone().unwrap_or_default()} on_input={edit(|k, v| if let NodeKind::Ask { pattern, .. } = k { *pattern = opt_static(v) })} error={err("pattern")} />
                <Field name="retry_text" label="When it does not match, say (optional)" value={retry_text.clone().unwrap_or_default()} on_input={edit(|k, v| if let NodeKind::Ask { retry_text, .. } = k { *retry_text = opt_static(v) })} />
                { target("next", "Then go to", next.as_deref(), ids, true, err("next"), edit_target(|k, v| if let NodeKind::Ask { next, .. } = k { *next = v })) }
            </>
        },
        NodeKind::SetVariable {
            variable,
            value,
            next,
        } => html! {
            <>
                <Field name="variable" label="Variable" value={variable.clone()} on_input={edit(|k, v| if let NodeKind::SetVariable { variable, .. } = k { *variable = v })} error={err("variable")} />
                <Field name="value" label="Value" value={value.clone()} on_input={edit(|k, v| if let NodeKind::SetVariable { value, .. } = k { *value = v })} />
                { target("next", "Then go to", next.as_deref(), ids, true, err("next"), edit_target(|k, v| if let NodeKind::SetVariable { next, .. } = k { *next = v })) }
            </>
        },
        NodeKind::RequestPayment { .. } => {
            html! { <PaymentForm node={node.clone()} ids={ids.clone()} problems={p.problems.clone()} on_edit={p.on_edit.clone()} /> }
        }
        NodeKind::Condition {
            variable,
            operator,
            value,
            then,
            otherwise,
        } => {
            let on_op = {
                let on = p.on_edit.clone();
                Callback::from(move |e: Event| {
                    let sel: HtmlSelectElement = e.target_unchecked_into();
                    let op: Operator = serde_json::from_value(serde_json::Value::String(sel.value()))
                        .unwrap_or(Operator::Equals);
                    on.emit(Rc::new(move |n: &mut Node| {
                        if let NodeKind::Condition { operator, .. } = &mut n.kind {
                            *operator = op;
                        }
                    }));
                })
            };
            let ops = [
                ("equals", "equals"),
                ("not_equals", "does not equal"),
                ("contains", "contains"),
                ("greater_than", "is greater than"),
                ("less_than", "is less than"),
                ("is_empty", "is empty"),
            ];
            let current = serde_json::to_value(operator)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            html! {
                <>
                    <Field name="variable" label="If the variable" value={variable.clone()} on_input={edit(|k, v| if let NodeKind::Condition { variable, .. } = k { *variable = v })} error={err("variable")} />
                    <div class="field">
                        <label>{ "Operator" }</label>
                        <select name="operator" aria-label="Operator" onchange={on_op}>
                            { for ops.iter().map(|(v, label)| html! { <option value={*v} selected={current == *v}>{ *label }</option> }) }
                        </select>
                    </div>
                    if *operator != Operator::IsEmpty {
                        <Field name="value" label="Value" value={value.clone()} on_input={edit(|k, v| if let NodeKind::Condition { value, .. } = k { *value = v })} />
                    }
                    { target("then", "When true, go to", Some(then), ids, false, err("then"), edit_target(|k, v| if let (NodeKind::Condition { then, .. }, Some(v)) = (k, v) { *then = v })) }
                    { target("else", "Otherwise, go to", Some(otherwise), ids, false, err("else"), edit_target(|k, v| if let (NodeKind::Condition { otherwise, .. }, Some(v)) = (k, v) { *otherwise = v })) }
                </>
            }
        }
        NodeKind::Handoff { text, next } => html! {
            <>
                <Field name="text" label="Tell the visitor (optional)" value={text.clone().unwrap_or_default()} on_input={edit(|k, v| if let NodeKind::Handoff { text, .. } = k { *text = opt_static(v) })} />
                { target("next", "When a person hands back, go to", next.as_deref(), ids, true, err("next"), edit_target(|k, v| if let NodeKind::Handoff { next, .. } = k { *next = v })) }
            </>
        },
        NodeKind::Close { text } => html! {
            <Field name="text" label="Last message (optional)" value={text.clone().unwrap_or_default()} on_input={edit(|k, v| if let NodeKind::Close { text, .. } = k { *text = opt_static(v) })} />
        },
    };
    html! {
        <section class={classes!("card", "node", (!p.problems.is_empty()).then_some("has-problems"))} data-node={node.id.clone()}>
            <div class="node-head">
                <input class="node-id" name="id" aria-label="Node id" value={node.id.clone()} onchange={Callback::from(move |e: Event| { let el: web_sys::HtmlInputElement = e.target_unchecked_into(); on_id.emit(el.value()); })} />
                <select name="kind" aria-label="Node kind" onchange={on_kind}>
                    { for KINDS.iter().map(|(k, label)| html! { <option value={*k} selected={node.kind.type_name() == *k}>{ *label }</option> }) }
                </select>
                <button class="link danger" name="delete" onclick={on_delete}>{ "Delete" }</button>
            </div>
            if let Some(e) = err("id") { <p class="error" data-field="id">{ e }</p> }
            { for general.iter().map(|g| html! { <p class="error">{ g }</p> }) }
            { form }
        </section>
    }
}

/// An optional text field's value: `None` when left blank.
fn opt_static(v: String) -> Option<String> {
    (!v.trim().is_empty()).then_some(v)
}

/// The message of the node's problem at `field`, if it has one.
fn field_error(problems: &[Problem], field: &str) -> Option<String> {
    problems
        .iter()
        .find(|pr| pr.field.as_deref() == Some(field))
        .map(|pr| pr.message.clone())
}

/// A field's callback that edits the node's kind with the text typed.
fn edit_kind(on: &Callback<NodeEdit>, f: fn(&mut NodeKind, String)) -> Callback<String> {
    let on = on.clone();
    Callback::from(move |v: String| on.emit(Rc::new(move |n: &mut Node| f(&mut n.kind, v.clone()))))
}

/// A "go to" select's callback that edits one of the node's links.
fn edit_link(on: &Callback<NodeEdit>, f: fn(&mut NodeKind, Option<String>)) -> Callback<Option<String>> {
    let on = on.clone();
    Callback::from(move |v: Option<String>| on.emit(Rc::new(move |n: &mut Node| f(&mut n.kind, v.clone()))))
}

#[derive(Properties, PartialEq)]
struct PaymentFormProps {
    node: Node,
    ids: Vec<String>,
    problems: Vec<Problem>,
    on_edit: Callback<NodeEdit>,
}

/// The Request Payment form, with a live preview of the amount checked against the
/// currency's rules and Stripe's minimum (the same rules the relay applies).
#[function_component(PaymentForm)]
fn payment_form(p: &PaymentFormProps) -> Html {
    let NodeKind::RequestPayment {
        amount,
        currency: code,
        description,
        message,
        result_variable,
        lifetime_minutes,
        success_url,
        cancel_url,
        next,
    } = &p.node.kind
    else {
        return html! {};
    };
    let err = |field: &str| field_error(&p.problems, field);
    let edit = |f: fn(&mut NodeKind, String)| edit_kind(&p.on_edit, f);
    let select = |f: fn(&mut NodeKind, String)| {
        let on = p.on_edit.clone();
        Callback::from(move |e: Event| {
            let sel: HtmlSelectElement = e.target_unchecked_into();
            let v = sel.value();
            on.emit(Rc::new(move |n: &mut Node| f(&mut n.kind, v.clone())));
        })
    };
    let fixed = matches!(amount, Amount::Fixed(_));
    let amount_text = match amount {
        Amount::Fixed(t) | Amount::FromVariable(t) => t.clone(),
    };
    let preview = if fixed {
        match Money::parse(&amount_text, code) {
            Ok(m) => {
                let min = m
                    .currency
                    .min_minor
                    .map(|min| {
                        format!(
                            " Stripe's minimum is {} {}.",
                            format_minor(min, m.currency),
                            m.currency.code
                        )
                    })
                    .unwrap_or_default();
                html! { <p class="ok" id="amount-preview">{ format!("Visitors pay {m}.{min}") }</p> }
            }
            Err(e) => html! { <p class="error" id="amount-preview">{ e.to_string() }</p> },
        }
    } else {
        html! { <p class="hint" id="amount-preview">{ format!("The visitor's <<{amount_text}>> is checked when the workflow runs; an amount that cannot be charged sets {result_variable} to invalid_amount and no link is sent.") }</p> }
    };
    let mode = {
        let on = p.on_edit.clone();
        Callback::from(move |e: Event| {
            let sel: HtmlSelectElement = e.target_unchecked_into();
            let fixed = sel.value() == "fixed";
            on.emit(Rc::new(move |n: &mut Node| {
                if let NodeKind::RequestPayment { amount, .. } = &mut n.kind {
                    *amount = if fixed {
                        Amount::Fixed("49.99".into())
                    } else {
                        Amount::FromVariable("amount".into())
                    };
                }
            }));
        })
    };
    let insert_url = {
        let on = p.on_edit.clone();
        Callback::from(move |_: MouseEvent| {
            on.emit(Rc::new(|n: &mut Node| {
                if let NodeKind::RequestPayment { message, .. } = &mut n.kind {
                    if !message.ends_with(' ') && !message.is_empty() {
                        message.push(' ');
                    }
                    message.push_str("<<paymentUrl>>");
                }
            }));
        })
    };
    let on_next = edit_link(&p.on_edit, |k, v| {
        if let NodeKind::RequestPayment { next, .. } = k {
            *next = v
        }
    });
    html! {
        <>
            <div class="row">
                <div class="field">
                    <label>{ "Amount" }</label>
                    <select name="amount_mode" aria-label="Amount" onchange={mode}>
                        <option value="fixed" selected={fixed}>{ "fixed" }</option>
                        <option value="variable" selected={!fixed}>{ "from a variable" }</option>
                    </select>
                </div>
                <Field name="amount" label={if fixed { "Amount" } else { "Variable with the amount" }} value={amount_text} on_input={edit(|k, v| if let NodeKind::RequestPayment { amount, .. } = k { match amount { Amount::Fixed(t) | Amount::FromVariable(t) => *t = v } })} error={err("amount")} />
                <div class={classes!("field", err("currency").is_some().then_some("has-error"))}>
                    <label>{ "Currency" }</label>
                    <select name="currency" aria-label="Currency" onchange={select(|k, v| if let NodeKind::RequestPayment { currency, .. } = k { *currency = v })}>
                        { for CURRENCIES.iter().map(|c| html! { <option value={c.code} selected={c.code.eq_ignore_ascii_case(code)}>{ c.code }</option> }) }
                    </select>
                    if let Some(e) = err("currency") { <p class="error" data-field="currency">{ e }</p> }
                </div>
            </div>
            { preview }
            <Field name="description" label="Description (shown on Stripe Checkout)" value={description.clone()} on_input={edit(|k, v| if let NodeKind::RequestPayment { description, .. } = k { *description = v })} error={err("description")} />
            <Field name="message" label="Chat message" multiline=true hint="The card with the Pay button is shown either way." value={message.clone()} on_input={edit(|k, v| if let NodeKind::RequestPayment { message, .. } = k { *message = v })} error={err("message")} />
            <button class="button small" name="insert_payment_url" onclick={insert_url}>{ "Insert <<paymentUrl>>" }</button>
            <div class="row">
                <Field name="result_variable" label="Result variable" value={result_variable.clone()} on_input={edit(|k, v| if let NodeKind::RequestPayment { result_variable, .. } = k { *result_variable = v })} error={err("result_variable")} />
                <Field name="lifetime_minutes" label="Link lifetime (minutes, 30-1440)" kind="number" value={lifetime_minutes.to_string()} on_input={edit(|k, v| if let NodeKind::RequestPayment { lifetime_minutes, .. } = k { *lifetime_minutes = v.trim().parse().unwrap_or(0) })} error={err("lifetime_minutes")} />
            </div>
            <div class="row">
                <Field name="success_url" label="Return after paying (optional)" value={success_url.clone().unwrap_or_default()} on_input={edit(|k, v| if let NodeKind::RequestPayment { success_url, .. } = k { *success_url = opt_static(v) })} error={err("success_url")} />
                <Field name="cancel_url" label="Return when going back (optional)" value={cancel_url.clone().unwrap_or_default()} on_input={edit(|k, v| if let NodeKind::RequestPayment { cancel_url, .. } = k { *cancel_url = opt_static(v) })} error={err("cancel_url")} />
            </div>
            { target("next", "Then go to (paymentStatus is set)", next.as_deref(), &p.ids, true, err("next"), on_next) }
        </>
    }
}
