//! A store's calendar, resolved from `[calendar]`, `[stores.calendar]` and `[schedule]`.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::{CalendarConfig, Config, StoreConfig, Weekday};

/// When one store is open: the chain's `[calendar]` refined by the store's own, with
/// `[schedule] opening_hour`/`closing_hour` as the default hours.
///
/// ```
/// use fluxion_etl_core::config::Config;
/// use fluxion_etl_core::gaps::StoreCalendar;
///
/// let config = Config::from_toml_str(r#"
///     [calendar]
///     open_days = ["mon", "tue", "wed", "thu", "fri", "sat"]
///     holidays = ["2025-12-25"]
///
///     [klk]
///     base_url = "http://127.0.0.1:7002"
///
///     [[stores]]
///     id = "tienda_01"
///     name = "PERIFERICO"
///     source = { system = "klk", branch = "SUC001", warehouse = "APP-TPF" }
///     calendar = { hours = [{ days = ["sat"], opening_hour = 8, closing_hour = 14 }] }
/// "#, "inline").unwrap();
/// let calendar = StoreCalendar::for_store(&config, &config.stores[0]);
/// let day = |d: &str| d.parse::<chrono::NaiveDate>().unwrap();
/// assert!(!calendar.is_open(day("2025-11-16")));          // a Sunday
/// assert!(!calendar.is_open(day("2025-12-25")));          // a holiday
/// assert_eq!(calendar.hours(day("2025-11-17")), Some((6, 22)));
/// assert_eq!(calendar.hours(day("2025-11-22")), Some((8, 14)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreCalendar {
    /// Per weekday (Monday first): the opening and closing hour, or `None` when closed.
    pub week: [Option<(u32, u32)>; 7],
    /// Days closed.
    pub holidays: BTreeSet<NaiveDate>,
    /// Closed periods, both ends included.
    pub closures: Vec<(NaiveDate, NaiveDate)>,
    /// Nothing is expected before this day.
    pub opened_on: Option<NaiveDate>,
}

impl StoreCalendar {
    /// Open every day from `opening_hour` to `closing_hour`, no holidays.
    pub fn always_open(opening_hour: u32, closing_hour: u32) -> Self {
        Self {
            week: [Some((opening_hour, closing_hour)); 7],
            holidays: BTreeSet::new(),
            closures: Vec::new(),
            opened_on: None,
        }
    }

    /// The calendar of `store` under `config`.
    pub fn for_store(config: &Config, store: &StoreConfig) -> Self {
        let chain = &config.calendar;
        let own = store.calendar.as_ref();
        let pick = |f: fn(&CalendarConfig) -> Option<u32>, default: u32| {
            own.and_then(f).or_else(|| f(chain)).unwrap_or(default)
        };
        let opening = pick(|c| c.opening_hour, config.schedule.opening_hour);
        let closing = pick(|c| c.closing_hour, config.schedule.closing_hour);
        let open_days: Vec<Weekday> = own
            .and_then(|c| c.open_days.clone())
            .or_else(|| chain.open_days.clone())
            .unwrap_or_else(|| Weekday::ALL.to_vec());
        let mut week = [None; 7];
        for (i, day) in Weekday::ALL.iter().enumerate() {
            if open_days.contains(day) {
                week[i] = Some((opening, closing));
            }
        }
        // Special hours: the chain's first, then the store's, so the store's win.
        for c in std::iter::once(chain).chain(own) {
            for h in &c.hours {
                for day in &h.days {
                    let i = *day as usize;
                    if week[i].is_some() {
                        week[i] = Some((h.opening_hour, h.closing_hour));
                    }
                }
            }
        }
        let mut holidays = BTreeSet::new();
        let mut closures = Vec::new();
        for c in std::iter::once(chain).chain(own) {
            holidays.extend(c.holidays.iter().copied());
            closures.extend(c.closures.iter().map(|c| (c.from, c.to)));
        }
        Self {
            week,
            holidays,
            closures,
            opened_on: own.and_then(|c| c.opened_on),
        }
    }

    /// Whether the store is open (sells) on `day`.
    pub fn is_open(&self, day: NaiveDate) -> bool {
        self.hours(day).is_some()
    }

    /// The opening and closing hour (store-local) on `day`, `None` when closed.
    pub fn hours(&self, day: NaiveDate) -> Option<(u32, u32)> {
        if self.opened_on.is_some_and(|o| day < o)
            || self.holidays.contains(&day)
            || self.closures.iter().any(|(f, t)| *f <= day && day <= *t)
        {
            return None;
        }
        self.week[Weekday::of(day) as usize].filter(|(o, c)| c > o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_support::day as d;

    #[test]
    fn a_store_calendar_refines_the_chains() {
        let config = Config::from_toml_str(
            r#"
            [schedule]
            opening_hour = 7
            closing_hour = 21

            [calendar]
            open_days = ["mon", "tue", "wed", "thu", "fri", "sat"]
            holidays = ["2025-12-25"]
            hours = [{ days = ["sat"], opening_hour = 8, closing_hour = 14 }]

            [klk]
            base_url = "http://127.0.0.1:7002"

            [[stores]]
            id = "a"
            name = "A"
            source = { system = "klk", branch = "SUC001", warehouse = "W" }

            [[stores]]
            id = "b"
            name = "B"
            source = { system = "klk", branch = "SUC002", warehouse = "W" }
            [stores.calendar]
            open_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            closing_hour = 20
            hours = [{ days = ["sat", "sun"], opening_hour = 9, closing_hour = 13 }]
            holidays = ["2025-12-24"]
            closures = [{ from = "2025-11-03", to = "2025-11-04" }]
            opened_on = "2025-10-01"
            "#,
            "inline",
        )
        .unwrap();
        let a = StoreCalendar::for_store(&config, &config.stores[0]);
        let b = StoreCalendar::for_store(&config, &config.stores[1]);
        // 2025-11-02 is a Sunday, 2025-11-01 a Saturday, 2025-11-05 a Wednesday.
        assert_eq!(a.hours(d("2025-11-02")), None);
        assert_eq!(a.hours(d("2025-11-01")), Some((8, 14)));
        assert_eq!(a.hours(d("2025-11-05")), Some((7, 21)));
        assert_eq!(a.hours(d("2025-12-24")), Some((7, 21)));
        assert_eq!(a.hours(d("2025-12-25")), None);
        assert_eq!(b.hours(d("2025-11-02")), Some((9, 13)));
        assert_eq!(b.hours(d("2025-11-01")), Some((9, 13)));
        assert_eq!(b.hours(d("2025-11-05")), Some((7, 20)));
        assert_eq!(b.hours(d("2025-12-24")), None, "the store's holiday");
        assert_eq!(b.hours(d("2025-12-25")), None, "and the chain's");
        assert_eq!(b.hours(d("2025-11-03")), None, "closed for works");
        assert_eq!(b.hours(d("2025-09-30")), None, "not open yet");
        assert!(b.is_open(d("2025-10-01")));
    }
}
