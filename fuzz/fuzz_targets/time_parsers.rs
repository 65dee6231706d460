//! The cron, duration and `--at` parsers never panic, and a parsed schedule's fire times are
//! consistent: `next` finds an instant in range that `prev` finds again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_spec::time::{parse_duration, parse_instant, time_zone};
use tollgate_spec::windows::Schedule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_duration(text);
    let _ = parse_instant(text);
    if let Ok(schedule) = Schedule::parse(text) {
        let zones = ["UTC", "Europe/Berlin", "Australia/Lord_Howe", "America/New_York"];
        let tz = time_zone(zones[data.len() % zones.len()]).expect("bundled zone");
        let seed = data.iter().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
        let from = jiff::Timestamp::from_second(i64::try_from(seed % 4_000_000_000).unwrap_or(0)).expect("in range");
        let limit = from + jiff::SignedDuration::from_hours(24 * 400);
        if let Some(fire) = schedule.next(from, &tz, limit) {
            assert!(fire >= from && fire < limit);
            assert_eq!(schedule.prev(fire, &tz, from), Some(fire));
        }
    }
});
