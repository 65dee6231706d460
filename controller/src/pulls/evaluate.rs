//! What a pull request (or a merge group) is told about its head commit: the scoped check
//! against its merge base, the gates of every release it changes, and what the controller
//! would decide for each of them if the head were merged.

use git2::{Oid, Repository};
use serde::Serialize;
use tollgate_check::Report;
use tollgate_decision::Decision;

use crate::reconcile::{self, GateOutcome, Prepared, ReconcileError};
use crate::service::{Service, ServiceError};

/// Why a head could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// The commit could not be fetched or found.
    #[error("cannot read commit `{commit}` of the pull request")]
    Fetch {
        /// The head commit.
        commit: String,
        /// Why.
        #[source]
        source: Box<crate::git::GitError>,
    },
    /// The repository could not be read.
    #[error("cannot find the merge base of `{head}` and `{base}`")]
    MergeBase {
        /// The head commit.
        head: String,
        /// The base branch.
        base: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// The check could not read the repo.
    #[error("cannot check commit `{commit}`")]
    Check {
        /// The commit.
        commit: String,
        /// Why.
        #[source]
        source: tollgate_spec::repo::RepoError,
    },
    /// The releases could not be prepared.
    #[error(transparent)]
    Prepare(#[from] ReconcileError),
    /// The store could not be read.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// A release the head changes, and what it comes to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseOutcome {
    /// The release.
    pub name: String,
    /// Its file.
    pub file: String,
    /// What approvals bind to at the head.
    pub content_digest: String,
    /// Its gates at the head.
    pub gates: Option<GateOutcome>,
    /// What would be decided for each environment on its path if the head were merged.
    pub decisions: Vec<Decision>,
    /// Where its parts are written in its file.
    #[serde(skip)]
    pub lines: crate::reconcile::ReleaseLines,
}

/// Everything a head is told.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// The commit evaluated.
    pub head_sha: String,
    /// The merge base the check is scoped against.
    pub base_sha: String,
    /// The base branch.
    pub base_ref: String,
    /// The scoped check.
    pub check: Report,
    /// The releases whose content the head changes (added, or another content digest than at
    /// the merge base), by name.
    pub releases: Vec<ReleaseOutcome>,
}

/// A change as the controller sees it: the head prepared (gates included) and which of its
/// releases the change touches.
pub(crate) struct Change {
    /// The merge base with the base branch.
    pub merge_base: String,
    /// The head, prepared.
    pub at_head: Prepared,
    /// Indexes into `at_head.releases` of the releases whose content the change makes (added,
    /// or another content digest than at the merge base).
    pub changed: Vec<usize>,
}

impl Change {
    /// The changed releases' plans.
    pub fn plans(&self) -> Vec<&reconcile::ReleasePlan> {
        self.changed.iter().map(|i| &self.at_head.releases[*i]).collect()
    }
}

/// Fetches `head` (from `remote_ref` for a remote config repo), finds its merge base with
/// `base_ref` and prepares both: see [`Change`].
///
/// # Errors
///
/// [`EvaluateError`] when the commit cannot be read or prepared.
pub(crate) async fn prepare_change(service: &Service, remote_ref: &str, head: &str, base_ref: &str) -> Result<Change, EvaluateError> {
    let head_oid =
        Oid::from_str(head).map_err(|source| EvaluateError::MergeBase { head: head.to_owned(), base: base_ref.to_owned(), source })?;
    let fetched = tokio::task::block_in_place(|| service.with_mirror(|m| m.fetch_review(remote_ref, head_oid)));
    if let Some(Err(e)) = fetched {
        return Err(EvaluateError::Fetch { commit: head.to_owned(), source: Box::new(e) });
    }
    let template = service.template().clone();
    tokio::task::block_in_place(|| {
        let merge_base = merge_base(&template.repo, head_oid, base_ref)?.to_string();
        let now = jiff::Timestamp::now();
        let at = |rev: &str| reconcile::Options { rev: rev.to_owned(), now, release: None, ..template.clone() };
        let at_head = reconcile::prepare(&at(head))?;
        // A base that does not prepare (broken before the change) has nothing to compare with:
        // every release of the head is the change's.
        let at_base = reconcile::prepare(&at(&merge_base)).ok();
        let changed = at_head
            .releases
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                at_base.as_ref().is_none_or(|b| !b.releases.iter().any(|r| r.name == p.name && r.content_digest == p.content_digest))
            })
            .map(|(i, _)| i)
            .collect();
        Ok(Change { merge_base, at_head, changed })
    })
}

/// Evaluates `head` (fetched from `remote_ref` for a remote config repo) against the tip of
/// `base_ref`: see the module docs.
///
/// # Errors
///
/// [`EvaluateError`] when the commit cannot be read, or the store cannot.
pub async fn evaluate(service: &Service, remote_ref: &str, head: &str, base_ref: &str) -> Result<Evaluation, EvaluateError> {
    let change = prepare_change(service, remote_ref, head, base_ref).await?;
    let template = service.template();
    let check =
        tokio::task::block_in_place(|| tollgate_check::check_repo(&template.repo, Some(head), Some(&change.merge_base), template.jobs))
            .map_err(|source| EvaluateError::Check { commit: head.to_owned(), source })?;
    let names: Vec<&str> = change.plans().iter().map(|p| p.name.as_str()).collect();
    let decisions = service.decide_other(&change.at_head, |p| names.contains(&p.name.as_str())).await?;
    let releases = change
        .plans()
        .into_iter()
        .map(|p| ReleaseOutcome {
            name: p.name.clone(),
            file: p.git_path.clone(),
            content_digest: p.content_digest.clone(),
            gates: p.gates.clone(),
            decisions: decisions.iter().filter(|d| d.release == p.name).cloned().collect(),
            lines: p.lines,
        })
        .collect();
    Ok(Evaluation { head_sha: head.to_owned(), base_sha: change.merge_base, base_ref: base_ref.to_owned(), check, releases })
}

/// The merge base of `head` and the tip of branch `base_ref` in the repository at `dir`.
fn merge_base(dir: &std::path::Path, head: Oid, base_ref: &str) -> Result<Oid, EvaluateError> {
    let err = |source| EvaluateError::MergeBase { head: head.to_string(), base: base_ref.to_owned(), source };
    let repo = Repository::discover(dir).map_err(err)?;
    let tip = repo.refname_to_id(&format!("refs/heads/{base_ref}")).map_err(err)?;
    repo.merge_base(head, tip).map_err(err)
}
