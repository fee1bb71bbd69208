//! `cargo xtask size`: what a visitor downloads on first open (the loader, the widget's JS,
//! wasm and CSS), raw, gzip (-9) and brotli (q11), against the budget (≤ 90 KB gzip in all,
//! loader ≤ 3 KB gzip), and beside it the embed bundle of a peer doing the same job: the
//! npm package `@typebot.io/js` (`dist/web.js`), fetched from the npm registry into
//! `.tools/peers/`.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::build::{widget, workspace_root};
use crate::tools::Tools;
use crate::{sh, step};

const BUDGET_TOTAL: usize = 90 * 1024;
const BUDGET_LOADER: usize = 3 * 1024;

struct Sizes {
    raw: usize,
    gzip: usize,
    brotli: usize,
}

fn measure(bytes: &[u8]) -> Sizes {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = gz.write_all(bytes);
    let gzip = gz.finish().map(|v| v.len()).unwrap_or(0);
    let mut br = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    let _ = brotli::BrotliCompress(&mut &bytes[..], &mut br, &params);
    Sizes {
        raw: bytes.len(),
        gzip,
        brotli: br.len(),
    }
}

fn kb(n: usize) -> String {
    format!("{:.1} KB", n as f64 / 1024.0)
}

fn row(name: &str, s: &Sizes) {
    println!(
        "  {name:<28} {:>10} {:>10} {:>10}",
        kb(s.raw),
        kb(s.gzip),
        kb(s.brotli)
    );
}

pub fn report(tools: &Tools) -> Result<()> {
    widget(tools, false)?;
    let dist = workspace_root().join("dist").join("widget");
    // The loader as the relay serves it: placeholders become /w/<16 hex>.<ext>.
    let loader = std::fs::read_to_string(dist.join("embed.js"))?
        .replace("__CHATPAY_JS__", "/w/0123456789abcdef.js")
        .replace("__CHATPAY_WASM__", "/w/0123456789abcdef.wasm")
        .replace("__CHATPAY_CSS__", "/w/0123456789abcdef.css");
    let files = [
        ("embed.js (loader)", loader.into_bytes()),
        (
            "chatpay-widget.js",
            std::fs::read(dist.join("chatpay-widget.js"))?,
        ),
        (
            "chatpay-widget_bg.wasm",
            std::fs::read(dist.join("chatpay-widget_bg.wasm"))?,
        ),
        ("widget.css", std::fs::read(dist.join("widget.css"))?),
    ];
    println!();
    println!("chatpay widget, first open (release build, wasm-opt -Oz)");
    println!("  {:<28} {:>10} {:>10} {:>10}", "file", "raw", "gzip", "brotli");
    let mut total = Sizes {
        raw: 0,
        gzip: 0,
        brotli: 0,
    };
    let mut loader_gzip = 0;
    for (i, (name, bytes)) in files.iter().enumerate() {
        let s = measure(bytes);
        if i == 0 {
            loader_gzip = s.gzip;
        }
        row(name, &s);
        total.raw += s.raw;
        total.gzip += s.gzip;
        total.brotli += s.brotli;
    }
    row("total", &total);
    let verdict = |ok: bool| if ok { "within budget" } else { "OVER BUDGET" };
    println!(
        "  budget: total ≤ 90 KB gzip: {} ({}); loader ≤ 3 KB gzip: {} ({})",
        kb(total.gzip),
        verdict(total.gzip <= BUDGET_TOTAL),
        kb(loader_gzip),
        verdict(loader_gzip <= BUDGET_LOADER)
    );

    println!();
    match typebot(tools) {
        Ok((version, bytes)) => {
            let s = measure(&bytes);
            println!("peer: @typebot.io/js {version} (dist/web.js, what its embed loads)");
            row("web.js", &s);
            println!(
                "  ratio chatpay / typebot: raw {:.2}, gzip {:.2}, brotli {:.2}",
                total.raw as f64 / s.raw as f64,
                total.gzip as f64 / s.gzip as f64,
                total.brotli as f64 / s.brotli as f64
            );
        }
        Err(e) => println!("peer: @typebot.io/js could not be measured: {e:#}"),
    }
    Ok(())
}

/// Installs `@typebot.io/js` from npm into `.tools/peers` (once) and reads `dist/web.js`.
fn typebot(tools: &Tools) -> Result<(String, Vec<u8>)> {
    let dir = workspace_root().join(".tools").join("peers");
    let pkg = dir.join("node_modules").join("@typebot.io").join("js");
    if !pkg.join("dist").join("web.js").exists() {
        step("fetching @typebot.io/js from the npm registry for comparison");
        std::fs::create_dir_all(&dir)?;
        sh(tools.command("npm").current_dir(&dir).args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--ignore-scripts",
            "--omit=peer",
            "--prefix",
            ".",
            "@typebot.io/js",
        ]))?;
    }
    let version = version_of(&pkg).unwrap_or_else(|| "?".into());
    let bytes =
        std::fs::read(pkg.join("dist").join("web.js")).context("@typebot.io/js has no dist/web.js")?;
    Ok((version, bytes))
}

fn version_of(pkg: &Path) -> Option<String> {
    let text = std::fs::read_to_string(pkg.join("package.json")).ok()?;
    let at = text.find("\"version\"")?;
    let rest = &text[at + 9..];
    let start = rest.find('"')? + 1;
    let end = rest[start..].find('"')? + start;
    Some(rest[start..end].to_owned())
}
