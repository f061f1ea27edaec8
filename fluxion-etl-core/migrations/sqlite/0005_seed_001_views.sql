-- Seed 001's monitoring views, with its Spanish names, columns and values, so the chain's own
-- monitoring SQL runs unchanged (the English views and tables stay what Fluxion reads).
--
-- etl_ejecuciones: one row per store and execution. Finished stores come from
-- etl_execution_details; a store of a still-running execution that has no detail yet is a row
-- `en_proceso` (id NULL: it has no detail row yet). Values:
--   estado     exitoso | parcial (succeeded with rejected records) | fallido | en_proceso |
--              omitido (skipped: another run held the store)
--   modo       completo | incremental_30min | recuperacion
--   error_tipo timeout | conexion | api_error | db_error | interrumpido, from error_category
-- Dates and hours are store-local (America/Caracas, UTC-4 all year); hora_desde/hora_hasta are
-- set only for windows that are not whole days. Timestamps stay as stored (UTC).
CREATE VIEW etl_ejecuciones AS
WITH rows AS (
    SELECT
        d.id AS id,
        e.id AS ejecucion_id,
        COALESCE(d.etl_name, e.etl_name) AS etl_tipo,
        d.tienda_id AS ubicacion_id,
        COALESCE(d.tienda_nombre, d.tienda_id) AS ubicacion_nombre,
        COALESCE(d.started_at, e.started_at) AS fecha_inicio,
        d.finished_at AS fecha_fin,
        d.duration_seconds AS duracion_segundos,
        COALESCE(d.window_from, e.fecha_desde) AS window_from,
        COALESCE(d.window_to, e.fecha_hasta) AS window_to,
        CASE
            WHEN d.status = 'success' AND COALESCE(d.records_rejected, 0) > 0 THEN 'parcial'
            WHEN d.status = 'success' THEN 'exitoso'
            WHEN d.status = 'failed' THEN 'fallido'
            ELSE 'omitido'
        END AS estado,
        COALESCE(d.records_extracted, 0) AS registros_extraidos,
        COALESCE(d.records_loaded, 0) AS registros_cargados,
        d.error_message AS error_mensaje,
        d.error_category AS error_category,
        e.mode AS mode,
        e.is_recovery AS is_recovery,
        e.version AS version_etl,
        e.host AS host
    FROM etl_execution_details d
    JOIN etl_executions e ON e.id = d.execution_id
    UNION ALL
    SELECT
        NULL,
        e.id,
        e.etl_name,
        t.value,
        COALESCE(
            (SELECT MAX(p.tienda_nombre) FROM etl_execution_details p WHERE p.tienda_id = t.value),
            t.value
        ),
        e.started_at,
        NULL,
        NULL,
        e.fecha_desde,
        e.fecha_hasta,
        'en_proceso',
        0,
        0,
        NULL,
        NULL,
        e.mode,
        e.is_recovery,
        e.version,
        e.host
    FROM etl_executions e, json_each(e.tiendas) t
    WHERE e.status = 'running'
      AND NOT EXISTS (
          SELECT 1 FROM etl_execution_details x
          WHERE x.execution_id = e.id AND x.tienda_id = t.value
      )
)
SELECT
    id,
    ejecucion_id,
    etl_tipo,
    ubicacion_id,
    ubicacion_nombre,
    fecha_inicio,
    fecha_fin,
    duracion_segundos,
    date(COALESCE(window_from, fecha_inicio), '-4 hours') AS fecha_desde,
    COALESCE(date(window_to, '-4 hours', '-1 seconds'), date(fecha_inicio, '-4 hours')) AS fecha_hasta,
    CASE WHEN time(window_from, '-4 hours') <> '00:00:00' OR time(window_to, '-4 hours') <> '00:00:00'
         THEN time(window_from, '-4 hours') END AS hora_desde,
    CASE WHEN time(window_from, '-4 hours') <> '00:00:00' OR time(window_to, '-4 hours') <> '00:00:00'
         THEN time(window_to, '-4 hours') END AS hora_hasta,
    estado,
    registros_extraidos,
    registros_cargados,
    error_mensaje,
    CASE
        WHEN error_category IS NULL THEN NULL
        WHEN error_category IN ('vpn_timeout', 'api_timeout', 'db_timeout') THEN 'timeout'
        WHEN error_category IN ('vpn_unreachable', 'db_connection', 'network_error') THEN 'conexion'
        WHEN error_category IN ('api_error', 'api_auth', 'data_validation', 'data_format',
                                'missing_fields', 'encoding_error') THEN 'api_error'
        WHEN error_category = 'interrupted' THEN 'interrumpido'
        ELSE 'db_error'
    END AS error_tipo,
    CASE
        WHEN mode = 'recovery' OR is_recovery THEN 'recuperacion'
        WHEN mode = 'incremental' THEN 'incremental_30min'
        ELSE 'completo'
    END AS modo,
    version_etl,
    host
FROM rows;

-- Store windows that failed in the last 168 hours and that no later success of the same store
-- and kind has covered since (the rule of v_gaps_to_recover on PostgreSQL).
CREATE VIEW v_gaps_por_recuperar AS
SELECT
    j.etl_tipo,
    j.ubicacion_id,
    j.ubicacion_nombre,
    j.fecha_desde,
    j.fecha_hasta,
    j.hora_desde,
    j.hora_hasta,
    COALESCE(d.finished_at, d.started_at, e.started_at) AS fecha_fallo,
    j.error_tipo,
    j.error_mensaje,
    ROUND((julianday('now') - julianday(COALESCE(d.finished_at, d.started_at, e.started_at))) * 24.0, 2)
        AS horas_desde_fallo
FROM etl_execution_details d
JOIN etl_executions e ON e.id = d.execution_id
JOIN etl_ejecuciones j ON j.id = d.id
WHERE d.status = 'failed'
  AND julianday(COALESCE(d.finished_at, d.started_at, e.started_at)) >= julianday('now', '-168 hours')
  AND NOT EXISTS (
      SELECT 1
      FROM etl_execution_details s
      JOIN etl_executions se ON se.id = s.execution_id
      WHERE s.status = 'success'
        AND s.tienda_id = d.tienda_id
        AND COALESCE(s.etl_name, se.etl_name) = COALESCE(d.etl_name, e.etl_name)
        AND COALESCE(s.finished_at, s.started_at) > COALESCE(d.started_at, e.started_at)
        AND (
            d.window_from IS NULL
            OR (s.window_from <= d.window_from AND s.window_to >= d.window_to)
        )
  );

-- Reliability per kind, store and day over the last 30 days. `fecha` is the day of
-- fecha_inicio by the database's own clock (UTC on SQLite), the day CURRENT_DATE names, so the
-- seed's `WHERE fecha = CURRENT_DATE` finds today's rows. Skipped stores are left out; parcial
-- counts as a success (its rows were committed).
CREATE VIEW v_metricas_confiabilidad AS
SELECT
    etl_tipo,
    ubicacion_id,
    MAX(ubicacion_nombre) AS ubicacion_nombre,
    date(fecha_inicio) AS fecha,
    COUNT(*) AS total_ejecuciones,
    SUM(CASE WHEN estado IN ('exitoso', 'parcial') THEN 1 ELSE 0 END) AS ejecuciones_exitosas,
    SUM(CASE WHEN estado = 'fallido' THEN 1 ELSE 0 END) AS ejecuciones_fallidas,
    ROUND(
        100.0 * SUM(CASE WHEN estado IN ('exitoso', 'parcial') THEN 1 ELSE 0 END)
        / NULLIF(SUM(CASE WHEN estado IN ('exitoso', 'parcial', 'fallido') THEN 1 ELSE 0 END), 0),
        2
    ) AS tasa_exito_pct,
    ROUND(AVG(duracion_segundos), 2) AS duracion_promedio_seg,
    SUM(registros_cargados) AS total_registros_cargados
FROM etl_ejecuciones
WHERE estado <> 'omitido'
  AND julianday(fecha_inicio) >= julianday('now', '-30 days')
GROUP BY etl_tipo, ubicacion_id, date(fecha_inicio);
