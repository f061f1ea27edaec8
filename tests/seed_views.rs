//! Seed 001's monitoring SQL runs unchanged against both destinations: `etl_ejecuciones`,
//! `v_gaps_por_recuperar` and `v_metricas_confiabilidad` (migration 0005) answer the seed's
//! three queries with its Spanish columns and values after a real run over the KLK simulator.

use std::collections::BTreeMap;

use fluxion_etl::config::Config;
use fluxion_etl::loaders::Destination;
use fluxion_etl::model::{store_today, DataKind};
use fluxion_etl::tracker::ExecutionStatus;
use fluxion_etl::{Fluxion, RunRequest};
use fluxion_etl_sim::klk::{Endpoint, Fault, FaultRule, KlkSim, KlkSimConfig};
use sqlx::{Column, Row};

use crate::common::spec;

/// Seed 001, "Monitoreo" 1: the last ten sales executions.
const LAST_RUNS: &str = "SELECT
    fecha_inicio,
    ubicacion_nombre,
    estado,
    modo,
    registros_cargados,
    duracion_segundos,
    error_tipo
FROM etl_ejecuciones
WHERE etl_tipo = 'ventas'
ORDER BY fecha_inicio DESC
LIMIT 10;";

/// Seed 001, "Monitoreo" 2: the gaps to recover.
const GAPS: &str = "SELECT
    ubicacion_nombre,
    fecha_desde,
    hora_desde,
    hora_hasta,
    error_tipo,
    horas_desde_fallo
FROM v_gaps_por_recuperar
ORDER BY fecha_fallo ASC;";

/// Seed 001, "Monitoreo" 3: today's success rate per store.
const TODAY: &str = "SELECT
    ubicacion_nombre,
    total_ejecuciones,
    ejecuciones_exitosas,
    ejecuciones_fallidas,
    tasa_exito_pct,
    duracion_promedio_seg
FROM v_metricas_confiabilidad
WHERE fecha = CURRENT_DATE
    AND etl_tipo = 'ventas'
ORDER BY tasa_exito_pct ASC;";

type Rows = Vec<BTreeMap<String, Option<String>>>;

/// Runs `sql` as written; every value as text (`None` for NULL).
async fn query(destination: &Destination, sql: &str) -> Rows {
    match destination {
        Destination::Sqlite(d) => sqlx::query(sql)
            .fetch_all(d.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .map(|c| {
                        let value: Option<String> = row.try_get_unchecked(c.ordinal()).unwrap();
                        (c.name().to_owned(), value)
                    })
                    .collect()
            })
            .collect(),
        Destination::Postgres(d) => {
            // The seed's statement as written, its rows read back as JSON objects.
            let wrapped = format!(
                "SELECT row_to_json(q)::text FROM ({}) q",
                sql.trim_end_matches(';')
            );
            sqlx::query_scalar::<_, String>(&wrapped)
                .fetch_all(d.pool())
                .await
                .unwrap()
                .iter()
                .map(|json| {
                    let object: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(json).unwrap();
                    object
                        .into_iter()
                        .map(|(k, v)| {
                            let text = match v {
                                serde_json::Value::Null => None,
                                serde_json::Value::String(s) => Some(s),
                                other => Some(other.to_string()),
                            };
                            (k, text)
                        })
                        .collect()
                })
                .collect()
        }
        other => panic!("no test queries for {other:?}"),
    }
}

fn text<'a>(row: &'a BTreeMap<String, Option<String>>, column: &str) -> Option<&'a str> {
    row.get(column)
        .unwrap_or_else(|| panic!("no column {column} in {row:?}"))
        .as_deref()
}

fn number(row: &BTreeMap<String, Option<String>>, column: &str) -> f64 {
    text(row, column).unwrap().parse().unwrap()
}

async fn seed_queries_run_unchanged(url: String) {
    let sim = KlkSim::start(
        KlkSimConfig {
            lines_per_day: (20, 40),
            articles: 60,
            ..KlkSimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    // AV. BOLIVAR's sales endpoint answers 500.
    sim.set_faults(vec![FaultRule::new(Fault::Status { code: 500 })
        .for_branch("SUC007")
        .on(Endpoint::Ventas)]);
    let toml = format!(
        "[destination]\nurl = \"{url}\"\n[batch]\nretries = 0\nretry_delay_ms = 1\n\
         [klk]\nbase_url = \"{}\"\n\
         [[stores]]\nid = \"tienda_01\"\nname = \"PERIFERICO\"\n[stores.source]\nsystem = \"klk\"\n\
         branch = \"SUC001\"\nwarehouse = \"APP-TPF\"\n\
         [[stores]]\nid = \"tienda_02\"\nname = \"AV. BOLIVAR\"\n[stores.source]\nsystem = \"klk\"\n\
         branch = \"SUC007\"\nwarehouse = \"TAVBOL\"\n",
        sim.base_url()
    );
    let fluxion = Fluxion::from_config(Config::from_toml_str(&toml, "seed-views").unwrap())
        .await
        .unwrap();
    let yesterday = store_today().pred_opt().unwrap();
    let report = fluxion
        .run(RunRequest::days(DataKind::Sales, yesterday, yesterday))
        .await
        .unwrap();
    assert_eq!(report.status, ExecutionStatus::Partial);
    // The execution's phase times are wall-clock: the stores ran in parallel, yet the three add
    // up to no more than the execution's duration (each is rounded to 0.01 s on PostgreSQL).
    let view = fluxion
        .tracker_store()
        .execution(report.execution_id)
        .await
        .unwrap()
        .unwrap();
    let phases: f64 = [
        view.extract_duration_seconds,
        view.transform_duration_seconds,
        view.load_duration_seconds,
    ]
    .iter()
    .map(|s| s.unwrap())
    .sum();
    assert!(
        phases <= view.duration_seconds.unwrap() + 0.03,
        "{phases} > {:?}",
        view.duration_seconds
    );
    // And a run still in progress over both stores.
    fluxion
        .tracker_store()
        .insert_execution(&spec(&["tienda_01", "tienda_02"]))
        .await
        .unwrap();
    let destination = fluxion.destination();

    let runs = query(destination, LAST_RUNS).await;
    assert_eq!(runs.len(), 4, "{runs:#?}");
    let mut seen: Vec<(&str, &str, &str, Option<&str>)> = runs
        .iter()
        .map(|r| {
            (
                text(r, "ubicacion_nombre").unwrap(),
                text(r, "estado").unwrap(),
                text(r, "modo").unwrap(),
                text(r, "error_tipo"),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("AV. BOLIVAR", "en_proceso", "completo", None),
            ("AV. BOLIVAR", "fallido", "completo", Some("api_error")),
            ("PERIFERICO", "en_proceso", "completo", None),
            ("PERIFERICO", "exitoso", "completo", None),
        ]
    );
    let loaded = runs
        .iter()
        .find(|r| text(r, "estado") == Some("exitoso"))
        .unwrap();
    assert!(number(loaded, "registros_cargados") >= 20.0, "{loaded:?}");

    let gaps = query(destination, GAPS).await;
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    let gap = &gaps[0];
    assert_eq!(text(gap, "ubicacion_nombre"), Some("AV. BOLIVAR"));
    assert_eq!(
        text(gap, "fecha_desde"),
        Some(yesterday.to_string().as_str())
    );
    assert_eq!(
        (text(gap, "hora_desde"), text(gap, "hora_hasta")),
        (None, None)
    );
    assert_eq!(text(gap, "error_tipo"), Some("api_error"));
    let hours = number(gap, "horas_desde_fallo");
    assert!((0.0..1.0).contains(&hours), "{hours}");

    let today = query(destination, TODAY).await;
    let rates: Vec<(&str, f64, f64, f64, f64)> = today
        .iter()
        .map(|r| {
            (
                text(r, "ubicacion_nombre").unwrap(),
                number(r, "total_ejecuciones"),
                number(r, "ejecuciones_exitosas"),
                number(r, "ejecuciones_fallidas"),
                number(r, "tasa_exito_pct"),
            )
        })
        .collect();
    // The in-progress rows count as executions; the rate is over finished ones.
    assert_eq!(
        rates,
        [
            ("AV. BOLIVAR", 2.0, 0.0, 1.0, 0.0),
            ("PERIFERICO", 2.0, 1.0, 0.0, 100.0)
        ]
    );
}

#[tokio::test]
async fn seed_001_monitoring_queries_run_unchanged_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("seed.db").display());
    seed_queries_run_unchanged(url).await;
}

#[tokio::test]
async fn seed_001_monitoring_queries_run_unchanged_on_postgres() {
    seed_queries_run_unchanged(crate::common::db::migrated_postgres_url().await).await;
}
