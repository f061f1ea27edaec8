-- The process that opened a running execution (`loaders::liveness`): a key whose lock only a
-- live process holds, so a dead owner's executions are closed at once and a live one's never.
-- NULL for executions recorded before owners existed (reconciled by age).
ALTER TABLE etl_executions ADD COLUMN owner_key BIGINT;
CREATE INDEX idx_etl_executions_running_owner ON etl_executions(owner_key) WHERE status = 'running';
