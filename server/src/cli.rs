//! The operator commands of the `chatpay` binary. Each prints a short human result and
//! fails with a message that names the bad value and the fix.

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::{Cli, Command, ServeArgs, SiteCommand};
use crate::domain::WebOrigin;
use crate::routes::widget::WidgetAssets;
use crate::startup;
use crate::state::Settings;
use crate::store::sites::NewSite;
use crate::store::Store;

/// Runs the command the user asked for.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(c) => c,
        None => Command::Serve(ServeArgs::from_env()?),
    };
    let store = Store::connect(&cli.database_url).await?;
    let result = match command {
        Command::Serve(args) => serve(store.clone(), args).await,
        Command::Site(cmd) => site(&store, cmd).await,
    };
    store.close().await;
    result
}

async fn serve(store: Store, args: ServeArgs) -> anyhow::Result<()> {
    let public_url = args.public_base();
    if args.demo {
        seed_demo(&store, &args, &public_url).await?;
    }
    let assets = WidgetAssets::load(&args.dist);
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another chatpay running? pick another --listen",
            args.listen
        )
    })?;
    let (state, shutdown) = startup::state(
        store,
        assets,
        Settings {
            public_url: public_url.clone(),
        },
    );
    tracing::info!(listen = %args.listen, "chatpay is serving");
    println!("chatpay is running at {public_url}");
    if args.demo {
        println!("demo host page: {public_url}/demo");
    }
    startup::serve(listener, state, shutdown, startup::signal())
        .await
        .context("the server stopped with an error")
}

/// Creates or refreshes the `demo` site so the demo page at `/demo` can open the chat.
async fn seed_demo(store: &Store, args: &ServeArgs, public_url: &str) -> anyhow::Result<()> {
    let port = args.listen.port();
    let mut origins = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ];
    if let Ok(o) = WebOrigin::parse(public_url) {
        origins.push(o.to_string());
    }
    let site = NewSite::parse(
        "demo",
        "chatpay demo",
        "Hi! I'm the chatpay demo bot. How can we help?",
        &origins,
    )?;
    store.upsert_site(&site).await?;
    Ok(())
}

async fn site(store: &Store, cmd: SiteCommand) -> anyhow::Result<()> {
    match cmd {
        SiteCommand::Add {
            id,
            name,
            origins,
            greeting,
        } => {
            let site = NewSite::parse(&id, &name, &greeting, &origins)?;
            store.insert_site(&site).await?;
            println!(
                "added site '{}' ({}), allowed origins: {}",
                site.id,
                site.name,
                join(site.origins.iter().map(|o| o.as_str()))
            );
            println!("embed it with: <script async src=\"PUBLIC_URL/embed.js\" data-site=\"{}\"></script>", site.id);
        }
        SiteCommand::List => {
            let sites = store.sites().await?;
            if sites.is_empty() {
                println!("no sites yet; add one with: chatpay site add --id my-shop --name \"My Shop\" --origin https://shop.example");
            }
            for s in sites {
                println!(
                    "{}\t{}\t{}",
                    s.id,
                    s.name,
                    join(s.origins.iter().map(String::as_str))
                );
            }
        }
    }
    Ok(())
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(" ")
}
