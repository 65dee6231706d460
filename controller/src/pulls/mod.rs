//! The pull-request door: GitHub's deliveries, taken from the store's inbox (where
//! `POST /webhooks/github` put them) and acted on.
//!
//! - `pull_request` opened, synchronize, reopened or a new base: the head is evaluated
//!   ([`evaluate`]: scoped check, gates, what merging would decide) and told through three check
//!   runs and the one report comment ([`report`]); where the credentials may not write checks, as
//!   commit statuses.
//! - `merge_group` `checks_requested`: the merge group's head is evaluated and told the same way;
//!   it is never answered with a success that was not computed.
//! - `check_suite`/`check_run` `requested`/`rerequested`: the commit is evaluated again.
//! - `pull_request` closed by a merge, and `push`: the reconcile loop is asked for a pass, which
//!   promotes what the merge made promotable.
//! - `ping`, `installation`: logged.
//!
//! **Delivery guarantees.** [`run`] claims deliveries with a lease, so that two replicas never
//! work on one at the same time and a crash leaves it to be claimed again when the lease ends;
//! a delivery is marked done only after what it asked was done. A failure that may pass (GitHub
//! or Git unreachable, a rate limit) is retried with a capped exponential backoff, and after
//! [`MAX_ATTEMPTS`] the delivery is marked failed with its reason (`tollgate github
//! deliveries` lists them; `requeue` retries one). A payload that cannot be read fails at once.

pub mod evaluate;
pub mod report;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tollgate_github::webhook::{self, Event, Origin};
use tollgate_github::{Client, GitHubError, Target};
use tollgate_store::{Delivery, DeliveryOutcome as Outcome};

use crate::git::FetchTrigger;
use crate::service::{ReviewFacts, ReviewOutcome, Service};
pub use evaluate::{Evaluation, evaluate};

/// The inbox source of GitHub's deliveries.
pub const SOURCE: &str = "github";
/// Attempts before a delivery is marked failed.
pub const MAX_ATTEMPTS: u32 = 8;
/// How long a claimed delivery is this worker's.
const LEASE: Duration = Duration::from_secs(300);
/// How often the inbox is looked at without being woken (deliveries another replica took in).
const POLL: Duration = Duration::from_secs(5);
/// How long a done delivery keeps its body (for an operator to look at) before it is emptied.
pub const KEEP_BODIES: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often open pull requests are listed to heal missed deliveries ([`resync`]).
pub const RESYNC_EVERY: Duration = Duration::from_secs(600);

/// Why a delivery could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum DoorError {
    /// The payload could not be read.
    #[error(transparent)]
    Payload(#[from] webhook::PayloadError),
    /// The delivery is for another repository than the config repo's.
    #[error("the delivery is for `{got}`, not the config repo's `{want}`")]
    OtherRepository {
        /// The delivery's repository.
        got: String,
        /// The config repo's.
        want: String,
    },
    /// GitHub is not configured for the config repo.
    #[error("no GitHub repository is configured for the config repo")]
    NotConfigured,
    /// GitHub failed.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// The head could not be evaluated.
    #[error(transparent)]
    Evaluate(#[from] evaluate::EvaluateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] tollgate_store::StoreError),
    /// The config repo could not be read.
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
}

impl DoorError {
    /// Whether trying again later may succeed.
    fn is_transient(&self) -> bool {
        match self {
            DoorError::GitHub(e) => e.is_transient(),
            DoorError::Evaluate(evaluate::EvaluateError::Fetch { .. } | evaluate::EvaluateError::Service(_)) => true,
            DoorError::Store(_) | DoorError::Service(_) => true,
            _ => false,
        }
    }
}

/// What [`handle`] did with a delivery, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Nothing to do (ping, installation, an action tollgate does not act on).
    Nothing,
    /// Evaluated these heads and published what they are told.
    Evaluated(Vec<String>),
    /// Asked the reconcile loop for a pass.
    Reconcile,
    /// Recorded or withdrew approvals from a review (and published the head's report again).
    Reviewed(Vec<ReviewOutcome>),
}

/// The GitHub clients of the config repo's repository, by installation (one without).
#[derive(Debug, Default)]
pub struct Clients {
    by_installation: HashMap<Option<u64>, Arc<Client>>,
}

impl Clients {
    fn get(&mut self, target: &Target, installation: Option<u64>) -> Result<Arc<Client>, GitHubError> {
        let key = if target.app.as_ref().is_some_and(|a| a.installation_id.is_some()) { None } else { installation };
        if let Some(c) = self.by_installation.get(&key) {
            return Ok(c.clone());
        }
        let client = Arc::new(Client::new(target.clone(), installation)?);
        self.by_installation.insert(key, client.clone());
        Ok(client)
    }
}

/// Processes the inbox until `stop` is notified: claims deliveries, handles each, records the
/// outcome; sleeps until woken (`wake`, a new delivery) or [`POLL`] passes.
pub async fn run(service: &Service, wake: &Notify, trigger: Option<&FetchTrigger>, stop: &Notify) {
    let mut clients = Clients::default();
    let mut next_resync = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_resync {
            next_resync = tokio::time::Instant::now() + RESYNC_EVERY;
            match resync(service, &mut clients).await {
                Ok(heads) => tracing::info!(evaluated = ?heads, "resynced open pull requests"),
                Err(e) => tracing::warn!(error = %tollgate_error::chain(&e), "cannot resync open pull requests"),
            }
            // Done deliveries keep their row (a late redelivery stays a duplicate), not their body.
            let before = jiff::Timestamp::now().as_millisecond() - KEEP_BODIES.as_millis() as i64;
            match service.store().prune_deliveries(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "emptied the bodies of deliveries done over a week ago"),
                Err(e) => tracing::warn!(error = %tollgate_error::chain(&e), "cannot prune the webhook inbox"),
            }
        }
        let now = jiff::Timestamp::now().as_millisecond();
        let claimed = match service.store().claim_deliveries(8, now, LEASE.as_millis() as i64).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %tollgate_error::chain(&e), "cannot read the webhook inbox");
                Vec::new()
            }
        };
        for d in &claimed {
            process(service, &mut clients, trigger, d).await;
        }
        if claimed.is_empty() {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = stop.notified() => return,
            }
        }
    }
}

/// Handles one claimed delivery and records its outcome.
pub async fn process(service: &Service, clients: &mut Clients, trigger: Option<&FetchTrigger>, d: &Delivery) {
    let result = handle(service, clients, trigger, &d.event, &d.body).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let outcome_text;
    let outcome = match &result {
        Ok(handled) => {
            tracing::info!(delivery = %d.id, event = %d.event, ?handled, "handled a GitHub delivery");
            Outcome::Done
        }
        Err(e) => {
            outcome_text = tollgate_error::chain(e);
            if e.is_transient() && d.attempts < MAX_ATTEMPTS {
                let wait = backoff(d.attempts);
                tracing::warn!(delivery = %d.id, event = %d.event, attempt = d.attempts, retry_in_s = wait.as_secs(), error = %outcome_text, "a GitHub delivery will be retried");
                Outcome::Retry { error: &outcome_text, not_before_ms: now + wait.as_millis() as i64 }
            } else {
                tracing::error!(delivery = %d.id, event = %d.event, attempt = d.attempts, error = %outcome_text, "a GitHub delivery failed");
                Outcome::Failed { error: &outcome_text }
            }
        }
    };
    match service.store().finish_delivery(d, outcome, now).await {
        Ok(true) => {}
        // Its lease ran out and another worker claimed it, which records the outcome.
        Ok(false) => tracing::warn!(delivery = %d.id, "a delivery was claimed again before its outcome was recorded"),
        // The lease ends and the delivery is claimed again: handling is idempotent.
        Err(e) => tracing::error!(delivery = %d.id, error = %tollgate_error::chain(&e), "cannot record a delivery's outcome"),
    }
}

/// 5 s, 10 s, 20 s … capped at 10 minutes.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << attempts.saturating_sub(1).min(7)).min(600))
}

/// Acts on one delivery of `event` with the raw `body` (see the module docs).
///
/// # Errors
///
/// [`DoorError`]; [`DoorError::is_transient`] says whether to try again.
pub async fn handle(
    service: &Service,
    clients: &mut Clients,
    trigger: Option<&FetchTrigger>,
    event: &str,
    body: &[u8],
) -> Result<Handled, DoorError> {
    let event = webhook::parse(event, body)?;
    match event {
        Event::Ping { origin, hook_id } => {
            tracing::info!(repository = %origin.repository, hook_id, "GitHub says hello");
            Ok(Handled::Nothing)
        }
        Event::Installation { origin, action } => {
            tracing::info!(installation = origin.installation, action, "GitHub App installation changed");
            Ok(Handled::Nothing)
        }
        Event::Ignored { .. } => Ok(Handled::Nothing),
        Event::PullRequest { origin, action, pull } => {
            if action == "closed" {
                if pull.merged {
                    ask_for_pass(trigger);
                    return Ok(Handled::Reconcile);
                }
                return Ok(Handled::Nothing);
            }
            let client = client_for(service, clients, &origin).await?;
            let remote_ref = format!("refs/pull/{}/head", pull.number);
            publish(service, &client, &remote_ref, &pull.head_sha, &pull.base_ref, Some(pull.number)).await?;
            Ok(Handled::Evaluated(vec![pull.head_sha]))
        }
        Event::Review { origin, action, pull, review } => {
            let client = client_for(service, clients, &origin).await?;
            let remote_ref = format!("refs/pull/{}/head", pull.number);
            let approving = action != "dismissed" && review.state == "APPROVED";
            let outcomes = if approving {
                let change = evaluate::prepare_change(service, &remote_ref, &review.commit_id, &pull.base_ref).await?;
                let plans = change.plans();
                let team_groups = team_groups(&client, &change.at_head.directory, &review.login).await?;
                let facts = ReviewFacts {
                    id: review.id,
                    login: &review.login,
                    commit: &review.commit_id,
                    pull_author: &pull.author,
                    pull: pull.number,
                    team_groups,
                };
                service.record_review(&change.at_head, &plans, &facts).await?
            } else if action == "dismissed" || review.state == "CHANGES_REQUESTED" {
                // A dismissal withdraws that review's approvals; asking for changes withdraws
                // every approval the reviewer gave this pull request.
                let change = evaluate::prepare_change(service, &remote_ref, &pull.head_sha, &pull.base_ref).await?;
                let (id, login) = if action == "dismissed" { (Some(review.id), None) } else { (None, Some(review.login.as_str())) };
                service.revoke_review(&change.plans(), id, login, pull.number, &format!("github:{}", origin.sender)).await?
            } else {
                Vec::new()
            };
            for o in &outcomes {
                tracing::info!(review = review.id, login = %review.login, release = %o.release, environment = %o.environment, verdict = ?o.verdict, "review");
            }
            if !pull.open {
                return Ok(Handled::Reviewed(outcomes));
            }
            publish(service, &client, &remote_ref, &pull.head_sha, &pull.base_ref, Some(pull.number)).await?;
            Ok(Handled::Reviewed(outcomes))
        }
        Event::MergeGroup { origin, head_sha, head_ref, base_ref, .. } => {
            let client = client_for(service, clients, &origin).await?;
            let base = base_ref.strip_prefix("refs/heads/").unwrap_or(&base_ref).to_owned();
            publish(service, &client, &head_ref, &head_sha, &base, None).await?;
            Ok(Handled::Evaluated(vec![head_sha]))
        }
        Event::CheckRequested { origin, head_sha, pulls, .. } => {
            let client = client_for(service, clients, &origin).await?;
            // A rerun is for a pull request's head (or a merge group's, which names none).
            let (remote_ref, number) = match pulls.first() {
                Some(n) => (format!("refs/pull/{n}/head"), Some(*n)),
                None => (head_sha.clone(), None),
            };
            let base = match number {
                Some(n) => client.get(n).await?.base,
                None => service.template().rev.clone(),
            };
            publish(service, &client, &remote_ref, &head_sha, &base, number).await?;
            Ok(Handled::Evaluated(vec![head_sha]))
        }
        Event::Push { .. } => {
            ask_for_pass(trigger);
            Ok(Handled::Reconcile)
        }
    }
}

/// The groups of `dir` that `login` is in through a GitHub team they are an active member of,
/// asked of GitHub (only for groups that list teams).
async fn team_groups(client: &Client, dir: &tollgate_decision::approvals::Directory, login: &str) -> Result<Vec<String>, GitHubError> {
    let mut groups = Vec::new();
    for (group, teams) in &dir.teams {
        for team in teams {
            let Some((org, slug)) = team.split_once('/') else { continue };
            if client.is_team_member(org, slug, login).await? {
                groups.push(group.clone());
                break;
            }
        }
    }
    Ok(groups)
}

/// Heals missed deliveries (policy-bot#960): lists the open pull requests and evaluates each
/// whose head was never evaluated; returns those heads. Nothing when GitHub is not configured.
///
/// # Errors
///
/// [`DoorError`] of the first head that fails (the others wait for the next resync).
pub async fn resync(service: &Service, clients: &mut Clients) -> Result<Vec<String>, DoorError> {
    let Some(target) = service.github_target().await? else { return Ok(Vec::new()) };
    let client = clients.get(&target, None)?;
    let open = client.open_pulls().await?;
    let shas: Vec<&str> = open.iter().map(|p| p.head_sha.as_str()).collect();
    let seen = service.store().heads_evaluated(&target.full_name(), &shas).await?;
    let mut done = Vec::new();
    for pull in open.iter().filter(|p| !seen.contains(&p.head_sha)) {
        publish(service, &client, &format!("refs/pull/{}/head", pull.number), &pull.head_sha, &pull.base, Some(pull.number)).await?;
        done.push(pull.head_sha.clone());
    }
    Ok(done)
}

fn ask_for_pass(trigger: Option<&FetchTrigger>) {
    if let Some(t) = trigger {
        t.fetch_now();
    }
}

/// The client for the config repo's repository, refusing a delivery for another one.
async fn client_for(service: &Service, clients: &mut Clients, origin: &Origin) -> Result<Arc<Client>, DoorError> {
    let target = service.github_target().await?.ok_or(DoorError::NotConfigured)?;
    if !origin.repository.eq_ignore_ascii_case(&target.full_name()) {
        return Err(DoorError::OtherRepository { got: origin.repository.clone(), want: target.full_name() });
    }
    Ok(clients.get(&target, origin.installation)?)
}

/// Evaluates a head and publishes what it is told: the three check runs (commit statuses when
/// the credentials may not write checks) and, for a pull request, the report comment.
async fn publish(
    service: &Service,
    client: &Client,
    remote_ref: &str,
    head: &str,
    base: &str,
    number: Option<u64>,
) -> Result<(), DoorError> {
    let evaluation = evaluate(service, remote_ref, head, base).await?;
    let runs = report::check_runs(&evaluation);
    let mut statuses_only = false;
    let mut first_url = None;
    for run in &runs {
        if !statuses_only {
            match client.publish_check(run).await {
                Ok(published) => {
                    first_url = first_url.or(published.url);
                    continue;
                }
                Err(e) if e.status() == Some(403) => {
                    tracing::warn!(error = %e, "the credentials may not write check runs: publishing commit statuses instead");
                    statuses_only = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
        client.set_status(head, &run.name, run.conclusion, &report::status_line(run), None).await?;
    }
    if let Some(number) = number {
        let marker = tollgate_github::comments::marker("report");
        let body = tollgate_github::comments::comment_body(&marker, &report::comment(&evaluation, &runs), first_url.as_deref());
        client.upsert_comment(number, &marker, &body).await?;
    }
    service.store().mark_head_evaluated(&client.target().full_name(), head, jiff::Timestamp::now().as_millisecond()).await?;
    Ok(())
}
