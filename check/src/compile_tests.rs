//! A server prepares commit after commit: policies and limits that did not change keep the
//! bundle compiled before, anything else compiles anew.

use tollgate_policy::Bundle;
use tollgate_test_support::{commit_all, committed_examples, edit};

fn compile(dir: &std::path::Path, previous: Option<&Bundle>) -> Bundle {
    let (repo, _) = crate::load(dir, None, None, 1).unwrap();
    crate::compile_policies_keeping(&repo, previous).unwrap()
}

/// The repo's policy files, as the loader reads them.
fn sources(dir: &std::path::Path) -> Vec<(String, String)> {
    let (repo, _) = crate::load(dir, None, None, 1).unwrap();
    repo.policies.iter().map(|(p, t)| (p.to_string(), t.clone())).collect()
}

#[test]
fn unchanged_policies_and_limits_keep_the_bundle_compiled_before() {
    let (dir, git) = committed_examples();
    let first = compile(dir.path(), None);
    assert_eq!(first.digest(), Bundle::digest_of(&sources(dir.path()), true));
    assert!(!compile(dir.path(), None).is_clone_of(&first), "without a previous bundle, one is compiled");

    // A commit that touches no policy and no limit: the same bundle.
    edit(dir.path(), "tollgate.yaml", "name: acme-ml", "name: acme-ml-renamed");
    commit_all(&git, "rename");
    let kept = compile(dir.path(), Some(&first));
    assert!(kept.is_clone_of(&first));

    // New limits: the same policies, compiled anew under them.
    edit(dir.path(), "tollgate.yaml", "    disabled: []", "    disabled: []\n    timeout: 5s");
    commit_all(&git, "limits");
    let limited = compile(dir.path(), Some(&kept));
    assert!(!limited.is_clone_of(&kept));
    assert_eq!(limited.digest(), first.digest());
    assert_eq!(limited.limits().timeout, std::time::Duration::from_secs(5));
    assert!(compile(dir.path(), Some(&limited)).is_clone_of(&limited));

    // A policy that changed: another digest, compiled anew.
    edit(dir.path(), "policies/release.rego", "\npackage tollgate.release\n", "\n# changed\npackage tollgate.release\n");
    commit_all(&git, "policy");
    let changed = compile(dir.path(), Some(&limited));
    assert!(!changed.is_clone_of(&limited));
    assert_ne!(changed.digest(), first.digest());
    assert_eq!(changed.digest(), Bundle::digest_of(&sources(dir.path()), true));
}
