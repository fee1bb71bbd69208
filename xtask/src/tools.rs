//! Finds the pieces the build and the tests need, installing what is missing:
//! the wasm32 target, Trunk 0.21.14, the wasm-bindgen CLI matching Cargo.lock, wasm-opt
//! (npm `binaryen` 132, run through a small shim), and for tests Chromium + ChromeDriver
//! (Debian packages), axe-core (npm) and stripe-python (PyPI, in a virtual environment).
//! Nothing is ever downloaded from outside the package registries.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use crate::build::workspace_root;
use crate::{sh, step};

const TRUNK_VERSION: &str = "0.21.14";
const BINARYEN_VERSION: &str = "132";
/// axe-core, the accessibility checker the browser tests inject into pages.
const AXE_VERSION: &str = "4.14.1";
/// Stripe's own Python SDK, whose `SessionCreateParams` the tests check chatpay's create
/// call against (it pins the API version chatpay speaks).
const STRIPE_PYTHON_VERSION: &str = "16.1.0";

/// Where the found tools are.
#[derive(Debug)]
pub struct Tools {
    /// A PATH with the tool folders first.
    pub path: String,
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
    /// axe-core's browser script (npm `axe-core`), for the accessibility checks.
    pub axe: PathBuf,
    /// A Python with stripe-python (PyPI `stripe`) in `.tools/stripe-python/`.
    pub stripe_python: PathBuf,
}

impl Tools {
    /// Makes sure every tool is there; `browser` adds Chromium and ChromeDriver.
    pub fn ensure(browser: bool) -> Result<Tools> {
        let root = workspace_root();
        let tool_bin = root.join(".tools").join("bin");
        let cargo_bin = cargo_home().join("bin");
        let path = format!(
            "{}:{}:{}",
            tool_bin.display(),
            cargo_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let tools = Tools {
            path,
            chromium: PathBuf::from("/usr/bin/chromium"),
            chromedriver: PathBuf::from("/usr/bin/chromedriver"),
            axe: root
                .join(".tools")
                .join("node_modules")
                .join("axe-core")
                .join("axe.min.js"),
            stripe_python: root
                .join(".tools")
                .join("stripe-python")
                .join("bin")
                .join("python"),
        };
        wasm_target()?;
        tools.trunk()?;
        tools.wasm_bindgen(&root)?;
        tools.wasm_opt(&root)?;
        if browser {
            tools.browser()?;
            tools.npm_packages(&root)?;
            tools.stripe_sdk()?;
        }
        Ok(tools)
    }

    /// A command that sees the installed tools first on its PATH.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("PATH", &self.path);
        c
    }

    fn version_of(&self, program: &str, arg: &str) -> Option<String> {
        let out = self.command(program).arg(arg).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn trunk(&self) -> Result<()> {
        let want = format!("trunk {TRUNK_VERSION}");
        if self.version_of("trunk", "--version").as_deref() == Some(want.as_str()) {
            return Ok(());
        }
        step(&format!(
            "installing Trunk {TRUNK_VERSION} (cargo install, takes a few minutes once)"
        ));
        sh(self
            .command("cargo")
            .args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"]))
    }

    fn wasm_bindgen(&self, root: &Path) -> Result<()> {
        let want = wasm_bindgen_version(root)?;
        let have = self.version_of("wasm-bindgen", "--version");
        if have.as_deref() == Some(format!("wasm-bindgen {want}").as_str()) {
            return Ok(());
        }
        step(&format!(
            "installing wasm-bindgen-cli {want} to match Cargo.lock (cargo install, takes a few minutes once)"
        ));
        // Not --locked: the CLI's own lockfile names a crate version the registry no longer serves.
        sh(self
            .command("cargo")
            .args(["install", "wasm-bindgen-cli", "--version", &want, "--force"]))
    }

    fn wasm_opt(&self, root: &Path) -> Result<()> {
        let tools = root.join(".tools");
        let real = tools
            .join("node_modules")
            .join("binaryen")
            .join("bin")
            .join("wasm-opt");
        let shim = tools.join("bin").join("wasm-opt");
        let want = format!("wasm-opt version {BINARYEN_VERSION}");
        if shim.exists() {
            if let Some(v) = self.version_of(shim.to_str().unwrap_or("wasm-opt"), "--version") {
                if v.starts_with(&want) {
                    return Ok(());
                }
            }
        }
        if !real.exists() {
            self.npm_install(root)?;
        }
        std::fs::create_dir_all(shim.parent().context("shim folder")?)?;
        std::fs::write(
            &shim,
            format!("#!/bin/sh\nexec node \"{}\" \"$@\"\n", real.display()),
        )?;
        make_executable(&shim)?;
        match self.version_of(shim.to_str().unwrap_or("wasm-opt"), "--version") {
            Some(v) if v.starts_with(&want) => Ok(()),
            other => bail!(
                "wasm-opt at {} answers {other:?}, expected '{want}'",
                shim.display()
            ),
        }
    }

    /// The npm packages in `.tools/` (binaryen's wasm-opt, axe-core), installed together:
    /// an install of one without the other would prune it.
    fn npm_install(&self, root: &Path) -> Result<()> {
        if self.version_of("npm", "--version").is_none() {
            bail!("wasm-opt and axe-core come from npm, but npm is missing: install Node.js and npm (apt-get install -y nodejs npm) and run again");
        }
        let tools = root.join(".tools");
        step(&format!(
            "installing npm binaryen@{BINARYEN_VERSION} (wasm-opt) and axe-core@{AXE_VERSION} into .tools/"
        ));
        std::fs::create_dir_all(&tools)?;
        sh(self.command("npm").current_dir(&tools).args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--prefix",
            ".",
            &format!("binaryen@{BINARYEN_VERSION}"),
            &format!("axe-core@{AXE_VERSION}"),
        ]))
    }

    /// axe-core for the browser tests' accessibility checks.
    fn npm_packages(&self, root: &Path) -> Result<()> {
        let pinned = format!("\"version\": \"{AXE_VERSION}\"");
        let installed = std::fs::read_to_string(self.axe.with_file_name("package.json"))
            .is_ok_and(|p| p.contains(&pinned));
        if self.axe.exists() && installed {
            return Ok(());
        }
        self.npm_install(root)?;
        if !self.axe.exists() {
            bail!("axe-core was installed but {} is missing", self.axe.display());
        }
        Ok(())
    }

    /// stripe-python in a virtual environment of its own (PyPI), for the test that checks
    /// chatpay's Checkout Session create call against the SDK's parameter types.
    fn stripe_sdk(&self) -> Result<()> {
        let installed = Command::new(&self.stripe_python)
            .args(["-c", "import stripe; print(stripe.VERSION)"])
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == STRIPE_PYTHON_VERSION
            });
        if installed {
            return Ok(());
        }
        let venv = self
            .stripe_python
            .parent()
            .and_then(Path::parent)
            .context("the stripe-python folder")?;
        step(&format!(
            "installing stripe-python {STRIPE_PYTHON_VERSION} (PyPI `stripe`) into {}",
            venv.display()
        ));
        sh(Command::new("python3").arg("-m").arg("venv").arg(venv)).context(
            "cannot make a Python virtual environment; install python3 with its venv module (apt-get install -y python3-venv)",
        )?;
        sh(Command::new(&self.stripe_python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("stripe=={STRIPE_PYTHON_VERSION}"),
        ]))
    }

    fn browser(&self) -> Result<()> {
        if self.chromium.exists() && self.chromedriver.exists() {
            return Ok(());
        }
        step("installing Chromium and ChromeDriver (Debian packages chromium, chromium-driver)");
        let sudo = if is_root() { vec![] } else { vec!["sudo"] };
        let apt = |args: &[&str]| {
            let mut all = sudo.clone();
            all.push("apt-get");
            all.extend_from_slice(args);
            let mut c = Command::new(all[0]);
            c.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
            sh(&mut c)
        };
        apt(&["update"])?;
        apt(&[
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ])
        .context(
            "cannot install Chromium; install the Debian packages chromium and chromium-driver by hand",
        )?;
        if !(self.chromium.exists() && self.chromedriver.exists()) {
            bail!("Chromium was installed but /usr/bin/chromium or /usr/bin/chromedriver is still missing");
        }
        Ok(())
    }
}

fn wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to add the wasm32 target")?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    step("adding the Rust target wasm32-unknown-unknown (rustup)");
    sh(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// The `wasm-bindgen` version Cargo.lock pins; the CLI must be exactly this.
pub fn wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("cannot read Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_owned());
            }
        }
    }
    bail!("Cargo.lock has no wasm-bindgen entry; run `cargo check -p chatpay-widget` once")
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cargo")
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[cfg(unix)]
fn make_executable(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<()> {
    Ok(())
}
