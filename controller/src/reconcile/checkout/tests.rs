use git2::{Oid, Repository, Signature};

use super::Checkout;
use tollgate_spec::repo::RepoPath;

/// A bare repository (a mirror has no working tree) with `data.csv` committed three times.
fn mirror() -> (tempfile::TempDir, Vec<Oid>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path().join("m.git")).unwrap();
    let sig = Signature::now("dev", "dev@acme.example").unwrap();
    let mut commits: Vec<Oid> = Vec::new();
    for text in ["a,b\n1,2\n", "a,b\n3,4\n", "a,b\n5,6\n"] {
        let blob = repo.blob(text.as_bytes()).unwrap();
        let mut tree = repo.treebuilder(None).unwrap();
        tree.insert("data.csv", blob, 0o100644).unwrap();
        let tree = repo.find_tree(tree.write().unwrap()).unwrap();
        let parent = commits.last().map(|p| repo.find_commit(*p).unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        commits.push(repo.commit(None, &sig, &sig, "data", &tree, &parents).unwrap());
    }
    (dir, commits)
}

/// Regression (issue #11): preparing one commit removed the checkout of another that a second
/// preparer of the same mirror (`serve --reconcile`'s service and loop) was reading.
#[test]
fn a_checkout_being_read_survives_another_commit_prepared() {
    let (dir, commits) = mirror();
    let files = [RepoPath::new("data.csv").unwrap()];
    let service = Repository::open(dir.path().join("m.git")).unwrap();
    let held = Checkout::hold(&service, commits[0]).unwrap();
    let reading = held.write(&service, "", &files).unwrap().to_owned();
    let reconciler = Repository::open(dir.path().join("m.git")).unwrap();
    let other = Checkout::hold(&reconciler, commits[1]).unwrap();
    other.write(&reconciler, "", &files).unwrap();
    assert_eq!(std::fs::read_to_string(reading.join("data.csv")).unwrap(), "a,b\n1,2\n");

    // Once nobody reads them, the folders of other commits go.
    drop((held, other));
    let next = Checkout::hold(&reconciler, commits[2]).unwrap();
    let kept = next.write(&reconciler, "", &files).unwrap().to_owned();
    assert!(!reading.exists(), "the first commit's folder is removed");
    let left: Vec<_> = std::fs::read_dir(kept.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "the lock file and the current commit's folder: {left:?}");
    assert_eq!(std::fs::read_to_string(kept.join("data.csv")).unwrap(), "a,b\n5,6\n");
}
