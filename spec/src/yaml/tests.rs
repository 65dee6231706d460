use serde_json::json;

use super::*;

fn load(text: &str) -> Result<Vec<Value>, YamlError> {
    parse_documents(text.as_bytes(), &Limits::default()).map(|docs| docs.into_iter().map(|d| d.value).collect())
}

fn load_one(text: &str) -> Value {
    let mut docs = load(text).expect("valid yaml");
    assert_eq!(docs.len(), 1, "expected one document");
    docs.remove(0)
}

#[test]
fn core_schema_scalars() {
    let v = load_one(
        "a: yes\nb: true\nc: ~\nd: 0o17\ne: 0x1F\nf: -12\ng: 1.5e3\nh: '12'\ni: 1.2.3\nj: .5\nk: +7\nl: \"true\"\nm:\nn: 99999999999999999999\n",
    );
    assert_eq!(
        v,
        json!({"a": "yes", "b": true, "c": null, "d": 15, "e": 31, "f": -12, "g": 1500.0, "h": "12",
               "i": "1.2.3", "j": 0.5, "k": 7, "l": "true", "m": null, "n": 1e20})
    );
}

#[test]
fn tags_force_types() {
    let v = load_one("a: !!str 12\nb: !!int '7'\nc: !Ref thing\nd: ! 5\n");
    assert_eq!(v, json!({"a": "12", "b": 7, "c": "thing", "d": "5"}));
    let err = load("a: !!int abc\n").unwrap_err();
    assert!(matches!(err, YamlError::BadTag { pos: Pos { line: 1, column: 4 }, .. }), "{err:?}");
}

#[test]
fn multi_document_files_skip_empty_documents() {
    let docs = parse_documents(b"---\na: 1\n---\n---\nb: 2\n", &Limits::default()).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!((docs[0].index, docs[1].index), (0, 2));
    assert_eq!(docs[1].start, Pos { line: 5, column: 1 });
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let v = load_one("base: &b {x: 1, y: 2}\nuse: *b\nmerged:\n  <<: *b\n  y: 3\nlist: &l [1, 2]\nagain: *l\n");
    assert_eq!(
        v,
        json!({"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 2}, "merged": {"x": 1, "y": 3},
               "list": [1, 2], "again": [1, 2]})
    );
}

#[test]
fn duplicate_keys_are_errors_with_both_lines() {
    let err = load("a: 1\nb: 2\na: 3\n").unwrap_err();
    assert_eq!(err, YamlError::DuplicateKey { pos: Pos { line: 3, column: 1 }, key: "a".into(), first_line: 1 });
    assert_eq!(err.to_string(), "duplicate key `a` (first seen at line 1)");
}

#[test]
fn complex_keys_and_non_finite_numbers_are_errors() {
    assert!(matches!(load("? [a, b]\n: 1\n").unwrap_err(), YamlError::ComplexKey { .. }));
    assert!(matches!(load("a: .inf\n").unwrap_err(), YamlError::NonFinite { .. }));
}

#[test]
fn syntax_errors_carry_a_position() {
    let err = load("a: [1, 2\nb: 3\n").unwrap_err();
    let YamlError::Syntax { pos, .. } = &err else { panic!("{err:?}") };
    assert!(pos.line >= 1);
    let err = load("a:\n  - b\n c: d\n").unwrap_err();
    assert!(matches!(err, YamlError::Syntax { .. }), "{err:?}");
}

#[test]
fn billion_laughs_is_refused_before_it_allocates() {
    let mut text = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut prev = "a";
    for name in names {
        text.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        prev = name;
    }
    let err = load(&text).unwrap_err();
    assert!(matches!(err, YamlError::TooManyNodes { .. }), "{err:?}");
}

#[test]
fn depth_and_size_limits() {
    let deep = "[".repeat(100) + &"]".repeat(100);
    assert!(matches!(load(&deep).unwrap_err(), YamlError::TooDeep { limit: 64, .. } | YamlError::Syntax { .. }));
    let nested: String = (0..80).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
    assert!(matches!(load(&nested).unwrap_err(), YamlError::TooDeep { limit: 64, .. }));
    let limits = Limits { max_file_bytes: 10, ..Limits::default() };
    assert_eq!(parse_documents(b"a: 1234567890\n", &limits).unwrap_err(), YamlError::TooLarge { size: 14, limit: 10 });
    assert_eq!(parse_documents(b"a: \xff\n", &Limits::default()).unwrap_err(), YamlError::NotUtf8 { offset: 3 });
}

#[test]
fn locate_finds_keys_items_and_documents() {
    let text = b"---\nkind: A\n---\nkind: Model\nspec:\n  versions:\n    - version: '1'\n      sha256: abc\n    - version: '2'\n";
    let limits = Limits::default();
    assert_eq!(locate(text, 1, "/spec/versions/1/version", &limits), Some(Pos { line: 9, column: 7 }));
    assert_eq!(locate(text, 1, "/spec/versions/0/sha256", &limits), Some(Pos { line: 8, column: 7 }));
    assert_eq!(locate(text, 1, "/spec", &limits), Some(Pos { line: 5, column: 1 }));
    assert_eq!(locate(text, 0, "/kind", &limits), Some(Pos { line: 2, column: 1 }));
    assert_eq!(locate(text, 1, "", &limits), Some(Pos { line: 4, column: 1 }));
    assert_eq!(locate(text, 1, "/spec/missing", &limits), None);
    assert_eq!(locate_nearest(text, 1, "/spec/versions/0/missing/deeper", &limits), Some(Pos { line: 7, column: 7 }));
}

#[test]
fn locate_handles_escaped_pointer_tokens() {
    let text = b"a/b:\n  c~d: 1\n";
    assert_eq!(locate(text, 0, "/a~1b/c~0d", &Limits::default()), Some(Pos { line: 2, column: 3 }));
}

/// Issue #12 item 2: every finding of a file is located from one parse ([`Positions`]), so a
/// file of many documents costs one pass, not one per finding.
#[test]
fn positions_cover_every_document_of_a_file_from_one_pass() {
    let text = b"kind: A\nlist: [x, y]\n---\nkind: B\nspec:\n  a/b: {c~d: 1}\n  items:\n    - name: one\n    - name: two\n---\nkind: C\nbroken: [\n";
    let positions = Positions::of(text, &Limits::default());
    assert_eq!(positions.get(0, "/list/1"), Some(Pos { line: 2, column: 11 }));
    assert_eq!(positions.get(1, "/kind"), Some(Pos { line: 4, column: 1 }));
    assert_eq!(positions.get(1, "/spec/a~1b/c~0d"), Some(Pos { line: 6, column: 9 }));
    assert_eq!(positions.get(1, "/spec/items/1/name"), Some(Pos { line: 9, column: 7 }));
    assert_eq!(positions.nearest(1, "/spec/items/7/name"), Some(Pos { line: 7, column: 3 }));
    // The third document stops parsing: what came before it is still located.
    assert_eq!(positions.get(2, "/kind"), Some(Pos { line: 11, column: 1 }));
    assert_eq!(positions.get(2, "/broken/0"), None);
    assert_eq!(positions.get(3, ""), None);
    // A pointer that is not a pointer is not found, and does not panic.
    assert_eq!(positions.nearest(0, "no-slash"), None);
}
