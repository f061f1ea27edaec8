//! `GET /api/openapi.json`: the OpenAPI 3.0 document, generated from the router.
//!
//! A route is declared once: its handler carries `#[utoipa::path]` (path, method, summary,
//! parameters, body, answers) and sits in one role's group of `route_groups` (which
//! [`crate::app`] reads); the router guards each group with its role, and this document gives
//! each group's operations that role's `security`, its `x-fluxion-role` and its 401/403 answers.
//! [`crate::ROUTES`] is read from the document.
//!
//! The server's own answers derive their schemas. The library's (history, executions, gaps,
//! scheduler) are described by the `schemas` module below rather than by a `utoipa` feature of
//! the library: the library knows nothing of HTTP, these are the shapes this API promises, and
//! `tests/api.rs` checks every answer's fields against them so they cannot drift.
//!
//! ```
//! let doc = fluxion_etl_server::openapi::document();
//! assert_eq!(doc["openapi"], "3.0.3");
//! assert_eq!(doc["paths"]["/api/etl/history"]["get"]["x-fluxion-role"], "admin");
//! ```

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::{route_groups, Access, RouteDoc};

pub(crate) use schemas::*;

/// The document (built once per process).
pub fn document() -> Value {
    built().0.clone()
}

/// Every documented route.
pub(crate) fn routes() -> &'static [RouteDoc] {
    &built().1
}

fn built() -> &'static (Value, Vec<RouteDoc>) {
    static BUILT: OnceLock<(Value, Vec<RouteDoc>)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let doc = build();
        let routes = route_docs(&doc);
        (doc, routes)
    })
}

fn build() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for group in route_groups() {
        let api = match serde_json::to_value(group.routes.into_openapi()) {
            Ok(v) => v,
            Err(e) => {
                // Plain data structures; serializing them does not fail.
                tracing::error!("Cannot serialize a group of the OpenAPI document: {e}");
                continue;
            }
        };
        if let Some(found) = api["components"]["schemas"].as_object() {
            schemas.extend(found.clone());
        }
        let Some(found) = api["paths"].as_object() else {
            continue;
        };
        for (path, item) in found {
            let Some(item) = item.as_object() else {
                continue;
            };
            let entry = paths
                .entry(path.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            for (method, op) in item {
                let mut op = op.clone();
                guarded(&mut op, group.access);
                op["operationId"] = json!(operation_id(method, path));
                entry[method] = op;
            }
        }
    }
    schemas.insert("Error".into(), schema_of::<Error>());
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Fluxion ETL",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Manual runs, live logs, execution history and statistics of Fluxion ETL (seeds 000 and 003). Bearer tokens: FLUXION_ADMIN_TOKENS (admin), FLUXION_VIEWER_TOKENS (viewer).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
    });
    to_openapi_30(&mut doc);
    doc
}

/// What a group's role adds to each of its operations: the role, the bearer scheme, and the
/// answers of the guard in front of it.
fn guarded(op: &mut Value, access: Access) {
    op["x-fluxion-role"] = json!(match access {
        Access::Public => "public",
        Access::Viewer => "viewer",
        Access::Admin => "admin",
    });
    if access == Access::Public {
        return;
    }
    op["security"] = json!([{ "bearer": [] }]);
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
        })
    };
    op["responses"]["401"] = error("No token, or an unknown one.");
    if access == Access::Admin {
        op["responses"]["403"] = error("A viewer token on an admin route.");
    }
}

/// `get_api_etl_history_id`: the ids this document has always had.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_lowercase();
    for part in path.split(['/', '.', '{', '}']).filter(|p| !p.is_empty()) {
        id.push('_');
        id.push_str(&part.replace('-', "_"));
    }
    id
}

fn schema_of<T: utoipa::ToSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or_else(|_| json!({ "type": "object" }))
}

/// `utoipa` writes OpenAPI 3.1 schemas; this document is 3.0.3 (what it has always declared, and
/// what most client generators read), so the few 3.1 forms it produces are rewritten: a
/// nullable type (`"type": ["string", "null"]`, `oneOf` with `{"type": "null"}`) becomes
/// `nullable: true`, a schema's `examples` list its `example`, a `$ref` with siblings an
/// `allOf`, and `propertyNames` (always strings here, as in JSON) goes.
fn to_openapi_30(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(to_openapi_30),
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get("type") {
                let nullable = types.iter().any(|t| t == "null");
                let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if let [one] = rest.as_slice() {
                    map.insert("type".into(), one.clone());
                    if nullable {
                        map.insert("nullable".into(), Value::Bool(true));
                    }
                }
            }
            for key in ["oneOf", "anyOf"] {
                let Some(Value::Array(options)) = map.get(key) else {
                    continue;
                };
                let is_null = |o: &Value| o.get("type").is_some_and(|t| t == "null");
                if !options.iter().any(is_null) {
                    continue;
                }
                let rest: Vec<Value> = options.iter().filter(|o| !is_null(o)).cloned().collect();
                map.remove(key);
                if let [Value::Object(one)] = rest.as_slice() {
                    if one.contains_key("$ref") {
                        map.insert("allOf".into(), json!([one]));
                    } else {
                        for (k, v) in one {
                            map.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                } else {
                    map.insert(key.into(), Value::Array(rest));
                }
                map.insert("nullable".into(), Value::Bool(true));
            }
            // 3.0 ignores the siblings of a `$ref` (a field's description, `nullable`): the
            // reference goes into an `allOf` of one, which keeps them.
            if map.len() > 1 {
                if let Some(reference) = map.remove("$ref") {
                    map.insert("allOf".into(), json!([{ "$ref": reference }]));
                }
            }
            map.remove("propertyNames");
            if let Some(Value::Array(examples)) = map.remove("examples") {
                if let Some(first) = examples.into_iter().next() {
                    map.insert("example".into(), first);
                }
            }
            map.values_mut().for_each(to_openapi_30);
        }
        _ => {}
    }
}

/// The routes of the document, for [`crate::ROUTES`]. Its strings are made `'static` once per
/// process (the table lives as long as the process, as the document does).
fn route_docs(doc: &Value) -> Vec<RouteDoc> {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let path = leak(path);
        for (method, op) in item.as_object().into_iter().flatten() {
            let method = match method.as_str() {
                "get" => "GET",
                "post" => "POST",
                "put" => "PUT",
                "delete" => "DELETE",
                "patch" => "PATCH",
                other => leak(&other.to_uppercase()),
            };
            let access = match op["x-fluxion-role"].as_str() {
                Some("admin") => Access::Admin,
                Some("viewer") => Access::Viewer,
                _ => Access::Public,
            };
            routes.push(RouteDoc {
                method,
                path,
                access,
                summary: leak(op["summary"].as_str().unwrap_or_default()),
            });
        }
    }
    routes
}

/// The shapes of the API's answers that the library defines: documentation only (nothing builds
/// these; the handlers answer the library's own types), with the fields those types serialize.
#[allow(dead_code)]
mod schemas {
    use std::collections::HashMap;

    use chrono::{DateTime, Utc};
    use utoipa::{IntoResponses, ToSchema};

    /// 400 and 422: the answers of a route that reads parameters or a body.
    #[derive(IntoResponses)]
    pub(crate) enum BadInput {
        /// The request cannot be read.
        #[response(status = 400, description = "The request cannot be read.")]
        Unreadable(Error),
        /// The request is invalid.
        #[response(
            status = 422,
            description = "The request is invalid; `detail` says why."
        )]
        Invalid(Error),
    }

    /// An error: `{"error": "<code>", "detail": "<what is wrong>"}`.
    #[derive(ToSchema)]
    pub(crate) struct Error {
        /// `bad_request`, `invalid_request`, `not_found`, `unauthorized`, `forbidden`,
        /// `conflict`, `unavailable`, `payload_too_large`, `internal`.
        error: String,
        /// What is wrong.
        detail: String,
    }

    /// A probe's answer.
    #[derive(ToSchema)]
    pub(crate) struct Health {
        /// `ok`, `ready`, `not_ready`, `shutting_down`.
        status: String,
    }

    /// One execution in the history.
    #[derive(ToSchema)]
    pub(crate) struct HistoryEntry {
        id: i64,
        etl_name: String,
        etl_type: Option<String>,
        started_at: DateTime<Utc>,
        finished_at: Option<DateTime<Utc>>,
        duration_seconds: Option<f64>,
        status: String,
        records_extracted: i64,
        records_loaded: i64,
        duplicates_skipped: i64,
        tiendas_count: i64,
        tiendas_exitosas: i64,
        tiendas_fallidas: i64,
        error_phase: Option<String>,
        error_category: Option<String>,
        triggered_by: String,
        is_recovery: bool,
    }

    /// One store's result within an execution.
    #[derive(ToSchema)]
    pub(crate) struct StoreDetail {
        tienda_id: String,
        tienda_nombre: Option<String>,
        source_system: Option<String>,
        status: String,
        started_at: Option<DateTime<Utc>>,
        finished_at: Option<DateTime<Utc>>,
        duration_seconds: Option<f64>,
        records_extracted: i64,
        records_loaded: i64,
        duplicates_skipped: i64,
        records_inserted: i64,
        records_updated: i64,
        records_deleted: i64,
        error_phase: Option<String>,
        error_category: Option<String>,
        error_message: Option<String>,
        server_ip: Option<String>,
        server_port: Option<i32>,
        connection_latency_ms: Option<f64>,
    }

    /// One execution with its per-store detail and phase durations.
    #[derive(ToSchema)]
    pub(crate) struct Execution {
        id: i64,
        etl_name: String,
        etl_type: Option<String>,
        mode: Option<String>,
        started_at: DateTime<Utc>,
        finished_at: Option<DateTime<Utc>>,
        duration_seconds: Option<f64>,
        fecha_desde: Option<DateTime<Utc>>,
        fecha_hasta: Option<DateTime<Utc>>,
        status: String,
        records_extracted: i64,
        records_loaded: i64,
        duplicates_skipped: i64,
        gaps_recovered: i64,
        extract_duration_seconds: Option<f64>,
        transform_duration_seconds: Option<f64>,
        load_duration_seconds: Option<f64>,
        error_phase: Option<String>,
        error_category: Option<String>,
        error_source: Option<String>,
        error_message: Option<String>,
        error_detail: Option<String>,
        triggered_by: String,
        source_system: Option<String>,
        is_recovery: bool,
        recovered_gap_id: Option<i64>,
        api_requests_count: Option<i64>,
        api_errors_count: Option<i64>,
        #[schema(value_type = Option<Object>)]
        network_diagnostics: Option<serde_json::Value>,
        tiendas_detail: Vec<StoreDetail>,
    }

    /// A store among those with most failures.
    #[derive(ToSchema)]
    pub(crate) struct StoreFailures {
        tienda_id: String,
        tienda_nombre: Option<String>,
        total_ejecuciones: i64,
        fallos: i64,
        error_mas_comun: Option<String>,
    }

    /// Success rate, errors by phase and category, stores with most failures.
    #[derive(ToSchema)]
    pub(crate) struct Stats {
        total_executions: i64,
        successful: i64,
        partial: i64,
        failed: i64,
        success_rate: f64,
        avg_duration_seconds: f64,
        total_records_loaded: i64,
        total_duplicates: i64,
        errors_by_phase: HashMap<String, i64>,
        errors_by_category: HashMap<String, i64>,
        tiendas_con_mas_fallos: Vec<StoreFailures>,
    }

    /// One store's coverage.
    #[derive(ToSchema)]
    pub(crate) struct StoreGaps {
        ubicacion_id: String,
        ubicacion_nombre: String,
        sistema: String,
        activa: bool,
        total_registros: i64,
        primera_fecha: Option<String>,
        ultima_fecha: Option<String>,
        dias_atraso: Option<i64>,
        fecha_inicio: Option<String>,
        dias_esperados: i64,
        dias_con_datos: i64,
        completitud_pct: f64,
        estado: String,
        tiene_gaps_historicos: bool,
        #[schema(value_type = Vec<Object>)]
        dias_faltantes: Vec<serde_json::Value>,
        #[schema(value_type = Object)]
        recomendaciones: serde_json::Value,
        #[schema(value_type = Vec<Object>)]
        fallos_por_recuperar: Vec<serde_json::Value>,
        #[schema(value_type = Vec<Object>)]
        horas_sin_ventas: Vec<serde_json::Value>,
    }

    /// Per store: records, last date, days behind, completeness, badge, recommendations.
    #[derive(ToSchema)]
    pub(crate) struct GapReport {
        generado_en: DateTime<Utc>,
        etl_tipo: String,
        fecha_referencia: String,
        horas_ventana_fallos: i64,
        #[schema(value_type = Object)]
        resumen: serde_json::Value,
        tiendas: Vec<StoreGaps>,
    }

    /// One store's source, dialled now.
    #[derive(ToSchema)]
    pub(crate) struct StoreReachability {
        tienda_id: String,
        tienda_nombre: String,
        source_system: String,
        target: String,
        host: String,
        port: i64,
        ip: Option<String>,
        via_vpn: bool,
        reachable: bool,
        latency_ms: Option<f64>,
        error_category: Option<String>,
        error: Option<String>,
    }

    /// Every store's source, dialled now.
    #[derive(ToSchema)]
    pub(crate) struct ConnectivityReport {
        checked_at: DateTime<Utc>,
        reachable: i64,
        unreachable: i64,
        tiendas: Vec<StoreReachability>,
    }

    /// Changes to the scheduler's settings; absent fields keep their value.
    // Deserialize only for `deny_unknown_fields`, which is how utoipa writes
    // `additionalProperties: false` (the library's type rejects unknown fields).
    #[derive(ToSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct ScheduleSettings {
        #[schema(minimum = 0, maximum = 23)]
        execution_hour: Option<u32>,
        #[schema(minimum = 0, maximum = 59)]
        execution_minute: Option<u32>,
        #[schema(minimum = 0, maximum = 20)]
        max_retries: Option<u32>,
        #[schema(minimum = 1, maximum = 720)]
        retry_interval_minutes: Option<u32>,
    }

    /// The scheduler's settings in effect.
    #[derive(ToSchema)]
    pub(crate) struct EffectiveSettings {
        execution_hour: u32,
        execution_minute: u32,
        max_retries: u32,
        retry_interval_minutes: u32,
        incremental_interval_minutes: u32,
        incremental_overlap_minutes: u32,
        opening_hour: u32,
        closing_hour: u32,
        recovery_hour: u32,
        time_zone: String,
    }

    /// The scheduler: enabled, running jobs, next run, last run, retries, daily summary.
    #[derive(ToSchema)]
    pub(crate) struct SchedulerStatus {
        enabled: bool,
        is_running: bool,
        #[schema(value_type = Vec<Object>)]
        running_jobs: Vec<serde_json::Value>,
        next_run: Option<DateTime<Utc>>,
        next_run_local: Option<String>,
        next_tick: Option<DateTime<Utc>>,
        next_tick_job: Option<String>,
        #[schema(value_type = Option<Object>)]
        last_run: Option<serde_json::Value>,
        pending_retries: u32,
        pending_stores: Vec<String>,
        next_retry_at: Option<DateTime<Utc>>,
        #[schema(value_type = Option<Object>)]
        daily_summary: Option<serde_json::Value>,
        config: EffectiveSettings,
    }

    /// A job the scheduler started.
    #[derive(ToSchema)]
    pub(crate) struct StartedJob {
        job: String,
        slot: DateTime<Utc>,
        stores: Vec<String>,
        skipped: Vec<String>,
        execution_id: Option<i64>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks every value; `check` sees each object with its JSON path.
    fn walk(value: &Value, at: &str, check: &mut impl FnMut(&str, &Map<String, Value>)) {
        match value {
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{at}/{i}"), check);
                }
            }
            Value::Object(map) => {
                check(at, map);
                for (k, v) in map {
                    walk(v, &format!("{at}/{k}"), check);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_document_has_no_openapi_31_forms() {
        let doc = document();
        let mut found = Vec::new();
        walk(&doc, "", &mut |at, map| {
            if map.get("type").is_some_and(|t| t.is_array() || t == "null") {
                found.push(format!("{at}: type {}", map["type"]));
            }
            if map.get("examples").is_some_and(Value::is_array) {
                found.push(format!("{at}: examples list"));
            }
            if map.contains_key("$ref") && map.len() > 1 {
                found.push(format!("{at}: $ref with siblings"));
            }
            if map.contains_key("propertyNames") {
                found.push(format!("{at}: propertyNames"));
            }
        });
        assert!(found.is_empty(), "{found:#?}");
        // The rewrite kept what it rewrote: an optional reference is still a nullable one.
        let status = &doc["components"]["schemas"]["RunStatus"]["properties"];
        assert_eq!(status["execution_id"]["nullable"], true);
        assert_eq!(status["execution_id"]["type"], "integer");
    }

    #[test]
    fn a_nullable_31_schema_becomes_a_30_one() {
        let mut v = json!({
            "a": { "type": ["string", "null"], "examples": ["x", "y"] },
            "b": { "oneOf": [{ "type": "null" }, { "$ref": "#/components/schemas/B" }], "description": "d" },
            "c": { "type": "object", "propertyNames": { "type": "string" } },
        });
        to_openapi_30(&mut v);
        assert_eq!(
            v,
            json!({
                "a": { "type": "string", "nullable": true, "example": "x" },
                "b": { "allOf": [{ "$ref": "#/components/schemas/B" }], "nullable": true, "description": "d" },
                "c": { "type": "object" },
            })
        );
    }

    #[test]
    fn every_route_has_its_role_from_its_group() {
        let doc = document();
        assert!(doc["paths"]["/healthz"]["get"].get("security").is_none());
        assert_eq!(
            doc["paths"]["/api/etl/ventas/logs/stream"]["get"]["x-fluxion-role"],
            "viewer"
        );
        assert_eq!(
            doc["paths"]["/api/etl/run"]["post"]["security"],
            json!([{ "bearer": [] }])
        );
        assert!(doc["paths"]["/api/etl/run"]["post"]["responses"]["403"].is_object());
        assert_eq!(routes().len(), 19);
    }
}
