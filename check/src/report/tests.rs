use expect_test::expect;
use serde_json::Value;
use tollgate_spec::diag::{Finding, Severity, Stage};

use super::{Format, render};
use crate::{Report, Summary};

/// One finding of every stage, as a check reports them.
fn report() -> Report {
    let at = |f: Finding, line, pointer: &str, doc: &str| f.at(Some(tollgate_spec::yaml::Pos { line, column: 3 })).pointer(pointer).document(doc);
    let findings = vec![
        at(
            Finding::new(Severity::Fatal, Stage::Input, "kind", "models/income.yaml", "unknown kind `Modle`").hint("expected one of `Model`"),
            9,
            "/kind",
            "Model/income",
        ),
        at(Finding::new(Severity::Error, Stage::Schema, "schema", "releases/r.yaml", "missing property `model`"), 4, "/spec", "Release/r"),
        at(Finding::new(Severity::Error, Stage::Reference, "ref-dataset", "releases/r.yaml", "no dataset `eval`"), 12, "/spec/gates/evaluation", "Release/r"),
        at(
            Finding::new(Severity::Error, Stage::Windows, "window-schedule", "environments/prod.yaml", "`0 9 * *` is not a schedule"),
            8,
            "/spec/windows/0/schedule",
            "Environment/prod",
        ),
        at(Finding::new(Severity::Warning, Stage::Policy, "image-digest", "releases/r.yaml", "pin the image"), 6, "/spec/serving/image", "Release/r"),
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
    let stages: Vec<String> = json["findings"].as_array().expect("findings").iter().map(|f| format!("{} {}", f["rule"], f["stage"])).collect();
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

/// The formats for people and CI name the rule and how bad it is; unreadable input is an
/// error of its own kind everywhere (JUnit `error`, not `failure`).
#[test]
fn text_junit_and_github_reports_are_exact() {
    let r = report();
    expect![[r#"
        environments/prod.yaml
          8:3  error   window-schedule  `0 9 * *` is not a schedule

        models/income.yaml
          9:3  fatal   kind  unknown kind `Modle`
               hint: expected one of `Model`

        releases/r.yaml
          4:3   error   schema        missing property `model`
          12:3  error   ref-dataset   no dataset `eval`
          6:3   warning image-digest  pin the image

        ✗ 1 unreadable input, 3 errors, 1 warning in 3 files (5 documents checked)
    "#]]
    .assert_eq(&render(&r, Format::Text, false));
    expect![[r#"
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="tollgate check" tests="4" failures="3" errors="1">
          <testsuite name="environments/prod.yaml" tests="1" failures="1" errors="0" skipped="0">
            <testcase name="Environment/prod" classname="environments/prod.yaml">
              <failure message="`0 9 * *` is not a schedule" type="window-schedule">environments/prod.yaml:8:3: error [window-schedule] `0 9 * *` is not a schedule (at /spec/windows/0/schedule)</failure>
            </testcase>
          </testsuite>
          <testsuite name="models/income.yaml" tests="1" failures="0" errors="1" skipped="0">
            <testcase name="Model/income" classname="models/income.yaml">
              <error message="unknown kind `Modle`" type="kind">models/income.yaml:9:3: fatal [kind] unknown kind `Modle` (at /kind)
        hint: expected one of `Model`</error>
            </testcase>
          </testsuite>
          <testsuite name="releases/r.yaml" tests="1" failures="2" errors="0" skipped="0">
            <testcase name="Release/r" classname="releases/r.yaml">
              <failure message="missing property `model`" type="schema">releases/r.yaml:4:3: error [schema] missing property `model` (at /spec)</failure>
              <failure message="no dataset `eval`" type="ref-dataset">releases/r.yaml:12:3: error [ref-dataset] no dataset `eval` (at /spec/gates/evaluation)</failure>
              <system-out>releases/r.yaml:6:3: warning [image-digest] pin the image (at /spec/serving/image)</system-out>
            </testcase>
          </testsuite>
          <testsuite name="passing documents" tests="2" failures="0" errors="0" skipped="0">
            <testcase name="2 documents passed every check" classname="tollgate"/>
          </testsuite>
        </testsuites>
    "#]].assert_eq(&render(&r, Format::Junit, false));
    expect![[r#"
        ::error file=models/income.yaml,line=9,col=3,title=tollgate%3A kind::unknown kind `Modle`%0Ahint: expected one of `Model`
        ::error file=releases/r.yaml,line=4,col=3,title=tollgate%3A schema::missing property `model`
        ::error file=releases/r.yaml,line=12,col=3,title=tollgate%3A ref-dataset::no dataset `eval`
        ::error file=environments/prod.yaml,line=8,col=3,title=tollgate%3A window-schedule::`0 9 * *` is not a schedule
        ::warning file=releases/r.yaml,line=6,col=3,title=tollgate%3A image-digest::pin the image
        tollgate: 1 unreadable, 3 errors, 1 warnings (5 documents checked)
    "#]].assert_eq(&render(&r, Format::Github, false));
}
