use expect_test::{Expect, expect};
use jiff::Timestamp;

use super::*;
use crate::time::time_zone;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Lists the next `n` fire times of `expr` in `zone` from `from`, each in UTC and local time.
fn check_fires(expr: &str, zone: &str, from: &str, n: usize, expect: Expect) {
    let schedule = Schedule::parse(expr).unwrap();
    let tz = time_zone(zone).unwrap();
    let limit = Timestamp::MAX;
    let mut t = ts(from);
    let mut out = String::new();
    for _ in 0..n {
        let Some(f) = schedule.next(t, &tz, limit) else {
            out.push_str("none\n");
            break;
        };
        out.push_str(&format!("{f}  {}\n", f.to_zoned_datetime(tz.clone()).strftime("%a %Y-%m-%d %H:%M %:z")));
        t = f + jiff::SignedDuration::from_nanos(1);
    }
    expect.assert_eq(&out);
}

#[test]
fn weekdays_ranges_and_names() {
    check_fires(
        "0 9 * * mon-fri",
        "UTC",
        "2026-12-04T12:00:00Z",
        3,
        expect![[r#"
            2026-12-07T09:00:00Z  Mon 2026-12-07 09:00 +00:00
            2026-12-08T09:00:00Z  Tue 2026-12-08 09:00 +00:00
            2026-12-09T09:00:00Z  Wed 2026-12-09 09:00 +00:00
        "#]],
    );
    // 7 and 0 are both Sunday.
    assert_eq!(Schedule::parse("0 0 * * 7").unwrap(), Schedule::parse("0 0 * * 0").unwrap());
    assert_eq!(Schedule::parse("0 0 * * SUN").unwrap(), Schedule::parse("0 0 * * 0").unwrap());
    assert_eq!(Schedule::parse("0 0 1 JAN-mar *").unwrap(), Schedule::parse("0 0 1 1,2,3 *").unwrap());
    assert_eq!(Schedule::parse("0 0 * * 5-7").unwrap(), Schedule::parse("0 0 * * 0,5,6").unwrap());
}

#[test]
fn steps_and_lists() {
    check_fires(
        "*/20 8-9,17 * * *",
        "UTC",
        "2026-06-01T08:30:00Z",
        7,
        expect![[r#"
            2026-06-01T08:40:00Z  Mon 2026-06-01 08:40 +00:00
            2026-06-01T09:00:00Z  Mon 2026-06-01 09:00 +00:00
            2026-06-01T09:20:00Z  Mon 2026-06-01 09:20 +00:00
            2026-06-01T09:40:00Z  Mon 2026-06-01 09:40 +00:00
            2026-06-01T17:00:00Z  Mon 2026-06-01 17:00 +00:00
            2026-06-01T17:20:00Z  Mon 2026-06-01 17:20 +00:00
            2026-06-01T17:40:00Z  Mon 2026-06-01 17:40 +00:00
        "#]],
    );
    assert_eq!(Schedule::parse("5/20 * * * *").unwrap(), Schedule::parse("5,25,45 * * * *").unwrap());
    assert_eq!(Schedule::parse("0-30/15 * * * *").unwrap(), Schedule::parse("0,15,30 * * * *").unwrap());
}

#[test]
fn both_day_fields_restricted_means_either() {
    // Vixie cron: the 13th of the month or any Friday.
    check_fires(
        "0 0 13 * 5",
        "UTC",
        "2026-11-01T00:00:00Z",
        4,
        expect![[r#"
            2026-11-06T00:00:00Z  Fri 2026-11-06 00:00 +00:00
            2026-11-13T00:00:00Z  Fri 2026-11-13 00:00 +00:00
            2026-11-20T00:00:00Z  Fri 2026-11-20 00:00 +00:00
            2026-11-27T00:00:00Z  Fri 2026-11-27 00:00 +00:00
        "#]],
    );
    // A day-of-month field starting with `*` counts as unrestricted: both must match, so this
    // is odd days that are Fridays.
    check_fires(
        "0 0 */2 * 5",
        "UTC",
        "2026-11-01T00:00:00Z",
        3,
        expect![[r#"
            2026-11-13T00:00:00Z  Fri 2026-11-13 00:00 +00:00
            2026-11-27T00:00:00Z  Fri 2026-11-27 00:00 +00:00
            2026-12-11T00:00:00Z  Fri 2026-12-11 00:00 +00:00
        "#]],
    );
}

#[test]
fn macros() {
    for (m, e) in [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
    ] {
        assert_eq!(Schedule::parse(m).unwrap(), Schedule::parse(e).unwrap(), "{m}");
    }
}

#[test]
fn a_time_in_the_spring_gap_fires_once_at_the_end_of_the_gap() {
    // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST. 02:30 fires at 03:00 CEST.
    check_fires(
        "30 2 * * *",
        "Europe/Berlin",
        "2026-03-28T00:00:00Z",
        3,
        expect![[r#"
            2026-03-28T01:30:00Z  Sat 2026-03-28 02:30 +01:00
            2026-03-29T01:00:00Z  Sun 2026-03-29 03:00 +02:00
            2026-03-30T00:30:00Z  Mon 2026-03-30 02:30 +02:00
        "#]],
    );
    // Every quarter hour of the missing hour collapses into one fire time, and 03:00 itself is
    // the same instant: fired once.
    check_fires(
        "*/15 2,3 29 3 *",
        "Europe/Berlin",
        "2026-03-29T00:00:00Z",
        5,
        expect![[r#"
            2026-03-29T01:00:00Z  Sun 2026-03-29 03:00 +02:00
            2026-03-29T01:15:00Z  Sun 2026-03-29 03:15 +02:00
            2026-03-29T01:30:00Z  Sun 2026-03-29 03:30 +02:00
            2026-03-29T01:45:00Z  Sun 2026-03-29 03:45 +02:00
            2027-03-29T00:00:00Z  Mon 2027-03-29 02:00 +02:00
        "#]],
    );
    // New York, 2026-03-08: 02:00 EST becomes 03:00 EDT.
    check_fires(
        "30 2 * * *",
        "America/New_York",
        "2026-03-07T12:00:00Z",
        2,
        expect![[r#"
            2026-03-08T07:00:00Z  Sun 2026-03-08 03:00 -04:00
            2026-03-09T06:30:00Z  Mon 2026-03-09 02:30 -04:00
        "#]],
    );
    // Lord Howe, 2026-10-04: 02:00 +10:30 becomes 02:30 +11:00, a 30-minute gap.
    check_fires(
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2026-10-02T12:00:00Z",
        3,
        expect![[r#"
            2026-10-02T15:45:00Z  Sat 2026-10-03 02:15 +10:30
            2026-10-03T15:30:00Z  Sun 2026-10-04 02:30 +11:00
            2026-10-04T15:15:00Z  Mon 2026-10-05 02:15 +11:00
        "#]],
    );
}

#[test]
fn a_time_that_happens_twice_fires_once_at_its_first_occurrence() {
    // Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens at 00:30Z and 01:30Z.
    check_fires(
        "30 2 * * *",
        "Europe/Berlin",
        "2026-10-24T12:00:00Z",
        2,
        expect![[r#"
            2026-10-25T00:30:00Z  Sun 2026-10-25 02:30 +02:00
            2026-10-26T01:30:00Z  Mon 2026-10-26 02:30 +01:00
        "#]],
    );
    // New York, 2026-11-01: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
    check_fires(
        "30 1 * * *",
        "America/New_York",
        "2026-10-31T12:00:00Z",
        2,
        expect![[r#"
            2026-11-01T05:30:00Z  Sun 2026-11-01 01:30 -04:00
            2026-11-02T06:30:00Z  Mon 2026-11-02 01:30 -05:00
        "#]],
    );
    // Lord Howe, 2026-04-05: 02:00 +11:00 becomes 01:30 +10:30.
    check_fires(
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2026-04-03T12:00:00Z",
        3,
        expect![[r#"
            2026-04-03T14:45:00Z  Sat 2026-04-04 01:45 +11:00
            2026-04-04T14:45:00Z  Sun 2026-04-05 01:45 +11:00
            2026-04-05T15:15:00Z  Mon 2026-04-06 01:45 +10:30
        "#]],
    );
    // The first occurrence is also what `prev` finds from inside the second one.
    let s = Schedule::parse("30 2 * * *").unwrap();
    let berlin = time_zone("Europe/Berlin").unwrap();
    assert_eq!(s.prev(ts("2026-10-25T01:45:00Z"), &berlin, Timestamp::MIN), Some(ts("2026-10-25T00:30:00Z")));
}

#[test]
fn schedules_that_fire_hourly_or_more_fire_in_both_passes_of_a_repeated_hour() {
    // Berlin, 2026-10-25: 02:00 happens at 00:00Z (CEST) and 01:00Z (CET).
    check_fires(
        "0 * * * *",
        "Europe/Berlin",
        "2026-10-24T23:30:00Z",
        4,
        expect![[r#"
            2026-10-25T00:00:00Z  Sun 2026-10-25 02:00 +02:00
            2026-10-25T01:00:00Z  Sun 2026-10-25 02:00 +01:00
            2026-10-25T02:00:00Z  Sun 2026-10-25 03:00 +01:00
            2026-10-25T03:00:00Z  Sun 2026-10-25 04:00 +01:00
        "#]],
    );
    // New York, 2026-11-01: 01:00-02:00 happens twice.
    check_fires(
        "*/30 1 * * *",
        "America/New_York",
        "2026-11-01T04:45:00Z",
        5,
        expect![[r#"
            2026-11-01T05:00:00Z  Sun 2026-11-01 01:00 -04:00
            2026-11-01T05:30:00Z  Sun 2026-11-01 01:30 -04:00
            2026-11-01T06:00:00Z  Sun 2026-11-01 01:00 -05:00
            2026-11-01T06:30:00Z  Sun 2026-11-01 01:30 -05:00
            2026-11-02T06:00:00Z  Mon 2026-11-02 01:00 -05:00
        "#]],
    );
    // Lord Howe, 2026-04-05: only 01:30-02:00 repeats.
    check_fires(
        "*/15 1 * * *",
        "Australia/Lord_Howe",
        "2026-04-04T13:50:00Z",
        7,
        expect![[r#"
            2026-04-04T14:00:00Z  Sun 2026-04-05 01:00 +11:00
            2026-04-04T14:15:00Z  Sun 2026-04-05 01:15 +11:00
            2026-04-04T14:30:00Z  Sun 2026-04-05 01:30 +11:00
            2026-04-04T14:45:00Z  Sun 2026-04-05 01:45 +11:00
            2026-04-04T15:00:00Z  Sun 2026-04-05 01:30 +10:30
            2026-04-04T15:15:00Z  Sun 2026-04-05 01:45 +10:30
            2026-04-05T14:30:00Z  Mon 2026-04-06 01:00 +10:30
        "#]],
    );
    // `prev` sees the second pass too.
    let s = Schedule::parse("0 * * * *").unwrap();
    let berlin = time_zone("Europe/Berlin").unwrap();
    assert_eq!(s.prev(ts("2026-10-25T01:30:00Z"), &berlin, Timestamp::MIN), Some(ts("2026-10-25T01:00:00Z")));
    assert_eq!(s.prev(ts("2026-10-25T00:59:00Z"), &berlin, Timestamp::MIN), Some(ts("2026-10-25T00:00:00Z")));
}

#[test]
fn zones_without_daylight_saving() {
    check_fires(
        "0 9 * * 1-5",
        "Asia/Kolkata",
        "2026-03-27T12:00:00Z",
        2,
        expect![[r#"
            2026-03-30T03:30:00Z  Mon 2026-03-30 09:00 +05:30
            2026-03-31T03:30:00Z  Tue 2026-03-31 09:00 +05:30
        "#]],
    );
}

#[test]
fn leap_days() {
    check_fires(
        "0 0 29 2 *",
        "UTC",
        "2026-03-01T00:00:00Z",
        3,
        expect![[r#"
            2028-02-29T00:00:00Z  Tue 2028-02-29 00:00 +00:00
            2032-02-29T00:00:00Z  Sun 2032-02-29 00:00 +00:00
            2036-02-29T00:00:00Z  Fri 2036-02-29 00:00 +00:00
        "#]],
    );
    // 2100 is not a leap year: eight years between leap days.
    check_fires(
        "0 0 29 2 *",
        "Europe/Berlin",
        "2096-03-01T00:00:00Z",
        1,
        expect![[r#"
            2104-02-28T23:00:00Z  Fri 2104-02-29 00:00 +01:00
        "#]],
    );
    let s = Schedule::parse("0 12 29 2 *").unwrap();
    assert_eq!(s.prev(ts("2027-06-01T00:00:00Z"), &jiff::tz::TimeZone::UTC, Timestamp::MIN), Some(ts("2024-02-29T12:00:00Z")));
    // The last day of February, whatever the year, needs two entries.
    check_fires(
        "0 0 28,29 2 *",
        "UTC",
        "2027-01-01T00:00:00Z",
        3,
        expect![[r#"
            2027-02-28T00:00:00Z  Sun 2027-02-28 00:00 +00:00
            2028-02-28T00:00:00Z  Mon 2028-02-28 00:00 +00:00
            2028-02-29T00:00:00Z  Tue 2028-02-29 00:00 +00:00
        "#]],
    );
}

#[test]
fn year_end() {
    check_fires(
        "59 23 31 12 *",
        "UTC",
        "2026-12-31T23:59:30Z",
        1,
        expect![[r#"
            2027-12-31T23:59:00Z  Fri 2027-12-31 23:59 +00:00
        "#]],
    );
    // New Year in Kolkata is still the old year in UTC.
    check_fires(
        "@yearly",
        "Asia/Kolkata",
        "2026-12-31T12:00:00Z",
        1,
        expect![[r#"
            2026-12-31T18:30:00Z  Fri 2027-01-01 00:00 +05:30
        "#]],
    );
    let s = Schedule::parse("59 23 31 12 *").unwrap();
    let utc = jiff::tz::TimeZone::UTC;
    assert_eq!(s.prev(ts("2027-01-01T00:00:30Z"), &utc, Timestamp::MIN), Some(ts("2026-12-31T23:59:00Z")));
    // `prev` stops at its floor.
    assert_eq!(s.prev(ts("2027-01-01T00:00:30Z"), &utc, ts("2027-01-01T00:00:00Z")), None);
    // `next` stops before its limit.
    assert_eq!(s.next(ts("2027-01-01T00:00:00Z"), &utc, ts("2027-12-31T23:59:00Z")), None);
    assert_eq!(s.next(ts("2027-01-01T00:00:00Z"), &utc, ts("2027-12-31T23:59:01Z")), Some(ts("2027-12-31T23:59:00Z")));
}

#[test]
fn next_and_prev_are_inclusive() {
    let s = Schedule::parse("0 * * * *").unwrap();
    let utc = jiff::tz::TimeZone::UTC;
    let t = ts("2026-06-01T10:00:00Z");
    assert_eq!(s.next(t, &utc, Timestamp::MAX), Some(t));
    assert_eq!(s.prev(t, &utc, Timestamp::MIN), Some(t));
    assert_eq!(s.prev(ts("2026-06-01T10:59:59Z"), &utc, Timestamp::MIN), Some(t));
}

#[test]
fn errors_name_the_field_and_token() {
    let check = |expr: &str, msg: &str| {
        let err = Schedule::parse(expr).unwrap_err();
        assert_eq!(err.to_string(), msg, "{expr}");
        assert!(!err.hint().is_empty());
    };
    check("0 9 * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4");
    check("0 9 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6");
    check("", "expected 5 fields (minute hour day-of-month month day-of-week), found 0");
    check("@reboot", "unknown macro `@reboot`");
    check("60 * * * *", "minute: `60` is out of range 0-59");
    check("0 24 * * *", "hour: `24` is out of range 0-23");
    check("0 0 0 * *", "day of month: `0` is out of range 1-31");
    check("0 0 * 13 *", "month: `13` is out of range 1-12");
    check("0 0 * * 8", "day of week: `8` is out of range 0-7");
    check("0 0 * * mon-", "day of week: `` is not a number or name");
    check("0 0 * * monday", "day of week: `monday` is not a number or name");
    check("x * * * *", "minute: `x` is not a number or name");
    check("5-1 * * * *", "minute: range `5-1` goes backwards");
    check("*/0 * * * *", "minute: bad step in `*/0`");
    check("*/x * * * *", "minute: bad step in `*/x`");
    check("*/+5 * * * *", "minute: bad step in `*/+5`");
    check("1,,2 * * * *", "minute: empty list element");
    check("99999999999 * * * *", "minute: `99999999999` is not a number or name");
    check("0 0 30 2 *", "the schedule never fires: no month in it has the days it names");
    check("0 0 31 4,6,9,11 *", "the schedule never fires: no month in it has the days it names");
    // With a restricted day of week, either field may match, so it does fire.
    assert!(Schedule::parse("0 0 30 2 1").is_ok());
}

/// A small deterministic generator, so the test needs no extra crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn arbitrary_input_never_panics() {
    const ALPHABET: &[u8] = b"0123456789*/-,@ \tajfmsondtuwhrlyJANSUN7";
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let zones: Vec<TimeZone> =
        ["UTC", "Europe/Berlin", "Australia/Lord_Howe", "America/New_York"].iter().map(|z| time_zone(z).unwrap()).collect();
    let mut parsed = 0;
    for i in 0..20_000 {
        let s: String = if i % 2 == 0 {
            let len = (rng.next() % 24) as usize;
            (0..len).map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize] as char).collect()
        } else {
            // Five fields built from plausible pieces, so that many parse.
            (0..5)
                .map(|_| {
                    let (a, b) = (rng.next() % 64, rng.next() % 64);
                    match rng.next() % 8 {
                        0 => "*".to_owned(),
                        1 => format!("*/{}", a % 20),
                        2 => format!("{}", a % 32),
                        3 => format!("{}-{}", a % 13, b % 32),
                        4 => format!("{},{}", a % 8, b % 13),
                        5 => format!("{}-{}/{}", a % 7, b % 60, a % 5),
                        6 => ["mon", "FEB", "sun-sat", "jan-dec", "7"][(a % 5) as usize].to_owned(),
                        _ => format!("{}", a % 2 + 1),
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        if let Ok(schedule) = Schedule::parse(&s) {
            parsed += 1;
            let tz = &zones[i % zones.len()];
            let secs = i64::try_from(rng.next() % 4_000_000_000).unwrap();
            let t = Timestamp::from_second(secs).unwrap();
            let limit = t + jiff::SignedDuration::from_hours(24 * 400);
            if let Some(f) = schedule.next(t, tz, limit) {
                assert!(f >= t && f < limit);
                assert_eq!(schedule.prev(f, tz, t), Some(f), "{s}");
            }
        }
        crate::time::parse_duration(&s).ok();
    }
    assert!(parsed > 0);
    // The extremes of jiff's range do not panic either.
    let s = Schedule::parse("* * * * *").unwrap();
    let utc = jiff::tz::TimeZone::UTC;
    assert_eq!(s.next(Timestamp::MAX, &utc, Timestamp::MAX), None);
    s.prev(Timestamp::MIN, &utc, Timestamp::MIN);
    s.next(Timestamp::MAX - jiff::SignedDuration::from_secs(30), &utc, Timestamp::MAX);
}

/// A splitmix64 stream: reproducible pseudo-random schedules and instants.
fn splitmix(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One random cron field over `lo..=hi`: `*`, a value, a range, a step (`*/n`, when
/// `star_step`), a stepped range or a list, with `names` (when given) for some values.
fn field(seed: &mut u64, lo: u64, hi: u64, names: &[&str], star_step: bool) -> String {
    let mut r = |n: u64| splitmix(seed) % n;
    let span = hi - lo + 1;
    let value = |v: u64, named: bool| if named && !names.is_empty() { names[(v - lo) as usize].to_owned() } else { v.to_string() };
    match r(6) {
        0 => "*".to_owned(),
        1 => value(lo + r(span), r(2) == 0),
        2 => {
            let a = lo + r(span);
            let b = a + r(hi - a + 1);
            format!("{}-{}", value(a, false), value(b, false))
        }
        3 if star_step => format!("*/{}", 1 + r(span.min(15))),
        3 => format!("{lo}-{hi}/{}", 1 + r(span.min(7))),
        4 => {
            let a = lo + r(span);
            let b = a + r(hi - a + 1);
            format!("{a}-{b}/{}", 1 + r(span.min(7)))
        }
        _ => {
            let mut vs: Vec<u64> = (0..2 + r(3)).map(|_| lo + r(span)).collect();
            vs.sort_unstable();
            vs.dedup();
            vs.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
        }
    }
}

/// Whether a time-zone transition of `tz` lies within a day of `t`.
fn near_transition(tz: &TimeZone, t: Timestamp) -> bool {
    let day = jiff::SignedDuration::from_hours(26);
    tz.following(t - day).next().is_some_and(|tr| tr.timestamp() <= t + day)
}

/// Our matcher agrees with `croner` (on its jiff backend) on 4,000 generated schedules, each
/// asked for its next and previous fire time from a random instant between 2026 and 2031, in
/// UTC, a zone without daylight saving and two with it. Near a daylight-saving transition the
/// two differ by design (ours follows Vixie cron through a repeated hour, see the module
/// docs and the DST tests above), so those answers are compared only in the zones without
/// transitions and counted; the test also fails if that exclusion swallows more than 5%.
/// The day fields use no `*/n` steps: with one, Vixie cron (and we) combine the two day fields
/// with AND, since the field starts with `*`, while croner combines them with OR
/// (`0 0 3 * */6` fires on Sundays that are not the 3rd there, not here).
#[test]
fn schedules_agree_with_croner() {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let parser = croner::parser::CronParser::builder().seconds(croner::parser::Seconds::Disallowed).build();
    let zones = ["UTC", "Asia/Kolkata", "America/New_York", "Europe/Berlin"];
    let start = ts("2026-01-01T00:00:00Z").as_second();
    let years5 = 5 * 365 * 86_400;
    let mut seed = 0x6372_6f6e_6572;
    let (mut compared, mut near_dst) = (0, 0);
    for i in 0..4_000u64 {
        let expr = [
            field(&mut seed, 0, 59, &[], true),
            field(&mut seed, 0, 23, &[], true),
            field(&mut seed, 1, 28, &[], false),
            field(&mut seed, 1, 12, &MONTHS, true),
            field(&mut seed, 0, 6, &DAYS, false),
        ]
        .join(" ");
        let ours = Schedule::parse(&expr).unwrap_or_else(|e| panic!("`{expr}`: {e}"));
        let theirs = parser.parse(&expr).unwrap_or_else(|e| panic!("croner refuses `{expr}`: {e}"));
        let zone = zones[(i % 4) as usize];
        let tz = time_zone(zone).unwrap();
        let at = Timestamp::from_second(start + (splitmix(&mut seed) % years5) as i64).unwrap();
        let their_at = jiff_02::Timestamp::from_second(at.as_second()).unwrap().in_tz(zone).unwrap();
        let pairs = [
            (ours.next(at, &tz, Timestamp::MAX), theirs.find_next_occurrence(&their_at, true).ok()),
            (ours.prev(at, &tz, Timestamp::MIN), theirs.find_previous_occurrence(&their_at, true).ok()),
        ];
        for (mine, other) in pairs {
            let other = other.map(|z| z.timestamp().as_second());
            let edge = [Some(at), mine].into_iter().flatten().any(|t| near_transition(&tz, t));
            if edge {
                near_dst += 1;
                continue;
            }
            compared += 1;
            assert_eq!(mine.map(|t| t.as_second()), other, "`{expr}` in {zone} from {at}");
        }
    }
    assert!(near_dst * 20 < compared, "{near_dst} answers near a transition, {compared} compared");
}
