//! `fluxion schedule`: the preview of a fixed day (never "now"), settings stored in the
//! destination and used by the preview, and `schedule run` stopped by SIGTERM.

use crate::common::{run, Sandbox, Watched};

const FROM: &str = "2025-11-18 00:00";

#[test]
fn preview_lists_the_ticks_retry_slots_and_the_six_oclock_collision() {
    let sb = Sandbox::new();
    let out = run(
        sb.fluxion_db(),
        &[
            "schedule", "preview", "--days", "2", "--from", FROM, "--json",
        ],
    )
    .expect_code(0);
    let json = out.json();
    assert_eq!(json["days"], 2);
    assert_eq!(json["enabled"], true);
    assert_eq!(json["from"], "2025-11-18T04:00:00Z", "00:00 in Caracas");
    let slots = json["slots"].as_array().unwrap();
    let on_day = |day: &str, job: &str| -> Vec<String> {
        slots
            .iter()
            .filter(|s| s["job"] == job && s["local"].as_str().unwrap().starts_with(day))
            .map(|s| s["local"].as_str().unwrap()[11..16].to_owned())
            .collect()
    };
    for day in ["2025-11-18", "2025-11-19"] {
        assert_eq!(on_day(day, "nightly_recovery"), vec!["03:00"]);
        assert_eq!(on_day(day, "daily"), vec!["05:00"]);
        assert_eq!(on_day(day, "daily_retry_1"), vec!["05:20"]);
        assert_eq!(on_day(day, "daily_retry_2"), vec!["05:40"]);
        assert_eq!(on_day(day, "daily_retry_3"), vec!["06:00"]);
        let ticks = on_day(day, "incremental");
        assert_eq!(ticks.len(), 33, "06:00 … 22:00 every 30 minutes");
        assert_eq!(ticks.first().map(String::as_str), Some("06:00"));
        assert_eq!(ticks.last().map(String::as_str), Some("22:00"));
        assert_eq!(on_day(day, "inventory"), ticks);
    }
    let collisions: Vec<&serde_json::Value> = slots
        .iter()
        .filter(|s| !s["collides_with"].is_null())
        .collect();
    assert_eq!(collisions.len(), 2, "one per day: {collisions:#?}");
    assert!(collisions.iter().all(|c| c["job"] == "incremental"
        && c["local"].as_str().unwrap().ends_with("06:00:00")
        && c["collides_with"]
            .as_str()
            .unwrap()
            .contains("daily retry 3")));
    assert_eq!(json["collisions"], 2);
    let daily = slots.iter().find(|s| s["job"] == "daily").unwrap();
    assert_eq!(daily["at"], "2025-11-18T09:00:00Z", "stored in UTC");
    assert_eq!(daily["window"]["from"], "2025-11-17T00:00:00", "yesterday");

    let text = run(
        sb.fluxion_db(),
        &["schedule", "preview", "--days", "2", "--from", FROM],
    )
    .expect_code(0)
    .stdout;
    assert!(text.contains("collision with daily retry 3"), "{text}");
    assert!(text.contains("only if stores failed"), "{text}");
    assert!(text.contains("2 collision(s)"), "{text}");
}

#[test]
fn settings_are_validated_stored_and_used_by_the_preview() {
    let sb = Sandbox::new();
    let out = run(
        sb.fluxion_db(),
        &["schedule", "set", "--execution-hour", "24"],
    )
    .expect_code(64);
    assert!(out.stderr.contains("execution_hour"), "{out:?}");
    run(
        sb.fluxion_db(),
        &[
            "schedule",
            "set",
            "--execution-hour",
            "6",
            "--execution-minute",
            "30",
            "--retry-interval-minutes",
            "15",
        ],
    )
    .expect_code(0);
    let json = run(
        sb.fluxion_db(),
        &[
            "schedule", "preview", "--days", "1", "--from", FROM, "--json",
        ],
    )
    .expect_code(0)
    .json();
    let times = |job: &str| -> Vec<String> {
        json["slots"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["job"] == job)
            .map(|s| s["local"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(times("daily")[0], "2025-11-18T06:30:00");
    assert_eq!(times("daily_retry_1")[0], "2025-11-18T06:45:00");
    assert_eq!(json["settings"]["max_retries"], 3, "unchanged");

    run(sb.fluxion_db(), &["schedule", "disable"]).expect_code(0);
    let status = run(sb.fluxion_db(), &["schedule", "status", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(status["enabled"], false);
    assert_eq!(status["next_run"], serde_json::Value::Null);
    assert_eq!(status["config"]["execution_hour"], 6);
    assert_eq!(status["last_run"], serde_json::Value::Null);
    let preview = run(sb.fluxion_db(), &["schedule", "preview", "--from", FROM])
        .expect_code(0)
        .stdout;
    assert!(preview.contains("DISABLED"), "{preview}");
}

/// "Run now" with one store whose KLK server is down: the run fails, the daily summary says so,
/// and the store waits for a retry (a network error is retryable).
#[test]
fn trigger_runs_the_daily_job_and_records_its_summary() {
    let sb = Sandbox::new();
    let config = sb.dead_klk_config();
    let config = config.to_str().unwrap();
    let out = run(
        sb.fluxion(),
        &["schedule", "trigger", "--json", "--config", config],
    )
    .expect_code(1);
    let json = out.json();
    assert_eq!(json["execution"]["triggered_by"], "scheduler", "{json}");
    assert_eq!(json["execution"]["status"], "failed", "{json}");
    let summary = &json["scheduler"]["daily_summary"];
    assert_eq!(summary["total"], 1, "{json}");
    assert_eq!(summary["ok"], 0, "{json}");
    assert_eq!(summary["pending_retries"], 1, "{json}");
    assert_eq!(json["scheduler"]["pending_stores"][0], "tienda_01");
    assert_eq!(json["scheduler"]["last_run"]["job"], "daily_trigger");
    assert_eq!(json["scheduler"]["is_running"], false);
}

#[cfg(unix)]
#[test]
fn schedule_run_stops_cleanly_on_sigterm() {
    let sb = Sandbox::new();
    let config = sb.empty_config();
    let mut cmd = sb.fluxion();
    cmd.args(["schedule", "run", "--config"]).arg(&config);
    let mut child = Watched::until(cmd, "Scheduler running");
    let code = child.terminate();
    assert_eq!(code, Some(0), "{:#?}", child.seen);
    assert!(
        child.seen.iter().any(|l| l.contains("Scheduler stopped")),
        "{:#?}",
        child.seen
    );
}
