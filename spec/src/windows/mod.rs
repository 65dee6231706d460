//! Deploy windows and freezes: when an environment is open for promotion.
//!
//! An Environment's `spec.windows` (cron `schedule`, `duration`, IANA `timeZone`, `kind:
//! allow | deny`) and `spec.freezes` (`from`, `to`, `reason`) are parsed once into
//! [`Windows`]; [`evaluate`] then answers, for any instant, whether the environment is open,
//! why, until when, and when it next opens. It is a pure function of the windows and the
//! instant: the caller reads the clock (or `--at`).
//!
//! At instant `T` an environment is open iff no freeze covers `T`, no deny window covers `T`,
//! and there is no allow window or some allow window covers `T`. A window covers `T` when one
//! of its occurrences does: an occurrence starts at a fire time `F` of its schedule, read in
//! its zone, and covers `[F, F + duration)`. A freeze covers `[from, to)`. The daylight-saving
//! rules are [`crate::time::resolve_local`]'s; `docs/windows.md` has the whole story.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;

use crate::Document;
use crate::diag::{Finding, Severity, Stage};
use crate::time::{self, TimeError, shift};

pub mod cron;

#[cfg(test)]
mod tests;

pub use cron::{CronError, Schedule};

/// How far ahead [`evaluate`] looks for the end of the current state and the next opening.
pub const DEFAULT_HORIZON: SignedDuration = SignedDuration::from_hours(366 * 24);

/// Whether a window opens or closes the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// With any allow window, the environment is open only inside one.
    Allow,
    /// Closes the environment while it lasts, whatever the allow windows say.
    Deny,
}

/// One recurring window, parsed.
#[derive(Debug, Clone)]
pub struct Window {
    /// Position in `spec.windows`.
    pub index: usize,
    pub kind: WindowKind,
    pub schedule: Schedule,
    /// The schedule as written, for reports.
    pub schedule_text: String,
    /// Elapsed time from each fire time.
    pub duration: SignedDuration,
    /// The duration as written, for reports.
    pub duration_text: String,
    pub time_zone: TimeZone,
    /// The IANA name as written (`UTC` when omitted).
    pub time_zone_name: String,
}

/// One dated freeze: `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    /// Position in `spec.freezes`.
    pub index: usize,
    pub from: Timestamp,
    pub to: Timestamp,
    pub reason: String,
}

/// An Environment's windows and freezes.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    pub windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
}

/// A problem in `spec.windows` or `spec.freezes`, with the JSON pointer (below the document
/// root) of the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// A field is missing or has the wrong type (the schema check reports these too).
    #[error("`{pointer}` must be {expected}")]
    Shape { pointer: String, expected: &'static str },
    /// The cron expression does not parse, or never fires.
    #[error("invalid schedule `{text}`")]
    Schedule {
        pointer: String,
        text: String,
        #[source]
        source: CronError,
    },
    /// The duration does not parse, is zero or is too long.
    #[error("invalid duration")]
    Duration {
        pointer: String,
        #[source]
        source: TimeError,
    },
    /// The time zone is not in the IANA database.
    #[error("invalid time zone")]
    TimeZone {
        pointer: String,
        #[source]
        source: TimeError,
    },
    /// A freeze bound that is not an RFC 3339 time with an offset.
    #[error("`{text}` is not an RFC 3339 time with an offset")]
    FreezeTime {
        pointer: String,
        text: String,
        #[source]
        source: jiff::Error,
    },
    /// A freeze that ends before it begins (or lasts no time).
    #[error("freeze ends at `{to}`, not after it begins at `{from}`")]
    FreezeOrder { pointer: String, from: Timestamp, to: Timestamp },
}

impl tollgate_error::Hint for WindowError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(WindowError::hint(self).into())
    }
}

impl WindowError {
    /// The JSON pointer of the value at fault.
    pub fn pointer(&self) -> &str {
        match self {
            WindowError::Shape { pointer, .. }
            | WindowError::Schedule { pointer, .. }
            | WindowError::Duration { pointer, .. }
            | WindowError::TimeZone { pointer, .. }
            | WindowError::FreezeTime { pointer, .. }
            | WindowError::FreezeOrder { pointer, .. } => pointer,
        }
    }

    /// The rule id of the finding this error becomes.
    pub fn rule(&self) -> &'static str {
        match self {
            WindowError::Shape { .. } => "window-shape",
            WindowError::Schedule { .. } => "window-schedule",
            WindowError::Duration { .. } => "window-duration",
            WindowError::TimeZone { .. } => "window-time-zone",
            WindowError::FreezeTime { .. } => "freeze-time",
            WindowError::FreezeOrder { .. } => "freeze-order",
        }
    }

    /// The message with its cause, on one line, as findings show it.
    pub fn message(&self) -> String {
        match self {
            WindowError::Schedule { source, .. } => format!("{self}: {source}"),
            WindowError::Duration { source, .. } | WindowError::TimeZone { source, .. } => format!("{self}: {source}"),
            WindowError::FreezeTime { .. } | WindowError::FreezeOrder { .. } | WindowError::Shape { .. } => self.to_string(),
        }
    }

    /// What to write instead.
    pub fn hint(&self) -> String {
        match self {
            WindowError::Shape { .. } => "see docs/reference/environment.md".to_owned(),
            WindowError::Schedule { source, .. } => source.hint(),
            WindowError::Duration { source, .. } | WindowError::TimeZone { source, .. } => source.hint().to_owned(),
            WindowError::FreezeTime { .. } => "write e.g. `2026-12-18T00:00:00+01:00` or `2026-12-17T23:00:00Z`".to_owned(),
            WindowError::FreezeOrder { .. } => "swap `from` and `to`, or remove the freeze".to_owned(),
        }
    }
}

impl Windows {
    /// Parses an Environment's `spec` (the value of `/spec`). Every problem is reported, not
    /// only the first; pointers start at the document root (`/spec/windows/0/schedule`).
    ///
    /// # Errors
    ///
    /// One [`WindowError`] per value at fault.
    pub fn from_spec(spec: &Value) -> Result<Windows, Vec<WindowError>> {
        let mut errors = Vec::new();
        let mut out = Windows::default();
        let list = |name: &str, errors: &mut Vec<WindowError>| -> Vec<Value> {
            match spec.get(name) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => {
                    errors.push(WindowError::Shape { pointer: format!("/spec/{name}"), expected: "a list" });
                    Vec::new()
                }
            }
        };
        for (index, w) in list("windows", &mut errors).iter().enumerate() {
            let base = format!("/spec/windows/{index}");
            let text = |field: &str, errors: &mut Vec<WindowError>| -> Option<String> {
                let v = w.get(field).and_then(Value::as_str).map(str::to_owned);
                if v.is_none() {
                    errors.push(WindowError::Shape { pointer: format!("{base}/{field}"), expected: "a string" });
                }
                v
            };
            let kind = match w.get("kind").and_then(Value::as_str) {
                Some("allow") => Some(WindowKind::Allow),
                Some("deny") => Some(WindowKind::Deny),
                _ => {
                    errors.push(WindowError::Shape { pointer: format!("{base}/kind"), expected: "`allow` or `deny`" });
                    None
                }
            };
            let schedule_text = text("schedule", &mut errors);
            let schedule = schedule_text.as_deref().and_then(|s| {
                Schedule::parse(s)
                    .map_err(|source| {
                        errors.push(WindowError::Schedule { pointer: format!("{base}/schedule"), text: s.to_owned(), source })
                    })
                    .ok()
            });
            let duration_text = text("duration", &mut errors);
            let duration = duration_text.as_deref().and_then(|s| {
                time::parse_duration(s)
                    .map_err(|source| errors.push(WindowError::Duration { pointer: format!("{base}/duration"), source }))
                    .ok()
            });
            let zone_name = match w.get("timeZone") {
                None | Some(Value::Null) => Some("UTC".to_owned()),
                Some(_) => text("timeZone", &mut errors),
            };
            let time_zone = zone_name.as_deref().and_then(|z| {
                time::time_zone(z).map_err(|source| errors.push(WindowError::TimeZone { pointer: format!("{base}/timeZone"), source })).ok()
            });
            if let (
                Some(kind),
                Some(schedule),
                Some(schedule_text),
                Some(duration),
                Some(duration_text),
                Some(time_zone),
                Some(time_zone_name),
            ) = (kind, schedule, schedule_text, duration, duration_text, time_zone, zone_name)
            {
                out.windows.push(Window { index, kind, schedule, schedule_text, duration, duration_text, time_zone, time_zone_name });
            }
        }
        for (index, f) in list("freezes", &mut errors).iter().enumerate() {
            let base = format!("/spec/freezes/{index}");
            let mut instant = |field: &str| -> Option<Timestamp> {
                let pointer = format!("{base}/{field}");
                let Some(text) = f.get(field).and_then(Value::as_str) else {
                    errors.push(WindowError::Shape { pointer, expected: "an RFC 3339 time" });
                    return None;
                };
                text.trim()
                    .parse::<Timestamp>()
                    .map_err(|source| errors.push(WindowError::FreezeTime { pointer, text: text.to_owned(), source }))
                    .ok()
            };
            let (from, to) = (instant("from"), instant("to"));
            let reason = f.get("reason").and_then(Value::as_str).unwrap_or_default().to_owned();
            if let (Some(from), Some(to)) = (from, to) {
                if to <= from {
                    errors.push(WindowError::FreezeOrder { pointer: format!("{base}/to"), from, to });
                } else {
                    out.freezes.push(Freeze { index, from, to, reason });
                }
            }
        }
        if errors.is_empty() { Ok(out) } else { Err(errors) }
    }

    /// Whether there is nothing to evaluate: the environment is always open.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.freezes.is_empty()
    }

    fn has_allow(&self) -> bool {
        self.windows.iter().any(|w| w.kind == WindowKind::Allow)
    }

    fn of_kind(&self, kind: WindowKind) -> impl Iterator<Item = &Window> {
        self.windows.iter().filter(move |w| w.kind == kind)
    }
}

/// Checks an Environment's windows and freezes for `tollgate check`: bad crons, durations,
/// zones and freeze times become located error findings (exit 1). Missing fields and wrong
/// types are left to the schema check, which reports them already.
pub fn check(doc: &Document, limits: &crate::yaml::Limits) -> Vec<Finding> {
    let Err(errors) = Windows::from_spec(doc.spec()) else { return Vec::new() };
    errors
        .into_iter()
        .filter(|e| !matches!(e, WindowError::Shape { .. }))
        .map(|e| {
            Finding::new(Severity::Error, Stage::Windows, e.rule(), doc.file.path.as_str(), e.message())
                .at(doc.locate(e.pointer(), limits))
                .pointer(e.pointer())
                .document(doc.id())
                .hint(e.hint())
        })
        .collect()
}

/// One occurrence of a window: `[opened, closes)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Occurrence {
    opened: Timestamp,
    closes: Timestamp,
}

impl Window {
    /// The occurrence covering `t`, the one that began last when several overlap.
    fn covering(&self, t: Timestamp) -> Option<Occurrence> {
        // Fire times after `t - duration` can cover `t`; `prev` is inclusive, so look from there
        // and drop a fire time exactly `duration` ago.
        let floor = shift(t, -self.duration);
        let opened = self.schedule.prev(t, &self.time_zone, floor)?;
        let closes = shift(opened, self.duration);
        (closes > t).then_some(Occurrence { opened, closes })
    }

    /// The end of the run of back-to-back or overlapping occurrences that covers `t`, or `t`
    /// itself when none does; stops once past `limit`.
    fn covered_until(&self, t: Timestamp, limit: Timestamp) -> Timestamp {
        let Some(mut occ) = self.covering(t) else { return t };
        while occ.closes <= limit {
            // The last fire time at or before the end extends the run when it is a new one.
            match self.schedule.prev(occ.closes, &self.time_zone, occ.opened) {
                Some(f) if f > occ.opened => occ = Occurrence { opened: f, closes: shift(f, self.duration) },
                _ => break,
            }
        }
        occ.closes
    }
}

/// What decides the state at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Reason {
    /// No windows and no freezes: always open.
    NoWindows,
    /// A freeze covers the instant (closed).
    Freeze { index: usize, reason: String, from: Timestamp, to: Timestamp },
    /// A deny window covers the instant (closed).
    DenyWindow { index: usize, schedule: String, time_zone: String, opened: Timestamp, closes: Timestamp },
    /// An allow window covers the instant (open).
    AllowWindow { index: usize, schedule: String, time_zone: String, opened: Timestamp, closes: Timestamp },
    /// There are allow windows and none covers the instant (closed).
    OutsideAllowWindows,
    /// There are no allow windows and no deny window or freeze covers the instant (open).
    NoDenyWindowOrFreeze,
}

impl Reason {
    /// Whether the environment is open for this reason.
    pub fn is_open(&self) -> bool {
        matches!(self, Reason::NoWindows | Reason::AllowWindow { .. } | Reason::NoDenyWindowOrFreeze)
    }

    fn window(w: &Window, occ: Occurrence) -> Reason {
        let (index, schedule, time_zone) = (w.index, w.schedule_text.clone(), w.time_zone_name.clone());
        let (opened, closes) = (occ.opened, occ.closes);
        match w.kind {
            WindowKind::Allow => Reason::AllowWindow { index, schedule, time_zone, opened, closes },
            WindowKind::Deny => Reason::DenyWindow { index, schedule, time_zone, opened, closes },
        }
    }
}

/// The state of an environment at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowState {
    /// The instant evaluated.
    pub at: Timestamp,
    /// Whether a promotion may happen at `at`.
    pub open: bool,
    /// What decides it.
    pub reason: Reason,
    /// When `open` next changes; `None` when it does not change before `searched_until`.
    pub until: Option<Timestamp>,
    /// The earliest instant at or after `at` when the environment is open: `at` itself when
    /// open; `None` when it stays closed until `searched_until`.
    pub next_open: Option<Timestamp>,
    /// How far ahead the search looked.
    pub searched_until: Timestamp,
}

/// The state of the environment at `at`, looking [`DEFAULT_HORIZON`] ahead.
pub fn evaluate(windows: &Windows, at: Timestamp) -> WindowState {
    evaluate_within(windows, at, DEFAULT_HORIZON)
}

/// The state of the environment at `at`, looking `horizon` ahead for the end of the current
/// state and the next opening.
///
/// # Guarantees
///
/// Pure: no IO, no clock. `until` is the earliest instant after `at` whose openness differs
/// from `at`'s; `next_open` the earliest instant at or after `at` that is open. Both are
/// `None` rather than a guess when they lie beyond `at + horizon`. The work is bounded by the
/// horizon divided by the shortest window duration, times the number of windows.
pub fn evaluate_within(windows: &Windows, at: Timestamp, horizon: SignedDuration) -> WindowState {
    let limit = shift(at, horizon.abs());
    let reason = reason_at(windows, at);
    let open = reason.is_open();
    let (until, next_open) = if open {
        (next_close(windows, at, limit), Some(at))
    } else {
        let next = next_open(windows, at, limit);
        (next, next)
    };
    WindowState { at, open, reason, until, next_open, searched_until: limit }
}

fn reason_at(windows: &Windows, t: Timestamp) -> Reason {
    if windows.is_empty() {
        return Reason::NoWindows;
    }
    if let Some(f) = windows.freezes.iter().find(|f| f.from <= t && t < f.to) {
        return Reason::Freeze { index: f.index, reason: f.reason.clone(), from: f.from, to: f.to };
    }
    for w in windows.of_kind(WindowKind::Deny) {
        if let Some(occ) = w.covering(t) {
            return Reason::window(w, occ);
        }
    }
    if !windows.has_allow() {
        return Reason::NoDenyWindowOrFreeze;
    }
    // When several allow windows cover, name the one that stays open longest.
    windows
        .of_kind(WindowKind::Allow)
        .filter_map(|w| w.covering(t).map(|occ| (w, occ)))
        .max_by_key(|(w, occ)| (occ.closes, std::cmp::Reverse(w.index)))
        .map_or(Reason::OutsideAllowWindows, |(w, occ)| Reason::window(w, occ))
}

/// The horizon includes its last instant, and [`Schedule::next`] stops before its limit: the
/// limit to hand it.
fn just_after(limit: Timestamp) -> Timestamp {
    shift(limit, SignedDuration::from_nanos(1))
}

/// The earliest instant at or after `t` (and at or before `limit`) when the environment is open.
fn next_open(windows: &Windows, mut t: Timestamp, limit: Timestamp) -> Option<Timestamp> {
    let has_allow = windows.has_allow();
    while t <= limit {
        if let Some(end) = windows.freezes.iter().filter(|f| f.from <= t && t < f.to).map(|f| f.to).max() {
            t = end;
            continue;
        }
        let denied_until = windows.of_kind(WindowKind::Deny).map(|w| w.covered_until(t, limit)).max().unwrap_or(t);
        if denied_until > t {
            t = denied_until;
            continue;
        }
        if has_allow && !windows.of_kind(WindowKind::Allow).any(|w| w.covering(t).is_some()) {
            t = windows.of_kind(WindowKind::Allow).filter_map(|w| w.schedule.next(t, &w.time_zone, just_after(limit))).min()?;
            continue;
        }
        return Some(t);
    }
    None
}

/// The earliest instant after `t` (and at or before `limit`) when the environment, open at `t`,
/// is closed.
fn next_close(windows: &Windows, t: Timestamp, limit: Timestamp) -> Option<Timestamp> {
    let freeze = windows.freezes.iter().filter(|f| f.from > t).map(|f| f.from).min();
    let deny = windows.of_kind(WindowKind::Deny).filter_map(|w| w.schedule.next(t, &w.time_zone, just_after(limit))).min();
    let allow_end = if windows.has_allow() {
        // Follow the allow windows from one to the next while they overlap or touch.
        let mut end = t;
        loop {
            let further = windows.of_kind(WindowKind::Allow).map(|w| w.covered_until(end, limit)).max().unwrap_or(end);
            if further <= end || further > limit {
                end = further;
                break;
            }
            end = further;
        }
        (end > t).then_some(end)
    } else {
        None
    };
    [freeze, deny, allow_end].into_iter().flatten().filter(|c| *c <= limit).min()
}

static UTC_ZONE: TimeZone = TimeZone::UTC;

/// The zone times of an environment are shown in: its first allow window's, else its first
/// window's, else UTC.
pub fn home_zone(windows: &Windows) -> (&TimeZone, &str) {
    windows
        .windows
        .iter()
        .find(|w| w.kind == WindowKind::Allow)
        .or_else(|| windows.windows.first())
        .map_or((&UTC_ZONE, "UTC"), |w| (&w.time_zone, w.time_zone_name.as_str()))
}

/// `2027-01-05 08:00 UTC (Tue 2027-01-05 09:00 Europe/Berlin)`.
pub fn when(t: Timestamp, tz: &TimeZone, zone: &str) -> String {
    let utc = t.to_zoned_datetime(TimeZone::UTC).strftime("%Y-%m-%d %H:%M UTC").to_string();
    if zone == "UTC" || zone == "Etc/UTC" {
        return utc;
    }
    format!("{utc} ({} {zone})", t.to_zoned_datetime(tz.clone()).strftime("%a %Y-%m-%d %H:%M"))
}

/// Why an environment is open or closed, in a sentence for people.
pub fn describe(windows: &Windows, state: &WindowState) -> String {
    let window = |index: usize| {
        let w = windows.windows.iter().find(|w| w.index == index);
        w.map_or_else(String::new, |w| format!(" (`{}`, {}, {})", w.schedule_text, w.duration_text, w.time_zone_name))
    };
    let (tz, zone) = home_zone(windows);
    match &state.reason {
        Reason::NoWindows => "no windows or freezes".to_owned(),
        Reason::Freeze { index, reason, from, to } => {
            format!("freezes[{index}] from {} to {}: {reason}", when(*from, tz, zone), when(*to, tz, zone))
        }
        Reason::DenyWindow { index, opened, .. } => {
            format!("inside deny windows[{index}]{} since {}", window(*index), when(*opened, tz, zone))
        }
        Reason::AllowWindow { index, opened, .. } => {
            format!("inside allow windows[{index}]{} since {}", window(*index), when(*opened, tz, zone))
        }
        Reason::OutsideAllowWindows => "outside every allow window".to_owned(),
        Reason::NoDenyWindowOrFreeze => "no deny window or freeze applies".to_owned(),
    }
}
