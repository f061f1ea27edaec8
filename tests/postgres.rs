//! What only the PostgreSQL destination has to prove: its schema against seed 003's own queries,
//! leases between runs, a process killed mid-transaction, a server restart mid-load, SQLSTATE
//! classification, retries, the fingerprint shortcut's correctness, checksummed migrations.
//! (The loader contract itself runs on PostgreSQL in `contract.rs`.)

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fluxion_etl::loaders::postgres::{classify, CopyFormat};
use fluxion_etl::loaders::{Destination, SchemaStatus};
use fluxion_etl::model::{Batch, SaleLine, StoreId, Window};
use fluxion_etl::pipeline::{
    Extractor, Identity, LoadScope, LoadUnit, Loader, Runner, RunnerOptions, StoreOutcome,
    StoreTask,
};
use fluxion_etl::tracker::{
    ErrorCategory, ExecutionStatus, ExecutionTracker, HistoryFilter, Phase, StoreRef, StoreStatus,
};
use fluxion_etl::EtlError;
use fluxion_etl_sim::postgres::TestPostgres;
use sqlx::{Connection, Executor, PgConnection, Row};
use tokio::sync::oneshot;

use crate::common::*;

/// A fresh database on the shared test server.
async fn fresh_url() -> String {
    crate::common::db::fresh_postgres_url().await
}

async fn migrated(url: &str) -> Destination {
    let destination = Destination::connect(url).await.unwrap();
    destination.migrate().await.unwrap();
    destination
}

fn pool(destination: &Destination) -> &sqlx::PgPool {
    match destination {
        Destination::Postgres(d) => d.pool(),
        other => panic!("not PostgreSQL: {other:?}"),
    }
}

fn store_ref(id: &str) -> StoreRef {
    StoreRef {
        id: id.into(),
        name: Some(id.to_uppercase()),
        system: Some(fluxion_etl::model::SourceSystem::Klk),
    }
}

fn sales_unit(store: &str, w: Window) -> LoadUnit {
    LoadUnit {
        store: StoreId::new(store),
        scope: LoadScope::SalesWindow(w),
    }
}

fn task(store: &str, w: Window, extractor: impl Extractor + 'static) -> StoreTask {
    StoreTask {
        store: store_ref(store),
        unit: sales_unit(store, w),
        extractor: Box::new(extractor),
    }
}

/// Runs tasks as one execution with `loader`; returns the outcomes, status and execution id.
async fn run_with(
    destination: &Destination,
    loader: Arc<dyn Loader>,
    tasks: Vec<StoreTask>,
) -> (Vec<StoreOutcome>, ExecutionStatus, i64) {
    let stores: Vec<String> = tasks.iter().map(|t| t.store.id.to_string()).collect();
    let refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let tracker = ExecutionTracker::start_execution(destination.tracker_store(), spec(&refs))
        .await
        .unwrap();
    let runner = Runner::new(
        RunnerOptions {
            max_workers: 4,
            channel_capacity: 2,
        },
        Arc::new(Identity),
        loader,
    );
    let outcomes = runner
        .run(&tracker, tasks, &fluxion_etl::CancellationToken::new())
        .await;
    let id = tracker.id();
    let finish = tracker.finish_execution().await.unwrap();
    (outcomes, finish.status, id)
}

async fn run(
    destination: &Destination,
    tasks: Vec<StoreTask>,
) -> (Vec<StoreOutcome>, ExecutionStatus, i64) {
    run_with(destination, destination.loader(), tasks).await
}

/// Loads one store's window and returns its recorded detail (counts).
async fn load(
    destination: &Destination,
    store: &str,
    w: Window,
    lines: Vec<SaleLine>,
) -> fluxion_etl::tracker::StoreDetail {
    let (mut outcomes, status, _) = run(
        destination,
        vec![task(store, w, VecExtractor::sales(lines, 7))],
    )
    .await;
    let outcome = outcomes.remove(0);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(status, ExecutionStatus::Success);
    outcome.detail.unwrap()
}

fn counts(d: &fluxion_etl::tracker::StoreDetail) -> (i64, i64, i64, i64) {
    (
        d.records_inserted,
        d.records_updated,
        d.records_deleted,
        d.duplicates_skipped,
    )
}

/// Every sales line of a database as `store|invoice|line|quantity`, sorted.
async fn sales(url: &str) -> Vec<String> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT store_id || '|' || invoice_number || '|' || line_number || '|' || \
         COALESCE(quantity::text, '') FROM sales_lines ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// Seed 003 §6.2, verbatim.
const SEED_003_QUERIES: [&str; 5] = [
    r#"-- Últimas 10 ejecuciones
SELECT
    id, etl_name, status, duration_seconds,
    records_loaded, error_phase, error_category, triggered_by
FROM etl_executions
ORDER BY started_at DESC
LIMIT 10;"#,
    r#"-- Errores por fase últimos 7 días
SELECT
    error_phase,
    error_category,
    COUNT(*) as cantidad
FROM etl_executions
WHERE started_at >= NOW() - INTERVAL '7 days'
  AND error_phase IS NOT NULL
GROUP BY error_phase, error_category
ORDER BY cantidad DESC;"#,
    r#"-- Distribución por origen
SELECT
    triggered_by,
    COUNT(*) as total_ejecuciones,
    COUNT(*) FILTER (WHERE status = 'success') as exitosas,
    COUNT(*) FILTER (WHERE status = 'failed') as fallidas,
    ROUND(AVG(duration_seconds)::numeric, 2) as duracion_promedio
FROM etl_executions
WHERE started_at >= NOW() - INTERVAL '30 days'
GROUP BY triggered_by;"#,
    r#"-- Tiendas con más fallos
SELECT
    tienda_id,
    tienda_nombre,
    COUNT(*) as total_intentos,
    COUNT(*) FILTER (WHERE status = 'failed') as fallos,
    mode() WITHIN GROUP (ORDER BY error_category) as error_mas_comun
FROM etl_execution_details
WHERE execution_id IN (
    SELECT id FROM etl_executions
    WHERE started_at >= NOW() - INTERVAL '7 days'
)
GROUP BY tienda_id, tienda_nombre
HAVING COUNT(*) FILTER (WHERE status = 'failed') > 0
ORDER BY fallos DESC
LIMIT 10;"#,
    r#"-- Tiempo promedio por fase
SELECT
    etl_name,
    ROUND(AVG(extract_duration_seconds)::numeric, 2) as avg_extract,
    ROUND(AVG(transform_duration_seconds)::numeric, 2) as avg_transform,
    ROUND(AVG(load_duration_seconds)::numeric, 2) as avg_load
FROM etl_executions
WHERE started_at >= NOW() - INTERVAL '7 days'
  AND status = 'success'
GROUP BY etl_name;"#,
];

/// A query's rows as JSON text, for checking what a seed query answers.
async fn json_rows(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    let wrapped = format!(
        "SELECT row_to_json(q)::text FROM ({}\n) AS q",
        sql.trim().trim_end_matches(';')
    );
    sqlx::query_scalar(&wrapped)
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_verification_queries_run_unmodified() {
    let url = fresh_url().await;
    let destination = migrated(&url).await;
    let w = window(8, 12);
    load(&destination, "tienda_01", w, lines_in("tienda_01", w, 20)).await;
    let failing = VecExtractor::sales(lines_in("tienda_08", w, 5), 7)
        .failing_after(extract_error(ErrorCategory::VpnTimeout));
    let (_, status, _) = run(
        &destination,
        vec![
            task(
                "tienda_01",
                w,
                VecExtractor::sales(lines_in("tienda_01", w, 20), 7),
            ),
            task("tienda_08", w, failing),
        ],
    )
    .await;
    assert_eq!(status, ExecutionStatus::Partial);

    let mut conn = PgConnection::connect(&url).await.unwrap();
    // Each query exactly as the seed prints it, comments and all, through the simple protocol.
    for sql in SEED_003_QUERIES {
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("seed query failed: {e}\n{sql}"));
    }
    // And what they answer.
    let last = json_rows(&mut conn, SEED_003_QUERIES[0]).await;
    assert_eq!(last.len(), 2);
    assert!(last[0].contains("\"status\":\"partial\""), "{last:?}");
    let by_phase = json_rows(&mut conn, SEED_003_QUERIES[1]).await;
    assert_eq!(by_phase.len(), 1);
    let row = &by_phase[0];
    assert!(
        row.contains("\"error_phase\":\"extract\"")
            && row.contains("\"error_category\":\"vpn_timeout\"")
            && row.contains("\"cantidad\":1"),
        "{row}"
    );
    let origin = json_rows(&mut conn, SEED_003_QUERIES[2]).await;
    assert!(origin[0].contains("\"total_ejecuciones\":2"), "{origin:?}");
    let worst = json_rows(&mut conn, SEED_003_QUERIES[3]).await;
    assert_eq!(worst.len(), 1);
    let row = &worst[0];
    assert!(
        row.contains("\"tienda_id\":\"tienda_08\"")
            && row.contains("\"fallos\":1")
            && row.contains("\"error_mas_comun\":\"vpn_timeout\""),
        "{row}"
    );
    let phases = json_rows(&mut conn, SEED_003_QUERIES[4]).await;
    assert_eq!(phases.len(), 1, "only the successful execution: {phases:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_has_every_seed_003_column_constraint_and_index() {
    let url = fresh_url().await;
    let _destination = migrated(&url).await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let columns = |table: &'static str| {
        sqlx::query_as::<_, (String, String)>(
            "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_name = $1",
        )
        .bind(table)
    };
    let executions = columns("etl_executions")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let has = |cols: &[(String, String)], name: &str, ty: &str| {
        assert!(
            cols.iter().any(|(n, t)| n == name && t == ty),
            "{name} {ty} missing from {cols:?}"
        )
    };
    for (name, ty) in [
        ("error_phase", "character varying"),
        ("error_category", "character varying"),
        ("error_source", "character varying"),
        ("extract_duration_seconds", "numeric"),
        ("transform_duration_seconds", "numeric"),
        ("load_duration_seconds", "numeric"),
        ("source_system", "character varying"),
        ("api_requests_count", "integer"),
        ("api_errors_count", "integer"),
        ("records_upserted", "integer"),
        ("records_failed", "integer"),
        ("network_diagnostics", "jsonb"),
        ("is_recovery", "boolean"),
        ("recovered_gap_id", "integer"),
        // The base columns the seed's JSON and queries use.
        ("etl_name", "character varying"),
        ("etl_type", "character varying"),
        ("status", "character varying"),
        ("started_at", "timestamp with time zone"),
        ("finished_at", "timestamp with time zone"),
        ("duration_seconds", "numeric"),
        ("fecha_desde", "timestamp with time zone"),
        ("fecha_hasta", "timestamp with time zone"),
        ("records_extracted", "integer"),
        ("records_loaded", "integer"),
        ("duplicates_skipped", "integer"),
        ("tiendas_count", "integer"),
        ("tiendas_exitosas", "integer"),
        ("tiendas_fallidas", "integer"),
        ("gaps_recovered", "integer"),
        ("error_message", "text"),
        ("error_detail", "text"),
        ("triggered_by", "character varying"),
    ] {
        has(&executions, name, ty);
    }
    let details = columns("etl_execution_details")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for (name, ty) in [
        ("id", "integer"),
        ("execution_id", "integer"),
        ("tienda_id", "character varying"),
        ("tienda_nombre", "character varying"),
        ("source_system", "character varying"),
        ("status", "character varying"),
        ("started_at", "timestamp with time zone"),
        ("finished_at", "timestamp with time zone"),
        ("duration_seconds", "numeric"),
        ("records_extracted", "integer"),
        ("records_loaded", "integer"),
        ("duplicates_skipped", "integer"),
        ("error_phase", "character varying"),
        ("error_category", "character varying"),
        ("error_message", "text"),
        ("server_ip", "character varying"),
        ("server_port", "integer"),
        ("connection_latency_ms", "numeric"),
        ("created_at", "timestamp with time zone"),
    ] {
        has(&details, name, ty);
    }
    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for index in [
        "idx_etl_executions_error_phase",
        "idx_etl_executions_source",
        "idx_etl_executions_recovery",
        "idx_etl_details_execution",
        "idx_etl_details_tienda",
        "idx_etl_details_status",
    ] {
        assert!(indexes.iter().any(|i| i == index), "{index} missing");
    }
    let partial: String = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_etl_executions_recovery'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(partial.contains("WHERE (is_recovery = true)"), "{partial}");

    // chk_error_phase, and the recovered_gap_id foreign key, enforced.
    let bad_phase = conn
        .execute(
            "INSERT INTO etl_executions (etl_name, status, triggered_by, error_phase) \
             VALUES ('ventas', 'failed', 'cli', 'loading')",
        )
        .await
        .unwrap_err();
    assert_eq!(
        bad_phase
            .as_database_error()
            .and_then(|e| e.constraint())
            .map(str::to_owned)
            .as_deref(),
        Some("chk_error_phase")
    );
    let dangling = conn
        .execute(
            "INSERT INTO etl_executions (etl_name, status, triggered_by, recovered_gap_id) \
             VALUES ('ventas', 'success', 'recovery', 424242)",
        )
        .await
        .unwrap_err();
    assert_eq!(
        dangling
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("23503")
    );
}

async fn gaps(conn: &mut PgConnection) -> Vec<sqlx::postgres::PgRow> {
    sqlx::query(
        "SELECT store_id, etl_name, window_from, window_to, error_category, \
         hours_since_failure::float8 AS h FROM v_gaps_to_recover",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_show_gaps_to_recover_and_reliability() {
    let url = fresh_url().await;
    let destination = migrated(&url).await;
    let (morning, day) = (window(8, 12), window(0, 23));
    let failing =
        VecExtractor::sales(Vec::new(), 7).failing_after(extract_error(ErrorCategory::ApiTimeout));
    run(&destination, vec![task("tienda_01", morning, failing)]).await;

    let mut conn = PgConnection::connect(&url).await.unwrap();
    let open = gaps(&mut conn).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].get::<String, _>("store_id"), "tienda_01");
    assert_eq!(open[0].get::<String, _>("etl_name"), "ventas");
    assert_eq!(
        open[0]
            .get::<Option<String>, _>("error_category")
            .as_deref(),
        Some("api_timeout")
    );
    assert_eq!(
        open[0].get::<chrono::DateTime<chrono::Utc>, _>("window_from"),
        morning.from_utc()
    );
    assert!(open[0].get::<f64, _>("h") >= 0.0);

    // Another store's success covers nothing; a success of the whole day does.
    load(&destination, "tienda_02", day, Vec::new()).await;
    assert_eq!(gaps(&mut conn).await.len(), 1);
    load(
        &destination,
        "tienda_01",
        day,
        lines_in("tienda_01", morning, 10),
    )
    .await;
    assert!(gaps(&mut conn).await.is_empty());

    // (Summed over days: the runs may straddle midnight in Caracas.)
    let m = sqlx::query(
        "SELECT sum(total_executions)::bigint AS total_executions, \
         sum(successful_executions)::bigint AS successful_executions, \
         sum(failed_executions)::bigint AS failed_executions, \
         (100.0 * sum(successful_executions) / sum(successful_executions + failed_executions))::float8 AS pct, \
         sum(total_records_loaded)::bigint AS total_records_loaded, min(success_rate_pct)::float8 AS min_pct \
         FROM v_reliability_metrics WHERE store_id = 'tienda_01' AND etl_name = 'ventas'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(m.get::<f64, _>("min_pct") <= 50.0);
    assert_eq!(m.get::<i64, _>("total_executions"), 2);
    assert_eq!(m.get::<i64, _>("successful_executions"), 1);
    assert_eq!(m.get::<i64, _>("failed_executions"), 1);
    assert_eq!(m.get::<f64, _>("pct"), 50.0);
    assert_eq!(m.get::<i64, _>("total_records_loaded"), 10);
}

/// Yields its first batch, then waits for a signal before the rest.
struct Gated {
    batches: std::vec::IntoIter<Batch>,
    gate: Option<oneshot::Receiver<()>>,
    first_sent: bool,
}

#[async_trait]
impl Extractor for Gated {
    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        if self.first_sent {
            if let Some(gate) = self.gate.take() {
                let _ = gate.await;
            }
        }
        self.first_sent = true;
        Ok(self.batches.next())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_for_one_store_load_once_and_skip_once() {
    let url = fresh_url().await;
    let first = migrated(&url).await;
    // A second connection pool: to PostgreSQL this is another process.
    let second = Destination::connect(&url).await.unwrap();
    let w = window(8, 12);
    let lines = lines_in("tienda_01", w, 40);
    let (open_gate, gate) = oneshot::channel();
    let gated = Gated {
        batches: lines
            .chunks(10)
            .map(|c| Batch::Sales(c.to_vec()))
            .collect::<Vec<_>>()
            .into_iter(),
        gate: Some(gate),
        first_sent: false,
    };
    let first_run = {
        let first = first.clone();
        tokio::spawn(async move { run(&first, vec![task("tienda_01", w, gated)]).await })
    };
    // Wait until the first run holds the store's lease (an advisory lock).
    let mut conn = PgConnection::connect(&url).await.unwrap();
    wait_for(
        &mut conn,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .await;

    let (outcomes, status, skipped_id) = run(
        &second,
        vec![
            task("tienda_01", w, VecExtractor::sales(lines.clone(), 7)),
            task(
                "tienda_02",
                w,
                VecExtractor::sales(lines_in("tienda_02", w, 5), 7),
            ),
        ],
    )
    .await;
    let busy = outcomes
        .iter()
        .find(|o| o.store.as_str() == "tienda_01")
        .unwrap();
    assert!(busy.error.is_none(), "a busy store is not a failure");
    let detail = busy.detail.as_ref().unwrap();
    assert_eq!(detail.status, StoreStatus::Skipped);
    assert!(
        detail.error_message.as_deref().unwrap().contains("lease"),
        "{:?}",
        detail.error_message
    );
    assert_eq!(detail.error_category, None);
    let other = outcomes
        .iter()
        .find(|o| o.store.as_str() == "tienda_02")
        .unwrap();
    assert_eq!(other.detail.as_ref().unwrap().status, StoreStatus::Success);
    assert_ne!(status, ExecutionStatus::Failed);

    open_gate.send(()).unwrap();
    let (outcomes, status, _) = first_run.await.unwrap();
    assert!(outcomes[0].error.is_none(), "{:?}", outcomes[0].error);
    assert_eq!(status, ExecutionStatus::Success);
    assert_eq!(outcomes[0].detail.as_ref().unwrap().records_inserted, 40);

    let rows = sales(&url).await;
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("tienda_01|")).count(),
        40
    );
    let view = second
        .tracker_store()
        .execution(skipped_id)
        .await
        .unwrap()
        .unwrap();
    let recorded: Vec<(&str, &str)> = view
        .tiendas_detail
        .iter()
        .map(|d| (d.tienda_id.as_str(), d.status.as_str()))
        .collect();
    assert_eq!(
        recorded,
        vec![("tienda_01", "skipped"), ("tienda_02", "success")]
    );
    // Once the first run is done, the lease is free again.
    let again = load(&second, "tienda_01", w, lines).await;
    assert_eq!(again.duplicates_skipped, 40);
}

/// Polls a `count(*)` query until it is positive (a safety deadline turns a hang into a failure
/// with a message; nothing here measures time).
async fn wait_for(conn: &mut PgConnection, sql: &str) -> i64 {
    for _ in 0..1200 {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut *conn).await.unwrap();
        if n > 0 {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition never became true: {sql}");
}

const KILL_CHILD_ENV: &str = "FLUXION_TEST_PG_KILL_CHILD_URL";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_load_leaves_previous_data_and_is_reconciled_at_next_start() {
    let w = window(8, 12);
    let version_1 = lines_in("tienda_01", w, 30);
    let mut version_2 = lines_in("tienda_01", w, 40);
    version_2.remove(3);
    for l in &mut version_2[..10] {
        l.quantity = Some(dec("2"));
    }

    if let Ok(url) = std::env::var(KILL_CHILD_ENV) {
        // Child: load version 2. The parent holds a lock the merge needs at its very end, so this
        // process sits inside its transaction, everything else written, until it is killed.
        let destination = Destination::connect(&url).await.unwrap();
        load(&destination, "tienda_01", w, version_2).await;
        unreachable!("the parent kills this process before the load can commit");
    }

    let url = fresh_url().await;
    let destination = migrated(&url).await;
    load(&destination, "tienda_01", w, version_1).await;
    let before = sales(&url).await;
    assert_eq!(before.len(), 30);

    // The window's fingerprint row is the last thing a merge writes; holding it makes the child's
    // transaction wait after every other write.
    let mut locker = PgConnection::connect(&url).await.unwrap();
    locker.execute("BEGIN").await.unwrap();
    locker
        .execute("SELECT 1 FROM etl_load_fingerprints WHERE store_id = 'tienda_01' FOR UPDATE")
        .await
        .unwrap();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "postgres::a_killed_load_leaves_previous_data_and_is_reconciled_at_next_start",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_CHILD_ENV, &url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watcher = PgConnection::connect(&url).await.unwrap();
    let waiting_pid = {
        let mut found = None;
        for _ in 0..2400 {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("the child load ended by itself ({status}): {err}");
            }
            found = sqlx::query_scalar::<_, i32>(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'fluxion' AND wait_event_type = 'Lock'",
            )
            .fetch_optional(&mut watcher)
            .await
            .unwrap();
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        found.expect("the child's merge never reached the fingerprint lock")
    };
    // Mid-transaction: the child's merge has updated, inserted and deleted and recorded its
    // detail, uncommitted. Kill it there.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        sales(&url).await,
        before,
        "nothing of the killed load is visible"
    );

    // Let the orphaned backend run into the closed socket and roll back.
    locker.execute("ROLLBACK").await.unwrap();
    wait_for(
        &mut watcher,
        &format!(
            "SELECT count(*) FROM (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = {waiting_pid})) AS gone"
        ),
    )
    .await;
    assert_eq!(sales(&url).await, before, "the killed load was rolled back");
    let (killed_id, status): (i64, String) =
        sqlx::query_as("SELECT id::bigint, status FROM etl_executions ORDER BY id DESC LIMIT 1")
            .fetch_one(&mut watcher)
            .await
            .unwrap();
    assert_eq!(
        status, "running",
        "a killed process cannot close its execution"
    );
    let details: i64 =
        sqlx::query_scalar("SELECT count(*) FROM etl_execution_details WHERE execution_id = $1")
            .bind(killed_id)
            .fetch_one(&mut watcher)
            .await
            .unwrap();
    assert_eq!(details, 0, "its detail died with its transaction");

    // The next start (what `Fluxion::from_config` does) reconciles it…
    let next = Destination::connect(&url).await.unwrap();
    next.ensure_current().await.unwrap();
    assert_eq!(next.reconcile_stale(Duration::ZERO).await.unwrap(), 1);
    let view = next
        .tracker_store()
        .execution(killed_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.status, "failed");
    assert_eq!(view.error_category.as_deref(), Some("interrupted"));
    // …and the next run loads version 2, once.
    let detail = load(&next, "tienda_01", w, version_2.clone()).await;
    assert_eq!(counts(&detail), (10, 10, 1, 19));
    let rows = sales(&url).await;
    assert_eq!(rows.len(), 39);
    assert_eq!(rows.iter().filter(|r| r.ends_with("|2")).count(), 10);
}

/// Yields batches and, after `after` of them, runs a disruption of the server.
struct Disrupting {
    batches: std::vec::IntoIter<Batch>,
    sent: usize,
    after: usize,
    server: Arc<TestPostgres>,
    done: bool,
}

#[async_trait]
impl Extractor for Disrupting {
    async fn next_batch(&mut self) -> Result<Option<Batch>, EtlError> {
        if self.sent == self.after && !self.done {
            self.done = true;
            self.server.restart().await.unwrap();
        }
        self.sent += 1;
        Ok(self.batches.next())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_a_load_is_retried_and_loads_the_window_once() {
    // A server of its own: restarting the shared one would break the other tests.
    let server = Arc::new(TestPostgres::start_local().await.unwrap());
    let url = server.create_database().await.unwrap();
    let destination = migrated(&url).await;
    let w = window(8, 12);
    let lines = lines_in("tienda_01", w, 60);
    let extractor = Disrupting {
        batches: lines
            .chunks(10)
            .map(|c| Batch::Sales(c.to_vec()))
            .collect::<Vec<_>>()
            .into_iter(),
        sent: 0,
        after: 3,
        server: server.clone(),
        done: false,
    };
    let (outcomes, status, _) = run(&destination, vec![task("tienda_01", w, extractor)]).await;
    assert!(outcomes[0].error.is_none(), "{:?}", outcomes[0].error);
    assert_eq!(status, ExecutionStatus::Success);
    let detail = outcomes[0].detail.as_ref().unwrap();
    assert_eq!(counts(detail), (60, 0, 0, 0));
    assert_eq!(sales(&url).await.len(), 60, "every line exactly once");
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM etl_execution_details")
        .fetch_one(pool(&destination))
        .await
        .unwrap();
    assert_eq!(recorded, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_at_commit_yields_pg_connection_and_the_next_run_loads_once() {
    let server = TestPostgres::start_local().await.unwrap();
    let url = server.create_database().await.unwrap();
    let destination = migrated(&url).await;
    let w = window(8, 12);
    let lines = lines_in("tienda_01", w, 30);

    let tracker =
        ExecutionTracker::start_execution(destination.tracker_store(), spec(&["tienda_01"]))
            .await
            .unwrap();
    let st = tracker.start_store(store_ref("tienda_01"), Some(w));
    let loader = destination.loader();
    let mut session = loader
        .try_begin(&sales_unit("tienda_01", w), tracker.id())
        .await
        .unwrap()
        .expect("the lease is free");
    session
        .write(Batch::Sales(lines[..15].to_vec()))
        .await
        .unwrap();
    server.stop().await.unwrap();
    // The rows of a broken stream are kept; the failure shows when the load must commit.
    session
        .write(Batch::Sales(lines[15..].to_vec()))
        .await
        .unwrap();
    let detail = st.detail(
        tracker.id(),
        fluxion_etl::model::DataKind::Sales,
        Default::default(),
        None,
        None,
    );
    let error = session.finish(&detail).await.unwrap_err();
    session.abort().await;
    assert_eq!(
        (error.phase(), error.category()),
        (Phase::Load, ErrorCategory::PgConnection)
    );
    assert!(error.is_retryable());

    server.start_again().await.unwrap();
    assert!(sales(&url).await.is_empty(), "nothing of the failed load");
    let detail = load(&destination, "tienda_01", w, lines.clone()).await;
    assert_eq!(counts(&detail), (30, 0, 0, 0));
    assert_eq!(sales(&url).await.len(), 30);
    let again = load(&destination, "tienda_01", w, lines).await;
    assert_eq!(counts(&again), (0, 0, 0, 30));
}

async fn database_error(conn: &mut PgConnection, sql: &str) -> EtlError {
    let err = sqlx::raw_sql(sql).execute(&mut *conn).await.expect_err(sql);
    classify(err, "test")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlstates_from_a_real_server_are_classified() {
    let url = fresh_url().await;
    let mut a = PgConnection::connect(&url).await.unwrap();
    let mut b = PgConnection::connect(&url).await.unwrap();
    a.execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int CHECK (v >= 0)); \
         CREATE TABLE c (t_id int REFERENCES t(id)); INSERT INTO t VALUES (1, 1), (2, 2)",
    )
    .await
    .unwrap();
    let check = |e: EtlError, category: ErrorCategory, retryable: bool, what: &str| {
        assert_eq!(e.phase(), Phase::Load, "{what}");
        assert_eq!(e.category(), category, "{what}: {}", e.message());
        assert_eq!(e.is_retryable(), retryable, "{what}");
    };
    use ErrorCategory as C;
    check(
        database_error(&mut a, "INSERT INTO t VALUES (1, 1)").await,
        C::ConstraintViolation,
        false,
        "23505 unique",
    );
    check(
        database_error(&mut a, "INSERT INTO c VALUES (9)").await,
        C::ConstraintViolation,
        false,
        "23503 foreign key",
    );
    check(
        database_error(&mut a, "INSERT INTO t VALUES (3, -1)").await,
        C::ConstraintViolation,
        false,
        "23514 check",
    );
    check(
        database_error(&mut a, "INSERT INTO t VALUES (NULL, 1)").await,
        C::ConstraintViolation,
        false,
        "23502 not null",
    );
    check(
        database_error(&mut a, "SELECT 1 / 0").await,
        C::DataValidation,
        false,
        "22012 division by zero",
    );
    check(
        database_error(
            &mut a,
            "DO $$ BEGIN RAISE EXCEPTION 'no space' USING ERRCODE = 'disk_full'; END $$",
        )
        .await,
        C::DiskFull,
        false,
        "53100 disk full",
    );
    check(
        database_error(&mut a, "SET statement_timeout = '20ms'; SELECT pg_sleep(5)").await,
        C::PgTimeout,
        true,
        "57014 statement timeout",
    );
    a.execute("RESET statement_timeout").await.unwrap();

    // 55P03: a lock held by another session.
    b.execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    check(
        database_error(&mut a, "SET lock_timeout = '20ms'; SELECT * FROM t").await,
        C::PgTimeout,
        true,
        "55P03 lock timeout",
    );
    b.execute("ROLLBACK").await.unwrap();
    a.execute("RESET lock_timeout").await.unwrap();

    // 40001: a repeatable-read transaction updates a row changed since its snapshot.
    a.execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM t")
        .await
        .unwrap();
    b.execute("UPDATE t SET v = 5 WHERE id = 1").await.unwrap();
    check(
        database_error(&mut a, "UPDATE t SET v = 6 WHERE id = 1").await,
        C::Deadlock,
        true,
        "40001 serialization failure",
    );
    a.execute("ROLLBACK").await.unwrap();

    // 40P01: two sessions wait on each other.
    a.execute("SET deadlock_timeout = '50ms'; BEGIN; UPDATE t SET v = 7 WHERE id = 1")
        .await
        .unwrap();
    b.execute("SET deadlock_timeout = '50ms'; BEGIN; UPDATE t SET v = 8 WHERE id = 2")
        .await
        .unwrap();
    let first = tokio::spawn(async move {
        let r = sqlx::query("UPDATE t SET v = 9 WHERE id = 2")
            .execute(&mut a)
            .await;
        (a, r)
    });
    let mut watcher = PgConnection::connect(&url).await.unwrap();
    wait_for(
        &mut watcher,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .await;
    let second = tokio::spawn(async move {
        let r = sqlx::query("UPDATE t SET v = 10 WHERE id = 1")
            .execute(&mut b)
            .await;
        (b, r)
    });
    // The victim's statement fails and its transaction, aborted, releases its locks: the
    // other statement then completes.
    let (first, second) = tokio::join!(first, second);
    let ((mut a, first), (mut b, second)) = (first.unwrap(), second.unwrap());
    let victim = match (first, second) {
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
        other => panic!("expected exactly one deadlock victim, got {other:?}"),
    };
    a.execute("ROLLBACK").await.unwrap();
    b.execute("ROLLBACK").await.unwrap();
    check(
        classify(victim, "test"),
        C::Deadlock,
        true,
        "40P01 deadlock",
    );

    // A session the server ends (admin shutdown, restart, failover) is a lost connection.
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut a)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&mut b)
        .await
        .unwrap();
    check(
        database_error(&mut a, "SELECT 1").await,
        C::PgConnection,
        true,
        "terminated session",
    );
    // And a server that does not answer at all.
    let refused = PgConnection::connect("postgres://postgres@127.0.0.1:1/postgres")
        .await
        .unwrap_err();
    check(
        classify(refused, "test"),
        C::PgConnection,
        true,
        "connection refused",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_merge_failures_are_retried_and_terminal_ones_are_not() {
    let url = fresh_url().await;
    let destination = migrated(&url).await;
    let w = window(8, 12);
    // The first two statements that write sales lines fail as deadlock victims.
    sqlx::raw_sql(
        "CREATE SEQUENCE flaky_calls; \
         CREATE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF nextval('flaky_calls') <= 2 THEN \
         RAISE EXCEPTION 'injected deadlock' USING ERRCODE = 'deadlock_detected'; END IF; \
         RETURN NULL; END $$; \
         CREATE TRIGGER flaky AFTER INSERT ON sales_lines FOR EACH STATEMENT EXECUTE FUNCTION flaky();",
    )
    .execute(pool(&destination))
    .await
    .unwrap();
    let detail = load(&destination, "tienda_01", w, lines_in("tienda_01", w, 25)).await;
    assert_eq!(counts(&detail), (25, 0, 0, 0));
    assert_eq!(sales(&url).await.len(), 25);
    let calls: i64 = sqlx::query_scalar("SELECT last_value FROM flaky_calls")
        .fetch_one(pool(&destination))
        .await
        .unwrap();
    assert_eq!(calls, 3, "two deadlocks, then the retry that committed");

    // Disk full is not retried: one attempt, the store fails, nothing changes.
    sqlx::raw_sql(
        "DROP TRIGGER flaky ON sales_lines; CREATE SEQUENCE full_calls; \
         CREATE FUNCTION fill_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         PERFORM nextval('full_calls'); \
         RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$; \
         CREATE TRIGGER fill_disk AFTER INSERT OR UPDATE OR DELETE ON sales_lines \
         FOR EACH STATEMENT EXECUTE FUNCTION fill_disk();",
    )
    .execute(pool(&destination))
    .await
    .unwrap();
    let mut changed = lines_in("tienda_01", w, 25);
    changed[0].quantity = Some(dec("4"));
    let (outcomes, status, _) = run(
        &destination,
        vec![task("tienda_01", w, VecExtractor::sales(changed, 7))],
    )
    .await;
    assert_eq!(status, ExecutionStatus::Failed);
    let error = outcomes[0].error.as_ref().unwrap();
    assert_eq!(
        (error.phase(), error.category(), error.is_retryable()),
        (Phase::Load, ErrorCategory::DiskFull, false)
    );
    let calls: i64 = sqlx::query_scalar("SELECT last_value FROM full_calls")
        .fetch_one(pool(&destination))
        .await
        .unwrap();
    assert_eq!(calls, 1, "a full disk is not retried");
    assert!(sales(&url).await.iter().all(|r| r.ends_with("|1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_redelivery_never_masks_changes_made_since() {
    let url = fresh_url().await;
    let destination = migrated(&url).await;
    let w = window(8, 12);
    let lines = lines_in("tienda_01", w, 30);
    load(&destination, "tienda_01", w, lines.clone()).await;
    let first = sales(&url).await;
    let again = load(&destination, "tienda_01", w, lines.clone()).await;
    assert_eq!(counts(&again), (0, 0, 0, 30));
    assert_eq!(sales(&url).await, first);

    // Someone deletes a line by hand: the same delivery must bring it back.
    sqlx::query("DELETE FROM sales_lines WHERE invoice_number = $1 AND line_number = 1")
        .bind(&*lines[4].invoice_number)
        .execute(pool(&destination))
        .await
        .unwrap();
    let restored = load(&destination, "tienda_01", w, lines.clone()).await;
    assert_eq!(counts(&restored), (1, 0, 0, 29));
    assert_eq!(sales(&url).await, first);

    // Someone adds a line to the window by hand: the source does not have it.
    sqlx::query(
        "INSERT INTO sales_lines (store_id, invoice_number, line_number, sold_at, business_date, product_code, row_hash) \
         VALUES ('tienda_01', 'MANUAL', 1, $1, $2, 'X', 0)",
    )
    .bind(w.from_utc() + chrono::Duration::minutes(5))
    .bind(day())
    .execute(pool(&destination))
    .await
    .unwrap();
    let cleaned = load(&destination, "tienda_01", w, lines.clone()).await;
    assert_eq!(counts(&cleaned), (0, 0, 1, 30));

    // Someone edits a line (and, as any writer of this table must, its hash).
    sqlx::query("UPDATE sales_lines SET quantity = 99, row_hash = row_hash + 1 WHERE invoice_number = $1 AND line_number = 2")
        .bind(&*lines[7].invoice_number)
        .execute(pool(&destination))
        .await
        .unwrap();
    let repaired = load(&destination, "tienda_01", w, lines).await;
    assert_eq!(counts(&repaired), (0, 1, 0, 29));
    assert_eq!(sales(&url).await, first);

    // A window loaded through overlapping windows is recognized as unchanged without a record
    // of its own.
    let all = lines_in("tienda_01", window(8, 14), 360);
    let inside = |w: Window| -> Vec<SaleLine> {
        all.iter()
            .filter(|l| w.contains_utc(l.sold_at))
            .cloned()
            .collect()
    };
    load(&destination, "tienda_01", window(8, 14), all.clone()).await;
    let part = load(
        &destination,
        "tienda_01",
        window(10, 13),
        inside(window(10, 13)),
    )
    .await;
    assert_eq!(counts(&part), (0, 0, 0, 180));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_copy_formats_store_the_same_values() {
    let w = window(8, 12);
    let mut rich = lines_in("tienda_01", w, 6);
    let quantities = ["-3", "0", "0.000001", "123456789012.123456", "1.50", "-0.5"];
    for (i, l) in rich.iter_mut().enumerate() {
        l.description = Some(format!("TAB\there\\back\nslash «ñ» {i}").into());
        l.brand = Some("".into());
        l.quantity = Some(dec(quantities[i]));
        l.unit_cost_bs = Some(dec("79228162514264.337593543950335"));
        l.gross_profit_usd = Some(dec("-12345.6789"));
        l.non_fiscal = Some(i % 2 == 0);
        l.sold_at += chrono::Duration::microseconds(123_456 * i as i64);
    }
    let mut dumps = Vec::new();
    for format in [CopyFormat::Text, CopyFormat::Binary] {
        let url = fresh_url().await;
        let destination = migrated(&url).await;
        let Destination::Postgres(pg) = &destination else {
            unreachable!()
        };
        let loader: Arc<dyn Loader> = Arc::new(pg.loader().with_copy_format(format));
        // Once into an empty window (COPY into the table), once more with a change (staged).
        let (o, ..) = run_with(
            &destination,
            loader.clone(),
            vec![task("tienda_01", w, VecExtractor::sales(rich.clone(), 4))],
        )
        .await;
        assert!(o[0].error.is_none(), "{format:?}: {:?}", o[0].error);
        let mut next = rich.clone();
        next[1].quantity = Some(dec("7.25"));
        let (o, ..) = run_with(
            &destination,
            loader,
            vec![task("tienda_01", w, VecExtractor::sales(next, 4))],
        )
        .await;
        assert_eq!(
            o[0].detail.as_ref().unwrap().records_updated,
            1,
            "{format:?}"
        );
        let dump: Vec<String> = sqlx::query_scalar(
            "SELECT (row_to_json(s)::jsonb - 'loaded_at' - 'execution_id')::text FROM sales_lines s \
             ORDER BY invoice_number, line_number",
        )
        .fetch_all(pool(&destination))
        .await
        .unwrap();
        dumps.push(dump);
    }
    assert_eq!(dumps[0], dumps[1]);
    let first = &dumps[0][0];
    assert!(
        first.contains(r#""description": "TAB\there\\back\nslash «ñ» 0""#),
        "{first}"
    );
    assert!(first.contains(r#""quantity": -3"#), "{first}");
    assert!(
        first.contains(r#""unit_cost_bs": 79228162514264.337593543950335"#),
        "{first}"
    );
    assert!(
        dumps[0][4].contains(r#""quantity": 1.50"#),
        "{}",
        dumps[0][4]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_stats_and_retention_on_postgres() {
    let url = fresh_url().await;
    let destination = migrated(&url).await;
    let w = window(8, 12);
    let (_, _, old_id) = run(
        &destination,
        vec![task(
            "tienda_08",
            w,
            VecExtractor::sales(Vec::new(), 7)
                .failing_after(extract_error(ErrorCategory::VpnTimeout)),
        )],
    )
    .await;
    let (_, _, ok_id) = run(
        &destination,
        vec![task(
            "tienda_01",
            w,
            VecExtractor::sales(lines_in("tienda_01", w, 12), 5),
        )],
    )
    .await;
    let store = destination.tracker_store();
    let history = store.history(&HistoryFilter::default()).await.unwrap();
    assert_eq!(
        history.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![ok_id, old_id]
    );
    let failed_only = store
        .history(&HistoryFilter {
            status: Some(ExecutionStatus::Failed),
            ..HistoryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failed_only.len(), 1);
    let view = store.execution(ok_id).await.unwrap().unwrap();
    assert_eq!(view.records_loaded, 12);
    assert_eq!(view.tiendas_detail[0].records_loaded, 12);
    let stats = store.stats(7, None).await.unwrap();
    assert_eq!(
        (stats.total_executions, stats.successful, stats.failed),
        (2, 1, 1)
    );
    assert_eq!(stats.errors_by_category["vpn_timeout"], 1);
    assert_eq!(stats.tiendas_con_mas_fallos[0].tienda_id, "tienda_08");

    // A recovery points at the old failure; a run is still open.
    let mut recovery = spec(&["tienda_08"]);
    recovery.recovered_gap_id = Some(old_id);
    recovery.is_recovery = true;
    let recovery_id = store.insert_execution(&recovery).await.unwrap();
    let mut stale = spec(&["tienda_09"]);
    stale.started_at = chrono::Utc::now() - chrono::Duration::days(200);
    store.insert_execution(&stale).await.unwrap();
    sqlx::query("UPDATE etl_executions SET started_at = now() - interval '100 days' WHERE id = $1")
        .bind(old_id as i32)
        .execute(pool(&destination))
        .await
        .unwrap();

    assert_eq!(
        destination.prune_history(90).await.unwrap(),
        1,
        "running executions are kept"
    );
    assert!(store.execution(old_id).await.unwrap().is_none());
    let orphans: i64 =
        sqlx::query_scalar("SELECT count(*) FROM etl_execution_details WHERE execution_id = $1")
            .bind(old_id as i32)
            .fetch_one(pool(&destination))
            .await
            .unwrap();
    assert_eq!(orphans, 0, "details go with their execution");
    let kept = store.execution(recovery_id).await.unwrap().unwrap();
    assert!(kept.is_recovery);
    assert_eq!(
        kept.recovered_gap_id, None,
        "the pointer to a purged execution is cleared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmigrated_and_newer_schemas_are_refused() {
    let url = fresh_url().await;
    let destination = Destination::connect(&url).await.unwrap();
    let every_migration: Vec<i64> = fluxion_etl::loaders::postgres::MIGRATOR
        .iter()
        .map(|m| m.version)
        .collect();
    assert!(every_migration.len() >= 3, "{every_migration:?}");
    assert_eq!(
        destination.schema_status().await.unwrap(),
        SchemaStatus::Behind {
            pending: every_migration
        }
    );
    let refused = destination.ensure_current().await.unwrap_err().to_string();
    assert!(refused.contains("fluxion migrate"), "{refused}");

    destination.migrate().await.unwrap();
    destination.ensure_current().await.unwrap();
    // Migrating again is a no-op.
    destination.migrate().await.unwrap();

    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (20990101000000, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(pool(&destination))
    .await
    .unwrap();
    assert_eq!(
        destination.schema_status().await.unwrap(),
        SchemaStatus::Ahead {
            unknown: vec![20990101000000]
        }
    );
    let refused = destination.ensure_current().await.unwrap_err().to_string();
    assert!(refused.contains("newer Fluxion"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modified_migration_is_detected() {
    let url = fresh_url().await;
    let destination = migrated(&url).await;
    // What the database remembers of migration 1 no longer matches what this build embeds:
    // either side was edited after it was applied.
    sqlx::query(
        "UPDATE _sqlx_migrations SET checksum = sha384('edited by hand'::bytea) WHERE version = 1",
    )
    .execute(pool(&destination))
    .await
    .unwrap();
    let status = destination.schema_status().await.unwrap_err().to_string();
    assert!(status.contains("checksum mismatch"), "{status}");
    let refused = destination.ensure_current().await.unwrap_err().to_string();
    assert!(refused.contains("checksum mismatch"), "{refused}");
    let migrate = destination.migrate().await.unwrap_err().to_string();
    assert!(
        migrate.contains("previously applied but has been modified"),
        "{migrate}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_opened_without_a_lease_merges_the_same_way() {
    // `Loader::begin` (no execution id, no lease) is what a custom runner may call; rows still
    // carry the execution that loaded them, taken from the detail at `finish`.
    let url = fresh_url().await;
    let destination = migrated(&url).await;
    let w = window(8, 12);
    let lines = lines_in("tienda_01", w, 12);
    let tracker =
        ExecutionTracker::start_execution(destination.tracker_store(), spec(&["tienda_01"]))
            .await
            .unwrap();
    for round in 0..2 {
        let st = tracker.start_store(store_ref("tienda_01"), Some(w));
        let mut session = destination
            .loader()
            .begin(&sales_unit("tienda_01", w))
            .await
            .unwrap();
        session.write(Batch::Sales(lines.clone())).await.unwrap();
        let detail = st.detail(
            tracker.id(),
            fluxion_etl::model::DataKind::Sales,
            Default::default(),
            None,
            None,
        );
        let stats = session.finish(&detail).await.unwrap();
        assert!(stats.detail_recorded);
        let expected = if round == 0 { (12, 0) } else { (0, 12) };
        assert_eq!((stats.inserted, stats.unchanged), expected);
    }
    let owners: Vec<Option<i64>> =
        sqlx::query_scalar("SELECT DISTINCT execution_id FROM sales_lines")
            .fetch_all(pool(&destination))
            .await
            .unwrap();
    assert_eq!(owners, vec![Some(tracker.id())]);
}

/// A port nobody listens on refuses the connection: that is definitive, so connecting fails at
/// once however long the connect timeout (the pool used to retry it for 30 s). The deadline
/// below only catches that retrying; it is not a speed figure.
#[tokio::test]
async fn a_refused_destination_fails_at_once() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let url = format!("postgres://fluxion@127.0.0.1:{port}/fluxion");
    let connect = Destination::connect_within(&url, Duration::from_secs(3600));
    let result = tokio::time::timeout(Duration::from_secs(20), connect)
        .await
        .expect("a refused connection is not retried until the pool gives up");
    let err = result.expect_err("nobody listens there").to_string();
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

/// A server that accepts the connection and never answers fails after
/// `[destination] connect_timeout_secs`, and the error names the key.
#[tokio::test]
async fn a_silent_destination_fails_after_the_connect_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let url = format!("postgres://fluxion@127.0.0.1:{port}/fluxion");
    let err = Destination::connect_within(&url, Duration::from_millis(300))
        .await
        .expect_err("the server never answers")
        .to_string();
    assert!(err.contains("connect_timeout_secs"), "{err}");
    held.abort();
}
