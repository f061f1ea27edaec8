//! Store-local time as people type it, and the rules of a window someone asks for.
//!
//! The stores keep their books on America/Caracas wall-clock time (see [`model`](crate::model)).
//! A person running a sync by hand — the CLI's `--from`/`--to`/`--start`/`--end`, the admin
//! panel's `fecha_inicio`/`fecha_fin` (seeds 000 and 003), an embedding program — names a window
//! in that time. The rules here turn what they typed into a half-open [`Window`], the same way
//! for every caller:
//!
//! - a bare date as a start is the start of that day; as an end, the end of it (the next day at
//!   00:00), so `2025-11-17 … 2025-11-17` is that whole day;
//! - an end at `hh:59:59` (the admin panel sends `23:59:59`) is taken as the next second, so
//!   windows stay half-open and nothing is lost at the boundary;
//! - a start alone is the rest of that start's day; no bounds at all is yesterday, the day the
//!   daily run loads (where the caller allows a default);
//! - a window must end after it starts, and cannot start after today: a window in the future has
//!   nothing to load, so it is refused before any source is dialled.
//!
//! ```
//! use chrono::NaiveDate;
//! use fluxion_etl_core::local_time::{parse_bound, Bound, ManualWindow};
//!
//! let today = NaiveDate::from_ymd_opt(2025, 11, 18).unwrap();
//! let window = ManualWindow {
//!     start: Some(parse_bound("2025-11-17", Bound::Start).unwrap()),
//!     end: Some(parse_bound("2025-11-17 23:59:59", Bound::End).unwrap()),
//! }
//! .resolve(today, true)
//! .unwrap();
//! assert_eq!(window.from.to_string(), "2025-11-17 00:00:00");
//! assert_eq!(window.to.to_string(), "2025-11-18 00:00:00");
//!
//! // Nothing given: yesterday.
//! let yesterday = ManualWindow::default().resolve(today, true).unwrap();
//! assert_eq!(yesterday.from.date(), NaiveDate::from_ymd_opt(2025, 11, 17).unwrap());
//! ```

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};

use crate::model::Window;

/// The store-local date-and-time formats accepted, most common first. A `T` separator and
/// seconds are optional; an RFC 3339 timestamp is read for its wall-clock part.
const FORMATS: [&str; 4] = [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
];

/// Reads a store-local date and time: `2026-01-25 14:30`, with seconds or a `T` separator, or an
/// RFC 3339 timestamp (its wall-clock part, as the admin panel sends local times with an offset).
/// `None` when it is none of these.
pub fn parse_local(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|d| d.naive_local())
        })
}

/// Reads a day: `2026-01-25`, or the date of a store-local time [`parse_local`] reads.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| parse_local(text).map(|t| t.date()))
}

/// Which end of a window a typed bound is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The inclusive start.
    Start,
    /// The exclusive end.
    End,
}

/// Why a typed bound could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BoundError {
    /// Neither a date nor a store-local time.
    #[error("`{0}` is neither a date (YYYY-MM-DD) nor a store-local time (YYYY-MM-DD HH:MM:SS)")]
    Unreadable(String),
    /// A date at the end of the calendar.
    #[error("`{0}` is out of range")]
    OutOfRange(String),
}

/// Reads one bound of a window: a bare date is the start of that day ([`Bound::Start`]) or its
/// end ([`Bound::End`], the next day at 00:00); an end at `hh:59:59` is taken as the next second.
pub fn parse_bound(text: &str, bound: Bound) -> Result<NaiveDateTime, BoundError> {
    let v = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let day = match bound {
            Bound::Start => day,
            Bound::End => day
                .succ_opt()
                .ok_or_else(|| BoundError::OutOfRange(text.to_owned()))?,
        };
        return Ok(day.and_time(NaiveTime::MIN));
    }
    let at = parse_local(v).ok_or_else(|| BoundError::Unreadable(text.to_owned()))?;
    if bound == Bound::End && v.ends_with(":59:59") {
        return Ok(at + chrono::Duration::seconds(1));
    }
    Ok(at)
}

/// What is wrong with a window someone asked for. Callers word it with their own field names
/// (`--from`, `fecha_inicio`); the [`Display`](std::fmt::Display) form is generic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// An end without a start.
    #[error("a window end without a start; give both")]
    EndWithoutStart,
    /// No bounds, where no default applies.
    #[error("a sales run needs a window start and end")]
    Missing,
    /// The end is not after the start.
    #[error("the window's start ({from}) must be before its end ({to})")]
    NotAfterStart {
        /// The start asked for.
        from: NaiveDateTime,
        /// The end asked for.
        to: NaiveDateTime,
    },
    /// The window starts after today, store-local.
    #[error("the window's start ({from}) is in the future")]
    InFuture {
        /// The start asked for.
        from: NaiveDateTime,
    },
    /// A bound at the end of the calendar.
    #[error("the window is out of range")]
    OutOfRange,
}

/// The bounds of a window as someone gave them, already read (see [`parse_bound`]); either may
/// be missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ManualWindow {
    /// The inclusive start, store-local.
    pub start: Option<NaiveDateTime>,
    /// The exclusive end, store-local.
    pub end: Option<NaiveDateTime>,
}

impl ManualWindow {
    /// Applies the module's rules as of `today` (store-local): a start alone is the rest of its
    /// day; no bounds is yesterday when `default_yesterday`, else [`WindowError::Missing`]; the
    /// window must end after it starts and must not start after today.
    pub fn resolve(self, today: NaiveDate, default_yesterday: bool) -> Result<Window, WindowError> {
        let (from, to) = match (self.start, self.end) {
            (Some(from), Some(to)) => (from, to),
            (Some(from), None) => {
                let end = from.date().succ_opt().ok_or(WindowError::OutOfRange)?;
                (from, end.and_time(NaiveTime::MIN))
            }
            (None, Some(_)) => return Err(WindowError::EndWithoutStart),
            (None, None) if default_yesterday => {
                let yesterday = today.pred_opt().ok_or(WindowError::OutOfRange)?;
                (
                    yesterday.and_time(NaiveTime::MIN),
                    today.and_time(NaiveTime::MIN),
                )
            }
            (None, None) => return Err(WindowError::Missing),
        };
        let window = Window::new(from, to).ok_or(WindowError::NotAfterStart { from, to })?;
        not_in_future(&window, today)?;
        Ok(window)
    }
}

/// Refuses a window that starts after `today` (store-local): it has nothing to load, and running
/// it would only dial the sources and record an empty or failed execution.
pub fn not_in_future(window: &Window, today: NaiveDate) -> Result<(), WindowError> {
    let tomorrow = today.succ_opt().unwrap_or(today).and_time(NaiveTime::MIN);
    if window.from >= tomorrow {
        return Err(WindowError::InFuture { from: window.from });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_support::{day, wall as at};

    #[test]
    fn local_times_in_every_accepted_form() {
        for text in [
            "2026-01-25 14:30",
            "2026-01-25 14:30:00",
            "2026-01-25T14:30",
            " 2026-01-25T14:30:00 ",
            "2026-01-25T14:30:00-04:00",
        ] {
            assert_eq!(parse_local(text), Some(at("2026-01-25 14:30:00")), "{text}");
        }
        assert_eq!(parse_local("25/01/2026"), None);
        assert_eq!(parse_day("2026-01-25 10:00:00"), Some(day("2026-01-25")));
        assert_eq!(parse_day("yesterday"), None);
    }

    #[test]
    fn bounds_of_whole_days_and_the_seeds_end_of_day() {
        for (text, bound, want) in [
            ("2025-11-17", Bound::Start, "2025-11-17 00:00:00"),
            ("2025-11-17", Bound::End, "2025-11-18 00:00:00"),
            ("2025-11-17 23:59:59", Bound::End, "2025-11-18 00:00:00"),
            // Only an end is moved: a start at :59:59 is what it says.
            ("2025-11-17 10:59:59", Bound::Start, "2025-11-17 10:59:59"),
        ] {
            assert_eq!(parse_bound(text, bound), Ok(at(want)), "{text} {bound:?}");
        }
        assert_eq!(
            parse_bound("soon", Bound::Start),
            Err(BoundError::Unreadable("soon".into()))
        );
    }

    #[test]
    fn the_rules_of_a_manual_window() {
        let today = day("2025-11-18");
        let w = |start: Option<&str>, end: Option<&str>| ManualWindow {
            start: start.map(at),
            end: end.map(at),
        };
        assert_eq!(
            w(None, None).resolve(today, true),
            Ok(Window::day(day("2025-11-17")).unwrap())
        );
        assert_eq!(
            w(None, None).resolve(today, false),
            Err(WindowError::Missing)
        );
        assert_eq!(
            w(Some("2025-11-10 08:00:00"), None).resolve(today, false),
            Ok(Window::new(at("2025-11-10 08:00:00"), at("2025-11-11 00:00:00")).unwrap())
        );
        assert_eq!(
            w(None, Some("2025-11-10 08:00:00")).resolve(today, true),
            Err(WindowError::EndWithoutStart)
        );
        assert_eq!(
            w(Some("2025-11-10 08:00:00"), Some("2025-11-10 08:00:00")).resolve(today, true),
            Err(WindowError::NotAfterStart {
                from: at("2025-11-10 08:00:00"),
                to: at("2025-11-10 08:00:00"),
            })
        );
        // Today is allowed (an incremental window of the morning); tomorrow is not.
        assert!(w(Some("2025-11-18 00:00:00"), Some("2025-11-18 10:00:00"))
            .resolve(today, true)
            .is_ok());
        assert_eq!(
            w(Some("2025-11-19 00:00:00"), Some("2025-11-20 00:00:00")).resolve(today, true),
            Err(WindowError::InFuture {
                from: at("2025-11-19 00:00:00")
            })
        );
    }
}
