-- Fluxion ETL schema for the PostgreSQL destination.
--
-- The execution history follows seed 003 (etl_executions with the columns of the chain's
-- migrations 021 and 033, etl_execution_details as in its §1.2) so the chain's admin panel and
-- its SQL keep working; the views are seed 001's, with English names. Every timestamp is
-- TIMESTAMPTZ holding UTC instants (the seed's TIMESTAMP would make `started_at >= NOW() - …`
-- depend on the session's time zone); every other type is the seed's.

-- Execution history -----------------------------------------------------------------------------

CREATE TABLE etl_executions (
    id SERIAL PRIMARY KEY,
    etl_name VARCHAR(50) NOT NULL CHECK (etl_name IN ('ventas', 'inventario')),
    etl_type VARCHAR(50),
    mode VARCHAR(20) CHECK (mode IS NULL OR mode IN ('full', 'incremental', 'recovery')),
    started_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    finished_at TIMESTAMPTZ,
    duration_seconds DECIMAL(10,2),
    fecha_desde TIMESTAMPTZ,
    fecha_hasta TIMESTAMPTZ,
    status VARCHAR(20) NOT NULL CHECK (status IN ('running', 'success', 'partial', 'failed')),
    records_extracted INTEGER NOT NULL DEFAULT 0,
    records_loaded INTEGER NOT NULL DEFAULT 0,
    duplicates_skipped INTEGER NOT NULL DEFAULT 0,
    tiendas JSONB,
    tiendas_count INTEGER NOT NULL DEFAULT 0,
    tiendas_exitosas INTEGER NOT NULL DEFAULT 0,
    tiendas_fallidas INTEGER NOT NULL DEFAULT 0,
    gaps_recovered INTEGER NOT NULL DEFAULT 0,
    error_message TEXT,
    error_detail TEXT,
    triggered_by VARCHAR(50) NOT NULL,
    host VARCHAR(255),
    version VARCHAR(50),
    -- Seed 003 §1.1 (the chain's migration 033).
    error_phase VARCHAR(20),
    error_category VARCHAR(50),
    error_source VARCHAR(100),
    extract_duration_seconds DECIMAL(10,2),
    transform_duration_seconds DECIMAL(10,2),
    load_duration_seconds DECIMAL(10,2),
    source_system VARCHAR(20),
    api_requests_count INTEGER,
    api_errors_count INTEGER DEFAULT 0,
    records_upserted INTEGER DEFAULT 0,
    records_failed INTEGER DEFAULT 0,
    network_diagnostics JSONB,
    is_recovery BOOLEAN DEFAULT FALSE,
    -- ON DELETE SET NULL (the seed names no action): the 90-day retention deletes old failed
    -- executions that newer recoveries still point at.
    recovered_gap_id INTEGER REFERENCES etl_executions(id) ON DELETE SET NULL,
    CONSTRAINT chk_error_phase CHECK (
        error_phase IS NULL OR error_phase IN ('extract', 'transform', 'load')
    )
);

CREATE INDEX idx_etl_executions_started ON etl_executions(started_at);
CREATE INDEX idx_etl_executions_status ON etl_executions(status);
CREATE INDEX idx_etl_executions_triggered_by ON etl_executions(triggered_by);
CREATE INDEX idx_etl_executions_error_phase ON etl_executions(error_phase) WHERE error_phase IS NOT NULL;
CREATE INDEX idx_etl_executions_source ON etl_executions(source_system);
CREATE INDEX idx_etl_executions_recovery ON etl_executions(is_recovery) WHERE is_recovery = TRUE;

-- Per-store results (seed 003 §1.2), plus the kind, the window, the phase times and the load
-- counts that gap detection and the scheduler's retries read.
CREATE TABLE etl_execution_details (
    id SERIAL PRIMARY KEY,
    execution_id INTEGER NOT NULL REFERENCES etl_executions(id) ON DELETE CASCADE,

    tienda_id VARCHAR(50) NOT NULL,
    tienda_nombre VARCHAR(100),
    source_system VARCHAR(20),

    status VARCHAR(20) NOT NULL CHECK (status IN ('success', 'failed', 'skipped')),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    duration_seconds DECIMAL(10,2),

    records_extracted INTEGER DEFAULT 0,
    records_loaded INTEGER DEFAULT 0,
    duplicates_skipped INTEGER DEFAULT 0,

    error_phase VARCHAR(20) CHECK (error_phase IS NULL OR error_phase IN ('extract', 'transform', 'load')),
    error_category VARCHAR(50),
    error_message TEXT,

    server_ip VARCHAR(45),
    server_port INTEGER,
    connection_latency_ms DECIMAL(10,2),

    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,

    etl_name VARCHAR(50) CHECK (etl_name IS NULL OR etl_name IN ('ventas', 'inventario')),
    window_from TIMESTAMPTZ,
    window_to TIMESTAMPTZ,
    records_inserted INTEGER DEFAULT 0,
    records_updated INTEGER DEFAULT 0,
    records_deleted INTEGER DEFAULT 0,
    records_rejected INTEGER DEFAULT 0,
    extract_seconds DECIMAL(10,2),
    transform_seconds DECIMAL(10,2),
    load_seconds DECIMAL(10,2),
    api_requests INTEGER DEFAULT 0,
    api_errors INTEGER DEFAULT 0,
    error_retryable BOOLEAN
);

CREATE INDEX idx_etl_details_execution ON etl_execution_details(execution_id);
CREATE INDEX idx_etl_details_tienda ON etl_execution_details(tienda_id);
CREATE INDEX idx_etl_details_status ON etl_execution_details(status);
-- "Is there a later success covering this window?" (v_gaps_to_recover).
CREATE INDEX idx_etl_details_store_kind_time ON etl_execution_details(tienda_id, etl_name, started_at);

-- Data ------------------------------------------------------------------------------------------

-- Sales lines: one row per (store, invoice, line).
CREATE TABLE sales_lines (
    store_id TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    line_number BIGINT NOT NULL,
    sold_at TIMESTAMPTZ NOT NULL,
    business_date DATE NOT NULL,
    product_code TEXT NOT NULL,
    description TEXT,
    brand TEXT,
    model TEXT,
    category TEXT,
    group_name TEXT,
    subgroup TEXT,
    category_name TEXT,
    barcode TEXT,
    serial TEXT,
    imei TEXT,
    quadrant TEXT,
    warehouse_code TEXT,
    warehouse_name TEXT,
    quantity NUMERIC,
    unit_weight NUMERIC,
    gross_weight NUMERIC,
    unit_volume NUMERIC,
    sale_unit TEXT,
    unit_factor NUMERIC,
    total_unit_quantity NUMERIC,
    computed_weight NUMERIC,
    unit_cost_bs NUMERIC,
    unit_cost_usd NUMERIC,
    unit_price_bs NUMERIC,
    unit_price_usd NUMERIC,
    tax_pct NUMERIC,
    tax_amount NUMERIC,
    discount_pct NUMERIC,
    discount_amount NUMERIC,
    loyalty_discount_pct NUMERIC,
    loyalty_discount_amount NUMERIC,
    payment_discount_pct NUMERIC,
    payment_discount_amount NUMERIC,
    subtotal NUMERIC,
    total_bs NUMERIC,
    total_usd NUMERIC,
    total_cost_bs NUMERIC,
    total_cost_usd NUMERIC,
    gross_profit_bs NUMERIC,
    gross_profit_usd NUMERIC,
    invoice_total NUMERIC,
    usd_rate NUMERIC,
    non_fiscal BOOLEAN,
    promotion TEXT,
    promotion_code TEXT,
    till TEXT,
    concept TEXT,
    line_status TEXT,
    row_hash BIGINT NOT NULL,
    execution_id BIGINT,
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (store_id, invoice_number, line_number)
);

-- The scope of a load (store, time window); row_hash is included so that comparing a window's
-- content with a delivery is an index-only scan.
CREATE INDEX idx_sales_lines_store_time ON sales_lines(store_id, sold_at) INCLUDE (row_hash);
CREATE INDEX idx_sales_lines_store_date ON sales_lines(store_id, business_date);

-- Current stock per (store, warehouse, article).
CREATE TABLE inventory_current (
    store_id TEXT NOT NULL,
    warehouse_code TEXT NOT NULL,
    product_code TEXT NOT NULL,
    warehouse_name TEXT,
    barcode TEXT,
    description TEXT,
    category_id TEXT,
    category TEXT,
    group_name TEXT,
    subcategory_id TEXT,
    subgroup TEXT,
    brand TEXT,
    quadrant TEXT,
    presentation TEXT,
    cost NUMERIC,
    price NUMERIC,
    tax_pct NUMERIC,
    weight NUMERIC,
    volume NUMERIC,
    units_per_case NUMERIC,
    stock NUMERIC NOT NULL,
    committed NUMERIC,
    ordered NUMERIC,
    snapshot_at TIMESTAMPTZ NOT NULL,
    row_hash BIGINT NOT NULL,
    execution_id BIGINT,
    PRIMARY KEY (store_id, warehouse_code, product_code)
);

-- Every snapshot, appended.
CREATE TABLE inventory_history (
    store_id TEXT NOT NULL,
    warehouse_code TEXT NOT NULL,
    product_code TEXT NOT NULL,
    warehouse_name TEXT,
    barcode TEXT,
    description TEXT,
    category_id TEXT,
    category TEXT,
    group_name TEXT,
    subcategory_id TEXT,
    subgroup TEXT,
    brand TEXT,
    quadrant TEXT,
    presentation TEXT,
    cost NUMERIC,
    price NUMERIC,
    tax_pct NUMERIC,
    weight NUMERIC,
    volume NUMERIC,
    units_per_case NUMERIC,
    stock NUMERIC NOT NULL,
    committed NUMERIC,
    ordered NUMERIC,
    snapshot_at TIMESTAMPTZ NOT NULL,
    execution_id BIGINT
);

CREATE INDEX idx_inventory_history_store_time ON inventory_history(store_id, warehouse_code, snapshot_at);

-- What each sales window last received: row count and the exact sum of the row hashes, an
-- order-independent fingerprint. A hint only: a re-delivery whose fingerprint matches is then
-- compared with the live rows of the window (same count, same hash sum) before the merge is
-- skipped, so a manual delete or edit in the window is never masked by a stale fingerprint.
CREATE TABLE etl_load_fingerprints (
    store_id TEXT NOT NULL,
    etl_name VARCHAR(50) NOT NULL,
    window_from TIMESTAMPTZ NOT NULL,
    window_to TIMESTAMPTZ NOT NULL,
    row_count BIGINT NOT NULL,
    hash_sum NUMERIC NOT NULL,
    execution_id BIGINT,
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (store_id, etl_name, window_from, window_to)
);

-- Views (seed 001) ------------------------------------------------------------------------------

-- Store windows that failed in the last 168 hours and that no later success of the same store
-- and kind has covered since (a success whose window contains the failed one; for inventory,
-- any later success of the store).
CREATE VIEW v_gaps_to_recover AS
SELECT
    d.id AS detail_id,
    d.execution_id,
    COALESCE(d.etl_name, e.etl_name) AS etl_name,
    d.tienda_id AS store_id,
    d.tienda_nombre AS store_name,
    d.source_system,
    d.window_from,
    d.window_to,
    e.mode,
    COALESCE(d.finished_at, d.started_at, e.started_at) AS failed_at,
    d.error_phase,
    d.error_category,
    d.error_message,
    ROUND((EXTRACT(EPOCH FROM (now() - COALESCE(d.finished_at, d.started_at, e.started_at))) / 3600.0)::numeric, 2)
        AS hours_since_failure
FROM etl_execution_details d
JOIN etl_executions e ON e.id = d.execution_id
WHERE d.status = 'failed'
  AND COALESCE(d.finished_at, d.started_at, e.started_at) >= now() - INTERVAL '168 hours'
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

-- Reliability per kind, store and day (America/Caracas) over the last 30 days: store results,
-- successes, failures, success rate among finished attempts, average duration, rows loaded.
CREATE VIEW v_reliability_metrics AS
SELECT
    COALESCE(d.etl_name, e.etl_name) AS etl_name,
    d.tienda_id AS store_id,
    MAX(d.tienda_nombre) AS store_name,
    (COALESCE(d.started_at, e.started_at) AT TIME ZONE 'America/Caracas')::date AS day,
    COUNT(*) AS total_executions,
    COUNT(*) FILTER (WHERE d.status = 'success') AS successful_executions,
    COUNT(*) FILTER (WHERE d.status = 'failed') AS failed_executions,
    COUNT(*) FILTER (WHERE d.status = 'skipped') AS skipped_executions,
    ROUND(
        100.0 * COUNT(*) FILTER (WHERE d.status = 'success')
        / NULLIF(COUNT(*) FILTER (WHERE d.status IN ('success', 'failed')), 0),
        2
    ) AS success_rate_pct,
    ROUND(AVG(d.duration_seconds) FILTER (WHERE d.status <> 'skipped'), 2) AS avg_duration_seconds,
    COALESCE(SUM(d.records_loaded), 0) AS total_records_loaded
FROM etl_execution_details d
JOIN etl_executions e ON e.id = d.execution_id
WHERE COALESCE(d.started_at, e.started_at) >= now() - INTERVAL '30 days'
GROUP BY 1, 2, 4;
