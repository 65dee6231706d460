//! Reading commits straight from Git's object database, and `--base` change detection.

use crate::support::{Scratch, check_json, commit_all, findings};

#[test]
fn rev_reads_a_commit_without_a_checkout() {
    let repo = Scratch::examples();
    let git = repo.git_init();
    // Break the working directory without committing: the commit is still clean.
    repo.edit("models/income.yaml", "limitations:", "limitation:");
    repo.remove("environments/dev.yaml");
    let (code, report) = check_json(repo.path(), &["--rev", "HEAD"]);
    assert_eq!(code, 0, "{report:#}");
    let head = git.head().unwrap().target().unwrap().to_string();
    assert_eq!(report["commit"], head);
    let (code, _) = check_json(repo.path(), &[]);
    assert_eq!(code, 1);

    // Commit the breakage; the previous commit stays readable by revision.
    commit_all(&git, "break things");
    let (code, report) = check_json(repo.path(), &["--rev", "HEAD"]);
    assert_eq!(code, 1);
    assert!(!findings(&report, "model-card-limitations").is_empty());
    let (code, _) = check_json(repo.path(), &["--rev", "HEAD~1"]);
    assert_eq!(code, 0);
}

#[test]
fn an_unknown_revision_is_misuse() {
    let repo = Scratch::examples();
    repo.git_init();
    let out = crate::support::tollgate(&["check", "--repo", repo.path().to_str().unwrap(), "--rev", "no-such-branch"]);
    assert_eq!(crate::support::code(&out), 2);
    assert!(crate::support::stderr(&out).contains("cannot resolve `no-such-branch`"), "{}", crate::support::stderr(&out));
}

#[test]
fn base_checks_only_changed_documents_and_their_dependents() {
    let repo = Scratch::examples();
    let git = repo.git_init();
    let (_, full) = check_json(repo.path(), &[]);
    let total = full["documents"].as_u64().unwrap();

    // Nothing changed: nothing to evaluate.
    let (code, report) = check_json(repo.path(), &["--base", "HEAD"]);
    assert_eq!(code, 0);
    assert_eq!(report["documents_checked"], 0);
    assert_eq!(report["changed_files"], serde_json::json!([]));

    // A model changes: the model and the releases of it are checked, nothing else.
    repo.edit("models/income.yaml", "limitations:", "limitation:");
    let (code, report) = check_json(repo.path(), &["--base", "HEAD"]);
    assert_eq!(code, 1);
    assert_eq!(report["changed_files"], serde_json::json!(["models/income.yaml"]));
    assert_eq!(report["documents_checked"], 5, "the model and its four releases: {report:#}");
    assert!(!findings(&report, "model-card-limitations").is_empty());

    // Against a commit: the same, read from the object database.
    commit_all(&git, "change model");
    let (_, report) = check_json(repo.path(), &["--rev", "HEAD", "--base", "HEAD~1"]);
    assert_eq!(report["documents_checked"], 5);

    // A policy change re-evaluates everything.
    repo.write("policies/extra.rego", "package tollgate.dataset\n\nwarn contains \"looked\" if { false }\n");
    let (_, report) = check_json(repo.path(), &["--base", "HEAD"]);
    assert_eq!(report["documents_checked"].as_u64().unwrap(), total);
}

#[test]
fn a_deleted_document_breaks_references_to_it() {
    let repo = Scratch::examples();
    repo.git_init();
    repo.remove("datasets/adult-train.yaml");
    let (code, report) = check_json(repo.path(), &["--base", "HEAD"]);
    assert_eq!(code, 1);
    assert_eq!(report["changed_files"], serde_json::json!(["datasets/adult-train.yaml"]));
    assert!(!findings(&report, "ref-dataset").is_empty(), "{report:#}");
}

#[cfg(unix)]
#[test]
fn links_out_of_the_repo_in_a_commit_are_refused() {
    let repo = Scratch::examples();
    std::os::unix::fs::symlink("../../../etc/passwd", repo.path().join("models/escape.yaml")).unwrap();
    std::os::unix::fs::symlink("churn.yaml", repo.path().join("models/inside.yml")).unwrap();
    let git = repo.git_init();
    // Remove the links from the working directory: the commit alone must be enough.
    std::fs::remove_file(repo.path().join("models/escape.yaml")).unwrap();
    drop(git);
    let (code, report) = check_json(repo.path(), &["--rev", "HEAD"]);
    assert_eq!(code, 2, "{report:#}");
    let refused = findings(&report, "path");
    assert_eq!(refused.len(), 1, "{report:#}");
    assert_eq!(refused[0]["file"], "models/escape.yaml");
    assert_eq!(findings(&report, "duplicate-name").len(), 1, "the in-repo link is followed: {report:#}");
}

#[test]
fn a_config_repo_in_a_folder_of_a_larger_git_repository() {
    let mono = Scratch::empty();
    crate::support::copy_dir(&crate::support::examples(), &mono.path().join("ml/config"));
    mono.write("README.md", "the monorepo\n");
    mono.write("services/api.yaml", "apiVersion: tollgate.dev/v1alpha1\nkind: Modle\n");
    let git = mono.git_init();
    let sub = mono.path().join("ml/config");
    let (code, report) = check_json(&sub, &["--rev", "HEAD"]);
    assert_eq!(code, 0, "files outside the folder are not read: {report:#}");
    assert!(report["documents"].as_u64().unwrap() >= 15);
    std::fs::write(
        sub.join("models/income.yaml"),
        std::fs::read_to_string(sub.join("models/income.yaml")).unwrap().replace("limitations:", "limitation:"),
    )
    .unwrap();
    commit_all(&git, "change");
    let (_, report) = check_json(&sub, &["--rev", "HEAD", "--base", "HEAD~1"]);
    assert_eq!(report["changed_files"], serde_json::json!(["models/income.yaml"]));
}
