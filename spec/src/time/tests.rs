use jiff::civil::DateTime;
use jiff::{SignedDuration, Timestamp};

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Resolves `local` in `zone` and compares with the expected UTC instant.
fn check_local(zone: &str, local: &str, utc: &str) {
    let dt: DateTime = local.parse().unwrap();
    let got = resolve_local(dt, &time_zone(zone).unwrap());
    assert_eq!(got, ts(utc), "{local} in {zone}");
}

#[test]
fn local_times_that_exist_once_map_to_themselves() {
    check_local("Europe/Berlin", "2026-07-01T09:00", "2026-07-01T07:00:00Z");
    check_local("Europe/Berlin", "2026-12-01T09:00", "2026-12-01T08:00:00Z");
    check_local("Asia/Kolkata", "2026-03-29T02:30", "2026-03-28T21:00:00Z");
    check_local("UTC", "2026-03-29T02:30", "2026-03-29T02:30:00Z");
    check_local("Australia/Lord_Howe", "2026-07-01T12:00", "2026-07-01T01:30:00Z");
}

#[test]
fn a_skipped_local_time_is_the_first_instant_after_the_gap() {
    // Clocks go from 02:00 CET to 03:00 CEST: 02:30 does not exist; 03:00 CEST is 01:00Z.
    check_local("Europe/Berlin", "2026-03-29T02:00", "2026-03-29T01:00:00Z");
    check_local("Europe/Berlin", "2026-03-29T02:30", "2026-03-29T01:00:00Z");
    check_local("Europe/Berlin", "2026-03-29T02:59", "2026-03-29T01:00:00Z");
    check_local("Europe/Berlin", "2026-03-29T03:00", "2026-03-29T01:00:00Z");
    check_local("Europe/Berlin", "2026-03-29T03:01", "2026-03-29T01:01:00Z");
    // New York: 02:00 EST to 03:00 EDT, at 07:00Z.
    check_local("America/New_York", "2026-03-08T02:30", "2026-03-08T07:00:00Z");
    // Lord Howe moves 30 minutes: 02:00 +10:30 to 02:30 +11:00, at 15:30Z the day before.
    check_local("Australia/Lord_Howe", "2026-10-04T02:15", "2026-10-03T15:30:00Z");
    check_local("Australia/Lord_Howe", "2026-10-04T02:30", "2026-10-03T15:30:00Z");
}

#[test]
fn a_repeated_local_time_is_its_first_occurrence() {
    // Clocks go from 03:00 CEST back to 02:00 CET: 02:30 happens at 00:30Z and 01:30Z.
    check_local("Europe/Berlin", "2026-10-25T02:30", "2026-10-25T00:30:00Z");
    check_local("Europe/Berlin", "2026-10-25T03:00", "2026-10-25T02:00:00Z");
    // New York: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
    check_local("America/New_York", "2026-11-01T01:30", "2026-11-01T05:30:00Z");
    // Lord Howe: 02:00 +11:00 back to 01:30 +10:30; 01:45 happens at 14:45Z and 15:15Z.
    check_local("Australia/Lord_Howe", "2026-04-05T01:45", "2026-04-04T14:45:00Z");
}

#[test]
fn at_accepts_rfc3339_offsets_and_zoned_civil_times() {
    assert_eq!(parse_at("2026-12-01T10:00:00Z").unwrap(), ts("2026-12-01T10:00:00Z"));
    assert_eq!(parse_at("2026-12-01T11:00:00+01:00").unwrap(), ts("2026-12-01T10:00:00Z"));
    assert_eq!(parse_at(" 2026-12-01T05:00:00-05:00 ").unwrap(), ts("2026-12-01T10:00:00Z"));
    assert_eq!(parse_at("2026-12-01T11:00[Europe/Berlin]").unwrap(), ts("2026-12-01T10:00:00Z"));
    // A skipped time is the end of the gap, a repeated one its first occurrence: the same
    // rules as windows.
    assert_eq!(parse_at("2026-03-29T02:30[Europe/Berlin]").unwrap(), ts("2026-03-29T01:00:00Z"));
    assert_eq!(parse_at("2026-10-25T02:30[Europe/Berlin]").unwrap(), ts("2026-10-25T00:30:00Z"));
    // An offset picks the occurrence.
    assert_eq!(parse_at("2026-10-25T02:30+01:00[Europe/Berlin]").unwrap(), ts("2026-10-25T01:30:00Z"));
    assert_eq!(parse_at("2026-07-01T12:00[Asia/Kolkata]").unwrap(), ts("2026-07-01T06:30:00Z"));
    let before = Timestamp::now();
    let now = parse_at("now").unwrap();
    assert!(now >= before && now <= Timestamp::now());
    assert!(parse_at("NOW").is_ok());
}

#[test]
fn at_rejects_what_names_no_instant_with_a_hint() {
    let err = parse_at("2026-12-01T10:00").unwrap_err();
    assert!(matches!(err, TimeError::NoOffset { .. }), "{err:?}");
    assert_eq!(err.to_string(), "`2026-12-01T10:00` has no offset or time zone");
    assert!(err.hint().contains("[Europe/Berlin]"));
    let err = parse_at("2026-12-01T10:00[Mars/Olympus]").unwrap_err();
    assert_eq!(err.to_string(), "unknown time zone `Mars/Olympus`");
    for bad in [
        "yesterday",
        "",
        "2026-13-01T10:00:00Z",
        "2026-12-01T10:00[",
        "2026-12-01T10:00[]",
        "[UTC]",
        "2026-10-25T02:30+05:00[Europe/Berlin]",
    ] {
        let err = parse_at(bad).unwrap_err();
        assert!(matches!(err, TimeError::NotATime { .. }), "{bad}: {err:?}");
        assert!(err.to_string().starts_with('`'), "{err}");
    }
}

#[test]
fn durations_follow_the_schema_grammar() {
    let ok = |s: &str, d: SignedDuration| assert_eq!(parse_duration(s).unwrap(), d, "{s}");
    ok("30m", SignedDuration::from_mins(30));
    ok("6h", SignedDuration::from_hours(6));
    ok("1h30m", SignedDuration::from_mins(90));
    ok("2d", SignedDuration::from_hours(48));
    ok("1d12h", SignedDuration::from_hours(36));
    ok("90s", SignedDuration::from_secs(90));
    ok("1s500ms", SignedDuration::from_millis(1500));
    ok("366d", SignedDuration::from_hours(366 * 24));
    for (bad, problem) in [
        ("", "it is empty"),
        ("30", "expected a unit: `d`, `h`, `m`, `s` or `ms`"),
        ("m", "expected a number"),
        ("1m1h", "units must go from largest to smallest, each once"),
        ("1h1h", "units must go from largest to smallest, each once"),
        ("0m", "it is zero"),
        ("367d", "it is longer than 366 days"),
        ("9999999999999h", "the number is too large"),
        ("1w", "expected a unit: `d`, `h`, `m`, `s` or `ms`"),
        ("-1h", "expected a number"),
        ("1h 30m", "expected a number"),
        (" 1h", "expected a number"),
        ("1h ", "expected a number"),
        ("\t30m", "expected a number"),
    ] {
        let err = parse_duration(bad).unwrap_err();
        assert_eq!(err.to_string(), format!("`{bad}` is not a valid duration: {problem}"));
    }
}

#[test]
fn shift_saturates_instead_of_overflowing() {
    assert_eq!(shift(Timestamp::MAX, SignedDuration::from_hours(1)), Timestamp::MAX);
    assert_eq!(shift(Timestamp::MIN, SignedDuration::from_hours(-1)), Timestamp::MIN);
}
