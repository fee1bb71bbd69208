//! `cargo xtask`: the project's entry points.
//!
//! - `cargo xtask run`: install what is missing, build the widget, the console and the relay, start
//!   `chatpay` on 127.0.0.1:8080 with the demo site, and print the demo page's URL.
//! - `cargo xtask test`: install what is missing (Chromium too), then fmt, clippy, and every
//!   test against SQLite and PostgreSQL, browser end-to-end tests included.
//! - `cargo xtask bench`: webhook → visitor-frame latency and webhooks/s (release, SQLite);
//!   `--abuse`: the same while one client floods; `--sockets`: what idle visitors cost and how
//!   a relay restart goes.
//! - `cargo xtask size`: the widget's download, file by file, beside Typebot's embed bundle.
//! - `cargo xtask widget`: only build the widget into `dist/`.
//! - `cargo xtask deps`: the dependency check `test` runs (unused crates, duplicated ones).
//!
//! Modules: [`tools`] installs and finds the toolchain pieces; [`build`] builds the widget and the console;
//! [`pg`] finds (or starts) PostgreSQL for the tests; [`deps`] checks the dependency tree.

mod build;
mod deps;
mod pg;
mod size;
mod tools;

use std::process::{Command, ExitCode};

use anyhow::{bail, Context as _, Result};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("size") => tools::Tools::ensure(false).and_then(|t| size::report(&t)),
        Some("widget") => tools::Tools::ensure(false).and_then(|t| build::widget(&t, true)),
        Some("apps") => tools::Tools::ensure(false).and_then(|t| build::apps(&t)),
        Some("deps") => deps::check(),
        Some("help") | Some("--help") | Some("-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command '{other}'\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>

  run [--listen ADDR]   build everything and start chatpay with the demo site (default 127.0.0.1:8080)
  test                  fmt, clippy and every test (SQLite, PostgreSQL, headless Chromium)
  bench [--latency N] [--throughput N] [--postgres [--relays 2]]
                        webhook → visitor frame latency and webhooks/s on SQLite (release build);
                        on a fresh PostgreSQL database; with two relays, visitors on one and
                        webhooks to the other
  bench --abuse [--payments N]
                        the same latency while one client floods (conversations, messages,
                        silent connections, heavy webhooks), /healthz, refusals per flood
  bench --sockets [N]   N idle visitor sockets (default 10,000): memory per socket, open rate,
                        latency with all connected, then kill -9 and every socket coming back
  size                  what a visitor downloads (raw / gzip / brotli), beside Typebot's embed
  widget                build the widget into dist/ only
  apps                  build the widget and the console into dist/ (each only if changed)
  deps                  offline: no unused dependency, no crate in two versions unless
                        xtask/duplicates.txt says why";

/// Prints a step so a first run that takes minutes says what it is doing.
pub fn step(what: &str) {
    println!("==> {what}");
}

/// Runs a command, failing with its name when it fails.
pub fn sh(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(args: &[String]) -> Result<()> {
    let mut listen = "127.0.0.1:8080".to_owned();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--listen" => {
                listen = it
                    .next()
                    .context("--listen needs an address like 127.0.0.1:8080")?
                    .clone()
            }
            other => bail!("unknown option '{other}' for run\n\n{USAGE}"),
        }
    }
    let tools = tools::Tools::ensure(false)?;
    build::apps(&tools)?;
    step("building the relay (cargo build -p chatpay-server)");
    sh(cargo().args(["build", "--quiet", "-p", "chatpay-server", "--bin", "chatpay"]))?;
    let bin = build::target_dir()?.join("debug").join("chatpay");
    step(&format!("starting chatpay on {listen} (Ctrl-C stops it)"));
    let root = build::workspace_root();
    let status = Command::new(&bin)
        .current_dir(&root)
        .args(["serve", "--demo", "--stripe-simulator", "--listen", &listen])
        .env("CHATPAY_DIST", root.join("dist"))
        .status()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    if !status.success() {
        bail!("chatpay exited with {status}");
    }
    Ok(())
}

fn bench(args: &[String]) -> Result<()> {
    let root = build::workspace_root();
    step("building the relay and the bench in release (cargo build --release)");
    sh(cargo().current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "chatpay-server",
        "--bin",
        "chatpay",
        "-p",
        "chatpay-e2e",
        "--bin",
        "webhook-bench",
        "--bin",
        "abuse-bench",
        "--bin",
        "sockets-bench",
    ]))?;
    let target = build::target_dir()?.join("release");
    let (bench, args): (&str, Vec<&String>) = if args.iter().any(|a| a == "--abuse") {
        step("running the abuse bench (one client flooding while real visitors pay)");
        ("abuse-bench", args.iter().filter(|a| *a != "--abuse").collect())
    } else if args.iter().any(|a| a == "--sockets") {
        step("running the sockets bench (idle visitors, then a relay restart)");
        ("sockets-bench", args.iter().collect())
    } else {
        step("running the webhook bench");
        ("webhook-bench", args.iter().collect())
    };
    sh(Command::new(target.join(bench))
        .current_dir(&root)
        .arg("--bin")
        .arg(target.join("chatpay"))
        .args(args))
}

fn test(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("unknown option '{a}' for test\n\n{USAGE}");
    }
    let tools = tools::Tools::ensure(true)?;
    let root = build::workspace_root();

    step("cargo fmt --check");
    sh(cargo().current_dir(&root).args(["fmt", "--all", "--", "--check"]))
        .context("code is not formatted; run `cargo fmt --all`")?;

    step("cargo clippy (native, all targets) with -D warnings");
    sh(cargo().current_dir(&root).args([
        "clippy",
        "--quiet",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("dependencies: none unused, no unlisted duplicate (offline)");
    deps::check()?;

    step("cargo clippy (widget and console for wasm32) with -D warnings");
    sh(cargo().current_dir(&root).args([
        "clippy",
        "--quiet",
        "-p",
        "chatpay-widget",
        "-p",
        "chatpay-console",
        "--target",
        "wasm32-unknown-unknown",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;

    build::apps(&tools)?;

    let pg_url = pg::ensure()?;

    step("building the relay binary for the end-to-end tests");
    sh(cargo()
        .current_dir(&root)
        .args(["build", "--quiet", "-p", "chatpay-server", "--bin", "chatpay"]))?;

    step("cargo test (unit, integration on SQLite and PostgreSQL, browser end-to-end)");
    let target = build::target_dir()?;
    sh(cargo()
        .current_dir(&root)
        .args([
            "test",
            "--workspace",
            "--exclude",
            "chatpay-widget",
            "--exclude",
            "chatpay-console",
        ])
        .env("CHATPAY_TEST_PG_URL", &pg_url)
        .env("CHATPAY_BIN", target.join("debug").join("chatpay"))
        .env("CHATPAY_DIST", root.join("dist"))
        .env("CHROMEDRIVER", &tools.chromedriver)
        .env("CHROMIUM", &tools.chromium)
        .env("CHATPAY_AXE", &tools.axe)
        .env("CHATPAY_STRIPE_PYTHON", &tools.stripe_python))?;

    step("console unit tests (native: the editor's draft reducer)");
    sh(cargo()
        .current_dir(&root)
        .args(["test", "--quiet", "-p", "chatpay-console", "--lib"]))?;

    step("widget component tests in headless Chromium (wasm-bindgen-test)");
    sh(tools
        .command("cargo")
        .current_dir(&root)
        .args([
            "test",
            "-p",
            "chatpay-widget",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .env("CHROMEDRIVER", &tools.chromedriver))?;

    println!("\nall checks passed");
    Ok(())
}
