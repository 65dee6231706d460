//! Running the `git` program for network operations: its environment (credentials, prompts,
//! timeouts), a wall-clock limit, and turning what it printed into a [`GitError`].
//!
//! **Guarantees:** no secret is ever on a command line. A token reaches `git` only through the
//! environment of the child process, read by a credential helper that is scoped to the remote's
//! host; everything `git` prints is scrubbed of the secret and of URL credentials before it is
//! kept in an error.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::url::{RemoteUrl, Scheme, redact_url};
use super::{Auth, GitError, GitOutput, MirrorOptions};

/// The environment variable holding the token for the credential helper (child process only).
const PASSWORD_VAR: &str = "TOLLGATE_GIT_PASSWORD";
/// The environment variable holding the user name for the credential helper.
const USERNAME_VAR: &str = "TOLLGATE_GIT_USERNAME";

/// The user name sent with a token when none is configured; GitHub accepts any, GitLab wants
/// `oauth2`, Bitbucket `x-token-auth`.
pub const DEFAULT_TOKEN_USERNAME: &str = "x-access-token";

/// A credential helper that answers `get` from the environment and ignores `store` and `erase`,
/// so the token is never written anywhere. Git runs `!…` helpers through the shell.
const HELPER: &str =
    "!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' \"$TOLLGATE_GIT_USERNAME\" \"$TOLLGATE_GIT_PASSWORD\"; }; f";

/// Variables inherited from a surrounding Git process (a hook, an alias) that would redirect
/// the child to another repository or configuration.
const SCRUBBED: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_NAMESPACE",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
    "GIT_PROXY_COMMAND",
    "GIT_EXTERNAL_DIFF",
    PASSWORD_VAR,
    USERNAME_VAR,
];

/// The environment a `git` child runs with, built once per operation.
#[derive(Clone)]
pub(crate) struct GitEnv {
    vars: Vec<(OsString, OsString)>,
    /// Strings that must never appear in anything kept from the child's output.
    secrets: Vec<String>,
}

impl std::fmt::Debug for GitEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.vars.iter().map(|(k, _)| k.to_string_lossy().into_owned()).collect();
        f.debug_struct("GitEnv").field("vars", &names).finish_non_exhaustive()
    }
}

impl GitEnv {
    /// The environment for talking to `url` with `auth`; reads the token now, so a rotated
    /// secret file is picked up by the next operation.
    pub(crate) fn new(url: &RemoteUrl, auth: &Auth, options: &MirrorOptions) -> Result<GitEnv, GitError> {
        let mut config: Vec<(String, String)> = vec![
            // An empty value clears the helpers of the system and global configuration: nothing
            // may prompt, and nothing may store our token.
            ("credential.helper".into(), String::new()),
            // Abort transfers that stall: under 1 KiB/s for a minute.
            ("http.lowSpeedLimit".into(), "1024".into()),
            ("http.lowSpeedTime".into(), "60".into()),
            ("core.askPass".into(), String::new()),
        ];
        let mut vars: Vec<(OsString, OsString)> = vec![
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("GIT_ASKPASS".into(), "".into()),
            ("SSH_ASKPASS".into(), "".into()),
            ("GCM_INTERACTIVE".into(), "never".into()),
            // `ext::` and other transports run arbitrary commands; only these are reachable.
            ("GIT_ALLOW_PROTOCOL".into(), "https:http:ssh:file".into()),
            ("LC_ALL".into(), "C".into()),
        ];
        if let Some(ca_file) = &options.ca_file {
            std::fs::File::open(ca_file).map_err(|source| GitError::CaFile { path: ca_file.clone(), source })?;
            config.push(("http.sslCAInfo".into(), ca_file.to_string_lossy().into_owned()));
            // `GIT_SSL_CAINFO` beats the configuration: an inherited one must not win over the
            // bundle asked for.
            vars.push(("GIT_SSL_CAINFO".into(), ca_file.clone().into_os_string()));
        }
        let mut secrets = Vec::new();
        match auth {
            Auth::None => {}
            Auth::Token { secret, username } => {
                let origin = match url.scheme() {
                    Scheme::Https => url.origin().unwrap_or_default(),
                    _ => return Err(GitError::AuthMismatch { url: url.to_string(), auth: "a token", expected: "an `https://` URL" }),
                };
                let token = secret.read()?;
                secrets.push(token.clone());
                config.push((format!("credential.{origin}.helper"), HELPER.into()));
                vars.push((PASSWORD_VAR.into(), token.into()));
                vars.push((USERNAME_VAR.into(), username.as_deref().unwrap_or(DEFAULT_TOKEN_USERNAME).into()));
            }
            Auth::SshKey { key, known_hosts, accept_new_host_keys } => {
                if url.scheme() != Scheme::Ssh {
                    return Err(GitError::AuthMismatch {
                        url: url.to_string(),
                        auth: "an ssh key",
                        expected: "an `ssh://` or `user@host:path` URL",
                    });
                }
                vars.push((
                    "GIT_SSH_COMMAND".into(),
                    ssh_command(key, known_hosts.as_deref(), *accept_new_host_keys, options.connect_timeout)?.into(),
                ));
                vars.push(("GIT_SSH_VARIANT".into(), "ssh".into()));
            }
        }
        vars.push(("GIT_CONFIG_COUNT".into(), config.len().to_string().into()));
        for (i, (key, value)) in config.into_iter().enumerate() {
            vars.push((format!("GIT_CONFIG_KEY_{i}").into(), key.into()));
            vars.push((format!("GIT_CONFIG_VALUE_{i}").into(), value.into()));
        }
        Ok(GitEnv { vars, secrets })
    }

    /// The value of a variable this environment sets.
    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<&OsString> {
        self.vars.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// `text` with every secret replaced by `***` and URL credentials removed.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = redact_url(text);
        for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

/// `ssh` with only the given key, no agent, no prompts, and host keys checked against
/// `known_hosts` (or the user's default file). Paths are quoted for the shell Git runs it with.
fn ssh_command(key: &Path, known_hosts: Option<&Path>, accept_new: bool, connect_timeout: Duration) -> Result<String, GitError> {
    std::fs::File::open(key).map_err(|source| GitError::KeyFile { path: key.to_owned(), source })?;
    let mut cmd = format!(
        "ssh -i {} -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking={} -o ConnectTimeout={} \
         -o ServerAliveInterval=15 -o ServerAliveCountMax=4",
        shell_quote(&key.to_string_lossy()),
        if accept_new { "accept-new" } else { "yes" },
        connect_timeout.as_secs().max(1),
    );
    if let Some(known_hosts) = known_hosts {
        std::fs::File::open(known_hosts).map_err(|source| GitError::KnownHostsFile { path: known_hosts.to_owned(), source })?;
        cmd.push_str(" -o UserKnownHostsFile=");
        cmd.push_str(&shell_quote(&known_hosts.to_string_lossy()));
        cmd.push_str(" -o GlobalKnownHostsFile=/dev/null");
    }
    Ok(cmd)
}

/// Single-quotes `s` for a POSIX shell.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// What a finished `git` printed.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) success: bool,
}

/// Runs `git args…` in `dir` with `env`, killing it after `timeout`; a run that finished, well
/// or not, is `Ok`.
///
/// `op` names the operation in errors; `target` is the (redacted) URL or path it concerns.
pub(crate) fn run_raw(
    dir: &Path,
    args: &[&str],
    env: &GitEnv,
    timeout: Duration,
    op: &'static str,
    target: &str,
) -> Result<Output, GitError> {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for name in SCRUBBED {
        cmd.env_remove(name);
    }
    for (key, value) in &env.vars {
        cmd.env(key, value);
    }
    tracing::debug!(op, target, args = ?args, "running git");
    let mut child = cmd.spawn().map_err(|source| GitError::GitNotFound { source })?;
    let readers = [child.stdout.take().map(|s| reader(Box::new(s))), child.stderr.take().map(|s| reader(Box::new(s)))];
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                // Killing `git` leaves a helper (ssh, git-remote-https) whose pipes close with it.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(source) => return Err(GitError::GitNotFound { source }),
        }
    };
    let [stdout, stderr] = readers.map(|r| r.and_then(|h| h.join().ok()).unwrap_or_default());
    let output = Output { stdout: env.scrub(&stdout), stderr: env.scrub(&stderr), success: status.is_some_and(|s| s.success()) };
    match status {
        None => Err(GitError::Timeout { op, target: target.to_owned(), after: timeout }),
        Some(_) => Ok(output),
    }
}

/// As [`run_raw`], with a failed run turned into an error.
pub(crate) fn run(dir: &Path, args: &[&str], env: &GitEnv, timeout: Duration, op: &'static str, target: &str) -> Result<Output, GitError> {
    let output = run_raw(dir, args, env, timeout, op, target)?;
    if output.success { Ok(output) } else { Err(classify(op, target, &output.stderr)) }
}

/// Reads a pipe to its end on a thread (so neither pipe can fill and block the child), keeping
/// at most 64 KiB.
fn reader(mut pipe: Box<dyn Read + Send>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if kept.len() < 64 * 1024 {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

/// Turns what a failed `git` printed into the most specific error.
pub(crate) fn classify(op: &'static str, target: &str, stderr: &str) -> GitError {
    let lower = stderr.to_ascii_lowercase();
    let output = GitOutput::new(stderr);
    let target = target.to_owned();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if has(&["host key verification failed", "remote host identification has changed", "no matching host key"]) {
        GitError::HostKey { url: target, source: output }
    } else if has(&["bad permissions", "unprotected private key file"]) {
        GitError::KeyPermissions { url: target, source: output }
    } else if has(&[
        "authentication failed",
        "could not read username",
        "could not read password",
        "permission denied (publickey",
        "permission denied, please try again",
        "the requested url returned error: 401",
        "the requested url returned error: 403",
        "invalid username or password",
    ]) {
        GitError::AuthFailed { url: target, source: output }
    } else if has(&[
        "ssl certificate problem",
        "server certificate verification failed",
        "unable to get local issuer",
        "certificate verify failed",
    ]) {
        GitError::Tls { url: target, source: output }
    } else if has(&[
        "could not resolve host",
        "could not resolve hostname",
        "failed to connect",
        "connection refused",
        "connection timed out",
        "network is unreachable",
        "no route to host",
        "operation timed out",
        "couldn't connect to server",
        "connection reset",
    ]) {
        GitError::Unreachable { url: target, source: output }
    } else if has(&["repository not found", "does not appear to be a git repository", "returned error: 404", "not a git repository"]) {
        GitError::RepoNotFound { url: target, source: output }
    } else {
        GitError::Command { op, target, source: output }
    }
}
