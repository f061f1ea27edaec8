//! `[calendar]` and `[stores.calendar]`: when a store is open.

use serde::{Deserialize, Serialize};

use super::toml_date;

/// A day of the week in a store calendar: `mon` … `sun` (or the full English name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Weekday {
    #[serde(alias = "monday")]
    Mon,
    #[serde(alias = "tuesday")]
    Tue,
    #[serde(alias = "wednesday")]
    Wed,
    #[serde(alias = "thursday")]
    Thu,
    #[serde(alias = "friday")]
    Fri,
    #[serde(alias = "saturday")]
    Sat,
    #[serde(alias = "sunday")]
    Sun,
}

impl Weekday {
    /// Every day, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// The day of a date.
    pub fn of(date: chrono::NaiveDate) -> Self {
        use chrono::Datelike;
        Self::ALL[date.weekday().num_days_from_monday() as usize]
    }
}

/// `[calendar]` (the chain) and `[stores.calendar]` (one store): when a store is open, so that
/// closed days and hours are expected to be empty rather than reported as gaps.
///
/// ```toml
/// [calendar]
/// open_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
/// opening_hour = 6
/// closing_hour = 22
/// hours = [{ days = ["sun"], opening_hour = 8, closing_hour = 14 }]
/// holidays = ["2025-12-25", "2026-01-01"]
/// closures = [{ from = "2025-08-04", to = "2025-08-10", reason = "inventario anual" }]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarConfig {
    /// Days of the week the store opens. Unset: every day (or the chain's, for a store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_days: Option<Vec<Weekday>>,
    /// Store-local hour it opens (0–23). Unset: `[schedule] opening_hour` (or the chain's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opening_hour: Option<u32>,
    /// Store-local hour it closes (1–24, after `opening_hour`). Unset: `[schedule]
    /// closing_hour` (or the chain's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closing_hour: Option<u32>,
    /// Other hours on some days of the week.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<DayHours>,
    /// Whole days closed (holidays), `"YYYY-MM-DD"`.
    #[serde(with = "toml_date::vec", skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<chrono::NaiveDate>,
    /// Closed periods (works, inventory counts), both ends included.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub closures: Vec<Closure>,
    /// The store's opening date: nothing is expected before it (store calendars only).
    #[serde(with = "toml_date::option", skip_serializing_if = "Option::is_none")]
    pub opened_on: Option<chrono::NaiveDate>,
}

/// Opening hours on some days of the week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayHours {
    /// The days these hours apply to.
    pub days: Vec<Weekday>,
    /// Store-local hour it opens (0–23).
    pub opening_hour: u32,
    /// Store-local hour it closes (1–24).
    pub closing_hour: u32,
}

/// A closed period, `from` through `to` (both included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closure {
    /// First closed day.
    #[serde(with = "toml_date")]
    pub from: chrono::NaiveDate,
    /// Last closed day.
    #[serde(with = "toml_date")]
    pub to: chrono::NaiveDate,
    /// Why (shown to operators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
