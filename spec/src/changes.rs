//! What changed between a base revision and the loaded config repo.

use std::collections::{HashMap, HashSet};

use crate::document::{ConfigRepo, Kind};
use crate::repo::RepoPath;

/// What changed since the base revision.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// The base revision as given, for reports.
    pub base: String,
    /// Files added or modified.
    pub changed: HashSet<RepoPath>,
    /// Files present at the base and gone now.
    pub deleted: HashSet<RepoPath>,
    /// Documents present at the base and gone now, when known (a scoped load knows them).
    pub deleted_documents: HashSet<(Kind, String)>,
}

impl Changes {
    /// Compares the loaded files with the blob ids at the base revision.
    pub fn between(base: &str, base_blobs: &HashMap<RepoPath, git2::Oid>, repo: &ConfigRepo) -> Changes {
        let mut changed = HashSet::new();
        for (path, data) in &repo.files {
            if base_blobs.get(path) != Some(&data.blob_id()) {
                changed.insert(path.clone());
            }
        }
        for (path, text) in &repo.policies {
            if base_blobs.get(path) != Some(&crate::repo::blob_id(text.as_bytes())) {
                changed.insert(path.clone());
            }
        }
        let deleted = base_blobs.keys().filter(|p| !repo.paths.contains(*p)).cloned().collect();
        Changes { base: base.to_owned(), changed, deleted, deleted_documents: HashSet::new() }
    }

    /// The changed and deleted files, sorted.
    pub fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = self.changed.iter().chain(self.deleted.iter()).map(ToString::to_string).collect();
        v.sort();
        v
    }
}
