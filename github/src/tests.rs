use super::*;
use tollgate_error::Hint as _;
use tollgate_github_double::GitHubDouble;

#[test]
fn owner_and_name_come_from_github_urls() {
    let cases = [
        ("https://github.com/acme/ml-config.git", Some(("github.com", "acme", "ml-config"))),
        ("https://github.com/acme/ml-config", Some(("github.com", "acme", "ml-config"))),
        ("ssh://git@github.com/acme/ml-config.git", Some(("github.com", "acme", "ml-config"))),
        ("ssh://git@github.com:22/acme/ml-config.git", Some(("github.com", "acme", "ml-config"))),
        ("git@github.com:acme/ml-config.git", Some(("github.com", "acme", "ml-config"))),
        ("https://gitlab.example/acme/ml-config.git", Some(("gitlab.example", "acme", "ml-config"))),
        ("https://github.com/acme/group/ml-config.git", None),
        ("file:///srv/git/config.git", None),
        ("https://github.com/acme", None),
    ];
    for (url, want) in cases {
        let got = repo_from_url(url);
        let want = want.map(|(h, o, n)| (h.to_owned(), o.to_owned(), n.to_owned()));
        assert_eq!(got, want, "{url}");
    }
}

#[test]
fn the_config_wins_over_the_remote_and_a_non_github_remote_opens_nothing() {
    let gh = Some("https://github.com/acme/from-remote.git");
    let t = Target::resolve(None, gh).unwrap().unwrap();
    assert_eq!(
        (t.owner.as_str(), t.repo.as_str(), t.api_url.as_str(), t.token_env.as_str()),
        ("acme", "from-remote", DEFAULT_API_URL, "GITHUB_TOKEN")
    );

    let config = GitHubConfig {
        repository: Some("acme/explicit".into()),
        api_url: Some("https://ghe.acme.example/api/v3/".into()),
        token_env: Some("ACME_GH_TOKEN".into()),
        app: None,
    };
    let t = Target::resolve(Some(&config), gh).unwrap().unwrap();
    assert_eq!(t.full_name(), "acme/explicit");
    assert_eq!(t.api_url, "https://ghe.acme.example/api/v3", "a trailing slash is dropped");
    assert_eq!(t.token_env, "ACME_GH_TOKEN");

    assert_eq!(Target::resolve(None, Some("file:///srv/git/config.git")).unwrap(), None);
    assert_eq!(Target::resolve(None, None).unwrap(), None);
    // A `github` block that says nothing about the repository, and a remote that does not either.
    let only_api = GitHubConfig { api_url: Some("http://127.0.0.1:1".into()), ..GitHubConfig::default() };
    assert!(matches!(Target::resolve(Some(&only_api), Some("file:///x.git")), Err(GitHubError::NoRepository)));
    let bad = GitHubConfig { repository: Some("acme".into()), ..GitHubConfig::default() };
    assert!(matches!(Target::resolve(Some(&bad), None), Err(GitHubError::BadConfig(_))));
}

#[test]
fn config_is_read_from_spec_github() {
    let v = serde_json::json!({"spec": {"github": {"repository": "acme/cfg", "apiUrl": "http://x", "tokenEnv": "T"}}});
    let c = GitHubConfig::from_config(&v).unwrap();
    assert_eq!(c.repository.as_deref(), Some("acme/cfg"));
    assert_eq!(c.api_url.as_deref(), Some("http://x"));
    assert_eq!(c.token_env.as_deref(), Some("T"));
    assert_eq!(c.app, None);
    let v = serde_json::json!({"spec": {"github": {"app": {"id": 7, "installationId": 9}}}});
    let app = GitHubConfig::from_config(&v).unwrap().app.unwrap();
    assert_eq!((app.id, app.installation_id, app.private_key_env.as_str()), (7, Some(9), DEFAULT_PRIVATE_KEY_ENV));
    assert_eq!(GitHubConfig::from_config(&serde_json::json!({"spec": {}})), None);
}

fn target(double: &GitHubDouble, token_env: &str) -> Target {
    Target { owner: "acme".into(), repo: "ml-config".into(), api_url: double.url(), token_env: token_env.into(), app: None }
}

// Rust 2024 makes setting environment variables unsafe (and the workspace forbids `unsafe`), so
// tests take their token from a variable Cargo sets for every test run: `CARGO_PKG_NAME`.
const TOKEN_ENV: &str = "CARGO_PKG_NAME";
const TOKEN: &str = env!("CARGO_PKG_NAME");

#[tokio::test]
async fn ensure_opens_one_pull_request_and_then_finds_and_updates_it() {
    let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
    let client = Client::new(target(&double, TOKEN_ENV), None).unwrap();
    let p = Proposal { head: "tollgate/promote/prod/income", base: "main", title: "Promote income-v2 (income@2) to prod", body: "facts" };
    let (pr, how) = client.ensure(&p).await.unwrap();
    assert_eq!(how, Ensured::Opened);
    assert_eq!((pr.number, pr.state, pr.head.as_str(), pr.base.as_str()), (1, PullState::Open, "tollgate/promote/prod/income", "main"));
    assert_eq!(pr.url, "https://github.example/acme/ml-config/pull/1");

    let (again, how) = client.ensure(&p).await.unwrap();
    assert_eq!((again.number, how), (1, Ensured::Found));
    let changed = Proposal { body: "new facts", ..p.clone() };
    let (updated, how) = client.ensure(&changed).await.unwrap();
    assert_eq!((updated.number, how, updated.body.as_str()), (1, Ensured::Updated, "new facts"));

    let pulls = double.pulls();
    assert_eq!(pulls.len(), 1, "never a second pull request: {pulls:?}");
    let requests = double.requests();
    let creates: Vec<_> = requests.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(creates.len(), 1);
    let body = creates[0].body.as_ref().unwrap();
    assert_eq!(body["head"], "tollgate/promote/prod/income");
    assert_eq!(body["base"], "main");
    assert_eq!(body["title"], "Promote income-v2 (income@2) to prod");
    assert!(requests.iter().all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))), "{requests:?}");
    let list = requests.iter().find(|r| r.method == "GET").unwrap();
    assert_eq!(list.query.get("head").map(String::as_str), Some("acme:tollgate/promote/prod/income"));
    assert_eq!(list.query.get("state").map(String::as_str), Some("open"));
    assert_eq!(double.violations(), Vec::<String>::new());

    double.close(1);
    assert_eq!(client.get(1).await.unwrap().state, PullState::Closed);
    double.mark_merged(1);
    assert_eq!(client.get(1).await.unwrap().state, PullState::Merged);
}

#[tokio::test]
async fn a_create_that_races_another_adopts_the_open_one() {
    let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
    let client = Client::new(target(&double, TOKEN_ENV), None).unwrap();
    let p = Proposal { head: "tollgate/promote/dev/m", base: "main", title: "t", body: "b" };
    // Two writers look, both find nothing, both create: GitHub refuses the second with 422.
    let (a, b) = tokio::join!(client.ensure(&p), client.ensure(&p));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.0.number, b.0.number);
    assert_eq!(double.pulls().len(), 1);
    assert_eq!(double.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_bad_or_missing_token_is_a_clear_error_that_does_not_show_it() {
    let double = GitHubDouble::start("acme", "ml-config", "the-right-token").unwrap();
    let client = Client::new(target(&double, TOKEN_ENV), None).unwrap();
    let err = client.find_open("b", "main").await.unwrap_err();
    assert!(matches!(err, GitHubError::BadCredentials { .. }), "{err:?}");
    let text = format!("{err}");
    assert!(text.contains("refused the credentials (the token from `CARGO_PKG_NAME`): Bad credentials"), "{text}");
    assert!(!text.contains(TOKEN), "the token is not shown: {text}");
    assert!(!format!("{client:?}").contains(TOKEN), "nor in Debug");
    assert!(double.pulls().is_empty());

    let err = Client::new(target(&double, "TOLLGATE_TEST_SURELY_UNSET_VARIABLE"), None).unwrap_err();
    assert_eq!(err.to_string(), "the GitHub token is not set");
    assert_eq!(
        err.hint().as_deref(),
        Some("set the environment variable `TOLLGATE_TEST_SURELY_UNSET_VARIABLE` to a token, or configure `spec.github.app`")
    );
}

#[tokio::test]
async fn an_unknown_repository_says_where_to_look() {
    let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
    let mut t = target(&double, TOKEN_ENV);
    t.repo = "other".into();
    let err = Client::new(t, None).unwrap().find_open("b", "main").await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("GitHub answered 404 to list pull requests in `acme/other`: Not Found"), "{text}");
    assert!(err.hint().is_some_and(|h| h.starts_with("check `spec.github.repository`")), "{err:?}");
}

#[tokio::test]
async fn the_double_refuses_what_github_refuses() {
    // The double itself is held to the contract: a body the schema refuses is a 422 and a
    // recorded violation, whichever client sent it.
    let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
    let client = Client::new(target(&double, TOKEN_ENV), None).unwrap();
    let bad = serde_json::json!({"head": 1, "base": "main", "title": "t"});
    let err = client.send("open a pull request", http::Method::POST, "/repos/acme/ml-config/pulls", Some(&bad)).await.unwrap_err();
    assert_eq!(err.status(), Some(422), "{err:?}");
    let v = double.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("request body at `/head`"), "{v:?}");
}

fn app_target(double: &GitHubDouble) -> Target {
    Target {
        owner: "acme".into(),
        repo: "ml-config".into(),
        api_url: double.url(),
        token_env: "UNUSED".into(),
        app: Some(AppConfig { id: 4242, installation_id: Some(77), private_key_env: "GITHUB_APP_PRIVATE_KEY".into() }),
    }
}

#[tokio::test]
async fn an_app_mints_an_installation_token_once_and_again_when_it_nears_expiry() {
    let double = GitHubDouble::start("acme", "ml-config", "a-token-the-app-never-uses").unwrap();
    double.configure_app(4242, 77, tollgate_github_double::TEST_APP_PUBLIC_KEY).unwrap();
    let before = crate::rate_stats().tokens_minted;
    let client = Client::with_app_key(app_target(&double), None, tollgate_github_double::TEST_APP_PRIVATE_KEY).unwrap();
    assert_eq!(client.credentials(), "GitHub App 4242 (installation 77)");
    assert!(client.find_open("b", "main").await.unwrap().is_none());
    assert!(client.find_open("b", "main").await.unwrap().is_none());
    assert_eq!(double.installation_tokens_issued(), 1, "the token is cached");
    // A token that expires within the five-minute margin is replaced before it is used.
    double.set_installation_token_lifetime(std::time::Duration::from_secs(120));
    *client.session.lock().await = None;
    client.find_open("b", "main").await.unwrap();
    client.find_open("b", "main").await.unwrap();
    assert_eq!(double.installation_tokens_issued(), 3);
    assert!(crate::rate_stats().tokens_minted >= before + 3);
    assert!(!format!("{client:?}").contains("PRIVATE KEY"));
    assert_eq!(double.violations(), Vec::<String>::new());

    // Another App's key is refused by GitHub: a clear error naming the App, never the key.
    let other = GitHubDouble::start("acme", "ml-config", "x").unwrap();
    other.configure_app(9999, 77, tollgate_github_double::TEST_APP_PUBLIC_KEY).unwrap();
    let client = Client::with_app_key(app_target(&other), None, tollgate_github_double::TEST_APP_PRIVATE_KEY).unwrap();
    let err = client.find_open("b", "main").await.unwrap_err();
    assert!(matches!(err, GitHubError::BadCredentials { .. }), "{err:?}");
    assert!(err.to_string().contains("(GitHub App 4242 (installation 77))"), "{err}");
    // Not a key at all.
    let err = Client::with_app_key(app_target(&other), None, "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n")
        .unwrap_err();
    assert!(matches!(err, GitHubError::BadAppKey { .. }), "{err:?}");
    let mut t = app_target(&other);
    t.app.as_mut().unwrap().installation_id = None;
    let err = Client::with_app_key(t, None, tollgate_github_double::TEST_APP_PRIVATE_KEY).unwrap_err();
    assert_eq!(err.to_string(), "no installation of GitHub App 4242 is known for `acme/ml-config`");
}

#[tokio::test]
async fn a_short_rate_limit_is_waited_out_and_counted_and_a_long_one_is_an_error() {
    let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
    let client = Client::new(target(&double, TOKEN_ENV), None).unwrap();
    let before = crate::rate_stats();
    double.rate_limit_next(tollgate_github_double::RateLimit::Secondary { retry_after_s: 1 });
    let started = std::time::Instant::now();
    assert!(client.find_open("b", "main").await.unwrap().is_none());
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    let after = crate::rate_stats();
    assert!(after.waits > before.waits && after.waited_ms >= before.waited_ms + 1000, "{before:?} {after:?}");
    assert!(after.remaining.is_some());

    let impatient = Client::new(target(&double, TOKEN_ENV), None).unwrap().with_max_wait(std::time::Duration::ZERO);
    double.rate_limit_next(tollgate_github_double::RateLimit::Secondary { retry_after_s: 30 });
    let err = impatient.find_open("b", "main").await.unwrap_err();
    assert!(matches!(err, GitHubError::RateLimited { kind: "secondary", .. }), "{err:?}");
    assert!(err.is_transient());
    double.rate_limit_next(tollgate_github_double::RateLimit::Primary);
    let err = impatient.find_open("b", "main").await.unwrap_err();
    assert!(matches!(err, GitHubError::RateLimited { kind: "primary", .. }), "{err:?}");
}

#[tokio::test]
async fn annotations_go_fifty_per_request_and_the_run_completes_with_the_last() {
    let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
    let client = Client::new(target(&double, TOKEN_ENV), None).unwrap();
    let annotations: Vec<Annotation> = (1..=120)
        .map(|i| Annotation {
            path: format!("models/m{i}.yaml"),
            start_line: i,
            end_line: i,
            level: Level::Failure,
            title: Some("tollgate: schema".into()),
            message: format!("problem {i}"),
        })
        .collect();
    let run = CheckRun {
        name: "tollgate/check".into(),
        head_sha: "a".repeat(40),
        conclusion: Conclusion::Failure,
        title: "120 problems".into(),
        summary: "x".repeat(70_000),
        text: None,
        annotations,
        details_url: None,
        external_id: Some("e".into()),
    };
    let published = client.publish_check(&run).await.unwrap();
    let runs = double.check_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, published.id);
    assert_eq!(runs[0].annotations.len(), 120);
    assert_eq!((runs[0].status.as_str(), runs[0].conclusion.as_deref()), ("completed", Some("failure")));
    assert_eq!(runs[0].summary.as_deref().map(|s| s.chars().count()), Some(checks::MAX_OUTPUT_CHARS));
    let writes: Vec<usize> = double
        .requests()
        .iter()
        .filter(|r| r.path.contains("check-runs"))
        .map(|r| r.body.as_ref().and_then(|b| b.pointer("/output/annotations")).and_then(|a| a.as_array()).map_or(0, Vec::len))
        .collect();
    assert_eq!(writes, [50, 50, 20]);
    assert_eq!(double.violations(), Vec::<String>::new());

    // Without the right to write checks: GitHub's 403, for the caller to fall back on statuses.
    double.forbid_checks();
    let err = client.publish_check(&run).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    client.set_status(&run.head_sha, "tollgate/check", Conclusion::Failure, &"y".repeat(300), None).await.unwrap();
    let statuses = double.statuses();
    assert_eq!(statuses[0].1["state"], "failure");
    assert_eq!(statuses[0].1["description"].as_str().map(|d| d.chars().count()), Some(checks::MAX_STATUS_DESCRIPTION));
}

#[tokio::test]
async fn the_report_comment_is_found_by_its_marker_on_any_page_and_edited_not_repeated() {
    let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
    let client = Client::new(target(&double, TOKEN_ENV), None).unwrap();
    let n = double.open_pull("feature", "main", "t", "");
    for i in 0..130 {
        double.add_comment(n, "someone", &format!("comment {i}"));
    }
    let marker = comments::marker("report");
    let body = comments::comment_body(&marker, "first", None);
    let (id, how) = client.upsert_comment(n, &marker, &body).await.unwrap();
    assert_eq!(how, Upserted::Created);
    for i in 0..40 {
        double.add_comment(n, "someone", &format!("later {i}"));
    }
    assert_eq!(client.upsert_comment(n, &marker, &body).await.unwrap(), (id, Upserted::Unchanged));
    let long = comments::comment_body(&marker, &"z".repeat(70_000), Some("https://github.example/run/1"));
    assert_eq!(long.chars().count(), comments::MAX_COMMENT_CHARS);
    assert!(long.ends_with("the whole report is in [the check run](https://github.example/run/1)."), "{}", &long[long.len() - 120..]);
    assert_eq!(client.upsert_comment(n, &marker, &long).await.unwrap(), (id, Upserted::Updated));
    let mine: Vec<_> = double.comments(n).into_iter().filter(|c| c.body.contains(&marker)).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].body, long);
    assert_eq!(double.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn reviews_and_team_membership_are_read_over_every_page() {
    let double = GitHubDouble::start("acme", "ml-config", TOKEN).unwrap();
    let client = Client::new(target(&double, TOKEN_ENV), None).unwrap();
    let n = double.open_pull("feature", "main", "t", "");
    for i in 0..105 {
        double.add_review(n, &format!("user{i}"), "COMMENTED", &"c".repeat(40));
    }
    let approved = double.add_review(n, "bob-gh", "APPROVED", &"d".repeat(40));
    let reviews = client.reviews(n).await.unwrap();
    assert_eq!(reviews.len(), 106);
    assert_eq!(reviews[105], Review { id: approved, login: "bob-gh".into(), state: "APPROVED".into(), commit_id: "d".repeat(40) });
    double.add_team_member("acme", "ml-leads", "bob-gh");
    assert!(client.is_team_member("acme", "ml-leads", "bob-gh").await.unwrap());
    assert!(!client.is_team_member("acme", "ml-leads", "mallory").await.unwrap());
    assert_eq!(double.violations(), Vec::<String>::new());
}

#[test]
fn webhook_signatures_hold_to_githubs_documented_example_and_rotation() {
    // docs.github.com, "Validating webhook deliveries": this secret and payload give this signature.
    let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(webhook::signature(b"It's a Secret to Everybody", b"Hello, World!"), expected);
    let secrets = webhook::Secrets::new(b"new", Some(b"It's a Secret to Everybody")).unwrap();
    assert_eq!(secrets.verify(Some(expected.as_bytes()), b"Hello, World!"), Ok(()));
    assert_eq!(secrets.verify(Some(expected.as_bytes()), b"Hello, World?"), Err(webhook::SignatureError::Mismatch));
    assert_eq!(secrets.verify(Some(b"sha1=abc"), b"x"), Err(webhook::SignatureError::Malformed));
    assert_eq!(secrets.verify(Some(b"sha256=zz"), b"x"), Err(webhook::SignatureError::Malformed));
    assert_eq!(secrets.verify(None, b"x"), Err(webhook::SignatureError::Missing));
    assert!(webhook::Secrets::new(b"", None).is_none(), "an empty secret is no secret");
    assert!(!format!("{secrets:?}").contains("new"));
}

#[test]
fn payloads_are_read_into_events_and_bad_ones_are_errors() {
    use webhook::{Event, parse};
    let pr = serde_json::json!({
        "action": "synchronize",
        "pull_request": {"number": 7, "state": "open", "head": {"sha": "h", "ref": "feature"}, "base": {"sha": "b", "ref": "main"}, "user": {"login": "dave"}},
        "repository": {"full_name": "acme/ml-config"}, "installation": {"id": 3}, "sender": {"login": "dave"}
    });
    let Event::PullRequest { origin, action, pull } = parse("pull_request", pr.to_string().as_bytes()).unwrap() else { panic!() };
    assert_eq!((origin.repository.as_str(), origin.installation, action.as_str()), ("acme/ml-config", Some(3), "synchronize"));
    assert_eq!(
        (pull.number, pull.head_sha.as_str(), pull.base_ref.as_str(), pull.author.as_str(), pull.open),
        (7, "h", "main", "dave", true)
    );
    let mut labeled = pr.clone();
    labeled["action"] = "labeled".into();
    assert!(matches!(parse("pull_request", labeled.to_string().as_bytes()).unwrap(), Event::Ignored { .. }));
    let mut edited = pr.clone();
    edited["action"] = "edited".into();
    assert!(matches!(parse("pull_request", edited.to_string().as_bytes()).unwrap(), Event::Ignored { .. }), "a title edit");
    edited["changes"] = serde_json::json!({"base": {"ref": {"from": "dev"}}});
    assert!(matches!(parse("pull_request", edited.to_string().as_bytes()).unwrap(), Event::PullRequest { .. }), "a new base");
    let mut broken = pr.clone();
    broken["pull_request"]["head"] = serde_json::json!(null);
    assert_eq!(
        parse("pull_request", broken.to_string().as_bytes()).unwrap_err().to_string(),
        "the `pull_request` payload has no `/pull_request/head/sha`"
    );
    assert!(parse("push", b"{not json").unwrap_err().to_string().starts_with("the `push` payload is not JSON"));
    assert!(matches!(parse("star", b"anything").unwrap(), Event::Ignored { .. }));
    // Deep nesting is an error, not a stack overflow.
    let deep = "[".repeat(100_000);
    assert!(parse("push", deep.as_bytes()).is_err());
}
