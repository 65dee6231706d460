//! Project tasks.
//!
//! - `cargo xtask codegen` regenerates files derived from sources: the reference pages in
//!   `docs/reference/` from the JSON Schemas in `spec/schemas/`.
//! - `cargo xtask codegen --check` fails when they are out of date (CI runs the same check as
//!   an ordinary test, `reference_docs_are_up_to_date`).
//! - `cargo xtask tidy` checks the architecture's invariants on the dependency graph (which
//!   crate may depend on which, who alone may name `sqlx`, `regorus`, `tch`, `octocrab`, and
//!   that `tollgate check` links none of them); also a test, `architecture_invariants_hold`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

mod reference;
#[cfg(test)]
mod tests;
mod tidy;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["codegen"] => codegen(false),
        ["codegen", "--check"] => codegen(true),
        ["tidy"] => tidy(),
        _ => bail!("usage: cargo xtask codegen [--check] | cargo xtask tidy"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn codegen(check: bool) -> anyhow::Result<()> {
    let root = workspace_root();
    let mut stale = Vec::new();
    for (path, text) in reference::render_all()? {
        let full = root.join(&path);
        let current = std::fs::read_to_string(&full).unwrap_or_default();
        if current != text {
            if check {
                stale.push(path);
            } else {
                if let Some(dir) = full.parent() {
                    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
                }
                std::fs::write(&full, text).with_context(|| format!("cannot write `{}`", full.display()))?;
                eprintln!("wrote {path}");
            }
        }
    }
    if !stale.is_empty() {
        bail!("out of date: {}\nhint: run `cargo xtask codegen`", stale.join(", "));
    }
    Ok(())
}

fn tidy() -> anyhow::Result<()> {
    let mut problems = tidy::violations()?;
    problems.extend(tidy::hints_in_messages()?);
    if !problems.is_empty() {
        bail!("the workspace breaks the architecture:\n  {}\nhint: see ARCHITECTURE.md, \"Invariants\"", problems.join("\n  "));
    }
    eprintln!("the dependency graph and the error messages keep every invariant");
    Ok(())
}
