//! The browser tests leave no process behind: a test that fails (an assertion, a `?`) drops
//! its browser without closing the WebDriver session, and killing ChromeDriver alone left
//! Chromium and its helpers running, one set per failed or dropped test, past the end of
//! `cargo xtask test`.

use std::time::Duration;

use chatpay_e2e::{eventually, Browser};

/// The processes whose command line names `needle`.
fn processes_naming(needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_dropped_without_closing_leaves_no_process() -> anyhow::Result<()> {
    let browser = Browser::start().await?;
    browser.client.goto("about:blank").await?;
    let profile = browser.profile().display().to_string();
    assert!(
        !processes_naming(&profile).is_empty(),
        "Chromium runs with {profile}"
    );

    // What a failing test does: no close(), only the drop.
    drop(browser);

    eventually(Duration::from_secs(10), || async {
        let left = processes_naming(&profile);
        Ok(if left.is_empty() {
            Ok(())
        } else {
            Err(format!("Chromium processes left behind: {left:?}"))
        })
    })
    .await
}
