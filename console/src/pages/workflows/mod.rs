//! The workflow editor: the published versions, and a draft edited as node cards (add,
//! edit, delete, connect). Unpublished changes are kept in the browser (a tab switch or a
//! reload loses nothing), leaving the page with them asks first, and the header says what
//! is shown: a published version or unpublished changes. Check and Publish send the draft to the relay; its problems come
//! back at the node and field they concern. JSON export and import; "Try it" opens the
//! published version in a widget (against the site's Stripe, the simulator in test setups).

//!
//! [`draft`] is the state and its edits; [`graph`] draws the draft as a picture (clicking a
//! node opens its card); [`node_card`] and [`payment_form`] the cards; this file the page
//! (versions, saved drafts, Check, Publish, import and export).

mod draft;
mod graph;
mod node_card;
mod payment_form;

use chatpay_shared::console::paths;
use chatpay_shared::console::{PublishResult, WorkflowVersion};
use chatpay_shared::workflow::{validate, Problem, Workflow};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::api;
use crate::components::field::{copy, Field};

use draft::*;
use graph::WorkflowGraph;
use node_card::NodeCard;

#[derive(Properties, PartialEq)]
pub struct WorkflowsProps {
    pub site: String,
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

#[component(Workflows)]
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
    // The node whose card the graph opened, and how many times a box was clicked (a second
    // click on the same box scrolls to its card again).
    let opened = use_state(|| None::<(String, u32)>);

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
                    api::get::<Vec<WorkflowVersion>>(&paths::fill(paths::WORKFLOWS, &[&*site])).await
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
                        Some(v) => {
                            api::get::<Workflow>(&paths::fill(paths::WORKFLOW, &[&*site, &v.to_string()]))
                                .await
                                .ok()
                        }
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
                    paths::fill(paths::WORKFLOWS, &[&*site])
                } else {
                    paths::fill(paths::WORKFLOWS_CHECK, &[&*site])
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
                        api::get::<Workflow>(&paths::fill(paths::WORKFLOW, &[&*site, &version.to_string()]))
                            .await
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
        let open = opened.as_ref().filter(|(o, _)| *o == node.id).map(|(_, n)| *n);
        html! { <NodeCard key={node.id.clone()} node={node.clone()} ids={ids.clone()} problems={mine} {open} {on_edit} {on_rename} {on_delete} /> }
    });

    // The graph shows what the last check said and what the draft's own checks say now.
    let mut graph_problems = (*problems).clone();
    for pr in validate(&wf) {
        if !graph_problems.contains(&pr) {
            graph_problems.push(pr);
        }
    }
    let on_open = {
        let opened = opened.clone();
        Callback::from(move |id: String| {
            let n = opened.as_ref().map_or(0, |(_, n)| n + 1);
            opened.set(Some((id, n)));
        })
    };
    let selected = opened.as_ref().map(|(id, _)| id.clone());

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
            <WorkflowGraph workflow={wf.clone()} problems={graph_problems} {selected} {on_open} />
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
