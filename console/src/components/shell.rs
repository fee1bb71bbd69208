//! The frame around every signed-in page: the sites in a sidebar (a folding menu on a
//! phone), the account and sign-out at the top, and the site's tabs.

use chatpay_shared::console::paths;
use chatpay_shared::console::{Me, SiteView};
use yew::prelude::*;

use crate::api;
use crate::pages::inbox::Inbox;
use crate::pages::payments::Payments;
use crate::pages::site::SiteSettings;
use crate::pages::sites::Sites;
use crate::pages::stripe::StripeWizard;
use crate::pages::troubleshoot::Troubleshoot;
use crate::pages::workflows::Workflows;
use crate::route::{self, Route};

#[derive(Properties, PartialEq)]
pub struct ShellProps {
    pub me: Me,
    pub route: Route,
    pub on_signed_out: Callback<()>,
}

#[component(Shell)]
pub fn shell(p: &ShellProps) -> Html {
    let sites = use_state(|| None::<Vec<SiteView>>);
    // On a phone the sites fold into a menu; choosing a page folds it again.
    let menu_open = use_state(|| false);
    {
        let menu_open = menu_open.clone();
        use_effect_with(p.route.clone(), move |_| menu_open.set(false));
    }
    let toggle_menu = {
        let menu_open = menu_open.clone();
        Callback::from(move |_: MouseEvent| menu_open.set(!*menu_open))
    };
    let reload = {
        let sites = sites.clone();
        Callback::from(move |_: ()| {
            let sites = sites.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(list) = api::get::<Vec<SiteView>>(paths::SITES).await {
                    sites.set(Some(list));
                }
            });
        })
    };
    {
        let reload = reload.clone();
        use_effect_with((), move |_| reload.emit(()));
    }
    // Sign out here, or everywhere this account is signed in (a lost laptop).
    let sign_out = |path: &'static str| {
        let done = p.on_signed_out.clone();
        Callback::from(move |_: MouseEvent| {
            let done = done.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = api::post::<_, serde_json::Value>(path, &serde_json::json!({})).await;
                done.emit(());
            });
        })
    };

    let current_site = p.route.site().map(str::to_owned);
    let list = sites.as_ref().map(|l| {
        l.iter()
            .map(|s| {
                let active = current_site.as_deref() == Some(s.id.as_str());
                html! {
                    <li><a class={classes!(active.then_some("active"))} href={Route::Site(s.id.clone()).hash()}>{ &s.name }<small>{ &s.id }</small></a></li>
                }
            })
            .collect::<Html>()
    });

    let page = match &p.route {
        Route::Sites | Route::Login | Route::Setup(_) => {
            html! { <Sites sites={(*sites).clone()} on_created={reload.clone()} /> }
        }
        r => {
            let id = r.site().unwrap_or_default().to_owned();
            let site = sites
                .as_ref()
                .and_then(|l| l.iter().find(|s| s.id == id).cloned());
            let body = match r {
                Route::Stripe(_, step) => {
                    html! { <StripeWizard site={id.clone()} step={*step} on_saved={reload.clone()} /> }
                }
                Route::Troubleshoot(_) => html! { <Troubleshoot site={id.clone()} /> },
                Route::Workflows(_) => html! { <Workflows site={id.clone()} /> },
                Route::Inbox(_, open) => html! { <Inbox site={id.clone()} open={open.clone()} /> },
                Route::Payments(_) => html! { <Payments site={id.clone()} /> },
                _ => match site.clone() {
                    Some(s) => html! { <SiteSettings site={s} on_saved={reload.clone()} /> },
                    None if sites.is_some() => {
                        html! { <p class="error">{ "No such site in your account." }</p> }
                    }
                    None => html! { <p class="muted">{ "Loading…" }</p> },
                },
            };
            let tab = |label: &'static str, to: Route| {
                let active = std::mem::discriminant(&to) == std::mem::discriminant(r);
                html! { <a class={classes!("tab", active.then_some("active"))} href={to.hash()}>{ label }</a> }
            };
            html! {
                <>
                    <h1>{ site.as_ref().map(|s| s.name.clone()).unwrap_or(id.clone()) }</h1>
                    <nav class="tabs">
                        { tab("Inbox", Route::Inbox(id.clone(), None)) }
                        { tab("Payments", Route::Payments(id.clone())) }
                        { tab("Workflow", Route::Workflows(id.clone())) }
                        { tab("Settings", Route::Site(id.clone())) }
                        { tab("Stripe Payments", Route::Stripe(id.clone(), 1)) }
                        { tab("Troubleshooting", Route::Troubleshoot(id.clone())) }
                    </nav>
                    { body }
                </>
            }
        }
    };

    html! {
        <div class="shell">
            <aside class={classes!(menu_open.then_some("open"))}>
                <a class="brand" href="#/">{ "chatpay" }</a>
                <button class="menu" id="menu" aria-expanded={menu_open.to_string()} aria-controls="site-list" onclick={toggle_menu}>{ if *menu_open { "Close" } else { "Sites ☰" } }</button>
                <p class="label">{ "Sites" }</p>
                <ul class="sites" id="site-list">{ list.unwrap_or_default() }</ul>
                <a class="button small" href="#/" onclick={Callback::from(|_: MouseEvent| route::go(&Route::Sites))}>{ "+ New site" }</a>
            </aside>
            <div class="main">
                <header class="top">
                    <span class="muted">{ &p.me.email }</span>
                    <button class="link" id="sign-out" onclick={sign_out(paths::LOGOUT)}>{ "Sign out" }</button>
                    <button class="link" id="sign-out-everywhere" onclick={sign_out(paths::LOGOUT_EVERYWHERE)}>{ "Sign out everywhere" }</button>
                </header>
                <main>{ page }</main>
            </div>
        </div>
    }
}
