//! The operator commands of the `chatpay` binary. Each prints a short human result and
//! fails with a message that names the bad value and the fix.

use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;

use crate::assets::WidgetAssets;
use crate::config::{
    Cli, Command, ConversationCommand, ServeArgs, SiteCommand, StripeCommand, UserCommand, WorkflowCommand,
    STRIPE_API,
};
use crate::domain::{SiteId, WebOrigin};
use crate::payments::WEBHOOK_EVENTS;
use crate::secrets::Cipher;
use crate::startup::{self, Parts};
use crate::state::Settings;
use crate::store::accounts::Account;
use crate::store::sites::NewSite;
use crate::store::Store;
use crate::stripe::client::{KeyRefused, StripeHttp};
use crate::stripe::keys;

/// Runs the command the user asked for.
pub async fn run(mut cli: Cli) -> anyhow::Result<()> {
    let key_file = cli.key_file();
    let command = match cli.command.take() {
        Some(c) => c,
        None => Command::Serve(Box::new(ServeArgs::from_env()?)),
    };
    let store = Store::connect(&cli.database_url).await?;
    let cipher = Cipher::load(cli.encryption_key.as_deref(), &key_file)?;
    store.reseal_secrets(&cipher).await?;
    let result = match command {
        Command::Serve(args) => serve(store.clone(), cipher, cli.stripe_api_base, *args).await,
        Command::Site(cmd) => site(&store, cmd).await,
        Command::Workflow(cmd) => workflow(&store, cmd).await,
        Command::User(cmd) => user(&store, cmd).await,
        Command::Conversation(ConversationCommand::Erase { site, id }) => {
            let site = existing_site(&store, &site).await?;
            if !store.erase_conversation(&site, &id).await? {
                bail!("no conversation '{id}' in site '{site}'; the console's inbox shows each one's id");
            }
            println!("erased conversation {id} of {site}: transcript, visitor details, saved answers and payment descriptions are gone; amounts, statuses and Stripe ids stay");
            println!("Stripe keeps its own copy of the payments' descriptions: erase them there too if they held the visitor's words.");
            Ok(())
        }
        Command::Conversation(ConversationCommand::Export { site, id }) => {
            let site = existing_site(&store, &site).await?;
            let api = cli.stripe_api_base.as_deref().unwrap_or(STRIPE_API);
            let Some(doc) = crate::privacy::export(&store, &site, &id, api).await? else {
                bail!("no conversation '{id}' in site '{site}'; the console's inbox shows each one's id");
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::Backup { file } => {
            store.backup_into(&file).await?;
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            println!(
                "backed up to {} ({} KB, a consistent copy)",
                file.display(),
                size.div_ceil(1024)
            );
            let key = match cli.encryption_key {
                Some(_) => "CHATPAY_SECRET_KEY".to_owned(),
                None => format!("the key file {}", key_file.display()),
            };
            println!(
                "The Stripe secrets in it are encrypted with {key}: a restore without that key keeps the chats but cannot call Stripe. Keep the key as safely as the backup, and not in the same place."
            );
            println!(
                "To restore: stop chatpay, put the copy where CHATPAY_DATABASE_URL points (without the old -wal and -shm files), and start it with the same key."
            );
            Ok(())
        }
        Command::Stripe(cmd) => {
            let http = StripeHttp::new(
                cli.stripe_api_base.as_deref().unwrap_or(STRIPE_API),
                Duration::from_secs(30),
            );
            stripe(&store, &cipher, &http, cmd).await
        }
    };
    store.close().await;
    result
}

async fn serve(
    store: Store,
    cipher: Cipher,
    api_base: Option<String>,
    mut args: ServeArgs,
) -> anyhow::Result<()> {
    // One relay per SQLite file (held until this function returns).
    let _serving = store.serve_lock()?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another chatpay running? pick another --listen",
            args.listen
        )
    })?;
    // Port 0 asks the system for a free port: from here on the relay (its public URL, the demo
    // site's origins, the first line it prints) uses the port it got.
    args.listen = listener
        .local_addr()
        .context("cannot read the address listened on")?;
    println!("chatpay is listening on {}", args.listen);
    let public_url = args.public_base();
    let api_base = match (api_base, args.stripe_simulator) {
        (Some(base), _) => base,
        (None, true) => format!("{public_url}/simulator/stripe"),
        (None, false) => STRIPE_API.to_owned(),
    };
    // Several relays starting together seed the demo once: whoever holds the lease.
    let seeds_demo = args.demo
        && at_start("taking the demo's seeding lease", || async {
            Ok(store.try_lease("seed-demo", 60_000).await?)
        })
        .await?;
    if seeds_demo {
        at_start("seeding the demo site", || {
            seed_demo_site(&store, &args, &public_url)
        })
        .await?;
    }
    let assets = WidgetAssets::load(&args.dist.join("widget"));
    if args.stripe_budget > crate::stripe::lifetime::MAX_STRIPE_BUDGET_SECS
        || args.stripe_budget < args.stripe_timeout.max(1)
    {
        bail!(
            "--stripe-budget {} is not usable: it must be at least --stripe-timeout ({}) and at most {} seconds",
            args.stripe_budget,
            args.stripe_timeout,
            crate::stripe::lifetime::MAX_STRIPE_BUDGET_SECS
        );
    }
    if let Some(token) = &args.metrics_token {
        if token.len() < 16 {
            bail!(
                "CHATPAY_METRICS_TOKEN is {} characters: use at least 16 (like the output of `openssl rand -hex 16`)",
                token.len()
            );
        }
    }
    let metrics_listener =
        match args.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on --metrics-listen {addr}; pick another address")
            })?),
            None => None,
        };
    let simulator_token = args
        .simulator_token
        .clone()
        .unwrap_or_else(crate::accounts::new_secret);
    let stripe = StripeHttp::new(&api_base, Duration::from_secs(args.stripe_timeout.max(1)))
        .with_budget(Duration::from_secs(args.stripe_budget));
    let mut store = store;
    if let Some(spec) = &args.inject_faults {
        let faults = crate::store::faults::Faults::parse(spec)
            .map_err(|e| anyhow::anyhow!("--inject-faults '{spec}': {e}"))?;
        eprintln!("WARNING: fault injection is on (--inject-faults): writes will fail on purpose");
        store.inject_faults(faults);
    }
    let (state, shutdown) = startup::state(Parts {
        store,
        assets,
        settings: Settings {
            public_url: public_url.clone(),
            webhook_tolerance_secs: args.webhook_tolerance,
            sweep_every: Duration::from_secs(args.sweep_every.max(1)),
            dist: args.dist.clone(),
            webhook_secret_grace: Duration::from_secs(args.webhook_secret_grace * 3600),
            connections: crate::connections::ConnLimits {
                head_timeout: Duration::from_secs(args.head_timeout.max(1)),
                body_timeout: Duration::from_secs(args.body_timeout.max(1)),
                request_timeout: Duration::from_secs(args.request_timeout.max(1)),
                max_connections: args.max_connections.unwrap_or_else(|| {
                    crate::connections::max_connections_for(crate::connections::fd_limit())
                }),
                max_per_ip: args.max_connections_per_ip.max(1),
                exempt: crate::client::parse_trusted(&args.trusted_proxies).map_err(anyhow::Error::msg)?,
            },
            ws_ping_every: Duration::from_secs(args.ws_ping_every.max(1)),
            trusted_proxies: crate::client::parse_trusted(&args.trusted_proxies)
                .map_err(anyhow::Error::msg)?,
            webhook_sources: crate::client::parse_trusted(&args.webhook_sources)
                .map_err(|e| anyhow::anyhow!("CHATPAY_WEBHOOK_SOURCES: {e}"))?,
            simulator_token: simulator_token.clone(),
            simulator_deliver_to: args.simulator_deliver_to.clone(),
            metrics_token: args.metrics_token.clone(),
            outbound_allow_private: args.outbound_allow_private,
            budgets: crate::budgets::Budgets {
                conversations_per_ip: args.budget_conversations_per_ip,
                conversations_per_site: args.budget_conversations_per_site,
                messages_per_conversation: args.budget_messages_per_conversation,
                messages_per_ip: args.budget_messages_per_ip,
                links_per_ip: args.budget_links_per_ip,
                links_per_site: args.budget_links_per_site,
                sockets_per_ip: args.budget_sockets_per_ip.max(1),
                lookups_per_payment: args.budget_lookups_per_payment,
                lookups_per_site: args.budget_lookups_per_site,
                simulator_writes_per_ip: args.budget_simulator_writes_per_ip,
                webhook_failures_per_ip: args.budget_webhook_failures_per_ip,
            },
        },
        cipher,
        stripe,
        simulator: args.stripe_simulator,
    });
    tracing::info!(listen = %args.listen, stripe = %api_base, "chatpay is serving");
    println!("chatpay is running at {public_url}");
    println!("console: {public_url}/console/");
    if state.store.account_count().await? == 0 {
        // A new token each try: a write that committed but said it failed leaves a link
        // nobody was shown, never a clash with the next try.
        let token = at_start("writing the owner's setup link", || async {
            let token = crate::accounts::new_secret();
            state
                .store
                .create_setup_token(
                    &crate::accounts::token_hash(&token),
                    crate::accounts::SETUP_TTL.as_millis() as i64,
                )
                .await?;
            Ok(token)
        })
        .await?;
        println!("no account yet: create the owner account at {public_url}/console/#/setup/{token} (one use, 24 hours)");
    }
    if args.stripe_simulator {
        println!("Stripe simulator (TEST MODE) at {public_url}/simulator/stripe");
        println!("Stripe simulator dashboard (TEST MODE): {public_url}/simulator/?token={simulator_token}");
        println!("simulator test controls token: {simulator_token}");
    }
    if args.demo {
        println!("demo host page: {public_url}/demo");
        if args.stripe_simulator && seeds_demo {
            // The relay answers its own simulator once it serves; connect the demo site then.
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = connect_demo_to_simulator(&state).await {
                    tracing::error!(error = %e, "cannot connect the demo site to the simulator");
                }
            });
        }
    }
    if let Some(listener) = metrics_listener {
        if let Ok(addr) = listener.local_addr() {
            println!("metrics (Prometheus text): http://{addr}/metrics");
        }
        let app = crate::routes::metrics::metrics_only(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the metrics address stopped");
            }
        });
    }
    startup::serve(listener, state, shutdown, startup::signal())
        .await
        .context("the server stopped with an error")
}

/// How many times a start-up write is tried before the relay gives up starting.
const START_TRIES: u32 = 6;

/// Runs one of the writes a relay makes while it starts, trying it again when it fails: a
/// relay restarted after a crash may meet a fault that lasts a moment (a disk full for a
/// second, a dropped connection), and the restart must then succeed instead of exiting. Each
/// failure is logged with what failed; after [`START_TRIES`] (about 3 s of waiting) the error
/// names the step, so a supervisor's log says why the relay did not start.
async fn at_start<T, F, Fut>(what: &str, mut write: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut wait = Duration::from_millis(100);
    let mut tries = 1;
    loop {
        match write().await {
            Ok(done) => return Ok(done),
            Err(e) if tries < START_TRIES => {
                tracing::warn!(
                    error = %format!("{e:#}"),
                    try_number = tries,
                    "{what} failed while starting; trying again in {} ms",
                    wait.as_millis()
                );
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
            Err(e) => return Err(e.context(format!("{what} failed while starting, {tries} times"))),
        }
    }
}

/// Creates or refreshes the `demo` site so the demo page at `/demo` can open the chat.
async fn seed_demo_site(store: &Store, args: &ServeArgs, public_url: &str) -> anyhow::Result<()> {
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
    // The demo workflow, published again only when it changed.
    let demo: chatpay_shared::workflow::Workflow =
        serde_json::from_str(DEMO_WORKFLOW).context("the built-in demo workflow does not parse")?;
    let current = store.latest_workflow(&site.id).await?.map(|p| p.workflow);
    if current.as_deref() != Some(&demo) {
        let version = store.publish_workflow(&site.id, &demo).await?;
        tracing::info!(version, "published the demo workflow");
    }
    Ok(())
}

/// The demo site's workflow: greet, ask, request a deposit, branch on paymentStatus.
pub const DEMO_WORKFLOW: &str = include_str!("../assets/demo-workflow.json");

/// The demo site's key at the simulator starts like this; the rest is random per database,
/// so nobody can read the demo's sessions with a key from the source.
const DEMO_KEY_PREFIX: &str = "sk_test_demo";

/// Connects the demo site to the simulator through the real client, like an owner would:
/// test the key, register the webhook endpoint, save both, and a test publishable key so
/// the demo pays inside the chat panel (Stripe's embedded Checkout) out of the box.
async fn connect_demo_to_simulator(state: &crate::state::AppState) -> anyhow::Result<()> {
    let demo = SiteId::parse("demo")?;
    if let Some(account) = state.store.stripe_account(&state.cipher, &demo).await? {
        if account.secret_key.starts_with(DEMO_KEY_PREFIX) && !account.webhook_secrets.is_empty() {
            if account.publishable_key.is_none() {
                demo_publishable_key(state, &demo).await?;
            }
            return Ok(());
        }
    }
    let demo_key = format!("{DEMO_KEY_PREFIX}{}", &crate::accounts::new_secret()[..24]);
    let client = state.stripe.client(&demo_key);
    let mut tries = 0;
    let balance = loop {
        match client.balance().await {
            Ok(b) => break b,
            Err(_) if tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let url = format!("{}/webhooks/stripe/demo", state.settings.public_url);
    let endpoint = client
        .create_webhook_endpoint(&url, &WEBHOOK_EVENTS, None)
        .await?;
    let secret = endpoint
        .secret
        .context("the simulator returned no webhook secret")?;
    state
        .store
        .save_stripe_keys(&state.cipher, &demo, &demo_key, balance.livemode, Some(&[secret]))
        .await?;
    demo_publishable_key(state, &demo).await?;
    tracing::info!("demo site connected to the Stripe simulator");
    Ok(())
}

/// Wizard step 2's publishable key for the demo (the simulator takes any `pk_test_`), the
/// rest of its settings kept.
async fn demo_publishable_key(state: &crate::state::AppState, demo: &SiteId) -> anyhow::Result<()> {
    let Some(a) = state.store.stripe_account(&state.cipher, demo).await? else {
        return Ok(());
    };
    let pk = format!("pk_test_demo{}", &crate::accounts::new_secret()[..24]);
    state
        .store
        .save_stripe_settings(
            demo,
            Some(&pk),
            a.success_url.as_deref(),
            a.cancel_url.as_deref(),
            a.apple_pay,
            a.google_pay,
            a.payment_method_configuration.as_deref(),
        )
        .await?;
    Ok(())
}

async fn site(store: &Store, cmd: SiteCommand) -> anyhow::Result<()> {
    match cmd {
        SiteCommand::Add {
            id,
            name,
            origins,
            greeting,
            owner,
        } => {
            let site = NewSite::parse(&id, &name, &greeting, &origins)?;
            let owner = site_owner(store, owner.as_deref()).await?;
            store
                .insert_site(&site, owner.as_ref().map(|a| a.id.as_str()), None)
                .await?;
            println!(
                "added site '{}' ({}), allowed origins: {}",
                site.id,
                site.name,
                join(site.origins.iter().map(|o| o.as_str()))
            );
            match &owner {
                Some(a) => println!("it belongs to {} in the console", a.email),
                None => println!("the first console account will own it"),
            }
            println!(
                "embed it with: <script async src=\"PUBLIC_URL/embed.js\" data-site=\"{}\"></script>",
                site.id
            );
        }
        SiteCommand::Give { id, owner } => {
            let site = existing_site(store, &id).await?;
            let Some(account) = site_owner(store, Some(&owner)).await? else {
                bail!("no console account '{owner}'");
            };
            store.set_site_owner(&site, &account.id).await?;
            println!("site '{site}' now belongs to {} in the console", account.email);
        }
        SiteCommand::Retention { id, days, keep: _ } => {
            let site = existing_site(store, &id).await?;
            let days = crate::privacy::check_retention(days)?;
            store.set_retention(&site, days).await?;
            match days {
                Some(d) => println!(
                    "site '{site}' erases conversations nobody touched for {d} days (the relay's sweep does it, a few at a time)"
                ),
                None => println!("site '{site}' keeps its conversations however old"),
            }
        }
        SiteCommand::List => {
            let sites = store.sites().await?;
            if sites.is_empty() {
                println!("no sites yet; add one with: chatpay site add --id my-shop --name \"My Shop\" --origin https://shop.example");
            }
            let accounts = store.accounts().await?;
            for s in sites {
                let owner = s
                    .owner_id
                    .as_deref()
                    .and_then(|id| accounts.iter().find(|a| a.id == id))
                    .map_or("(no account yet)", |a| a.email.as_str());
                println!(
                    "{}\t{}\t{}\t{owner}",
                    s.id,
                    s.name,
                    join(s.origins.iter().map(String::as_str))
                );
            }
        }
    }
    Ok(())
}

async fn stripe(store: &Store, cipher: &Cipher, http: &StripeHttp, cmd: StripeCommand) -> anyhow::Result<()> {
    match cmd {
        StripeCommand::Connect { site, secrets_stdin } => {
            let site = existing_site(store, &site).await?;
            let mut input = crate::secret_input::SecretInput::new(secrets_stdin);
            let secret_key = input
                .read(
                    "CHATPAY_STRIPE_SECRET_KEY",
                    "Stripe secret key (sk_… or rk_…)",
                    "--secrets-stdin",
                    false,
                )?
                .unwrap_or_default();
            let webhook_secrets: Vec<String> = input
                .read(
                    "CHATPAY_STRIPE_WEBHOOK_SECRET",
                    "webhook signing secret (whsec_…)",
                    "--secrets-stdin",
                    true,
                )?
                .map(|s| {
                    s.split(',')
                        .map(|p| p.trim().to_owned())
                        .filter(|p| !p.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let kind = keys::check_secret_key(&secret_key).map_err(anyhow::Error::msg)?;
            for s in &webhook_secrets {
                keys::check_webhook_secret(s).map_err(anyhow::Error::msg)?;
            }
            // A test key sent to Stripe itself while the relay runs the simulator is the usual
            // slip: say how to point the CLI at the simulator.
            let simulator_hint = simulator_hint(kind.livemode, http.base());
            let livemode = match http.client(&secret_key).verify_key(kind).await {
                Ok(livemode) => livemode,
                Err(KeyRefused::Unknown(message)) => bail!(
                    "Stripe refused the key {}: {message}{simulator_hint}",
                    crate::secrets::mask(&secret_key)
                ),
                Err(KeyRefused::LacksPermission(message)) => bail!(
                    "the restricted key {} lacks a permission chatpay needs: {message}\n{}",
                    crate::secrets::mask(&secret_key),
                    keys::PERMISSION_FIX
                ),
                Err(KeyRefused::WrongMode { stripe_livemode }) => bail!(
                    "Stripe reports livemode={stripe_livemode} for a key that looks like a {} key",
                    if kind.livemode { "live" } else { "test" }
                ),
                Err(KeyRefused::NotTested(e)) => {
                    bail!(
                        "cannot test the key with Stripe at {}: {e}{simulator_hint}",
                        http.base()
                    )
                }
            };
            let secrets: Vec<String> = webhook_secrets.iter().map(|s| s.trim().to_owned()).collect();
            store
                .save_stripe_keys(
                    cipher,
                    &site,
                    &secret_key,
                    livemode,
                    (!secrets.is_empty()).then_some(&secrets[..]),
                )
                .await?;
            println!(
                "site '{site}' is connected to Stripe in {} mode with key {}",
                if livemode { "LIVE" } else { "test" },
                crate::secrets::mask(&secret_key)
            );
            if secrets.is_empty() {
                println!("no webhook secret saved yet: connect again with the endpoint's whsec_ secret so payments resume by themselves");
            }
        }
        StripeCommand::Status { site } => {
            let site = existing_site(store, &site).await?;
            let status = store.stripe_status(cipher, &site).await?;
            let health = store.webhook_health(&site).await?;
            if !status.connected {
                println!("site '{site}' is not connected to Stripe; run: chatpay stripe connect --site {site} --secret-key sk_… --webhook-secret whsec_…");
                return Ok(());
            }
            println!("site:            {site}");
            println!("mode:            {}", status.mode.unwrap_or("?"));
            println!("secret key:      {}", status.secret_key.unwrap_or_default());
            println!(
                "webhook secret:  {}",
                status.webhook_secret.unwrap_or_else(|| "none saved".into())
            );
            println!(
                "last event:      {}",
                match (health.last_event_type, health.last_event_at) {
                    (Some(t), Some(at)) => format!("{t} at {}", when(at)),
                    _ => "none yet".into(),
                }
            );
            println!(
                "last failure:    {}",
                match (health.last_failure_reason, health.last_failure_at) {
                    (Some(r), Some(at)) => format!("{r} (at {})", when(at)),
                    _ => "none".into(),
                }
            );
            println!(
                "events:          {} received, {} duplicates, {} refused signatures",
                health.events_received, health.duplicates, health.signature_failures
            );
            if let Some(e) = status.last_error {
                println!("last Stripe error: {e}");
            }
        }
    }
    Ok(())
}

async fn user(store: &Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            email,
            password_stdin,
        } => {
            let password = crate::secret_input::SecretInput::new(password_stdin)
                .new_password("CHATPAY_USER_PASSWORD", "--password-stdin")?;
            let account =
                crate::accounts::create_account(store, &Default::default(), &email, &password).await?;
            println!("added the console account {}", account.email);
        }
    }
    Ok(())
}

async fn workflow(store: &Store, cmd: WorkflowCommand) -> anyhow::Result<()> {
    match cmd {
        WorkflowCommand::Validate { file } => {
            let wf = read_workflow(&file)?;
            println!(
                "{}: valid ({} nodes, starts at '{}')",
                file.display(),
                wf.nodes.len(),
                wf.start
            );
        }
        WorkflowCommand::Import { site, file } => {
            let site = existing_site(store, &site).await?;
            let wf = read_workflow(&file)?;
            let version = store.publish_workflow(&site, &wf).await?;
            println!("published {} as version {version} of site '{site}'; running conversations keep their version", file.display());
        }
        WorkflowCommand::Export { site } => {
            let site = existing_site(store, &site).await?;
            match store.latest_workflow(&site).await? {
                Some(p) => println!("{}", serde_json::to_string_pretty(&p.workflow)?),
                None => bail!("site '{site}' has no workflow yet; publish one with `chatpay workflow import --site {site} FILE`"),
            }
        }
    }
    Ok(())
}

/// Reads and checks a workflow file; every problem is listed with its node and field.
fn read_workflow(file: &std::path::Path) -> anyhow::Result<chatpay_shared::workflow::Workflow> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read '{}'", file.display()))?;
    let wf: chatpay_shared::workflow::Workflow = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a workflow: {e}", file.display()))?;
    let problems = crate::engine::runner::problems(&wf);
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        bail!(
            "{} has {} problem(s):\n{}",
            file.display(),
            problems.len(),
            list.join("\n")
        );
    }
    Ok(wf)
}

/// Whose a new site is: the account `email` names; without one, nobody's before the first
/// account (it takes the sites there are), the one account's while there is one, and a
/// question otherwise (a site no account owns is one nobody sees in the console).
async fn site_owner(store: &Store, email: Option<&str>) -> anyhow::Result<Option<Account>> {
    let accounts = store.accounts().await?;
    let emails = || {
        accounts
            .iter()
            .map(|a| a.email.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match email {
        Some(email) => match accounts.iter().find(|a| a.email.eq_ignore_ascii_case(email.trim())) {
            Some(a) => Ok(Some(a.clone())),
            None if accounts.is_empty() => bail!(
                "no console account '{email}' (there is none yet): create it with `chatpay user add --email {email}`, or leave --owner out and the first account will own the site"
            ),
            None => bail!(
                "no console account '{email}'; the accounts are: {}; or create it with `chatpay user add --email {email}`",
                emails()
            ),
        },
        None => match accounts.as_slice() {
            [] => Ok(None),
            [only] => Ok(Some(only.clone())),
            _ => bail!(
                "there are {} console accounts: say whose site this is with --owner EMAIL (one of: {})",
                accounts.len(),
                emails()
            ),
        },
    }
}

async fn existing_site(store: &Store, id: &str) -> anyhow::Result<SiteId> {
    let site = SiteId::parse(id)?;
    if store.site(&site).await?.is_none() {
        bail!("no site '{site}'; `chatpay site list` shows the sites");
    }
    Ok(site)
}

/// Unix milliseconds as seconds-ago text.
fn when(at_ms: i64) -> String {
    let ago = (crate::store::now_ms() - at_ms) / 1000;
    format!("{ago} s ago")
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(" ")
}

/// What to add when a test key is tested against Stripe itself: a relay started with the
/// simulator (`cargo xtask run`) knows only its own test keys.
fn simulator_hint(livemode: bool, api_base: &str) -> &'static str {
    if !livemode && api_base.trim_end_matches('/') == crate::config::STRIPE_API {
        "\nif this relay runs the Stripe simulator (--stripe-simulator, as `cargo xtask run` does), \
         add --stripe-api-base http://RELAY/simulator/stripe (the relay's own address)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::simulator_hint;

    #[test]
    fn a_test_key_sent_to_stripe_itself_suggests_the_simulator() {
        assert!(simulator_hint(false, "https://api.stripe.com").contains("--stripe-api-base"));
        assert!(simulator_hint(false, "https://api.stripe.com/").contains("/simulator/stripe"));
        assert_eq!(
            simulator_hint(true, "https://api.stripe.com"),
            "",
            "a live key is for Stripe"
        );
        assert_eq!(
            simulator_hint(false, "http://127.0.0.1:8080/simulator/stripe"),
            ""
        );
    }
}
