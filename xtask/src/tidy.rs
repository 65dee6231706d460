//! The architecture's invariants as dependency edges, checked on `cargo metadata`.
//!
//! Each rule is one line of ARCHITECTURE.md; the compiler keeps a crate from naming what it
//! does not depend on, and this check keeps the dependencies themselves where they belong.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

/// Crates every product crate may depend on: the error convention.
const FOUNDATION: &[&str] = &["tollgate-error"];

/// Which workspace crates each product crate may depend on (normal dependencies), besides
/// [`FOUNDATION`].
const LAYERS: &[(&str, &[&str])] = &[
    ("tollgate-error", &[]),
    ("tollgate-spec", &[]),
    ("tollgate-policy", &["tollgate-spec"]),
    ("tollgate-check", &["tollgate-spec", "tollgate-policy"]),
    ("tollgate-render", &[]),
    ("tollgate-model-cards", &["tollgate-render"]),
    ("tollgate-audit", &["tollgate-render"]),
    ("tollgate-store", &["tollgate-audit"]),
    ("tollgate-decision", &["tollgate-spec", "tollgate-audit"]),
    ("tollgate-gates", &[]),
    ("tollgate-torch", &["tollgate-gates"]),
    ("tollgate-github", &[]),
    ("tollgate-admission", &["tollgate-spec", "tollgate-policy"]),
    ("tollgate-jobs", &[]),
    (
        "tollgate-controller",
        &[
            "tollgate-spec",
            "tollgate-policy",
            "tollgate-check",
            "tollgate-audit",
            "tollgate-store",
            "tollgate-decision",
            "tollgate-gates",
            "tollgate-torch",
            "tollgate-github",
            "tollgate-admission",
            "tollgate-render",
            "tollgate-jobs",
            "tollgate-model-cards",
        ],
    ),
    ("tollgate-dashboard", &["tollgate-render", "tollgate-decision", "tollgate-controller", "tollgate-github"]),
    (
        "tollgate-webhooks",
        &[
            "tollgate-dashboard",
            "tollgate-spec",
            "tollgate-audit",
            "tollgate-store",
            "tollgate-decision",
            "tollgate-controller",
            "tollgate-github",
            "tollgate-admission",
            "tollgate-render",
            "tollgate-model-cards",
        ],
    ),
];

/// External crates that only the named product crates may name directly.
const OWNERS: &[(&str, &[&str], &str)] = &[
    ("sqlx", &["tollgate-store"], "only the store speaks SQL"),
    ("rusqlite", &["tollgate-store"], "only the store speaks SQL"),
    ("regorus", &["tollgate-policy"], "only the policy crate touches regorus"),
    ("tch", &["tollgate-torch"], "only the model runner links libtorch"),
    ("torch-sys", &["tollgate-torch"], "only the model runner links libtorch"),
    ("octocrab", &["tollgate-github"], "only the GitHub crate talks to GitHub"),
    ("axum", &["tollgate-webhooks"], "only the HTTP server serves HTTP"),
    ("kube-core", &["tollgate-admission"], "only the admission crate reads Kubernetes' admission types"),
    ("kube", &["tollgate-jobs"], "only the Jobs crate talks to the Kubernetes API"),
    ("kube-client", &["tollgate-jobs"], "only the Jobs crate talks to the Kubernetes API"),
    (
        "k8s-openapi",
        &["tollgate-admission", "tollgate-jobs"],
        "only the admission crate reads Kubernetes' workload types, and only the Jobs crate writes Jobs",
    ),
    ("minijinja", &["tollgate-render"], "one template engine for every page, card and report"),
];

/// External crates a product crate must not link at all, even through its dependencies.
const NEVER_LINKED: &[(&str, &[&str], &str)] = &[
    (
        "tollgate-check",
        &["sqlx", "rusqlite", "octocrab", "tch", "torch-sys", "tokio", "axum"],
        "`tollgate check` links no database, HTTP or model runtime",
    ),
    ("tollgate-spec", &["sqlx", "rusqlite", "octocrab", "tch", "tokio", "regorus"], "the config-repo model is plain data"),
    ("tollgate-audit", &["sqlx", "rusqlite", "tokio", "git2", "octocrab"], "the audit formats do no IO beyond files"),
    ("tollgate-decision", &["sqlx", "rusqlite", "tokio", "octocrab", "tch", "regorus"], "decide does no IO"),
    (
        "tollgate-model-cards",
        &["sqlx", "rusqlite", "tokio", "git2", "octocrab", "tch", "regorus"],
        "a model card is data and its templates",
    ),
    ("tollgate-gates", &["tch", "torch-sys"], "metrics and the format-independent runner link no model runtime"),
    (
        "tollgate-github",
        &["sqlx", "rusqlite", "git2", "tch", "regorus", "axum"],
        "the GitHub door knows GitHub, not the store, Git or policies",
    ),
    (
        "tollgate-admission",
        &["sqlx", "rusqlite", "tokio", "hyper", "axum", "rustls", "octocrab", "tch", "torch-sys"],
        "the admission rule does no IO: the HTTP route, the store and the audit trail are its callers'",
    ),
    (
        "tollgate-jobs",
        &["sqlx", "rusqlite", "git2", "tch", "torch-sys", "regorus", "octocrab", "axum"],
        "the Jobs crate knows the Kubernetes API, not the store, Git, policies, models or GitHub",
    ),
    ("tollgate-admission", &["kube-client"], "the admission rule reads Kubernetes' types and calls no API server"),
];

/// A package of the resolved graph.
struct Package {
    name: String,
    /// Package ids of its normal (not dev or build) dependencies.
    normal: Vec<String>,
}

/// Every violation, as one line each.
pub fn violations() -> anyhow::Result<Vec<String>> {
    // Every feature on, so that optional dependencies (the controller's `tollgate-torch`, behind
    // its `torch` feature) are edges of the graph too.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked", "--all-features"])
        .current_dir(super::workspace_root())
        .output()
        .context("cannot run `cargo metadata`")?;
    if !out.status.success() {
        bail!("`cargo metadata` failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout).context("`cargo metadata` printed invalid JSON")?;
    Ok(check(&graph(&meta)?))
}

fn graph(meta: &Value) -> anyhow::Result<BTreeMap<String, Package>> {
    let names: BTreeMap<&str, &str> =
        meta["packages"].as_array().context("no packages")?.iter().filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?))).collect();
    let mut graph = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().context("no resolve graph")? {
        let id = node["id"].as_str().context("node without id")?;
        let normal = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["dep_kinds"].as_array().is_some_and(|ks| ks.iter().any(|k| k["kind"].is_null())))
            .filter_map(|d| d["pkg"].as_str().map(str::to_owned))
            .collect();
        graph.insert(id.to_owned(), Package { name: names.get(id).copied().unwrap_or(id).to_owned(), normal });
    }
    Ok(graph)
}

fn check(graph: &BTreeMap<String, Package>) -> Vec<String> {
    let by_name: BTreeMap<&str, &str> = graph.iter().map(|(id, p)| (p.name.as_str(), id.as_str())).collect();
    let direct = |name: &str| -> BTreeSet<&str> {
        by_name.get(name).map(|id| graph[*id].normal.iter().map(|d| graph[d].name.as_str()).collect()).unwrap_or_default()
    };
    let linked = |name: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = by_name.get(name).into_iter().copied().collect();
        while let Some(id) = todo.pop() {
            for d in &graph[id].normal {
                if seen.insert(graph[d].name.as_str()) {
                    todo.push(d);
                }
            }
        }
        seen
    };
    let mut out = Vec::new();
    for (krate, allowed) in LAYERS {
        if !by_name.contains_key(krate) {
            out.push(format!("{krate}: not in the workspace (update xtask/src/tidy.rs and ARCHITECTURE.md)"));
            continue;
        }
        for dep in direct(krate).into_iter().filter(|d| d.starts_with("tollgate-") && !allowed.contains(d) && !FOUNDATION.contains(d)) {
            out.push(format!("{krate} depends on {dep}; its layer allows only {allowed:?}"));
        }
    }
    for (ext, owners, why) in OWNERS {
        for (krate, _) in LAYERS {
            if !owners.contains(krate) && direct(krate).contains(ext) {
                out.push(format!("{krate} depends on {ext} directly: {why} ({})", owners.join(", ")));
            }
        }
    }
    for (krate, banned, why) in NEVER_LINKED {
        let all = linked(krate);
        for ext in banned.iter().filter(|e| all.contains(*e)) {
            out.push(format!("{krate} links {ext}: {why}"));
        }
    }
    out
}

/// The error convention's one rule a build cannot check (tollgate-error): no `#[error(...)]`
/// message in the workspace's sources holds a hint; a hint is data, given by `Hint::hint`.
/// Returns `file:line: ...` for each one that does.
pub fn hints_in_messages() -> anyhow::Result<Vec<String>> {
    let root = super::workspace_root();
    let mut out = Vec::new();
    let mut todo = vec![root.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list `{}`", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                if !name.starts_with('.') && !["target", "xtask", "node_modules"].contains(&name) {
                    todo.push(path);
                }
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
                let rel = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
                out.extend(
                    error_messages_with_hints(&text).into_iter().map(|line| format!("{rel}:{line}: an `#[error]` message holds a hint")),
                );
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The lines of `#[error(...)]` attributes in `text` that mention a hint.
fn error_messages_with_hints(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[error(") {
        let attribute = &rest[at..];
        let end = attribute.find(")]").unwrap_or(attribute.len());
        if attribute[..end].to_ascii_lowercase().contains("hint") {
            lines.push(text[..text.len() - rest.len() + at].matches('\n').count() + 1);
        }
        rest = &attribute[end.min(attribute.len())..];
        if rest.len() == attribute.len() {
            break;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_in_error_messages_are_found() {
        let text = "enum E {\n    #[error(\"no `x`\")]\n    A,\n    #[error(\n        \"no `y`\\nhint: add it\"\n    )]\n    B,\n    #[error(\"bad {hint}\")]\n    C { hint: String },\n}\n";
        assert_eq!(error_messages_with_hints(text), [4, 8]);
        assert_eq!(error_messages_with_hints("#[error(transparent)]\nX(Y),\n"), Vec::<usize>::new());
    }

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Package> {
        let mut names: BTreeSet<&str> = LAYERS.iter().map(|(n, _)| *n).collect();
        names.extend(edges.iter().flat_map(|(a, bs)| std::iter::once(*a).chain(bs.iter().copied())));
        names
            .into_iter()
            .map(|n| {
                let normal = edges.iter().filter(|(a, _)| *a == n).flat_map(|(_, bs)| bs.iter().map(|b| (*b).to_owned())).collect();
                (n.to_owned(), Package { name: n.to_owned(), normal })
            })
            .collect()
    }

    #[test]
    fn a_clean_graph_passes() {
        let g = graph(&[("tollgate-check", &["tollgate-spec", "tollgate-policy"]), ("tollgate-store", &["sqlx"])]);
        assert_eq!(check(&g), Vec::<String>::new());
    }

    #[test]
    fn each_kind_of_violation_is_named() {
        let g = graph(&[
            ("tollgate-spec", &["tollgate-store"]),
            ("tollgate-store", &["sqlx"]),
            ("tollgate-decision", &["regorus"]),
            ("tollgate-policy", &["tollgate-spec", "regorus"]),
        ]);
        assert_eq!(
            check(&g),
            [
                "tollgate-spec depends on tollgate-store; its layer allows only []",
                "tollgate-decision depends on regorus directly: only the policy crate touches regorus (tollgate-policy)",
                "tollgate-spec links sqlx: the config-repo model is plain data",
                "tollgate-decision links regorus: decide does no IO",
            ]
        );
    }
}
