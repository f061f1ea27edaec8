//! Presenting results: plain-text tables for people, JSON for scripts, and the small formatters
//! (durations, counts, store-local times) both use.

use std::fmt;
use std::io::Write;

use chrono::{DateTime, NaiveTime, Utc};
use fluxion_etl_core::model::utc_to_local;
use fluxion_etl_core::tracker::{sanitize, StoreDetailView};
use serde::Serialize;

/// Writes `value` as pretty JSON to stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)
}

/// Writes text to stdout (an error when stdout is closed, rather than `println!`'s panic).
pub fn print(text: impl fmt::Display) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers and durations.
    Right,
}

/// A plain-text table: a header, a rule, and rows with columns padded to fit.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(columns: &[(&'static str, Align)]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells are blank, extra ones ignored).
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = |s: &str| s.chars().count();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| width(c))
                    .chain([width(name)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let mut text = String::new();
            for (i, (_, align)) in self.columns.iter().enumerate() {
                let cell = cells.get(i).copied().unwrap_or("");
                let pad = " ".repeat(widths[i].saturating_sub(width(cell)));
                if i > 0 {
                    text.push_str("  ");
                }
                match align {
                    Align::Left => {
                        text.push_str(cell);
                        text.push_str(&pad);
                    }
                    Align::Right => {
                        text.push_str(&pad);
                        text.push_str(cell);
                    }
                }
            }
            writeln!(f, "{}", text.trim_end())
        };
        let header: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        line(f, &header)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(f, &rule.iter().map(String::as_str).collect::<Vec<_>>())?;
        for row in &self.rows {
            line(f, &row.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        Ok(())
    }
}

/// A duration for people: `850ms`, `12.3s`, `2m 30s`, `1h 05m`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    if seconds < 1.0 {
        return format!("{}ms", (seconds * 1000.0).round() as u64);
    }
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h == 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{h}h {m:02}m")
    }
}

/// [`duration`] of an optional value (`-` when absent).
pub fn opt_duration(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), duration)
}

/// A count with thousands separators: `12,480`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An instant as store-local (America/Caracas) wall-clock time: `2026-01-26 06:00:12`.
pub fn local_time(at: DateTime<Utc>) -> String {
    utc_to_local(at).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// [`local_time`] of an optional instant (`-` when absent).
pub fn opt_local_time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), local_time)
}

/// A window `[from, to)` in store-local time: whole days read `2026-01-25` or
/// `2026-01-25 .. 2026-01-27` (inclusive); anything else shows both bounds.
pub fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let (from, to) = (utc_to_local(from), utc_to_local(to));
    if from.time() == NaiveTime::MIN && to.time() == NaiveTime::MIN && to > from {
        let last = to.date().pred_opt().unwrap_or(to.date());
        if last == from.date() {
            return from.date().to_string();
        }
        return format!("{} .. {}", from.date(), last);
    }
    format!(
        "{} -> {}",
        from.format("%Y-%m-%d %H:%M"),
        to.format("%Y-%m-%d %H:%M")
    )
}

/// `phase/category` of a failure, or an empty cell.
pub fn failure(phase: Option<&str>, category: Option<&str>) -> String {
    match (phase, category) {
        (None, None) => String::new(),
        (p, c) => format!("{}/{}", p.unwrap_or("-"), c.unwrap_or("-")),
    }
}

/// The per-store table of an execution.
pub fn store_table(stores: &[StoreDetailView]) -> Table {
    let mut table = Table::new(&[
        ("store", Align::Left),
        ("name", Align::Left),
        ("status", Align::Left),
        ("extracted", Align::Right),
        ("loaded", Align::Right),
        ("duplicates", Align::Right),
        ("deleted", Align::Right),
        ("duration", Align::Right),
        ("error", Align::Left),
    ]);
    for s in stores {
        table.push(vec![
            s.tienda_id.clone(),
            s.tienda_nombre.clone().unwrap_or_default(),
            s.status.to_string(),
            count(s.records_extracted),
            count(s.records_loaded),
            count(s.duplicates_skipped),
            count(s.records_deleted),
            opt_duration(s.duration_seconds),
            failure(s.error_phase.as_deref(), s.error_category.as_deref()),
        ]);
    }
    table
}

/// Each failed store's message, one per line: `tienda_08: connection refused …`.
pub fn store_errors(stores: &[StoreDetailView]) -> String {
    stores
        .iter()
        .filter_map(|s| {
            s.error_message
                .as_deref()
                .map(|m| format!("  {}: {}", s.tienda_id, sanitize(m)))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0.0), "0ms");
        assert_eq!(duration(0.85), "850ms");
        assert_eq!(duration(12.34), "12.3s");
        assert_eq!(duration(150.0), "2m 30s");
        assert_eq!(duration(61.0), "1m 01s");
        assert_eq!(duration(3900.0), "1h 05m");
        assert_eq!(duration(-1.0), "-");
        assert_eq!(opt_duration(None), "-");
    }

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(12_480), "12,480");
        assert_eq!(count(2_150_000), "2,150,000");
        assert_eq!(count(-1_250), "-1,250");
    }

    #[test]
    fn times_are_store_local() {
        let at = Utc.with_ymd_and_hms(2026, 1, 26, 10, 0, 5).unwrap();
        assert_eq!(local_time(at), "2026-01-26 06:00:05");
    }

    #[test]
    fn windows_of_whole_days_read_as_dates() {
        let utc = |d, h| Utc.with_ymd_and_hms(2026, 1, d, h, 0, 0).unwrap();
        assert_eq!(window(utc(25, 4), utc(26, 4)), "2026-01-25");
        assert_eq!(window(utc(25, 4), utc(28, 4)), "2026-01-25 .. 2026-01-27");
        assert_eq!(
            window(utc(25, 12), utc(25, 13)),
            "2026-01-25 08:00 -> 2026-01-25 09:00"
        );
    }

    #[test]
    fn table_pads_and_aligns() {
        let mut t = Table::new(&[("store", Align::Left), ("rows", Align::Right)]);
        t.push(vec!["tienda_01".into(), "5".into()]);
        t.push(vec!["c".into(), "12,480".into()]);
        let text = t.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "store        rows");
        assert_eq!(lines[1], "---------  ------");
        assert_eq!(lines[2], "tienda_01       5");
        assert_eq!(lines[3], "c          12,480");
    }

    #[test]
    fn failures_name_phase_and_category() {
        assert_eq!(failure(None, None), "");
        assert_eq!(
            failure(Some("extract"), Some("vpn_timeout")),
            "extract/vpn_timeout"
        );
        assert_eq!(failure(Some("extract"), None), "extract/-");
    }
}
