//! `run`, and reading its executions back with `history`, `show` and `stats`.

use chrono::{Duration, NaiveTime, Utc};
use serde_json::Value;

use crate::common::{keys, run, Sandbox};

/// Runs `fluxion run` with `config` and returns the execution's JSON (`run --json`).
fn run_json(sb: &Sandbox, env: &[(&str, &str)], config: &str, args: &[&str]) -> (i32, Value) {
    let mut cmd = sb.fluxion();
    cmd.envs(env.iter().copied());
    let mut argv = vec!["run", "--json", "--config", config];
    argv.extend_from_slice(args);
    let out = run(cmd, &argv);
    (out.code, out.json())
}

#[test]
fn a_run_with_no_stores_succeeds_and_is_recorded() {
    let sb = Sandbox::new();
    let config = sb.empty_config();
    let config = config.to_str().unwrap();
    let out = run(
        sb.fluxion(),
        &[
            "run",
            "--kind",
            "sales",
            "--from",
            "2026-01-10",
            "--to",
            "2026-01-11",
            "--config",
            config,
        ],
    )
    .expect_code(0);
    assert!(out.stdout.contains("No stores"), "{out:?}");
    assert!(out.stdout.contains("Execution 1 success"), "{out:?}");
    assert!(out.stdout.contains("2026-01-10 .. 2026-01-11"), "{out:?}");

    // Read back with nothing but DATABASE_URL.
    let history = run(sb.fluxion_db(), &["history", "--json"])
        .expect_code(0)
        .json();
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{history}");
    let entry = &entries[0];
    assert_eq!(entry["id"], 1);
    assert_eq!(entry["etl_name"], "ventas");
    assert_eq!(entry["status"], "success");
    assert_eq!(entry["triggered_by"], "cli");
    assert_eq!(entry["tiendas_count"], 0);
    for key in [
        "etl_type",
        "started_at",
        "finished_at",
        "duration_seconds",
        "records_extracted",
        "records_loaded",
        "duplicates_skipped",
        "tiendas_exitosas",
        "tiendas_fallidas",
        "error_phase",
        "error_category",
    ] {
        assert!(entry.get(key).is_some(), "{key} missing: {entry}");
    }

    let show = run(sb.fluxion_db(), &["show", "1", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(show["id"], 1);
    assert_eq!(show["status"], "success");
    assert_eq!(show["triggered_by"], "cli");
    // Whole store-local days, converted to UTC (Caracas is UTC-4): [Jan 10, Jan 12).
    assert_eq!(show["fecha_desde"], "2026-01-10T04:00:00Z");
    assert_eq!(show["fecha_hasta"], "2026-01-12T04:00:00Z");
    assert_eq!(show["tiendas_detail"], serde_json::json!([]));

    let out = run(sb.fluxion_db(), &["show", "1"]).expect_code(0);
    assert!(out.stdout.contains("Execution 1"), "{out:?}");
    assert!(out.stdout.contains("triggered by  cli"), "{out:?}");
    let out = run(sb.fluxion_db(), &["history"]).expect_code(0);
    assert!(out.stdout.contains("success"), "{out:?}");
}

#[test]
fn triggered_by_follows_the_environment() {
    let sb = Sandbox::new();
    let config = sb.empty_config();
    let config = config.to_str().unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "cli"),
        (&[("FLUXION_ADMIN", "true")], "fluxion_admin"),
        (&[("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE")], "eventbridge"),
    ];
    for (env, expected) in cases {
        let (code, view) = run_json(&sb, env, config, &["--kind", "sales"]);
        assert_eq!(code, 0, "{view}");
        assert_eq!(view["triggered_by"], *expected, "{view}");
        let id = view["id"].as_i64().unwrap().to_string();
        let show = run(sb.fluxion_db(), &["show", &id, "--json"])
            .expect_code(0)
            .json();
        assert_eq!(show["triggered_by"], *expected, "{show}");
    }
    for (_, by) in cases {
        let history = run(
            sb.fluxion_db(),
            &["history", "--json", "--triggered-by", by],
        )
        .expect_code(0)
        .json();
        let entries = history.as_array().unwrap();
        assert_eq!(entries.len(), 1, "{by}: {history}");
        assert_eq!(entries[0]["triggered_by"], *by);
    }
}

#[test]
fn sales_default_to_yesterday_in_caracas() {
    let sb = Sandbox::new();
    let config = sb.empty_config();
    let config = config.to_str().unwrap();
    // Caracas is UTC-4 with no DST; compute both sides in case midnight falls in between.
    let yesterday_start = || {
        let today = (Utc::now() - Duration::hours(4)).date_naive();
        let day = today.pred_opt().unwrap();
        format!(
            "{}T04:00:00Z",
            day.and_time(NaiveTime::MIN).format("%Y-%m-%d")
        )
    };
    let before = yesterday_start();
    let (code, view) = run_json(&sb, &[], config, &["--kind", "sales"]);
    let after = yesterday_start();
    assert_eq!(code, 0, "{view}");
    let from = view["fecha_desde"].as_str().unwrap();
    assert!(from == before || from == after, "{from} vs {before}");
}

#[test]
fn exact_windows_are_store_local_and_half_open() {
    let sb = Sandbox::new();
    let config = sb.empty_config();
    let config = config.to_str().unwrap();
    let (code, view) = run_json(
        &sb,
        &[],
        config,
        &[
            "--kind",
            "sales",
            "--start",
            "2026-01-10 08:00",
            "--end",
            "2026-01-10 09:30",
        ],
    );
    assert_eq!(code, 0, "{view}");
    assert_eq!(view["fecha_desde"], "2026-01-10T12:00:00Z");
    assert_eq!(view["fecha_hasta"], "2026-01-10T13:30:00Z");
}

#[test]
fn an_inventory_run_has_no_window() {
    let sb = Sandbox::new();
    let config = sb.empty_config();
    let config = config.to_str().unwrap();
    let (code, view) = run_json(&sb, &[], config, &["--kind", "inventory"]);
    assert_eq!(code, 0, "{view}");
    assert_eq!(view["etl_name"], "inventario");
    assert_eq!(view["fecha_desde"], Value::Null);
    let history = run(sb.fluxion_db(), &["history", "--json", "--kind", "sales"])
        .expect_code(0)
        .json();
    assert_eq!(history, serde_json::json!([]));
}

/// A KLK store whose server does not answer fails in extract; the run fails (exit 1) and
/// `show`, `history` and `stats` say so.
#[test]
fn a_store_that_cannot_be_reached_fails_the_run() {
    let sb = Sandbox::new();
    let empty = sb.empty_config();
    run(
        sb.fluxion(),
        &[
            "run",
            "--kind",
            "sales",
            "--config",
            empty.to_str().unwrap(),
        ],
    )
    .expect_code(0);

    let klk = sb.dead_klk_config();
    let out = run(
        sb.fluxion(),
        &[
            "run",
            "--kind",
            "sales",
            "--from",
            "2026-01-10",
            "--config",
            klk.to_str().unwrap(),
        ],
    )
    .expect_code(1);
    assert!(out.stdout.contains("tienda_01"), "{out:?}");
    assert!(out.stdout.contains("failed"), "{out:?}");
    assert!(out.stdout.contains("fluxion show 2"), "{out:?}");

    let show = run(sb.fluxion_db(), &["show", "2", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(show["status"], "failed", "{show}");
    assert_eq!(show["error_phase"], "extract", "{show}");
    let stores = show["tiendas_detail"].as_array().unwrap();
    assert_eq!(stores.len(), 1, "{show}");
    assert_eq!(stores[0]["tienda_id"], "tienda_01");
    assert_eq!(stores[0]["status"], "failed");
    assert_eq!(stores[0]["error_phase"], "extract");

    let out = run(sb.fluxion_db(), &["show", "2"]).expect_code(0);
    assert!(out.stdout.contains("Error: extract/"), "{out:?}");

    let failed = run(
        sb.fluxion_db(),
        &["history", "--json", "--status", "failed"],
    )
    .expect_code(0)
    .json();
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["id"], 2);
    assert_eq!(failed[0]["tiendas_fallidas"], 1);
    let page = run(
        sb.fluxion_db(),
        &["history", "--json", "--limit", "1", "--offset", "1"],
    )
    .expect_code(0)
    .json();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], 1, "newest first: {page}");

    let stats = run(sb.fluxion_db(), &["stats", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(
        keys(&stats),
        [
            "avg_duration_seconds",
            "errors_by_category",
            "errors_by_phase",
            "failed",
            "partial",
            "success_rate",
            "successful",
            "tiendas_con_mas_fallos",
            "total_duplicates",
            "total_executions",
            "total_records_loaded",
        ]
    );
    assert_eq!(stats["total_executions"], 2, "{stats}");
    assert_eq!(stats["successful"], 1, "{stats}");
    assert_eq!(stats["failed"], 1, "{stats}");
    assert_eq!(stats["success_rate"], 50.0, "{stats}");
    assert_eq!(stats["errors_by_phase"]["extract"], 1, "{stats}");
    let worst = &stats["tiendas_con_mas_fallos"][0];
    assert_eq!(
        keys(worst),
        [
            "error_mas_comun",
            "fallos",
            "tienda_id",
            "tienda_nombre",
            "total_ejecuciones"
        ]
    );
    assert_eq!(worst["tienda_id"], "tienda_01");
    assert_eq!(worst["tienda_nombre"], "PERIFERICO");
    assert_eq!(worst["fallos"], 1);

    let inventory = run(
        sb.fluxion_db(),
        &["stats", "--json", "--kind", "inventory", "--days", "90"],
    )
    .expect_code(0)
    .json();
    assert_eq!(inventory["total_executions"], 0, "{inventory}");
    let out = run(sb.fluxion_db(), &["stats"]).expect_code(0);
    assert!(out.stdout.contains("tienda_01"), "{out:?}");
}

/// `history prune` deletes the executions started before the retention period and keeps the
/// rest; `--keep-days` overrides `[destination] retention_days`.
#[tokio::test]
async fn history_prune_deletes_only_old_executions() {
    let sb = Sandbox::new();
    let config = sb.write(
        "retention.toml",
        &format!(
            "[destination]\nurl = \"{}\"\nretention_days = 30\n",
            sb.db_url()
        ),
    );
    let config = config.to_str().unwrap();
    for _ in 0..3 {
        let (code, _) = run_json(&sb, &[], config, &["--kind", "inventory"]);
        assert_eq!(code, 0);
    }
    // Age execution 1 by six years and execution 2 by 20 days (same stored format).
    let pool = sqlx::SqlitePool::connect(&sb.db_url()).await.unwrap();
    sqlx::query(
        "UPDATE etl_executions SET started_at = '2020' || substr(started_at, 5) WHERE id = 1",
    )
    .execute(&pool)
    .await
    .unwrap();
    let twenty_days_ago = (Utc::now() - Duration::days(20))
        .format("%Y-%m-%d")
        .to_string();
    sqlx::query("UPDATE etl_executions SET started_at = ?1 || substr(started_at, 11) WHERE id = 2")
        .bind(&twenty_days_ago)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let ids = |sb: &Sandbox| -> Vec<i64> {
        let history = run(sb.fluxion(), &["history", "--json", "--config", config])
            .expect_code(0)
            .json();
        let mut ids: Vec<i64> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };

    let out = run(sb.fluxion(), &["history", "prune", "--config", config]).expect_code(0);
    assert!(
        out.stdout
            .contains("Deleted 1 execution started more than 30 days ago"),
        "{out:?}"
    );
    assert_eq!(ids(&sb), vec![2, 3]);

    let out = run(
        sb.fluxion(),
        &[
            "history",
            "prune",
            "--keep-days",
            "7",
            "--json",
            "--config",
            config,
        ],
    )
    .expect_code(0);
    assert_eq!(
        out.json(),
        serde_json::json!({ "deleted": 1, "keep_days": 7 })
    );
    assert_eq!(ids(&sb), vec![3]);

    let out = run(sb.fluxion(), &["history", "prune", "--keep-days", "0"]);
    assert_eq!(out.code, 64, "{out:?}");
}
