//! Gate runs as Kubernetes Jobs: the one crate that talks to the Kubernetes API.
//!
//! A gate run is named by the digest of its inputs. [`JobRunner::run`] makes sure exactly one
//! Job does it: the Job's name is derived from that digest ([`job_name`]), so a controller that
//! restarts while a Job runs finds the Job it created and waits for it instead of creating a
//! second one (a create that loses a race answers `409 AlreadyExists`, and the Job is adopted
//! the same way). The runner watches the Job until its `Complete` or `Failed` condition, reads
//! the pod's log tail when it failed, and deletes the Job (with its pods) when done.
//!
//! What the Job computes and where it writes its result is the caller's business: the runner
//! only says whether the Job completed. tollgate's gates Job writes a signed result to the
//! store, which the controller verifies ([`docs/kubernetes-jobs.md`]).
//!
//! # Guarantees
//! - At most one Job exists per run digest at a time, whoever asks and however often.
//! - A Job that failed is reported with the reason the Job controller gave and the last lines
//!   its pod wrote; it is never retried, since gates are deterministic and would fail again.
//! - A Job whose pod was evicted (the node's doing, not the gate's) is deleted and created
//!   again, at most [`Limits::max_evictions`] times; then the run fails saying so.
//! - A run that takes longer than [`Limits::timeout`] fails; its Job is left to finish (a later
//!   run adopts it).
//!
//! [`docs/kubernetes-jobs.md`]: https://example.invalid/tollgate/docs/kubernetes-jobs.md

mod job;
mod runner;

pub use job::{JOB_LABEL, PodSettings, Run, SettingsError, build_job, job_name};
pub use runner::{Cluster, Completed, JobError, JobRunner, Limits};

#[cfg(test)]
mod tests;
