//! The table every bench prints after criterion's own output: each benchmark's rows/s beside the
//! baselines of its group, as ratios measured in the same run.
//!
//! A benchmark is a *baseline* when its name contains `baseline`. A benchmark is compared with
//! the baselines of its group that share its prefix (the part before the first `/`), or with all
//! of the group's baselines when none does. Only estimates written by this process are shown,
//! so a stale result of an earlier run never sneaks into the table.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One benchmark's result.
struct Row {
    id: String,
    rows_per_sec: f64,
}

/// A bench's `main`: runs the criterion group `benches`, criterion's summary, then prints the
/// table of `groups`.
pub fn main(benches: fn(), groups: &[&str]) {
    let started = SystemTime::now();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    print(started, groups);
}

/// Prints the table of `groups` (criterion group names, or their prefix followed by `*`).
pub fn print(since: SystemTime, groups: &[&str]) {
    let root = criterion_home();
    let Ok(entries) = std::fs::read_dir(&root) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|name| groups.iter().any(|g| matches_group(g, name)))
        })
        .collect();
    dirs.sort();
    let mut out = String::new();
    for dir in dirs {
        let rows = read_group(&dir, since);
        if rows.is_empty() {
            continue;
        }
        let group = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        out.push_str(&table(&group, &rows));
    }
    if !out.is_empty() {
        println!(
            "\nThroughput beside its baselines (same run; ratios are what to compare):\n{out}"
        );
    }
}

fn matches_group(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("criterion")
}

/// The benchmarks of one group measured since `since`.
fn read_group(dir: &Path, since: SystemTime) -> Vec<Row> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut rows: Vec<Row> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| read_bench(&e.path().join("new"), since))
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

fn read_bench(new: &Path, since: SystemTime) -> Option<Row> {
    let estimates = new.join("estimates.json");
    let fresh = std::fs::metadata(&estimates)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| modified >= since);
    if !fresh {
        return None;
    }
    let bench: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(new.join("benchmark.json")).ok()?).ok()?;
    let estimates: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(estimates).ok()?).ok()?;
    let elements = bench["throughput"]["Elements"].as_f64()?;
    let mean_ns = estimates["mean"]["point_estimate"].as_f64()?;
    if mean_ns <= 0.0 {
        return None;
    }
    Some(Row {
        id: bench["function_id"].as_str()?.to_owned(),
        rows_per_sec: elements / (mean_ns / 1e9),
    })
}

fn prefix(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

fn table(group: &str, rows: &[Row]) -> String {
    let baselines: Vec<&Row> = rows.iter().filter(|r| r.id.contains("baseline")).collect();
    let width = rows.iter().map(|r| r.id.len()).max().unwrap_or(0).max(9);
    let mut out = format!(
        "\n{group}\n  {:<width$}  {:>14}  vs baseline\n",
        "benchmark", "rows/s"
    );
    for row in rows {
        let compared: Vec<&&Row> = if row.id.contains("baseline") {
            Vec::new()
        } else {
            let same: Vec<&&Row> = baselines
                .iter()
                .filter(|b| prefix(&b.id) == prefix(&row.id) && row.id.contains('/'))
                .collect();
            if same.is_empty() {
                baselines.iter().collect()
            } else {
                same
            }
        };
        let ratios = compared
            .iter()
            .map(|b| format!("{:.2}× {}", row.rows_per_sec / b.rows_per_sec, b.id))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "  {:<width$}  {:>14}  {}\n",
            row.id,
            thousands(row.rows_per_sec),
            if row.id.contains("baseline") {
                "(baseline)".to_owned()
            } else {
                ratios
            }
        ));
    }
    out
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
