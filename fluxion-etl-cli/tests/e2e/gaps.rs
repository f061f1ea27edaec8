//! `gaps` and `recover`: a failed run leaves a failed window, `gaps --json` reports it (and the
//! coverage as of a fixed instant), `recover --dry-run` plans it, `recover` runs it as a
//! recovery execution.

use crate::common::{run, Sandbox};

/// The dead-KLK configuration plus a coverage start.
fn config(sb: &Sandbox) -> String {
    let base = std::fs::read_to_string(sb.dead_klk_config()).unwrap();
    let path = sb.write(
        "gaps.toml",
        &format!("{base}\n[gaps]\ncoverage_start = \"2025-11-15\"\n"),
    );
    path.to_str().unwrap().to_owned()
}

#[test]
fn gaps_json_reports_coverage_and_failed_windows_and_recover_plans_and_runs_them() {
    let sb = Sandbox::new();
    let config = config(&sb);
    let config = config.as_str();

    // Nothing has run: as of 2025-11-20 10:30 in the stores, five days are missing.
    let report = run(
        sb.fluxion(),
        &[
            "gaps",
            "--json",
            "--config",
            config,
            "--at",
            "2025-11-20T14:30:00Z",
        ],
    )
    .expect_code(0)
    .json();
    assert_eq!(report["etl_tipo"], "ventas");
    assert_eq!(report["fecha_referencia"], "2025-11-20");
    let store = &report["tiendas"][0];
    assert_eq!(store["ubicacion_id"], "tienda_01");
    assert_eq!(store["total_registros"], 0);
    assert_eq!(store["dias_atraso"], 5);
    assert_eq!(store["dias_esperados"], 5);
    assert_eq!(store["completitud_pct"], 0.0);
    assert_eq!(store["estado"], "actualizar");
    assert_eq!(store["tiene_gaps_historicos"], false);
    assert_eq!(
        store["recomendaciones"]["actualizar"]["fecha_inicio"],
        "2025-11-15"
    );
    assert_eq!(
        store["recomendaciones"]["actualizar"]["fecha_fin"],
        "2025-11-19"
    );
    assert_eq!(store["dias_faltantes"][0]["dias"], 5);
    // 24 hours back from 10:30: Wednesday 10:00–21:59 and Thursday 06:00–09:59 are empty.
    assert_eq!(store["horas_sin_ventas"].as_array().unwrap().len(), 16);
    assert_eq!(report["resumen"]["total_tiendas"], 1);

    // The KLK server is down: the day fails.
    run(
        sb.fluxion(),
        &[
            "run",
            "--kind",
            "sales",
            "--from",
            "2025-11-17",
            "--config",
            config,
        ],
    )
    .expect_code(1);

    let report = run(sb.fluxion(), &["gaps", "--json", "--config", config])
        .expect_code(0)
        .json();
    let failed = report["tiendas"][0]["fallos_por_recuperar"]
        .as_array()
        .unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0]["gap_id"], 1);
    assert_eq!(failed[0]["fecha_desde"], "2025-11-17");
    assert_eq!(failed[0]["fecha_hasta"], "2025-11-17");
    assert_eq!(failed[0]["error_fase"], "extract");
    assert_eq!(failed[0]["intentos"], 1);
    assert_eq!(report["resumen"]["fallos_por_recuperar"], 1);

    // The table for people.
    let out = run(sb.fluxion(), &["gaps", "--config", config]).expect_code(0);
    assert!(out.stdout.contains("tienda_01"), "{out:?}");
    assert!(
        out.stdout.contains("Failed windows not yet recovered"),
        "{out:?}"
    );
    assert!(out.stdout.contains("2025-11-17"), "{out:?}");

    // The plan, as JSON and as text; nothing runs.
    let plan = run(
        sb.fluxion(),
        &["recover", "--dry-run", "--json", "--config", config],
    )
    .expect_code(0)
    .json();
    assert_eq!(plan["behavior"], "failed");
    let items = plan["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{plan}");
    assert_eq!(items[0]["store_id"], "tienda_01");
    assert_eq!(items[0]["reason"], "failed");
    assert_eq!(items[0]["recovered_gap_id"], 1);
    assert_eq!(items[0]["window"]["from"], "2025-11-17T00:00:00");
    let out = run(
        sb.fluxion(),
        &[
            "recover",
            "--dry-run",
            "--behavior",
            "all",
            "--max",
            "2",
            "--config",
            config,
        ],
    )
    .expect_code(0);
    assert!(out.stdout.contains("Dry run: nothing was run."), "{out:?}");
    assert!(out.stdout.contains("more beyond --max"), "{out:?}");
    let history = run(sb.fluxion_db(), &["history", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(
        history.as_array().unwrap().len(),
        1,
        "a dry run records nothing"
    );

    // Run it: the server is still down, so the recovery fails (exit 1) and is recorded as one.
    let out = run(sb.fluxion(), &["recover", "--json", "--config", config]).expect_code(1);
    let report = out.json();
    assert_eq!(report["outcomes"][0]["status"], "failed");
    let id = report["outcomes"][0]["execution_id"].as_i64().unwrap();
    let view = run(sb.fluxion_db(), &["show", &id.to_string(), "--json"])
        .expect_code(0)
        .json();
    assert_eq!(view["is_recovery"], true);
    assert_eq!(view["recovered_gap_id"], 1);
    assert_eq!(view["triggered_by"], "recovery");
    assert_eq!(view["mode"], "recovery");

    // Still one gap, now with two attempts.
    let report = run(sb.fluxion(), &["gaps", "--json", "--config", config])
        .expect_code(0)
        .json();
    assert_eq!(
        report["tiendas"][0]["fallos_por_recuperar"][0]["intentos"],
        2
    );
}

#[test]
fn bad_gap_and_recover_arguments_are_usage_errors() {
    let sb = Sandbox::new();
    let config = config(&sb);
    let out = run(
        sb.fluxion(),
        &["gaps", "--store", "tienda_99", "--config", &config],
    )
    .expect_code(64);
    assert!(out.stderr.contains("tienda_99"), "{out:?}");
    let out = run(
        sb.fluxion(),
        &[
            "recover",
            "--from",
            "2025-11-20",
            "--to",
            "2025-11-18",
            "--dry-run",
            "--config",
            &config,
        ],
    )
    .expect_code(64);
    assert!(out.stderr.contains("before"), "{out:?}");
    run(
        sb.fluxion(),
        &["recover", "--behavior", "sometimes", "--config", &config],
    )
    .expect_code(64);
}
