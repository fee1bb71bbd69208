//! The `chatpay` binary in its own process: its database (SQLite in a scratch folder, or a
//! fresh PostgreSQL database), the CLI, `serve` with test budgets, and kill -9.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use crate::*;

/// A free local port, bound and released (so another process could take it first). Only for
/// two processes that must each know the other's address before starting (the chaos test's
/// relay and its Stripe): the relay and ChromeDriver are otherwise started on port 0 and say
/// which port they took ([`Relay::port`]).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A scratch folder (its path, and the `tempfile` folder that removes it on drop).
pub struct Scratch(
    pub PathBuf,
    // Held for its drop, which removes the folder.
    #[allow(dead_code)] tempfile::TempDir,
);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("chatpay-e2e-{tag}-"))
            .tempdir()
            .expect("scratch folder");
        Scratch(dir.path().to_owned(), dir)
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

    /// Starts `chatpay serve` on a port the system picks and waits until `/healthz` answers.
    pub async fn serve(&self, extra: &[&str]) -> Result<Relay> {
        self.serve_on(0, extra).await
    }

    /// Starts `chatpay serve` on a given port (0: one the system picks; a relay's
    /// [`Relay::port`] to come back on the same one after a kill).
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
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}"), "--dist"])
            .arg(&dist)
            .args(extra)
            .env("CHATPAY_DATABASE_URL", &self.database_url)
            .env("CHATPAY_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped());
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
        let mut child = cmd.spawn().context("cannot start chatpay")?;
        let stdout = child.stdout.take().context("the relay's stdout")?;
        let (addr, said) = announced_keeping(stdout, "chatpay is listening on ").await?;
        let mut relay = Relay {
            child,
            base: format!("http://{addr}"),
            said,
        };
        if let Err(e) = relay.wait_healthy().await {
            bail!("{e:#}\n{}", relay.why_not_started(log));
        }
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

/// Reads a child's output until a line starts with `marker` and returns the rest of that
/// line (without a final '.'); what follows is read (and kept, see [`announced_keeping`])
/// until the child exits, so it never blocks on a full pipe. How the relay and ChromeDriver, started on port 0, say which
/// port they took.
pub(crate) async fn announced(stdout: std::process::ChildStdout, marker: &'static str) -> Result<String> {
    Ok(announced_keeping(stdout, marker).await?.0)
}

/// [`announced`], and every line the process writes to stdout from then on.
pub(crate) async fn announced_keeping(
    stdout: std::process::ChildStdout,
    marker: &'static str,
) -> Result<(String, Said)> {
    use std::io::BufRead as _;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let said = Said::default();
    let keep = Said::clone(&said);
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines().map_while(Result::ok);
        let found = lines.by_ref().find_map(|l| {
            l.strip_prefix(marker)
                .map(|rest| rest.trim_end_matches('.').to_owned())
        });
        let _ = tx.send(found);
        for line in lines {
            if let Ok(mut k) = keep.lock() {
                k.push(line);
            }
        }
    });
    let found = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .with_context(|| format!("no \"{marker}…\" line in 30 s"))?
        .ok()
        .flatten()
        .with_context(|| format!("the process exited without saying \"{marker}…\" (its stderr says why)"))?;
    Ok((found, said))
}

/// Lines a process wrote to stdout.
pub type Said = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A running `chatpay serve`; killed on drop.
pub struct Relay {
    pub child: Child,
    pub base: String,
    /// What it wrote to stdout after saying where it listens.
    pub said: Said,
}

impl Relay {
    /// Waits up to 20 s for `/healthz`; a relay that exits meanwhile is not waited for.
    async fn wait_healthy(&mut self) -> Result<()> {
        let url = format!("{}/healthz", self.base);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = reqwest::get(&url).await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                bail!("chatpay exited before it became healthy at {url}");
            }
            if std::time::Instant::now() > deadline {
                bail!("chatpay did not become healthy at {url} (waited 20 s)");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Relay {
    /// What a relay that did not become healthy left behind: whether it exited (and how),
    /// and the last lines of its log, so a failed start says why.
    fn why_not_started(&mut self, log: Option<&Path>) -> String {
        let exited = match self.child.try_wait() {
            Ok(Some(status)) => format!("the relay exited ({status})"),
            Ok(None) => "the relay is still running but does not answer /healthz".to_owned(),
            Err(e) => format!("cannot tell whether the relay runs: {e}"),
        };
        let tail = match log.map(std::fs::read_to_string) {
            Some(Ok(text)) => {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(LOG_TAIL);
                format!("; the last lines of its log:\n{}", lines[from..].join("\n"))
            }
            Some(Err(e)) => format!("; its log cannot be read: {e}"),
            None => "; its log went to this test's stderr".to_owned(),
        };
        format!("{exited}{tail}")
    }
}

/// How many lines of a relay's log a failed start prints.
const LOG_TAIL: usize = 30;

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Relay {
    /// The port it listens on (to start it again on the same one after a kill).
    pub fn port(&self) -> u16 {
        self.base
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("a relay's base ends in its port")
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
