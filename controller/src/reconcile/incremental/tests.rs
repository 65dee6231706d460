//! An incremental prepare must be indistinguishable from one from scratch: on a real Git copy
//! of `examples/`, for each kind of change, the plans, findings, fatal problems and promotions
//! it keeps or rebuilds equal what a full prepare at the new commit says.

use std::path::Path;

use crate::reconcile::{GateSettings, Options, Prepared, prepare, prepare_incremental};
use tollgate_test_support::{commit_all, committed_examples, edit};

fn options(root: &Path) -> Options {
    Options {
        repo: root.to_owned(),
        rev: "HEAD".into(),
        now: "2026-11-24T10:00:00Z".parse().unwrap(),
        release: None,
        gates: GateSettings { cache_dir: Some(root.join(".git/gate-cache")), device: crate::reconcile::Device::Cpu, kubernetes: None },
        bot: ("tollgate".into(), "tollgate@example.invalid".into()),
        jobs: 1,
    }
}

/// What a pass decides from, as comparable JSON.
fn view(p: &Prepared) -> serde_json::Value {
    let mut promotions: Vec<_> = p.promotions.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap())).collect();
    promotions.sort_by(|a, b| a.0.cmp(&b.0));
    let mut by_model: Vec<_> = p.by_model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    by_model.sort();
    serde_json::json!({
        "commit": p.commit,
        "branch": p.branch,
        "policyDigest": p.policy_digest,
        "fatal": serde_json::to_value(&p.fatal).unwrap(),
        "findings": serde_json::to_value(&p.findings).unwrap(),
        "releases": serde_json::to_value(&p.releases).unwrap(),
        "byModel": by_model,
        "promotions": promotions,
    })
}

/// Applies `change` and commits it; returns whether the incremental prepare applied.
fn compare(name: &str, change: impl Fn(&Path)) -> bool {
    let (dir, git) = committed_examples();
    let opts = options(dir.path());
    let before = prepare(&opts).unwrap();
    change(dir.path());
    commit_all(&git, name);
    let full = prepare(&opts).unwrap();
    match prepare_incremental(&opts, &before).unwrap() {
        Some(incremental) => {
            let (a, b) = (view(&incremental), view(&full));
            for key in ["commit", "branch", "policyDigest", "fatal", "findings", "byModel", "promotions"] {
                assert_eq!(a[key], b[key], "{name}: `{key}` differs from a prepare from scratch");
            }
            // The admission index's inputs, environments in any order.
            let admission = |p: &Prepared| {
                let mut envs = p.admission.environments.clone();
                envs.sort_by(|x, y| x.name.cmp(&y.name));
                (envs, p.admission.model_uris.clone(), p.admission.disabled.clone())
            };
            assert_eq!(admission(&incremental), admission(&full), "{name}: the admission plan differs from a prepare from scratch");
            let (ra, rb) = (a["releases"].as_array().unwrap(), b["releases"].as_array().unwrap());
            let names = |r: &[serde_json::Value]| r.iter().map(|p| p["name"].clone()).collect::<Vec<_>>();
            assert_eq!(names(ra), names(rb), "{name}: releases");
            for (pa, pb) in ra.iter().zip(rb) {
                for (field, va) in pa.as_object().unwrap() {
                    let (mut va, mut vb) = (va.clone(), pb[field].clone());
                    // Whether the gate cache answered is how, not what.
                    for v in [&mut va, &mut vb] {
                        if let Some(r) = v.pointer_mut("/results").and_then(|r| r.as_object_mut()) {
                            r.remove("cacheHit");
                        }
                    }
                    assert_eq!(va, vb, "{name}: `{field}` of {} differs from a prepare from scratch", pa["name"]);
                }
            }
            true
        }
        None => false,
    }
}

#[test]
fn one_release_changed() {
    assert!(compare("release", |root| edit(root, "releases/churn-v3.yaml", "kind: Release", "kind: Release\n# reviewed")));
}

#[test]
fn a_model_card_that_now_breaks_a_policy() {
    assert!(compare("model", |root| edit(root, "models/income.yaml", "limitations:", "limitation:")));
}

#[test]
fn an_environment_with_a_new_approval_rule() {
    assert!(compare("environment", |root| edit(root, "environments/staging.yaml", "required: 1", "required: 2")));
}

#[test]
fn an_environment_with_new_admission_settings_and_a_model_moved() {
    assert!(compare("admission", |root| {
        edit(
            root,
            "environments/staging.yaml",
            "namespaces: [ml-staging]",
            "namespaces: [ml-staging, ml-staging-canary]\n    breakGlass: {users: [carol]}",
        );
        edit(root, "environments/dev.yaml", "    mode: warn\n", "    mode: enforce\n");
        edit(root, "models/income.yaml", "uri: ", "uri: s3://moved/");
    }));
}

#[test]
fn a_release_deleted_and_one_added() {
    assert!(compare("delete and add", |root| {
        std::fs::remove_file(root.join("releases/income-v1.yaml")).unwrap();
        let text = std::fs::read_to_string(root.join("releases/churn-v3.yaml")).unwrap();
        std::fs::write(root.join("releases/churn-v3b.yaml"), text.replacen("name: churn-v3", "name: churn-v3b", 1)).unwrap();
    }));
}

#[test]
fn a_promotion_file_written() {
    assert!(compare("promotion", |root| {
        std::fs::create_dir_all(root.join("deploy/dev")).unwrap();
        std::fs::write(
            root.join("deploy/dev/churn.yaml"),
            "apiVersion: tollgate.dev/v1alpha1\nkind: Promotion\nmetadata:\n  name: dev-churn\nspec:\n  environment: dev\n  release: churn-v3\n  model: {name: churn, version: \"3\"}\n",
        )
        .unwrap();
    }));
}

#[test]
fn data_config_and_policy_changes_prepare_from_scratch() {
    assert!(!compare("data", |root| {
        let path = root.join("data/churn-eval.csv");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push('\n');
        std::fs::write(path, text).unwrap();
    }));
    assert!(!compare("config", |root| edit(root, "tollgate.yaml", "name: acme-ml", "name: acme-ml2")));
    assert!(!compare("policy", |root| edit(root, "policies/release.rego", "package", "# edited\npackage")));
}

/// A mirror has no working tree: the gates read their files from the commit, and agree with
/// the gates of the working copy it mirrors.
#[test]
fn gates_of_a_mirror_read_the_commit() {
    let (dir, _git) = committed_examples();
    let mirror = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(dir.path())
        .arg(mirror.path().join("m.git"))
        .status()
        .unwrap();
    assert!(status.success());
    let local = prepare(&options(dir.path())).unwrap();
    let mut opts = options(&mirror.path().join("m.git"));
    opts.gates.cache_dir = None;
    let mirrored = prepare(&opts).unwrap();
    let gates = |p: &Prepared| p.releases.iter().find(|r| r.name == "churn-v3").and_then(|r| r.gates.clone()).unwrap();
    let (a, b) = (gates(&local), gates(&mirrored));
    assert_eq!(b.error, None, "{b:?}");
    assert!(b.digest.is_some());
    assert_eq!(a.digest, b.digest);
    assert!(mirror.path().join("m.git/tollgate/checkout").join(&mirrored.commit).join("data/churn-eval.csv").is_file());
}
