//! `tollgate windows` against `examples/`: prod is open Tuesday to Thursday 09:00-15:00 Berlin
//! time, closed Thursdays 14:00-15:00 for maintenance, and frozen over the year end.

use serde_json::Value;

use crate::support::{Scratch, check_json, code, examples, findings, stderr, stdout, tollgate};

fn windows(args: &[&str]) -> std::process::Output {
    let repo = examples();
    let mut all = vec!["windows", "--repo", repo.to_str().expect("utf8 path")];
    all.extend_from_slice(args);
    tollgate(&all)
}

/// Runs `tollgate windows --format json` and returns the exit code and the report.
fn windows_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = windows(&all);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(&out), stderr(&out)));
    (code(&out), v)
}

fn prod(at: &str) -> (i32, Value) {
    let (code, v) = windows_json(&["--env", "prod", "--at", at]);
    let envs = v["environments"].as_array().expect("environments");
    assert_eq!(envs.len(), 1, "{v:#}");
    (code, envs[0].clone())
}

#[test]
fn prod_is_closed_on_a_monday() {
    let out = windows(&["--env", "prod", "--at", "2026-12-07T10:00[Europe/Berlin]"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("at 2026-12-07 09:00 UTC\n"), "{text}");
    assert!(text.contains("prod         CLOSED  outside every allow window\n"), "{text}");
    assert!(text.contains("             opens   2026-12-08 08:00 UTC (Tue 2026-12-08 09:00 Europe/Berlin)\n"), "{text}");
}

#[test]
fn prod_is_open_on_tuesday_at_ten_berlin_time() {
    let out = windows(&["--env", "prod", "--at", "2026-12-08T10:00[Europe/Berlin]"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("prod         OPEN    inside allow windows[0] (`0 9 * * 2-4`, 6h, Europe/Berlin) since 2026-12-08 08:00 UTC"),
        "{text}"
    );
    assert!(text.contains("closes  2026-12-08 14:00 UTC (Tue 2026-12-08 15:00 Europe/Berlin)"), "{text}");
    // The same instant written in UTC and with an offset.
    let (c, utc) = prod("2026-12-08T09:00:00Z");
    let (_, offset) = prod("2026-12-08T10:00:00+01:00");
    assert_eq!(c, 0);
    assert_eq!(utc, offset);
    assert_eq!(utc["open"], true);
    assert_eq!(utc["until"], "2026-12-08T14:00:00Z");
    assert_eq!(utc["next_open"], "2026-12-08T09:00:00Z");
}

#[test]
fn prod_is_closed_on_thursday_afternoon_for_maintenance() {
    let (c, v) = prod("2026-12-10T14:30[Europe/Berlin]");
    assert_eq!(c, 1);
    assert_eq!(v["environment"], "prod");
    assert_eq!(v["file"], "environments/prod.yaml");
    assert_eq!(v["open"], false);
    assert_eq!(v["reason"]["kind"], "denyWindow");
    assert_eq!(v["reason"]["index"], 1);
    assert_eq!(v["reason"]["opened"], "2026-12-10T13:00:00Z");
    // Maintenance ends at 15:00 with the allow window, so the next opening is Tuesday.
    assert_eq!(v["next_open"], "2026-12-15T08:00:00Z");
    assert_eq!(v["until"], "2026-12-15T08:00:00Z");
}

#[test]
fn prod_is_frozen_over_the_year_end_and_reopens_on_the_first_tuesday() {
    let (c, v) = prod("2026-12-22T10:00[Europe/Berlin]");
    assert_eq!(c, 1);
    assert_eq!(v["reason"]["kind"], "freeze");
    assert_eq!(v["reason"]["reason"], "Year-end change freeze; support is thinly staffed.");
    assert_eq!(v["reason"]["to"], "2027-01-04T08:00:00Z");
    // The freeze ends on Monday 4 January at 09:00; Mondays are closed, so Tuesday 09:00.
    assert_eq!(v["next_open"], "2027-01-05T08:00:00Z");
    let out = windows(&["--env", "prod", "--at", "2026-12-22T10:00[Europe/Berlin]"]);
    let text = stdout(&out);
    assert!(text.contains("CLOSED  freezes[0] from 2026-12-17 23:00 UTC (Fri 2026-12-18 00:00 Europe/Berlin)"), "{text}");
    assert!(text.contains("opens   2027-01-05 08:00 UTC (Tue 2027-01-05 09:00 Europe/Berlin)"), "{text}");
}

#[test]
fn every_environment_in_promotion_order() {
    // Tuesday 10:00 Berlin: all open.
    let (c, v) = windows_json(&["--at", "2026-12-08T10:00[Europe/Berlin]"]);
    assert_eq!(c, 0, "{v:#}");
    let names: Vec<&str> = v["environments"].as_array().unwrap().iter().map(|e| e["environment"].as_str().unwrap()).collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    assert_eq!(v["at"], "2026-12-08T09:00:00Z");
    assert_eq!(v["environments"][0]["reason"]["kind"], "noWindows");
    assert_eq!(v["environments"][0]["until"], Value::Null);
    // Saturday: dev is open, staging and prod are not, so the exit code is 1.
    let out = windows(&["--at", "2026-12-12T10:00:00Z"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("dev          OPEN    no windows or freezes\n             closes  never\n"), "{text}");
    assert!(text.contains("staging      CLOSED  outside every allow window\n             opens   2026-12-14 06:00 UTC (Mon 2026-12-14 07:00 Europe/Berlin)\n"), "{text}");
}

#[test]
fn bad_input_exits_2_with_a_hint() {
    let out = windows(&["--env", "qa"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("Environment `qa` does not exist\nhint: known environments: `dev`, `prod`, `staging`"),
        "{}",
        stderr(&out)
    );

    for at in ["tomorrow", "2026-12-01T10:00", "2026-12-01T10:00[Mars/Olympus]"] {
        let out = windows(&["--at", at]);
        assert_eq!(code(&out), 2, "{at}");
        let err = stderr(&out);
        assert!(err.contains("--at <TIME>"), "{err}");
        assert!(err.contains("hint:"), "{err}");
        assert!(stdout(&out).is_empty());
    }

    let missing = tollgate(&["windows", "--repo", "/nonexistent/tollgate-repo"]);
    assert_eq!(code(&missing), 2, "{}", stderr(&missing));
}

#[test]
fn bad_windows_fail_check_with_their_line_and_windows_with_exit_2() {
    let repo = Scratch::examples();
    repo.edit("environments/prod.yaml", "schedule: \"0 9 * * 2-4\"", "schedule: \"0 9 * * 2-8\"");
    repo.edit("environments/prod.yaml", "duration: 1h", "duration: 1hour");
    repo.edit("environments/prod.yaml", "to: \"2027-01-04T09:00:00+01:00\"", "to: \"2026-01-04T09:00:00+01:00\"");
    let (c, report) = check_json(repo.path(), &[]);
    assert_eq!(c, 1, "{report:#}");
    let schedule = findings(&report, "window-schedule");
    assert_eq!(schedule.len(), 1, "{report:#}");
    assert_eq!(schedule[0]["file"], "environments/prod.yaml");
    assert_eq!(schedule[0]["line"], 21);
    assert_eq!(schedule[0]["stage"], "windows");
    assert_eq!(schedule[0]["pointer"], "/spec/windows/0/schedule");
    assert_eq!(schedule[0]["message"], "invalid schedule `0 9 * * 2-8`: day of week: `8` is out of range 0-7");
    assert!(schedule[0]["hint"].as_str().unwrap().contains("`sun`-`sat`"));
    assert_eq!(findings(&report, "window-duration")[0]["line"], 27);
    assert_eq!(findings(&report, "freeze-order")[0]["line"], 33);

    let out = tollgate(&["windows", "--repo", repo.path().to_str().unwrap(), "--env", "prod"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("environments/prod.yaml:21:"), "{err}");
    assert!(err.contains("hint: days of the week are 0-7"), "{err}");
}

#[test]
fn cron_macros_pass_the_schema_and_check() {
    let repo = Scratch::examples();
    repo.edit("environments/prod.yaml", "schedule: \"0 14 * * 4\"", "schedule: \"@weekly\"");
    let (c, report) = check_json(repo.path(), &[]);
    assert_eq!(c, 0, "{report:#}");
}

/// Regression (issue #12): errors on standard error quoted file names raw, so a crafted name
/// could add lines or terminal controls there too.
#[test]
fn a_crafted_file_name_cannot_forge_lines_on_standard_error() {
    let repo = Scratch::examples();
    let text = std::fs::read_to_string(repo.path().join("environments/prod.yaml")).expect("prod");
    repo.remove("environments/prod.yaml");
    repo.write(
        "environments/prod\n::error file=x::\u{1b}[2Kforged.yaml",
        &text.replacen("schedule: \"0 9 * * 2-4\"", "schedule: \"0 9 * * 2-8\"", 1),
    );
    let out = tollgate(&["windows", "--repo", repo.path().to_str().unwrap(), "--env", "prod"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("environments/prod\\n::error file=x::\\u{1b}[2Kforged.yaml:21:"), "{err}");
    assert!(err.lines().all(|l| !l.starts_with("::")) && !err.contains('\u{1b}'), "{err}");
}
