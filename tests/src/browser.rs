//! Headless Chromium driven through ChromeDriver: the widget on a host page, the console,
//! screenshots and axe-core.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use fantoccini::elements::{Element, ElementRef};
use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

use crate::*;

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
        // Port 0: ChromeDriver takes a free port and says which.
        // In a process group of its own, with the Chromium it starts: ending the group ends
        // them all, even when a failed test drops the browser without closing its session.
        use std::os::unix::process::CommandExt as _;
        let mut driver = Command::new(&chromedriver)
            .process_group(0)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        let stdout = driver.stdout.take().context("chromedriver's stdout")?;
        let port =
            crate::process::announced(stdout, "ChromeDriver was started successfully on port ").await?;
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
        let client = eventually(Duration::from_secs(20), || async {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            Ok(ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
                .map_err(|e| format!("cannot start a Chromium session: {e}")))
        })
        .await?;
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
        eventually(Duration::from_secs(15), || async {
            let v = self
                .in_widget("return root.querySelector(arguments[0]);", vec![json!(css)])
                .await?;
            Ok(v.as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
                .map(|id| Element::from_element_id(self.client.clone(), ElementRef::from(id.to_owned())))
                .ok_or_else(|| format!("no '{css}' in the widget")))
        })
        .await
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
        eventually(Duration::from_secs(15), || async {
            let got = self.widget_texts(css).await?;
            Ok(if got == want {
                Ok(())
            } else {
                Err(format!("'{css}' shows {got:?}, expected {want:?}"))
            })
        })
        .await
    }

    /// Clicks the first element inside the widget matching `css` (retrying while the
    /// widget re-renders it).
    pub async fn click_in_widget(&self, css: &str) -> Result<()> {
        eventually(Duration::from_secs(15), || async {
            let el = self.widget_element(css).await?;
            Ok(el.click().await.map_err(|e| format!("cannot click '{css}': {e}")))
        })
        .await
    }

    /// Waits up to 15 s until the number of elements matching `css` is `n`.
    pub async fn wait_count(&self, css: &str, n: usize) -> Result<()> {
        eventually(Duration::from_secs(15), || async {
            let got = self.widget_texts(css).await?.len();
            Ok(if got == n {
                Ok(())
            } else {
                Err(format!("'{css}' matches {got} elements, expected {n}"))
            })
        })
        .await
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
        eventually(Duration::from_secs(15), || async {
            let text = match self.client.find(fantoccini::Locator::Css(css)).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            Ok(if text.contains(want) {
                Ok(text)
            } else {
                Err(format!("'{css}' says {text:?}, expected it to contain {want:?}"))
            })
        })
        .await
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
        let checkout = eventually(Duration::from_secs(5), || async {
            let now = self.client.windows().await?;
            Ok(now
                .into_iter()
                .find(|w| !before.contains(w))
                .ok_or_else(|| "Pay opened no Checkout tab".to_owned()))
        })
        .await?;
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

    /// The profile folder this browser runs with (every Chromium process of it names it).
    pub fn profile(&self) -> &std::path::Path {
        &self._profile.0
    }

    pub async fn close(self) -> Result<()> {
        let client = self.client.clone();
        client.close().await?;
        Ok(())
    }
}

impl Drop for Browser {
    /// Ends ChromeDriver and every Chromium process it started (its process group).
    fn drop(&mut self) {
        if let Some(group) = rustix::process::Pid::from_raw(self.driver.id() as i32) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
