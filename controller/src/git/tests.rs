//! Real repositories, real `git`, a real TLS server: an upstream bare repository created by each
//! test, reached over `file://` or HTTPS, and a mirror of it.

mod https;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::command::{GitEnv, classify};
use super::*;

const TOKEN: &str = "tg-test-token-5f1c9a7e";

/// Runs `git` for test setup with a fixed identity; panics with what it printed on failure.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// An upstream bare repository `<root>/repo.git` on `main`, and a working clone that pushes to it.
struct Upstream {
    dir: tempfile::TempDir,
}

impl Upstream {
    fn new() -> Upstream {
        let up = Upstream { dir: tempfile::tempdir().expect("tempdir") };
        std::fs::create_dir_all(up.root()).expect("mkdir");
        git(&up.root(), &["init", "--bare", "-b", "main", "repo.git"]);
        git(up.dir.path(), &["clone", "-q", up.bare().to_str().expect("utf-8"), "work"]);
        up.commit_local("tollgate.yaml", "apiVersion: tollgate.dev/v1alpha1\nkind: Config\n", "initial");
        git(&up.work(), &["push", "-q", "origin", "HEAD:main"]);
        up
    }

    /// Where bare repositories live (the HTTP server's project root).
    fn root(&self) -> PathBuf {
        self.dir.path().join("remote")
    }

    fn bare(&self) -> PathBuf {
        self.root().join("repo.git")
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn url(&self) -> String {
        file_url(&self.bare())
    }

    fn commit_local(&self, file: &str, text: &str, message: &str) -> Oid {
        let path = self.work().join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        git(&self.work(), &["add", "-A"]);
        git(&self.work(), &["commit", "-q", "-m", message]);
        git(&self.work(), &["rev-parse", "HEAD"]).parse().expect("oid")
    }

    /// Moves the working clone to the upstream `main` (which a mirror may have pushed to).
    fn sync(&self) {
        git(&self.work(), &["fetch", "-q", "origin", "main"]);
        git(&self.work(), &["reset", "-q", "--hard", "FETCH_HEAD"]);
    }

    /// Commits on top of the upstream `main` and pushes.
    fn commit(&self, file: &str, text: &str, message: &str) -> Oid {
        self.sync();
        let oid = self.commit_local(file, text, message);
        git(&self.work(), &["push", "-q", "origin", "HEAD:main"]);
        oid
    }

    /// Drops the last commit, commits something else, and force-pushes.
    fn rewrite(&self, file: &str, text: &str, message: &str) -> Oid {
        self.sync();
        git(&self.work(), &["reset", "-q", "--hard", "HEAD~1"]);
        let oid = self.commit_local(file, text, message);
        git(&self.work(), &["push", "-q", "--force", "origin", "HEAD:main"]);
        oid
    }

    fn tip(&self, branch: &str) -> Oid {
        git(&self.bare(), &["rev-parse", branch]).parse().expect("oid")
    }
}

/// `file:///abs/path` (`file:///C:/abs/path` on Windows).
fn file_url(path: &Path) -> String {
    let path = path.display().to_string().replace('\\', "/");
    if path.starts_with('/') { format!("file://{path}") } else { format!("file:///{path}") }
}

fn remote(url: &str, auth: Auth) -> RepoLocation {
    RepoLocation::Remote { url: url.to_owned(), auth, branch: None }
}

fn token_auth(token: &str) -> Auth {
    Auth::Token { secret: Secret::Value(token.to_owned()), username: Some("tollgate".into()) }
}

/// A commit on top of `parent` in `repo` (bare or not) that sets `file` at the root.
fn commit_in(repo: &Repository, parent: Oid, file: &str, text: &str) -> Oid {
    let parent = repo.find_commit(parent).expect("parent");
    let blob = repo.blob(text.as_bytes()).expect("blob");
    let mut tree = repo.treebuilder(Some(&parent.tree().expect("tree"))).expect("treebuilder");
    tree.insert(file, blob, 0o100644).expect("insert");
    let tree = repo.find_tree(tree.write().expect("write tree")).expect("tree");
    let sig = git2::Signature::now("tollgate", "tollgate@example.invalid").expect("signature");
    repo.commit(None, &sig, &sig, "promote", &tree, &[&parent]).expect("commit")
}

fn file_at(mirror: &Mirror, commit: Oid, path: &str) -> Option<String> {
    let source = mirror.source(commit).expect("source");
    let listing = source.list().expect("list");
    let path = tollgate_spec::repo::RepoPath::new(path).expect("path");
    source.read(&listing, &path).ok().map(|b| String::from_utf8(b).expect("utf-8"))
}

#[test]
fn clones_fetches_and_pushes_over_file_urls() {
    let up = Upstream::new();
    let cache = tempfile::tempdir().expect("cache");
    let mut mirror = Mirror::open(&remote(&up.url(), Auth::None), cache.path()).expect("open");
    assert_eq!(mirror.branch(), "main", "the remote's default branch");
    assert!(mirror.repository().is_bare());
    assert!(mirror.repository().path().starts_with(cache.path().join("repos")));
    assert_eq!(mirror.head(), up.tip("main"));

    let first = mirror.fetch().expect("fetch");
    assert_eq!((first.before, first.after, &first.kind), (None, up.tip("main"), &FetchKind::Initial));
    assert!(first.needs_reevaluation());
    let again = mirror.fetch().expect("fetch");
    assert_eq!(again.kind, FetchKind::Unchanged);
    assert!(!again.needs_reevaluation());

    let second = up.commit("models/m.yaml", "kind: Model\n", "add model");
    let moved = mirror.fetch().expect("fetch");
    assert_eq!((moved.before, moved.after, moved.kind), (Some(first.after), second, FetchKind::FastForward));
    assert_eq!(mirror.head(), second);
    // Trees are read from the mirror's object database; it has no working copy.
    assert_eq!(file_at(&mirror, second, "models/m.yaml").as_deref(), Some("kind: Model\n"));
    assert_eq!(file_at(&mirror, first.after, "models/m.yaml"), None);

    // A promotion commit made in the mirror is pushed as a fast-forward …
    let promotion = commit_in(mirror.repository(), second, "deploy.yaml", "kind: Promotion\n");
    mirror.push(promotion, "main").expect("push");
    assert_eq!(up.tip("main"), promotion);
    let pushed = mirror.fetch().expect("fetch");
    assert_eq!((pushed.after, pushed.kind), (promotion, FetchKind::FastForward));
    // … to a new branch too …
    mirror.push(promotion, "tollgate/promote-prod").expect("push new branch");
    assert_eq!(up.tip("tollgate/promote-prod"), promotion);
    // … and one built on a stale tip is refused as such.
    let upstream_moved = up.commit("other.yaml", "x: 1\n", "someone else");
    let stale = commit_in(mirror.repository(), promotion, "deploy.yaml", "kind: Promotion\nv: 2\n");
    let err = mirror.push(stale, "main").expect_err("not a fast-forward");
    assert!(matches!(err, GitError::NonFastForward { ref branch, .. } if branch == "main"), "{err:?}");
    assert_eq!(up.tip("main"), upstream_moved);

    // Opening the mirror again (a restart) neither clones nor forgets what was seen.
    drop(mirror);
    let mut reopened = Mirror::open(&remote(&up.url(), Auth::None), cache.path()).expect("reopen");
    assert_eq!(reopened.head(), promotion);
    let after_restart = reopened.fetch().expect("fetch");
    assert_eq!((after_restart.before, after_restart.after, after_restart.kind), (Some(promotion), upstream_moved, FetchKind::FastForward));
}

/// The audit checkpoints' ref, committed in the mirror, is pushed to the remote as a
/// fast-forward only (issue #12 item 3: anchors the forge and its clones witness).
#[test]
fn the_audit_ref_is_pushed_to_the_remote_as_a_fast_forward() {
    let up = Upstream::new();
    let cache = tempfile::tempdir().expect("cache");
    let mirror = Mirror::open(&remote(&up.url(), Auth::None), cache.path()).expect("open");
    let refname = crate::anchor::AUDIT_REF;
    assert!(!mirror.push_ref(refname).expect("nothing to push"), "no ref yet: nothing is pushed");
    let head = mirror.head();
    let first = commit_in(mirror.repository(), head, "00001.checkpoint", "one\n");
    mirror.repository().reference(refname, first, false, "test").expect("ref");
    assert!(mirror.push_ref(refname).expect("push"));
    assert_eq!(up.tip(refname), first);
    let second = commit_in(mirror.repository(), first, "00002.checkpoint", "two\n");
    mirror.repository().reference(refname, second, true, "test").expect("ref");
    assert!(mirror.push_ref(refname).expect("push"));
    assert_eq!(up.tip(refname), second);
    // History the remote has is never overwritten: a rewritten ref is refused.
    let rewritten = commit_in(mirror.repository(), head, "00001.checkpoint", "forged\n");
    mirror.repository().reference(refname, rewritten, true, "test").expect("ref");
    let err = mirror.push_ref(refname).expect_err("not a fast-forward");
    assert!(matches!(err, GitError::NonFastForward { ref branch, .. } if branch == refname), "{err:?}");
    assert_eq!(up.tip(refname), second);
    // A local repository holds the ref itself: nothing to push.
    let local = Mirror::open(&RepoLocation::Local(up.bare()), cache.path()).expect("open local");
    assert!(!local.push_ref(refname).expect("local"));
}

#[test]
fn a_force_push_is_detected_kept_and_audited() {
    let up = Upstream::new();
    let kept = up.commit("releases/r.yaml", "kind: Release\nversion: 1\n", "release v1");
    let cache = tempfile::tempdir().expect("cache");
    let mut mirror = Mirror::open(&remote(&up.url(), Auth::None), cache.path()).expect("open");
    assert_eq!(mirror.fetch().expect("fetch").kind, FetchKind::Initial);
    let doomed = up.commit("releases/r.yaml", "kind: Release\nversion: 2\n", "release v2");
    assert_eq!(mirror.fetch().expect("fetch").kind, FetchKind::FastForward);

    let replacement = up.rewrite("releases/r.yaml", "kind: Release\nversion: 3\n", "release v3, history rewritten");
    let outcome = mirror.fetch().expect("fetch");
    let FetchKind::ForcePush { dropped, preserved_ref } = &outcome.kind else { panic!("expected a force-push: {outcome:?}") };
    assert_eq!((outcome.before, outcome.after), (Some(doomed), replacement));
    assert_eq!(dropped, &vec![doomed]);
    assert!(preserved_ref.starts_with("refs/tollgate/force-pushed/main/"), "{preserved_ref}");
    assert!(preserved_ref.ends_with(&doomed.to_string()[..12]), "{preserved_ref}");
    assert!(outcome.needs_reevaluation());
    assert_eq!(mirror.head(), replacement);

    // The dropped commit survives an aggressive garbage collection and is still readable.
    git(mirror.repository().path(), &["reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all"]);
    git(mirror.repository().path(), &["gc", "-q", "--prune=now"]);
    assert_eq!(mirror.repository().refname_to_id(preserved_ref).expect("preserved ref"), doomed);
    assert_eq!(file_at(&mirror, doomed, "releases/r.yaml").as_deref(), Some("kind: Release\nversion: 2\n"));
    assert_eq!(file_at(&mirror, replacement, "releases/r.yaml").as_deref(), Some("kind: Release\nversion: 3\n"));
    assert!(mirror.repository().graph_descendant_of(replacement, kept).expect("graph"));

    // The audit trail says so, through the store's append API.
    let db = tempfile::tempdir().expect("db dir");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = tollgate_store::Store::open(&format!("sqlite://{}", db.path().join("audit.db").display())).await.expect("store");
        let log = AuditLog::new(store.clone());
        let event = record_fetch(&log, &mirror.target(), &outcome).await.expect("record").expect("an event");
        assert_eq!(event.action, ACTION_FORCE_PUSH);
        assert_eq!(event.subject, format!("repo/{}@main", up.url()));
        let body: serde_json::Value = serde_json::from_slice(&event.body).expect("json");
        assert_eq!(body["payload"]["before"], doomed.to_string());
        assert_eq!(body["payload"]["after"], replacement.to_string());
        assert_eq!(body["payload"]["dropped"], serde_json::json!([doomed.to_string()]));
        assert_eq!(body["payload"]["dropped_count"], 1);
        assert_eq!(body["payload"]["preserved_ref"], preserved_ref.as_str());
        let unchanged = FetchOutcome { kind: FetchKind::Unchanged, before: Some(replacement), ..outcome.clone() };
        assert!(record_fetch(&log, &mirror.target(), &unchanged).await.expect("record").is_none(), "an unchanged fetch is not audited");
        let report = tollgate_store::verify_store(&store, &[], &Default::default()).await.expect("verify");
        assert_eq!((report.events, report.problem), (1, None));
        store.close().await;
    });

    // A rewrite that happens while tollgate is down is noticed on the first fetch after it.
    drop(mirror);
    let while_down = up.rewrite("releases/r.yaml", "kind: Release\nversion: 4\n", "rewritten again");
    let mut reopened = Mirror::open(&remote(&up.url(), Auth::None), cache.path()).expect("reopen");
    let outcome = reopened.fetch().expect("fetch");
    assert!(matches!(&outcome.kind, FetchKind::ForcePush { dropped, .. } if dropped == &vec![replacement]), "{outcome:?}");
    assert_eq!(outcome.after, while_down);
    let kept_refs = reopened.repository().references_glob("refs/tollgate/force-pushed/*").expect("refs").count();
    assert_eq!(kept_refs, 2);
}

#[test]
fn a_deleted_branch_keeps_its_last_tip() {
    let up = Upstream::new();
    git(&up.work(), &["push", "-q", "origin", "HEAD:refs/heads/release"]);
    let tip = up.tip("release");
    let cache = tempfile::tempdir().expect("cache");
    let location = RepoLocation::Remote { url: up.url(), auth: Auth::None, branch: Some("release".into()) };
    let mut mirror = Mirror::open(&location, cache.path()).expect("open");
    assert_eq!(mirror.fetch().expect("fetch").kind, FetchKind::Initial);
    assert_eq!(mirror.branch(), "release");
    git(&up.work(), &["push", "-q", "origin", ":refs/heads/release"]);
    let err = mirror.fetch().expect_err("the branch is gone");
    assert_eq!(err.to_string(), format!("branch `release` does not exist in `{}`", up.url()));
    assert_eq!(tollgate_error::Hint::hint(&err).as_deref(), Some("set the branch to one of: `main`"));
    let kept: Vec<Oid> = mirror
        .repository()
        .references_glob("refs/tollgate/force-pushed/release/*")
        .expect("refs")
        .filter_map(|r| r.ok()?.target())
        .collect();
    assert_eq!(kept, vec![tip]);
}

#[test]
fn a_local_repository_is_used_in_place() {
    let up = Upstream::new();
    let work = up.work();
    let mut mirror = Mirror::open(&RepoLocation::Local(work.clone()), Path::new("/nonexistent-cache")).expect("open");
    assert_eq!(mirror.branch(), "main");
    assert_eq!(mirror.fetch().expect("fetch").kind, FetchKind::Initial);
    let next = up.commit_local("a.yaml", "a: 1\n", "local commit");
    let moved = mirror.fetch().expect("fetch");
    assert_eq!((moved.after, moved.kind), (next, FetchKind::FastForward));
    let amended = up.rewrite_local("a.yaml", "a: 2\n");
    let outcome = mirror.fetch().expect("fetch");
    assert!(matches!(&outcome.kind, FetchKind::ForcePush { dropped, .. } if dropped == &vec![next]), "{outcome:?}");
    assert_eq!(outcome.after, amended);

    // The checked-out branch is never moved under the working copy; another branch is.
    let promotion = commit_in(mirror.repository(), amended, "deploy.yaml", "kind: Promotion\n");
    assert!(matches!(mirror.push(promotion, "main"), Err(GitError::CheckedOut { .. })));
    mirror.push(promotion, "promotions").expect("push to another branch");
    assert_eq!(git(&work, &["rev-parse", "promotions"]), promotion.to_string());
    let stale = commit_in(mirror.repository(), amended, "deploy.yaml", "other\n");
    assert!(matches!(mirror.push(stale, "promotions"), Err(GitError::NonFastForward { .. })));
}

impl Upstream {
    /// Amends the working clone's last commit without pushing.
    fn rewrite_local(&self, file: &str, text: &str) -> Oid {
        git(&self.work(), &["reset", "-q", "--hard", "HEAD~1"]);
        self.commit_local(file, text, "amended")
    }
}

#[test]
fn https_with_a_token_clones_fetches_and_pushes() {
    let up = Upstream::new();
    let server = https::Server::start(&up.root(), "tollgate", TOKEN);
    let url = format!("{}/repo.git", server.base);
    let cache = tempfile::tempdir().expect("cache");
    let options = MirrorOptions { ca_file: Some(server.ca_file.clone()), timeout: Duration::from_secs(60), ..MirrorOptions::default() };
    let logs = capture_logs(|| {
        let mut mirror = Mirror::open_with(&remote(&url, token_auth(TOKEN)), cache.path(), &options).expect("clone over https");
        assert_eq!(mirror.fetch().expect("fetch").kind, FetchKind::Initial);
        let next = up.commit("b.yaml", "b: 1\n", "more");
        assert_eq!(mirror.fetch().expect("fetch").after, next);
        let promotion = commit_in(mirror.repository(), next, "deploy.yaml", "kind: Promotion\n");
        mirror.push(promotion, "main").expect("push over https");
        assert_eq!(up.tip("main"), promotion);
        assert!(!format!("{mirror:?}").contains(TOKEN));
    });
    assert!(logs.contains("running git"), "logs are captured: {logs}");
    assert!(!logs.contains(TOKEN), "{logs}");
    let log = server.log.lock().expect("log").clone();
    assert!(log.iter().any(|(line, _)| line.starts_with("POST /repo.git/git-receive-pack 200")), "{log:?}");
    // The token is never in the mirror's files (config, logs), where a backup might pick it up.
    assert_no_file_contains(cache.path(), TOKEN);

    // The token can also come from a file, as a mounted secret does.
    let token_file = cache.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    let auth = Auth::Token { secret: Secret::File(token_file), username: Some("tollgate".into()) };
    let mut from_file = Mirror::open_with(&remote(&url, auth), cache.path(), &options).expect("open with a token file");
    from_file.fetch().expect("fetch with a token file");
}

#[test]
fn a_wrong_or_missing_token_is_refused_without_showing_it() {
    let up = Upstream::new();
    let server = https::Server::start(&up.root(), "tollgate", TOKEN);
    let url = format!("{}/repo.git", server.base);
    let options = MirrorOptions { ca_file: Some(server.ca_file.clone()), timeout: Duration::from_secs(60), ..MirrorOptions::default() };
    let wrong = "tg-wrong-token-0b8d2e";
    for auth in [token_auth(wrong), Auth::None] {
        let cache = tempfile::tempdir().expect("cache");
        let logs = capture_logs(|| {
            let err = Mirror::open_with(&remote(&url, auth.clone()), cache.path(), &options).expect_err("refused");
            assert!(matches!(err, GitError::AuthFailed { .. }), "{err:?}");
            let shown = format!("{}: {}", err, std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default());
            assert!(shown.starts_with(&format!("authentication to `{url}` failed: ")), "{shown}");
            assert!(tollgate_error::Hint::hint(&err).is_some_and(|h| h.starts_with("check that the token")), "{err:?}");
            for text in [shown, format!("{err:?}")] {
                assert!(!text.contains(wrong) && !text.contains(TOKEN), "{text}");
            }
            assert!(
                std::fs::read_dir(cache.path().join("repos")).expect("repos").all(|e| !e
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".clone-")),
                "no half clone is left"
            );
        });
        assert!(!logs.contains(wrong), "{logs}");
    }
    // Without the test CA the server is not trusted, and the error says what to do.
    let cache = tempfile::tempdir().expect("cache");
    let err = Mirror::open(&remote(&url, token_auth(TOKEN)), cache.path()).expect_err("untrusted");
    assert!(matches!(err, GitError::Tls { .. }), "{err:?}");
    assert!(crate::hint_of(&err).is_some_and(|h| h.contains("GIT_SSL_CAINFO")), "{err:?}");
    // The server never saw the token where it was not trusted.
    assert!(server.log.lock().expect("log").iter().all(|(line, _)| !line.contains(TOKEN)));
}

#[test]
fn bad_settings_are_clear_errors_before_any_network_use() {
    let cache = tempfile::tempdir().expect("cache");
    let open = |url: &str, auth: Auth| Mirror::open(&remote(url, auth), cache.path()).expect_err("refused");
    for url in ["", "not a url", "ftp://host/repo.git", "https:///repo.git", "--upload-pack=touch /tmp/x", "file://"] {
        let err = open(url, Auth::None);
        assert!(matches!(err, GitError::BadUrl { .. }), "{url}: {err:?}");
        assert!(crate::hint_of(&err).is_some_and(|h| !h.is_empty()) && !err.to_string().contains("hint"), "{err}");
    }
    let err = open("bob:hunter2@example.invalid:org/repo.git", Auth::None);
    assert!(matches!(err, GitError::BadUrl { reason: "it contains a password", .. }), "{err:?}");
    for (url, secret) in
        [("https://bob:hunter2@example.invalid/repo.git", "hunter2"), ("https://ghp_0123abc@example.invalid/repo.git", "ghp_0123abc")]
    {
        let err = open(url, Auth::None);
        assert!(matches!(err, GitError::BadUrl { reason: "it contains credentials", .. }), "{err:?}");
        assert!(!err.to_string().contains(secret) && !format!("{err:?}").contains(secret), "{err}");
        assert!(err.to_string().contains("https://…@example.invalid/repo.git"), "{err}");
    }

    let err = open("git@example.invalid:org/repo.git", token_auth(TOKEN));
    assert!(matches!(err, GitError::AuthMismatch { .. }), "{err:?}");
    let err = open("http://example.invalid/repo.git", token_auth(TOKEN));
    assert!(matches!(err, GitError::AuthMismatch { .. }), "a token is never sent in clear text: {err:?}");
    let key = Auth::SshKey { key: cache.path().join("missing_key"), known_hosts: None, accept_new_host_keys: false };
    let err = open("git@example.invalid:org/repo.git", key.clone());
    assert!(matches!(err, GitError::KeyFile { .. }), "{err:?}");
    assert!(matches!(open("https://example.invalid/repo.git", key), GitError::AuthMismatch { .. }));
    let unset = Auth::Token { secret: Secret::Env("TOLLGATE_TEST_SURELY_UNSET_TOKEN".into()), username: None };
    let err = open("https://example.invalid/repo.git", unset);
    assert_eq!(err.to_string(), "cannot read the Git token from environment variable `TOLLGATE_TEST_SURELY_UNSET_TOKEN`");
    assert_eq!(tollgate_error::Hint::hint(&err).as_deref(), Some("set it, or point the token at a readable, non-empty file"));
    // Nothing was created for refused settings.
    assert!(!cache.path().join("repos").exists());

    // Unreachable: nothing listens on port 1 of loopback.
    let err = open("https://127.0.0.1:1/repo.git", Auth::None);
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
    assert_eq!(crate::hint_of(&err).as_deref(), Some("check the host name, the network, and any proxy settings"));
    let err = open(&file_url(&cache.path().join("nothing-here.git")), Auth::None);
    assert!(matches!(err, GitError::RepoNotFound { .. }), "{err:?}");

    let up = Upstream::new();
    let err = Mirror::open(&RepoLocation::Remote { url: up.url(), auth: Auth::None, branch: Some("nope".into()) }, cache.path())
        .expect_err("no branch");
    assert_eq!(err.to_string(), format!("branch `nope` does not exist in `{}`", up.url()));
    assert_eq!(crate::hint_of(&err).as_deref(), Some("set the branch to one of: `main`"));
    let err = Mirror::open(&RepoLocation::Local(cache.path().join("no-repo")), cache.path()).expect_err("no repo");
    assert!(matches!(err, GitError::Repo { .. }), "{err:?}");
}

#[test]
fn ssh_runs_with_only_the_given_key_and_checked_host_keys() {
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("deploy key's file");
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&key, "not really a key").expect("key");
    std::fs::write(&known_hosts, "").expect("known_hosts");
    let url = RemoteUrl::parse("ssh://git@example.invalid:2222/org/repo.git").expect("url");
    let auth = Auth::SshKey { key: key.clone(), known_hosts: Some(known_hosts.clone()), accept_new_host_keys: false };
    let env = GitEnv::new(&url, &auth, &MirrorOptions::default()).expect("env");
    let quoted_key = format!("'{}'", key.display().to_string().replace('\'', "'\\''"));
    assert_eq!(
        env.get("GIT_SSH_COMMAND").and_then(|v| v.to_str()),
        Some(
            format!(
                "ssh -i {quoted_key} -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=yes \
                 -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -o UserKnownHostsFile='{}' \
                 -o GlobalKnownHostsFile=/dev/null",
                known_hosts.display()
            )
            .as_str()
        )
    );
    assert_eq!(env.get("GIT_TERMINAL_PROMPT").and_then(|v| v.to_str()), Some("0"));
    let tofu = Auth::SshKey { key, known_hosts: None, accept_new_host_keys: true };
    let ssh = GitEnv::new(&url, &tofu, &MirrorOptions::default()).expect("env");
    let cmd = ssh.get("GIT_SSH_COMMAND").and_then(|v| v.to_str()).expect("ssh command").to_owned();
    assert!(cmd.contains("StrictHostKeyChecking=accept-new") && !cmd.contains("UserKnownHostsFile"), "{cmd}");
    let err = GitEnv::new(
        &url,
        &Auth::SshKey { key: dir.path().join("k"), known_hosts: Some(dir.path().join("none")), accept_new_host_keys: false },
        &MirrorOptions::default(),
    );
    assert!(matches!(err, Err(GitError::KeyFile { .. })));
    // scp-like URLs are ssh too.
    assert_eq!(RemoteUrl::parse("git@github.com:org/repo.git").map(|u| u.scheme()), Ok(Scheme::Ssh));

    // What ssh says is classified into errors that say what to do.
    let err = classify(
        "fetch",
        "ssh://git@example.invalid/org/repo.git",
        "Host key verification failed.\nfatal: Could not read from remote repository.\n",
    );
    assert!(matches!(err, GitError::HostKey { .. }), "{err:?}");
    assert!(crate::hint_of(&err).is_some_and(|h| h.contains("known_hosts")), "{err:?}");
    let err = classify("fetch", "u", "git@example.invalid: Permission denied (publickey).\nfatal: Could not read from remote repository.");
    assert!(matches!(err, GitError::AuthFailed { .. }), "{err:?}");
    let err = classify("fetch", "u", "Permissions 0644 for 'key' are too open.\nbad permissions: ignore key: key");
    assert!(matches!(err, GitError::KeyPermissions { .. }), "{err:?}");
    let err = classify("fetch", "u", "ssh: Could not resolve hostname example.invalid: Name or service not known");
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
}

#[test]
fn tokens_never_reach_a_command_line_a_debug_string_or_an_error() {
    let url = RemoteUrl::parse("https://git.example.invalid:8443/org/repo.git").expect("url");
    let env = GitEnv::new(&url, &token_auth(TOKEN), &MirrorOptions::default()).expect("env");
    // The token is in the child's environment only, read by a helper scoped to the host.
    assert_eq!(env.get("TOLLGATE_GIT_PASSWORD").and_then(|v| v.to_str()), Some(TOKEN));
    let count: usize = env.get("GIT_CONFIG_COUNT").and_then(|v| v.to_str()).and_then(|v| v.parse().ok()).expect("count");
    let config: Vec<(String, String)> = (0..count)
        .map(|i| {
            let get = |k: String| env.get(&k).and_then(|v| v.to_str()).expect("config").to_owned();
            (get(format!("GIT_CONFIG_KEY_{i}")), get(format!("GIT_CONFIG_VALUE_{i}")))
        })
        .collect();
    assert_eq!(config[0], ("credential.helper".into(), String::new()), "other helpers are cleared first");
    let helper = config.iter().find(|(k, _)| k == "credential.https://git.example.invalid:8443.helper").expect("scoped helper");
    assert!(!helper.1.contains(TOKEN) && helper.1.contains("$TOLLGATE_GIT_PASSWORD"), "{helper:?}");
    assert!(config.iter().all(|(_, v)| !v.contains(TOKEN)));
    assert!(!format!("{env:?}").contains(TOKEN));
    assert_eq!(env.scrub(&format!("remote: bad token {TOKEN} for https://u:{TOKEN}@host/x")), "remote: bad token *** for https://…@host/x");

    let auth = token_auth(TOKEN);
    let location = remote(url.as_str(), auth.clone());
    for shown in [format!("{auth:?}"), format!("{location:?}"), format!("{:?}", Secret::Value(TOKEN.into()))] {
        assert!(!shown.contains(TOKEN), "{shown}");
    }
    assert_eq!(format!("{:?}", Secret::Env("GITHUB_TOKEN".into())), "Env(\"GITHUB_TOKEN\")");
    let err = classify("fetch", &url.to_string(), &env.scrub(&format!("fatal: Authentication failed for 'https://x:{TOKEN}@host/'")));
    assert!(!format!("{err:?} {err}").contains(TOKEN));
    assert_eq!(redact_url("see https://user:pw@host:1/p?q and ssh://git@h/x"), "see https://…@host:1/p?q and ssh://git@h/x");
    assert_eq!(redact_url("'https://ghp_abc@github.com/o/r' ssh://u:pw@h/x"), "'https://…@github.com/o/r' ssh://…@h/x");
    assert_eq!(
        GitOutput::new("Cloning into bare repository 'x'...\nfatal: Authentication failed for 'u'\n").to_string(),
        "fatal: Authentication failed for 'u'"
    );
}

#[tokio::test]
async fn the_fetcher_wakes_on_the_interval_and_on_request() {
    let mut fetcher = Fetcher::new(Duration::from_secs(3600));
    let trigger = fetcher.trigger();
    assert_eq!(fetcher.wait().await, Wake::Interval, "the first wait returns at once");
    trigger.fetch_now();
    trigger.fetch_now();
    assert_eq!(fetcher.wait().await, Wake::Requested);
    // The two requests were merged: nothing is due now.
    assert!(tokio::time::timeout(Duration::from_millis(50), fetcher.wait()).await.is_err());
    let other = trigger.clone();
    std::thread::spawn(move || other.fetch_now());
    assert_eq!(tokio::time::timeout(Duration::from_secs(10), fetcher.wait()).await, Ok(Wake::Requested));

    let mut fast = Fetcher::new(Duration::from_millis(20));
    assert_eq!(fast.wait().await, Wake::Interval);
    assert_eq!(tokio::time::timeout(Duration::from_secs(10), fast.wait()).await, Ok(Wake::Interval));
}

/// Runs `f` with every `tracing` event at any level written to a buffer, and returns the text.
fn capture_logs(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buf").extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8_lossy(&buf.0.lock().expect("buf")).into_owned()
}

fn assert_no_file_contains(dir: &Path, needle: &str) {
    for entry in walkdir::WalkDir::new(dir).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file()) {
        let bytes = std::fs::read(entry.path()).expect("read");
        assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{} holds the secret", entry.path().display());
    }
}

/// An OpenSSH server on a loopback port, run as this user with its own host key and one
/// authorized client key; stopped when dropped.
#[cfg(unix)]
struct Sshd {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

#[cfg(unix)]
impl Sshd {
    fn start() -> Sshd {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists())
            .expect("this test runs a real OpenSSH server: install it (`apt-get install openssh-server`; `scripts/test` does this)");
        let dir = tempfile::tempdir().expect("dir");
        for name in ["host_key", "client_key", "other_key"] {
            keygen(&dir.path().join(name));
        }
        std::fs::copy(dir.path().join("client_key.pub"), dir.path().join("authorized_keys")).expect("authorized_keys");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let config = dir.path().join("sshd_config");
        let d = dir.path().display();
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
                 StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nUsePAM no\nAllowUsers {}\n",
                whoami()
            ),
        )
        .expect("sshd_config");
        // The privilege-separation folder sshd insists on when it runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = std::process::Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start sshd");
        let mut server = Sshd { child, port, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "sshd did not start: {:?}", server.child.try_wait());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A known_hosts file trusting `key` (a `.pub` file) for this server.
    fn known_hosts(&self, key: &str) -> PathBuf {
        let public = std::fs::read_to_string(self.path(key)).expect("public key");
        let mut parts = public.split_whitespace();
        let line = format!("[127.0.0.1]:{} {} {}\n", self.port, parts.next().expect("type"), parts.next().expect("key"));
        let path = self.path(&format!("known_hosts_{key}"));
        std::fs::write(&path, line).expect("known_hosts");
        path
    }
}

#[cfg(unix)]
impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn keygen(path: &Path) {
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "tollgate-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[cfg(unix)]
fn whoami() -> String {
    let out = std::process::Command::new("id").arg("-un").output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[cfg(unix)]
#[test]
fn ssh_with_a_key_clones_fetches_and_pushes_against_a_real_sshd() {
    let up = Upstream::new();
    let sshd = Sshd::start();
    let url = format!("ssh://{}@127.0.0.1:{}{}", whoami(), sshd.port, up.bare().display());
    let key =
        |key: &str, known_hosts: PathBuf| Auth::SshKey { key: sshd.path(key), known_hosts: Some(known_hosts), accept_new_host_keys: false };
    let options = MirrorOptions { timeout: Duration::from_secs(60), ..MirrorOptions::default() };

    let cache = tempfile::tempdir().expect("cache");
    let mut mirror = Mirror::open_with(&remote(&url, key("client_key", sshd.known_hosts("host_key.pub"))), cache.path(), &options)
        .expect("clone over ssh");
    assert_eq!(mirror.fetch().expect("fetch").kind, FetchKind::Initial);
    let next = up.commit("c.yaml", "c: 1\n", "more");
    assert_eq!(mirror.fetch().expect("fetch over ssh").after, next);
    let promotion = commit_in(mirror.repository(), next, "deploy.yaml", "kind: Promotion\n");
    mirror.push(promotion, "main").expect("push over ssh");
    assert_eq!(up.tip("main"), promotion);

    // A key the server does not know, and a server whose host key is not the trusted one.
    let other = tempfile::tempdir().expect("cache");
    let err = Mirror::open_with(&remote(&url, key("other_key", sshd.known_hosts("host_key.pub"))), other.path(), &options)
        .expect_err("unknown key");
    assert!(matches!(err, GitError::AuthFailed { .. }), "{err:?}");
    let err = Mirror::open_with(&remote(&url, key("client_key", sshd.known_hosts("other_key.pub"))), other.path(), &options)
        .expect_err("wrong host key");
    assert!(matches!(err, GitError::HostKey { .. }), "{err:?}");
    let empty = sshd.path("known_hosts_empty");
    std::fs::write(&empty, "").expect("empty known_hosts");
    let err = Mirror::open_with(&remote(&url, key("client_key", empty.clone())), other.path(), &options).expect_err("unknown host");
    assert!(matches!(err, GitError::HostKey { .. }), "{err:?}");
    // Trust on first use accepts the unknown host, and records its key.
    let tofu = Auth::SshKey { key: sshd.path("client_key"), known_hosts: Some(empty.clone()), accept_new_host_keys: true };
    Mirror::open_with(&remote(&url, tofu), other.path(), &options).expect("accept-new");
    assert!(!std::fs::read_to_string(&empty).expect("known_hosts").trim().is_empty(), "the host key was recorded");
}
