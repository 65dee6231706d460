//! Five-field cron schedules (minute hour day-of-month month day-of-week), matched over civil
//! times in a time zone.
//!
//! The grammar is Vixie cron's: `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n`
//! (from `a` to the field's maximum), comma lists, month names `jan`–`dec` and day names
//! `sun`–`sat` (any case), `0` and `7` both Sunday, and the macros `@yearly`, `@annually`,
//! `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly`. When both day fields are
//! restricted (neither starts with `*`), a day matches if either does; otherwise both must.
//!
//! Fire times are local times in the schedule's zone turned into instants by
//! [`crate::time::resolve_local`], so a local time skipped by a daylight-saving change fires at
//! the end of the gap and one that happens twice fires once, at its first occurrence. As in
//! Vixie cron, a schedule whose minute or hour field starts with `*` (it fires every hour or
//! more often) keeps firing through the second pass of a repeated hour, so `0 * * * *` for `1h`
//! leaves no hole when clocks go back.

use std::fmt;

use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use crate::time::{resolve_local, shift};

#[cfg(test)]
mod tests;

/// Problems in a cron expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not five fields separated by spaces.
    #[error("expected 5 fields (minute hour day-of-month month day-of-week), found {found}")]
    FieldCount { found: usize },
    /// An `@` macro cron does not know (or `@reboot`, which has no time).
    #[error("unknown macro `{name}`")]
    UnknownMacro { name: String },
    /// A value that is neither a number nor a known name.
    #[error("{field}: `{token}` is not a number or name")]
    NotANumber { field: Field, token: String },
    /// A number outside the field's range.
    #[error("{field}: `{value}` is out of range {min}-{max}")]
    OutOfRange { field: Field, value: u32, min: u32, max: u32 },
    /// A range whose start is after its end.
    #[error("{field}: range `{token}` goes backwards")]
    Backwards { field: Field, token: String },
    /// A step of zero, or a step that is not a number.
    #[error("{field}: bad step in `{token}`")]
    BadStep { field: Field, token: String },
    /// An empty list element, e.g. `1,,2`.
    #[error("{field}: empty list element")]
    Empty { field: Field },
    /// The day and month fields never meet, e.g. `0 0 30 2 *`.
    #[error("the schedule never fires: no month in it has the days it names")]
    NeverFires,
}

impl tollgate_error::Hint for CronError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(CronError::hint(self).into())
    }
}

impl CronError {
    /// What to write instead.
    pub fn hint(&self) -> String {
        match self {
            CronError::FieldCount { .. } | CronError::UnknownMacro { .. } => {
                "write 5 fields, e.g. `0 9 * * 1-5` (09:00 Monday to Friday), or one of `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`"
                    .to_owned()
            }
            CronError::NotANumber { field, .. } | CronError::OutOfRange { field, .. } => match field {
                Field::Month => "months are 1-12 or `jan`-`dec`".to_owned(),
                Field::DayOfWeek => "days of the week are 0-7 (0 and 7 are Sunday) or `sun`-`sat`".to_owned(),
                f => format!("{f} takes {}-{}", f.min(), f.max()),
            },
            CronError::Backwards { .. } => "write ranges from low to high, e.g. `1-5`; use a list for wrap-around, e.g. `5-6,0`".to_owned(),
            CronError::BadStep { .. } => "a step is a whole number of at least 1, e.g. `*/15` or `0-30/10`".to_owned(),
            CronError::Empty { .. } => "remove the extra comma".to_owned(),
            CronError::NeverFires => "check the day-of-month and month fields, e.g. February has at most 29 days".to_owned(),
        }
    }
}

/// The five fields of a cron expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    const ALL: [Field; 5] = [Field::Minute, Field::Hour, Field::DayOfMonth, Field::Month, Field::DayOfWeek];

    fn min(self) -> u32 {
        match self {
            Field::Minute | Field::Hour | Field::DayOfWeek => 0,
            Field::DayOfMonth | Field::Month => 1,
        }
    }

    fn max(self) -> u32 {
        match self {
            Field::Minute => 59,
            Field::Hour => 23,
            Field::DayOfMonth => 31,
            Field::Month => 12,
            Field::DayOfWeek => 7,
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Field::Month => &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
            Field::DayOfWeek => &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
            _ => &[],
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day of month",
            Field::Month => "month",
            Field::DayOfWeek => "day of week",
        })
    }
}

/// A parsed cron schedule: the times of day it fires at and one bit per allowed day value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Bits 1–31.
    days_of_month: u32,
    /// Bits 1–12.
    months: u16,
    /// Bits 0–6, Sunday = 0.
    days_of_week: u8,
    /// Whether the day-of-month field starts with `*` (Vixie's `DOM_STAR`).
    dom_star: bool,
    /// Whether the day-of-week field starts with `*` (Vixie's `DOW_STAR`).
    dow_star: bool,
    /// Whether the minute or hour field starts with `*` (Vixie's `MIN_STAR | HR_STAR`): such a
    /// schedule fires every hour or more often, and fires in both passes of a repeated hour.
    wildcard: bool,
    /// The local times of day it fires at (hour, minute), earliest first.
    times: Vec<(i8, i8)>,
}

/// How far [`Schedule::next`] and [`Schedule::prev`] look when no limit is nearer: long enough
/// for `0 0 29 2 *` across a century year that is not a leap year (2096 to 2104).
pub const MAX_GAP_DAYS: i32 = 366 * 9;

impl Schedule {
    /// Parses a 5-field expression or an `@` macro.
    ///
    /// # Errors
    ///
    /// A [`CronError`] naming the field and token at fault. Never panics, whatever the input.
    pub fn parse(expr: &str) -> Result<Schedule, CronError> {
        let expr = expr.trim();
        let expanded = if let Some(name) = expr.strip_prefix('@') {
            match name.to_ascii_lowercase().as_str() {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => return Err(CronError::UnknownMacro { name: expr.to_owned() }),
            }
        } else {
            expr
        };
        let fields: Vec<&str> = expanded.split_ascii_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError::FieldCount { found: fields.len() });
        }
        let mut bits = [0u64; 5];
        for (i, field) in Field::ALL.into_iter().enumerate() {
            bits[i] = parse_field(field, fields[i])?;
        }
        // 7 is Sunday too.
        let dow = bits[4];
        let dow = (dow | (dow >> 7)) & 0x7f;
        let times = (0..24i8)
            .filter(|h| bits[1] & (1 << h) != 0)
            .flat_map(|h| (0..60i8).filter(|m| bits[0] & (1 << m) != 0).map(move |m| (h, m)))
            .collect();
        let schedule = Schedule {
            times,
            days_of_month: u32::try_from(bits[2]).unwrap_or(0),
            months: u16::try_from(bits[3]).unwrap_or(0),
            days_of_week: u8::try_from(dow).unwrap_or(0),
            dom_star: fields[2].starts_with('*'),
            dow_star: fields[4].starts_with('*'),
            wildcard: fields[0].starts_with('*') || fields[1].starts_with('*'),
        };
        if !schedule.can_fire() {
            return Err(CronError::NeverFires);
        }
        Ok(schedule)
    }

    /// Whether some date matches: with day-of-week restricted under OR semantics any week has
    /// one; otherwise some month must have one of the days of the month (February has 29).
    fn can_fire(&self) -> bool {
        if !self.dom_star && !self.dow_star {
            return true;
        }
        const MAX_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        (1..=12u32).any(|m| {
            self.months & (1 << m) != 0 && {
                let upto = MAX_DAYS[(m - 1) as usize];
                let mask = if upto == 31 { u32::MAX } else { (1u32 << (upto + 1)) - 1 };
                self.days_of_month & mask != 0
            }
        })
    }

    /// Whether a local date is one the schedule fires on.
    pub fn matches_date(&self, date: Date) -> bool {
        let month = u32::try_from(date.month()).unwrap_or(0);
        if self.months & (1 << month) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << u32::try_from(date.day()).unwrap_or(0)) != 0;
        let dow = self.days_of_week & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        if self.dom_star || self.dow_star { dom && dow } else { dom || dow }
    }

    /// The first fire time at or after `t` and before `limit`, or `None`.
    ///
    /// # Guarantees
    ///
    /// Looks at no more than [`MAX_GAP_DAYS`] local days and resolves a logarithmic number of
    /// local times per matching day, so it returns quickly for any schedule and any `limit`.
    pub fn next(&self, t: Timestamp, tz: &TimeZone, limit: Timestamp) -> Option<Timestamp> {
        if t >= limit {
            return None;
        }
        // A fire time of the day before can land after `t` when it falls into a gap at midnight.
        let start = tz.to_datetime(t).date();
        let mut date = start.yesterday().unwrap_or(start);
        let end = tz.to_datetime(limit).date();
        let last = end.tomorrow().unwrap_or(end);
        for _ in 0..MAX_GAP_DAYS {
            if date > last {
                return None;
            }
            if self.months & (1 << date.month()) == 0 {
                date = date.last_of_month().tomorrow().ok()?;
                continue;
            }
            if self.matches_date(date) {
                // Local times map to instants without ever going back, so the day's fire times
                // are sorted and the first one at or after `t` can be found by bisection.
                let i = self.times.partition_point(|&(h, m)| resolve_local(date.at(h, m, 0, 0), tz) < t);
                let first = self.times.get(i).map(|&(h, m)| resolve_local(date.at(h, m, 0, 0), tz));
                let second = self.second_pass(date, tz).and_then(|(times, after)| {
                    let j = times.partition_point(|&(h, m)| second_instant(date, h, m, after) < t);
                    times.get(j).map(|&(h, m)| second_instant(date, h, m, after))
                });
                if let Some(at) = first.into_iter().chain(second).min() {
                    return (at < limit).then_some(at);
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The last fire time at or before `t` and at or after `floor`, or `None`.
    ///
    /// # Guarantees
    ///
    /// Looks at no more than [`MAX_GAP_DAYS`] local days, as [`Schedule::next`] does.
    pub fn prev(&self, t: Timestamp, tz: &TimeZone, floor: Timestamp) -> Option<Timestamp> {
        if t < floor {
            return None;
        }
        let start = tz.to_datetime(t).date();
        let mut date = start.tomorrow().unwrap_or(start);
        let end = tz.to_datetime(floor).date();
        let first = end.yesterday().unwrap_or(end);
        for _ in 0..MAX_GAP_DAYS {
            if date < first {
                return None;
            }
            if self.months & (1 << date.month()) == 0 {
                date = date.first_of_month().yesterday().ok()?;
                continue;
            }
            if self.matches_date(date) {
                let i = self.times.partition_point(|&(h, m)| resolve_local(date.at(h, m, 0, 0), tz) <= t);
                let first = i.checked_sub(1).and_then(|i| self.times.get(i)).map(|&(h, m)| resolve_local(date.at(h, m, 0, 0), tz));
                let second = self.second_pass(date, tz).and_then(|(times, after)| {
                    let j = times.partition_point(|&(h, m)| second_instant(date, h, m, after) <= t);
                    j.checked_sub(1).and_then(|j| times.get(j)).map(|&(h, m)| second_instant(date, h, m, after))
                });
                if let Some(at) = first.into_iter().chain(second).max() {
                    return (at >= floor).then_some(at);
                }
            }
            date = date.yesterday().ok()?;
        }
        None
    }
}

impl Schedule {
    /// For a wildcard schedule on a date when clocks go back: its fire times inside the
    /// repeated local hour (earliest first) and the offset of their second occurrence.
    fn second_pass(&self, date: Date, tz: &TimeZone) -> Option<(&[(i8, i8)], Offset)> {
        if !self.wildcard {
            return None;
        }
        let start = resolve_local(date.at(0, 0, 0, 0), tz);
        let end = resolve_local(date.tomorrow().ok()?.at(0, 0, 0, 0), tz);
        let transition = tz.following(shift(start, SignedDuration::from_nanos(-1))).next()?;
        let at = transition.timestamp();
        let (before, after) = (tz.to_offset(shift(at, SignedDuration::from_nanos(-1))), transition.offset());
        if at >= end || after >= before {
            return None;
        }
        // The repeated local times run from the change read with the new offset to the change
        // read with the old one.
        let (from, to) = (after.to_datetime(at), before.to_datetime(at));
        let key = |dt: jiff::civil::DateTime| {
            if dt.date() < date {
                (-1, 0)
            } else if dt.date() > date {
                (24, 0)
            } else {
                (dt.hour(), dt.minute())
            }
        };
        let (lo, hi) = (key(from), key(to));
        let i = self.times.partition_point(|&t| t < lo);
        let j = self.times.partition_point(|&t| t < hi);
        (i < j).then(|| (&self.times[i..j], after))
    }
}

/// The second occurrence of a repeated local time.
fn second_instant(date: Date, hour: i8, minute: i8, after: Offset) -> Timestamp {
    after.to_timestamp(date.at(hour, minute, 0, 0)).unwrap_or(Timestamp::MAX)
}

/// Parses one field into a bit set of its allowed values.
fn parse_field(field: Field, text: &str) -> Result<u64, CronError> {
    let mut bits = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(CronError::Empty { field });
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s >= 1 && step.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| CronError::BadStep { field, token: item.to_owned() })?;
                (range, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (field.min(), if field == Field::DayOfWeek { 6 } else { field.max() })
        } else if let Some((a, b)) = range.split_once('-') {
            let (lo, hi) = (value(field, a)?, value(field, b)?);
            if lo > hi {
                return Err(CronError::Backwards { field, token: item.to_owned() });
            }
            (lo, hi)
        } else {
            let v = value(field, range)?;
            // `a/n` runs from `a` to the end of the field.
            (v, if step.is_some() { field.max() } else { v })
        };
        let step = step.unwrap_or(1) as usize;
        for v in (lo..=hi).step_by(step) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

fn value(field: Field, token: &str) -> Result<u32, CronError> {
    if let Some(i) = field.names().iter().position(|n| n.eq_ignore_ascii_case(token)) {
        let i = u32::try_from(i).unwrap_or(0);
        return Ok(if field == Field::Month { i + 1 } else { i });
    }
    if token.is_empty() || token.len() > 9 || !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CronError::NotANumber { field, token: token.to_owned() });
    }
    let v: u32 = token.parse().map_err(|_| CronError::NotANumber { field, token: token.to_owned() })?;
    if v < field.min() || v > field.max() {
        return Err(CronError::OutOfRange { field, value: v, min: field.min(), max: field.max() });
    }
    Ok(v)
}
