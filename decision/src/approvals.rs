//! Approvals: who may approve a release into an environment, which recorded approvals count,
//! and API tokens that authenticate the people who give them.
//!
//! An approval binds to the release's *content digest* (see [`crate::content_digest`]):
//! one given for other content is void. Everything here is pure except [`Tokens`], which reads
//! and writes the store.
//!
//! **Counting rule.** An environment's `approvals` asks for `required` distinct approvers, each
//! a user with the `approver` role who is a member of one of `groups` (any user with the role
//! when `groups` is empty). When `required` is at least the number of groups, every listed group
//! must be represented by at least one approver: `required: 2, groups: [ml-leads, risk]` means
//! one ML lead and one person from risk, not two ML leads. With `separationOfDuties` (the
//! default) the authors of the release change cannot approve it. Revoked approvals do not count.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use tollgate_spec::Document;

/// A role a user can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads status and decisions.
    Viewer,
    /// Approves releases into environments whose groups they belong to.
    Approver,
    /// Manages tokens and revokes anyone's approvals.
    Admin,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "approver" => Some(Role::Approver),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A person from `tollgate.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// User name, as approvals and tokens name them.
    pub name: String,
    /// Email, as Git commits name their authors.
    pub email: Option<String>,
    /// Roles.
    pub roles: BTreeSet<Role>,
    /// GitHub login, as pull-request reviews name them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<String>,
}

/// The strings of a JSON array (none when it is not one); other items are skipped, their types
/// being schema validation's concern.
fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

/// Users and groups from the `Config` document.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Directory {
    /// Users by name.
    pub users: BTreeMap<String, User>,
    /// Group name to member names.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// Group name to the GitHub teams (`org/team-slug`) whose members belong to it too, as
    /// GitHub's team-membership API says when they approve.
    pub teams: BTreeMap<String, BTreeSet<String>>,
}

impl Directory {
    /// Reads users and groups from the `Config` document (an empty directory without one).
    pub fn from_config(config: Option<&Document>) -> Directory {
        let mut dir = Directory::default();
        let Some(spec) = config.map(Document::spec) else { return dir };
        for u in spec.get("users").and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = u.get("name").and_then(Value::as_str) else { continue };
            let roles = strings(u.get("roles")).filter_map(Role::parse).collect();
            let email = u.get("email").and_then(Value::as_str).map(str::to_owned);
            let github = u.get("github").and_then(Value::as_str).map(str::to_owned);
            dir.users.insert(name.to_owned(), User { name: name.to_owned(), email, roles, github });
        }
        for g in spec.get("groups").and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = g.get("name").and_then(Value::as_str) else { continue };
            let members = strings(g.get("members")).map(str::to_owned).collect();
            dir.groups.insert(name.to_owned(), members);
            let teams: BTreeSet<String> = strings(g.get("githubTeams")).map(str::to_owned).collect();
            if !teams.is_empty() {
                dir.teams.insert(name.to_owned(), teams);
            }
        }
        dir
    }

    /// The user whose GitHub login is `login` (case-insensitive, as GitHub logins are).
    pub fn by_github(&self, login: &str) -> Option<&User> {
        self.users.values().find(|u| u.github.as_deref().is_some_and(|g| g.eq_ignore_ascii_case(login)))
    }

    /// The groups an approval's approver belongs to: by `members`, and by the GitHub teams the
    /// approval attests (`attested`, checked with GitHub when it was given), where the group
    /// still lists a team.
    fn groups_with<'a>(&'a self, user: &str, attested: &'a [String]) -> BTreeSet<&'a str> {
        let mut groups = self.groups_of(user);
        groups.extend(attested.iter().map(String::as_str).filter(|g| self.teams.get(*g).is_some_and(|t| !t.is_empty())));
        groups
    }

    /// The user whose email is `email` (case-insensitive).
    pub fn by_email(&self, email: &str) -> Option<&User> {
        self.users.values().find(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
    }

    /// The groups `user` belongs to.
    pub fn groups_of(&self, user: &str) -> BTreeSet<&str> {
        self.groups.iter().filter(|(_, m)| m.contains(user)).map(|(g, _)| g.as_str()).collect()
    }
}

/// An environment's `approvals` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPolicy {
    /// Distinct approvals needed.
    pub required: u32,
    /// Groups whose members may approve (empty: any approver).
    pub groups: Vec<String>,
    /// Whether the authors of the change are barred from approving it.
    pub separation_of_duties: bool,
}

impl ApprovalPolicy {
    /// Reads the `approvals` block of an Environment (none required when absent).
    pub fn from_environment(env: &Document) -> ApprovalPolicy {
        let a = env.spec().get("approvals");
        ApprovalPolicy {
            required: a.and_then(|a| a.get("required")).and_then(Value::as_u64).unwrap_or(0).min(u64::from(u32::MAX)) as u32,
            groups: strings(a.and_then(|a| a.get("groups"))).map(str::to_owned).collect(),
            separation_of_duties: a.and_then(|a| a.get("separationOfDuties")).and_then(Value::as_bool).unwrap_or(true),
        }
    }
}

/// An approval as recorded in the store (the `doc` of an approval record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// Sequence number of the audit event that recorded it (its identity).
    pub seq: u64,
    /// Who approved.
    pub user: String,
    /// The content digest approved.
    pub content_digest: String,
    /// When (RFC 3339).
    pub at: String,
    /// Where it came from: `cli`, `api`, `github`.
    pub via: String,
    /// Groups the approver was found in through a GitHub team when approving (a review).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub team_groups: Vec<String>,
}

/// The approval record document written to the store.
pub fn approval_doc(release: &str, env: &str, user: &str, content_digest: &str, at: &str, via: &str) -> Value {
    json!({"type": "approval", "release": release, "environment": env, "user": user, "contentDigest": content_digest, "at": at, "via": via})
}

/// The revocation record document written to the store.
pub fn revocation_doc(release: &str, env: &str, user: &str, revokes: u64, at: &str) -> Value {
    json!({"type": "revocation", "release": release, "environment": env, "user": user, "revokes": revokes, "at": at})
}

/// The store subject under which approvals of `release` into `env` are recorded.
pub fn subject(release: &str, env: &str) -> String {
    format!("release/{release}@{env}")
}

/// Splits approval records (seq, doc) into live approvals, dropping revoked ones.
pub fn live_approvals<'a>(records: impl IntoIterator<Item = (u64, &'a Value)>) -> Vec<Approval> {
    let mut approvals = Vec::new();
    let mut revoked = BTreeSet::new();
    for (seq, doc) in records {
        match doc.get("type").and_then(Value::as_str) {
            Some("approval") => approvals.push(Approval {
                seq,
                user: doc.get("user").and_then(Value::as_str).unwrap_or_default().to_owned(),
                content_digest: doc.get("contentDigest").and_then(Value::as_str).unwrap_or_default().to_owned(),
                at: doc.get("at").and_then(Value::as_str).unwrap_or_default().to_owned(),
                via: doc.get("via").and_then(Value::as_str).unwrap_or_default().to_owned(),
                team_groups: strings(doc.get("teamGroups")).map(str::to_owned).collect(),
            }),
            Some("revocation") => {
                if let Some(r) = doc.get("revokes").and_then(Value::as_u64) {
                    revoked.insert(r);
                }
            }
            _ => {}
        }
    }
    approvals.retain(|a| !revoked.contains(&a.seq));
    approvals
}

/// Why an approver may not approve, or why an approval did not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum NotCounted {
    /// The user is not in `tollgate.yaml`.
    UnknownUser,
    /// The user lacks the approver role.
    NotAnApprover,
    /// The user is in none of the environment's groups.
    NotInGroups {
        /// The groups that may approve.
        groups: Vec<String>,
    },
    /// Separation of duties: the user authored the change.
    Author,
    /// The approval was given for other content; the release, its model, its image or its gate
    /// results changed since.
    Voided {
        /// The digest it was given for.
        approved: String,
    },
    /// The same user approved already; one person counts once.
    Duplicate,
}

impl std::fmt::Display for NotCounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotCounted::UnknownUser => f.write_str("not a user in tollgate.yaml"),
            NotCounted::NotAnApprover => f.write_str("does not have the approver role"),
            NotCounted::NotInGroups { groups } => write!(f, "is in none of the groups {}", groups.join(", ")),
            NotCounted::Author => f.write_str("authored the change (separation of duties)"),
            NotCounted::Voided { approved } => {
                write!(f, "approved other content ({}…); the release changed since", &approved[..approved.len().min(12)])
            }
            NotCounted::Duplicate => f.write_str("already counted once"),
        }
    }
}

/// Whether `user` may approve under `policy`, given the change's authors (emails).
///
/// # Errors
///
/// The reason they may not.
pub fn eligible(policy: &ApprovalPolicy, dir: &Directory, user: &str, authors: &[String]) -> Result<(), NotCounted> {
    eligible_with(policy, dir, user, &[], authors)
}

/// [`eligible`], with the groups a GitHub team membership puts the user in (`team_groups`,
/// counted where the group lists a team: see [`Directory::teams`]).
///
/// # Errors
///
/// The reason they may not.
pub fn eligible_with(
    policy: &ApprovalPolicy,
    dir: &Directory,
    user: &str,
    team_groups: &[String],
    authors: &[String],
) -> Result<(), NotCounted> {
    let Some(u) = dir.users.get(user) else { return Err(NotCounted::UnknownUser) };
    if !u.roles.contains(&Role::Approver) {
        return Err(NotCounted::NotAnApprover);
    }
    if !policy.groups.is_empty() {
        let mine = dir.groups_with(user, team_groups);
        if !policy.groups.iter().any(|g| mine.contains(g.as_str())) {
            return Err(NotCounted::NotInGroups { groups: policy.groups.clone() });
        }
    }
    if policy.separation_of_duties && u.email.as_deref().is_some_and(|e| authors.iter().any(|a| a.eq_ignore_ascii_case(e))) {
        return Err(NotCounted::Author);
    }
    Ok(())
}

/// The approvals of a release into an environment, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalStatus {
    /// The environment's policy.
    pub policy: ApprovalPolicy,
    /// Approvals that count.
    pub counted: Vec<Approval>,
    /// Approvals that do not, and why.
    pub ignored: Vec<(Approval, NotCounted)>,
    /// Groups still without an approver (when each must be represented).
    pub missing_groups: Vec<String>,
    /// Whether the policy is met.
    pub satisfied: bool,
}

impl ApprovalStatus {
    /// One line for people: `1 of 2 (missing: risk)`.
    pub fn summary(&self) -> String {
        let mut s = format!("{} of {}", self.counted.len(), self.policy.required);
        if !self.missing_groups.is_empty() {
            s.push_str(&format!(" (missing a member of {})", self.missing_groups.join(", ")));
        }
        s
    }
}

/// Counts `approvals` for content `digest` under `policy`.
pub fn evaluate(policy: &ApprovalPolicy, dir: &Directory, approvals: &[Approval], digest: &str, authors: &[String]) -> ApprovalStatus {
    let mut counted: Vec<Approval> = Vec::new();
    let mut ignored = Vec::new();
    for a in approvals {
        let verdict = if a.content_digest != digest {
            Err(NotCounted::Voided { approved: a.content_digest.clone() })
        } else if counted.iter().any(|c| c.user == a.user) {
            Err(NotCounted::Duplicate)
        } else {
            eligible_with(policy, dir, &a.user, &a.team_groups, authors)
        };
        match verdict {
            Ok(()) => counted.push(a.clone()),
            Err(why) => ignored.push((a.clone(), why)),
        }
    }
    let missing_groups: Vec<String> = if policy.required as usize >= policy.groups.len() {
        policy
            .groups
            .iter()
            .filter(|g| !counted.iter().any(|a| dir.groups_with(&a.user, &a.team_groups).contains(g.as_str())))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let satisfied = counted.len() >= policy.required as usize && (policy.required == 0 || missing_groups.is_empty());
    ApprovalStatus { policy: policy.clone(), counted, ignored, missing_groups, satisfied }
}

/// A freshly minted API token: `tg_<id>_<secret>`. Only [`hash_secret`] of the secret is stored.
#[derive(Debug)]
pub struct NewToken {
    /// Public id.
    pub id: String,
    /// The whole token, shown once.
    pub token: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
}

/// Why a token was not accepted. The message never contains the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not of the form `tg_<id>_<secret>`.
    #[error("malformed api token")]
    Malformed,
    /// No such token, a wrong secret, or a revoked token: deliberately indistinguishable.
    #[error("invalid or revoked api token")]
    Invalid,
    /// The system's random source failed.
    #[error("failed to generate a token")]
    Random,
}

/// Mints a token with 256 bits of secret.
///
/// # Errors
///
/// [`TokenError::Random`].
pub fn mint_token() -> Result<NewToken, TokenError> {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).map_err(|_| TokenError::Random)?;
    getrandom::fill(&mut secret).map_err(|_| TokenError::Random)?;
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let secret_hash = hash_secret(&secret);
    Ok(NewToken { token: format!("tg_{id}_{secret}"), id, secret_hash })
}

/// Splits a token into (id, secret).
///
/// # Errors
///
/// [`TokenError::Malformed`].
pub fn parse_token(token: &str) -> Result<(&str, &str), TokenError> {
    let rest = token.trim().strip_prefix("tg_").ok_or(TokenError::Malformed)?;
    let (id, secret) = rest.split_once('_').ok_or(TokenError::Malformed)?;
    let hexish = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hexish(id, 12) || !hexish(secret, 64) {
        return Err(TokenError::Malformed);
    }
    Ok((id, secret))
}

/// SHA-256 of a token secret, as stored.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares a presented secret with a stored hash in constant time (`subtle`, ADR 0041): how
/// long it takes says nothing about how many bytes of the hash matched.
pub fn secret_matches(secret: &str, stored_hash: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    // Slices of different lengths compare unequal at once; a stored hash's length is no secret.
    hash_secret(secret).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Directory {
        let mut d = Directory::default();
        for (name, email, roles) in [
            ("alice", "alice@acme.example", vec![Role::Approver]),
            ("bob", "bob@acme.example", vec![Role::Approver, Role::Admin]),
            ("carol", "carol@acme.example", vec![Role::Approver]),
            ("dave", "dave@acme.example", vec![Role::Viewer]),
        ] {
            d.users.insert(
                name.into(),
                User { name: name.into(), email: Some(email.into()), roles: roles.into_iter().collect(), github: None },
            );
        }
        d.groups.insert("ml-leads".into(), ["alice".to_owned(), "bob".to_owned(), "dave".to_owned()].into());
        d.groups.insert("risk".into(), ["carol".to_owned()].into());
        d
    }

    fn approval(seq: u64, user: &str, digest: &str) -> Approval {
        Approval {
            seq,
            user: user.into(),
            content_digest: digest.into(),
            at: "2026-11-28T10:00:00Z".into(),
            via: "cli".into(),
            team_groups: Vec::new(),
        }
    }

    fn prod() -> ApprovalPolicy {
        ApprovalPolicy { required: 2, groups: vec!["ml-leads".into(), "risk".into()], separation_of_duties: true }
    }

    #[test]
    fn two_of_one_group_do_not_cover_every_group() {
        let s = evaluate(&prod(), &dir(), &[approval(1, "alice", "d1"), approval(2, "bob", "d1")], "d1", &[]);
        assert!(!s.satisfied);
        assert_eq!(s.missing_groups, vec!["risk".to_owned()]);
        let s = evaluate(&prod(), &dir(), &[approval(1, "alice", "d1"), approval(2, "carol", "d1")], "d1", &[]);
        assert!(s.satisfied, "{s:?}");
    }

    #[test]
    fn stale_author_duplicate_and_unqualified_approvals_do_not_count() {
        let approvals = [
            approval(1, "alice", "old"),
            approval(2, "carol", "d1"),
            approval(3, "carol", "d1"),
            approval(4, "dave", "d1"),
            approval(5, "bob", "d1"),
            approval(6, "mallory", "d1"),
        ];
        let s = evaluate(&prod(), &dir(), &approvals, "d1", &["BOB@acme.example".into()]);
        assert_eq!(s.counted.iter().map(|a| a.user.as_str()).collect::<Vec<_>>(), vec!["carol"]);
        let reasons: Vec<_> = s.ignored.iter().map(|(a, r)| (a.user.as_str(), r.clone())).collect();
        assert_eq!(
            reasons,
            vec![
                ("alice", NotCounted::Voided { approved: "old".into() }),
                ("carol", NotCounted::Duplicate),
                ("dave", NotCounted::NotAnApprover),
                ("bob", NotCounted::Author),
                ("mallory", NotCounted::UnknownUser),
            ]
        );
        assert!(!s.satisfied);
    }

    #[test]
    fn without_separation_of_duties_the_author_counts() {
        let policy = ApprovalPolicy { required: 1, groups: vec!["ml-leads".into()], separation_of_duties: false };
        let s = evaluate(&policy, &dir(), &[approval(1, "bob", "d")], "d", &["bob@acme.example".into()]);
        assert!(s.satisfied);
    }

    #[test]
    fn fewer_required_than_groups_needs_no_coverage_and_zero_is_always_met() {
        let policy = ApprovalPolicy { required: 1, groups: vec!["ml-leads".into(), "risk".into()], separation_of_duties: true };
        assert!(evaluate(&policy, &dir(), &[approval(1, "carol", "d")], "d", &[]).satisfied);
        let none = ApprovalPolicy { required: 0, groups: vec!["risk".into()], separation_of_duties: true };
        assert!(evaluate(&none, &dir(), &[], "d", &[]).satisfied);
    }

    #[test]
    fn revocations_remove_the_approval_they_name() {
        let a = approval_doc("r", "prod", "carol", "d", "t", "cli");
        let b = approval_doc("r", "prod", "alice", "d", "t", "cli");
        let r = revocation_doc("r", "prod", "carol", 7, "t");
        let live = live_approvals([(7, &a), (8, &b), (9, &r)]);
        assert_eq!(live.iter().map(|a| (a.seq, a.user.as_str())).collect::<Vec<_>>(), vec![(8, "alice")]);
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let t = mint_token().unwrap();
        let (id, secret) = parse_token(&t.token).unwrap();
        assert_eq!(id, t.id);
        assert!(secret_matches(secret, &t.secret_hash));
        let mut wrong = secret.to_owned();
        wrong.replace_range(0..1, if wrong.starts_with('0') { "1" } else { "0" });
        assert!(!secret_matches(&wrong, &t.secret_hash));
        for bad in ["", "tg_", "tg_abc_def", "xx_000000000000_", &t.token.replace("tg_", "tk_")] {
            assert_eq!(parse_token(bad), Err(TokenError::Malformed), "{bad}");
        }
        assert_ne!(mint_token().unwrap().token, t.token);
    }
}
