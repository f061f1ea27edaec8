//! `GET /api/openapi.json`: an OpenAPI 3.0 document generated from [`ROUTES`],
//! so that it lists exactly the routes the router serves, with the role each needs, its
//! parameters, its body and its answer's schema (field names of seeds 000 and 003).
//!
//! ```
//! let doc = fluxion_etl_server::openapi::document();
//! assert_eq!(doc["openapi"], "3.0.3");
//! assert_eq!(doc["paths"]["/api/etl/history"]["get"]["x-fluxion-role"], "admin");
//! ```

use serde_json::{json, Map, Value};

use crate::{Access, ROUTES};

/// A schema of an object from `name[?]: type` pairs (`?` marks a nullable field; types are
/// `string`, `integer`, `number`, `boolean`, `date-time`, `[T]` arrays, `#Name` references,
/// `object`).
fn object(fields: &[(&str, &str)]) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, ty) in fields {
        let (name, nullable) = match name.strip_suffix('?') {
            Some(n) => (n, true),
            None => (*name, false),
        };
        let mut schema = ty_schema(ty);
        if nullable {
            if let Value::Object(m) = &mut schema {
                if m.contains_key("$ref") {
                    schema = json!({ "allOf": [schema], "nullable": true });
                } else {
                    m.insert("nullable".into(), Value::Bool(true));
                }
            }
        }
        props.insert(name.to_owned(), schema);
        required.push(Value::String(name.to_owned()));
    }
    json!({ "type": "object", "properties": props, "required": required })
}

fn ty_schema(ty: &str) -> Value {
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return json!({ "type": "array", "items": ty_schema(inner) });
    }
    if let Some(r) = ty.strip_prefix('#') {
        return json!({ "$ref": format!("#/components/schemas/{r}") });
    }
    match ty {
        "date-time" => json!({ "type": "string", "format": "date-time" }),
        "map" => json!({ "type": "object", "additionalProperties": { "type": "integer" } }),
        other => json!({ "type": other }),
    }
}

fn schemas() -> Value {
    json!({
        "Error": object(&[("error", "string"), ("detail", "string")]),
        "HistoryEntry": object(&[
            ("id", "integer"), ("etl_name", "string"), ("etl_type?", "string"),
            ("started_at", "date-time"), ("finished_at?", "date-time"),
            ("duration_seconds?", "number"), ("status", "string"),
            ("records_extracted", "integer"), ("records_loaded", "integer"),
            ("duplicates_skipped", "integer"), ("tiendas_count", "integer"),
            ("tiendas_exitosas", "integer"), ("tiendas_fallidas", "integer"),
            ("error_phase?", "string"), ("error_category?", "string"),
            ("triggered_by", "string"), ("is_recovery", "boolean"),
        ]),
        "StoreDetail": object(&[
            ("tienda_id", "string"), ("tienda_nombre?", "string"), ("source_system?", "string"),
            ("status", "string"), ("started_at?", "date-time"), ("finished_at?", "date-time"),
            ("duration_seconds?", "number"), ("records_extracted", "integer"),
            ("records_loaded", "integer"), ("duplicates_skipped", "integer"),
            ("records_inserted", "integer"), ("records_updated", "integer"),
            ("records_deleted", "integer"), ("error_phase?", "string"),
            ("error_category?", "string"), ("error_message?", "string"),
            ("server_ip?", "string"), ("server_port?", "integer"),
            ("connection_latency_ms?", "number"),
        ]),
        "Execution": object(&[
            ("id", "integer"), ("etl_name", "string"), ("etl_type?", "string"),
            ("mode?", "string"), ("started_at", "date-time"), ("finished_at?", "date-time"),
            ("duration_seconds?", "number"), ("fecha_desde?", "date-time"),
            ("fecha_hasta?", "date-time"), ("status", "string"),
            ("records_extracted", "integer"), ("records_loaded", "integer"),
            ("duplicates_skipped", "integer"), ("gaps_recovered", "integer"),
            ("extract_duration_seconds?", "number"), ("transform_duration_seconds?", "number"),
            ("load_duration_seconds?", "number"), ("error_phase?", "string"),
            ("error_category?", "string"), ("error_source?", "string"),
            ("error_message?", "string"), ("error_detail?", "string"),
            ("triggered_by", "string"), ("source_system?", "string"), ("is_recovery", "boolean"),
            ("recovered_gap_id?", "integer"), ("api_requests_count?", "integer"),
            ("api_errors_count?", "integer"), ("network_diagnostics?", "object"),
            ("tiendas_detail", "[#StoreDetail]"),
        ]),
        "StoreFailures": object(&[
            ("tienda_id", "string"), ("tienda_nombre?", "string"),
            ("total_ejecuciones", "integer"), ("fallos", "integer"),
            ("error_mas_comun?", "string"),
        ]),
        "Stats": object(&[
            ("total_executions", "integer"), ("successful", "integer"), ("partial", "integer"),
            ("failed", "integer"), ("success_rate", "number"),
            ("avg_duration_seconds", "number"), ("total_records_loaded", "integer"),
            ("total_duplicates", "integer"), ("errors_by_phase", "map"),
            ("errors_by_category", "map"), ("tiendas_con_mas_fallos", "[#StoreFailures]"),
        ]),
        "RunRequest": {
            "type": "object",
            "properties": {
                "etl_name": { "type": "string", "enum": ["ventas", "inventario"], "default": "ventas" },
                "tienda_ids": { "type": "array", "items": { "type": "string" }, "description": "Empty or absent: every active store." },
                "tienda_id": { "type": "string", "description": "One store (alias `ubicacion_id`)." },
                "fecha_inicio": { "type": "string", "example": "2026-01-25 00:00:00", "description": "Store-local; `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`." },
                "fecha_fin": { "type": "string", "example": "2026-01-25 23:59:59", "description": "Store-local; a date or `…23:59:59` includes that day." }
            }
        },
        "RunStarted": object(&[
            ("message", "string"), ("execution_id", "integer"), ("etl_name", "string"),
            ("tienda_ids", "[string]"), ("triggered_by", "string"), ("started_at", "date-time"),
        ]),
        "RunStatus": object(&[
            ("status", "string"), ("running", "boolean"), ("execution_id?", "integer"),
            ("triggered_by?", "string"), ("started_at?", "date-time"),
            ("finished_at?", "date-time"), ("duration_seconds?", "number"),
            ("fecha_desde?", "date-time"), ("fecha_hasta?", "date-time"),
            ("tiendas_count?", "integer"), ("tiendas_procesadas", "integer"),
            ("tiendas_exitosas", "integer"), ("tiendas_fallidas", "integer"),
            ("records_loaded", "integer"), ("logs_count", "integer"),
            ("active_executions", "[integer]"),
        ]),
        "LogLine": object(&[
            ("id", "integer"), ("execution_id", "integer"), ("timestamp", "date-time"),
            ("level", "string"), ("message", "string"), ("store?", "string"),
        ]),
        "LogPage": object(&[
            ("execution_id", "integer"), ("etl_name?", "string"), ("status", "string"),
            ("running", "boolean"), ("logs", "[#LogLine]"), ("total", "integer"),
            ("next_since", "integer"),
        ]),
        "StoreGaps": object(&[
            ("ubicacion_id", "string"), ("ubicacion_nombre", "string"), ("sistema", "string"),
            ("activa", "boolean"), ("total_registros", "integer"), ("primera_fecha?", "string"),
            ("ultima_fecha?", "string"), ("dias_atraso?", "integer"), ("fecha_inicio?", "string"),
            ("dias_esperados", "integer"), ("dias_con_datos", "integer"),
            ("completitud_pct", "number"), ("estado", "string"),
            ("tiene_gaps_historicos", "boolean"), ("dias_faltantes", "[object]"),
            ("recomendaciones", "object"), ("fallos_por_recuperar", "[object]"),
            ("horas_sin_ventas", "[object]"),
        ]),
        "StoreReachability": object(&[
            ("tienda_id", "string"), ("tienda_nombre", "string"), ("source_system", "string"),
            ("target", "string"), ("host", "string"), ("port", "integer"), ("ip?", "string"),
            ("via_vpn", "boolean"), ("reachable", "boolean"), ("latency_ms?", "number"),
            ("error_category?", "string"), ("error?", "string"),
        ]),
        "ConnectivityReport": object(&[
            ("checked_at", "date-time"), ("reachable", "integer"), ("unreachable", "integer"),
            ("tiendas", "[#StoreReachability]"),
        ]),
        "GapReport": object(&[
            ("generado_en", "date-time"), ("etl_tipo", "string"), ("fecha_referencia", "string"),
            ("horas_ventana_fallos", "integer"), ("resumen", "object"),
            ("tiendas", "[#StoreGaps]"),
        ]),
        "ScheduleSettings": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "execution_hour": { "type": "integer", "minimum": 0, "maximum": 23 },
                "execution_minute": { "type": "integer", "minimum": 0, "maximum": 59 },
                "max_retries": { "type": "integer", "minimum": 0, "maximum": 20 },
                "retry_interval_minutes": { "type": "integer", "minimum": 1, "maximum": 720 }
            }
        },
        "EffectiveSettings": object(&[
            ("execution_hour", "integer"), ("execution_minute", "integer"),
            ("max_retries", "integer"), ("retry_interval_minutes", "integer"),
            ("incremental_interval_minutes", "integer"), ("incremental_overlap_minutes", "integer"),
            ("opening_hour", "integer"), ("closing_hour", "integer"), ("recovery_hour", "integer"),
            ("time_zone", "string"),
        ]),
        "ConfigUpdated": object(&[("message", "string"), ("config", "#EffectiveSettings")]),
        "SchedulerStatus": object(&[
            ("enabled", "boolean"), ("is_running", "boolean"), ("running_jobs", "[object]"),
            ("next_run?", "date-time"), ("next_run_local?", "string"), ("next_tick?", "date-time"),
            ("next_tick_job?", "string"), ("last_run?", "object"), ("pending_retries", "integer"),
            ("pending_stores", "[string]"), ("next_retry_at?", "date-time"),
            ("daily_summary?", "object"), ("config", "#EffectiveSettings"),
        ]),
        "StartedJob": object(&[
            ("job", "string"), ("slot", "date-time"), ("stores", "[string]"),
            ("skipped", "[string]"), ("execution_id?", "integer"),
        ]),
        "Health": { "type": "object", "properties": { "status": { "type": "string" } }, "required": ["status"] },
    })
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": { "type": ty }, "description": description })
}

fn json_body(schema: &str) -> Value {
    json!({ "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

/// Parameters, request body and success answer of a route.
fn details(method: &str, path: &str) -> (Vec<Value>, Option<Value>, &'static str, Value) {
    let ok = |schema: &str| json_body(schema);
    match (method, path) {
        ("GET", "/api/etl/history") => (
            vec![
                query("etl_name", "string", "`ventas` or `inventario`"),
                query(
                    "status",
                    "string",
                    "`success`, `partial`, `failed`, `running`",
                ),
                query(
                    "fecha_desde",
                    "string",
                    "Started on or after this day (YYYY-MM-DD)",
                ),
                query(
                    "fecha_hasta",
                    "string",
                    "Started on or before this day (YYYY-MM-DD)",
                ),
                query(
                    "triggered_by",
                    "string",
                    "`eventbridge`, `fluxion_admin`, `cli`, `recovery`, `scheduler`",
                ),
                query("limit", "integer", "1–200, default 50"),
                query("offset", "integer", "Skip this many"),
            ],
            None,
            "200",
            json!({ "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/HistoryEntry" } } } } }),
        ),
        ("GET", "/api/etl/history/{id}") => (
            vec![
                json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }),
            ],
            None,
            "200",
            ok("Execution"),
        ),
        ("GET", "/api/etl/stats") => (
            vec![
                query("etl_name", "string", "`ventas` or `inventario`"),
                query("dias", "integer", "Days back, 1–90, default 7"),
            ],
            None,
            "200",
            ok("Stats"),
        ),
        ("POST", "/api/etl/run") | ("POST", "/api/etl/sync/ventas") => (
            Vec::new(),
            Some(json_body("RunRequest")),
            "202",
            ok("RunStarted"),
        ),
        ("GET", "/api/etl/ventas/status") => (Vec::new(), None, "200", ok("RunStatus")),
        ("GET", "/api/ventas/gaps") => (
            vec![
                query("tienda_ids", "string", "Only these stores, comma-separated"),
                query("ubicacion_id", "string", "Only this store"),
            ],
            None,
            "200",
            ok("GapReport"),
        ),
        ("GET", "/api/etl/connectivity") => (
            vec![
                query("tienda_ids", "string", "Only these stores, comma-separated"),
                query("ubicacion_id", "string", "Only this store"),
            ],
            None,
            "200",
            ok("ConnectivityReport"),
        ),
        ("GET", "/api/etl/scheduler/status")
        | ("POST", "/api/etl/scheduler/enable")
        | ("POST", "/api/etl/scheduler/disable") => {
            (Vec::new(), None, "200", ok("SchedulerStatus"))
        }
        ("POST", "/api/etl/scheduler/trigger") => (Vec::new(), None, "202", ok("StartedJob")),
        ("PUT", "/api/etl/scheduler/config") => (
            Vec::new(),
            Some(json_body("ScheduleSettings")),
            "200",
            ok("ConfigUpdated"),
        ),
        ("GET", "/api/etl/ventas/logs") => (
            vec![
                query(
                    "since",
                    "integer",
                    "Only lines with a greater id (the last `next_since`)",
                ),
                query(
                    "execution_id",
                    "integer",
                    "This execution instead of the current or last one",
                ),
            ],
            None,
            "200",
            ok("LogPage"),
        ),
        ("GET", "/api/etl/ventas/logs/stream") => (
            vec![
                query("since", "integer", "Replay lines with a greater id first"),
                query("execution_id", "integer", "Only this execution's lines"),
                query(
                    "access_token",
                    "string",
                    "The bearer token, for clients that cannot send headers",
                ),
            ],
            None,
            "200",
            json!({ "description": "`event: log` with a LogLine as data, `id:` the line id", "content": { "text/event-stream": { "schema": { "type": "string" } } } }),
        ),
        ("GET", "/metrics") => (
            Vec::new(),
            None,
            "200",
            json!({ "content": { "text/plain": { "schema": { "type": "string" } } } }),
        ),
        ("GET", "/api/openapi.json") => (
            Vec::new(),
            None,
            "200",
            json!({ "content": { "application/json": { "schema": { "type": "object" } } } }),
        ),
        ("GET", "/healthz") | ("GET", "/readyz") => (Vec::new(), None, "200", ok("Health")),
        (m, p) => unreachable_route(m, p),
    }
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let (parameters, body, ok_code, mut ok) = details(route.method, route.path);
        if let Value::Object(m) = &mut ok {
            m.entry("description").or_insert(json!("OK"));
        }
        let mut responses = Map::new();
        responses.insert(ok_code.into(), ok);
        let err = |d: &str| {
            let mut e = json_body("Error");
            e["description"] = json!(d);
            e
        };
        if !parameters.is_empty() || body.is_some() {
            responses.insert("400".into(), err("The request cannot be read."));
            responses.insert(
                "422".into(),
                err("The request is invalid; `detail` says why."),
            );
        }
        if route.access != Access::Public {
            responses.insert("401".into(), err("No token, or an unknown one."));
        }
        if route.access == Access::Admin {
            responses.insert("403".into(), err("A viewer token on an admin route."));
        }
        if route.method == "POST"
            && route.path != "/api/etl/scheduler/enable"
            && route.path != "/api/etl/scheduler/disable"
        {
            responses.insert(
                "503".into(),
                err("The server is shutting down and takes no new runs."),
            );
        }
        if route.path == "/api/etl/scheduler/trigger" {
            responses.insert("409".into(), err("The daily run is already in progress."));
        }
        let mut op = json!({
            "summary": route.summary,
            "operationId": operation_id(route.method, route.path),
            "responses": responses,
            "x-fluxion-role": match route.access {
                Access::Public => "public",
                Access::Viewer => "viewer",
                Access::Admin => "admin",
            },
        });
        if route.access != Access::Public {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if !parameters.is_empty() {
            op["parameters"] = Value::Array(parameters);
        }
        if let Some(mut b) = body {
            b["required"] = json!(route.path != "/api/etl/sync/ventas");
            op["requestBody"] = b;
        }
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Fluxion ETL",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Manual runs, live logs, execution history and statistics of Fluxion ETL (seeds 000 and 003). Bearer tokens: FLUXION_ADMIN_TOKENS (admin), FLUXION_VIEWER_TOKENS (viewer).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
    })
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_lowercase();
    for part in path.split(['/', '.', '{', '}']).filter(|p| !p.is_empty()) {
        id.push('_');
        id.push_str(&part.replace('-', "_"));
    }
    id
}

/// A route of [`ROUTES`] without an entry in [`details`]: the document would lie about it, so
/// the tests (which render the document) fail loudly instead.
fn unreachable_route(method: &str, path: &str) -> (Vec<Value>, Option<Value>, &'static str, Value) {
    tracing::error!(method, path, "A route has no OpenAPI details.");
    (
        Vec::new(),
        None,
        "200",
        json!({ "description": "undocumented", "x-undocumented": true }),
    )
}
