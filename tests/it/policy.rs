//! `tollgate policy test`.

use std::path::Path;

use crate::support::{Scratch, code, stdout, tollgate};

#[test]
fn the_default_library_tests_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let out = tollgate(&["policy", "test", dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    let summary = text.lines().last().unwrap();
    let passed: usize = summary.strip_prefix("PASS: ").unwrap().split('/').next().unwrap().parse().unwrap();
    assert!(passed > 100, "{summary}");
}

#[test]
fn the_example_organisation_policies_pass_with_the_library_loaded() {
    let dir = crate::support::examples().join("policies");
    let out = tollgate(&["policy", "test", "-v", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains(": PASS ("));
}

#[test]
fn failing_and_erroring_tests_are_reported_like_opa_test() {
    let dir = Scratch::empty();
    dir.write(
        "p/a.rego",
        "package acme.a\n\nallow if input.user == \"admin\"\n\ntest_admin if allow with input as {\"user\": \"admin\"}\n\ntest_guest if allow with input as {\"user\": \"guest\"}\n",
    );
    dir.write(
        "p/cases/a.yaml",
        "- note: admin allowed\n  query: data.acme.a.allow\n  input: {user: admin}\n  want_result: true\n- note: guest denied\n  query: data.acme.a.allow\n  input: {user: guest}\n  want_result: true\n",
    );
    let out = tollgate(&["policy", "test", dir.path().join("p").to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("data.acme.a.test_guest: FAIL"), "{text}");
    assert!(text.contains("data.acme.a.allow (guest denied): ERROR"), "{text}");
    assert!(text.contains("PASS: 2/4"), "{text}");
    assert!(text.contains("FAIL: 2/4"), "{text}");
}

#[test]
fn a_policy_that_does_not_compile_exits_2_with_its_location() {
    let dir = Scratch::empty();
    dir.write("p/bad.rego", "package acme.bad\n\nallow if {\n\tinput.x ==\n}\n");
    let out = tollgate(&["policy", "test", dir.path().join("p").to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    let err = crate::support::stderr(&out);
    assert!(err.contains("p/bad.rego:"), "{err}");
}
