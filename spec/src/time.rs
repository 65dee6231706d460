//! Instants, time zones and durations as people write them: the shared `--at TIME` parser, the
//! rule that turns a local wall-clock time into an instant across daylight-saving changes, and
//! window durations.
//!
//! Everything here is pure except [`parse_at`] with `now`, which reads the system clock once.
//! Time zones come from the IANA database bundled into the binary (see
//! `docs/adr/0030-time-and-windows.md`), so a result never depends on the host's tzdata.

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

#[cfg(test)]
mod tests;

/// The longest window duration accepted: a window that lasts more than a year is a mistake,
/// and the bound keeps every look-back search finite.
pub const MAX_DURATION: SignedDuration = SignedDuration::from_hours(366 * 24);

/// Problems with a time, a time zone or a duration as written by a person.
#[derive(Debug, thiserror::Error)]
pub enum TimeError {
    /// Neither `now`, an RFC 3339 time nor a civil time with a bracketed zone.
    #[error("`{input}` is not a time")]
    NotATime {
        input: String,
        #[source]
        source: Option<jiff::Error>,
    },
    /// A civil date and time without an offset or a zone: it names no instant.
    #[error("`{input}` has no offset or time zone")]
    NoOffset { input: String },
    /// The zone is not in the bundled IANA time zone database.
    #[error("unknown time zone `{name}`")]
    UnknownTimeZone { name: String },
    /// A duration that does not follow the `1d2h30m` grammar, or is zero or too long.
    #[error("`{input}` is not a valid duration: {problem}")]
    Duration { input: String, problem: &'static str },
}

impl tollgate_error::Hint for TimeError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(TimeError::hint(self).into())
    }
}

impl TimeError {
    /// What to write instead.
    pub fn hint(&self) -> &'static str {
        match self {
            TimeError::NotATime { .. } | TimeError::NoOffset { .. } => {
                "write `now`, an RFC 3339 time such as `2026-12-01T10:00:00Z` or `2026-12-01T11:00:00+01:00`, \
                 or a local time with its zone such as `2026-03-29T02:30[Europe/Berlin]`"
            }
            TimeError::UnknownTimeZone { .. } => "use an IANA zone name such as `Europe/Berlin`, `America/New_York` or `UTC`",
            TimeError::Duration { .. } => {
                "write whole numbers with units from largest to smallest, each once: `d`, `h`, `m`, `s`, `ms` \
                 (e.g. `30m`, `6h`, `1h30m`, `2d`), more than zero and at most `366d`"
            }
        }
    }
}

/// Parses the `--at TIME` argument of every command that consults the clock.
///
/// Accepted: `now`; an RFC 3339 / ISO 8601 time with `Z` or an offset
/// (`2026-12-01T10:00:00Z`, `2026-12-01T11:00:00+01:00`), optionally followed by a bracketed
/// zone that must agree with the offset; and a civil date and time with a bracketed IANA zone
/// (`2026-03-29T02:30[Europe/Berlin]`), resolved by [`resolve_local`]: a time skipped by a
/// daylight-saving change means the first instant after the gap, a time that happens twice
/// means its first occurrence.
///
/// # Errors
///
/// [`TimeError::NotATime`], [`TimeError::NoOffset`] or [`TimeError::UnknownTimeZone`]; each has
/// a [`TimeError::hint`].
pub fn parse_at(input: &str) -> Result<Timestamp, TimeError> {
    let s = input.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(Timestamp::now());
    }
    parse_instant(s).map_err(|err| match err {
        TimeError::NotATime { source, .. } => TimeError::NotATime { input: input.to_owned(), source },
        TimeError::NoOffset { .. } => TimeError::NoOffset { input: input.to_owned() },
        other => other,
    })
}

/// [`parse_at`] without `now`: the pure part.
///
/// # Errors
///
/// As [`parse_at`].
pub fn parse_instant(s: &str) -> Result<Timestamp, TimeError> {
    let not_a_time = |source: Option<jiff::Error>| TimeError::NotATime { input: s.to_owned(), source };
    if let Some(open) = s.find('[') {
        let (civil, annotation) = s.split_at(open);
        let name = annotation
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .map(|n| n.strip_prefix('!').unwrap_or(n))
            .filter(|n| !n.is_empty() && !n.contains(['[', ']']))
            .ok_or_else(|| not_a_time(None))?;
        let tz = time_zone(name)?;
        if civil.parse::<Timestamp>().is_ok() {
            // An offset and a zone: jiff checks that they agree.
            let zoned: jiff::ZonedDateTime = s.parse().map_err(|e| not_a_time(Some(e)))?;
            return Ok(zoned.timestamp());
        }
        let dt: DateTime = civil.parse().map_err(|e| not_a_time(Some(e)))?;
        return Ok(resolve_local(dt, &tz));
    }
    match s.parse::<Timestamp>() {
        Ok(ts) => Ok(ts),
        Err(err) => {
            if s.parse::<DateTime>().is_ok() {
                Err(TimeError::NoOffset { input: s.to_owned() })
            } else {
                Err(not_a_time(Some(err)))
            }
        }
    }
}

/// Looks a zone up in the bundled IANA database.
///
/// # Errors
///
/// [`TimeError::UnknownTimeZone`] when the name is not in it.
pub fn time_zone(name: &str) -> Result<TimeZone, TimeError> {
    TimeZone::get(name).map_err(|_| TimeError::UnknownTimeZone { name: name.to_owned() })
}

/// The instant a local wall-clock time names in `tz`.
///
/// # Guarantees
///
/// - A time that exists once maps to that instant.
/// - A time skipped by a daylight-saving change (02:30 on the night clocks go from 02:00 to
///   03:00) maps to the first instant after the gap, the transition itself (03:00 new time),
///   as cronie runs jobs scheduled in a skipped hour.
/// - A time that happens twice (01:30 on the night clocks go back) maps to its first
///   occurrence, the one with the offset before the change.
/// - The mapping never decreases: a later local time never names an earlier instant.
/// - Times outside jiff's range saturate to [`Timestamp::MIN`] or [`Timestamp::MAX`].
pub fn resolve_local(dt: DateTime, tz: &TimeZone) -> Timestamp {
    let saturate = |r: Result<Timestamp, jiff::Error>| r.unwrap_or(if dt.year() < 0 { Timestamp::MIN } else { Timestamp::MAX });
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => saturate(offset.to_timestamp(dt)),
        AmbiguousOffset::Fold { before, .. } => saturate(before.to_timestamp(dt)),
        AmbiguousOffset::Gap { after, .. } => {
            // The transition lies after the instant `dt` would be with the new offset and at or
            // before the instant it would be with the old one; it is the next one from there.
            let lower = saturate(after.to_timestamp(dt));
            tz.following(lower).next().map_or(lower, |t| t.timestamp())
        }
    }
}

/// Parses a window duration: `30m`, `6h`, `1h30m`, `2d`, `1d12h`, `90s`, `500ms`.
///
/// A day is 24 hours of elapsed time: a `1d` window that opens at 09:00 the day before clocks
/// go forward ends at 10:00 local time.
///
/// # Errors
///
/// [`TimeError::Duration`] when the grammar is not followed (units from largest to smallest,
/// each once), the duration is zero, or it exceeds [`MAX_DURATION`].
pub fn parse_duration(input: &str) -> Result<SignedDuration, TimeError> {
    const UNITS: [(&str, i64); 5] = [("d", 86_400_000), ("h", 3_600_000), ("ms", 1), ("m", 60_000), ("s", 1_000)];
    // Order of units from largest to smallest, by position in this list.
    const RANK: [&str; 5] = ["d", "h", "m", "s", "ms"];
    let err = |problem| TimeError::Duration { input: input.to_owned(), problem };
    // No spaces anywhere, as the schema's grammar says (issue #12: a leading space was accepted).
    let mut rest = input;
    if rest.is_empty() {
        return Err(err("it is empty"));
    }
    let mut total: i64 = 0;
    let mut last_rank: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err("expected a number"));
        }
        if digits > 12 {
            return Err(err("the number is too large"));
        }
        let n: i64 = rest[..digits].parse().map_err(|_| err("expected a number"))?;
        rest = &rest[digits..];
        let Some((unit, millis)) = UNITS.iter().find(|(u, _)| rest.starts_with(u)) else {
            return Err(err("expected a unit: `d`, `h`, `m`, `s` or `ms`"));
        };
        let rank = RANK.iter().position(|r| r == unit).unwrap_or(0);
        if last_rank.is_some_and(|l| l >= rank) {
            return Err(err("units must go from largest to smallest, each once"));
        }
        last_rank = Some(rank);
        rest = &rest[unit.len()..];
        total = n.checked_mul(*millis).and_then(|v| total.checked_add(v)).ok_or_else(|| err("it is too long"))?;
    }
    let duration = SignedDuration::from_millis(total);
    if duration.is_zero() {
        return Err(err("it is zero"));
    }
    if duration > MAX_DURATION {
        return Err(err("it is longer than 366 days"));
    }
    Ok(duration)
}

/// Adds without overflow: past jiff's range the result saturates.
pub fn shift(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.saturating_add(d).unwrap_or(if d.is_negative() { Timestamp::MIN } else { Timestamp::MAX })
}
