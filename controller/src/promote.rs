//! Promotion: writing `deploy/<env>/<model>.yaml` and committing it as the tollgate bot.
//!
//! The commit is built from the branch tip's tree without a checkout, and the branch is moved
//! with a compare-and-swap on the ref, so a concurrent push or commit is never overwritten: the
//! write fails and the next pass starts again from the new tip. When the branch is the checked
//! out branch of a working directory, the file and its index entry are updated too, leaving any
//! other staged or unstaged change of the user alone.
//!
//! Commits carry trailers that name the decision (`Tollgate-Decision`, `Tollgate-Release`,
//! `Tollgate-Environment`, `Tollgate-Audit-Seq`), so `git log` alone says why each promotion
//! happened.

use std::path::{Path, PathBuf};

use git2::{FileMode, ObjectType, Oid, Repository, Signature};
use serde_json::Value;

/// Why a promotion could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// A Git operation failed.
    #[error("failed to {op}")]
    Git {
        /// What was being done.
        op: String,
        /// The libgit2 error.
        #[source]
        source: git2::Error,
    },
    /// The branch moved while the commit was being written; nothing was changed.
    #[error("branch `{branch}` moved while the promotion was written; the next pass retries from the new tip")]
    Moved {
        /// The branch.
        branch: String,
    },
    /// The working-directory copy could not be updated (the commit itself was written).
    #[error("failed to update `{path}` in the working directory")]
    Workdir {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

fn git(op: impl Into<String>) -> impl FnOnce(git2::Error) -> PromoteError {
    let op = op.into();
    move |source| PromoteError::Git { op, source }
}

/// The path of a promotion file inside the config repo.
pub fn deploy_path(env: &str, model: &str) -> String {
    format!("deploy/{env}/{model}.yaml")
}

/// The branch a pull-request promotion is committed to.
pub fn proposal_branch(env: &str, model: &str) -> String {
    format!("tollgate/promote/{env}/{model}")
}

/// Renders a Promotion document as YAML (JSON is YAML; keys in a stable order, one per line).
pub fn render(doc: &Value) -> Vec<u8> {
    let mut out = String::from(
        "# Written by tollgate: the release promoted to this environment. Do not edit by hand;\n# revert the commit to roll back.\n",
    );
    write_yaml(doc, 0, &mut out);
    out.into_bytes()
}

fn write_yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                match val {
                    Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        write_yaml(val, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        for item in a {
                            let mut inner = String::new();
                            write_yaml(item, indent + 4, &mut inner);
                            let trimmed = inner.trim_start();
                            out.push_str(&format!("{pad}  - {trimmed}"));
                            if !trimmed.ends_with('\n') {
                                out.push('\n');
                            }
                        }
                    }
                    _ => out.push_str(&format!("{pad}{k}: {}\n", scalar(val))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        // JSON strings are valid YAML double-quoted scalars.
        other => other.to_string(),
    }
}

/// What to commit.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The branch to commit to (created from `base` when absent).
    pub branch: &'a str,
    /// The branch a new branch starts from (for pull-request promotions).
    pub base: &'a str,
    /// The config repo's folder inside the Git repository (`""` at the root).
    pub prefix: &'a str,
    /// Path inside the config repo.
    pub path: &'a str,
    /// File contents.
    pub contents: &'a [u8],
    /// The commit message, trailers included.
    pub message: &'a str,
    /// Committer and author.
    pub bot: (&'a str, &'a str),
    /// Write the commit without moving any ref (for a mirror, where the push to the remote is
    /// the compare-and-swap and the next fetch brings the branch up to date).
    pub detached: bool,
}

/// Commits one file onto `branch` and moves the branch with a compare-and-swap.
///
/// # Errors
///
/// [`PromoteError::Moved`] when the branch moved meanwhile (nothing written);
/// [`PromoteError::Git`]; [`PromoteError::Workdir`] after the commit, when the checkout could not
/// be refreshed.
pub fn commit_file(repo: &Repository, c: &Commit<'_>) -> Result<Oid, PromoteError> {
    let refname = format!("refs/heads/{}", c.branch);
    let tip = match repo.refname_to_id(&refname) {
        Ok(id) => Some(id),
        Err(e) if e.code() == git2::ErrorCode::NotFound => None,
        Err(e) => return Err(git(format!("read branch `{}`", c.branch))(e)),
    };
    let parent_id = match tip {
        Some(id) => id,
        None => repo.refname_to_id(&format!("refs/heads/{}", c.base)).map_err(git(format!("read branch `{}`", c.base)))?,
    };
    let parent = repo.find_commit(parent_id).map_err(git("read the branch tip"))?;
    let full: Vec<&str> = c.prefix.split('/').chain(c.path.split('/')).filter(|s| !s.is_empty()).collect();
    let blob = repo.blob(c.contents).map_err(git("write the promotion file"))?;
    let tree_id = upsert(repo, Some(parent.tree().map_err(git("read the tree"))?), &full, blob)?;
    if tree_id == parent.tree_id() && tip.is_some() {
        return Ok(parent_id);
    }
    let tree = repo.find_tree(tree_id).map_err(git("read the new tree"))?;
    let sig = Signature::now(c.bot.0, c.bot.1).map_err(git("make the bot signature"))?;
    let id = repo.commit(None, &sig, &sig, c.message, &tree, &[&parent]).map_err(git("write the commit"))?;
    if c.detached {
        return Ok(id);
    }
    clear_stale_lock(repo, &refname);
    let moved = match tip {
        Some(old) => repo.reference_matching(&refname, id, true, old, "tollgate: promote"),
        None => repo.reference(&refname, id, false, "tollgate: promote"),
    };
    if let Err(e) = moved {
        return Err(if matches!(e.code(), git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked) {
            PromoteError::Moved { branch: c.branch.to_owned() }
        } else {
            git(format!("move branch `{}`", c.branch))(e)
        });
    }
    // The commit is what counts; a checkout that could not be refreshed only looks changed.
    if let Err(err) = refresh_checkout(repo, c.branch, &full, c.contents) {
        tracing::warn!(error = %err, "promotion committed, but the working directory was not refreshed");
    }
    Ok(id)
}

/// Removes a branch lock left behind by a promotion that was killed while moving the branch:
/// the lock names a tollgate promotion commit and is more than two seconds old. Promotions run
/// only on the leader, so no live tollgate can own such a lock; any other lock (a person's `git`
/// at work) is left alone and the write fails as if the branch moved.
fn clear_stale_lock(repo: &Repository, refname: &str) {
    let lock = repo.path().join(format!("{refname}.lock"));
    let Ok(meta) = std::fs::metadata(&lock) else { return };
    let old = meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age > std::time::Duration::from_secs(2));
    let ours = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|t| Oid::from_str(t.trim()).ok())
        .and_then(|id| repo.find_commit(id).ok())
        .is_some_and(|c| c.message().is_ok_and(|m| m.contains("\nTollgate-Decision: ")));
    if old && ours {
        tracing::warn!(lock = %lock.display(), "removing a branch lock left by an interrupted promotion");
        let _ = std::fs::remove_file(&lock);
    }
}

/// Inserts (or replaces) `blob` at `path` below `base`, returning the new tree.
fn upsert(repo: &Repository, base: Option<git2::Tree<'_>>, path: &[&str], blob: Oid) -> Result<Oid, PromoteError> {
    let mut builder = repo.treebuilder(base.as_ref()).map_err(git("build a tree"))?;
    let (first, rest) = path.split_first().expect("a path has at least one component");
    if rest.is_empty() {
        builder.insert(first, blob, FileMode::Blob.into()).map_err(git("add the promotion file"))?;
    } else {
        let sub = base
            .as_ref()
            .and_then(|t| t.get_name(first))
            .filter(|e| e.kind() == Some(ObjectType::Tree))
            .and_then(|e| repo.find_tree(e.id()).ok());
        let id = upsert(repo, sub, rest, blob)?;
        builder.insert(first, id, FileMode::Tree.into()).map_err(git("add a folder"))?;
    }
    builder.write().map_err(git("write a tree"))
}

/// When `branch` is checked out, writes the file and stages it so the working directory does
/// not show the promotion as an undone change.
fn refresh_checkout(repo: &Repository, branch: &str, path: &[&str], contents: &[u8]) -> Result<(), PromoteError> {
    let Some(workdir) = repo.workdir() else { return Ok(()) };
    let checked_out = repo.head().ok().and_then(|h| h.shorthand().ok().map(str::to_owned)).is_some_and(|h| h == branch);
    if !checked_out {
        return Ok(());
    }
    let rel: PathBuf = path.iter().collect();
    let file = workdir.join(&rel);
    let workdir_err = |source| PromoteError::Workdir { path: file.clone(), source };
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(workdir_err)?;
    }
    let tmp = file.with_extension("yaml.tollgate-tmp");
    std::fs::write(&tmp, contents).map_err(workdir_err)?;
    std::fs::rename(&tmp, &file).map_err(workdir_err)?;
    let mut index = repo.index().map_err(git("open the index"))?;
    index.add_path(Path::new(&rel)).map_err(git("stage the promotion file"))?;
    index.write().map_err(git("write the index"))?;
    Ok(())
}

/// The newest commit on `branch` whose message has `Tollgate-Decision: <decision>`, searching at
/// most `limit` commits back.
pub fn find_decision_commit(repo: &Repository, tip: Oid, decision: &str, limit: usize) -> Option<Oid> {
    let needle = format!("Tollgate-Decision: {decision}");
    let mut walk = repo.revwalk().ok()?;
    walk.push(tip).ok()?;
    walk.take(limit)
        .filter_map(Result::ok)
        .find(|id| repo.find_commit(*id).ok().is_some_and(|c| c.message().is_ok_and(|m| m.contains(&needle))))
}

/// The commit time (seconds since the epoch) of the newest commit (up to `limit` back from
/// `tip`) that changed `path` (a path in the Git repository).
pub fn last_changed(repo: &Repository, tip: Oid, path: &str, limit: usize) -> Option<i64> {
    let mut walk = repo.revwalk().ok()?;
    walk.push(tip).ok()?;
    let blob_at = |c: &git2::Commit<'_>| c.tree().ok().and_then(|t| t.get_path(Path::new(path)).ok()).map(|e| e.id());
    for id in walk.take(limit).filter_map(Result::ok) {
        let commit = repo.find_commit(id).ok()?;
        let mine = blob_at(&commit);
        let changed = if commit.parent_count() == 0 { mine.is_some() } else { commit.parents().all(|p| blob_at(&p) != mine) };
        if changed {
            return Some(commit.time().seconds());
        }
    }
    None
}

/// Who made a release change, and when it last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Emails of the authors and committers of every commit in the change, newest first, each
    /// once (compared without regard to case).
    pub authors: Vec<String>,
    /// The commit time (seconds since the epoch) of the newest commit that changed the file.
    pub at: i64,
}

/// The release whose change is looked for, and where its approvals are asked.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// The release's name.
    pub release: &'a str,
    /// The environment whose approvals the change is for.
    pub environment: &'a str,
    /// The release's content digest now.
    pub content_digest: &'a str,
}

/// The change a release's approvals in one environment are about: every commit (up to `limit`
/// back from `tip`) that changed `path` (the release file, a path in the Git repository), with
/// the author *and* the committer of each (a commit whose two differ counts both, so neither
/// someone else's trivial commit nor a forged `--author` hides who wrote the release). The walk
/// stops where the file did not exist (older commits belong to another release that had the
/// same path), and at a promotion of the release *into that environment* with other content
/// than now (what came before was approved there and promoted); a promotion of this same
/// content, or into another environment (which may have asked for no approval at all), does
/// not end the change.
///
/// `None` when no commit in reach changed the file.
pub fn change(repo: &Repository, tip: Oid, path: &str, asked: Asked<'_>, limit: usize) -> Option<Change> {
    let mut walk = repo.revwalk().ok()?;
    walk.push(tip).ok()?;
    let blob_at = |c: &git2::Commit<'_>| c.tree().ok().and_then(|t| t.get_path(Path::new(path)).ok()).map(|e| e.id());
    let (release, environment) =
        (format!("\nTollgate-Release: {}\n", asked.release), format!("\nTollgate-Environment: {}\n", asked.environment));
    let mut authors: Vec<String> = Vec::new();
    let mut at = None;
    for id in walk.take(limit).filter_map(Result::ok) {
        let Ok(commit) = repo.find_commit(id) else { break };
        if let Some(message) = commit.message().ok().filter(|m| m.contains(&release) && m.contains(&environment)) {
            let digest = message.lines().find_map(|l| l.strip_prefix("Tollgate-Content-Digest: ")).map(str::trim);
            if digest.is_some_and(|d| d != asked.content_digest) {
                break;
            }
        }
        let Some(mine) = blob_at(&commit) else { break };
        let changed = commit.parent_count() == 0 || commit.parents().all(|p| blob_at(&p) != Some(mine));
        if !changed {
            continue;
        }
        at.get_or_insert(commit.time().seconds());
        for email in
            [commit.author().email().ok().map(str::to_owned), commit.committer().email().ok().map(str::to_owned)].into_iter().flatten()
        {
            if !email.is_empty() && !authors.iter().any(|a| a.eq_ignore_ascii_case(&email)) {
                authors.push(email);
            }
        }
    }
    at.map(|at| Change { authors, at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repo_with_commit(dir: &Path) -> Repository {
        let repo = Repository::init(dir).unwrap();
        std::fs::write(dir.join("a.txt"), "a").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("a.txt")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::now("Alice", "alice@acme.example").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "init", &tree, &[]).unwrap();
        drop(tree);
        repo
    }

    fn branch(repo: &Repository) -> String {
        repo.head().unwrap().shorthand().unwrap().to_owned()
    }

    #[test]
    fn commits_a_file_and_refreshes_the_checkout() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = repo_with_commit(tmp.path());
        let b = branch(&repo);
        let doc = json!({"apiVersion": "tollgate.dev/v1alpha1", "kind": "Promotion", "metadata": {"name": "income"}, "spec": {"release": "income-v2", "approvals": [{"user": "carol", "at": "t"}]}});
        let bytes = render(&doc);
        let c = Commit {
            branch: &b,
            base: &b,
            prefix: "cfg",
            path: "deploy/dev/income.yaml",
            contents: &bytes,
            message: "promote\n\nTollgate-Decision: dec-1\n",
            bot: ("tollgate", "bot@tollgate.dev"),
            detached: false,
        };
        let id = commit_file(&repo, &c).unwrap();
        let commit = repo.find_commit(id).unwrap();
        assert_eq!(commit.author().name().ok(), Some("tollgate"));
        let entry = commit.tree().unwrap().get_path(Path::new("cfg/deploy/dev/income.yaml")).unwrap();
        assert_eq!(repo.find_blob(entry.id()).unwrap().content(), &bytes[..]);
        assert!(commit.tree().unwrap().get_path(Path::new("a.txt")).is_ok(), "other files are kept");
        assert_eq!(std::fs::read(tmp.path().join("cfg/deploy/dev/income.yaml")).unwrap(), bytes);
        let statuses = repo.statuses(None).unwrap();
        assert!(statuses.iter().all(|s| s.path().ok() != Some("cfg/deploy/dev/income.yaml")), "the checkout is clean");
        // Parsed back by our YAML loader, the document is what was written.
        let parsed = tollgate_spec::yaml::parse_documents(&bytes, &tollgate_spec::yaml::Limits::default()).unwrap();
        assert_eq!(parsed[0].value, doc);
        assert_eq!(find_decision_commit(&repo, id, "dec-1", 10), Some(id));
        assert_eq!(find_decision_commit(&repo, id, "dec-2", 10), None);
        let asked = Asked { release: "r", environment: "dev", content_digest: "d" };
        assert_eq!(change(&repo, id, "a.txt", asked, 10).map(|c| c.authors), Some(vec!["alice@acme.example".to_owned()]));
        assert_eq!(
            change(&repo, id, "cfg/deploy/dev/income.yaml", asked, 10).map(|c| c.authors),
            Some(vec!["bot@tollgate.dev".to_owned()])
        );
        // The same contents again change nothing.
        assert_eq!(commit_file(&repo, &c).unwrap(), id);
    }

    /// Commits `path` with `text` as `author`, committed by `committer`, with `message`.
    fn commit_as(repo: &Repository, path: &str, text: &str, author: (&str, &str), committer: (&str, &str), message: &str) -> Oid {
        let dir = repo.workdir().unwrap().to_owned();
        if let Some(parent) = Path::new(path).parent() {
            std::fs::create_dir_all(dir.join(parent)).unwrap();
        }
        std::fs::write(dir.join(path), text).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new(path)).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let parent = repo.head().unwrap().peel_to_commit().unwrap();
        let (a, c) = (Signature::now(author.0, author.1).unwrap(), Signature::now(committer.0, committer.1).unwrap());
        repo.commit(Some("HEAD"), &a, &c, message, &tree, &[&parent]).unwrap()
    }

    /// Regression (issue #12 item 4): separation of duties counted only the author of the last
    /// commit that touched the release, so after someone else's trivial commit, or with a forged
    /// `--author`, the real author could approve her own change.
    #[test]
    fn a_change_is_everyone_who_authored_or_committed_it_since_other_content_was_promoted_there() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = repo_with_commit(tmp.path());
        let alice = ("Alice", "alice@acme.example");
        let (bob, carol, bot) = (("Bob", "bob@acme.example"), ("Carol", "carol@acme.example"), ("tollgate", "bot@tollgate.dev"));
        let path = "releases/r.yaml";
        commit_as(&repo, path, "v: 1\n", alice, alice, "r: v1");
        commit_as(&repo, "README.md", "unrelated\n", carol, carol, "docs");
        // Bob's trivial edit does not take Alice's change from her.
        let tip = commit_as(&repo, path, "v: 1 \n", bob, bob, "r: whitespace");
        let authors = |tip, env: &str, digest: &str| {
            change(&repo, tip, path, Asked { release: "r", environment: env, content_digest: digest }, 100).map(|c| c.authors)
        };
        assert_eq!(authors(tip, "staging", "d1"), Some(vec!["bob@acme.example".to_owned(), "alice@acme.example".to_owned()]));
        // A forged author: the committer counts too.
        let tip = commit_as(&repo, path, "v: 1  \n", ("Dave", "dave@acme.example"), ("ALICE", "Alice@acme.example"), "r: forged");
        let three = vec!["dave@acme.example".to_owned(), "Alice@acme.example".to_owned(), "bob@acme.example".to_owned()];
        assert_eq!(authors(tip, "staging", "d1"), Some(three.clone()));
        // Promoted to staging with this content: that does not end the change.
        let promoted = |env: &str, digest: &str| {
            format!("promote r\n\nTollgate-Release: r\nTollgate-Environment: {env}\nTollgate-Content-Digest: {digest}\n")
        };
        let tip = commit_as(&repo, "deploy/staging/r.yaml", "d1\n", bot, bot, &promoted("staging", "d1"));
        assert_eq!(authors(tip, "staging", "d1"), Some(three.clone()));
        // Carol changes it: for staging, where the earlier content was approved and promoted,
        // the change is hers alone; for prod, where nothing was promoted, it is everyone's.
        let tip = commit_as(&repo, path, "v: 2\n", carol, carol, "r: v2");
        assert_eq!(authors(tip, "staging", "d2"), Some(vec!["carol@acme.example".to_owned()]));
        assert_eq!(authors(tip, "prod", "d2").map(|a| a.len()), Some(4));
        // A promotion into dev (which may ask for no approval) is no boundary for staging, nor
        // is another release's promotion.
        commit_as(&repo, "deploy/dev/r.yaml", "d2\n", bot, bot, &promoted("dev", "d0"));
        let other = commit_as(
            &repo,
            "deploy/staging/s.yaml",
            "x\n",
            bot,
            bot,
            "promote s\n\nTollgate-Release: s\nTollgate-Environment: staging\nTollgate-Content-Digest: zz\n",
        );
        assert_eq!(authors(other, "staging", "d2"), Some(vec!["carol@acme.example".to_owned()]));
        assert_eq!(authors(other, "prod", "d2").map(|a| a.len()), Some(4));
        // A file deleted and written again is a new change.
        let mut index = repo.index().unwrap();
        index.remove_path(Path::new(path)).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let parent = repo.head().unwrap().peel_to_commit().unwrap();
        let sig = Signature::now(bob.0, bob.1).unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "r: removed", &tree, &[&parent]).unwrap();
        let tip = commit_as(&repo, path, "v: 3\n", bob, bob, "r: again");
        assert_eq!(authors(tip, "prod", "d3"), Some(vec!["bob@acme.example".to_owned()]));
        assert_eq!(change(&repo, tip, "missing.yaml", Asked { release: "r", environment: "prod", content_digest: "d3" }, 100), None);
    }

    #[test]
    fn a_moved_branch_is_not_overwritten_and_proposals_get_their_own_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = repo_with_commit(tmp.path());
        let b = branch(&repo);
        let c = Commit {
            branch: "tollgate/promote/prod/income",
            base: &b,
            prefix: "",
            path: "deploy/prod/income.yaml",
            contents: b"x: 1\n",
            message: "m",
            bot: ("t", "t@t"),
            detached: false,
        };
        let id = commit_file(&repo, &c).unwrap();
        assert_eq!(repo.refname_to_id("refs/heads/tollgate/promote/prod/income").unwrap(), id);
        assert!(!tmp.path().join("deploy").exists(), "a proposal branch is not checked out");
        let main = repo.refname_to_id(&format!("refs/heads/{b}")).unwrap();
        assert_ne!(main, id);
    }

    #[test]
    fn a_detached_commit_moves_no_ref() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = repo_with_commit(tmp.path());
        let b = branch(&repo);
        let before = repo.refname_to_id(&format!("refs/heads/{b}")).unwrap();
        let c = Commit {
            branch: &b,
            base: &b,
            prefix: "",
            path: "deploy/dev/m.yaml",
            contents: b"x: 1\n",
            message: "m",
            bot: ("t", "t@t"),
            detached: true,
        };
        let id = commit_file(&repo, &c).unwrap();
        assert_ne!(id, before);
        assert_eq!(repo.refname_to_id(&format!("refs/heads/{b}")).unwrap(), before, "the branch did not move");
        assert_eq!(repo.find_commit(id).unwrap().parent_id(0).unwrap(), before);
        assert!(!tmp.path().join("deploy").exists());
    }
}
