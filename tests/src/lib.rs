//! Helpers for the end-to-end tests: the real `chatpay` binary in its own process, a host
//! page served from another origin, and headless Chromium driven over WebDriver.
//!
//! Paths come from the environment `cargo xtask test` sets (`CHATPAY_BIN`, `CHATPAY_DIST`,
//! `CHROMEDRIVER`, `CHROMIUM`), with defaults that work after `cargo xtask run`.

pub mod bench;

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use fantoccini::elements::{Element, ElementRef};
use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn env_path(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or(default)
}

/// Where screenshots go: `target/screenshots/` in the repository.
pub fn screenshot_dir() -> PathBuf {
    let dir = workspace_root().join("target").join("screenshots");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A free local port (bound and released; fine for tests on one machine).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A scratch folder removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("chatpay-e2e-{tag}-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A key shared by every relay of a fleet in tests and benches (Stripe secrets are sealed
/// with it).
pub const FLEET_SECRET_KEY: &str = "7f3c2a9b8e1d4f6a0b5c7e9d2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c3d5e7f9a";

/// A fresh PostgreSQL database for one run, at `CHATPAY_TEST_PG_URL`'s server (default the
/// local one); named like the server tests' databases so a killed run's is dropped by their
/// clean-up two hours later. Returns its URL.
pub async fn fresh_postgres() -> Result<String> {
    use sqlx::{Connection as _, Executor as _};
    let admin = std::env::var("CHATPAY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let name = format!("chatpay_t_{secs}_{:08x}", rand::random::<u32>());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {admin} (set CHATPAY_TEST_PG_URL)"))?;
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await?;
    conn.close().await?;
    let (server, _) = admin
        .rsplit_once('/')
        .context("a database URL ending in /DATABASE")?;
    Ok(format!("{server}/{name}"))
}

/// The `chatpay` binary and its database.
pub struct Chatpay {
    pub bin: PathBuf,
    pub database_url: String,
    /// More environment for every process it starts (a fleet's shared key, say).
    pub env: Vec<(String, String)>,
}

impl Chatpay {
    /// The binary `cargo xtask test` built, with a SQLite file in `dir`.
    pub fn new(dir: &Path) -> Result<Chatpay> {
        let bin = env_path(
            "CHATPAY_BIN",
            workspace_root().join("target").join("debug").join("chatpay"),
        );
        if !bin.exists() {
            bail!(
                "no chatpay binary at {}; run the end-to-end tests with `cargo xtask test`",
                bin.display()
            );
        }
        Ok(Chatpay {
            bin,
            database_url: format!("sqlite://{}/chatpay.db", dir.display()),
            env: Vec::new(),
        })
    }

    /// Runs a CLI command to completion and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        self.cli_env(args, &[])
    }

    /// `chatpay site add` with one allowed origin.
    pub fn add_site(&self, id: &str, name: &str, origin: &str) -> Result<()> {
        self.cli(&["site", "add", "--id", id, "--name", name, "--origin", origin])?;
        Ok(())
    }

    /// `chatpay workflow import` of the JSON file at `path` into `site`.
    pub fn import_workflow(&self, site: &str, path: &Path) -> Result<()> {
        let path = path.to_str().context("a workflow path that is UTF-8")?;
        self.cli(&["workflow", "import", "--site", site, path])?;
        Ok(())
    }

    /// Imports the demo workflow the relay ships (`server/assets/demo-workflow.json`).
    pub fn import_demo_workflow(&self, site: &str) -> Result<()> {
        self.import_workflow(site, &workspace_root().join("server/assets/demo-workflow.json"))
    }

    /// `chatpay user add`: an owner who can sign in to the console.
    pub fn add_owner(&self, email: &str, password: &str) -> Result<()> {
        self.cli_env(
            &["user", "add", "--email", email],
            &[("CHATPAY_USER_PASSWORD", password)],
        )?;
        Ok(())
    }

    /// Starts `chatpay serve` on a free port and waits until `/healthz` answers.
    pub async fn serve(&self, extra: &[&str]) -> Result<Relay> {
        self.serve_on(free_port(), extra).await
    }

    /// Starts `chatpay serve` on a given port (to come back on the same one after a kill).
    pub async fn serve_on(&self, port: u16, extra: &[&str]) -> Result<Relay> {
        self.serve_logged(port, extra, None).await
    }

    /// Like [`Chatpay::serve_on`], with the relay's log (warnings and errors) appended to
    /// `log` when given.
    pub async fn serve_logged(&self, port: u16, extra: &[&str], log: Option<&Path>) -> Result<Relay> {
        let dist = env_path("CHATPAY_DIST", workspace_root().join("dist"));
        if !dist.join("widget").join("chatpay-widget_bg.wasm").exists() {
            bail!(
                "the widget is not built in {}; run `cargo xtask test`",
                dist.display()
            );
        }
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .args(["--listen", &listen, "--dist"])
            .arg(&dist)
            .args(extra)
            .env("CHATPAY_DATABASE_URL", &self.database_url)
            .env("CHATPAY_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null());
        // Every visitor of these tests comes from 127.0.0.1: the budgets are set out of
        // their way (a test of the budgets passes its own flags, which win).
        for (var, value) in GENEROUS_BUDGETS {
            cmd.env(var, value);
        }
        if let Some(path) = log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open the log {}", path.display()))?;
            cmd.stderr(file);
        }
        let child = cmd.spawn().context("cannot start chatpay")?;
        let relay = Relay {
            child,
            base: format!("http://{listen}"),
        };
        relay.wait_healthy().await?;
        Ok(relay)
    }

    /// Runs a CLI command with extra environment.
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("CHATPAY_DATABASE_URL", &self.database_url)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output()?;
        if !out.status.success() {
            bail!(
                "chatpay {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Budgets for relays in tests, where every visitor is 127.0.0.1.
pub const GENEROUS_BUDGETS: [(&str, &str); 12] = [
    ("CHATPAY_BUDGET_CONVERSATIONS_PER_IP", "100000/1ms"),
    ("CHATPAY_BUDGET_CONVERSATIONS_PER_SITE", "100000/1ms"),
    ("CHATPAY_BUDGET_MESSAGES_PER_CONVERSATION", "100000/1ms"),
    ("CHATPAY_BUDGET_LINKS_PER_IP", "100000/1ms"),
    ("CHATPAY_BUDGET_LINKS_PER_SITE", "100000/1ms"),
    ("CHATPAY_BUDGET_SOCKETS_PER_IP", "100000"),
    ("CHATPAY_BUDGET_LOOKUPS_PER_PAYMENT", "100000/1ms"),
    ("CHATPAY_BUDGET_LOOKUPS_PER_SITE", "100000/1ms"),
    ("CHATPAY_BUDGET_SIMULATOR_WRITES_PER_IP", "100000/1ms"),
    ("CHATPAY_MAX_CONNECTIONS_PER_IP", "100000"),
    ("CHATPAY_BUDGET_MESSAGES_PER_IP", "100000/1ms"),
    ("CHATPAY_BUDGET_WEBHOOK_FAILURES_PER_IP", "100000/1ms"),
];

/// A running `chatpay serve`; killed on drop.
pub struct Relay {
    pub child: Child,
    pub base: String,
}

impl Relay {
    async fn wait_healthy(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("{}/healthz", self.base);
        while Instant::now() < deadline {
            if let Ok(resp) = reqwest::get(&url).await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("chatpay did not become healthy at {url}")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A host page (any website) on its own port: another origin than the relay.
pub struct HostPage {
    pub origin: String,
    task: tokio::task::JoinHandle<()>,
}

impl HostPage {
    /// Binds a port now so the site's allowed origin can be registered before the page serves.
    pub async fn bind() -> Result<(tokio::net::TcpListener, String)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        Ok((listener, origin))
    }

    /// Serves `html` at `/` on the bound listener, and a page without the widget at
    /// [`HostPage::blank`] (same origin: its storage is the widget's).
    pub fn serve(listener: tokio::net::TcpListener, origin: String, html: String) -> HostPage {
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || {
                    let html = html.clone();
                    async move { axum::response::Html(html) }
                }),
            )
            .route(
                "/blank",
                axum::routing::get(|| async { axum::response::Html("<!doctype html><title>blank</title>") }),
            );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HostPage { origin, task }
    }

    /// The host origin's page without the widget.
    pub fn blank(&self) -> String {
        format!("{}/blank", self.origin)
    }

    /// A plain shop page with the chatpay script tag.
    pub fn shop_html(relay: &str, site: &str, extra_head: &str) -> String {
        format!(
            "<!doctype html><html><head><meta charset=utf-8><title>Host shop</title>{extra_head}</head>\
             <body><h1>A host shop</h1><p>Products and prices.</p>\
             <script async src=\"{relay}/embed.js\" data-site=\"{site}\"></script></body></html>"
        )
    }
}

impl Drop for HostPage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Headless Chromium driven through ChromeDriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: Scratch,
}

impl Browser {
    pub async fn start() -> Result<Browser> {
        let chromedriver = env_path("CHROMEDRIVER", PathBuf::from("/usr/bin/chromedriver"));
        let chromium = env_path("CHROMIUM", PathBuf::from("/usr/bin/chromium"));
        for (what, p) in [("chromedriver", &chromedriver), ("chromium", &chromium)] {
            if !p.exists() {
                bail!("{what} is not at {}; `cargo xtask test` installs it (Debian packages chromium, chromium-driver)", p.display());
            }
        }
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        let profile = Scratch::new("profile");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-quic", "--disable-dev-shm-usage", "--window-size=1100,800",
                    format!("--user-data-dir={}", profile.0.display()),
                ]
            }
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => {
                    return Err(anyhow!("cannot start a Chromium session: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Ok(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Runs `script` with the widget's shadow root as `root` and returns its value.
    pub async fn in_widget(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        let body = format!(
            "const host = document.getElementById('chatpay'); const root = host && host.shadowRoot; \
             if (!root) return null; {script}"
        );
        Ok(self.client.execute(&body, args).await?)
    }

    /// The first element inside the widget matching `css`, waiting up to 15 s.
    pub async fn widget_element(&self, css: &str) -> Result<Element> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self
                .in_widget("return root.querySelector(arguments[0]);", vec![json!(css)])
                .await?;
            if let Some(id) = v
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
            {
                return Ok(Element::from_element_id(
                    self.client.clone(),
                    ElementRef::from(id.to_owned()),
                ));
            }
            if Instant::now() > deadline {
                bail!("no '{css}' in the widget after 15 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The texts of all elements matching `css` inside the widget.
    pub async fn widget_texts(&self, css: &str) -> Result<Vec<String>> {
        let v = self
            .in_widget(
                "return Array.from(root.querySelectorAll(arguments[0])).map(e => e.textContent);",
                vec![json!(css)],
            )
            .await?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }

    /// Waits up to 15 s until the texts matching `css` equal `want`.
    pub async fn wait_texts(&self, css: &str, want: &[&str]) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.widget_texts(css).await?;
            if got == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("'{css}' shows {got:?}, expected {want:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the first element inside the widget matching `css` (retrying while the
    /// widget re-renders it).
    pub async fn click_in_widget(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let el = self.widget_element(css).await?;
            match el.click().await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e.into()),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits up to 15 s until the number of elements matching `css` is `n`.
    pub async fn wait_count(&self, css: &str, n: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.widget_texts(css).await?.len();
            if got == n {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("'{css}' matches {got} elements, expected {n}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first page element matching `css` (outside any shadow root), waiting up to 15 s.
    pub async fn find(&self, css: &str) -> Result<Element> {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .with_context(|| format!("no '{css}' on the page after 15 s"))
    }

    /// Waits up to 15 s until the text of the page element `css` contains `want`.
    pub async fn wait_page_text(&self, css: &str, want: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = match self.client.find(fantoccini::Locator::Css(css)).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(want) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                bail!("'{css}' says {text:?}, expected it to contain {want:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Replaces the value of the input `css` by typing, as a person would: select all,
    /// delete, then `text` (so the page sees input events, which a plain clear does not send).
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let el = self.find(css).await?;
        // Ctrl+A, release the modifier, Backspace.
        el.send_keys("\u{E009}a\u{E000}\u{E003}").await?;
        if !text.is_empty() {
            el.send_keys(text).await?;
        }
        Ok(())
    }

    /// Signs in to the console at `base` and waits for the list of sites.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) -> Result<()> {
        self.client.goto(&format!("{base}/console/#/login")).await?;
        self.type_into("input[name=email]", email).await?;
        self.type_into("input[name=password]", password).await?;
        self.find("#sign-in").await?.click().await?;
        self.find(".site-card").await?;
        Ok(())
    }

    /// Opens the chat on the host page at `origin`, answers the demo workflow's question
    /// with `need` and waits until its payment card shows as Pending.
    pub async fn demo_chat_to_the_card(&self, origin: &str, need: &str) -> Result<()> {
        self.client.goto(origin).await?;
        self.click_in_widget(".cp-launch:not(.cp-boot)").await?;
        self.wait_texts(
            ".cp-bot .cp-bubble",
            &[
                "Hi! I'm the chatpay demo bot.",
                "What do you need help with today?",
            ],
        )
        .await?;
        let input = self.widget_element("textarea").await?;
        input.send_keys(need).await?;
        input.send_keys("\u{E007}").await?;
        // Pending, in whatever language the widget speaks.
        self.wait_count(".cp-card .cp-chip.cp-pending", 1).await?;
        Ok(())
    }

    /// Clicks the widget card's Pay, pays in the Checkout tab it opens and waits for the
    /// success page. Leaves that tab current and returns the window it started from.
    pub async fn pay_in_checkout(&self) -> Result<WindowHandle> {
        let me = self.client.window().await?;
        let before = self.client.windows().await?;
        self.click_in_widget("a.cp-pay").await?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let checkout = loop {
            let now = self.client.windows().await?;
            if let Some(w) = now.into_iter().find(|w| !before.contains(w)) {
                break w;
            }
            if Instant::now() > deadline {
                bail!("Pay opened no Checkout tab within 5 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        self.client.switch_to_window(checkout).await?;
        self.find("#pay").await?.click().await?;
        self.find("h1.ok").await?;
        Ok(me)
    }

    /// Runs axe-core (what `cargo xtask test` installs, `CHATPAY_AXE`) on the page, or only
    /// inside `within` (a CSS selector; a shadow host includes its shadow tree), and returns
    /// its serious and critical violations, one line each: rule, help, and where.
    pub async fn accessibility_problems(&self, within: Option<&str>) -> Result<Vec<String>> {
        let loaded = self
            .client
            .execute("return typeof window.axe !== 'undefined';", vec![])
            .await?;
        if loaded != Value::Bool(true) {
            let path = env_path(
                "CHATPAY_AXE",
                workspace_root().join(".tools/node_modules/axe-core/axe.min.js"),
            );
            let script = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "axe-core is not at {}; run the tests with `cargo xtask test`",
                    path.display()
                )
            })?;
            self.client
                .execute(&format!("{script}\nreturn true;"), vec![])
                .await?;
        }
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 const context = arguments[0] ? { include: [[arguments[0]]] } : document; \
                 axe.run(context, { resultTypes: ['violations'] }) \
                   .then(r => done(r.violations \
                     .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                     .map(v => v.id + ': ' + v.help + ' at ' + v.nodes.map(n => JSON.stringify(n.target) + ' ' + n.html.slice(0, 160)).join(', ')))) \
                   .catch(e => done(['axe failed: ' + e]));",
                vec![json!(within)],
            )
            .await?;
        Ok(found
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }

    /// Saves a PNG of the window under `target/screenshots/NAME.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    pub async fn close(mut self) -> Result<()> {
        let client = self.client.clone();
        client.close().await?;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A visitor's socket speaking the shared protocol, as a test sees it.
pub mod visitor {
    use std::time::Duration;

    use anyhow::{bail, Context as _, Result};
    use chatpay_shared::protocol::{ClientFrame, ServerFrame};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    pub struct Visitor {
        ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    }

    impl Visitor {
        /// Opens `/ws?site=…` with `origin` and says Hello; returns the socket and Welcome.
        pub async fn connect(
            base: &str,
            site: &str,
            origin: &str,
            token: Option<&str>,
            last_seq: Option<u64>,
        ) -> Result<(Visitor, ServerFrame)> {
            let url = format!("{}/ws?site={site}", base.replacen("http", "ws", 1));
            let mut req = url.into_client_request()?;
            req.headers_mut().insert("origin", origin.parse()?);
            let (ws, _) = tokio_tungstenite::connect_async(req).await.context("socket")?;
            let mut v = Visitor { ws };
            v.send(&ClientFrame::Hello {
                site: site.into(),
                visitor_token: token.map(str::to_owned),
                last_seq,
                lang: None,
            })
            .await?;
            let welcome = v.recv(Duration::from_secs(10)).await?.context("no Welcome")?;
            Ok((v, welcome))
        }

        /// Like [`Visitor::connect`], from the local address `from` (another client, as far
        /// as the relay can tell: loopback has all of 127.0.0.0/8).
        pub async fn connect_from(
            base: &str,
            site: &str,
            origin: &str,
            token: Option<&str>,
            from: std::net::IpAddr,
        ) -> Result<(Visitor, ServerFrame)> {
            let url = format!("{}/ws?site={site}", base.replacen("http", "ws", 1));
            let mut req = url.into_client_request()?;
            req.headers_mut().insert("origin", origin.parse()?);
            let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse()?;
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(std::net::SocketAddr::new(from, 0))?;
            let stream = socket.connect(addr).await?;
            let (ws, _) =
                tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(stream))
                    .await
                    .context("socket")?;
            let mut v = Visitor { ws };
            v.send(&ClientFrame::Hello {
                site: site.into(),
                visitor_token: token.map(str::to_owned),
                last_seq: None,
                lang: None,
            })
            .await?;
            let welcome = v.recv(Duration::from_secs(10)).await?.context("no Welcome")?;
            Ok((v, welcome))
        }

        pub async fn send(&mut self, frame: &ClientFrame) -> Result<()> {
            self.ws.send(Message::text(serde_json::to_string(frame)?)).await?;
            Ok(())
        }

        /// The next frame within `wait`; `None` on timeout or close.
        pub async fn recv(&mut self, wait: Duration) -> Result<Option<ServerFrame>> {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let Ok(next) = tokio::time::timeout_at(deadline, self.ws.next()).await else {
                    return Ok(None);
                };
                match next {
                    Some(Ok(Message::Text(t))) => return Ok(Some(serde_json::from_str(t.as_str())?)),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(None),
                    Some(Ok(_)) => continue,
                }
            }
        }

        /// Frames until one satisfies `last` (included), within 15 s.
        pub async fn until(&mut self, last: impl Fn(&ServerFrame) -> bool) -> Result<Vec<ServerFrame>> {
            let mut got = Vec::new();
            loop {
                match self.recv(Duration::from_secs(15)).await? {
                    Some(f) => {
                        let done = last(&f);
                        got.push(f);
                        if done {
                            return Ok(got);
                        }
                    }
                    None => bail!("the expected frame never came; got {got:#?}"),
                }
            }
        }

        /// Everything that arrives within `quiet`.
        pub async fn drain(&mut self, quiet: Duration) -> Result<Vec<ServerFrame>> {
            let mut got = Vec::new();
            while let Some(f) = self.recv(quiet).await? {
                got.push(f);
            }
            Ok(got)
        }
    }
}

/// Stripe's webhook signature (the official algorithm: HMAC-SHA256 of "{t}.{body}").
pub fn stripe_signature(body: &str, secret: &str, t: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Registers a webhook endpoint for `site` at the relay's simulator and connects the site
/// with `key` and the endpoint's secret, like an owner would in Stripe's dashboard.
/// Returns the endpoint's signing secret.
pub async fn connect_with_simulator(
    chatpay: &Chatpay,
    relay: &Relay,
    site: &str,
    key: &str,
) -> Result<String> {
    let resp: Value = reqwest::Client::new()
        .post(format!("{}/simulator/stripe/v1/webhook_endpoints", relay.base))
        .bearer_auth(key)
        .form(&[
            ("url", format!("{}/webhooks/stripe/{site}", relay.base)),
            ("enabled_events[0]", "*".to_owned()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let secret = resp["secret"]
        .as_str()
        .context("no webhook secret from the simulator")?
        .to_owned();
    let base = format!("{}/simulator/stripe", relay.base);
    chatpay.cli_env(
        &["stripe", "connect", "--site", site],
        &[
            ("CHATPAY_STRIPE_API_BASE", &base),
            ("CHATPAY_STRIPE_SECRET_KEY", key),
            ("CHATPAY_STRIPE_WEBHOOK_SECRET", &secret),
        ],
    )?;
    Ok(secret)
}

impl Relay {
    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Posts a Stripe event to a relay's webhook route for `site`, signed now with `whsec` as
/// Stripe would; the status, or `None` when the relay did not answer within 5 s.
pub async fn deliver_event(
    http: &reqwest::Client,
    base: &str,
    site: &str,
    whsec: &str,
    event: &Value,
) -> Option<u16> {
    let body = event.to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    http.post(format!("{base}/webhooks/stripe/{site}"))
        .header("stripe-signature", stripe_signature(&body, whsec, now))
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// The most recent events (at most 100) of the Stripe account `key` at the API base `api`
/// (a simulator's `…/simulator/stripe`); none when it does not answer.
pub async fn stripe_events(http: &reqwest::Client, api: &str, key: &str) -> Vec<Value> {
    let Ok(resp) = http
        .get(format!("{api}/v1/events?limit=100"))
        .bearer_auth(key)
        .send()
        .await
    else {
        return Vec::new();
    };
    resp.json::<Value>()
        .await
        .ok()
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default()
}
