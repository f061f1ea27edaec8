-- The scheduler's persisted state (DESIGN §7, seed 000): settings changed at runtime, how far the
-- schedule has been evaluated, the daily run's progress, daily summaries and per-slot claims.
-- Timestamps are fixed-width UTC text (`2025-11-18T09:00:00.000000Z`), so text order is time
-- order; days are store-local (America/Caracas) `YYYY-MM-DD`.

-- One row (id = 1). NULL settings fall back to `[schedule]` in fluxion.toml.
CREATE TABLE etl_scheduler_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    enabled INTEGER CHECK (enabled IS NULL OR enabled IN (0, 1)),
    execution_hour INTEGER CHECK (execution_hour BETWEEN 0 AND 23),
    execution_minute INTEGER CHECK (execution_minute BETWEEN 0 AND 59),
    max_retries INTEGER CHECK (max_retries BETWEEN 0 AND 20),
    retry_interval_minutes INTEGER CHECK (retry_interval_minutes BETWEEN 1 AND 720),
    evaluated_until TEXT,
    daily_day TEXT,
    daily_last_attempt_at TEXT,
    daily_retries_done INTEGER NOT NULL DEFAULT 0,
    daily_pending TEXT NOT NULL DEFAULT '[]',
    last_run_job TEXT,
    last_run_slot TEXT,
    last_run_started_at TEXT,
    last_run_finished_at TEXT,
    last_run_status TEXT,
    last_run_execution_id INTEGER,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

INSERT INTO etl_scheduler_state (id) VALUES (1);

CREATE TABLE etl_scheduler_daily_summary (
    day TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    total INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    pending_retries INTEGER NOT NULL,
    retries_done INTEGER NOT NULL,
    failed_stores TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE etl_scheduler_claims (
    job TEXT NOT NULL,
    slot TEXT NOT NULL,
    owner TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    finished_at TEXT,
    holds_stores INTEGER NOT NULL,
    stores TEXT NOT NULL DEFAULT '[]',
    execution_id INTEGER,
    PRIMARY KEY (job, slot)
);

CREATE INDEX idx_etl_scheduler_claims_open ON etl_scheduler_claims (expires_at) WHERE finished_at IS NULL;
