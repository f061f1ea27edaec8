-- Fluxion ETL schema for the embedded SQLite destination.
-- Timestamps are UTC text in fixed width (2025-11-17T16:19:56.000000Z) so that text order is time
-- order; decimals are text so that money stays exact.

-- Execution history (seed 003: etl_executions with the columns of migrations 021 and 033).
CREATE TABLE etl_executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    etl_name TEXT NOT NULL CHECK (etl_name IN ('ventas', 'inventario')),
    etl_type TEXT,
    mode TEXT CHECK (mode IS NULL OR mode IN ('full', 'incremental', 'recovery')),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_seconds REAL,
    fecha_desde TEXT,
    fecha_hasta TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'success', 'partial', 'failed')),
    records_extracted INTEGER NOT NULL DEFAULT 0,
    records_loaded INTEGER NOT NULL DEFAULT 0,
    duplicates_skipped INTEGER NOT NULL DEFAULT 0,
    tiendas TEXT,
    tiendas_count INTEGER NOT NULL DEFAULT 0,
    tiendas_exitosas INTEGER NOT NULL DEFAULT 0,
    tiendas_fallidas INTEGER NOT NULL DEFAULT 0,
    gaps_recovered INTEGER NOT NULL DEFAULT 0,
    error_message TEXT,
    error_detail TEXT,
    triggered_by TEXT NOT NULL,
    error_phase TEXT,
    error_category TEXT,
    error_source TEXT,
    extract_duration_seconds REAL,
    transform_duration_seconds REAL,
    load_duration_seconds REAL,
    source_system TEXT,
    api_requests_count INTEGER,
    api_errors_count INTEGER DEFAULT 0,
    records_upserted INTEGER DEFAULT 0,
    records_failed INTEGER DEFAULT 0,
    network_diagnostics TEXT,
    is_recovery INTEGER NOT NULL DEFAULT 0,
    recovered_gap_id INTEGER REFERENCES etl_executions(id) ON DELETE SET NULL,
    host TEXT,
    version TEXT,
    CONSTRAINT chk_error_phase CHECK (error_phase IS NULL OR error_phase IN ('extract', 'transform', 'load'))
);

CREATE INDEX idx_etl_executions_started ON etl_executions(started_at);
CREATE INDEX idx_etl_executions_status ON etl_executions(status);
CREATE INDEX idx_etl_executions_error_phase ON etl_executions(error_phase) WHERE error_phase IS NOT NULL;
CREATE INDEX idx_etl_executions_source ON etl_executions(source_system);
CREATE INDEX idx_etl_executions_triggered_by ON etl_executions(triggered_by);
CREATE INDEX idx_etl_executions_recovery ON etl_executions(is_recovery) WHERE is_recovery = 1;

-- Per-store results (seed 003 §1.2), plus the window, the kind, phase times and load counts
-- that gap detection and the scheduler's retries read.
CREATE TABLE etl_execution_details (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id INTEGER NOT NULL REFERENCES etl_executions(id) ON DELETE CASCADE,
    tienda_id TEXT NOT NULL,
    tienda_nombre TEXT,
    source_system TEXT,
    status TEXT NOT NULL CHECK (status IN ('success', 'failed', 'skipped')),
    started_at TEXT,
    finished_at TEXT,
    duration_seconds REAL,
    records_extracted INTEGER DEFAULT 0,
    records_loaded INTEGER DEFAULT 0,
    duplicates_skipped INTEGER DEFAULT 0,
    error_phase TEXT CHECK (error_phase IS NULL OR error_phase IN ('extract', 'transform', 'load')),
    error_category TEXT,
    error_message TEXT,
    server_ip TEXT,
    server_port INTEGER,
    connection_latency_ms REAL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    etl_name TEXT,
    window_from TEXT,
    window_to TEXT,
    records_inserted INTEGER DEFAULT 0,
    records_updated INTEGER DEFAULT 0,
    records_deleted INTEGER DEFAULT 0,
    records_rejected INTEGER DEFAULT 0,
    extract_seconds REAL,
    transform_seconds REAL,
    load_seconds REAL,
    api_requests INTEGER DEFAULT 0,
    api_errors INTEGER DEFAULT 0,
    error_retryable INTEGER
);

CREATE INDEX idx_etl_details_execution ON etl_execution_details(execution_id);
CREATE INDEX idx_etl_details_tienda ON etl_execution_details(tienda_id);
CREATE INDEX idx_etl_details_status ON etl_execution_details(status);

-- Sales lines: one row per (store, invoice, line).
CREATE TABLE sales_lines (
    store_id TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    line_number INTEGER NOT NULL,
    sold_at TEXT NOT NULL,
    business_date TEXT NOT NULL,
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
    quantity TEXT,
    unit_weight TEXT,
    gross_weight TEXT,
    unit_volume TEXT,
    sale_unit TEXT,
    unit_factor TEXT,
    total_unit_quantity TEXT,
    computed_weight TEXT,
    unit_cost_bs TEXT,
    unit_cost_usd TEXT,
    unit_price_bs TEXT,
    unit_price_usd TEXT,
    tax_pct TEXT,
    tax_amount TEXT,
    discount_pct TEXT,
    discount_amount TEXT,
    loyalty_discount_pct TEXT,
    loyalty_discount_amount TEXT,
    payment_discount_pct TEXT,
    payment_discount_amount TEXT,
    subtotal TEXT,
    total_bs TEXT,
    total_usd TEXT,
    total_cost_bs TEXT,
    total_cost_usd TEXT,
    gross_profit_bs TEXT,
    gross_profit_usd TEXT,
    invoice_total TEXT,
    usd_rate TEXT,
    non_fiscal INTEGER,
    promotion TEXT,
    promotion_code TEXT,
    till TEXT,
    concept TEXT,
    line_status TEXT,
    row_hash INTEGER NOT NULL,
    execution_id INTEGER,
    loaded_at TEXT NOT NULL,
    PRIMARY KEY (store_id, invoice_number, line_number)
);

CREATE INDEX idx_sales_lines_store_time ON sales_lines(store_id, sold_at);
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
    cost TEXT,
    price TEXT,
    tax_pct TEXT,
    weight TEXT,
    volume TEXT,
    units_per_case TEXT,
    stock TEXT NOT NULL,
    committed TEXT,
    ordered TEXT,
    snapshot_at TEXT NOT NULL,
    row_hash INTEGER NOT NULL,
    execution_id INTEGER,
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
    cost TEXT,
    price TEXT,
    tax_pct TEXT,
    weight TEXT,
    volume TEXT,
    units_per_case TEXT,
    stock TEXT NOT NULL,
    committed TEXT,
    ordered TEXT,
    snapshot_at TEXT NOT NULL,
    execution_id INTEGER
);

CREATE INDEX idx_inventory_history_store_time ON inventory_history(store_id, warehouse_code, snapshot_at);
