//! The per-day count tables that gap coverage reads (migration 0004), on both destinations: after
//! every kind of load — first loads, re-deliveries with changed, fewer and more lines, an
//! unchanged re-delivery, a window re-delivered empty, a line moved to another business date,
//! inventory snapshots, a load rolled back half-way — `sales_daily_counts` and
//! `inventory_daily_counts` equal a `GROUP BY` over the data tables, and the gap store returns
//! them; a destination loaded at schema 0003 and then migrated has them backfilled.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use fluxion_etl::loaders::Destination;
use fluxion_etl::model::{Batch, DataKind, SaleLine, StoreId, Window};
use fluxion_etl::pipeline::{Identity, LoadScope, LoadUnit, Runner, RunnerOptions, StoreTask};
use fluxion_etl::tracker::{ExecutionStatus, ExecutionTracker, StoreRef};
use sqlx::migrate::Migrator;

use crate::common::db::TestDb;
use crate::common::*;

/// `(store, day, records)`, sorted.
type Counts = Vec<(String, String, i64)>;

fn at(day: &str, h: u32, m: u32) -> NaiveDateTime {
    day.parse::<NaiveDate>()
        .unwrap()
        .and_hms_opt(h, m, 0)
        .unwrap()
}

/// Two business days and the night between: 2025-11-17 18:00 → 2025-11-19 00:00, store-local.
fn span() -> Window {
    Window::new(at("2025-11-17", 18, 0), at("2025-11-19", 0, 0)).unwrap()
}

/// `n` lines from `start` on, one every 7 minutes, invoices numbered from `first`.
fn lines_from(store: &str, start: NaiveDateTime, first: u32, n: u32) -> Vec<SaleLine> {
    (0..n)
        .map(|i| {
            let sold = start + chrono::Duration::minutes(7 * i64::from(i));
            line(store, first + i / 3, (i % 3) as i32 + 1, sold, "1")
        })
        .collect()
}

/// Lines on both days of [`span`], plus one sold after midnight that belongs to the first
/// business day (counts follow `business_date`, not the clock).
fn delivery(store: &str) -> Vec<SaleLine> {
    let mut lines = lines_from(store, at("2025-11-17", 18, 0), 0, 30);
    lines.extend(lines_from(store, at("2025-11-18", 9, 0), 100, 45));
    let mut late = line(store, 900, 1, at("2025-11-18", 0, 30), "2");
    late.business_date = "2025-11-17".parse().unwrap();
    lines.push(late);
    lines
}

fn store_ref(id: &str) -> StoreRef {
    StoreRef {
        id: id.into(),
        name: Some(id.to_uppercase()),
        system: Some(fluxion_etl::model::SourceSystem::Klk),
    }
}

/// Runs one execution of `tasks`; returns its status.
async fn run(destination: &Destination, tasks: Vec<StoreTask>) -> ExecutionStatus {
    let stores: Vec<String> = tasks.iter().map(|t| t.store.id.to_string()).collect();
    let refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let tracker = ExecutionTracker::start_execution(destination.tracker_store(), spec(&refs))
        .await
        .unwrap();
    let runner = Runner::new(
        RunnerOptions {
            max_workers: 2,
            channel_capacity: 2,
        },
        Arc::new(Identity),
        destination.loader(),
    );
    runner
        .run(&tracker, tasks, &fluxion_etl::CancellationToken::new())
        .await;
    tracker.finish_execution().await.unwrap().status
}

fn sales(store: &str, w: Window, lines: Vec<SaleLine>) -> StoreTask {
    StoreTask {
        store: store_ref(store),
        unit: LoadUnit {
            store: StoreId::new(store),
            scope: LoadScope::SalesWindow(w),
        },
        extractor: Box::new(VecExtractor::sales(lines, 11)),
    }
}

fn snapshot(store: &str, warehouse: &str, items: usize) -> StoreTask {
    snapshot_kept(store, warehouse, items, true)
}

/// A snapshot of `items` articles; `keep_history` as `[destination] keep_inventory_history`.
fn snapshot_kept(store: &str, warehouse: &str, items: usize, keep_history: bool) -> StoreTask {
    let items: Vec<_> = (0..items as u32)
        .map(|c| item(store, warehouse, c, "4"))
        .collect();
    StoreTask {
        store: store_ref(store),
        unit: LoadUnit {
            store: StoreId::new(store),
            scope: LoadScope::InventorySnapshot {
                warehouse: warehouse.into(),
                taken_at: chrono::Utc::now(),
                keep_history,
            },
        },
        extractor: Box::new(VecExtractor::new(
            items
                .chunks(16)
                .map(|c| Batch::Inventory(c.to_vec()))
                .collect(),
        )),
    }
}

async fn load_ok(destination: &Destination, task: StoreTask) {
    assert_eq!(run(destination, vec![task]).await, ExecutionStatus::Success);
}

async fn rows(destination: &Destination, sqlite: &str, postgres: &str) -> Counts {
    let mut out: Counts = match destination {
        Destination::Sqlite(d) => sqlx::query_as(sqlite).fetch_all(d.pool()).await.unwrap(),
        Destination::Postgres(d) => sqlx::query_as(postgres).fetch_all(d.pool()).await.unwrap(),
        other => panic!("no test queries for {other:?}"),
    };
    out.sort();
    out
}

/// The count table of `kind`.
async fn kept(destination: &Destination, kind: DataKind) -> Counts {
    let table = match kind {
        DataKind::Sales => "sales_daily_counts",
        DataKind::Inventory => "inventory_daily_counts",
    };
    rows(
        destination,
        &format!("SELECT store_id, day, records FROM {table}"),
        &format!("SELECT store_id, day::text, records FROM {table}"),
    )
    .await
}

/// The same counts, computed from the data table as gap coverage used to.
async fn grouped(destination: &Destination, kind: DataKind) -> Counts {
    match kind {
        DataKind::Sales => {
            rows(
                destination,
                "SELECT store_id, business_date, COUNT(*) FROM sales_lines GROUP BY 1, 2",
                "SELECT store_id, business_date::text, COUNT(*) FROM sales_lines GROUP BY 1, 2",
            )
            .await
        }
        DataKind::Inventory => rows(
            destination,
            "SELECT store_id, date(snapshot_at, '-4 hours'), COUNT(*) FROM inventory_history \
                 GROUP BY 1, 2",
            "SELECT store_id, (snapshot_at AT TIME ZONE 'America/Caracas')::date::text, COUNT(*) \
                 FROM inventory_history GROUP BY 1, 2",
        )
        .await,
    }
}

/// Asserts that both count tables equal the `GROUP BY`s and that the gap store reads them;
/// returns the sales counts.
async fn assert_exact(destination: &Destination, step: &str) -> Counts {
    for kind in [DataKind::Sales, DataKind::Inventory] {
        let kept = kept(destination, kind).await;
        assert_eq!(
            kept,
            grouped(destination, kind).await,
            "{step}: {kind:?} counts"
        );
        let mut read: Counts = destination
            .gap_store()
            .daily_counts(kind)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.store_id.to_string(), c.day.to_string(), c.records))
            .collect();
        read.sort();
        assert_eq!(
            read, kept,
            "{step}: {kind:?} counts as gap coverage reads them"
        );
    }
    kept(destination, DataKind::Sales).await
}

fn count(counts: &Counts, store: &str, day: &str) -> Option<i64> {
    counts
        .iter()
        .find(|(s, d, _)| s == store && d == day)
        .map(|c| c.2)
}

async fn loads_keep_the_counts_exact(db: &TestDb) {
    let dest = &db.destination;
    let w = span();

    // First loads: PostgreSQL COPYs these straight into the empty windows.
    load_ok(dest, sales("tienda_01", w, delivery("tienda_01"))).await;
    load_ok(dest, sales("tienda_02", w, delivery("tienda_02"))).await;
    let first = assert_exact(dest, "first loads").await;
    assert_eq!(count(&first, "tienda_01", "2025-11-17"), Some(31));
    assert_eq!(count(&first, "tienda_01", "2025-11-18"), Some(45));
    assert_eq!(first.len(), 4);

    // Changed lines (updates only).
    let mut changed = delivery("tienda_01");
    for l in changed.iter_mut().step_by(4) {
        l.quantity = Some(dec("5"));
    }
    load_ok(dest, sales("tienda_01", w, changed.clone())).await;
    assert_eq!(assert_exact(dest, "changed lines").await, first);

    // Unchanged re-delivery (skipped without writing).
    load_ok(dest, sales("tienda_01", w, changed.clone())).await;
    assert_eq!(assert_exact(dest, "unchanged re-delivery").await, first);

    // Fewer lines: ten voided on the second day, one changed.
    let mut fewer: Vec<SaleLine> = changed
        .iter()
        .filter(|l| {
            !(l.business_date.to_string() == "2025-11-18" && l.invoice_number.ends_with('1'))
        })
        .cloned()
        .collect();
    fewer[0].quantity = Some(dec("8"));
    let voided = changed.len() - fewer.len();
    assert!(voided > 0);
    load_ok(dest, sales("tienda_01", w, fewer.clone())).await;
    let after = assert_exact(dest, "fewer lines").await;
    assert_eq!(
        count(&after, "tienda_01", "2025-11-18"),
        Some(45 - voided as i64)
    );

    // More lines, on both days.
    let mut more = fewer.clone();
    more.extend(lines_from("tienda_01", at("2025-11-17", 21, 0), 500, 9));
    more.extend(lines_from("tienda_01", at("2025-11-18", 15, 0), 600, 12));
    load_ok(dest, sales("tienda_01", w, more.clone())).await;
    let after = assert_exact(dest, "more lines").await;
    assert_eq!(count(&after, "tienda_01", "2025-11-17"), Some(40));

    // A line moved to another business date (same key): its count moves with it.
    let mut moved = more.clone();
    moved[3].business_date = "2025-11-16".parse().unwrap();
    load_ok(dest, sales("tienda_01", w, moved)).await;
    let after = assert_exact(dest, "a line moved to another day").await;
    assert_eq!(count(&after, "tienda_01", "2025-11-16"), Some(1));
    assert_eq!(count(&after, "tienda_01", "2025-11-17"), Some(39));

    // An empty window re-delivered: 2025-11-18 loses all its lines (and the after-midnight
    // line of 2025-11-17 goes too); the other store keeps everything.
    let second_day = Window::new(at("2025-11-18", 0, 0), at("2025-11-19", 0, 0)).unwrap();
    load_ok(dest, sales("tienda_01", second_day, Vec::new())).await;
    let after = assert_exact(dest, "an empty window").await;
    assert_eq!(count(&after, "tienda_01", "2025-11-18"), None);
    assert_eq!(count(&after, "tienda_01", "2025-11-17"), Some(38));
    assert_eq!(count(&after, "tienda_02", "2025-11-18"), Some(45));

    // Inventory snapshots, appended to the history.
    load_ok(dest, snapshot("tienda_01", "APP-TPF", 40)).await;
    load_ok(dest, snapshot("tienda_01", "APP-TPF", 35)).await;
    load_ok(dest, snapshot("tienda_02", "TAVBOL", 20)).await;
    assert_exact(dest, "inventory snapshots").await;
    let inventory = kept(dest, DataKind::Inventory).await;
    assert_eq!(
        inventory.iter().map(|c| c.2).sum::<i64>(),
        db.inventory_history_len().await as i64
    );
    let tienda_01: i64 = inventory
        .iter()
        .filter(|c| c.0 == "tienda_01")
        .map(|c| c.2)
        .sum();
    assert_eq!(tienda_01, 75);

    // A load that fails half-way (after its updates and deletions ran) rolls the counts back
    // with the data.
    let before = assert_exact(dest, "before the failing load").await;
    db.install_poison().await;
    let mut next = delivery("tienda_01")[5..].to_vec();
    next.extend(lines_from("tienda_01", at("2025-11-18", 10, 0), 700, 6));
    next[0].quantity = Some(dec("3"));
    let mut poison = next[1].clone();
    poison.invoice_number = "POISON".into();
    next.push(poison);
    assert_eq!(
        run(dest, vec![sales("tienda_01", w, next)]).await,
        ExecutionStatus::Failed
    );
    assert_eq!(assert_exact(dest, "after a rolled-back load").await, before);
}

/// With `keep_inventory_history = false` no history row is written, yet each snapshot's day
/// is counted as the history would have counted it: inventory coverage does not report a store
/// with daily snapshots as having none.
async fn snapshots_without_history_count_their_days(db: &TestDb) {
    let dest = &db.destination;
    load_ok(dest, snapshot_kept("tienda_01", "APP-TPF", 40, false)).await;
    load_ok(dest, snapshot_kept("tienda_01", "APP-TPF", 35, false)).await;
    load_ok(dest, snapshot_kept("tienda_02", "TAVBOL", 20, false)).await;
    assert_eq!(db.inventory_history_len().await, 0);
    let counted = kept(dest, DataKind::Inventory).await;
    let per_store =
        |store: &str| -> i64 { counted.iter().filter(|c| c.0 == store).map(|c| c.2).sum() };
    assert_eq!((per_store("tienda_01"), per_store("tienda_02")), (75, 20));
    let mut read: Counts = dest
        .gap_store()
        .daily_counts(DataKind::Inventory)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.store_id.to_string(), c.day.to_string(), c.records))
        .collect();
    read.sort();
    assert_eq!(read, counted);
}

/// `[destination] inventory_history_days`: snapshots older than the retention are deleted,
/// the recent ones stay, and the per-day counts follow.
async fn old_inventory_snapshots_are_pruned(db: &TestDb) {
    let dest = &db.destination;
    let mut old = snapshot("tienda_01", "APP-TPF", 30);
    let taken = chrono::Utc::now() - chrono::Duration::days(100);
    let items: Vec<_> = (0..30u32)
        .map(|c| {
            let mut i = item("tienda_01", "APP-TPF", c, "4");
            i.snapshot_at = taken;
            i
        })
        .collect();
    old.extractor = Box::new(VecExtractor::new(vec![Batch::Inventory(items)]));
    load_ok(dest, old).await;
    load_ok(dest, snapshot("tienda_01", "APP-TPF", 20)).await;
    assert_eq!(db.inventory_history_len().await, 50);
    assert_eq!(dest.prune_inventory_history(90).await.unwrap(), 30);
    assert_eq!(db.inventory_history_len().await, 20);
    assert_exact(dest, "after pruning the inventory history").await;
    assert_eq!(dest.prune_inventory_history(90).await.unwrap(), 0);
}

/// The migrations up to `version`, from the ones this build embeds.
fn migrator_until(destination: &Destination, version: i64) -> Migrator {
    let all = match destination {
        Destination::Sqlite(_) => &fluxion_etl::loaders::sqlite::MIGRATOR,
        Destination::Postgres(_) => &fluxion_etl::loaders::postgres::MIGRATOR,
        other => panic!("no migrations for {other:?}"),
    };
    let migrations: Vec<_> = all
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect();
    assert_eq!(migrations.len(), 3, "migrations 0001-0003");
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

async fn upgrade_backfills_the_counts(destination: Destination) {
    let dest = &destination;
    let at_0003 = migrator_until(dest, 3);
    match dest {
        Destination::Sqlite(d) => at_0003.run(d.pool()).await.unwrap(),
        Destination::Postgres(d) => at_0003.run(d.pool()).await.unwrap(),
        other => panic!("no migrations for {other:?}"),
    }

    // Data loaded by this build's loaders at schema 0003 (no count tables yet).
    let w = span();
    load_ok(dest, sales("tienda_01", w, delivery("tienda_01"))).await;
    load_ok(
        dest,
        sales("tienda_02", w, delivery("tienda_02")[10..].to_vec()),
    )
    .await;
    load_ok(dest, snapshot("tienda_01", "APP-TPF", 30)).await;
    load_ok(dest, snapshot("tienda_01", "APP-TPF", 25)).await;
    let before_sales = grouped(dest, DataKind::Sales).await;
    let before_inventory = grouped(dest, DataKind::Inventory).await;
    assert_eq!(before_sales.len(), 4);
    assert!(!before_inventory.is_empty());

    dest.migrate().await.unwrap();
    assert_eq!(
        dest.schema_status().await.unwrap(),
        fluxion_etl::loaders::SchemaStatus::Current
    );
    assert_eq!(
        assert_exact(dest, "after migration 0004").await,
        before_sales
    );
    assert_eq!(kept(dest, DataKind::Inventory).await, before_inventory);

    // And the counts follow the loads from then on.
    load_ok(dest, sales("tienda_02", w, delivery("tienda_02"))).await;
    let after = assert_exact(dest, "a load after the upgrade").await;
    assert_eq!(count(&after, "tienda_02", "2025-11-17"), Some(31));
}

/// The destinations start at schema 0003, loaded by this build: over their bare pools, whose
/// executions record no owner (0003 has no `owner_key` column).
async fn fresh_sqlite() -> (Destination, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("upgrade.db").display());
    let Destination::Sqlite(d) = Destination::connect(&url).await.unwrap() else {
        unreachable!()
    };
    let bare = fluxion_etl::loaders::SqlDestination::from_pool(d.pool().clone());
    (Destination::Sqlite(bare), dir)
}

async fn fresh_postgres() -> Destination {
    let url = crate::common::db::fresh_postgres_url().await;
    let Destination::Postgres(d) = Destination::connect(&url).await.unwrap() else {
        unreachable!()
    };
    Destination::Postgres(fluxion_etl::loaders::SqlDestination::from_pool(
        d.pool().clone(),
    ))
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loads_keep_the_counts_exact() {
        super::loads_keep_the_counts_exact(&TestDb::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshots_without_history_count_their_days() {
        super::snapshots_without_history_count_their_days(&TestDb::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_inventory_snapshots_are_pruned() {
        super::old_inventory_snapshots_are_pruned(&TestDb::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upgrade_backfills_the_counts() {
        let (destination, _dir) = fresh_sqlite().await;
        super::upgrade_backfills_the_counts(destination).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loads_keep_the_counts_exact() {
        super::loads_keep_the_counts_exact(&TestDb::postgres().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshots_without_history_count_their_days() {
        super::snapshots_without_history_count_their_days(&TestDb::postgres().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_inventory_snapshots_are_pruned() {
        super::old_inventory_snapshots_are_pruned(&TestDb::postgres().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upgrade_backfills_the_counts() {
        super::upgrade_backfills_the_counts(fresh_postgres().await).await;
    }
}
