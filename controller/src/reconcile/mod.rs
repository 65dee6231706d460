//! The reconciler: one pass reads the config repo at a commit, gathers every decision's inputs,
//! decides (see [`tollgate_decision`]), records each transition in the audit trail and promotes
//! what may be promoted.
//!
//! A pass is split by concern, one module each:
//!
//! - `plan`: the repo side, without the store: load, check, gates, authors, windows at the
//!   clock's instant ([`prepare`]); `incremental` re-makes only what a commit changed
//!   ([`prepare_incremental`]); `checkout` writes the files gates read from a commit for a
//!   repository without a working tree; `gating_bridge` adapts the gate runner and the window
//!   evaluator to decision inputs.
//! - `view`: the store side, read incrementally by audit sequence number ([`StoreView`]).
//! - `decide`: a prepared plan and a store view into decisions ([`decide_all`], [`decide_with`],
//!   [`decide_for`]); `status` and `explain` stop here.
//! - `act`: records and promotes, one (release, environment) slot at a time. Effects are per
//!   slot: a push, commit or GitHub call that fails is recorded with its reason
//!   (`promotion.failed`, a [`Failure`]) and that slot is tried again after a backoff, while
//!   every other slot goes on.
//! - `pull_request`: the state machine of a slot's pull request (a pure function) and the
//!   pull request's text.
//! - `records`: what a pass writes to the audit trail, batched.
//! - `backoff` and `reconciler`: a [`Reconciler`] keeps the view, the last prepared commit and
//!   the slots waiting out a backoff between passes; it is the way in.
//!
//! # Guarantees
//!
//! - Idempotent: a decision is recorded only when it differs from the last one recorded for its
//!   (release, environment); a promotion is written only when Git does not already name the
//!   release with its content. A crash between the promotion commit and its record is healed by
//!   the next pass (the commit is found and recorded, not made again).
//! - Nothing is promoted into an environment before the same content was promoted to the one it
//!   promotes from, in Git.

mod act;
mod backoff;
mod card;
mod checkout;
mod decide;
mod gating_bridge;
mod incremental;
mod plan;
mod pull_request;
mod reconciler;
mod records;
mod view;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::github;
use crate::promote::PromoteError;
use tollgate_decision::{Decision, State};
use tollgate_spec::repo::RepoError;
use tollgate_store::{AuditError, StoreError};

pub use act::Publish;
pub use backoff::Backoff;
pub use card::{CardDocs, model_card};
pub use decide::{Settled, decide_all, decide_for, decide_with};
pub use incremental::prepare_incremental;
pub use plan::{EnvPlan, GateOutcome, GitPromotion, Prepared, ReleaseLines, ReleasePlan, prepare};
pub use pull_request::PULL_REQUEST_ACTION_PREFIX;
pub use reconciler::Reconciler;
pub use records::{FAILED, RECOVERED, promotion_name, promotion_subject};
/// Where gates run models, as every command's `--device` says.
pub use tollgate_gates::runner::Device;
pub use view::StoreView;

/// The bot identity promotion commits are made with, unless configured.
pub const DEFAULT_BOT: (&str, &str) = ("tollgate", "tollgate-bot@users.noreply.tollgate.dev");

/// Why a pass failed: the repo could not be read, or the store refused. A pass that fails
/// records nothing more; the next one starts over.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The config repo could not be read.
    #[error("failed to read the config repo")]
    Repo(#[from] RepoError),
    /// The store failed.
    #[error("the store failed")]
    Store(#[from] StoreError),
    /// The audit log refused an event.
    #[error("the audit log failed")]
    Audit(#[from] AuditError),
    /// `--release` names no release.
    #[error("no release named `{0}` in the config repo")]
    UnknownRelease(String),
}

/// Why one promotion could not be carried out. It fails that (release, environment) alone: the
/// failure is recorded (`promotion.failed`) and reported in [`PassReport::failures`], the slot
/// is tried again after a backoff, and every other slot goes on.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// The promotion commit could not be written.
    #[error("failed to promote `{release}` to {environment}")]
    Promote {
        /// The release.
        release: String,
        /// The environment.
        environment: String,
        /// Why.
        #[source]
        source: PromoteError,
    },
    /// A promotion commit could not be pushed.
    #[error("failed to push the promotion of `{release}` to {environment}")]
    Push {
        /// The release.
        release: String,
        /// The environment.
        environment: String,
        /// Why (boxed: Git errors carry the command's output).
        #[source]
        source: Box<crate::git::GitError>,
    },
    /// The pull request of a promotion could not be opened, found or read. Nothing of the
    /// promotion is written when the token or repository is wrong: GitHub is asked before the
    /// branch is pushed.
    #[error("failed to open the pull request promoting `{release}` to {environment}")]
    PullRequest {
        /// The release.
        release: String,
        /// The environment.
        environment: String,
        /// Why (boxed: it is large, and rare).
        #[source]
        source: Box<github::GitHubError>,
    },
}

/// A promotion that was decided and could not be carried out, as recorded in the audit trail
/// (`promotion.failed`) and shown by `reconcile`, `status` and `explain`. It stands until the
/// slot's promotion goes through (`promotion.recovered`) or its decision changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The release.
    pub release: String,
    /// The environment.
    pub environment: String,
    /// The decision being carried out.
    pub decision: String,
    /// What failed, with its causes.
    pub reason: String,
    /// Failed attempts in a row for this decision.
    pub attempts: u32,
    /// Seconds until this reconciler tries again (in a pass's report; a one-shot `tollgate
    /// reconcile` does not wait, and the next run tries at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_secs: Option<u64>,
}

/// How to run a pass.
#[derive(Debug, Clone)]
pub struct Options {
    /// The config repo (a folder in a Git repository).
    pub repo: PathBuf,
    /// The revision to read (default `HEAD`).
    pub rev: String,
    /// The clock.
    pub now: jiff::Timestamp,
    /// Only this release (for `explain`).
    pub release: Option<String>,
    /// Gate execution settings.
    pub gates: GateSettings,
    /// Commit identity for promotions.
    pub bot: (String, String),
    /// Worker threads for checks (0 = one per core).
    pub jobs: usize,
}

/// Gate execution settings.
#[derive(Debug, Clone, Default)]
pub struct GateSettings {
    /// Where gate results are cached (and where gates Jobs write their signed results).
    pub cache_dir: Option<PathBuf>,
    /// Where models run.
    pub device: Device,
    /// The cluster and keys for `gates.runner: kubernetes`; `None` when this controller cannot
    /// run gates as Jobs (a release whose config asks for it then fails its gates, saying so).
    pub kubernetes: Option<std::sync::Arc<crate::gating::job::JobGates>>,
}

/// What a pass did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum Action {
    /// A decision changed and was recorded.
    Recorded {
        /// `release/<r>@<env>`.
        subject: String,
        /// The new state.
        state: State,
        /// Its audit event.
        seq: u64,
    },
    /// A promotion commit was written.
    Promoted {
        /// Release.
        release: String,
        /// Environment.
        environment: String,
        /// The commit.
        commit: String,
        /// The branch it went to.
        branch: String,
    },
    /// A pull-request branch was written; the promotion completes when it is merged.
    Proposed {
        /// Release.
        release: String,
        /// Environment.
        environment: String,
        /// The proposal branch.
        branch: String,
        /// Its tip.
        commit: String,
    },
    /// A promotion pull request was opened, adopted (found open, unrecorded), updated, closed
    /// without merging, reopened or merged; its audit event was recorded.
    PullRequest {
        /// Release.
        release: String,
        /// Environment.
        environment: String,
        /// Its number.
        number: u64,
        /// Its page.
        url: String,
        /// `opened`, `adopted`, `updated`, `closed`, `reopened` or `merged`.
        what: String,
    },
    /// A promotion found in Git without its record (a crash between the two) was recorded.
    Healed {
        /// Release.
        release: String,
        /// Environment.
        environment: String,
    },
}

/// A pass's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassReport {
    /// The commit reconciled.
    pub commit: String,
    /// Every decision, after acting.
    pub decisions: Vec<Decision>,
    /// What changed.
    pub actions: Vec<Action>,
    /// The promotions that failed in this pass or wait out a backoff after failing; every other
    /// slot went on.
    pub failures: Vec<Failure>,
}
