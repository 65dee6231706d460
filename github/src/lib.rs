//! tollgate's GitHub door, the parts that speak GitHub's protocols: webhook deliveries
//! ([`webhook`]: signatures over the raw body, the events tollgate acts on) and GitHub's REST API
//! ([`Client`]: pull requests, check runs and statuses, the report comment, reviews and team
//! memberships), authenticated as a GitHub App or with a personal token, with rate limits
//! honoured and pagination followed. What tollgate *decides* from them lives in the controller
//! (`tollgate_controller::pulls`); this crate knows GitHub, not releases.
//!
//! **Architecture Invariant:** this crate is the only one that talks to GitHub's REST API
//! (`octocrab` is its dependency and no other crate's), and it hands out its own types
//! ([`PullRequest`], [`Review`], [`webhook::Event`]), never octocrab's. Credentials appear in no
//! log, error, record or `Debug` output.

pub mod app;
pub mod checks;
mod client;
pub mod comments;
mod config;
mod error;
mod pulls;
mod reviews;
pub mod webhook;

#[cfg(test)]
mod tests;

pub use checks::{Annotation, CheckRun, Conclusion, Level, Published};
pub use client::{Client, RateStats, encode_component, rate_stats};
pub use comments::Upserted;
pub use config::{AppConfig, DEFAULT_API_URL, DEFAULT_PRIVATE_KEY_ENV, DEFAULT_TOKEN_ENV, GitHubConfig, Target, repo_from_url, split_repo};
pub use error::GitHubError;
pub use pulls::{Ensured, Proposal, PullRequest, PullState};
pub use reviews::Review;
