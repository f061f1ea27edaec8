//! The router without a socket (`tower::ServiceExt::oneshot`): every endpoint's JSON against the
//! seeds' examples, the auth matrix on every route, input validation, the OpenAPI document.
//!
//! Data comes from real runs: the KLK simulator in-process (the demo's fleet, two stores, one of
//! which answers 401) into an embedded SQLite file.

// Test helpers outside #[test] functions panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use fluxion_etl_core::model::store_yesterday;
use fluxion_etl_core::scheduler::Scheduler;
use fluxion_etl_core::Fluxion;
use fluxion_etl_server::auth::Auth;
use fluxion_etl_server::logs::LogHub;
use fluxion_etl_server::{app, Access, AppState, ServerOptions, ROUTES};
use fluxion_etl_sim::demo::{Demo, DemoOptions};
use fluxion_etl_sim::klk::{Fault, FaultRule, KlkSimConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

const ADMIN: &str = "admin-token-for-tests";
const VIEWER: &str = "viewer-token-for-tests";

struct Harness {
    app: Router,
    state: AppState,
    demo: Demo,
    _dir: tempfile::TempDir,
    /// This test's metrics recorder, on this test's thread: the tests of this binary run in
    /// parallel, each on its own current-thread runtime, so `/metrics` shows exactly the runs
    /// of the test that asks (a process-wide recorder would add up all of them).
    _metrics: metrics::LocalRecorderGuard<'static>,
}

async fn harness() -> Harness {
    harness_with(|_| {}).await
}

/// The harness with a change to the demo's configuration.
async fn harness_with(adjust: impl FnOnce(&mut fluxion_etl_core::config::Config)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut klk = KlkSimConfig {
        lines_per_day: (40, 60),
        articles: 200,
        ..KlkSimConfig::default()
    };
    let failing = klk
        .stores
        .iter()
        .find(|b| b.store_id == "tienda_08")
        .unwrap()
        .branch
        .clone();
    klk.faults = vec![FaultRule::new(Fault::Status { code: 401 }).for_branch(failing)];
    let mut options = DemoOptions::new(dir.path().join("api.db"));
    options.stores = Some(vec!["tienda_01".into(), "tienda_08".into()]);
    options.klk = klk;
    let demo = Demo::start(options).await.unwrap();
    let mut config = demo.config().clone();
    adjust(&mut config);
    // Leaked: the guard must borrow it for the whole test, and a test process is short-lived.
    let recorder: &'static _ = Box::leak(Box::new(fluxion_etl_server::metrics::recorder()));
    let local = metrics::set_default_local_recorder(recorder);
    let fluxion = Fluxion::from_config(config).await.unwrap();
    // The scheduler's state and settings are served; its loop does not run here.
    let scheduler = Scheduler::new(fluxion.clone());
    let state = AppState::new(
        Arc::new(fluxion),
        Auth::from_lists(ADMIN, VIEWER),
        LogHub::new(),
        ServerOptions {
            body_limit: 4096,
            ..ServerOptions::default()
        },
    )
    .with_scheduler(scheduler, false)
    .with_metrics(recorder.handle());
    Harness {
        app: app(state.clone()),
        state,
        demo,
        _dir: dir,
        _metrics: local,
    }
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let is_stream = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    if is_stream {
        return (status, Value::Null);
    }
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

/// `actual` has every key of `seed` with a value of the same JSON type (null allowed where the
/// seed shows a value: the seed's example is a failed run, ours may not be); arrays are compared
/// element-wise against the seed's first element.
fn same_shape(seed: &Value, actual: &Value, path: &str) {
    match (seed, actual) {
        (_, Value::Null) | (Value::Null, _) => {}
        (Value::Object(s), Value::Object(a)) => {
            for (k, v) in s {
                let Some(av) = a.get(k) else {
                    panic!(
                        "{path}.{k} is missing; got keys {:?}",
                        a.keys().collect::<Vec<_>>()
                    );
                };
                same_shape(v, av, &format!("{path}.{k}"));
            }
        }
        (Value::Array(s), Value::Array(a)) => {
            if let Some(first) = s.first() {
                for (i, item) in a.iter().enumerate() {
                    same_shape(first, item, &format!("{path}[{i}]"));
                }
            }
        }
        (Value::Number(s), Value::Number(a)) => {
            if s.is_i64() {
                assert!(
                    a.is_i64() || a.is_u64(),
                    "{path}: seed has an integer, got {a}"
                );
            }
        }
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        (s, a) => panic!("{path}: seed has {s}, got {a}"),
    }
}

fn seed_history_entry() -> Value {
    json!({
        "id": 123, "etl_name": "ventas", "etl_type": "scheduled",
        "started_at": "2026-01-26T10:00:00Z", "finished_at": "2026-01-26T10:00:45Z",
        "duration_seconds": 45.2, "status": "partial", "records_extracted": 12500,
        "records_loaded": 12480, "duplicates_skipped": 20, "tiendas_count": 19,
        "tiendas_exitosas": 18, "tiendas_fallidas": 1, "error_phase": "extract",
        "error_category": "vpn_timeout", "triggered_by": "eventbridge"
    })
}

fn seed_execution() -> Value {
    json!({
        "id": 123, "etl_name": "ventas", "etl_type": "scheduled",
        "started_at": "2026-01-26T10:00:00Z", "finished_at": "2026-01-26T10:00:45Z",
        "duration_seconds": 45.2, "fecha_desde": "2026-01-26T00:00:00Z",
        "fecha_hasta": "2026-01-26T23:59:59Z", "status": "partial",
        "records_extracted": 12500, "records_loaded": 12480, "duplicates_skipped": 20,
        "gaps_recovered": 0, "extract_duration_seconds": 30.5,
        "transform_duration_seconds": 5.2, "load_duration_seconds": 9.5,
        "error_phase": "extract", "error_category": "vpn_timeout", "error_source": "klk_api",
        "error_message": "Connection timeout after 90s to 10.8.0.15:80",
        "error_detail": "Full traceback...", "triggered_by": "eventbridge",
        "source_system": "klk", "is_recovery": false,
        "tiendas_detail": [{
            "tienda_id": "tienda_01", "tienda_nombre": "PERIFERICO", "source_system": "klk",
            "status": "success", "duration_seconds": 2.3, "records_extracted": 1250,
            "records_loaded": 1248, "duplicates_skipped": 2, "error_phase": null,
            "error_category": null, "error_message": null
        }]
    })
}

fn seed_stats() -> Value {
    json!({
        "total_executions": 168, "successful": 145, "partial": 15, "failed": 8,
        "success_rate": 86.31, "avg_duration_seconds": 42.5, "total_records_loaded": 2150000,
        "total_duplicates": 1250,
        "errors_by_phase": {}, "errors_by_category": {},
        "tiendas_con_mas_fallos": [{
            "tienda_id": "tienda_08", "tienda_nombre": "VALLE FRIO", "total_ejecuciones": 48,
            "fallos": 8, "error_mas_comun": "vpn_timeout"
        }]
    })
}

/// Seed 000's gaps table and counters: store, name, records, last date, days behind,
/// completeness, badge, the "Actualizar"/"Recuperar" recommendations, historic gaps.
fn seed_gaps() -> Value {
    json!({
        "resumen": { "total_tiendas": 16, "desactualizadas": 16, "con_gaps_historicos": 3 },
        "tiendas": [{
            "ubicacion_id": "tienda_01", "ubicacion_nombre": "PERIFERICO",
            "total_registros": 9000000, "ultima_fecha": "2025-10-17", "dias_atraso": 5,
            "completitud_pct": 97.67, "estado": "actualizar",
            "tiene_gaps_historicos": true, "recomendaciones": {}
        }]
    })
}

/// Seed 000's scheduler panel: enabled, running, next run, last run, pending retries, the last
/// daily summary, and the settings of `PUT /api/etl/scheduler/config`.
fn seed_scheduler_status() -> Value {
    json!({
        "enabled": true, "is_running": false, "next_run": "2025-10-23T09:00:00Z",
        "last_run": null, "pending_retries": 0, "daily_summary": null,
        "config": {
            "execution_hour": 5, "execution_minute": 0, "max_retries": 3,
            "retry_interval_minutes": 20
        }
    })
}

fn seed_run_response() -> Value {
    json!({
        "message": "ETL execution started", "execution_id": 124, "etl_name": "ventas",
        "tienda_ids": ["tienda_01", "tienda_08"], "triggered_by": "fluxion_admin",
        "started_at": "2026-01-28T14:30:00Z"
    })
}

/// Polls the execution until it is no longer running.
async fn wait_finished(app: &Router, id: i64) -> Value {
    for _ in 0..600 {
        let (status, v) = call(
            app,
            "GET",
            &format!("/api/etl/history/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        if v["status"] != "running" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("execution {id} did not finish");
}

fn yesterday_body() -> Value {
    let y = store_yesterday();
    json!({
        "etl_name": "ventas",
        "tienda_ids": ["tienda_01", "tienda_08"],
        "fecha_inicio": format!("{y} 00:00:00"),
        "fecha_fin": format!("{y} 23:59:59"),
    })
}

#[tokio::test]
async fn every_endpoint_answers_the_seeds_json() {
    let h = harness().await;
    let app = &h.app;

    // Nothing yet: status is idle, the history empty.
    let (s, idle) = call(app, "GET", "/api/etl/ventas/status", Some(VIEWER), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(idle["status"], "idle");

    // POST /api/etl/run (seed 003): answers at once with the execution id.
    let (s, started) = call(
        app,
        "POST",
        "/api/etl/run",
        Some(ADMIN),
        Some(yesterday_body()),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    same_shape(&seed_run_response(), &started, "run");
    assert_eq!(started["triggered_by"], "fluxion_admin");
    assert_eq!(started["tienda_ids"], json!(["tienda_01", "tienda_08"]));
    let id = started["execution_id"].as_i64().unwrap();

    let detail = wait_finished(app, id).await;
    same_shape(&seed_execution(), &detail, "history/{id}");
    assert_eq!(detail["status"], "partial");
    assert_eq!(detail["triggered_by"], "fluxion_admin");
    assert_eq!(detail["error_category"], "api_auth");
    assert_eq!(detail["tiendas_detail"].as_array().unwrap().len(), 2);
    let ok = detail["tiendas_detail"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["tienda_id"] == "tienda_01")
        .unwrap();
    assert_eq!(ok["status"], "success");
    assert!(ok["records_loaded"].as_i64().unwrap() > 0);

    // GET /api/etl/history (seed 003).
    let (s, list) = call(
        app,
        "GET",
        "/api/etl/history?etl_name=ventas&limit=10",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    same_shape(
        &json!([seed_history_entry()]),
        &Value::Array(list.clone()),
        "history",
    );
    assert_eq!(list[0]["tiendas_count"], 2);
    assert_eq!(list[0]["tiendas_fallidas"], 1);
    let (_, filtered) = call(
        app,
        "GET",
        "/api/etl/history?triggered_by=cli",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(filtered, json!([]));
    let (_, paged) = call(app, "GET", "/api/etl/history?offset=1", Some(ADMIN), None).await;
    assert_eq!(paged, json!([]));
    // Every filter selects it or leaves it out.
    let today = chrono::Utc::now().date_naive();
    let (before, after) = (today.pred_opt().unwrap(), today.succ_opt().unwrap());
    for (query, expected) in [
        ("status=partial".to_owned(), 1),
        ("status=success".to_owned(), 0),
        ("etl_name=inventario".to_owned(), 0),
        ("triggered_by=fluxion_admin".to_owned(), 1),
        (format!("fecha_desde={before}&fecha_hasta={after}"), 1),
        ("fecha_hasta=2020-01-01".to_owned(), 0),
        (format!("fecha_desde={after}"), 0),
        ("limit=1&offset=0".to_owned(), 1),
    ] {
        let (s, v) = call(
            app,
            "GET",
            &format!("/api/etl/history?{query}"),
            Some(ADMIN),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{query}: {v}");
        assert_eq!(v.as_array().unwrap().len(), expected, "{query}: {v}");
    }

    // GET /api/etl/stats (seed 003).
    let (s, stats) = call(app, "GET", "/api/etl/stats?dias=7", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::OK);
    same_shape(&seed_stats(), &stats, "stats");
    assert_eq!(stats["partial"], 1);
    assert_eq!(stats["errors_by_category"]["api_auth"], 1);
    assert_eq!(stats["tiendas_con_mas_fallos"][0]["tienda_id"], "tienda_08");

    // GET /api/etl/ventas/status: the run, finished.
    let (s, status) = call(app, "GET", "/api/etl/ventas/status", Some(VIEWER), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(status["execution_id"], id);
    assert_eq!(status["status"], "partial");
    assert_eq!(status["running"], false);
    assert_eq!(status["tiendas_exitosas"], 1);
    assert_eq!(status["tiendas_fallidas"], 1);
    assert_eq!(status["tiendas_count"], 2);

    // GET /api/ventas/gaps (seed 000's table): tienda_01 has yesterday, tienda_08 nothing.
    let (s, gaps) = call(app, "GET", "/api/ventas/gaps", Some(VIEWER), None).await;
    assert_eq!(s, StatusCode::OK, "{gaps}");
    same_shape(&seed_gaps(), &gaps, "gaps");
    let t01 = &gaps["tiendas"][0];
    assert_eq!(t01["ubicacion_id"], "tienda_01");
    assert_eq!(t01["ultima_fecha"], store_yesterday().to_string());
    assert_eq!(t01["dias_atraso"], 0);
    assert!(t01["total_registros"].as_i64().unwrap() > 0);
    assert_eq!(gaps["tiendas"][1]["total_registros"], 0);
    let (s, one) = call(
        app,
        "GET",
        "/api/ventas/gaps?ubicacion_id=tienda_08",
        Some(VIEWER),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["tiendas"].as_array().unwrap().len(), 1);
    assert_eq!(one["tiendas"][0]["ubicacion_id"], "tienda_08");

    // GET /api/etl/ventas/logs: a page (no tracing layer here, so no lines).
    let (s, logs) = call(
        app,
        "GET",
        "/api/etl/ventas/logs?since=0",
        Some(VIEWER),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for key in [
        "execution_id",
        "status",
        "running",
        "logs",
        "total",
        "next_since",
    ] {
        assert!(logs.get(key).is_some(), "logs.{key} missing: {logs}");
    }

    // POST /api/etl/sync/ventas (seed 000) with one store: same answer as /run.
    let y = store_yesterday();
    let (s, sync) = call(
        app,
        "POST",
        "/api/etl/sync/ventas",
        Some(ADMIN),
        Some(json!({ "ubicacion_id": "tienda_01", "fecha_inicio": y.to_string(), "fecha_fin": y.to_string() })),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{sync}");
    same_shape(&seed_run_response(), &sync, "sync/ventas");
    assert_eq!(sync["tienda_ids"], json!(["tienda_01"]));
    let again = wait_finished(app, sync["execution_id"].as_i64().unwrap()).await;
    assert_eq!(again["status"], "success");
    // The same day again: nothing new, everything a duplicate.
    assert_eq!(again["records_loaded"], 0);
    assert!(again["duplicates_skipped"].as_i64().unwrap() > 0);

    // /metrics counts both runs once finished.
    let mut text = String::new();
    for _ in 0..100 {
        let (s, m) = call(app, "GET", "/metrics", Some(VIEWER), None).await;
        assert_eq!(s, StatusCode::OK);
        text = m.as_str().unwrap().to_owned();
        if text.contains("status=\"success\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        text.contains("fluxion_runs_total{etl_name=\"ventas\",status=\"partial\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("fluxion_runs_total{etl_name=\"ventas\",status=\"success\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("fluxion_store_errors_total{phase=\"extract\",category=\"api_auth\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "fluxion_last_success_timestamp_seconds{etl_name=\"ventas\",store=\"tienda_01\"}"
        ),
        "{text}"
    );
    assert!(!text.contains("store=\"tienda_08\""), "{text}");
    // The rows are the two runs' own figures, as their executions recorded them: the library
    // counted them while it worked, nothing was read back.
    let sum = |field: &str| detail[field].as_i64().unwrap() + again[field].as_i64().unwrap();
    for (kind, field) in [
        ("extracted", "records_extracted"),
        ("loaded", "records_loaded"),
        ("duplicates", "duplicates_skipped"),
    ] {
        let line = format!(
            "fluxion_rows_total{{etl_name=\"ventas\",kind=\"{kind}\"}} {}\n",
            sum(field)
        );
        assert!(text.contains(&line), "{line}{text}");
    }
    // One phase observation per finished store: two in the first run, one in the second.
    assert!(
        text.contains(
            "fluxion_phase_duration_seconds_count{etl_name=\"ventas\",phase=\"load\"} 3\n"
        ),
        "{text}"
    );
    assert!(text.contains("fluxion_runs_active 0\n"), "{text}");
    // Every sample line is `name{labels} value` of a declared metric.
    let declared: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap();
        assert!(
            declared.iter().any(|d| name == *d
                || name
                    .strip_prefix(d)
                    .is_some_and(|s| ["_sum", "_count", "_bucket"].contains(&s))),
            "{line}"
        );
    }
}

#[tokio::test]
async fn auth_matrix_on_every_route() {
    let h = harness().await;
    for route in ROUTES {
        let path = route.path.replace("{id}", "999");
        // Admin calls of the run endpoints carry an unreadable date, so they start nothing.
        let body = (route.method != "GET").then(|| json!({ "fecha_inicio": "not a date" }));
        let (none, _) = call(&h.app, route.method, &path, None, body.clone()).await;
        let (viewer, _) = call(&h.app, route.method, &path, Some(VIEWER), body.clone()).await;
        let (admin, admin_body) =
            call(&h.app, route.method, &path, Some(ADMIN), body.clone()).await;
        let (wrong, _) = call(
            &h.app,
            route.method,
            &path,
            Some("not-a-token"),
            body.clone(),
        )
        .await;
        let what = format!("{} {}", route.method, route.path);
        match route.access {
            Access::Public => {
                assert!(![401, 403].contains(&none.as_u16()), "{what}: {none}");
            }
            Access::Viewer => {
                assert_eq!(none, StatusCode::UNAUTHORIZED, "{what}");
                assert_eq!(wrong, StatusCode::UNAUTHORIZED, "{what}");
                assert!(viewer.is_success(), "{what}: viewer got {viewer}");
                assert!(admin.is_success(), "{what}: admin got {admin}");
            }
            Access::Admin => {
                assert_eq!(none, StatusCode::UNAUTHORIZED, "{what}");
                assert_eq!(wrong, StatusCode::UNAUTHORIZED, "{what}");
                assert_eq!(viewer, StatusCode::FORBIDDEN, "{what}");
                assert!(
                    ![401, 403].contains(&admin.as_u16()),
                    "{what}: admin got {admin}"
                );
            }
        }
        // The route exists: a 404 is the handler's ("no execution 999"), never "no route".
        assert!(
            !admin_body.to_string().contains("no route"),
            "{what} is not routed: {admin_body}"
        );
    }
    // The stream also takes the token as a query parameter (EventSource cannot send headers).
    let (s, _) = call(
        &h.app,
        "GET",
        &format!("/api/etl/ventas/logs/stream?access_token={VIEWER}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &h.app,
        "GET",
        &format!("/api/etl/ventas/logs?access_token={VIEWER}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "only the stream takes a query token"
    );
    let (s, body) = call(&h.app, "GET", "/api/etl/nothing", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn bad_input_gets_a_json_error_that_says_what_is_wrong() {
    let h = harness().await;
    let y = store_yesterday();
    let cases: Vec<(&str, &str, Option<Value>, u16, &str)> = vec![
        (
            "GET",
            "/api/etl/history?limit=500",
            None,
            422,
            "limit must be between 1 and 200",
        ),
        ("GET", "/api/etl/history?limit=0", None, 422, "limit"),
        (
            "GET",
            "/api/etl/history?limit=ten",
            None,
            400,
            "limit must be a whole number",
        ),
        ("GET", "/api/etl/history?offset=-1", None, 422, "offset"),
        (
            "GET",
            "/api/etl/history?fecha_desde=2026-13-01",
            None,
            400,
            "fecha_desde must be a date",
        ),
        (
            "GET",
            "/api/etl/history?fecha_desde=2026-01-10&fecha_hasta=2026-01-01",
            None,
            422,
            "after fecha_hasta",
        ),
        (
            "GET",
            "/api/etl/history?status=done",
            None,
            422,
            "status must be one of",
        ),
        (
            "GET",
            "/api/etl/history?etl_name=compras",
            None,
            422,
            "etl_name must be",
        ),
        (
            "GET",
            "/api/etl/history?triggered_by=cron",
            None,
            422,
            "triggered_by must be",
        ),
        ("GET", "/api/etl/history/abc", None, 400, "must be a number"),
        (
            "GET",
            "/api/etl/history/424242",
            None,
            404,
            "no execution 424242",
        ),
        (
            "GET",
            "/api/etl/stats?dias=91",
            None,
            422,
            "dias must be between 1 and 90",
        ),
        ("GET", "/api/etl/stats?dias=x", None, 400, "dias"),
        ("GET", "/api/etl/ventas/logs?since=-5", None, 422, "since"),
        (
            "POST",
            "/api/etl/run",
            Some(json!({ "etl_name": "ventas" })),
            422,
            "fecha_inicio and fecha_fin",
        ),
        (
            "POST",
            "/api/etl/run",
            Some(json!({ "fecha_inicio": "25/01/2026", "fecha_fin": "2026-01-25" })),
            400,
            "fecha_inicio must be",
        ),
        (
            "POST",
            "/api/etl/run",
            Some(json!({ "fecha_inicio": "2026-01-25", "fecha_fin": "2026-01-20" })),
            422,
            "must be before fecha_fin",
        ),
        (
            "POST",
            "/api/etl/run",
            Some(json!({ "fecha_inicio": "2999-01-01", "fecha_fin": "2999-01-02" })),
            422,
            "in the future",
        ),
        (
            "POST",
            "/api/etl/run",
            Some(
                json!({ "tienda_ids": ["tienda_99"], "fecha_inicio": y.to_string(), "fecha_fin": y.to_string() }),
            ),
            422,
            "unknown store `tienda_99`",
        ),
        (
            "POST",
            "/api/etl/run",
            Some(json!({ "tienda_ids": "tienda_01" })),
            422,
            "tienda_ids",
        ),
        (
            "POST",
            "/api/etl/sync/ventas",
            Some(json!({ "etl_name": "inventario" })),
            422,
            "runs sales",
        ),
    ];
    for (method, path, body, code, needle) in cases {
        let (s, v) = call(&h.app, method, path, Some(ADMIN), body).await;
        assert_eq!(s.as_u16(), code, "{method} {path}: {v}");
        assert!(v["error"].is_string(), "{method} {path}: {v}");
        let detail = v["detail"].as_str().unwrap();
        assert!(
            detail.contains(needle),
            "{method} {path}: `{detail}` does not say `{needle}`"
        );
    }
    // Malformed JSON, a body that is too large, no JSON content type.
    let req = |body: Body, json: bool| {
        let mut r =
            Request::post("/api/etl/run").header("authorization", format!("Bearer {ADMIN}"));
        if json {
            r = r.header("content-type", "application/json");
        }
        r.body(body).unwrap()
    };
    let res = h
        .app
        .clone()
        .oneshot(req(Body::from("{\"etl_name\": "), true))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = h
        .app
        .clone()
        .oneshot(req(
            Body::from(format!("{{\"x\": \"{}\"}}", "a".repeat(10_000))),
            true,
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = h
        .app
        .clone()
        .oneshot(req(Body::from("{}"), false))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The manual sync takes no body at all (yesterday), but a body that is not JSON is refused.
    let sync = |body: &'static str, ct: Option<&'static str>| {
        let mut r = Request::post("/api/etl/sync/ventas")
            .header("authorization", format!("Bearer {ADMIN}"));
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.body(Body::from(body)).unwrap()
    };
    let res = h
        .app
        .clone()
        .oneshot(sync("tienda_01", Some("text/plain")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = h
        .app
        .clone()
        .oneshot(sync("{\"fecha_inicio\": ", Some("application/json")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = h
        .app
        .clone()
        .oneshot(sync("{\"fecha_inicio\": 5}", Some("application/json")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing was started by any of it.
    let (_, list) = call(&h.app, "GET", "/api/etl/history", Some(ADMIN), None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes() {
    let h = harness().await;
    let (s, doc) = call(&h.app, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.push((method.to_uppercase(), path.clone()));
            assert!(op["summary"].is_string());
            assert!(
                !op.to_string().contains("x-undocumented"),
                "{method} {path} has no details"
            );
            assert!(op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with('2')));
        }
    }
    let mut routes: Vec<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);
    // Every reference resolves.
    let text = doc.to_string();
    for piece in text.split("#/components/schemas/").skip(1) {
        let name: String = piece.chars().take_while(|c| c.is_alphanumeric()).collect();
        assert!(
            doc["components"]["schemas"].get(&name).is_some(),
            "dangling $ref {name}"
        );
    }
}

#[tokio::test]
async fn scheduler_endpoints_status_settings_and_trigger() {
    let h = harness().await;
    let app = &h.app;
    let (s, status) = call(app, "GET", "/api/etl/scheduler/status", Some(VIEWER), None).await;
    assert_eq!(s, StatusCode::OK, "{status}");
    same_shape(&seed_scheduler_status(), &status, "scheduler/status");
    assert_eq!(status["enabled"], true);
    assert_eq!(status["config"]["execution_hour"], 5);

    // The seed's curl example.
    let body = json!({
        "execution_hour": 6, "execution_minute": 30,
        "retry_interval_minutes": 15, "max_retries": 5
    });
    let (s, updated) = call(
        app,
        "PUT",
        "/api/etl/scheduler/config",
        Some(ADMIN),
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["config"]["execution_hour"], 6);
    assert_eq!(updated["config"]["retry_interval_minutes"], 15);
    let (_, status) = call(app, "GET", "/api/etl/scheduler/status", Some(VIEWER), None).await;
    assert_eq!(status["config"]["execution_minute"], 30);
    assert_eq!(status["config"]["max_retries"], 5);

    // Out of range, unknown, empty, wrong type: 422 naming the field, nothing stored.
    for (body, needle) in [
        (json!({ "execution_hour": 24 }), "execution_hour"),
        (json!({ "execution_minute": 60 }), "execution_minute"),
        (
            json!({ "retry_interval_minutes": 0 }),
            "retry_interval_minutes",
        ),
        (json!({ "execution_hour": -1 }), "execution_hour"),
        (json!({ "hora": 6 }), "unknown field `hora`"),
        (json!({}), "at least one of"),
    ] {
        let (s, v) = call(
            app,
            "PUT",
            "/api/etl/scheduler/config",
            Some(ADMIN),
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert!(
            v["detail"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    let (_, status) = call(app, "GET", "/api/etl/scheduler/status", Some(VIEWER), None).await;
    assert_eq!(status["config"]["execution_hour"], 6);

    // Disable / enable.
    let (s, off) = call(app, "POST", "/api/etl/scheduler/disable", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(off["enabled"], false);
    assert_eq!(off["next_run"], Value::Null);
    let (_, on) = call(app, "POST", "/api/etl/scheduler/enable", Some(ADMIN), None).await;
    assert_eq!(on["enabled"], true);

    // "Ejecutar Ahora": the daily run of yesterday, recorded as the scheduler's.
    let (s, job) = call(app, "POST", "/api/etl/scheduler/trigger", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["execution_id"]
        .as_i64()
        .expect("the trigger's execution id");
    let run = wait_finished(app, id).await;
    assert_eq!(run["triggered_by"], "scheduler");
    assert_eq!(run["etl_type"], "scheduled");
    assert_eq!(run["tiendas_detail"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fluxion_etl_core::config::Config::empty();
    config.destination.url = format!("sqlite://{}", dir.path().join("cors.db").display());
    let fluxion = Arc::new(Fluxion::from_config(config).await.unwrap());
    let preflight = |origin: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/api/etl/history")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = |res: &axum::response::Response| {
        res.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let with = app(AppState::new(
        fluxion.clone(),
        Auth::from_lists(ADMIN, VIEWER),
        LogHub::new(),
        ServerOptions {
            cors_origins: vec!["https://panel.example".into()],
            ..ServerOptions::default()
        },
    ));
    let res = with
        .clone()
        .oneshot(preflight("https://panel.example"))
        .await
        .unwrap();
    assert_eq!(allowed(&res).as_deref(), Some("https://panel.example"));
    let res = with
        .oneshot(preflight("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(allowed(&res), None);
    let without = app(AppState::new(
        fluxion,
        Auth::from_lists(ADMIN, VIEWER),
        LogHub::new(),
        ServerOptions::default(),
    ));
    let res = without
        .oneshot(preflight("https://panel.example"))
        .await
        .unwrap();
    assert_eq!(allowed(&res), None);
}

#[tokio::test]
async fn internal_errors_are_generic_and_readiness_fails_when_the_database_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fluxion_etl_core::config::Config::empty();
    config.destination.url = format!("sqlite://{}", dir.path().join("gone.db").display());
    let fluxion = Arc::new(Fluxion::from_config(config).await.unwrap());
    let app = app(AppState::new(
        fluxion.clone(),
        Auth::from_lists(ADMIN, VIEWER),
        LogHub::new(),
        ServerOptions::default(),
    ));
    let (s, _) = call(&app, "GET", "/readyz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    fluxion.destination().close().await;
    let (s, body) = call(&app, "GET", "/api/etl/history", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "internal");
    let text = body.to_string();
    assert!(
        !text.contains("gone.db") && !text.to_lowercase().contains("pool"),
        "{text}"
    );
    let (s, ready) = call(&app, "GET", "/readyz", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["database"], "unreachable");
}

#[tokio::test]
async fn a_sync_without_a_body_loads_yesterday_for_every_active_store() {
    let h = harness().await;
    let (s, started) = call(&h.app, "POST", "/api/etl/sync/ventas", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["tienda_ids"], json!(["tienda_01", "tienda_08"]));
    let run = wait_finished(&h.app, started["execution_id"].as_i64().unwrap()).await;
    let y = store_yesterday();
    // Caracas is UTC−4: the store-local day starts at 04:00 UTC.
    assert_eq!(run["fecha_desde"], format!("{y}T04:00:00Z"));
    assert_eq!(
        run["fecha_hasta"],
        format!("{}T04:00:00Z", y.succ_opt().unwrap())
    );
    assert_eq!(run["triggered_by"], "fluxion_admin");
}

#[tokio::test]
async fn a_second_trigger_while_the_daily_run_holds_its_stores_is_a_conflict() {
    let h = harness().await;
    let branch = KlkSimConfig::default()
        .stores
        .iter()
        .find(|b| b.store_id == "tienda_01")
        .unwrap()
        .branch
        .clone();
    // tienda_01 never answers: the first daily run stays in progress.
    h.demo
        .klk()
        .set_faults(vec![FaultRule::new(Fault::Hang).for_branch(branch)]);
    let (s, first) = call(
        &h.app,
        "POST",
        "/api/etl/scheduler/trigger",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{first}");
    let (s, second) = call(
        &h.app,
        "POST",
        "/api/etl/scheduler/trigger",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{second}");
    assert!(
        second["detail"]
            .as_str()
            .unwrap()
            .contains("already in progress"),
        "{second}"
    );
    // The status shows the scheduler's run in progress, with its store count.
    let (_, status) = call(&h.app, "GET", "/api/etl/ventas/status", Some(VIEWER), None).await;
    assert_eq!(status["execution_id"], first["execution_id"], "{status}");
    assert_eq!(status["running"], true);
    assert_eq!(status["triggered_by"], "scheduler");
    assert_eq!(status["tiendas_count"], 2);
}

#[tokio::test]
async fn no_response_carries_a_credential_of_the_configuration() {
    const SECRET: &str = "Sup3rS3cret";
    // Credentials in the KLK URL (a gateway's basic auth), and nothing listening there: the
    // connection errors quote the URL they failed on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let h = harness_with(|config| {
        let klk = config.klk.as_mut().unwrap();
        klk.base_url = format!("http://fluxion:{SECRET}@127.0.0.1:{port}");
        config.batch.retry_delay_ms = 1;
    })
    .await;
    let (s, started) = call(
        &h.app,
        "POST",
        "/api/etl/run",
        Some(ADMIN),
        Some(yesterday_body()),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    let id = started["execution_id"].as_i64().unwrap();
    let detail = wait_finished(&h.app, id).await;
    assert_eq!(detail["status"], "failed", "{detail}");
    let message = detail["tiendas_detail"][0]["error_message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("127.0.0.1"),
        "the message should quote the address: {message}"
    );
    let mut bodies = vec![detail.to_string()];
    for path in [
        "/api/etl/history".to_owned(),
        "/api/etl/stats".to_owned(),
        "/api/etl/ventas/status".to_owned(),
        format!("/api/etl/ventas/logs?execution_id={id}"),
        "/api/ventas/gaps".to_owned(),
        "/api/etl/scheduler/status".to_owned(),
        "/metrics".to_owned(),
    ] {
        let (s, body) = call(&h.app, "GET", &path, Some(ADMIN), None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        bodies.push(body.to_string());
    }
    for body in bodies {
        assert!(!body.contains(SECRET), "a credential leaked: {body}");
    }
}

/// Reads an SSE body until `needle` appears (or 10 s pass).
async fn read_until(
    stream: &mut (impl futures::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    text: &mut String,
    needle: &str,
) {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("`{needle}` never came; got:\n{text}"))
            .expect("the stream ended")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_stream_replays_after_since_then_follows_live_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fluxion_etl_core::config::Config::empty();
    config.destination.url = format!("sqlite://{}", dir.path().join("sse.db").display());
    let fluxion = Arc::new(Fluxion::from_config(config).await.unwrap());
    let hub = LogHub::new();
    let app = app(AppState::new(
        fluxion,
        Auth::from_lists(ADMIN, VIEWER),
        hub.clone(),
        ServerOptions::default(),
    ));
    hub.push(5, "info", "line one", None); // id 1
    hub.push(5, "info", "line two", None); // id 2
    let open = |uri: &str, last_event_id: Option<&str>| {
        let mut r = Request::get(uri).header("authorization", format!("Bearer {VIEWER}"));
        if let Some(id) = last_event_id {
            r = r.header("last-event-id", id);
        }
        r.body(Body::empty()).unwrap()
    };

    // Every execution's lines after `since`: the backlog of the latest one, then live ones.
    let res = app
        .clone()
        .oneshot(open("/api/etl/ventas/logs/stream?since=1", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut all = res.into_body().into_data_stream();
    let mut text = String::new();
    read_until(&mut all, &mut text, "line two").await;
    assert!(!text.contains("line one"), "{text}");
    assert!(
        text.contains("event: log") && text.contains("id: 2"),
        "{text}"
    );

    // One execution's lines, resumed with Last-Event-ID.
    let res = app
        .clone()
        .oneshot(open(
            "/api/etl/ventas/logs/stream?execution_id=5",
            Some("2"),
        ))
        .await
        .unwrap();
    let mut only5 = res.into_body().into_data_stream();
    let mut text5 = String::new();
    hub.push(6, "info", "another run", None); // id 3
    hub.push(5, "success", "line three", None); // id 4
    read_until(&mut all, &mut text, "line three").await;
    assert!(text.contains("another run"), "{text}");
    read_until(&mut only5, &mut text5, "line three").await;
    assert!(!text5.contains("line two"), "{text5}");
    assert!(!text5.contains("another run"), "{text5}");
    let line: Value = serde_json::from_str(
        text5
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["execution_id"], 5);
    assert_eq!(line["level"], "success");
    assert_eq!(line["id"], 4);
}

/// `GET /api/etl/connectivity`: every selected store's source dialled now — the KLK simulator
/// on loopback answers; after it stops, the same stores are unreachable with a classified
/// cause (loopback is not the VPN: `network_error`, not `vpn_*`).
#[tokio::test]
async fn connectivity_dials_each_store_source_now() {
    let h = harness().await;
    let (status, body) = call(&h.app, "GET", "/api/etl/connectivity", Some(VIEWER), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stores = body["tiendas"].as_array().unwrap();
    let ids: Vec<&str> = stores
        .iter()
        .map(|s| s["tienda_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["tienda_01", "tienda_08"]);
    assert_eq!(body["reachable"], 2, "{body}");
    for s in stores {
        assert_eq!(s["source_system"], "klk");
        assert_eq!(s["target"], "api");
        assert_eq!(s["reachable"], true, "{s}");
        assert_eq!(s["via_vpn"], false, "{s}");
        assert!(s["latency_ms"].as_f64().unwrap() >= 0.0, "{s}");
        assert_eq!(s["ip"], "127.0.0.1", "{s}");
    }

    let (status, body) = call(
        &h.app,
        "GET",
        "/api/etl/connectivity?tienda_ids=tienda_99",
        Some(VIEWER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("tienda_99"), "{body}");

    let Harness {
        app,
        demo,
        _dir,
        _metrics,
        ..
    } = h;
    demo.shutdown().await;
    let (status, body) = call(
        &app,
        "GET",
        "/api/etl/connectivity?ubicacion_id=tienda_01",
        Some(VIEWER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let s = &body["tiendas"][0];
    assert_eq!(
        (s["reachable"].as_bool(), body["unreachable"].as_u64()),
        (Some(false), Some(1)),
        "{body}"
    );
    assert_eq!(s["error_category"], "network_error", "{s}");
    assert_eq!(s["error"], "the connection was refused", "{s}");
}

/// The fields of `actual` are those its schema in `doc` names, recursively (through `$ref`,
/// `allOf` and array items); a schema without properties (a free-form object) is not compared.
fn fields_match(doc: &Value, schema: &Value, actual: &Value, at: &str) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return fields_match(doc, &doc["components"]["schemas"][name], actual, at);
    }
    if let Some(one) = schema["allOf"].as_array().and_then(|a| a.first()) {
        return fields_match(doc, one, actual, at);
    }
    match actual {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                fields_match(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        Value::Object(map) => {
            let Some(props) = schema["properties"].as_object() else {
                return;
            };
            let mut documented: Vec<&String> = props.keys().collect();
            let mut answered: Vec<&String> = map.keys().collect();
            documented.sort();
            answered.sort();
            assert_eq!(
                answered, documented,
                "{at}: the answer's fields are not its schema's"
            );
            for (k, v) in map {
                fields_match(doc, &props[k], v, &format!("{at}.{k}"));
            }
        }
        _ => {}
    }
}

/// The schemas of the OpenAPI document are those of the answers: each endpoint's real JSON has
/// exactly the fields its documented schema names.
#[tokio::test]
async fn every_answer_has_the_fields_its_schema_names() {
    let h = harness().await;
    let app = &h.app;
    let (_, doc) = call(app, "GET", "/api/openapi.json", None, None).await;
    let (s, started) = call(
        app,
        "POST",
        "/api/etl/run",
        Some(ADMIN),
        Some(yesterday_body()),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let id = started["execution_id"].as_i64().unwrap();
    wait_finished(app, id).await;
    let mut answers = vec![("post", "/api/etl/run".to_owned(), "202", started)];
    for path in [
        "/api/etl/history",
        "/api/etl/stats",
        "/api/etl/ventas/status",
        "/api/etl/ventas/logs",
        "/api/ventas/gaps",
        "/api/etl/connectivity",
        "/api/etl/scheduler/status",
    ] {
        let (s, body) = call(app, "GET", path, Some(ADMIN), None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
        answers.push(("get", path.to_owned(), "200", body));
    }
    let (s, body) = call(
        app,
        "GET",
        &format!("/api/etl/history/{id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    answers.push(("get", "/api/etl/history/{id}".to_owned(), "200", body));
    let (s, body) = call(
        app,
        "PUT",
        "/api/etl/scheduler/config",
        Some(ADMIN),
        Some(json!({ "max_retries": 2 })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    answers.push(("put", "/api/etl/scheduler/config".to_owned(), "200", body));
    let (s, body) = call(
        app,
        "GET",
        "/api/etl/history/not-a-number",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    answers.push(("get", "/api/etl/history/{id}".to_owned(), "400", body));
    for (method, path, code, body) in answers {
        let schema = &doc["paths"][&path][method]["responses"][code]["content"]["application/json"]
            ["schema"];
        assert!(schema.is_object(), "{method} {path} {code} has no schema");
        fields_match(&doc, schema, &body, &format!("{method} {path}"));
    }
}

/// Random bodies and query strings on every route that reads input: never a 500 or a panic,
/// and every refusal is a JSON error saying what is wrong. 64 cases per run by default
/// (`PROPTEST_CASES` for more); an accepted run really starts, over the simulator.
#[test]
fn any_body_or_query_gets_an_answer_never_a_500() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(harness());

    let leaf = prop_oneof![
        Just(json!("ventas")),
        Just(json!("inventario")),
        Just(json!("tienda_01")),
        Just(json!("nope")),
        Just(json!("")),
        Just(json!("2025-11-17")),
        Just(json!("2025-11-17 00:00:00")),
        Just(json!("2025-11-17 23:59:59")),
        Just(json!("2999-01-01")),
        Just(json!("2025-13-45 99:99")),
        Just(json!(null)),
        Just(json!(true)),
        Just(json!(["tienda_01"])),
        Just(json!([1, "x"])),
        Just(json!({})),
        (-3i64..30).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    let keys = prop::sample::subsequence(
        vec![
            "etl_name",
            "tienda_ids",
            "tienda_id",
            "ubicacion_id",
            "fecha_inicio",
            "fecha_fin",
            "execution_hour",
            "execution_minute",
            "max_retries",
            "retry_interval_minutes",
            "unknown_field",
        ],
        0..6,
    );
    let object = (keys, prop::collection::vec(leaf.clone(), 6)).prop_map(|(keys, values)| {
        let map: serde_json::Map<String, Value> = keys
            .into_iter()
            .zip(values)
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        Value::Object(map).to_string()
    });
    let body = prop_oneof![
        6 => object,
        1 => leaf.prop_map(|v| v.to_string()),
        1 => "\\PC{0,40}",
    ];
    let route = prop::sample::select(vec![
        ("POST", "/api/etl/run"),
        ("POST", "/api/etl/sync/ventas"),
        ("PUT", "/api/etl/scheduler/config"),
    ]);
    let query_value = prop_oneof![
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("500".to_owned()),
        Just("ventas".to_owned()),
        Just("2026-01-10".to_owned()),
        Just("2026-13-01".to_owned()),
        "[a-z0-9_%]{0,10}",
    ];
    let query = (
        prop::sample::select(vec![
            "/api/etl/history",
            "/api/etl/stats",
            "/api/ventas/gaps",
            "/api/etl/ventas/logs",
            "/api/etl/ventas/status",
        ]),
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "limit",
                    "offset",
                    "status",
                    "etl_name",
                    "fecha_desde",
                    "fecha_hasta",
                    "dias",
                    "tienda_ids",
                    "ubicacion_id",
                    "since",
                    "execution_id",
                ]),
                query_value,
            ),
            0..4,
        ),
    )
        .prop_map(|(path, pairs)| {
            let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{path}?{}", q.join("&"))
        });

    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    let mut runner = TestRunner::new(config.clone());
    runner
        .run(&(route, body), |((method, path), body)| {
            let (status, answer) = rt.block_on(async {
                let req = Request::builder()
                    .method(method)
                    .uri(path)
                    .header("authorization", format!("Bearer {ADMIN}"))
                    .header("content-type", "application/json")
                    .body(Body::from(body.clone()))
                    .unwrap();
                let res = h.app.clone().oneshot(req).await.unwrap();
                let status = res.status();
                let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
                    .await
                    .unwrap();
                (status, serde_json::from_slice::<Value>(&bytes).ok())
            });
            prop_assert!(status.as_u16() < 500, "{method} {path} {body}: {status}");
            if status.is_client_error() {
                let answer = answer.unwrap_or_default();
                prop_assert!(
                    answer["error"].is_string() && answer["detail"].is_string(),
                    "{method} {path} {body}: {status} {answer}"
                );
            }
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(config);
    runner
        .run(&query, |path| {
            let (status, answer) = rt.block_on(call(&h.app, "GET", &path, Some(ADMIN), None));
            prop_assert!(status.as_u16() < 500, "{path}: {status}");
            if status.is_client_error() {
                prop_assert!(
                    answer["error"].is_string() && answer["detail"].is_string(),
                    "{path}: {status} {answer}"
                );
            }
            Ok(())
        })
        .unwrap();
    drop(h);
}

/// The chain's own HS256 JWTs (minted here by an independent implementation, `jsonwebtoken`)
/// beside the static tokens: the role from the token's claim, or from the chain's
/// `usuarios`/`roles` tables; each refusal a 401 that says which check failed.
#[tokio::test]
async fn the_chain_s_jwts_are_accepted_with_their_roles() {
    use fluxion_etl_server::auth::{JwtAuth, JwtOptions};
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

    let h = harness().await;
    let destination = h.state.fluxion.destination().clone();
    let fluxion_etl_core::loaders::Destination::Sqlite(db) = &destination else {
        panic!("the harness loads into SQLite");
    };
    for sql in [
        "CREATE TABLE roles (id INTEGER PRIMARY KEY, nombre TEXT NOT NULL)",
        "CREATE TABLE usuarios (username TEXT PRIMARY KEY, rol_id INTEGER REFERENCES roles(id))",
        "INSERT INTO roles VALUES (1, 'super_admin'), (2, 'gerente_general')",
        "INSERT INTO usuarios VALUES ('maria', 1), ('jose', 2)",
    ] {
        sqlx::query(sql).execute(db.pool()).await.unwrap();
    }
    let secret = b"panel-secret-for-tests";
    let jwt = JwtAuth::new(
        secret.as_slice(),
        JwtOptions {
            role_query: Some(
                "SELECT r.nombre FROM usuarios u JOIN roles r ON r.id = u.rol_id \
                 WHERE u.username = ?1"
                    .into(),
            ),
            ..JwtOptions::default()
        },
        Some(destination.clone()),
    );
    let state = AppState {
        auth: Arc::new(Auth::from_lists(ADMIN, VIEWER).with_jwt(jwt)),
        ..h.state.clone()
    };
    let app = app(state);
    let exp = chrono::Utc::now().timestamp() + 600;
    let mint = |claims: Value, key: &[u8]| {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    };

    // The role in the token.
    let admin = mint(
        json!({"sub": "ana", "role": "super_admin", "exp": exp}),
        secret,
    );
    assert_eq!(
        call(&app, "GET", "/api/etl/history", Some(&admin), None)
            .await
            .0,
        200
    );
    // The role looked up: maria is a super_admin, jose a gerente_general (a viewer).
    let maria = mint(json!({"sub": "maria", "exp": exp}), secret);
    assert_eq!(
        call(&app, "GET", "/api/etl/history", Some(&maria), None)
            .await
            .0,
        200
    );
    let jose = mint(json!({"sub": "jose", "exp": exp}), secret);
    assert_eq!(
        call(&app, "GET", "/api/etl/history", Some(&jose), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call(&app, "GET", "/api/etl/ventas/status", Some(&jose), None)
            .await
            .0,
        200
    );
    // The static tokens still work.
    assert_eq!(
        call(&app, "GET", "/api/etl/history", Some(ADMIN), None)
            .await
            .0,
        200
    );

    let refusals = [
        (
            mint(json!({"sub": "pedro", "exp": exp}), secret),
            "unknown user `pedro`",
        ),
        (
            mint(json!({"sub": "maria", "exp": exp}), b"not-the-secret"),
            "invalid token signature",
        ),
        (
            mint(json!({"sub": "maria", "exp": exp - 7200}), secret),
            "token expired",
        ),
    ];
    for (token, says) in refusals {
        let (status, body) = call(&app, "GET", "/api/etl/ventas/status", Some(&token), None).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(says), "{body}");
        assert!(!body.to_string().contains(&token));
    }
}
