-- Per-day record counts for gap detection's coverage (`GapStore::daily_counts`), so a gaps
-- report reads one small row per (store, day) instead of counting every data row.
--
-- Kept by statement-level triggers over transition tables, in the transaction of whatever
-- writes the data rows: every loader path (merge, COPY straight into an empty window,
-- inventory history), a rolled-back load (its trigger effects roll back with it) and a
-- hand-made fix alike. One aggregate per statement, not one upsert per row, so a COPY keeps
-- its batched inserts. A day left with no rows loses its row.

-- Writers wait until the backfill and the triggers are in place, so no row committed meanwhile
-- is missed by both (readers are not blocked).
LOCK TABLE sales_lines, inventory_history IN SHARE ROW EXCLUSIVE MODE;

-- Sales lines per store and business date (`sales_lines.business_date`).
CREATE TABLE sales_daily_counts (
    store_id TEXT NOT NULL,
    day DATE NOT NULL,
    records BIGINT NOT NULL,
    PRIMARY KEY (store_id, day)
);

-- Inventory history rows per store and store-local (America/Caracas) day of `snapshot_at`.
CREATE TABLE inventory_daily_counts (
    store_id TEXT NOT NULL,
    day DATE NOT NULL,
    records BIGINT NOT NULL,
    PRIMARY KEY (store_id, day)
);

-- Backfill: an upgraded destination reports the coverage it reported before.
INSERT INTO sales_daily_counts (store_id, day, records)
SELECT store_id, business_date, COUNT(*) FROM sales_lines GROUP BY store_id, business_date;

INSERT INTO inventory_daily_counts (store_id, day, records)
SELECT store_id, (snapshot_at AT TIME ZONE 'America/Caracas')::date, COUNT(*)
FROM inventory_history GROUP BY 1, 2;

-- Upserts in (store, day) order, so two writers touching the same days lock them alike.
CREATE FUNCTION fluxion_count_sales_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO sales_daily_counts AS c (store_id, day, records)
        SELECT store_id, business_date, COUNT(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (store_id, day) DO UPDATE SET records = c.records + EXCLUDED.records;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO sales_daily_counts AS c (store_id, day, records)
        SELECT store_id, business_date, -COUNT(*) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (store_id, day) DO UPDATE SET records = c.records + EXCLUDED.records;
        DELETE FROM sales_daily_counts AS c
        USING (SELECT DISTINCT store_id, business_date FROM old_rows) AS o
        WHERE c.store_id = o.store_id AND c.day = o.business_date AND c.records <= 0;
    ELSIF TG_OP = 'UPDATE' THEN
        -- The loaders' updates keep a line's store and day: the net change is then zero.
        INSERT INTO sales_daily_counts AS c (store_id, day, records)
        SELECT store_id, day, SUM(n)::bigint FROM (
            SELECT store_id, business_date AS day, COUNT(*) AS n FROM new_rows GROUP BY 1, 2
            UNION ALL
            SELECT store_id, business_date, -COUNT(*) FROM old_rows GROUP BY 1, 2
        ) AS d
        GROUP BY 1, 2 HAVING SUM(n) <> 0 ORDER BY 1, 2
        ON CONFLICT (store_id, day) DO UPDATE SET records = c.records + EXCLUDED.records;
        DELETE FROM sales_daily_counts AS c
        USING (SELECT DISTINCT store_id, business_date FROM old_rows) AS o
        WHERE c.store_id = o.store_id AND c.day = o.business_date AND c.records <= 0;
    ELSIF TG_OP = 'TRUNCATE' THEN
        DELETE FROM sales_daily_counts;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION fluxion_count_inventory_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO inventory_daily_counts AS c (store_id, day, records)
        SELECT store_id, (snapshot_at AT TIME ZONE 'America/Caracas')::date, COUNT(*)
        FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (store_id, day) DO UPDATE SET records = c.records + EXCLUDED.records;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO inventory_daily_counts AS c (store_id, day, records)
        SELECT store_id, (snapshot_at AT TIME ZONE 'America/Caracas')::date, -COUNT(*)
        FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (store_id, day) DO UPDATE SET records = c.records + EXCLUDED.records;
        DELETE FROM inventory_daily_counts AS c
        USING (SELECT DISTINCT store_id, (snapshot_at AT TIME ZONE 'America/Caracas')::date AS day
               FROM old_rows) AS o
        WHERE c.store_id = o.store_id AND c.day = o.day AND c.records <= 0;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO inventory_daily_counts AS c (store_id, day, records)
        SELECT store_id, day, SUM(n)::bigint FROM (
            SELECT store_id, (snapshot_at AT TIME ZONE 'America/Caracas')::date AS day, COUNT(*) AS n
            FROM new_rows GROUP BY 1, 2
            UNION ALL
            SELECT store_id, (snapshot_at AT TIME ZONE 'America/Caracas')::date, -COUNT(*)
            FROM old_rows GROUP BY 1, 2
        ) AS d
        GROUP BY 1, 2 HAVING SUM(n) <> 0 ORDER BY 1, 2
        ON CONFLICT (store_id, day) DO UPDATE SET records = c.records + EXCLUDED.records;
        DELETE FROM inventory_daily_counts AS c
        USING (SELECT DISTINCT store_id, (snapshot_at AT TIME ZONE 'America/Caracas')::date AS day
               FROM old_rows) AS o
        WHERE c.store_id = o.store_id AND c.day = o.day AND c.records <= 0;
    ELSIF TG_OP = 'TRUNCATE' THEN
        DELETE FROM inventory_daily_counts;
    END IF;
    RETURN NULL;
END
$$;

-- A trigger with transition tables names one event, hence one trigger per event.
CREATE TRIGGER sales_daily_counts_insert AFTER INSERT ON sales_lines
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fluxion_count_sales_days();
CREATE TRIGGER sales_daily_counts_update AFTER UPDATE ON sales_lines
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fluxion_count_sales_days();
CREATE TRIGGER sales_daily_counts_delete AFTER DELETE ON sales_lines
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fluxion_count_sales_days();
CREATE TRIGGER sales_daily_counts_truncate AFTER TRUNCATE ON sales_lines
    FOR EACH STATEMENT EXECUTE FUNCTION fluxion_count_sales_days();

CREATE TRIGGER inventory_daily_counts_insert AFTER INSERT ON inventory_history
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fluxion_count_inventory_days();
CREATE TRIGGER inventory_daily_counts_update AFTER UPDATE ON inventory_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fluxion_count_inventory_days();
CREATE TRIGGER inventory_daily_counts_delete AFTER DELETE ON inventory_history
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fluxion_count_inventory_days();
CREATE TRIGGER inventory_daily_counts_truncate AFTER TRUNCATE ON inventory_history
    FOR EACH STATEMENT EXECUTE FUNCTION fluxion_count_inventory_days();
