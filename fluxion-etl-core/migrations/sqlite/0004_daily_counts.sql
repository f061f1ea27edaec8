-- Per-day record counts for gap detection's coverage (`GapStore::daily_counts`), so a gaps
-- report reads one small row per (store, day) instead of counting every data row.
--
-- Kept by triggers, in the transaction of whatever writes the data rows: every loader path
-- (merge, fast paths, inventory history), a rolled-back load (its trigger effects roll back
-- with it) and a hand-made fix alike. A day left with no rows loses its row.
--
-- SQLite fires DELETE triggers for rows that `INSERT OR REPLACE` / `ON CONFLICT REPLACE`
-- removes only under `PRAGMA recursive_triggers`: writers of these tables must not use REPLACE
-- (the loaders merge with UPDATE, INSERT … WHERE NOT EXISTS and DELETE).

-- Sales lines per store and business date (`sales_lines.business_date`, YYYY-MM-DD).
CREATE TABLE sales_daily_counts (
    store_id TEXT NOT NULL,
    day TEXT NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (store_id, day)
) WITHOUT ROWID;

-- Inventory history rows per store and store-local day of `snapshot_at` (America/Caracas is
-- UTC-4 all year, no DST since 2016).
CREATE TABLE inventory_daily_counts (
    store_id TEXT NOT NULL,
    day TEXT NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (store_id, day)
) WITHOUT ROWID;

-- Backfill: an upgraded destination reports the coverage it reported before.
INSERT INTO sales_daily_counts (store_id, day, records)
SELECT store_id, business_date, COUNT(*) FROM sales_lines GROUP BY store_id, business_date;

INSERT INTO inventory_daily_counts (store_id, day, records)
SELECT store_id, date(snapshot_at, '-4 hours'), COUNT(*) FROM inventory_history
WHERE date(snapshot_at, '-4 hours') IS NOT NULL
GROUP BY 1, 2;

CREATE TRIGGER sales_daily_counts_insert AFTER INSERT ON sales_lines
BEGIN
    INSERT INTO sales_daily_counts (store_id, day, records)
    VALUES (NEW.store_id, NEW.business_date, 1)
    ON CONFLICT (store_id, day) DO UPDATE SET records = records + 1;
END;

CREATE TRIGGER sales_daily_counts_delete AFTER DELETE ON sales_lines
BEGIN
    UPDATE sales_daily_counts SET records = records - 1
    WHERE store_id = OLD.store_id AND day = OLD.business_date;
    DELETE FROM sales_daily_counts
    WHERE store_id = OLD.store_id AND day = OLD.business_date AND records <= 0;
END;

-- The loaders' updates keep a line's store and business date; only a line that moves to
-- another day (or store) moves its count.
CREATE TRIGGER sales_daily_counts_update AFTER UPDATE OF store_id, business_date ON sales_lines
WHEN OLD.store_id IS NOT NEW.store_id OR OLD.business_date IS NOT NEW.business_date
BEGIN
    UPDATE sales_daily_counts SET records = records - 1
    WHERE store_id = OLD.store_id AND day = OLD.business_date;
    DELETE FROM sales_daily_counts
    WHERE store_id = OLD.store_id AND day = OLD.business_date AND records <= 0;
    INSERT INTO sales_daily_counts (store_id, day, records)
    VALUES (NEW.store_id, NEW.business_date, 1)
    ON CONFLICT (store_id, day) DO UPDATE SET records = records + 1;
END;

CREATE TRIGGER inventory_daily_counts_insert AFTER INSERT ON inventory_history
WHEN date(NEW.snapshot_at, '-4 hours') IS NOT NULL
BEGIN
    INSERT INTO inventory_daily_counts (store_id, day, records)
    VALUES (NEW.store_id, date(NEW.snapshot_at, '-4 hours'), 1)
    ON CONFLICT (store_id, day) DO UPDATE SET records = records + 1;
END;

CREATE TRIGGER inventory_daily_counts_delete AFTER DELETE ON inventory_history
WHEN date(OLD.snapshot_at, '-4 hours') IS NOT NULL
BEGIN
    UPDATE inventory_daily_counts SET records = records - 1
    WHERE store_id = OLD.store_id AND day = date(OLD.snapshot_at, '-4 hours');
    DELETE FROM inventory_daily_counts
    WHERE store_id = OLD.store_id AND day = date(OLD.snapshot_at, '-4 hours') AND records <= 0;
END;

CREATE TRIGGER inventory_daily_counts_update AFTER UPDATE OF store_id, snapshot_at ON inventory_history
WHEN OLD.store_id IS NOT NEW.store_id
  OR date(OLD.snapshot_at, '-4 hours') IS NOT date(NEW.snapshot_at, '-4 hours')
BEGIN
    UPDATE inventory_daily_counts SET records = records - 1
    WHERE store_id = OLD.store_id AND day = date(OLD.snapshot_at, '-4 hours');
    DELETE FROM inventory_daily_counts
    WHERE store_id = OLD.store_id AND day = date(OLD.snapshot_at, '-4 hours') AND records <= 0;
    INSERT INTO inventory_daily_counts (store_id, day, records)
    SELECT NEW.store_id, date(NEW.snapshot_at, '-4 hours'), 1
    WHERE date(NEW.snapshot_at, '-4 hours') IS NOT NULL
    ON CONFLICT (store_id, day) DO UPDATE SET records = records + 1;
END;
