//! A scoped load must change what a check looks at, never what it finds there: for every kind
//! of change, on a real Git repo, the scoped check's findings are exactly the full check's
//! findings on the documents the change can affect.

use std::collections::HashSet;
use std::path::Path;

use crate::{CheckOptions, Report};
use tollgate_spec::diag::Finding;
use tollgate_spec::refs;
use tollgate_spec::{ConfigRepo, Kind};
use tollgate_test_support::{commit_all, committed_examples, edit};

fn run(dir: &Path, rev: Option<&str>, base: Option<&str>) -> (ConfigRepo, Report) {
    let (repo, changes) = crate::load(dir, rev, base, 1).unwrap();
    let bundle = crate::compile_policies(&repo).ok();
    let report = crate::check(&repo, bundle.as_ref(), &CheckOptions { changes, jobs: 1, author: None });
    (repo, report)
}

/// The documents a change can affect, computed over the whole repo: this test's own oracle.
fn affected(full: &ConfigRepo, changed: &HashSet<String>, deleted: &HashSet<(Kind, String)>) -> HashSet<String> {
    let mut touched: HashSet<(Kind, String)> = deleted.clone();
    touched.extend(full.documents.iter().filter(|d| changed.contains(d.file.path.as_str())).map(|d| (d.kind, d.name.clone())));
    let index = refs::Index::new(full);
    full.documents
        .iter()
        .filter(|d| {
            changed.contains(d.file.path.as_str())
                || refs::outgoing(d).iter().any(|r| touched.contains(r))
                || (d.kind == Kind::Release
                    && d.str_at("/spec/environment").is_some_and(|e| {
                        index.promotion_path(e).iter().any(|env| touched.contains(&(Kind::Environment, env.name.clone())))
                    }))
        })
        .map(|d| d.id())
        .collect()
}

fn key(f: &Finding) -> String {
    serde_json::to_string(f).unwrap()
}

/// Applies `change` to a committed copy of the examples, then compares the scoped check with
/// the full one, from the working directory and from a commit.
fn compare(name: &str, change: impl Fn(&Path)) {
    let (dir, git) = committed_examples();
    // The deleted documents, as the base had them.
    let (before, _) = run(dir.path(), None, None);
    change(dir.path());

    for rev in [None, Some("HEAD")] {
        if rev.is_some() {
            commit_all(&git, name);
        }
        let base = if rev.is_some() { "HEAD~1" } else { "HEAD" };
        let (full_repo, full) = run(dir.path(), rev, None);
        let (scoped_repo, scoped) = run(dir.path(), rev, Some(base));
        assert!(!scoped_repo.others.is_empty(), "{name}: the scoped load loaded everything");
        assert_eq!(scoped.documents, full.documents, "{name}: document count");

        let changed: HashSet<String> = scoped.changed_files.clone().unwrap_or_default().into_iter().collect();
        let now: HashSet<(Kind, String)> = full_repo.documents.iter().map(|d| (d.kind, d.name.clone())).collect();
        let deleted: HashSet<(Kind, String)> =
            before.documents.iter().map(|d| (d.kind, d.name.clone())).filter(|k| !now.contains(k)).collect();
        let scope = affected(&full_repo, &changed, &deleted);
        assert_eq!(scoped.documents_checked, scope.len(), "{name} ({rev:?}): scope {scope:?}");

        let full_keys: HashSet<String> = full.findings.iter().map(key).collect();
        let scoped_keys: HashSet<String> = scoped.findings.iter().map(key).collect();
        for f in &scoped.findings {
            assert!(full_keys.contains(&key(f)), "{name} ({rev:?}): the scoped check found what the full one did not: {f:?}");
        }
        for f in &full.findings {
            let in_scope = changed.contains(&f.file) || f.document.as_ref().is_some_and(|d| scope.contains(d));
            if in_scope {
                assert!(scoped_keys.contains(&key(f)), "{name} ({rev:?}): the scoped check missed {f:?}");
            }
        }
    }
}

#[test]
fn a_changed_model_card() {
    compare("model card", |root| edit(root, "models/income.yaml", "limitations:", "limitation:"));
}

#[test]
fn a_changed_training_dataset() {
    compare("dataset", |root| edit(root, "datasets/adult-train.yaml", "rows: 120", "rows: 121\n  label: no-such-column"));
}

#[test]
fn a_deleted_dataset() {
    compare("deleted dataset", |root| std::fs::remove_file(root.join("datasets/adult-eval.yaml")).unwrap());
}

#[test]
fn a_new_release_with_broken_references() {
    compare("new release", |root| {
        let text = std::fs::read_to_string(root.join("releases/income-v4.yaml")).unwrap();
        let text = text.replacen("name: income-v4", "name: income-v9", 1).replacen("version: \"4\"", "version: \"9\"", 1);
        std::fs::create_dir_all(root.join("releases/new")).unwrap();
        std::fs::write(root.join("releases/new/income-v9.yaml"), text.replace("adult-eval", "adult-missing")).unwrap();
    });
}

#[test]
fn a_duplicate_model_name_in_a_new_file() {
    compare("duplicate", |root| {
        let text = std::fs::read_to_string(root.join("models/churn.yaml")).unwrap();
        std::fs::write(root.join("models/churn-copy.yaml"), text).unwrap();
    });
}

#[test]
fn a_changed_environment_reaches_the_releases_downstream() {
    compare("environment", |root| edit(root, "environments/staging.yaml", "required: 1", "required: 2"));
}

#[test]
fn a_moved_release() {
    compare("moved", |root| {
        std::fs::create_dir_all(root.join("releases/old")).unwrap();
        std::fs::rename(root.join("releases/income-v1.yaml"), root.join("releases/old/income-v1.yaml")).unwrap();
    });
}

#[test]
fn a_changed_manifest_and_plan() {
    compare("manifest and plan", |root| {
        edit(root, "k8s/income-serving.yaml", "replicas:", "replicas: 3\n  # was:\n  #replicas:");
        edit(root, "infra/serving/plan.json", "{", "{\"x\": 1,");
    });
}

#[test]
fn summaries_are_cached_in_the_git_directory_and_reused() {
    let (dir, _git) = committed_examples();
    edit(dir.path(), "models/income.yaml", "limitations:", "limitation:");
    let (_, first) = run(dir.path(), None, Some("HEAD"));
    let cache = dir.path().join(".git/tollgate/summaries");
    let text = std::fs::read_to_string(&cache).expect("the cache was written");
    assert!(text.lines().count() > 10, "{text}");
    // A corrupt cache is an empty one: the same answer.
    std::fs::write(&cache, "tollgate-summaries 1 garbage\n").unwrap();
    let (_, again) = run(dir.path(), None, Some("HEAD"));
    assert_eq!(serde_json::to_value(&first.findings).unwrap(), serde_json::to_value(&again.findings).unwrap());
    assert_eq!(first.documents_checked, again.documents_checked);
}

#[test]
fn a_changed_policy_or_config_loads_everything() {
    let (dir, _git) = committed_examples();
    edit(dir.path(), "tollgate.yaml", "name: acme-ml", "name: acme-ml2");
    let (repo, report) = run(dir.path(), None, Some("HEAD"));
    assert!(repo.others.is_empty());
    assert_eq!(report.documents_checked, report.documents);
}

#[test]
fn a_renamed_model_breaks_its_releases() {
    compare("renamed model", |root| edit(root, "models/churn.yaml", "name: churn", "name: churn2"));
}

#[test]
fn a_dataset_description_only() {
    compare("dataset description", |root| edit(root, "datasets/adult-eval.yaml", "description:", "description: edited,"));
}
