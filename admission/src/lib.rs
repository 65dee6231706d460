//! The admission rule of tollgate's webhook (issue #14): a cluster admits a workload into an
//! environment's namespaces only when what it runs was promoted to that environment.
//!
//! This crate is the pure core: it reads an `AdmissionReview` ([`parse_review`]), decides
//! against an [`Index`] built by the caller ([`decide`]), and writes the `AdmissionReview`
//! answer ([`respond`]), through kube-core's and k8s-openapi's types. It does no IO: the HTTP
//! route and TLS (`tollgate-webhooks`), building the index from the config repo and the store,
//! and recording [`Verdict`]s in the audit trail belong to its callers.
//!
//! ```text
//! body ──► parse_review ──► decide(index, request, now) ──► Verdict ──► respond ──► body
//!                                 ▲                            └──► audit event (caller)
//!              Admitter::publish(Index) (the caller, on each new commit or promotion)
//! ```
//!
//! **Architecture invariant:** only this crate names kube-core and k8s-openapi, and it links no
//! async runtime, HTTP server, database or Git remote (`cargo xtask tidy`). Decisions take the
//! clock as an argument.

mod decide;
mod digest;
mod index;
mod review;
#[cfg(test)]
mod tests;
mod verdict;
mod wire;
mod workload;

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use jiff::Timestamp;

pub use decide::decide;
pub use digest::{Digest, Pin};
pub use index::{BreakGlassPolicy, DEFAULT_WORKLOAD_CONTROLLERS, Index, IndexBuilder, IndexError, Mode, Policies, Promoted};
pub use review::{AdmissionError, MAX_REVIEW_BYTES, parse_review, respond, respond_invalid};
pub use verdict::{BreakGlass, ImageCheck, ModelCheck, Outcome, Reason, Severity, Verdict};
pub use workload::{BREAK_GLASS_ANNOTATION, MODEL_DIGEST_ANNOTATION};

/// Kubernetes' admission types, for callers that name them (the HTTP route serializes them).
pub use kube_core::DynamicObject;
pub use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

/// The index in force, shared by every review and replaced whole by the caller.
///
/// It starts empty, and until the first [`Admitter::publish`] every review is denied (fail
/// closed). Reviews read the index without locking; a review that started before a publish
/// finishes with the index it started with.
#[derive(Debug, Default)]
pub struct Admitter {
    index: ArcSwapOption<Index>,
}

/// What [`Admitter::review`] answers: the review to send back, and what was decided (or why
/// the body could not be read), for logs and the audit trail.
#[derive(Debug)]
pub struct Answer {
    pub review: AdmissionReview<DynamicObject>,
    pub verdict: Result<Verdict, AdmissionError>,
}

impl Admitter {
    /// An admitter with no index: it denies everything until [`Admitter::publish`].
    pub fn new() -> Admitter {
        Admitter::default()
    }

    /// Puts `index` in force for every review from now on; returns the one it replaces.
    pub fn publish(&self, index: Index) -> Option<Arc<Index>> {
        self.index.swap(Some(Arc::new(index)))
    }

    /// The index in force, if one was published.
    pub fn index(&self) -> Option<Arc<Index>> {
        self.index.load_full()
    }

    /// Decides `request` against the index in force.
    pub fn decide(&self, request: &AdmissionRequest<DynamicObject>, now: Timestamp) -> Verdict {
        decide(self.index.load_full().as_deref(), request, now)
    }

    /// Reads a request body, decides, and answers: the whole of an admission call but its IO.
    /// A body that cannot be read is answered with [`respond_invalid`].
    pub fn review(&self, body: &[u8], now: Timestamp) -> Answer {
        match parse_review(body) {
            Ok(review) => match review.request.as_ref() {
                Some(request) => {
                    let verdict = self.decide(request, now);
                    Answer { review: respond(&verdict), verdict: Ok(verdict) }
                }
                None => Answer { review: respond_invalid(&AdmissionError::NoRequest), verdict: Err(AdmissionError::NoRequest) },
            },
            Err(err) => Answer { review: respond_invalid(&err), verdict: Err(err) },
        }
    }
}
