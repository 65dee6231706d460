//! Helpers of the workspace's tests and benchmarks: committed copies of `examples/` in real Git
//! repositories, generated config repos ([`generate`]) and peak memory ([`peak`]).

pub mod generate;
pub mod peak;

use std::path::{Path, PathBuf};

/// The workspace's `examples/` folder.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Copies a folder recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Stages everything (additions, changes, deletions) and commits it on `HEAD`.
pub fn commit_all(repo: &git2::Repository, message: &str) {
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.update_all(["*"], None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("dev", "dev@acme.example").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap();
}

/// Replaces the first `from` with `to` in a file, failing the test if `from` is absent.
pub fn edit(root: &Path, rel: &str, from: &str, to: &str) {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "`{from}` not in {rel}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// A temporary copy of `examples/`, committed in a new Git repository.
pub fn committed_examples() -> (tempfile::TempDir, git2::Repository) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&examples(), dir.path());
    let git = git2::Repository::init(dir.path()).unwrap();
    commit_all(&git, "base");
    (dir, git)
}
