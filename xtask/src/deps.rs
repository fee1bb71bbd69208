//! The dependency check `cargo xtask test` runs, from `Cargo.lock` and the sources (after a
//! `cargo fetch`, the metadata is read offline):
//!
//! - **unused**: every dependency a member's `Cargo.toml` names is used by its sources (its
//!   crate name appears in a `.rs` file of the member), so a left-over line cannot keep a
//!   crate, and its build time, in the tree;
//! - **duplicates**: a crate linked in two versions is listed, with the reason, in
//!   `xtask/duplicates.txt`; a new one fails the check (pick one version, or say why not
//!   there), and one that is no longer duplicated asks for its line to go.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::build::workspace_root;

/// Runs both checks; the error names every problem.
pub fn check() -> Result<()> {
    let root = workspace_root();
    // Metadata reads every crate of the lock, those of other platforms and cfgs too (a
    // build downloads only what it compiles): fetch them first, from the registry.
    crate::sh(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args(["fetch", "--locked", "--quiet"]),
    )?;
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout).context("cargo metadata's answer is not JSON")?;
    let mut problems = unused(&meta)?;
    let allowed = std::fs::read_to_string(root.join("xtask").join("duplicates.txt"))
        .context("cannot read xtask/duplicates.txt")?;
    problems.extend(duplicates(&meta, &allowed));
    if problems.is_empty() {
        println!("    dependencies: none unused, no unlisted duplicate");
        Ok(())
    } else {
        bail!("dependency check:\n  - {}", problems.join("\n  - "))
    }
}

/// Dependencies a member names and never uses.
fn unused(meta: &Value) -> Result<Vec<String>> {
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .context("no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut problems = Vec::new();
    for package in meta["packages"].as_array().context("no packages")? {
        if !members.contains(package["id"].as_str().unwrap_or_default()) {
            continue;
        }
        let manifest = Path::new(package["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().context("a manifest without a folder")?;
        let mut text = String::new();
        read_rust(dir, &mut text);
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let name = dep["rename"]
                .as_str()
                .or(dep["name"].as_str())
                .unwrap_or_default()
                .replace('-', "_");
            if !mentions(&text, &name) {
                problems.push(format!(
                    "{} depends on '{}' but its sources never use it: remove the line from {}",
                    package["name"].as_str().unwrap_or_default(),
                    dep["name"].as_str().unwrap_or_default(),
                    manifest.display()
                ));
            }
        }
    }
    Ok(problems)
}

/// Every `.rs` file under `dir` (build outputs left out), appended to `out`.
fn read_rust(dir: &Path, out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != "node_modules" && name != "dist" {
                read_rust(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            if let Ok(text) = std::fs::read_to_string(&path) {
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
}

/// Whether `ident` appears in `text` as a whole word.
fn mentions(text: &str, ident: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(ident).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + ident.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// Crates linked in more than one version that `allowed` (lines `name: why`) does not list,
/// and listed ones that are no longer duplicated.
fn duplicates(meta: &Value, allowed: &str) -> Vec<String> {
    let listed: BTreeSet<&str> = allowed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let resolved: BTreeSet<&str> = meta["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str())
        .collect();
    for package in meta["packages"].as_array().into_iter().flatten() {
        if resolved.contains(package["id"].as_str().unwrap_or_default()) {
            versions
                .entry(package["name"].as_str().unwrap_or_default())
                .or_default()
                .insert(package["version"].as_str().unwrap_or_default());
        }
    }
    let doubled: BTreeMap<&str, Vec<&str>> = versions
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(n, v)| (n, v.into_iter().collect()))
        .collect();
    let mut problems = Vec::new();
    for (name, v) in &doubled {
        if !listed.contains(name) {
            problems.push(format!(
                "'{name}' is linked in {} versions ({}): make the tree agree on one (`cargo tree -i {name}@VERSION` shows who pulls each), or list it with the reason in xtask/duplicates.txt",
                v.len(),
                v.join(", ")
            ));
        }
    }
    for name in listed {
        if !doubled.contains_key(name) {
            problems.push(format!(
                "'{name}' is listed in xtask/duplicates.txt but is linked in one version now: remove its line"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crate_name_counts_as_a_whole_word_only() {
        assert!(mentions("use sha2::Sha256;", "sha2"));
        assert!(!mentions("use sha2::Sha256;", "sha"));
        assert!(!mentions("let subtle_thing = 1;", "subtle"));
        assert!(mentions("x\nsubtle::ConstantTimeEq", "subtle"));
    }

    #[test]
    fn new_and_stale_duplicates_are_named() {
        let meta = serde_json::json!({
            "resolve": {"nodes": [{"id": "a1"}, {"id": "a2"}, {"id": "b1"}]},
            "packages": [
                {"id": "a1", "name": "brotli", "version": "8.0.0"},
                {"id": "a2", "name": "brotli", "version": "9.0.0"},
                {"id": "b1", "name": "gloo", "version": "0.8.1"},
                {"id": "b2", "name": "gloo", "version": "0.10.0"}
            ]
        });
        let problems = duplicates(&meta, "# why\ngloo: Yew 0.21 and its router\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("'brotli' is linked in 2 versions (8.0.0, 9.0.0)"));
        assert!(problems[1].contains("'gloo' is listed"));
    }
}
