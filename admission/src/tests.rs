//! The pieces under the rule: digests, image references, the index's tables, bounded messages.

use std::time::Duration;

use expect_test::expect;

use crate::digest::{Digest, Pin};
use crate::index::{BreakGlassPolicy, Index, IndexError, Mode, Promoted};

const HEX: &str = "c058e3189f8460468ca88c22d04cd7746a4487f17e13e8afcb469dfcdd07b23c";

fn digest(n: u32) -> String {
    format!("{n:064x}")
}

#[test]
fn digests_read_64_lower_case_hex_digits_with_or_without_the_algorithm() {
    let d = Digest::from_hex(HEX).unwrap();
    assert_eq!(Digest::parse(&format!("sha256:{HEX}")), Some(d));
    assert_eq!(d.to_string(), format!("sha256:{HEX}"));
    assert_eq!(d.short(), "sha256:c058e3189f84");
    assert_eq!(Digest::parse(&HEX.to_uppercase()), None);
    assert_eq!(Digest::parse(&HEX[1..]), None);
    assert_eq!(Digest::parse(&format!("{HEX}0")), None);
    assert_eq!(Digest::parse(&format!("sha512:{HEX}")), None);
    assert_eq!(Digest::parse(""), None);
}

#[test]
fn image_references_say_how_they_are_pinned() {
    let d = Digest::from_hex(HEX).unwrap();
    let cases = [
        (format!("ghcr.io/acme/churn@sha256:{HEX}"), Pin::Digest { repository: "ghcr.io/acme/churn", digest: d }),
        (format!("ghcr.io/acme/churn:v7@sha256:{HEX}"), Pin::Digest { repository: "ghcr.io/acme/churn", digest: d }),
        (format!("registry:5000/churn:v7@sha256:{HEX}"), Pin::Digest { repository: "registry:5000/churn", digest: d }),
        ("registry:5000/churn:v7".to_owned(), Pin::Tag { repository: "registry:5000/churn" }),
        ("registry:5000/churn".to_owned(), Pin::Tag { repository: "registry:5000/churn" }),
        ("busybox".to_owned(), Pin::Tag { repository: "busybox" }),
        ("busybox@sha256:abc".to_owned(), Pin::Malformed { repository: "busybox" }),
        (format!("busybox@sha256:{}", HEX.to_uppercase()), Pin::Malformed { repository: "busybox" }),
        (format!("busybox@{HEX}"), Pin::Malformed { repository: "busybox" }),
        ("  ".to_owned(), Pin::Missing),
    ];
    for (image, want) in cases {
        assert_eq!(Pin::of(&image), want, "{image}");
    }
}

#[test]
fn a_namespace_belongs_to_one_environment() {
    let mut b = Index::builder();
    b.environment("prod", Mode::Enforce, ["ml-prod"]).unwrap();
    let err = b.environment("staging", Mode::Warn, ["ml-staging", "ml-prod"]).unwrap_err();
    expect!["namespace `ml-prod` belongs to environments `prod` and `staging`"].assert_eq(&err.to_string());
    // Nothing of the refused environment was kept.
    assert_eq!(b.environment("staging", Mode::Warn, ["ml-staging"]), Ok(()));
    assert_eq!(b.environment("prod", Mode::Warn, ["x"]), Err(IndexError::DuplicateEnvironment { environment: "prod".to_owned() }));
    let index = b.build();
    assert_eq!(index.environment("ml-prod"), Some(("prod", Mode::Enforce)));
    assert_eq!(index.environment("ml-staging"), Some(("staging", Mode::Warn)));
    assert_eq!(index.environment("x"), None);
}

#[test]
fn promotions_are_refused_one_by_one() {
    let mut b = Index::builder();
    b.environment("prod", Mode::Enforce, ["ml-prod"]).unwrap();
    let release = |image| Promoted { release: "churn-v7", image, model_sha256: None, model_uri: None };
    let errors = [
        b.promoted("nowhere", release("a@sha256:00")).unwrap_err(),
        b.promoted("prod", release("ghcr.io/acme/churn:v7")).unwrap_err(),
        b.promoted("prod", Promoted { model_sha256: Some("abc"), ..release(&format!("a@sha256:{HEX}")) }).unwrap_err(),
        b.break_glass("nowhere", BreakGlassPolicy { users: vec![], groups: vec![], max_duration: Duration::ZERO }).unwrap_err(),
        b.platform_images("prod", ["docker.io/istio/proxyv2", "docker.io/istio/proxyv2:1.24.0"]).unwrap_err(),
        b.platform_images("prod", ["gcr.io/kserve/storage-initializer@sha256:abc"]).unwrap_err(),
    ];
    let text: Vec<String> = errors.iter().map(|e| format!("{e}\n  hint: {}", tollgate_error::Hint::hint(e).unwrap_or_default())).collect();
    expect![[r#"
        environment `nowhere` has no admission settings
          hint: declare the environment with `IndexBuilder::environment` (its `spec.admission`) before its promotions
        serving image `ghcr.io/acme/churn:v7` of release `churn-v7` is not pinned by a sha256 digest
          hint: pin `spec.serving.image` of the release by digest, `registry/repo@sha256:<digest>`
        model digest `abc` of release `churn-v7` is not 64 lower-case hex digits
          hint: write the model artifact's SHA-256 as 64 lower-case hex digits
        environment `nowhere` has no admission settings
          hint: declare the environment with `IndexBuilder::environment` (its `spec.admission`) before its promotions
        platform image `docker.io/istio/proxyv2:1.24.0` of environment `prod` is neither a repository nor `repository@sha256:<digest>`
          hint: name a repository (`docker.io/istio/proxyv2`: any digest of it) or one image by digest; tags are never admitted
        platform image `gcr.io/kserve/storage-initializer@sha256:abc` of environment `prod` is neither a repository nor `repository@sha256:<digest>`
          hint: name a repository (`docker.io/istio/proxyv2`: any digest of it) or one image by digest; tags are never admitted"#]]
    .assert_eq(&text.join("\n"));
    assert_eq!(b.build().promoted_count("prod"), 0);
}

#[test]
fn releases_sharing_an_image_or_a_model_are_all_found() {
    let mut b = Index::builder();
    b.environment("prod", Mode::Enforce, ["ml-prod"]).unwrap();
    let shared = format!("ghcr.io/acme/serving@sha256:{}", digest(7));
    for (i, name) in ["zeta", "alpha", "mid"].into_iter().enumerate() {
        let model = digest(100 + u32::try_from(i).unwrap() % 2);
        let uri = format!("s3://models/{name}/");
        b.promoted("prod", Promoted { release: name, image: &shared, model_sha256: Some(&model), model_uri: Some(&uri) }).unwrap();
    }
    let own = format!("ghcr.io/acme/other@sha256:{}", digest(8));
    b.promoted("prod", Promoted { release: "other", image: &own, model_sha256: None, model_uri: None }).unwrap();
    let index = b.build();
    let env = index.environment_of("ml-prod").unwrap();
    let names = |it: &mut dyn Iterator<Item = &crate::index::Release>| it.map(|r| r.name.to_string()).collect::<Vec<_>>();
    assert_eq!(names(&mut env.by_image(&Digest::from_hex(&digest(7)).unwrap())), ["alpha", "mid", "zeta"]);
    assert_eq!(names(&mut env.by_image(&Digest::from_hex(&digest(8)).unwrap())), ["other"]);
    assert!(env.by_image(&Digest::from_hex(&digest(9)).unwrap()).next().is_none());
    assert_eq!(names(&mut env.by_model(&Digest::from_hex(&digest(100)).unwrap())), ["mid", "zeta"]);
    assert_eq!(names(&mut env.by_model_uri("s3://models/alpha")), ["alpha"]);
    assert_eq!(names(&mut env.by_model_uri("s3://models/mid/")), ["mid"]);
    assert_eq!(names(&mut env.by_repository("ghcr.io/acme/serving")), ["alpha", "mid", "zeta"]);
    assert!(index.heap_bytes() > 0);
}

#[test]
fn messages_stay_short_however_much_is_promoted() {
    let mut b = Index::builder();
    b.environment("prod", Mode::Enforce, ["ml-prod"]).unwrap();
    for i in 0..10_000u32 {
        let image = format!("ghcr.io/acme/model-{i}@sha256:{}", digest(i));
        b.promoted("prod", Promoted { release: &format!("model-{i:05}"), image: &image, model_sha256: None, model_uri: None }).unwrap();
    }
    let index = b.build();
    let env = index.environment_of("ml-prod").unwrap();
    expect!["promoted there: `model-00042` (`sha256:000000000000…`), `model-00000` (`sha256:000000000000…`), `model-00001` (`sha256:000000000000…`) and 9997 more"]
        .assert_eq(&crate::decide::promoted_clause(env, "ghcr.io/acme/model-42", false, "there"));
}

#[test]
fn warnings_are_cut_at_the_api_servers_limit() {
    let long = "é".repeat(300);
    let cut = crate::review::truncate(long, 256);
    assert_eq!(cut.chars().count(), 256);
    assert!(cut.ends_with('…'));
    assert_eq!(crate::review::truncate("short".to_owned(), 256), "short");
    assert_eq!(crate::review::truncate("x".repeat(256), 256), "x".repeat(256));
}

/// `crate::wire`: the review and its objects read in one pass are what kube-core's own
/// `Deserialize` reads (compared as the JSON each serializes to), for every fixture and for
/// objects whose type fields are missing, of another type or repeated.
#[test]
fn the_one_pass_reader_reads_objects_as_kube_core_does() {
    use kube_core::DynamicObject;
    use kube_core::admission::AdmissionReview;

    let theirs = |body: &[u8]| -> Option<serde_json::Value> {
        let mut review: AdmissionReview<DynamicObject> = serde_json::from_slice(body).ok()?;
        review.request.as_mut()?.types = review.types.clone();
        review.response = None;
        Some(serde_json::to_value(&review).unwrap())
    };
    let ours = |body: &[u8]| crate::parse_review(body).ok().map(|r| serde_json::to_value(&r).unwrap());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut bodies = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            bodies.push(std::fs::read(&path).unwrap());
        }
    }
    let fixture = String::from_utf8(std::fs::read(dir.join("pod.json")).unwrap()).unwrap();
    let at = fixture.find(r#""object""#).expect("an object");
    let end = at + r#""object": "#.len();
    let object = |text: &str| format!("{}{text}, \"_replaced\": {}", &fixture[..end], &fixture[end..]).into_bytes();
    for text in [
        r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"containers": []}}"#,
        r#"{"apiVersion": "v1", "metadata": {"name": "a"}, "spec": {}}"#,
        r#"{"kind": "Pod", "spec": {}}"#,
        r#"{"apiVersion": 1, "kind": "Pod"}"#,
        r#"{"apiVersion": "v1", "kind": null}"#,
        r#"{"apiVersion": "v1", "kind": "Pod", "kind": "Job", "spec": {"a": 1}, "spec": {"b": 2.5}}"#,
        r#"{"metadata": {"name": "a"}, "metadata": {"name": "b"}}"#,
        r#"{"metadata": null}"#,
        r#"{"metadata": {"name": 3}}"#,
        r#"{}"#,
        r#"[]"#,
        r#""Pod""#,
        r#"null"#,
    ] {
        bodies.push(object(text));
    }
    let mut read = 0;
    for body in &bodies {
        let (a, b) = (ours(body), theirs(body));
        if let (Some(x), Some(y)) = (&a, &b) {
            assert_eq!(x["request"]["object"], y["request"]["object"], "the object of {}", String::from_utf8_lossy(body));
            assert_eq!(x["request"]["oldObject"], y["request"]["oldObject"], "the old object of {}", String::from_utf8_lossy(body));
        }
        assert_eq!(a, b, "{}", String::from_utf8_lossy(body));
        read += usize::from(a.is_some());
    }
    // Most of them read (a malformed review and malformed objects do not, in either).
    assert_eq!((bodies.len(), read), (31, 25));
}
