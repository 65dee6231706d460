use super::*;

/// Fails when `docs/reference/` drifts from the schemas; `cargo xtask codegen` fixes it.
#[test]
fn reference_docs_are_up_to_date() {
    let root = workspace_root();
    for (path, text) in reference::render_all().unwrap() {
        let current = std::fs::read_to_string(root.join(&path)).unwrap_or_default();
        assert!(current == text, "`{path}` is out of date; run `cargo xtask codegen`");
    }
}

#[test]
fn every_field_of_every_schema_is_documented() {
    for (_, text) in reference::render_all().unwrap() {
        for line in text.lines().filter(|l| l.starts_with("| `")) {
            let description = line.rsplit('|').nth(1).unwrap_or("").trim();
            assert!(!description.is_empty(), "undocumented field: {line}");
        }
    }
}

/// The layering and ownership rules of ARCHITECTURE.md hold on the resolved dependency graph.
#[test]
fn architecture_invariants_hold() {
    let problems = tidy::violations().unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The error convention (tollgate-error): a hint is data on an error, never in its message.
#[test]
fn no_error_message_holds_a_hint() {
    let problems = tidy::hints_in_messages().unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
