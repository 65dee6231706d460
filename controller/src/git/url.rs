//! Remote URLs: which forms are accepted, and how they are shown without credentials.

use std::fmt;

/// The transport a remote URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `https://host/path`.
    Https,
    /// `http://host/path` (only without a token: a token is never sent in clear text).
    Http,
    /// `ssh://[user@]host[:port]/path` or the scp-like `user@host:path`.
    Ssh,
    /// `file:///path`, a repository on this machine reached through Git's transport.
    File,
}

/// A checked remote URL. It never holds a password (nor any user-info over HTTP(S)):
/// [`RemoteUrl::parse`] refuses them.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    url: String,
    scheme: Scheme,
    /// `scheme://host[:port]` for HTTP(S), used to scope the credential helper to this host.
    origin: Option<String>,
}

/// Why a URL was refused; the message names what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlProblem {
    /// What is wrong.
    pub reason: &'static str,
    /// What to do about it.
    pub hint: &'static str,
}

impl RemoteUrl {
    /// Checks `url`: one of the schemes of [`Scheme`], a host (except `file://`), no password.
    ///
    /// # Errors
    ///
    /// A [`UrlProblem`] saying what is wrong and what to do.
    pub fn parse(url: &str) -> Result<RemoteUrl, UrlProblem> {
        const FORMS: &str =
            "use `https://host/org/repo.git`, `ssh://git@host/org/repo.git`, `git@host:org/repo.git` or `file:///path/to/repo`";
        if url.trim() != url || url.is_empty() || url.chars().any(|c| c.is_control() || c == ' ') {
            return Err(UrlProblem { reason: "it is empty or contains spaces or control characters", hint: FORMS });
        }
        // Options smuggled in as URLs (`--upload-pack=…`) would reach `git` as flags.
        if url.starts_with('-') {
            return Err(UrlProblem { reason: "it starts with `-`", hint: FORMS });
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            if url.split_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':')) {
                return Err(UrlProblem { reason: "it contains a password", hint: "remove it from the URL and use an ssh key" });
            }
            return parse_scp_like(url).ok_or(UrlProblem { reason: "it has no scheme", hint: FORMS });
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            "ssh" | "git+ssh" | "ssh+git" => Scheme::Ssh,
            "file" => Scheme::File,
            _ => return Err(UrlProblem { reason: "the scheme is not supported", hint: FORMS }),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if scheme != Scheme::File && authority.rsplit('@').next().is_none_or(str::is_empty) {
            return Err(UrlProblem { reason: "it names no host", hint: FORMS });
        }
        if scheme == Scheme::File && rest.is_empty() {
            return Err(UrlProblem { reason: "it names no path", hint: FORMS });
        }
        // Over HTTP(S) any user-info may be a token (`https://TOKEN@host/`); over ssh only a
        // password is.
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && (userinfo.contains(':') || matches!(scheme, Scheme::Https | Scheme::Http))
        {
            return Err(UrlProblem {
                reason: "it contains credentials",
                hint: "remove them from the URL and give the token through the token auth (an environment variable or a file)",
            });
        }
        let origin = matches!(scheme, Scheme::Https | Scheme::Http).then(|| {
            let host = authority.rsplit('@').next().unwrap_or_default();
            format!("{}://{host}", if scheme == Scheme::Https { "https" } else { "http" })
        });
        Ok(RemoteUrl { url: url.to_owned(), scheme, origin })
    }

    /// The URL as given (it holds no password).
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Its transport.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// `scheme://host[:port]` for HTTP(S) URLs.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }
}

/// `user@host:path` (Git's scp-like syntax). A colon before any slash, not a Windows drive.
fn parse_scp_like(url: &str) -> Option<RemoteUrl> {
    let (authority, path) = url.split_once(':')?;
    if authority.contains('/') || authority.len() < 2 || path.is_empty() || authority.rsplit('@').next().is_none_or(str::is_empty) {
        return None;
    }
    if authority.rsplit_once('@').is_some_and(|(user, _)| user.is_empty()) {
        return None;
    }
    Some(RemoteUrl { url: url.to_owned(), scheme: Scheme::Ssh, origin: None })
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.url))
    }
}

impl fmt::Debug for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RemoteUrl").field(&redact_url(&self.url)).finish()
    }
}

/// Replaces the user-info of every `scheme://user[:password]@host` in `text` with `…`, so that
/// a URL carrying credentials can be shown. Text without such URLs is returned unchanged.
///
/// The user name of an `ssh://` URL without a password is kept (`git@host` names an account,
/// not a secret); any user-info of other schemes is removed, since `https://TOKEN@host/` is a
/// common way to pass a token.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let scheme = head[..i].rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '+')).next().unwrap_or_default().to_ascii_lowercase();
        let end = tail.find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '\'' || c == '"').unwrap_or(tail.len());
        let ssh_user =
            matches!(scheme.as_str(), "ssh" | "git+ssh" | "ssh+git") && tail[..end].rfind('@').is_some_and(|at| !tail[..at].contains(':'));
        match tail[..end].rfind('@') {
            Some(_) if ssh_user => out.push_str(&tail[..end]),
            Some(at) => {
                out.push('…');
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
