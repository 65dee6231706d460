//! The files a release's gates read, written out from a commit for a repository without a
//! working tree (a remote's bare mirror), under `<git dir>/tollgate/checkout/<commit>/`.
//!
//! Several preparers share one mirror: `tollgate serve --reconcile` prepares from its service
//! and from its reconcile loop, and a `tollgate status` may run next to it. The folders are
//! counted by a lock file, `checkout/.lock`: every preparer holds it shared while it writes and
//! reads a checkout, and folders of other commits are removed only under the exclusive lock,
//! that is when no one (in this process or another) reads any. The lock is the operating
//! system's, so a preparer that dies lets go of it.

#[cfg(test)]
mod tests;

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use tollgate_spec::repo::RepoPath;

/// The lock file's name in the checkout folder.
const LOCK: &str = ".lock";

/// Where a prepare's gates read their files.
pub(super) enum GateFiles {
    /// The working tree of a local repository (the config repo's folder in it).
    WorkTree(PathBuf),
    /// The commit's checkout, held for the whole prepare.
    Checkout(Checkout),
    /// The checkout could not be held; gates that need files say why.
    Unavailable(String),
}

impl GateFiles {
    /// For a prepare of `commit` in `git`: its working tree, or for a repository without one,
    /// the commit's checkout, held from now until the value is dropped.
    pub(super) fn of(git: &Repository, commit: Oid, prefix: &str) -> GateFiles {
        match git.workdir() {
            Some(w) => GateFiles::WorkTree(w.join(prefix)),
            None => match Checkout::hold(git, commit) {
                Ok(checkout) => GateFiles::Checkout(checkout),
                Err(err) => GateFiles::Unavailable(err.to_string()),
            },
        }
    }

    /// The folder the gates read, with `paths` written to it first for a checkout.
    ///
    /// # Errors
    ///
    /// Why the files cannot be read, in words.
    pub(super) fn root(&self, git: &Repository, prefix: &str, paths: &[RepoPath]) -> Result<PathBuf, String> {
        match self {
            GateFiles::WorkTree(root) => Ok(root.clone()),
            GateFiles::Checkout(checkout) => checkout.write(git, prefix, paths).map(Path::to_owned).map_err(|e| e.to_string()),
            GateFiles::Unavailable(why) => Err(why.clone()),
        }
    }
}

/// A commit's checkout folder, held: while it lives, nobody removes the folder.
pub(super) struct Checkout {
    commit: Oid,
    dir: PathBuf,
    /// `checkout/.lock`, locked shared.
    _lock: File,
}

impl Checkout {
    /// Holds the checkout of `commit`: when no one else holds one of this repository, first
    /// removes the folders of other commits; then locks the lock file shared.
    ///
    /// # Errors
    ///
    /// When the folder or its lock cannot be created or locked.
    pub(super) fn hold(git: &Repository, commit: Oid) -> std::io::Result<Checkout> {
        let base = git.path().join("tollgate").join("checkout");
        std::fs::create_dir_all(&base)?;
        let lock = File::options().read(true).write(true).create(true).truncate(false).open(base.join(LOCK))?;
        let dir = base.join(commit.to_string());
        match lock.try_lock() {
            Ok(()) => {
                for e in std::fs::read_dir(&base)?.flatten().filter(|e| e.path() != dir && e.file_name() != LOCK) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
                // Between this and the shared lock, another preparer may clean up; it removes
                // nothing this one has written, since this one has written nothing yet.
                lock.unlock()?;
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(err)) => return Err(err),
        }
        lock.lock_shared()?;
        Ok(Checkout { commit, dir, _lock: lock })
    }

    /// Writes `paths` as they are at the commit into the folder and returns it. Blobs are
    /// streamed; a file already written is kept (files are renamed into place whole).
    ///
    /// # Errors
    ///
    /// When the commit or a blob cannot be read, or a file cannot be written.
    pub(super) fn write(&self, git: &Repository, prefix: &str, paths: &[RepoPath]) -> Result<&Path, git2::Error> {
        let dir = &self.dir;
        let tree = git.find_commit(self.commit)?.tree()?;
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
            std::fs::create_dir_all(target.parent().unwrap_or(dir)).map_err(io)?;
            let mut tmp = tempfile::NamedTempFile::new_in(target.parent().unwrap_or(dir)).map_err(io)?;
            // libgit2 streams loose objects only; a packed blob (any object of a clone or a
            // large fetch) is read whole.
            match odb.reader(entry.id()) {
                Ok((mut reader, _, _)) => std::io::copy(&mut reader, &mut tmp).map(drop).map_err(io)?,
                Err(_) => std::io::Write::write_all(&mut tmp, odb.read(entry.id())?.data()).map_err(io)?,
            }
            tmp.persist(&target).map_err(|e| io(e.error))?;
        }
        Ok(dir)
    }
}
