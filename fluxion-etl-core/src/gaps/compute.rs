//! The arithmetic of gaps, on plain values: both destinations feed it the same rows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use super::{
    Attempt, CoverageStatus, DayRange, EmptyHour, FailedWindow, Recommendation, Recommendations,
    StoreCalendar,
};
use crate::config::GapsConfig;
use crate::model::{utc_to_local, DataKind, Window};

/// One gap per store and window.
type GroupKey = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Failed windows not yet recovered among `attempts`: failures that ended in the `hours` before
/// `now` and that no success of the same store — ending after the failure started and whose
/// window contains the failed one (any success, for inventory) — has covered since. Repeated
/// failures of one store and window are one gap (see [`FailedWindow`]).
pub fn failed_windows(
    attempts: &[Attempt],
    kind: DataKind,
    now: DateTime<Utc>,
    hours: u32,
) -> Vec<FailedWindow> {
    let since = now - Duration::hours(i64::from(hours));
    let covered = |f: &Attempt| {
        attempts.iter().any(|s| {
            s.succeeded
                && s.store_id == f.store_id
                && s.ended_at() <= now
                && s.ended_at() > f.started_at
                && match (f.window_from, f.window_to) {
                    (Some(ff), Some(ft)) => match (s.window_from, s.window_to) {
                        (Some(sf), Some(st)) => sf <= ff && st >= ft,
                        _ => false,
                    },
                    _ => true,
                }
        })
    };
    let mut failures: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| !a.succeeded && a.ended_at() >= since && a.ended_at() <= now)
        .filter(|a| !covered(a))
        .collect();
    failures.sort_by_key(|a| (a.ended_at(), a.execution_id, a.detail_id));

    let mut groups: BTreeMap<GroupKey, FailedWindow> = BTreeMap::new();
    for f in failures {
        let key = (f.store_id.as_str().to_owned(), f.window_from, f.window_to);
        let failed_at = f.ended_at();
        let hours_since = ((now - failed_at).num_seconds() as f64 / 3600.0 * 100.0).round() / 100.0;
        let (phase, category) = (f.error_phase, f.error_category);
        match groups.get_mut(&key) {
            Some(g) => {
                g.intentos += 1;
                g.fecha_fallo = failed_at;
                g.horas_desde_fallo = hours_since;
                g.error_fase = phase;
                g.error_tipo = category;
                g.error_mensaje = f.error_message.clone();
                if g.ubicacion_nombre.is_none() {
                    g.ubicacion_nombre = f.store_name.clone();
                }
            }
            None => {
                let local = match (f.window_from, f.window_to) {
                    (Some(a), Some(b)) => Window::new(utc_to_local(a), utc_to_local(b)),
                    _ => None,
                };
                let (fecha_desde, fecha_hasta, hora_desde, hora_hasta) = match local {
                    Some(w)
                        if w.from.time() == chrono::NaiveTime::MIN
                            && w.to.time() == chrono::NaiveTime::MIN =>
                    {
                        (Some(w.from.date()), w.to.date().pred_opt(), None, None)
                    }
                    Some(w) => {
                        // An end at midnight belongs to the day before (the window is half-open).
                        let last = if w.to.time() == chrono::NaiveTime::MIN {
                            w.to.date().pred_opt()
                        } else {
                            Some(w.to.date())
                        };
                        (
                            Some(w.from.date()),
                            last,
                            Some(w.from.time()),
                            Some(w.to.time()),
                        )
                    }
                    None => (None, None, None, None),
                };
                groups.insert(
                    key,
                    FailedWindow {
                        gap_id: f.execution_id,
                        detail_id: f.detail_id,
                        etl_tipo: kind,
                        ubicacion_id: f.store_id.clone(),
                        ubicacion_nombre: f.store_name.clone(),
                        fecha_desde,
                        fecha_hasta,
                        hora_desde,
                        hora_hasta,
                        ventana_desde: f.window_from,
                        ventana_hasta: f.window_to,
                        fecha_fallo: failed_at,
                        error_fase: phase,
                        error_tipo: category,
                        error_mensaje: f.error_message.clone(),
                        horas_desde_fallo: hours_since,
                        intentos: 1,
                    },
                );
            }
        }
    }
    let mut out: Vec<FailedWindow> = groups.into_values().collect();
    out.sort_by(|a, b| {
        b.fecha_fallo
            .cmp(&a.fecha_fallo)
            .then(a.ubicacion_id.cmp(&b.ubicacion_id))
    });
    out
}

/// A store's coverage ([`coverage`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    /// Records over all days.
    pub records: i64,
    /// First day with data.
    pub first_day: Option<NaiveDate>,
    /// Last day with data.
    pub last_day: Option<NaiveDate>,
    /// First expected day.
    pub start: Option<NaiveDate>,
    /// Open days from `start` through yesterday.
    pub expected_days: u32,
    /// Of those, days with data.
    pub days_with_data: u32,
    /// Two decimals.
    pub completeness_pct: f64,
    /// Open days after the last day with data through yesterday.
    pub days_behind: Option<u32>,
    /// The badge.
    pub status: CoverageStatus,
    /// Missing ranges, newest first.
    pub missing: Vec<DayRange>,
    /// Update and recover.
    pub recommendations: Recommendations,
}

/// The coverage of one store: `days` holds its records per store-local day, `today` is the
/// store-local date of now (yesterday is the last day expected to be complete), `start` is
/// `[gaps] coverage_start`.
pub fn coverage(
    calendar: &StoreCalendar,
    days: &BTreeMap<NaiveDate, i64>,
    today: NaiveDate,
    start: Option<NaiveDate>,
    config: &GapsConfig,
) -> Coverage {
    let yesterday = today.pred_opt().unwrap_or(today);
    let with_data: BTreeSet<NaiveDate> = days
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(d, _)| *d)
        .collect();
    let records = days.values().sum();
    let first_day = with_data.first().copied();
    let last_day = with_data.last().copied();
    let start = match (start, calendar.opened_on) {
        (Some(s), Some(o)) => Some(s.max(o)),
        (Some(s), None) => Some(s),
        (None, Some(o)) => Some(o),
        (None, None) => first_day,
    };

    let mut expected_days = 0u32;
    let mut days_with_data = 0u32;
    // Oldest first while walking; reversed at the end.
    let mut ranges: Vec<DayRange> = Vec::new();
    let mut open_range: Option<DayRange> = None;
    if let Some(start) = start {
        for day in start.iter_days().take_while(|d| *d <= yesterday) {
            if !calendar.is_open(day) {
                continue;
            }
            expected_days += 1;
            if with_data.contains(&day) {
                days_with_data += 1;
                ranges.extend(open_range.take());
            } else {
                match open_range.as_mut() {
                    Some(r) => {
                        r.hasta = day;
                        r.dias += 1;
                    }
                    None => {
                        open_range = Some(DayRange {
                            desde: day,
                            hasta: day,
                            dias: 1,
                        })
                    }
                }
            }
        }
    }
    ranges.extend(open_range);
    ranges.reverse();

    let completeness_pct = if expected_days == 0 {
        100.0
    } else {
        (f64::from(days_with_data) * 10_000.0 / f64::from(expected_days)).round() / 100.0
    };
    let open_days_between = |from: NaiveDate, to: NaiveDate| -> u32 {
        from.iter_days()
            .take_while(|d| *d <= to)
            .filter(|d| calendar.is_open(*d))
            .count() as u32
    };
    let (days_behind, update_from) = match (last_day, start) {
        (Some(last), _) => match last.succ_opt() {
            Some(next) if next <= yesterday => {
                (Some(open_days_between(next, yesterday)), Some(next))
            }
            _ => (Some(0), None),
        },
        (None, Some(start)) if start <= yesterday => {
            (Some(open_days_between(start, yesterday)), Some(start))
        }
        (None, Some(_)) => (Some(0), None),
        (None, None) => (None, Some(yesterday)),
    };
    let status = match days_behind {
        None => CoverageStatus::Critical,
        Some(d) if d >= config.critical_days => CoverageStatus::Critical,
        Some(d) if d >= config.behind_days => CoverageStatus::Behind,
        Some(_) => CoverageStatus::UpToDate,
    };
    // Start the update on an open day (a range never starts on a holiday).
    let update_from = update_from.map(|mut from| {
        while from < yesterday && !calendar.is_open(from) {
            from = from.succ_opt().unwrap_or(yesterday);
        }
        from
    });
    let actualizar = update_from
        .filter(|_| days_behind != Some(0))
        .map(|from| Recommendation {
            fecha_inicio: from,
            fecha_fin: yesterday,
            dias: open_days_between(from, yesterday),
        })
        .filter(|r| r.dias > 0);
    let recuperar = ranges
        .iter()
        .filter(|r| last_day.is_some_and(|last| r.hasta < last))
        .map(|r| Recommendation {
            fecha_inicio: r.desde,
            fecha_fin: r.hasta,
            dias: r.dias,
        })
        .collect();
    Coverage {
        records,
        first_day,
        last_day,
        start,
        expected_days,
        days_with_data,
        completeness_pct,
        days_behind,
        status,
        missing: ranges,
        recommendations: Recommendations {
            actualizar,
            recuperar,
        },
    }
}

/// The start of the hour `at` falls in.
pub(crate) fn floor_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    at - Duration::seconds(i64::from(at.minute() * 60 + at.second()))
        - Duration::nanoseconds(i64::from(at.nanosecond()))
}

/// Whole hours of the `lookback` hours before `now` (the hour in progress excluded) that fall
/// inside the store's opening hours and in which nothing was sold (`sold` holds the starts, in
/// UTC, of the hours with sales). Oldest first.
pub fn empty_hours(
    calendar: &StoreCalendar,
    sold: &BTreeSet<DateTime<Utc>>,
    now: DateTime<Utc>,
    lookback: u32,
) -> Vec<EmptyHour> {
    let end = floor_hour(now);
    let mut out = Vec::new();
    for back in (1..=i64::from(lookback)).rev() {
        let from = end - Duration::hours(back);
        let local = utc_to_local(from);
        let Some((open, close)) = calendar.hours(local.date()) else {
            continue;
        };
        let hour = local.hour();
        if hour < open || hour >= close || sold.contains(&from) {
            continue;
        }
        out.push(EmptyHour {
            fecha: local.date(),
            hora: hour,
            desde: from,
            hasta: from + Duration::hours(1),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_support::day as d;
    use crate::model::StoreId;
    use crate::tracker::{ErrorCategory, Phase};

    fn days(list: &[&str]) -> BTreeMap<NaiveDate, i64> {
        list.iter().map(|s| (d(s), 10)).collect()
    }

    /// Coverage expected from 2025-10-01 as of `today`, with the default thresholds.
    fn since_october(
        cal: &StoreCalendar,
        data: &BTreeMap<NaiveDate, i64>,
        today: &str,
    ) -> Coverage {
        coverage(
            cal,
            data,
            d(today),
            Some(d("2025-10-01")),
            &GapsConfig::default(),
        )
    }

    #[test]
    fn coverage_counts_ranges_and_recommendations() {
        let cal = StoreCalendar::always_open(6, 22);
        let data = days(&[
            "2025-10-01",
            "2025-10-02",
            "2025-10-05",
            "2025-10-06",
            "2025-10-07",
        ]);
        let c = since_october(&cal, &data, "2025-10-12");
        assert_eq!(c.expected_days, 11);
        assert_eq!(c.days_with_data, 5);
        assert_eq!(c.completeness_pct, 45.45);
        assert_eq!(c.days_behind, Some(4));
        assert_eq!(c.status, CoverageStatus::Behind);
        assert_eq!(
            c.missing,
            vec![
                DayRange {
                    desde: d("2025-10-08"),
                    hasta: d("2025-10-11"),
                    dias: 4
                },
                DayRange {
                    desde: d("2025-10-03"),
                    hasta: d("2025-10-04"),
                    dias: 2
                },
            ]
        );
        assert_eq!(
            c.recommendations.actualizar,
            Some(Recommendation {
                fecha_inicio: d("2025-10-08"),
                fecha_fin: d("2025-10-11"),
                dias: 4
            })
        );
        assert_eq!(
            c.recommendations.recuperar,
            vec![Recommendation {
                fecha_inicio: d("2025-10-03"),
                fecha_fin: d("2025-10-04"),
                dias: 2
            }]
        );
    }

    #[test]
    fn closed_days_are_not_missing_and_do_not_split_ranges() {
        let mut cal = StoreCalendar::always_open(6, 22);
        cal.holidays.insert(d("2025-10-04"));
        // 2025-10-05 is a Sunday.
        cal.week[6] = None;
        let data = days(&["2025-10-01", "2025-10-02", "2025-10-07"]);
        let c = since_october(&cal, &data, "2025-10-08");
        assert_eq!(c.expected_days, 5); // 1, 2, 3, 6, 7
        assert_eq!(
            c.missing,
            vec![DayRange {
                desde: d("2025-10-03"),
                hasta: d("2025-10-06"),
                dias: 2
            }]
        );
        assert_eq!(c.days_behind, Some(0));
        assert_eq!(c.status, CoverageStatus::UpToDate);
        assert!(c.recommendations.actualizar.is_none());
    }

    #[test]
    fn badges_follow_thresholds() {
        let cal = StoreCalendar::always_open(6, 22);
        let cfg = GapsConfig::default();
        let status =
            |last: &str| coverage(&cal, &days(&[last]), d("2025-10-22"), None, &cfg).status;
        assert_eq!(status("2025-10-21"), CoverageStatus::UpToDate);
        assert_eq!(status("2025-10-17"), CoverageStatus::Behind);
        assert_eq!(status("2025-10-14"), CoverageStatus::Critical);
        assert_eq!(status("2025-10-15"), CoverageStatus::Behind);
        let none = coverage(&cal, &BTreeMap::new(), d("2025-10-22"), None, &cfg);
        assert_eq!(none.status, CoverageStatus::Critical);
        assert_eq!(none.days_behind, None);
        assert_eq!(none.completeness_pct, 100.0);
        assert_eq!(
            none.recommendations.actualizar,
            Some(Recommendation {
                fecha_inicio: d("2025-10-21"),
                fecha_fin: d("2025-10-21"),
                dias: 1
            })
        );
    }

    fn attempt(id: i64, ok: bool, store: &str, w: Option<(i64, i64)>, ended_h: i64) -> Attempt {
        let base = "2025-11-17T04:00:00Z".parse::<DateTime<Utc>>().unwrap();
        Attempt {
            execution_id: id,
            detail_id: Some(id * 10),
            store_id: StoreId::new(store),
            store_name: None,
            succeeded: ok,
            window_from: w.map(|(a, _)| base + Duration::hours(a)),
            window_to: w.map(|(_, b)| base + Duration::hours(b)),
            started_at: base + Duration::hours(ended_h) - Duration::minutes(5),
            finished_at: Some(base + Duration::hours(ended_h)),
            error_phase: (!ok).then_some(Phase::Extract),
            error_category: (!ok).then_some(ErrorCategory::ApiTimeout),
            error_message: (!ok).then(|| "timed out".into()),
        }
    }

    #[test]
    fn failures_are_grouped_and_covered_by_later_successes() {
        let base = "2025-11-17T04:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let now = base + Duration::hours(48);
        let a = vec![
            attempt(1, false, "t1", Some((0, 24)), 25),
            attempt(2, false, "t1", Some((0, 24)), 26),
            attempt(3, false, "t2", Some((0, 24)), 25),
            // A success before the failure does not cover it.
            attempt(4, true, "t2", Some((0, 24)), 20),
            // A later success with a smaller window does not cover it either.
            attempt(5, true, "t2", Some((0, 12)), 30),
            // t3's failure is covered by a later, larger success.
            attempt(6, false, "t3", Some((10, 11)), 11),
            attempt(7, true, "t3", Some((0, 24)), 29),
            // Too old.
            attempt(8, false, "t4", Some((0, 24)), -200),
        ];
        let f = failed_windows(&a, DataKind::Sales, now, 168);
        assert_eq!(f.len(), 2);
        let t1 = f.iter().find(|g| g.ubicacion_id.as_str() == "t1").unwrap();
        assert_eq!((t1.gap_id, t1.intentos, t1.horas_desde_fallo), (1, 2, 22.0));
        assert_eq!(t1.fecha_desde, Some(d("2025-11-17")));
        assert_eq!(t1.fecha_hasta, Some(d("2025-11-17")));
        assert_eq!(t1.hora_desde, None);
        assert_eq!(t1.error_tipo, Some(ErrorCategory::ApiTimeout));
        assert_eq!(t1.window(), Window::day(d("2025-11-17")));
        assert!(f.iter().any(|g| g.gap_id == 3));
    }

    #[test]
    fn empty_hours_inside_opening_hours_only() {
        let cal = StoreCalendar::always_open(6, 22);
        // 2025-11-17 12:30 local = 16:30 UTC.
        let now = "2025-11-17T16:30:00Z".parse::<DateTime<Utc>>().unwrap();
        let sold: BTreeSet<_> = [
            "2025-11-17T10:00:00Z",
            "2025-11-17T11:00:00Z",
            "2025-11-17T13:00:00Z",
        ]
        .iter()
        .map(|s| s.parse::<DateTime<Utc>>().unwrap())
        .collect();
        let h = empty_hours(&cal, &sold, now, 8);
        // Lookback covers local 04:00–12:00; open from 06:00; sold at 06, 07, 09 local.
        let hours: Vec<u32> = h.iter().map(|e| e.hora).collect();
        assert_eq!(hours, vec![8, 10, 11]);
        assert_eq!(
            h[0].desde,
            "2025-11-17T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
