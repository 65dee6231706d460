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
