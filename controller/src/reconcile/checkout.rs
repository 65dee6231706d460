//! The files a release's gates read, written out from a commit for a repository without a
//! working tree (a remote's bare mirror).

use std::path::{Path, PathBuf};

use git2::Repository;
use tollgate_spec::repo::RepoPath;

/// Writes `paths` as they are at `commit` under `<git dir>/tollgate/checkout/<commit>/`, for a
/// repository without a working tree, and returns that folder. Blobs are streamed; a file
/// already written for this commit is kept; folders of other commits are removed.
pub(super) fn materialize(git: &Repository, commit: git2::Oid, prefix: &str, paths: &[RepoPath]) -> Result<PathBuf, git2::Error> {
    let base = git.path().join("tollgate").join("checkout");
    let dir = base.join(commit.to_string());
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten().filter(|e| e.path() != dir) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let tree = git.find_commit(commit)?.tree()?;
    let odb = git.odb()?;
    let io = |e: std::io::Error| git2::Error::from_str(&e.to_string());
    for path in paths {
        let full = if prefix.is_empty() { path.to_string() } else { format!("{prefix}/{path}") };
        // A file the commit does not have is reported by the gates, which look for it.
        let Ok(entry) = tree.get_path(Path::new(&full)) else { continue };
        let target = dir.join(path.as_str());
        if target.exists() {
            continue;
        }
        std::fs::create_dir_all(target.parent().unwrap_or(&dir)).map_err(io)?;
        let mut reader = odb.reader(entry.id())?.0;
        let mut tmp = tempfile::NamedTempFile::new_in(target.parent().unwrap_or(&dir)).map_err(io)?;
        std::io::copy(&mut reader, &mut tmp).map_err(io)?;
        tmp.persist(&target).map_err(|e| io(e.error))?;
    }
    Ok(dir)
}
