use expect_test::{expect, expect_file};
use serde_json::Value;
use tollgate_spec::diag::{Finding, Severity, Stage};

use super::{Format, render};
use crate::{Report, Summary};

/// One finding of every stage, as a check reports them.
fn report() -> Report {
    let at = |f: Finding, line, pointer: &str, doc: &str| {
        f.at(Some(tollgate_spec::yaml::Pos { line, column: 3 })).pointer(pointer).document(doc)
    };
    let findings = vec![
        at(
            Finding::new(Severity::Fatal, Stage::Input, "kind", "models/income.yaml", "unknown kind `Modle`")
                .hint("expected one of `Model`"),
            9,
            "/kind",
            "Model/income",
        ),
        at(Finding::new(Severity::Error, Stage::Schema, "schema", "releases/r.yaml", "missing property `model`"), 4, "/spec", "Release/r"),
        at(
            Finding::new(Severity::Error, Stage::Reference, "ref-dataset", "releases/r.yaml", "no dataset `eval`"),
            12,
            "/spec/gates/evaluation",
            "Release/r",
        ),
        at(
            Finding::new(Severity::Error, Stage::Windows, "window-schedule", "environments/prod.yaml", "`0 9 * *` is not a schedule"),
            8,
            "/spec/windows/0/schedule",
            "Environment/prod",
        ),
        at(
            Finding::new(Severity::Warning, Stage::Policy, "image-digest", "releases/r.yaml", "pin the image"),
            6,
            "/spec/serving/image",
            "Release/r",
        ),
    ];
    Report {
        origin: "repo".into(),
        commit: None,
        base: None,
        changed_files: None,
        policy_digest: None,
        documents: 5,
        documents_checked: 5,
        findings,
        summary: Summary { fatal: 1, errors: 3, warnings: 1 },
    }
}

/// Each finding's stage as the JSON and SARIF reports name it, and the rule descriptions SARIF
/// derives from stages.
#[test]
fn every_stage_is_labelled_as_itself() {
    let r = report();
    let json: Value = serde_json::from_str(&render(&r, Format::Json, false)).expect("json");
    let stages: Vec<String> =
        json["findings"].as_array().expect("findings").iter().map(|f| format!("{} {}", f["rule"], f["stage"])).collect();
    expect![[r#"
        "kind" "input"
        "schema" "schema"
        "ref-dataset" "reference"
        "window-schedule" "windows"
        "image-digest" "policy"
    "#]]
    .assert_eq(&(stages.join("\n") + "\n"));
    let sarif: Value = serde_json::from_str(&render(&r, Format::Sarif, false)).expect("sarif");
    let run = &sarif["runs"][0];
    let results: Vec<String> = run["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|f| format!("{} {} {}", f["ruleId"], f["properties"]["stage"], f["level"]))
        .collect();
    let rules: Vec<String> =
        run["tool"]["driver"]["rules"].as_array().expect("rules").iter().map(|r| r["shortDescription"]["text"].to_string()).collect();
    expect![[r#"
        "kind" "input" "error"
        "schema" "schema" "error"
        "ref-dataset" "reference" "error"
        "window-schedule" "windows" "error"
        "image-digest" "policy" "warning"
        "tollgate policy check `image-digest`"
        "tollgate input check `kind`"
        "tollgate reference check `ref-dataset`"
        "tollgate schema check `schema`"
        "tollgate windows check `window-schedule`"
    "#]]
    .assert_eq(&(results.join("\n") + "\n" + &rules.join("\n") + "\n"));
}

/// One golden file per format, as conftest keeps them: the whole report, byte for byte, for the
/// same findings. `UPDATE_EXPECT=1 cargo test -p tollgate-check report::` rewrites them after an
/// intended change; review the diff. Unreadable input is an error of its own kind everywhere
/// (JUnit `error`, not `failure`; SARIF `error` with stage `input`).
#[test]
fn every_format_matches_its_golden_file() {
    let r = report();
    expect_file!["golden/report.txt"].assert_eq(&render(&r, Format::Text, false));
    expect_file!["golden/report.ansi"].assert_eq(&render(&r, Format::Text, true));
    expect_file!["golden/report.json"].assert_eq(&render(&r, Format::Json, false));
    expect_file!["golden/report.junit.xml"].assert_eq(&render(&r, Format::Junit, false));
    expect_file!["golden/report.sarif.json"].assert_eq(&render(&r, Format::Sarif, false));
    expect_file!["golden/report.github"].assert_eq(&render(&r, Format::Github, false));
}

/// The machine formats parse as what they claim to be.
#[test]
fn machine_formats_parse() {
    let r = report();
    for format in [Format::Json, Format::Sarif] {
        serde_json::from_str::<Value>(&render(&r, format, false)).expect("JSON");
    }
    let xml = render(&r, Format::Junit, false);
    let mut reader = quick_xml::Reader::from_str(&xml);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Eof => break,
            _ => continue,
        }
    }
}

/// Regression (issue #12): control characters from a file name or a message went raw into the
/// JUnit report, which XML 1.0 does not allow and a viewer shows as lines of their own; the text
/// report escapes them too.
#[test]
fn control_characters_never_reach_text_or_junit() {
    let mut r = report();
    r.findings[0].file = "models/x\u{1b}[2K\n::warning file=a::forged.yaml".into();
    r.findings[0].message = "unknown kind `Mo\u{1}dle`\r\u{202e}".into();
    for format in [Format::Text, Format::Junit] {
        let out = render(&r, format, false);
        let bad: Vec<char> = out.chars().filter(|c| (c.is_control() && *c != '\n') || *c == '\u{202e}').collect();
        assert!(bad.is_empty(), "{format:?}: {bad:?} in\n{out}");
        assert!(out.lines().all(|l| !l.starts_with("::")), "{format:?}:\n{out}");
        assert!(out.contains("models/x\\u{1b}[2K\\n::warning file=a::forged.yaml"), "{format:?}:\n{out}");
    }
}
