use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::*;
use crate::time::parse_instant;

fn ts(s: &str) -> Timestamp {
    parse_instant(s).unwrap()
}

fn windows(spec: Value) -> Windows {
    Windows::from_spec(&spec).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The windows and freezes of `examples/environments/prod.yaml`.
fn prod() -> Windows {
    windows(json!({
        "windows": [
            {"kind": "allow", "schedule": "0 9 * * 2-4", "duration": "6h", "timeZone": "Europe/Berlin"},
            {"kind": "deny", "schedule": "0 14 * * 4", "duration": "1h", "timeZone": "Europe/Berlin"},
        ],
        "freezes": [
            {"from": "2026-12-18T00:00:00+01:00", "to": "2027-01-04T09:00:00+01:00", "reason": "Year-end change freeze"},
        ],
    }))
}

/// Evaluates at `at` and compares `open`, `until` and `next_open` (instants as `--at` takes
/// them; `-` for none).
#[track_caller]
fn check(w: &Windows, at: &str, open: bool, until: &str, next_open: &str) -> WindowState {
    let state = evaluate(w, ts(at));
    let opt = |s: &str| (s != "-").then(|| ts(s));
    assert_eq!(state.open, open, "open at {at}: {state:#?}");
    assert_eq!(state.until, opt(until), "until, at {at}: {state:#?}");
    assert_eq!(state.next_open, opt(next_open), "next_open, at {at}: {state:#?}");
    assert_eq!(state.open, state.reason.is_open());
    state
}

#[test]
fn prod_is_closed_on_mondays() {
    let s = check(&prod(), "2026-12-07T10:00[Europe/Berlin]", false, "2026-12-08T09:00[Europe/Berlin]", "2026-12-08T09:00[Europe/Berlin]");
    assert_eq!(s.reason, Reason::OutsideAllowWindows);
}

#[test]
fn prod_is_open_on_tuesday_morning_until_three() {
    let s = check(&prod(), "2026-12-08T10:00[Europe/Berlin]", true, "2026-12-08T15:00[Europe/Berlin]", "2026-12-08T10:00[Europe/Berlin]");
    assert_eq!(
        s.reason,
        Reason::AllowWindow {
            index: 0,
            schedule: "0 9 * * 2-4".into(),
            time_zone: "Europe/Berlin".into(),
            opened: ts("2026-12-08T08:00:00Z"),
            closes: ts("2026-12-08T14:00:00Z"),
        }
    );
    // The window's bounds: open at 09:00 sharp, closed at 15:00 sharp.
    check(&prod(), "2026-12-08T09:00[Europe/Berlin]", true, "2026-12-08T15:00[Europe/Berlin]", "2026-12-08T09:00[Europe/Berlin]");
    check(&prod(), "2026-12-08T15:00[Europe/Berlin]", false, "2026-12-09T09:00[Europe/Berlin]", "2026-12-09T09:00[Europe/Berlin]");
}

#[test]
fn prod_maintenance_on_thursday_afternoon_closes_it() {
    // Open on Thursday morning until the deny window starts at 14:00.
    check(&prod(), "2026-12-10T10:00[Europe/Berlin]", true, "2026-12-10T14:00[Europe/Berlin]", "2026-12-10T10:00[Europe/Berlin]");
    // At 14:30 the deny window decides; when it ends at 15:00 the allow window has ended too,
    // so the next opening is Tuesday.
    let s = check(&prod(), "2026-12-10T14:30[Europe/Berlin]", false, "2026-12-15T09:00[Europe/Berlin]", "2026-12-15T09:00[Europe/Berlin]");
    assert_eq!(
        s.reason,
        Reason::DenyWindow {
            index: 1,
            schedule: "0 14 * * 4".into(),
            time_zone: "Europe/Berlin".into(),
            opened: ts("2026-12-10T13:00:00Z"),
            closes: ts("2026-12-10T14:00:00Z"),
        }
    );
}

#[test]
fn the_year_end_freeze_beats_every_window() {
    // Tuesday 22 December would be inside the allow window. The freeze ends on Monday
    // 4 January at 09:00, and Mondays are closed, so the next opening is Tuesday 5 January.
    let s = check(&prod(), "2026-12-22T10:00[Europe/Berlin]", false, "2027-01-05T09:00[Europe/Berlin]", "2027-01-05T09:00[Europe/Berlin]");
    assert_eq!(
        s.reason,
        Reason::Freeze {
            index: 0,
            reason: "Year-end change freeze".into(),
            from: ts("2026-12-17T23:00:00Z"),
            to: ts("2027-01-04T08:00:00Z"),
        }
    );
    // The Thursday before the freeze closes at 14:00 for maintenance; the freeze follows.
    check(&prod(), "2026-12-17T10:00[Europe/Berlin]", true, "2026-12-17T14:00[Europe/Berlin]", "2026-12-17T10:00[Europe/Berlin]");
    check(&prod(), "2026-12-17T14:30[Europe/Berlin]", false, "2027-01-05T09:00[Europe/Berlin]", "2027-01-05T09:00[Europe/Berlin]");
    // Freezes are half-open: closed at `from`, and at `to` the windows decide again.
    check(&prod(), "2026-12-18T00:00[Europe/Berlin]", false, "2027-01-05T09:00[Europe/Berlin]", "2027-01-05T09:00[Europe/Berlin]");
    let s = check(&prod(), "2027-01-04T09:00[Europe/Berlin]", false, "2027-01-05T09:00[Europe/Berlin]", "2027-01-05T09:00[Europe/Berlin]");
    assert_eq!(s.reason, Reason::OutsideAllowWindows);
}

#[test]
fn a_freeze_inside_an_allow_window_ends_it_and_the_window_resumes() {
    let w = windows(json!({
        "windows": [{"kind": "allow", "schedule": "0 9 * * *", "duration": "8h"}],
        "freezes": [{"from": "2026-06-01T10:00:00Z", "to": "2026-06-01T11:00:00Z", "reason": "incident"}],
    }));
    check(&w, "2026-06-01T09:30:00Z", true, "2026-06-01T10:00:00Z", "2026-06-01T09:30:00Z");
    check(&w, "2026-06-01T10:30:00Z", false, "2026-06-01T11:00:00Z", "2026-06-01T11:00:00Z");
    check(&w, "2026-06-01T11:00:00Z", true, "2026-06-01T17:00:00Z", "2026-06-01T11:00:00Z");
}

#[test]
fn overlapping_and_touching_windows_chain() {
    // Allow 09:00-15:00 and 15:00-17:00 touch; deny 16:00-16:30 cuts the second one.
    let w = windows(json!({
        "windows": [
            {"kind": "allow", "schedule": "0 9 * * *", "duration": "6h"},
            {"kind": "allow", "schedule": "0 15 * * *", "duration": "2h"},
            {"kind": "deny", "schedule": "0 16 * * *", "duration": "30m"},
        ],
    }));
    check(&w, "2026-06-01T10:00:00Z", true, "2026-06-01T16:00:00Z", "2026-06-01T10:00:00Z");
    check(&w, "2026-06-01T16:10:00Z", false, "2026-06-01T16:30:00Z", "2026-06-01T16:30:00Z");
    check(&w, "2026-06-01T16:30:00Z", true, "2026-06-01T17:00:00Z", "2026-06-01T16:30:00Z");
    // Back-to-back deny windows (every 10 minutes for 10 minutes, from 18:00 to 18:59) close
    // the environment until the last one ends.
    let w = windows(json!({
        "windows": [{"kind": "deny", "schedule": "*/10 18 * * *", "duration": "10m"}],
    }));
    let s = check(&w, "2026-06-01T18:05:00Z", false, "2026-06-01T19:00:00Z", "2026-06-01T19:00:00Z");
    assert!(matches!(s.reason, Reason::DenyWindow { opened, .. } if opened == ts("2026-06-01T18:00:00Z")));
    check(&w, "2026-06-01T12:00:00Z", true, "2026-06-01T18:00:00Z", "2026-06-01T12:00:00Z");
}

#[test]
fn a_window_that_began_before_the_instant_is_found_by_looking_back() {
    // A two-day deny window that began on Saturday covers Monday morning.
    let w = windows(json!({"windows": [{"kind": "deny", "schedule": "0 6 * * 6", "duration": "2d"}]}));
    let s = check(&w, "2026-06-01T05:00:00Z", false, "2026-06-01T06:00:00Z", "2026-06-01T06:00:00Z");
    assert!(matches!(s.reason, Reason::DenyWindow { opened, .. } if opened == ts("2026-05-30T06:00:00Z")));
}

#[test]
fn windows_that_never_end_leave_until_empty() {
    // A one-day window every day: always open, across the change to summer time (a 23-hour
    // day, so consecutive windows overlap) and back (a 25-hour day, so they just touch...
    // with an hour's gap: 00:00 CET to 23:00 CET is 24 hours).
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "0 0 * * *", "duration": "25h", "timeZone": "Europe/Berlin"}]}));
    let s = check(&w, "2026-03-29T12:00:00Z", true, "-", "2026-03-29T12:00:00Z");
    assert_eq!(s.searched_until, ts("2026-03-29T12:00:00Z") + DEFAULT_HORIZON);
    // With `1d`, 24 hours of elapsed time, the 25-hour day of October leaves an hour closed.
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "0 0 * * *", "duration": "1d", "timeZone": "Europe/Berlin"}]}));
    check(&w, "2026-10-25T12:00[Europe/Berlin]", true, "2026-10-25T23:00[Europe/Berlin]", "2026-10-25T12:00[Europe/Berlin]");
    // No windows, no freezes: open for good.
    let s = check(&Windows::default(), "2026-06-01T00:00:00Z", true, "-", "2026-06-01T00:00:00Z");
    assert_eq!(s.reason, Reason::NoWindows);
}

#[test]
fn only_deny_windows_leave_the_rest_open() {
    let w = windows(json!({"windows": [{"kind": "deny", "schedule": "0 0 * * 6", "duration": "2d", "timeZone": "America/New_York"}]}));
    // Friday 12:00 New York: open until Saturday 00:00 New York.
    let s =
        check(&w, "2026-06-05T12:00[America/New_York]", true, "2026-06-06T00:00[America/New_York]", "2026-06-05T12:00[America/New_York]");
    assert_eq!(s.reason, Reason::NoDenyWindowOrFreeze);
    check(&w, "2026-06-07T12:00[America/New_York]", false, "2026-06-08T00:00[America/New_York]", "2026-06-08T00:00[America/New_York]");
}

#[test]
fn windows_across_the_spring_gap() {
    // 02:30 does not exist on 2026-03-29 in Berlin: the window opens at 03:00 CEST and lasts
    // its hour of elapsed time.
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "30 2 * * *", "duration": "1h", "timeZone": "Europe/Berlin"}]}));
    check(&w, "2026-03-29T00:59:00Z", false, "2026-03-29T01:00:00Z", "2026-03-29T01:00:00Z");
    check(&w, "2026-03-29T03:30[Europe/Berlin]", true, "2026-03-29T04:00[Europe/Berlin]", "2026-03-29T03:30[Europe/Berlin]");
    // New York.
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "30 2 * * *", "duration": "1h", "timeZone": "America/New_York"}]}));
    check(&w, "2026-03-08T03:15[America/New_York]", true, "2026-03-08T04:00[America/New_York]", "2026-03-08T03:15[America/New_York]");
    // Lord Howe: a 30-minute gap from 02:00 to 02:30.
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "0 2 * * *", "duration": "30m", "timeZone": "Australia/Lord_Howe"}]}));
    check(
        &w,
        "2026-10-04T02:40[Australia/Lord_Howe]",
        true,
        "2026-10-04T03:00[Australia/Lord_Howe]",
        "2026-10-04T02:40[Australia/Lord_Howe]",
    );
    check(
        &w,
        "2026-10-04T03:00[Australia/Lord_Howe]",
        false,
        "2026-10-05T02:00[Australia/Lord_Howe]",
        "2026-10-05T02:00[Australia/Lord_Howe]",
    );
}

#[test]
fn windows_across_the_autumn_fold() {
    // 02:30 happens twice on 2026-10-25 in Berlin: the window opens at the first one and
    // lasts an hour of elapsed time, so it ends at the second 02:30.
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "30 2 * * *", "duration": "1h", "timeZone": "Europe/Berlin"}]}));
    check(&w, "2026-10-25T02:15+01:00[Europe/Berlin]", true, "2026-10-25T02:30+01:00[Europe/Berlin]", "2026-10-25T01:15:00Z");
    check(&w, "2026-10-25T02:30+01:00[Europe/Berlin]", false, "2026-10-26T02:30[Europe/Berlin]", "2026-10-26T02:30[Europe/Berlin]");
    // New York: 01:30 EDT, then an hour later 01:30 EST.
    let w = windows(json!({"windows": [{"kind": "deny", "schedule": "30 1 * * *", "duration": "1h", "timeZone": "America/New_York"}]}));
    check(&w, "2026-11-01T01:45-04:00[America/New_York]", false, "2026-11-01T01:30-05:00[America/New_York]", "2026-11-01T06:30:00Z");
    check(&w, "2026-11-01T01:45-05:00[America/New_York]", true, "2026-11-02T01:30[America/New_York]", "2026-11-01T06:45:00Z");
    // Lord Howe: 01:30 to 02:00 happens twice on 2026-04-05.
    let w =
        windows(json!({"windows": [{"kind": "allow", "schedule": "45 1 * * *", "duration": "30m", "timeZone": "Australia/Lord_Howe"}]}));
    check(&w, "2026-04-04T14:50:00Z", true, "2026-04-04T15:15:00Z", "2026-04-04T14:50:00Z");
    check(&w, "2026-04-04T15:20:00Z", false, "2026-04-05T15:15:00Z", "2026-04-05T15:15:00Z");
}

#[test]
fn an_hourly_window_has_no_hole_when_clocks_go_back() {
    // Every hour for an hour is always open, also during the second 02:00-03:00 in Berlin.
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "0 * * * *", "duration": "1h", "timeZone": "Europe/Berlin"}]}));
    let s = check(&w, "2026-10-25T02:30+01:00[Europe/Berlin]", true, "-", "2026-10-25T01:30:00Z");
    assert!(matches!(s.reason, Reason::AllowWindow { opened, .. } if opened == ts("2026-10-25T01:00:00Z")));
}

#[test]
fn kolkata_and_utc_have_no_surprises() {
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "0 9 * * 1-5", "duration": "8h", "timeZone": "Asia/Kolkata"}]}));
    // Saturday: the next opening is Monday 09:00 IST, 03:30Z.
    check(&w, "2026-03-28T12:00:00Z", false, "2026-03-30T03:30:00Z", "2026-03-30T03:30:00Z");
    check(&w, "2026-03-30T10:00[Asia/Kolkata]", true, "2026-03-30T17:00[Asia/Kolkata]", "2026-03-30T10:00[Asia/Kolkata]");
}

#[test]
fn year_end_and_leap_days() {
    // A window on New Year's Eve that runs into the new year is found from the new year.
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "0 22 31 12 *", "duration": "4h"}]}));
    check(&w, "2027-01-01T01:00:00Z", true, "2027-01-01T02:00:00Z", "2027-01-01T01:00:00Z");
    check(&w, "2027-01-01T02:00:00Z", false, "2027-12-31T22:00:00Z", "2027-12-31T22:00:00Z");
    // A leap-day window.
    let w = windows(json!({"windows": [{"kind": "allow", "schedule": "0 0 29 2 *", "duration": "1d"}]}));
    check(&w, "2027-06-01T00:00:00Z", false, "2028-02-29T00:00:00Z", "2028-02-29T00:00:00Z");
    check(&w, "2028-02-29T12:00:00Z", true, "2028-03-01T00:00:00Z", "2028-02-29T12:00:00Z");
    // Regression (issue #12): an opening exactly at the horizon (366 days from 2027-02-28 is the
    // leap day) was reported as none; asked one second earlier, it is beyond the horizon.
    check(&w, "2027-02-28T00:00:00Z", false, "2028-02-29T00:00:00Z", "2028-02-29T00:00:00Z");
    check(&w, "2027-02-27T23:59:59Z", false, "-", "-");
    // More than the horizon away: a clear "not within", and a longer horizon finds it.
    let s = check(&w, "2026-03-01T00:00:00Z", false, "-", "-");
    assert_eq!(s.searched_until, ts("2027-03-02T00:00:00Z"));
    let s = evaluate_within(&w, ts("2026-03-01T00:00:00Z"), SignedDuration::from_hours(24 * 366 * 4));
    assert_eq!(s.next_open, Some(ts("2028-02-29T00:00:00Z")));
}

#[test]
fn always_closed_says_so_within_the_horizon() {
    let w = windows(json!({"windows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h"}]}));
    let s = check(&w, "2026-06-01T00:00:00Z", false, "-", "-");
    assert!(matches!(s.reason, Reason::DenyWindow { .. }));
}

#[test]
fn state_serializes_for_json_reports() {
    let s = evaluate(&prod(), ts("2026-12-10T14:30[Europe/Berlin]"));
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        v,
        json!({
            "at": "2026-12-10T13:30:00Z",
            "open": false,
            "reason": {
                "kind": "denyWindow",
                "index": 1,
                "schedule": "0 14 * * 4",
                "timeZone": "Europe/Berlin",
                "opened": "2026-12-10T13:00:00Z",
                "closes": "2026-12-10T14:00:00Z",
            },
            "until": "2026-12-15T08:00:00Z",
            "next_open": "2026-12-15T08:00:00Z",
            "searched_until": "2027-12-11T13:30:00Z",
        })
    );
}

#[test]
fn every_problem_is_reported_with_its_pointer() {
    let errors = Windows::from_spec(&json!({
        "windows": [
            {"kind": "allow", "schedule": "0 9 * * 2-4", "duration": "6h", "timeZone": "Europe/Berlin"},
            {"kind": "allow", "schedule": "0 25 * * *", "duration": "6x", "timeZone": "Europe/Berln"},
            {"kind": "sometimes", "duration": "1h"},
        ],
        "freezes": [
            {"from": "2026-12-18", "to": "2027-01-04T09:00:00+01:00", "reason": "x"},
            {"from": "2027-01-04T09:00:00+01:00", "to": "2026-12-18T00:00:00Z", "reason": "x"},
        ],
    }))
    .unwrap_err();
    let got: Vec<(String, &str, String)> = errors.iter().map(|e| (e.pointer().to_owned(), e.rule(), e.message())).collect();
    let expected = [
        ("/spec/windows/1/schedule", "window-schedule", "invalid schedule `0 25 * * *`: hour: `25` is out of range 0-23"),
        (
            "/spec/windows/1/duration",
            "window-duration",
            "invalid duration: `6x` is not a valid duration: expected a unit: `d`, `h`, `m`, `s` or `ms`",
        ),
        ("/spec/windows/1/timeZone", "window-time-zone", "invalid time zone: unknown time zone `Europe/Berln`"),
        ("/spec/windows/2/kind", "window-shape", "`/spec/windows/2/kind` must be `allow` or `deny`"),
        ("/spec/windows/2/schedule", "window-shape", "`/spec/windows/2/schedule` must be a string"),
        ("/spec/freezes/0/from", "freeze-time", "`2026-12-18` is not an RFC 3339 time with an offset"),
        ("/spec/freezes/1/to", "freeze-order", "freeze ends at `2026-12-18T00:00:00Z`, not after it begins at `2027-01-04T08:00:00Z`"),
    ];
    let expected: Vec<(String, &str, String)> = expected.iter().map(|(p, r, m)| ((*p).to_owned(), *r, (*m).to_owned())).collect();
    assert_eq!(got, expected);
    assert!(errors.iter().all(|e| !e.hint().is_empty()));
}

#[test]
fn the_busiest_schedules_stay_bounded() {
    // Deny every minute for a minute: closed for good. Each step of the search moves one
    // occurrence ahead, so this is the worst case for the horizon: a year of minutes.
    let w = windows(json!({
        "windows": [
            {"kind": "deny", "schedule": "* * * * *", "duration": "1m"},
            {"kind": "allow", "schedule": "*/2 * * * *", "duration": "1m"},
        ],
    }));
    let started = std::time::Instant::now();
    let s = evaluate_within(&w, ts("2026-06-01T00:00:30Z"), SignedDuration::from_hours(24 * 31));
    assert!(!s.open);
    assert_eq!(s.next_open, None);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
}
