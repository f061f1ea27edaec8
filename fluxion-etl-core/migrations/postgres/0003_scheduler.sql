-- The scheduler's persisted state (DESIGN §7, seed 000): settings changed at runtime, how far the
-- schedule has been evaluated, the daily run's progress, daily summaries and per-slot claims.
-- Every timestamp is a UTC instant; days are store-local (America/Caracas) dates.

-- One row (id = 1). NULL settings fall back to `[schedule]` in fluxion.toml.
CREATE TABLE etl_scheduler_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    enabled BOOLEAN,
    execution_hour INTEGER CHECK (execution_hour BETWEEN 0 AND 23),
    execution_minute INTEGER CHECK (execution_minute BETWEEN 0 AND 59),
    max_retries INTEGER CHECK (max_retries BETWEEN 0 AND 20),
    retry_interval_minutes INTEGER CHECK (retry_interval_minutes BETWEEN 1 AND 720),
    -- Slots at or before this instant have been handled (catch-up starts after it).
    evaluated_until TIMESTAMPTZ,
    -- The latest daily run: the sales day it loads, when its last attempt started, the retries
    -- done and the stores still waiting for a retry (JSON array of store ids).
    daily_day DATE,
    daily_last_attempt_at TIMESTAMPTZ,
    daily_retries_done INTEGER NOT NULL DEFAULT 0,
    daily_pending TEXT NOT NULL DEFAULT '[]',
    -- The last job this scheduler (any replica) finished.
    last_run_job VARCHAR(40),
    last_run_slot TIMESTAMPTZ,
    last_run_started_at TIMESTAMPTZ,
    last_run_finished_at TIMESTAMPTZ,
    last_run_status VARCHAR(20),
    last_run_execution_id INTEGER,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One row per sales day the daily run loaded: seed 000's "Resumen Diario".
INSERT INTO etl_scheduler_state (id) VALUES (1);

CREATE TABLE etl_scheduler_daily_summary (
    day DATE PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    total INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    pending_retries INTEGER NOT NULL,
    retries_done INTEGER NOT NULL,
    -- JSON array of {"store", "category", "retryable"} for the stores not loaded.
    failed_stores TEXT NOT NULL DEFAULT '[]'
);

-- Per-(job, slot) claims: the replica that inserts (or takes over an expired, unfinished) claim
-- runs the job; the others skip it. A replica renews its claims while the job runs; one that dies
-- leaves a claim that expires.
CREATE TABLE etl_scheduler_claims (
    job VARCHAR(40) NOT NULL,
    slot TIMESTAMPTZ NOT NULL,
    owner VARCHAR(255) NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    -- Whether the job is a daily run or retry (its stores are busy for the collision rule).
    holds_stores BOOLEAN NOT NULL,
    stores TEXT NOT NULL DEFAULT '[]',
    execution_id INTEGER,
    PRIMARY KEY (job, slot)
);

CREATE INDEX idx_etl_scheduler_claims_open ON etl_scheduler_claims (expires_at) WHERE finished_at IS NULL;
