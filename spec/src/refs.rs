//! Cross-references between documents: names resolve, environments form one promotion order,
//! nothing is defined twice, and repo paths stay in the repo.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::diag::{Finding, Severity, Stage};
use crate::repo::RepoPath;
use crate::{ConfigRepo, Document, Kind};

/// The documents of a repo by kind and name, built once per check.
#[derive(Debug, Default)]
pub struct Index<'r> {
    by_name: HashMap<(Kind, &'r str), &'r Document>,
}

impl<'r> Index<'r> {
    /// Indexes every named tollgate document; the first of two duplicates wins.
    pub fn new(repo: &'r ConfigRepo) -> Self {
        let mut by_name = HashMap::with_capacity(repo.documents.len());
        for doc in &repo.documents {
            if matches!(doc.kind, Kind::TerraformPlan | Kind::KubernetesManifest) {
                continue;
            }
            by_name.entry((doc.kind, doc.name.as_str())).or_insert(doc);
        }
        Index { by_name }
    }

    pub fn get(&self, kind: Kind, name: &str) -> Option<&'r Document> {
        self.by_name.get(&(kind, name)).copied()
    }

    /// The promotion path of an environment: first environment to `env`, following
    /// `promotesFrom`. Stops at a cycle or a missing link.
    pub fn promotion_path(&self, env: &str) -> Vec<&'r Document> {
        let mut path = Vec::new();
        let mut seen = HashSet::new();
        let mut current = self.get(Kind::Environment, env);
        while let Some(doc) = current {
            if !seen.insert(doc.name.as_str()) {
                break;
            }
            path.push(doc);
            current = doc.str_at("/spec/promotesFrom").and_then(|p| self.get(Kind::Environment, p));
        }
        path.reverse();
        path
    }
}

/// The documents `doc`'s reference checks and policy context look up, by kind and name.
///
/// A scoped check (`--base`) trusts this list to find what a change can affect without
/// loading every document, so every name [`check`] resolves for `doc` must be here. The
/// Config and the environments are not listed: a scoped load always has all of them.
pub fn outgoing(doc: &Document) -> Vec<(Kind, String)> {
    let mut out: Vec<(Kind, String)> = Vec::new();
    let mut push = |kind: Kind, name: Option<&str>| {
        if let Some(name) = name
            && !out.iter().any(|(k, n)| *k == kind && n == name)
        {
            out.push((kind, name.to_owned()));
        }
    };
    let strings = |pointer: &str, field: &str| -> Vec<String> {
        doc.value
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.get(field).and_then(Value::as_str)).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    match doc.kind {
        Kind::Environment => push(Kind::Environment, doc.str_at("/spec/promotesFrom")),
        Kind::Model => {
            push(Kind::Dataset, doc.str_at("/spec/card/trainingData/dataset"));
            for name in strings("/spec/versions", "trainingData") {
                push(Kind::Dataset, Some(&name));
            }
        }
        Kind::Dataset => {
            for name in strings("/spec/lineage/derivedFrom", "dataset") {
                push(Kind::Dataset, Some(&name));
            }
        }
        Kind::Release => {
            push(Kind::Model, doc.str_at("/spec/model/name"));
            push(Kind::Environment, doc.str_at("/spec/environment"));
            push(Kind::Dataset, doc.str_at("/spec/gates/evaluation"));
            push(Kind::Dataset, doc.str_at("/spec/gates/reference"));
            push(Kind::Model, doc.str_at("/spec/gates/baseline").and_then(|b| b.split_once('@')).map(|(name, _)| name));
        }
        Kind::Promotion => push(Kind::Environment, doc.str_at("/spec/environment")),
        Kind::Config | Kind::TerraformPlan | Kind::KubernetesManifest => {}
    }
    out
}

/// A reference check's context: the repo, its index and the set of file paths.
struct Checker<'r> {
    repo: &'r ConfigRepo,
    index: &'r Index<'r>,
    paths: &'r HashSet<RepoPath>,
    findings: Vec<Finding>,
}

/// Checks every cross-reference of `docs` (a subset of the repo, or all of it).
/// `all` says whether repo-wide rules (one Config, one promotion order) run too.
pub fn check(repo: &ConfigRepo, index: &Index<'_>, paths: &HashSet<RepoPath>, docs: &[&Document], all: bool) -> Vec<Finding> {
    let mut c = Checker { repo, index, paths, findings: Vec::new() };
    if all {
        c.duplicates();
        c.promotion_order();
    }
    for doc in docs {
        match doc.kind {
            Kind::Environment => c.environment(doc),
            Kind::Model => c.model(doc),
            Kind::Dataset => c.dataset(doc),
            Kind::Release => c.release(doc),
            Kind::Promotion => c.promotion(doc),
            Kind::Config | Kind::TerraformPlan | Kind::KubernetesManifest => {}
        }
    }
    c.findings
}

impl<'r> Checker<'r> {
    fn report(&mut self, doc: &Document, rule: &str, pointer: &str, message: String, hint: String) {
        let pos = doc.locate(pointer, &self.repo.settings.limits);
        self.findings.push(
            Finding::new(Severity::Error, Stage::Reference, rule, doc.file.path.as_str(), message)
                .at(pos)
                .pointer(pointer)
                .document(doc.id())
                .hint(hint),
        );
    }

    fn names_of(&self, kind: Kind) -> String {
        let others = self.repo.others.iter().flat_map(|f| f.documents.iter()).filter(|s| s.kind == kind).map(|s| s.name.as_str());
        let mut names: Vec<&str> = self.repo.of_kind(kind).map(|d| d.name.as_str()).chain(others).collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            return format!("there is no {kind} in the repo");
        }
        let shown: Vec<String> = names.iter().take(8).map(|n| format!("`{n}`")).collect();
        let more = if names.len() > 8 { format!(" and {} more", names.len() - 8) } else { String::new() };
        format!("known {kind} names: {}{more}", shown.join(", "))
    }

    /// Reports a name that must exist as a document of `kind`.
    fn expect(&mut self, doc: &Document, pointer: &str, kind: Kind, rule: &str) -> Option<&'r Document> {
        let name = doc.str_at(pointer)?;
        if let Some(target) = self.index.get(kind, name) {
            return Some(target);
        }
        let hint = self.names_of(kind);
        self.report(doc, rule, pointer, format!("{kind} `{name}` does not exist"), hint);
        None
    }

    fn duplicates(&mut self) {
        let mut first: HashMap<(Kind, &str), &Document> = HashMap::new();
        let repo = self.repo;
        for doc in &repo.documents {
            if matches!(doc.kind, Kind::TerraformPlan | Kind::KubernetesManifest) || doc.name.is_empty() {
                continue;
            }
            if let Some(prev) = first.get(&(doc.kind, doc.name.as_str())) {
                let at = prev.locate("/metadata/name", &repo.settings.limits).map_or_else(String::new, |p| format!(":{}", p.line));
                let msg = format!("duplicate {} `{}`", doc.kind, doc.name);
                let hint = format!("it is already defined in {}{at}; names are unique per kind", prev.file.path);
                self.report(doc, "duplicate-name", "/metadata/name", msg, hint);
            } else {
                first.insert((doc.kind, doc.name.as_str()), doc);
            }
        }
        let configs: Vec<&Document> = repo.of_kind(Kind::Config).collect();
        for extra in configs.iter().skip(1) {
            let hint = format!("keep one Config, in tollgate.yaml (the first is in {})", configs[0].file.path);
            self.report(extra, "duplicate-config", "/kind", "more than one Config document".to_owned(), hint);
        }
    }

    /// `spec.environments` in the Config and the `promotesFrom` links must describe one chain.
    fn promotion_order(&mut self) {
        let repo = self.repo;
        let Some(config) = repo.config() else { return };
        let order: Vec<&str> = config
            .spec()
            .get("environments")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (i, name) in order.iter().enumerate() {
            let pointer = format!("/spec/environments/{i}");
            let Some(env) = self.index.get(Kind::Environment, name) else {
                let hint = self.names_of(Kind::Environment);
                self.report(config, "ref-environment", &pointer, format!("Environment `{name}` does not exist"), hint);
                continue;
            };
            let from = env.str_at("/spec/promotesFrom");
            let expected = if i == 0 { None } else { Some(order[i - 1]) };
            if from != expected {
                let (msg, hint) = match (expected, from) {
                    (None, Some(f)) => (
                        format!("`{name}` is first in the promotion order but promotes from `{f}`"),
                        "remove `promotesFrom` from the first environment, or reorder `spec.environments` in tollgate.yaml".to_owned(),
                    ),
                    (Some(e), None) => (
                        format!("`{name}` has no `promotesFrom`, but follows `{e}` in the promotion order"),
                        format!("add `promotesFrom: {e}`"),
                    ),
                    (Some(e), Some(f)) => (
                        format!("`{name}` promotes from `{f}`, but follows `{e}` in the promotion order"),
                        format!("set `promotesFrom: {e}`, or reorder `spec.environments` in tollgate.yaml"),
                    ),
                    (None, None) => continue,
                };
                let pointer = if from.is_some() { "/spec/promotesFrom" } else { "/spec" };
                self.report(env, "promotion-order", pointer, msg, hint);
            }
        }
        let listed: HashSet<&str> = order.iter().copied().collect();
        for env in repo.of_kind(Kind::Environment) {
            if !listed.contains(env.name.as_str()) {
                let msg = format!("Environment `{}` is not in the promotion order", env.name);
                let hint = "add it to `spec.environments` in tollgate.yaml, where the order is written".to_owned();
                self.report(env, "promotion-order", "/metadata/name", msg, hint);
            }
        }
        // Cycles can exist among environments that are missing from the order.
        for env in repo.of_kind(Kind::Environment) {
            let mut seen = HashSet::new();
            let mut current = Some(env);
            while let Some(doc) = current {
                if !seen.insert(doc.name.as_str()) {
                    if doc.name == env.name {
                        let msg = format!("`promotesFrom` forms a cycle through `{}`", env.name);
                        let hint = "environments must form one chain from the first to the last".to_owned();
                        self.report(env, "promotion-cycle", "/spec/promotesFrom", msg, hint);
                    }
                    break;
                }
                current = doc.str_at("/spec/promotesFrom").and_then(|p| self.index.get(Kind::Environment, p));
            }
        }
    }

    fn environment(&mut self, doc: &Document) {
        self.expect(doc, "/spec/promotesFrom", Kind::Environment, "ref-environment");
        if doc.str_at("/spec/promotesFrom") == Some(doc.name.as_str()) {
            self.report(
                doc,
                "promotion-cycle",
                "/spec/promotesFrom",
                format!("`{}` promotes from itself", doc.name),
                "point `promotesFrom` at the previous stage".to_owned(),
            );
        }
        let groups: HashSet<String> = self.config_groups().into_iter().map(str::to_owned).collect();
        if let Some(list) = doc.value.pointer("/spec/approvals/groups").and_then(Value::as_array) {
            for (i, g) in list.iter().enumerate() {
                let Some(g) = g.as_str() else { continue };
                if !groups.contains(g) {
                    let known = if groups.is_empty() {
                        "define groups under `spec.groups` in tollgate.yaml".to_owned()
                    } else {
                        let mut known: Vec<&str> = groups.iter().map(String::as_str).collect();
                        known.sort_unstable();
                        format!(
                            "groups defined in tollgate.yaml: {}",
                            known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                        )
                    };
                    self.report(doc, "ref-group", &format!("/spec/approvals/groups/{i}"), format!("group `{g}` does not exist"), known);
                }
            }
        }
    }

    fn config_groups(&self) -> HashSet<&'r str> {
        self.repo
            .config()
            .and_then(|c| c.value.pointer("/spec/groups"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|g| g.get("name").and_then(Value::as_str)).collect())
            .unwrap_or_default()
    }

    fn model(&mut self, doc: &Document) {
        self.expect(doc, "/spec/card/trainingData/dataset", Kind::Dataset, "ref-dataset");
        let Some(versions) = doc.value.pointer("/spec/versions").and_then(Value::as_array) else { return };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, v) in versions.iter().enumerate() {
            if let Some(ver) = v.get("version").and_then(Value::as_str)
                && let Some(first) = seen.insert(ver, i)
            {
                self.report(
                    doc,
                    "duplicate-version",
                    &format!("/spec/versions/{i}/version"),
                    format!("version `{ver}` is listed twice"),
                    format!("it is already at `spec.versions[{first}]`; versions are immutable, add a new one instead"),
                );
            }
            self.expect(doc, &format!("/spec/versions/{i}/trainingData"), Kind::Dataset, "ref-dataset");
            self.local_uri(doc, &format!("/spec/versions/{i}/artifact/uri"));
        }
    }

    fn dataset(&mut self, doc: &Document) {
        self.local_uri(doc, "/spec/uri");
        let columns: Vec<&str> = doc
            .value
            .pointer("/spec/schema/columns")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        let mut seen = HashSet::new();
        for (i, c) in columns.iter().enumerate() {
            if !seen.insert(*c) {
                self.report(
                    doc,
                    "duplicate-column",
                    &format!("/spec/schema/columns/{i}/name"),
                    format!("column `{c}` is listed twice"),
                    "list each column once".to_owned(),
                );
            }
        }
        let column_hint = || {
            let shown: Vec<String> = columns.iter().take(12).map(|c| format!("`{c}`")).collect();
            format!("columns in `spec.schema`: {}", shown.join(", "))
        };
        for field in ["label", "prediction", "score"] {
            let pointer = format!("/spec/{field}");
            if let Some(name) = doc.str_at(&pointer)
                && !columns.contains(&name)
            {
                self.report(doc, "ref-column", &pointer, format!("{field} column `{name}` is not in the schema"), column_hint());
            }
        }
        if let Some(list) = doc.value.pointer("/spec/sensitiveFeatures").and_then(Value::as_array) {
            for (i, f) in list.iter().enumerate() {
                if let Some(name) = f.as_str()
                    && !columns.contains(&name)
                {
                    self.report(
                        doc,
                        "ref-column",
                        &format!("/spec/sensitiveFeatures/{i}"),
                        format!("sensitive feature `{name}` is not a column"),
                        column_hint(),
                    );
                }
            }
        }
        if let Some(list) = doc.value.pointer("/spec/lineage/derivedFrom").and_then(Value::as_array) {
            for i in 0..list.len() {
                let pointer = format!("/spec/lineage/derivedFrom/{i}/dataset");
                if doc.str_at(&pointer) == Some(doc.name.as_str()) {
                    self.report(
                        doc,
                        "lineage-cycle",
                        &pointer,
                        format!("`{}` is derived from itself", doc.name),
                        "name the upstream dataset".to_owned(),
                    );
                    continue;
                }
                self.expect(doc, &pointer, Kind::Dataset, "ref-dataset");
            }
        }
    }

    fn release(&mut self, doc: &Document) {
        if let Some(model) = self.expect(doc, "/spec/model/name", Kind::Model, "ref-model")
            && let Some(version) = doc.str_at("/spec/model/version")
        {
            self.model_version(doc, "/spec/model/version", model, version);
        }
        self.expect(doc, "/spec/environment", Kind::Environment, "ref-environment");
        self.expect(doc, "/spec/gates/evaluation", Kind::Dataset, "ref-dataset");
        self.expect(doc, "/spec/gates/reference", Kind::Dataset, "ref-dataset");
        if let Some(baseline) = doc.str_at("/spec/gates/baseline")
            && baseline != "production"
        {
            match baseline.split_once('@') {
                Some((name, version)) => match self.index.get(Kind::Model, name) {
                    Some(model) => self.model_version(doc, "/spec/gates/baseline", model, version),
                    None => {
                        let hint = self.names_of(Kind::Model);
                        self.report(doc, "ref-model", "/spec/gates/baseline", format!("baseline Model `{name}` does not exist"), hint);
                    }
                },
                None => self.report(
                    doc,
                    "ref-baseline",
                    "/spec/gates/baseline",
                    format!("baseline `{baseline}` is neither `production` nor `<model>@<version>`"),
                    "write `production` to compare with what runs now, or `income@3` for a named version".to_owned(),
                ),
            }
        }
        if doc.value.pointer("/spec/gates/drift").and_then(Value::as_array).is_some_and(|d| !d.is_empty())
            && doc.str_at("/spec/gates/reference").is_none()
        {
            self.report(
                doc,
                "ref-dataset",
                "/spec/gates",
                "drift thresholds need a reference dataset".to_owned(),
                "set `spec.gates.reference` to the Dataset drift is measured against".to_owned(),
            );
        }
    }

    fn model_version(&mut self, doc: &Document, pointer: &str, model: &Document, version: &str) {
        let versions: Vec<&str> = model
            .value
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.get("version").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        if !versions.contains(&version) {
            let shown: Vec<String> = versions.iter().map(|v| format!("`{v}`")).collect();
            self.report(
                doc,
                "ref-model-version",
                pointer,
                format!("Model `{}` has no version `{version}`", model.name),
                format!("versions of `{}` in {}: {}", model.name, model.file.path, shown.join(", ")),
            );
        }
    }

    fn promotion(&mut self, doc: &Document) {
        self.expect(doc, "/spec/environment", Kind::Environment, "ref-environment");
    }

    /// A `uri` without a scheme is a repo path: it must stay in the repo and exist.
    fn local_uri(&mut self, doc: &Document, pointer: &str) {
        let Some(uri) = doc.str_at(pointer) else { return };
        let local = if let Some(rest) = uri.strip_prefix("file://") {
            rest
        } else if uri.contains("://") {
            return;
        } else {
            uri
        };
        match RepoPath::new(local) {
            Ok(path) => {
                if !self.paths.contains(&path) {
                    self.report(
                        doc,
                        "missing-file",
                        pointer,
                        format!("file `{path}` does not exist in the repo"),
                        "paths are relative to the repo root; commit the file or use an object-store URI".to_owned(),
                    );
                }
            }
            Err(err) => {
                self.report(doc, "path-escapes", pointer, err.to_string(), "use a path relative to the repo root, without `..`".to_owned())
            }
        }
    }
}
