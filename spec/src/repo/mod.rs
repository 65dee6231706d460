//! Reading a config repo's files, from a working directory or straight from a Git commit.
//!
//! Both sources hand out the same thing: repo-relative paths (always `/`-separated, never
//! leaving the repo) with their bytes and Git blob ids. A Git commit is read from the object
//! database without a checkout, which is what lets `--base REF` compare two commits cheaply:
//! unchanged files have the same blob id.
//!
//! **Guarantees:** no path handed out is absolute or contains `..`; a symbolic link whose
//! target leaves the repo is reported as [`Refused`] and never followed.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

#[cfg(test)]
mod tests;

/// A path inside the repo: relative, `/`-separated, normalised, never leaving the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoPath(String);

impl RepoPath {
    /// Normalises `path` (relative to the repo root), refusing anything that leaves the root.
    ///
    /// # Errors
    ///
    /// Returns [`PathError`] for absolute paths, `..` that climbs above the root, empty paths
    /// and paths that are not UTF-8.
    pub fn new(path: &str) -> Result<RepoPath, PathError> {
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        if path.starts_with('/') || path.starts_with('\\') || Path::new(path).has_root() || has_drive_prefix(path) {
            return Err(PathError::Absolute { path: path.to_owned() });
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(PathError::Escapes { path: path.to_owned() });
                    }
                }
                other => parts.push(other),
            }
        }
        if parts.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(RepoPath(parts.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder holding this path (`""` for files at the root).
    pub fn parent(&self) -> &str {
        self.0.rfind('/').map_or("", |i| &self.0[..i])
    }

    /// Resolves `relative` against this path's folder, as a symbolic link target is.
    ///
    /// # Errors
    ///
    /// Returns [`PathError`] when the result would leave the repo.
    pub fn join_sibling(&self, relative: &str) -> Result<RepoPath, PathError> {
        if relative.starts_with('/') {
            return Err(PathError::Absolute { path: relative.to_owned() });
        }
        let parent = self.parent();
        if parent.is_empty() { RepoPath::new(relative) } else { RepoPath::new(&format!("{parent}/{relative}")) }
    }
}

fn has_drive_prefix(path: &str) -> bool {
    let b = path.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RepoPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty or only `.`.
    #[error("path is empty")]
    Empty,
    /// The path is absolute.
    #[error("path `{path}` is absolute")]
    Absolute { path: String },
    /// `..` climbs above the repo root.
    #[error("path `{path}` leaves the repo")]
    Escapes { path: String },
    /// A symbolic link points outside the repo.
    #[error("symbolic link `{path}` points outside the repo (to `{target}`)")]
    LinkEscapes { path: String, target: String },
    /// The path is not valid UTF-8.
    #[error("path `{path}` is not valid UTF-8")]
    NotUtf8 { path: String },
    /// A symbolic link inside the repo that leads to no file: its target is missing, or links
    /// form a loop.
    #[error("symbolic link `{path}` leads to no file (to `{target}`): its target is missing or the links form a loop")]
    BrokenLink { path: String, target: String },
}

/// One file of the repo.
#[derive(Debug, Clone)]
pub struct RepoFile {
    pub path: RepoPath,
    /// The Git blob id of the contents (computed for working-directory files too).
    pub blob: Oid,
    pub size: u64,
}

/// A file that was seen but not handed out, with the reason.
#[derive(Debug, Clone)]
pub struct Refused {
    pub path: String,
    pub error: PathError,
}

/// Errors reading a repo.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The folder does not exist or cannot be listed.
    #[error("cannot read repo folder `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Git could not open the repo or resolve the revision.
    #[error("git: {context}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    /// The revision does not name a commit.
    #[error("`{rev}` does not name a commit")]
    NotACommit { rev: String },
}

/// Where files come from.
pub enum Source {
    /// A folder on disk (a working directory, with or without Git).
    WorkDir { root: PathBuf },
    /// A commit read from a repository's object database; `prefix` is the config repo's
    /// folder inside the Git repository (`""` when it is the root).
    Commit { repo: Repository, commit: Oid, prefix: String },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::WorkDir { root } => f.debug_struct("WorkDir").field("root", root).finish(),
            Source::Commit { commit, .. } => f.debug_struct("Commit").field("commit", commit).finish(),
        }
    }
}

/// The files of a source, listed once.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<RepoFile>,
    pub refused: Vec<Refused>,
    /// For a commit source: symbolic links resolved to the path whose blob they share.
    links: HashMap<RepoPath, RepoPath>,
}

impl Source {
    /// A working-directory source rooted at `root`.
    ///
    /// # Errors
    ///
    /// Returns [`RepoError::Io`] when `root` is not a readable folder.
    pub fn workdir(root: &Path) -> Result<Source, RepoError> {
        let root = root.canonicalize().map_err(|source| RepoError::Io { path: root.to_owned(), source })?;
        if !root.is_dir() {
            return Err(RepoError::Io { path: root, source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory") });
        }
        Ok(Source::WorkDir { root })
    }

    /// A commit source: `rev` (any revision Git understands) in the repository at or above `dir`.
    ///
    /// # Errors
    ///
    /// Returns [`RepoError::Git`] when there is no repository or the revision does not resolve.
    pub fn commit(dir: &Path, rev: &str) -> Result<Source, RepoError> {
        let repo = Repository::discover(dir)
            .map_err(|source| RepoError::Git { context: format!("no Git repository at `{}`", dir.display()), source })?;
        let commit = resolve_commit(&repo, rev)?;
        let prefix = config_prefix(&repo, dir);
        Ok(Source::Commit { repo, commit, prefix })
    }

    /// The commit id, for commit sources.
    pub fn commit_id(&self) -> Option<Oid> {
        match self {
            Source::WorkDir { .. } => None,
            Source::Commit { commit, .. } => Some(*commit),
        }
    }

    /// Lists every regular file (following in-repo symbolic links), skipping `.git`.
    ///
    /// # Errors
    ///
    /// Returns [`RepoError`] when the folder or tree cannot be read at all; single bad
    /// entries are reported in [`Listing::refused`].
    pub fn list(&self) -> Result<Listing, RepoError> {
        match self {
            Source::WorkDir { root } => list_workdir(root),
            Source::Commit { repo, commit, prefix } => list_commit(repo, *commit, prefix),
        }
    }

    /// Reads one listed file.
    ///
    /// # Errors
    ///
    /// Returns [`RepoError::Read`] when the file vanished or cannot be read.
    pub fn read(&self, listing: &Listing, path: &RepoPath) -> Result<Vec<u8>, RepoError> {
        match self {
            Source::WorkDir { root } => {
                let full = root.join(path.as_str());
                std::fs::read(&full).map_err(|source| RepoError::Read { path: path.to_string(), source })
            }
            Source::Commit { repo, .. } => {
                let target = listing.links.get(path).unwrap_or(path);
                let blob = listing
                    .files
                    .iter()
                    .find(|f| &f.path == target)
                    .map(|f| f.blob)
                    .ok_or_else(|| RepoError::Read { path: path.to_string(), source: std::io::ErrorKind::NotFound.into() })?;
                read_blob(repo, blob, path)
            }
        }
    }

    /// Reads a file by blob id (commit sources) or path (working directories).
    ///
    /// # Errors
    ///
    /// Returns [`RepoError::Read`] when it cannot be read.
    pub fn read_file(&self, file: &RepoFile) -> Result<Vec<u8>, RepoError> {
        match self {
            Source::WorkDir { root } => {
                std::fs::read(root.join(file.path.as_str())).map_err(|source| RepoError::Read { path: file.path.to_string(), source })
            }
            Source::Commit { repo, .. } => read_blob(repo, file.blob, &file.path),
        }
    }

    /// A display name for reports: the folder, or `<folder>@<short commit>`.
    pub fn describe(&self) -> String {
        match self {
            Source::WorkDir { root } => root.display().to_string(),
            Source::Commit { repo, commit, .. } => {
                let dir = repo.workdir().unwrap_or_else(|| repo.path());
                format!("{}@{}", dir.display(), &commit.to_string()[..12])
            }
        }
    }
}

fn read_blob(repo: &Repository, blob: Oid, path: &RepoPath) -> Result<Vec<u8>, RepoError> {
    repo.find_blob(blob)
        .map(|b| b.content().to_vec())
        .map_err(|source| RepoError::Git { context: format!("cannot read blob of `{path}`"), source })
}

/// Resolves a revision to a commit id.
///
/// # Errors
///
/// Returns [`RepoError`] when the revision does not resolve to a commit.
pub fn resolve_commit(repo: &Repository, rev: &str) -> Result<Oid, RepoError> {
    let object = repo.revparse_single(rev).map_err(|source| RepoError::Git { context: format!("cannot resolve `{rev}`"), source })?;
    let commit = object.peel_to_commit().map_err(|_| RepoError::NotACommit { rev: rev.to_owned() })?;
    Ok(commit.id())
}

/// The blob ids of every file at `rev`, for comparing against another source.
///
/// # Errors
///
/// Returns [`RepoError`] when the repository or revision cannot be read.
pub fn blob_index(dir: &Path, rev: &str) -> Result<HashMap<RepoPath, Oid>, RepoError> {
    let source = Source::commit(dir, rev)?;
    let listing = source.list()?;
    Ok(listing.files.into_iter().map(|f| (f.path, f.blob)).collect())
}

fn list_workdir(root: &Path) -> Result<Listing, RepoError> {
    let mut listing = Listing::default();
    let walker = walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter();
    for entry in walker.filter_entry(|e| e.depth() == 0 || e.file_name() != ".git") {
        let entry = entry.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
            RepoError::Io { path, source: e.into() }
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let Some(rel_str) = rel.to_str() else {
            listing
                .refused
                .push(Refused { path: rel.display().to_string(), error: PathError::NotUtf8 { path: rel.display().to_string() } });
            continue;
        };
        let rel_str = rel_str.replace('\\', "/");
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        if file_type.is_symlink() {
            // Follow a link only when what it finally points to is inside the repo.
            match entry.path().canonicalize() {
                Ok(target) if target.starts_with(root) && target.is_file() => {}
                Ok(target) if target.starts_with(root) => continue,
                Ok(target) => {
                    listing.refused.push(Refused {
                        path: rel_str.clone(),
                        error: PathError::LinkEscapes { path: rel_str, target: target.display().to_string() },
                    });
                    continue;
                }
                Err(_) => {
                    let target = std::fs::read_link(entry.path()).map(|t| t.display().to_string()).unwrap_or_default();
                    let escapes =
                        Path::new(&target).is_absolute() || Path::new(&target).components().any(|c| matches!(c, Component::ParentDir));
                    // Dangling, or a loop (issue #12: both were skipped without a word).
                    let error = if escapes {
                        PathError::LinkEscapes { path: rel_str.clone(), target }
                    } else {
                        PathError::BrokenLink { path: rel_str.clone(), target }
                    };
                    listing.refused.push(Refused { path: rel_str, error });
                    continue;
                }
            }
        }
        let path = match RepoPath::new(&rel_str) {
            Ok(p) => p,
            Err(error) => {
                listing.refused.push(Refused { path: rel_str, error });
                continue;
            }
        };
        let size = std::fs::metadata(entry.path()).map(|m| m.len()).unwrap_or(0);
        listing.files.push(RepoFile { path, blob: Oid::ZERO_SHA1, size });
    }
    Ok(listing)
}

/// Computes the Git blob id of `bytes`, the same id `git hash-object` prints.
pub fn blob_id(bytes: &[u8]) -> Oid {
    Oid::hash_object(ObjectType::Blob, bytes).unwrap_or(Oid::ZERO_SHA1)
}

/// The config repo's folder inside the Git repository `repo` (`""` at its root, or when the
/// repository has no working directory), for the folder `dir`.
pub fn config_prefix(repo: &Repository, dir: &Path) -> String {
    repo.workdir()
        .and_then(|w| w.canonicalize().ok())
        .zip(dir.canonicalize().ok())
        .and_then(|(w, d)| d.strip_prefix(&w).ok().map(|p| p.to_string_lossy().replace('\\', "/")))
        .unwrap_or_default()
}

/// The tree of the folder `prefix` in `root` (`root` itself for `""`), when it exists.
pub fn subtree<'g>(repo: &'g Repository, root: &git2::Tree<'g>, prefix: &str) -> Option<git2::Tree<'g>> {
    if prefix.is_empty() {
        return Some(root.clone());
    }
    root.get_path(Path::new(prefix)).and_then(|e| e.to_object(repo)).and_then(|o| o.peel_to_tree()).ok()
}

fn list_commit(repo: &Repository, commit: Oid, prefix: &str) -> Result<Listing, RepoError> {
    let mut tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|source| RepoError::Git { context: format!("cannot read the tree of `{commit}`"), source })?;
    // The config repo may be a folder of a larger Git repository: read only that folder. When
    // the folder does not exist at this commit, it has no files.
    tree = match subtree(repo, &tree, prefix) {
        Some(t) => t,
        None => return Ok(Listing::default()),
    };
    let mut listing = Listing::default();
    let mut links: Vec<(RepoPath, Oid)> = Vec::new();
    // Sizes from the object headers: a blob is read only when the loader asks for it, after
    // the size limit (issue #12: every blob was loaded whole here).
    let odb = repo.odb().map_err(|source| RepoError::Git { context: "cannot open the object database".into(), source })?;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let Ok(name) = entry.name() else {
            listing.refused.push(Refused { path: format!("{dir}<non-utf8>"), error: PathError::NotUtf8 { path: dir.to_owned() } });
            return TreeWalkResult::Skip;
        };
        match entry.kind() {
            Some(ObjectType::Tree) => TreeWalkResult::Ok,
            Some(ObjectType::Blob) => {
                let raw = format!("{dir}{name}");
                match RepoPath::new(&raw) {
                    Ok(path) if entry.filemode() == 0o120000 => links.push((path, entry.id())),
                    Ok(path) => {
                        let size = odb.read_header(entry.id()).map(|(size, _)| size as u64).unwrap_or(0);
                        listing.files.push(RepoFile { path, blob: entry.id(), size });
                    }
                    Err(error) => listing.refused.push(Refused { path: raw, error }),
                }
                TreeWalkResult::Ok
            }
            // Submodules (commits) are other repositories: not part of this config repo.
            _ => TreeWalkResult::Skip,
        }
    })
    .map_err(|source| RepoError::Git { context: "cannot walk the tree".into(), source })?;

    // Resolve symbolic links inside the tree; a chain is followed a few steps at most.
    let by_path: HashMap<RepoPath, (Oid, u64)> = listing.files.iter().map(|f| (f.path.clone(), (f.blob, f.size))).collect();
    let link_targets: HashMap<RepoPath, Oid> = links.iter().cloned().collect();
    for (path, blob) in links {
        let mut current_path = path.clone();
        let mut current_blob = blob;
        let mut resolved = None;
        let mut first_target = None;
        for _ in 0..8 {
            let target = repo.find_blob(current_blob).map(|b| String::from_utf8_lossy(b.content()).into_owned()).unwrap_or_default();
            first_target.get_or_insert_with(|| target.clone());
            match current_path.join_sibling(&target) {
                Ok(next) => {
                    if let Some((blob, size)) = by_path.get(&next) {
                        resolved = Some(Ok((next, *blob, *size)));
                        break;
                    }
                    if let Some(next_blob) = link_targets.get(&next) {
                        current_path = next;
                        current_blob = *next_blob;
                        continue;
                    }
                    break;
                }
                Err(_) => {
                    resolved = Some(Err(PathError::LinkEscapes { path: path.to_string(), target }));
                    break;
                }
            }
        }
        match resolved {
            Some(Ok((target, blob, size))) => {
                listing.links.insert(path.clone(), target);
                listing.files.push(RepoFile { path, blob, size });
            }
            Some(Err(error)) => listing.refused.push(Refused { path: path.to_string(), error }),
            // Dangling, or a loop longer than the chain followed.
            None => listing.refused.push(Refused {
                path: path.to_string(),
                error: PathError::BrokenLink { path: path.to_string(), target: first_target.unwrap_or_default() },
            }),
        }
    }
    listing.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(listing)
}

/// The author (name, email) of `rev` in the repository at or above `dir`, when there is one.
pub fn commit_author(dir: &Path, rev: &str) -> Option<(String, String)> {
    let repo = Repository::discover(dir).ok()?;
    let commit = repo.revparse_single(rev).ok()?.peel_to_commit().ok()?;
    let author = commit.author();
    Some((author.name().unwrap_or_default().to_owned(), author.email().unwrap_or_default().to_owned()))
}
