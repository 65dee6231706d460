//! Publishing the audit log's signed checkpoints to the config repo, outside the database
//! (issue #12: whoever could write the database could delete the checkpoint rows and rewrite
//! the log consistently).
//!
//! Each checkpoint is committed to `refs/tollgate/audit` as
//! `checkpoints/<size, 20 digits>.checkpoint`, one commit per checkpoint on top of the last, so
//! the ref's tree holds every checkpoint and its history says when each was published. Git's
//! object store and every clone or mirror of the repo that fetches the ref witness them:
//! rewriting the database no longer rewrites its anchors. `tollgate audit verify --checkpoint
//! DIR` checks the log against them, for example after
//! `git archive refs/tollgate/audit | tar -x -C DIR`.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature};
use tollgate_store::{Publish, StoredCheckpoint};

/// The ref checkpoints are committed to.
pub const AUDIT_REF: &str = "refs/tollgate/audit";

/// Publishes checkpoints to [`AUDIT_REF`] of the Git repository at (or above) a path.
#[derive(Debug, Clone)]
pub struct GitAnchor {
    repo: PathBuf,
    bot: (String, String),
}

impl GitAnchor {
    /// Commits to the repository that holds `path` (a config repo folder or a mirror), as `bot`
    /// (name, email).
    pub fn new(path: &Path, bot: (String, String)) -> GitAnchor {
        GitAnchor { repo: path.to_owned(), bot }
    }

    /// The file a checkpoint of `size` events is kept in.
    pub fn file_name(size: u64) -> String {
        format!("checkpoints/{size:020}.checkpoint")
    }

    fn commit(&self, checkpoint: &StoredCheckpoint) -> Result<Option<Oid>, git2::Error> {
        let repo = Repository::discover(&self.repo)?;
        let parent = match repo.find_reference(AUDIT_REF) {
            Ok(r) => Some(r.peel_to_commit()?),
            Err(e) if e.code() == git2::ErrorCode::NotFound => None,
            Err(e) => return Err(e),
        };
        let name = GitAnchor::file_name(checkpoint.size);
        let blob = repo.blob(checkpoint.note.as_bytes())?;
        if let Some(p) = &parent
            && p.tree()?.get_path(Path::new(&name)).is_ok_and(|e| e.id() == blob)
        {
            return Ok(None);
        }
        // The tree is the parent's with one file added under `checkpoints/`.
        let old = parent.as_ref().map(git2::Commit::tree).transpose()?;
        let old_dir = old.as_ref().and_then(|t| t.get_path(Path::new("checkpoints")).ok()).map(|e| e.id());
        let mut dir = repo.treebuilder(old_dir.map(|id| repo.find_tree(id)).transpose()?.as_ref())?;
        dir.insert(&name["checkpoints/".len()..], blob, git2::FileMode::Blob.into())?;
        let dir = dir.write()?;
        let mut root = repo.treebuilder(old.as_ref())?;
        root.insert("checkpoints", dir, git2::FileMode::Tree.into())?;
        let tree = repo.find_tree(root.write()?)?;
        let sig = Signature::now(&self.bot.0, &self.bot.1)?;
        let message = format!("audit checkpoint at {} events\n\nTollgate-Audit-Checkpoint: {}\n", checkpoint.size, checkpoint.size);
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        // `commit` moves the ref only if it still points at `parent`: a concurrent publisher
        // makes this one fail, and the next checkpoint carries on from the new tip.
        repo.commit(Some(AUDIT_REF), &sig, &sig, &message, &tree, &parents).map(Some)
    }
}

impl Publish for GitAnchor {
    fn publish(&self, checkpoint: &StoredCheckpoint) -> Result<(), String> {
        self.commit(checkpoint)
            .map(|_| ())
            .map_err(|e| format!("cannot commit to `{AUDIT_REF}` in `{}`: {}", self.repo.display(), e.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_audit::checkpoint::Signer;
    use tollgate_audit::event::NewEvent;
    use tollgate_audit::verify::{Anchors, Problem, Saved};
    use tollgate_store::{AuditLog, Store, verify_store};

    /// The checkpoints a log signs land in the config repo's `refs/tollgate/audit`, and the log
    /// verifies against them; rewritten in the database, it no longer does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signed_checkpoints_are_committed_to_the_audit_ref_and_anchor_the_log() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, _git) = tollgate_test_support::committed_examples();
        let head_before = Repository::open(repo.path()).unwrap().head().unwrap().target();
        let store = Store::open(&format!("sqlite://{}", tmp.path().join("t.db").display())).await.unwrap();
        let key = Signer::generate("tollgate").unwrap();
        let anchor = GitAnchor::new(repo.path(), ("tollgate".into(), "bot@tollgate.dev".into()));
        let log = AuditLog::new(store.clone())
            .with_signers(key.clone(), vec![])
            .with_checkpoint_every(2)
            .with_publisher(std::sync::Arc::new(anchor.clone()));
        for i in 0..5 {
            log.append(&[NewEvent::new("alice", "test.event", format!("t/{i}"), serde_json::json!({"n": i})).unwrap()]).await.unwrap();
        }
        // Published again (a retry, another replica): nothing new is committed.
        let last = store.checkpoints().await.unwrap().pop().unwrap();
        assert_eq!(anchor.commit(&last).unwrap(), None);

        let git = Repository::open(repo.path()).unwrap();
        assert_eq!(git.head().unwrap().target(), head_before, "the branch is untouched");
        let tip = git.find_reference(AUDIT_REF).unwrap().peel_to_commit().unwrap();
        assert_eq!(tip.parent_count(), 1);
        assert_eq!(tip.message().ok(), Some("audit checkpoint at 4 events\n\nTollgate-Audit-Checkpoint: 4\n"));
        let tree = tip.tree().unwrap();
        let mut saved = Vec::new();
        for size in [2, 4] {
            let entry = tree.get_path(Path::new(&GitAnchor::file_name(size))).unwrap();
            let note = String::from_utf8(git.find_blob(entry.id()).unwrap().content().to_vec()).unwrap();
            assert!(note.starts_with(&format!("tollgate.dev/audit\n{size}\n")), "{note}");
            saved.push(Saved { name: GitAnchor::file_name(size), note });
        }
        let anchors = Anchors { saved: &saved, every: Some(2), witnesses: &[] };
        let report = verify_store(&store, &[key.verifier()], &anchors).await.unwrap();
        assert_eq!((report.events, report.saved, report.problem), (5, 2, None));

        // A database replaced by another log of the same length proves nothing by its own rows
        // (it verifies ok alone); the ref tells.
        let other = Store::open(&format!("sqlite://{}", tmp.path().join("other.db").display())).await.unwrap();
        let forged = AuditLog::new(other.clone());
        for i in 0..5 {
            forged.append(&[NewEvent::new("mallory", "test.event", format!("t/{i}"), serde_json::json!({"n": i})).unwrap()]).await.unwrap();
        }
        let alone = verify_store(&other, &[], &Anchors::default()).await.unwrap();
        assert_eq!((alone.events, alone.problem), (5, None));
        let report = verify_store(&other, &[key.verifier()], &anchors).await.unwrap();
        assert_eq!(report.problem, Some(Problem::SavedMismatch { name: GitAnchor::file_name(2), size: 2 }));
        other.close().await;
        store.close().await;
    }
}
