-- Gap detection (fluxion gaps, recovery): store results that ended within the last hours, and
-- closed executions whose stores recorded no result (a run killed mid-way).
CREATE INDEX idx_etl_details_finished ON etl_execution_details(finished_at);
CREATE INDEX idx_etl_executions_finished ON etl_executions(finished_at);
