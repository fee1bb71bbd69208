//! Builds the widget with Trunk (release, wasm-opt -Oz, offline) into `dist/`, skipping the
//! work when nothing it is made from changed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, Result};

use crate::tools::Tools;
use crate::{sh, step};

/// The repository root (the folder above `xtask/`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(Path::to_path_buf).unwrap_or(here)
}

/// Cargo's target folder, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return Ok(if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        });
    }
    Ok(workspace_root().join("target"))
}

/// Builds the widget (only when something it is made from changed, unless `force`).
pub fn widget(tools: &Tools, force: bool) -> Result<()> {
    // Trunk runs at the root: Trunk.toml and index.html (the demo host page) are there.
    app(
        tools,
        force,
        ".",
        &["widget", "shared", "index.html", "Trunk.toml"],
        "the widget",
        &workspace_root()
            .join("dist")
            .join("widget")
            .join("chatpay-widget_bg.wasm"),
    )
}

/// Builds the widget and the console (each only when something it is made from changed).
pub fn apps(tools: &Tools) -> Result<()> {
    widget(tools, false)?;
    app(
        tools,
        false,
        "console",
        &["console", "shared"],
        "the console",
        &workspace_root().join("dist").join("console").join("index.html"),
    )
}

/// Builds one Trunk app by running Trunk in `folder/` (where its Trunk.toml is), whose build
/// writes `output` from `sources` (paths under the root; the lockfile and workspace manifest
/// count for both apps).
fn app(tools: &Tools, force: bool, folder: &str, sources: &[&str], what: &str, output: &Path) -> Result<()> {
    let root = workspace_root();
    let newest_input = sources
        .iter()
        .chain(&["Cargo.lock", "Cargo.toml"])
        .filter_map(|p| newest(&root.join(p)))
        .max();
    let built = std::fs::metadata(output).and_then(|m| m.modified()).ok();
    if !force {
        if let (Some(built), Some(input)) = (built, newest_input) {
            if built >= input {
                step(&format!("{what} is up to date (dist/)"));
                return Ok(());
            }
        }
    }
    step(&format!(
        "building {what} (trunk build --release --offline; wasm-opt -Oz)"
    ));
    sh(tools
        .command("trunk")
        .current_dir(root.join(folder))
        .args(["build", "--release", "--offline"]))
    .with_context(|| format!("building {what} failed"))?;
    // Trunk keeps the mtimes of copied files; mark the build time explicitly.
    let now = SystemTime::now();
    if let Ok(f) = std::fs::File::options().append(true).open(output) {
        let _ = f.set_modified(now);
    }
    Ok(())
}

/// The newest modification time of a file or of any file under a folder.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    let mut best = None;
    for entry in std::fs::read_dir(path).ok()?.flatten() {
        let p = entry.path();
        if p.file_name()
            .is_some_and(|n| n == "target" || n == "node_modules")
        {
            continue;
        }
        best = best.max(newest(&p));
    }
    best
}
