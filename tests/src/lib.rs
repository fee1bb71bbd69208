//! Helpers for the end-to-end tests: the real `chatpay` binary in its own process, a host
//! page served from another origin, and headless Chromium driven over WebDriver.
//!
//! Paths come from the environment `cargo xtask test` sets (`CHATPAY_BIN`, `CHATPAY_DIST`,
//! `CHROMEDRIVER`, `CHROMIUM`), with defaults that work after `cargo xtask run`.

//!
//! - [`process`]: the binary, its database, `serve`, kill -9.
//! - [`host_page`]: a page of another origin that embeds the widget.
//! - [`browser`]: headless Chromium over WebDriver.
//! - [`visitor`]: a visitor's socket speaking the shared protocol.
//! - [`stripe`]: signed webhooks and the simulator's Stripe.
//! - [`bench`]: what the benches share.

pub mod bench;
pub mod browser;
pub mod host_page;
pub mod process;
pub mod stripe;
pub mod visitor;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use browser::Browser;
pub use host_page::HostPage;
pub use process::{free_port, fresh_postgres, Chatpay, Relay, Scratch, FLEET_SECRET_KEY, GENEROUS_BUDGETS};
pub use stripe::{connect_with_simulator, deliver_event, stripe_events, stripe_signature};

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

/// Tries `attempt` every 100 ms until it succeeds, for at most `within`. An attempt answers
/// `Ok(Ok(value))` (done), `Ok(Err(what_it_saw))` (not yet; said in the error if time runs
/// out) or `Err` (a failure that waiting cannot mend, returned at once).
pub async fn eventually<T, F, Fut>(within: Duration, mut attempt: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Result<T, String>>>,
{
    let deadline = Instant::now() + within;
    loop {
        match attempt().await? {
            Ok(value) => return Ok(value),
            Err(saw) if Instant::now() > deadline => {
                anyhow::bail!("{saw} (waited {} s)", within.as_secs())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
