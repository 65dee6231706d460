//! The architecture's invariants as dependency edges, checked on `cargo metadata`.
//!
//! Each rule is one line of ARCHITECTURE.md; the compiler keeps a crate from naming what it
//! does not depend on, and this check keeps the dependencies themselves where they belong.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

/// Which workspace crates each product crate may depend on (normal dependencies).
const LAYERS: &[(&str, &[&str])] = &[
    ("tollgate-spec", &[]),
    ("tollgate-policy", &["tollgate-spec"]),
    ("tollgate-check", &["tollgate-spec", "tollgate-policy"]),
    ("tollgate-audit", &[]),
    ("tollgate-store", &["tollgate-audit"]),
    ("tollgate-decision", &["tollgate-spec", "tollgate-audit"]),
    ("tollgate-gates", &[]),
    ("tollgate-torch", &["tollgate-gates"]),
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
        ],
    ),
    ("tollgate-webhooks", &["tollgate-spec", "tollgate-audit", "tollgate-store", "tollgate-decision", "tollgate-controller"]),
];

/// External crates that exactly one product crate may name directly.
const OWNERS: &[(&str, &str, &str)] = &[
    ("sqlx", "tollgate-store", "only the store speaks SQL"),
    ("rusqlite", "tollgate-store", "only the store speaks SQL"),
    ("regorus", "tollgate-policy", "only the policy crate touches regorus"),
    ("tch", "tollgate-torch", "only the model runner links libtorch"),
    ("torch-sys", "tollgate-torch", "only the model runner links libtorch"),
    ("octocrab", "tollgate-controller", "only the controller talks to GitHub"),
    ("axum", "tollgate-webhooks", "only the HTTP server serves HTTP"),
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
    ("tollgate-gates", &["tch", "torch-sys"], "metrics and the format-independent runner link no model runtime"),
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
        for dep in direct(krate).into_iter().filter(|d| d.starts_with("tollgate-") && !allowed.contains(d)) {
            out.push(format!("{krate} depends on {dep}; its layer allows only {allowed:?}"));
        }
    }
    for (ext, owner, why) in OWNERS {
        for (krate, _) in LAYERS {
            if krate != owner && direct(krate).contains(ext) {
                out.push(format!("{krate} depends on {ext} directly: {why} ({owner})"));
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

#[cfg(test)]
mod tests {
    use super::*;

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
