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
-- Dates and hours are store-local (America/Caracas); hora_desde/hora_hasta are set only for
-- windows that are not whole days. Timestamps are timestamptz.
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
        d.duration_seconds::double precision AS duracion_segundos,
        (COALESCE(d.window_from, e.fecha_desde) AT TIME ZONE 'America/Caracas') AS local_from,
        (COALESCE(d.window_to, e.fecha_hasta) AT TIME ZONE 'America/Caracas') AS local_to,
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
        e.fecha_desde AT TIME ZONE 'America/Caracas',
        e.fecha_hasta AT TIME ZONE 'America/Caracas',
        'en_proceso',
        0,
        0,
        NULL,
        NULL,
        e.mode,
        e.is_recovery,
        e.version,
        e.host
    FROM etl_executions e
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(e.tiendas) = 'array' THEN e.tiendas ELSE '[]'::jsonb END
    ) AS t(value)
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
    COALESCE(local_from::date, (fecha_inicio AT TIME ZONE 'America/Caracas')::date) AS fecha_desde,
    COALESCE((local_to - INTERVAL '1 second')::date, (fecha_inicio AT TIME ZONE 'America/Caracas')::date)
        AS fecha_hasta,
    CASE WHEN local_from::time <> '00:00' OR local_to::time <> '00:00' THEN local_from::time END
        AS hora_desde,
    CASE WHEN local_from::time <> '00:00' OR local_to::time <> '00:00' THEN local_to::time END
        AS hora_hasta,
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

-- v_gaps_to_recover with the seed's names.
CREATE VIEW v_gaps_por_recuperar AS
SELECT
    j.etl_tipo,
    j.ubicacion_id,
    j.ubicacion_nombre,
    j.fecha_desde,
    j.fecha_hasta,
    j.hora_desde,
    j.hora_hasta,
    g.failed_at AS fecha_fallo,
    j.error_tipo,
    j.error_mensaje,
    g.hours_since_failure AS horas_desde_fallo
FROM v_gaps_to_recover g
JOIN etl_ejecuciones j ON j.id = g.detail_id;

-- Reliability per kind, store and day over the last 30 days. `fecha` is the day of
-- fecha_inicio in the session's time zone, the day CURRENT_DATE names, so the seed's
-- `WHERE fecha = CURRENT_DATE` finds today's rows (set the database's TimeZone to
-- America/Caracas for store days; v_reliability_metrics always uses store days). Skipped
-- stores are left out; parcial counts as a success (its rows were committed).
CREATE VIEW v_metricas_confiabilidad AS
SELECT
    etl_tipo,
    ubicacion_id,
    MAX(ubicacion_nombre) AS ubicacion_nombre,
    fecha_inicio::date AS fecha,
    COUNT(*) AS total_ejecuciones,
    COUNT(*) FILTER (WHERE estado IN ('exitoso', 'parcial')) AS ejecuciones_exitosas,
    COUNT(*) FILTER (WHERE estado = 'fallido') AS ejecuciones_fallidas,
    ROUND(
        100.0 * COUNT(*) FILTER (WHERE estado IN ('exitoso', 'parcial'))
        / NULLIF(COUNT(*) FILTER (WHERE estado IN ('exitoso', 'parcial', 'fallido')), 0),
        2
    ) AS tasa_exito_pct,
    ROUND(AVG(duracion_segundos)::numeric, 2) AS duracion_promedio_seg,
    SUM(registros_cargados) AS total_registros_cargados
FROM etl_ejecuciones
WHERE estado <> 'omitido'
  AND fecha_inicio >= now() - INTERVAL '30 days'
GROUP BY etl_tipo, ubicacion_id, fecha_inicio::date;
