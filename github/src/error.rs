//! Why a call to GitHub failed. Messages never contain a token, a key or a secret.

use std::borrow::Cow;
use std::time::Duration;

/// Why a call to GitHub failed.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// No GitHub repository is known for the config repo.
    #[error("no GitHub repository is known for the config repo")]
    NoRepository,
    /// `spec.github` is malformed.
    #[error("invalid `spec.github` in tollgate.yaml: {0}")]
    BadConfig(String),
    /// The token variable is unset or empty.
    #[error("the GitHub token is not set")]
    TokenUnavailable {
        /// The variable.
        var: String,
    },
    /// The App's private key is unset or not an RSA key in PEM.
    #[error("the GitHub App's private key from `{var}` is unusable: {reason}")]
    BadAppKey {
        /// The variable.
        var: String,
        /// What is wrong with it (never the key).
        reason: String,
    },
    /// An App is configured and no installation id is known.
    #[error("no installation of GitHub App {app_id} is known for `{repo}`")]
    NoInstallation {
        /// The App id.
        app_id: u64,
        /// `owner/name`.
        repo: String,
    },
    /// GitHub refused the credentials (401).
    #[error("GitHub at `{api}` refused the credentials ({source_of}): {message}")]
    BadCredentials {
        /// The API base URL.
        api: String,
        /// Where the credentials came from: `the token from VAR`, `GitHub App N`.
        source_of: String,
        /// GitHub's message.
        message: String,
    },
    /// A rate limit holds longer than tollgate waits inline.
    #[error("GitHub's {kind} rate limit holds for {}s more while trying to {what}", retry_after.as_secs())]
    RateLimited {
        /// What was being done.
        what: &'static str,
        /// `primary` or `secondary`.
        kind: &'static str,
        /// How long until GitHub accepts requests again.
        retry_after: Duration,
    },
    /// GitHub answered with an error.
    #[error("GitHub answered {status} to {what} in `{repo}`: {message}")]
    Api {
        /// What was being done.
        what: &'static str,
        /// `owner/name`.
        repo: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message, with the details of its `errors`.
        message: String,
    },
    /// GitHub answered 2xx with a body that is not what its API documents.
    #[error("GitHub's answer to {what} is not what its API documents: {reason}")]
    BadAnswer {
        /// What was being done.
        what: &'static str,
        /// What did not parse.
        reason: String,
    },
    /// The request did not get an answer.
    #[error("cannot reach GitHub at `{api}` to {what}")]
    Transport {
        /// The API base URL.
        api: String,
        /// What was being done.
        what: &'static str,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl GitHubError {
    /// The HTTP status GitHub answered, for [`GitHubError::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (GitHub was unreachable, rate limited, or failed).
    pub fn is_transient(&self) -> bool {
        match self {
            GitHubError::Transport { .. } | GitHubError::RateLimited { .. } => true,
            GitHubError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

impl tollgate_error::Hint for GitHubError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        let text: Cow<'_, str> = match self {
            GitHubError::NoRepository => "set `spec.github.repository: OWNER/NAME` in tollgate.yaml".into(),
            GitHubError::TokenUnavailable { var } => {
                format!("set the environment variable `{var}` to a token, or configure `spec.github.app`").into()
            }
            GitHubError::BadAppKey { var, .. } => {
                format!("set `{var}` to the App's private key as GitHub gave it (PEM, `BEGIN RSA PRIVATE KEY`)").into()
            }
            GitHubError::NoInstallation { .. } => {
                "set `spec.github.app.installationId` (the number in the installation's settings URL)".into()
            }
            GitHubError::BadCredentials { .. } => "check that the token or the App's key is valid and has not expired".into(),
            GitHubError::RateLimited { .. } => "tollgate tries again when the limit resets; `/metrics` counts the waits".into(),
            GitHubError::Api { status, .. } => match status {
                403 => "the token or App lacks a permission (pull requests, checks, statuses or issues: write; members: read)",
                404 => "check `spec.github.repository` and that the token or App may see the repository",
                422 => "GitHub refused the request's content; check that the branches and commits exist on GitHub",
                _ => "try again later",
            }
            .into(),
            GitHubError::Transport { .. } => "check the network and `spec.github.apiUrl`".into(),
            _ => return None,
        };
        Some(text)
    }
}
