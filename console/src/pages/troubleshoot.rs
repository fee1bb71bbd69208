//! Live troubleshooting: each check re-read from the relay every few seconds.

use chatpay_shared::console::paths;
use chatpay_shared::console::Check;
use yew::prelude::*;

use crate::api;
use crate::hooks::use_ticks;

#[derive(Properties, PartialEq)]
pub struct TroubleshootProps {
    pub site: String,
}

#[component(Troubleshoot)]
pub fn troubleshoot(p: &TroubleshootProps) -> Html {
    let checks = use_state(|| None::<Result<Vec<Check>, String>>);
    let tick = use_ticks(Some(5000));
    {
        let (checks, site) = (checks.clone(), p.site.clone());
        use_effect_with((site.clone(), tick), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let r = api::get::<Vec<Check>>(&paths::fill(paths::TROUBLESHOOT, &[&*site])).await;
                checks.set(Some(r.map_err(|f| f.message)));
            });
        });
    }
    let body = match &*checks {
        None => html! { <p class="muted">{ "Checking…" }</p> },
        Some(Err(e)) => html! { <p class="error">{ e }</p> },
        Some(Ok(list)) => {
            let mut topics: Vec<&str> = Vec::new();
            for c in list {
                if !topics.contains(&c.topic.as_str()) {
                    topics.push(&c.topic);
                }
            }
            topics
                .into_iter()
                .map(|t| {
                    let items = list.iter().filter(|c| c.topic == t).map(|c| html! {
                        <li class={classes!("check", if c.ok { "ok" } else { "bad" })} data-check={c.id.clone()}>
                            <span class="mark">{ if c.ok { "✓" } else { "✗" } }</span>
                            <div><strong>{ &c.title }</strong><p>{ &c.detail }</p></div>
                        </li>
                    });
                    html! { <section class="card"><h2>{ t }</h2><ul class="checks">{ for items }</ul></section> }
                })
                .collect()
        }
    };
    html! { <>{ body }</> }
}
