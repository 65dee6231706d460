//! Loading only what a change touches, for `tollgate check --base REF`.
//!
//! Git says which files differ from the base (tree to tree, or tree to working directory
//! through the index's stat cache, as `git diff` does), so unchanged files are neither read
//! nor hashed. Their documents are known by summary (kind, name, what they reference), from a
//! cache keyed by blob id ([`super::summaries`]). From the summaries the loader finds what the
//! change can affect and loads, fully, only:
//!
//! - the changed files;
//! - the documents that reference a changed or deleted document, and the releases whose
//!   promotion path crosses a changed environment (the *dependents*);
//! - documents with the same kind and name as a changed one (so duplicates are seen);
//! - what the changed documents and the dependents reference, every environment and
//!   `tollgate.yaml` (the context their checks and policies read).
//!
//! The checks then run unchanged over that partial repo; only their scope differs
//! ([`tollgate_check`]). A change to `tollgate.yaml` or to a policy concerns everything, and
//! symbolic links or submodules make file identity depend on more than the diff, so those
//! cases answer [`Scoped::Whole`] and the caller loads the whole repo.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::{Delta, DiffOptions, FileMode, ObjectType, Oid, Repository, Tree, TreeWalkMode, TreeWalkResult};
use rayon::prelude::*;

use super::load::{CONFIG_FILE, Globs, Role, parse_file, settings_from};
use super::summaries::{DocSummary, Docs, Summaries, Treatment};
use super::{ConfigRepo, Document, FileData, Kind, LoadOptions, OtherFile};
use crate::Changes;
use crate::diag::{Finding, Severity, Stage};
use crate::refs;
use crate::repo::{RepoError, RepoPath, resolve_commit};
use crate::yaml;

/// The outcome of [`load_scoped`].
#[derive(Debug)]
pub enum Scoped {
    /// The change, what depends on it and what that needs, loaded; every other document is a
    /// summary in [`ConfigRepo::others`].
    Loaded(Box<ConfigRepo>, Changes),
    /// A scoped load does not apply here, for the reason given: load the whole repo.
    Whole(&'static str),
}

/// Where a changed file's bytes are.
enum Origin {
    Disk(PathBuf),
    Blob(Oid),
}

/// Loads what changed between `base` and the working directory at `dir` (or the commit
/// `rev`), with what it affects and needs.
///
/// # Errors
///
/// Returns [`RepoError`] when the repository, the revisions or a file cannot be read.
pub fn load_scoped(dir: &Path, rev: Option<&str>, base: &str, options: &LoadOptions) -> Result<Scoped, RepoError> {
    let git = Repository::discover(dir)
        .map_err(|source| RepoError::Git { context: format!("no Git repository at `{}`", dir.display()), source })?;
    let git_err = |context: &str| {
        let context = context.to_owned();
        move |source| RepoError::Git { context, source }
    };
    let workdir = git.workdir().and_then(|w| w.canonicalize().ok());
    let root = dir.canonicalize().map_err(|source| RepoError::Io { path: dir.to_owned(), source })?;
    let prefix = crate::repo::config_prefix(&git, dir);
    if rev.is_none() && workdir.is_none() {
        return Ok(Scoped::Whole("the repository has no working directory"));
    }

    let base_commit = resolve_commit(&git, base)?;
    let base_root = git.find_commit(base_commit).and_then(|c| c.tree()).map_err(git_err("cannot read the base tree"))?;
    let Some(base_tree) = crate::repo::subtree(&git, &base_root, &prefix) else {
        return Ok(Scoped::Whole("the config repo's folder does not exist at the base"));
    };
    let Some(base_files) = tree_files(&base_tree)? else {
        return Ok(Scoped::Whole("the base holds symbolic links or submodules"));
    };

    // What differs, by path inside the config repo.
    let mut opts = DiffOptions::new();
    if !prefix.is_empty() {
        opts.pathspec(format!("{prefix}/"));
    }
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(true).recurse_ignored_dirs(true).include_typechange(true);
    // As `git status` does: files whose stat data the index could not trust (written in the
    // same second as the index) are hashed once and the index refreshed, not hashed every run.
    opts.update_index(true);
    let (diff, commit) = match rev {
        Some(rev) => {
            let commit = resolve_commit(&git, rev)?;
            let tree = git.find_commit(commit).and_then(|c| c.tree()).map_err(git_err("cannot read the tree"))?;
            (
                git.diff_tree_to_tree(Some(&base_root), Some(&tree), Some(&mut opts)).map_err(git_err("cannot compare with the base"))?,
                Some(commit),
            )
        }
        None => {
            (git.diff_tree_to_workdir_with_index(Some(&base_root), Some(&mut opts)).map_err(git_err("cannot compare with the base"))?, None)
        }
    };
    let strip = |p: Option<&Path>| -> Option<RepoPath> {
        let p = p?.to_str()?;
        let inner = if prefix.is_empty() { p } else { p.strip_prefix(prefix.as_str())?.strip_prefix('/')? };
        RepoPath::new(inner).ok()
    };
    let mut changed: HashMap<RepoPath, Origin> = HashMap::new();
    let mut deleted: HashSet<RepoPath> = HashSet::new();
    for delta in diff.deltas() {
        let modes = [delta.old_file().mode(), delta.new_file().mode()];
        if modes.iter().any(|m| matches!(m, FileMode::Link | FileMode::Commit)) || delta.status() == Delta::Unreadable {
            return Ok(Scoped::Whole("the change involves symbolic links, submodules or unreadable files"));
        }
        if matches!(delta.status(), Delta::Deleted | Delta::Renamed)
            && let Some(path) = strip(delta.old_file().path())
        {
            deleted.insert(path);
        }
        if delta.status() == Delta::Deleted || delta.status() == Delta::Unmodified {
            continue;
        }
        let Some(path) = strip(delta.new_file().path()) else {
            if delta.new_file().path().is_some_and(|p| p.to_str().is_none()) {
                return Ok(Scoped::Whole("a changed path is not UTF-8"));
            }
            continue;
        };
        if delta.new_file().mode() == FileMode::Tree {
            return Ok(Scoped::Whole("the change holds a nested repository"));
        }
        let origin = match &workdir {
            Some(w) if commit.is_none() => Origin::Disk(w.join(delta.new_file().path().unwrap_or(Path::new("")))),
            _ => Origin::Blob(delta.new_file().id()),
        };
        deleted.remove(&path);
        changed.insert(path, origin);
    }
    if changed.keys().chain(deleted.iter()).any(|p| p.as_str() == CONFIG_FILE || p.as_str().ends_with(".rego")) {
        return Ok(Scoped::Whole("tollgate.yaml or a policy changed, which concerns every document"));
    }
    let Some(config_blob) = base_files.get(&RepoPath::new(CONFIG_FILE).expect("a valid path")).copied() else {
        return Ok(Scoped::Whole("there is no tollgate.yaml"));
    };

    let read_blob = |oid: Oid| -> Result<Vec<u8>, RepoError> {
        git.find_blob(oid).map(|b| b.content().to_vec()).map_err(git_err("cannot read a blob of the base"))
    };
    let config_bytes = read_blob(config_blob)?;
    let Some(settings) = settings_from(&config_bytes) else {
        return Ok(Scoped::Whole("tollgate.yaml does not parse"));
    };
    let limits = settings.limits;
    let mut repo = ConfigRepo {
        origin: match commit {
            Some(c) => format!("{}@{}", workdir.as_deref().unwrap_or(git.path()).display(), &c.to_string()[..12]),
            None => root.display().to_string(),
        },
        commit: commit.map(|c| c.to_string()),
        ..ConfigRepo::default()
    };
    let globs = Globs::new(&settings, &mut repo.findings);
    let treatment = |path: &RepoPath| match globs.role(path.as_str()) {
        Some(Role::Plan) => Some(Treatment::Plan),
        Some(Role::Yaml) if globs.manifests.is_match(path.as_str()) => Some(Treatment::Manifests),
        Some(Role::Yaml) => Some(Treatment::Yaml),
        Some(Role::Policy) | None => None,
    };

    // Policies (unchanged: a changed one loads the whole repo).
    for (path, oid) in &base_files {
        if globs.role(path.as_str()) == Some(Role::Policy) && !deleted.contains(path) {
            match String::from_utf8(read_blob(*oid)?) {
                Ok(text) => repo.policies.push((path.clone(), text)),
                Err(_) => repo.findings.push(
                    Finding::new(Severity::Fatal, Stage::Input, "utf8", path.as_str(), "policy file is not valid UTF-8")
                        .hint("save the file as UTF-8"),
                ),
            }
        }
    }
    repo.policies.sort_by(|a, b| a.0.cmp(&b.0));

    // Summaries of every unchanged file and of the deleted ones, from the cache or parsed.
    let mut cache = Summaries::open(Some(git.path()), &limits);
    let unchanged: Vec<(&RepoPath, Oid, Treatment)> = base_files
        .iter()
        .filter(|(p, _)| !changed.contains_key(*p) && !deleted.contains(*p))
        .filter_map(|(p, oid)| treatment(p).map(|t| (p, *oid, t)))
        .collect();
    let mut known: HashMap<&RepoPath, Docs> = HashMap::with_capacity(unchanged.len());
    let mut missing = Vec::new();
    for &(path, oid, t) in &unchanged {
        match cache.get(oid, t) {
            Some(docs) => {
                known.insert(path, docs);
            }
            None => missing.push((path, oid, t)),
        }
    }
    let mut datas = Vec::with_capacity(missing.len());
    for &(path, oid, t) in &missing {
        datas.push((Arc::new(FileData::new(path.clone(), read_blob(oid)?, oid)), t));
    }
    let parsed = pool(options.jobs, || datas.par_iter().map(|(data, t)| summarize(data, *t, &globs, &limits)).collect::<Vec<_>>());
    for (&(path, oid, t), docs) in missing.iter().zip(parsed) {
        cache.put(oid, t, docs.clone());
        known.insert(path, docs);
    }

    // The changed files, read and parsed in full.
    let mut loaded: Vec<(Arc<FileData>, Treatment)> = Vec::new();
    for (path, origin) in &changed {
        let Some(t) = treatment(path) else { continue };
        let bytes = match origin {
            Origin::Disk(full) => std::fs::read(full).map_err(|source| RepoError::Read { path: path.to_string(), source })?,
            Origin::Blob(oid) => read_blob(*oid)?,
        };
        let blob = match origin {
            Origin::Blob(oid) => *oid,
            Origin::Disk(_) => Oid::ZERO_SHA1,
        };
        loaded.push((Arc::new(FileData::new(path.clone(), bytes, blob)), t));
    }
    // What the base had in deleted and changed files: a document gone from them (deleted,
    // renamed, or no longer parsing) breaks whatever referenced it.
    let mut deleted_documents: HashSet<(Kind, String)> = HashSet::new();
    for path in deleted.iter().chain(changed.keys()) {
        let (Some(oid), Some(t)) = (base_files.get(path), treatment(path)) else { continue };
        let docs = match cache.get(*oid, t) {
            Some(docs) => docs,
            None => {
                let data = Arc::new(FileData::new(path.clone(), read_blob(*oid)?, *oid));
                let docs = summarize(&data, t, &globs, &limits);
                cache.put(*oid, t, docs.clone());
                docs
            }
        };
        deleted_documents.extend(docs.iter().map(|d| (d.kind, d.name.clone())));
    }
    let changed_docs: Vec<(Vec<Document>, Vec<Finding>)> =
        loaded.iter().map(|(data, t)| parse_file(data, *t == Treatment::Plan, &globs, &limits)).collect();
    for doc in changed_docs.iter().flat_map(|(docs, _)| docs) {
        deleted_documents.remove(&(doc.kind, doc.name.clone()));
    }

    // What the change touches, and so what to load.
    let mut touched: HashSet<(Kind, &str)> = deleted_documents.iter().map(|(k, n)| (*k, n.as_str())).collect();
    let mut needed: HashSet<(Kind, &str)> = HashSet::new();
    let mut promotes_from: HashMap<&str, &str> = HashMap::new();
    for doc in changed_docs.iter().flat_map(|(docs, _)| docs) {
        touched.insert((doc.kind, doc.name.as_str()));
    }
    let changed_refs: Vec<Vec<(Kind, String)>> = changed_docs.iter().flat_map(|(docs, _)| docs).map(refs::outgoing).collect();
    for r in changed_refs.iter().flatten() {
        needed.insert((r.0, r.1.as_str()));
    }
    for doc in changed_docs.iter().flat_map(|(docs, _)| docs).filter(|d| d.kind == Kind::Environment) {
        if let Some(from) = doc.str_at("/spec/promotesFrom") {
            promotes_from.insert(doc.name.as_str(), from);
        }
    }
    for d in known.values().flat_map(|docs| docs.iter()).filter(|d| d.kind == Kind::Environment) {
        if let Some((_, from)) = d.refs.iter().find(|(k, _)| *k == Kind::Environment) {
            promotes_from.entry(d.name.as_str()).or_insert(from.as_str());
        }
    }
    let touched_envs: HashSet<&str> = touched.iter().filter(|(k, _)| *k == Kind::Environment).map(|(_, n)| *n).collect();
    let crosses_touched_env = |target: &str| -> bool {
        let mut seen = HashSet::new();
        let mut current = Some(target);
        while let Some(env) = current {
            if touched_envs.contains(env) {
                return true;
            }
            if !seen.insert(env) {
                return false;
            }
            current = promotes_from.get(env).copied();
        }
        false
    };
    let mut load_paths: HashSet<&RepoPath> = HashSet::new();
    for (path, docs) in &known {
        for d in docs.iter() {
            let depends = d.refs.iter().any(|(k, n)| touched.contains(&(*k, n.as_str())))
                || (d.kind == Kind::Release
                    && !touched_envs.is_empty()
                    && d.refs.iter().any(|(k, n)| *k == Kind::Environment && crosses_touched_env(n)));
            if depends {
                load_paths.insert(*path);
                for r in &d.refs {
                    needed.insert((r.0, r.1.as_str()));
                }
            }
            if touched.contains(&(d.kind, d.name.as_str())) || d.kind == Kind::Environment || d.kind == Kind::Config {
                load_paths.insert(*path);
            }
        }
    }
    for (path, docs) in &known {
        if docs.iter().any(|d| needed.contains(&(d.kind, d.name.as_str()))) {
            load_paths.insert(*path);
        }
    }

    // Load them, and keep the rest as summaries.
    let mut context: Vec<(Arc<FileData>, Treatment)> = Vec::with_capacity(load_paths.len());
    for &(path, oid, t) in &unchanged {
        if load_paths.contains(path) {
            context.push((Arc::new(FileData::new(path.clone(), read_blob(oid)?, oid)), t));
        }
    }
    let context_docs: Vec<(Vec<Document>, Vec<Finding>)> =
        context.iter().map(|(data, t)| parse_file(data, *t == Treatment::Plan, &globs, &limits)).collect();
    for (docs, findings) in changed_docs.into_iter().chain(context_docs) {
        repo.documents.extend(docs);
        repo.findings.extend(findings);
    }
    repo.documents.sort_by(|a, b| a.file.path.cmp(&b.file.path).then(a.index.cmp(&b.index)));
    for (path, docs) in known {
        if load_paths.contains(path) {
            continue;
        }
        repo.others.push(OtherFile { path: path.clone(), documents: docs });
    }
    repo.others.sort_by(|a, b| a.path.cmp(&b.path));
    repo.files = loaded.into_iter().chain(context).map(|(d, _)| (d.path.clone(), d)).collect();
    repo.paths = base_files.keys().filter(|p| !deleted.contains(*p)).cloned().chain(changed.keys().cloned()).collect();
    repo.settings = settings;
    cache.save();

    let changes = Changes { base: base.to_owned(), changed: changed.into_keys().collect(), deleted, deleted_documents };
    Ok(Scoped::Loaded(Box::new(repo), changes))
}

/// The summaries of one file's documents; a file that does not parse has none.
fn summarize(data: &Arc<FileData>, treatment: Treatment, globs: &Globs, limits: &yaml::Limits) -> Docs {
    if data.bytes.len() > limits.max_file_bytes {
        return Docs::from([]);
    }
    let (docs, _) = parse_file(data, treatment == Treatment::Plan, globs, limits);
    docs.iter().map(|d| DocSummary { kind: d.kind, name: d.name.clone(), refs: refs::outgoing(d) }).collect::<Vec<_>>().into()
}

fn pool<T: Send>(jobs: usize, work: impl FnOnce() -> T + Send) -> T {
    if jobs == 0 {
        return work();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}

/// Every file of a tree with its blob id; `None` when it holds links or submodules.
fn tree_files(tree: &Tree<'_>) -> Result<Option<HashMap<RepoPath, Oid>>, RepoError> {
    let mut files = HashMap::new();
    let mut plain = true;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| match entry.kind() {
        Some(ObjectType::Tree) => TreeWalkResult::Ok,
        Some(ObjectType::Blob) if entry.filemode() != 0o120000 => {
            match entry.name().ok().and_then(|n| RepoPath::new(&format!("{dir}{n}")).ok()) {
                Some(path) => {
                    files.insert(path, entry.id());
                    TreeWalkResult::Ok
                }
                None => {
                    plain = false;
                    TreeWalkResult::Abort
                }
            }
        }
        _ => {
            plain = false;
            TreeWalkResult::Abort
        }
    })
    .or_else(|e| if plain { Err(e) } else { Ok(()) })
    .map_err(|source| RepoError::Git { context: "cannot walk the base tree".into(), source })?;
    Ok(plain.then_some(files))
}
