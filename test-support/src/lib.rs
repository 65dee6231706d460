//! Helpers of the workspace's tests and benchmarks: committed copies of `examples/` in real Git
//! repositories, generated config repos ([`generate`]) and peak memory ([`peak`]).

pub mod generate;
pub mod http;
pub mod peak;

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Stages everything (additions, changes, deletions) and commits it on `HEAD`; the commit.
pub fn commit_all(repo: &git2::Repository, message: &str) -> git2::Oid {
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.update_all(["*"], None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("dev", "dev@acme.example").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap()
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

/// Alice, who commits the examples (an ML lead).
pub const ALICE: (&str, &str) = ("Alice", "alice@acme.example");
/// Carol (risk).
pub const CAROL: (&str, &str) = ("Carol", "carol@acme.example");

/// Runs `git ARGS` in `dir` as `who` (name, email), author and committer: its standard output.
///
/// # Panics
///
/// When git fails.
pub fn git(dir: &Path, args: &[&str], who: (&str, &str)) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", who.0)
        .env("GIT_AUTHOR_EMAIL", who.1)
        .env("GIT_COMMITTER_NAME", who.0)
        .env("GIT_COMMITTER_EMAIL", who.1)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The workspace's `examples/`, copied to `dir` and committed by Alice on `main` with the `git`
/// program; `edit(dir)` runs before the commit.
pub fn commit_examples(dir: &Path, edit: impl FnOnce(&Path)) {
    copy_dir(&examples(), dir);
    edit(dir);
    git(dir, &["init", "-q", "-b", "main"], ALICE);
    git(dir, &["add", "-A"], ALICE);
    git(dir, &["commit", "-q", "-m", "acme-ml config"], ALICE);
}

/// The `tollgate` binary, built once per test process (a no-op when it is fresh), for the test
/// crates that run it from outside the root package (`audit-tests`, `deploy-tests`).
/// `TOLLGATE_BIN` overrides; `TOLLGATE_TEST_FEATURES` adds cargo features to the build.
///
/// # Panics
///
/// When the build fails: the scenarios cannot run without the binary.
pub fn tollgate_binary() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("TOLLGATE_BIN") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "tollgate", "--bin", "tollgate"]).current_dir(&root);
        if let Ok(features) = std::env::var("TOLLGATE_TEST_FEATURES") {
            build.args(["--features", &features]);
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building tollgate failed");
        // Tests run from <target>/debug/deps/; the binary sits in <target>/debug/.
        let exe = std::env::current_exe().expect("test binary path");
        exe.parent().and_then(Path::parent).expect("target dir").join("tollgate")
    })
}
