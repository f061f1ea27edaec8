//! The loader contract: what every destination must do, run against each backend.
//!
//! Loads go through the real [`Runner`] and the destination's own tracker store, so each test
//! also checks that "loaded" and "recorded as loaded" agree.

use std::sync::Arc;

use fluxion_etl::model::{Batch, SaleLine, StoreId, Window};
use fluxion_etl::pipeline::{
    Identity, LoadScope, LoadUnit, Runner, RunnerOptions, StoreOutcome, StoreTask,
};
use fluxion_etl::tracker::{
    ErrorCategory, ExecutionStatus, ExecutionTracker, Phase, StoreDetail, StoreRef,
};

use crate::common::db::TestDb;
use crate::common::*;

fn store_ref(id: &str) -> StoreRef {
    StoreRef {
        id: id.into(),
        name: Some(id.to_uppercase()),
        system: Some(fluxion_etl::model::SourceSystem::Klk),
    }
}

fn sales_task(store: &str, w: Window, extractor: VecExtractor) -> StoreTask {
    StoreTask {
        store: store_ref(store),
        unit: LoadUnit {
            store: StoreId::new(store),
            scope: LoadScope::SalesWindow(w),
        },
        extractor: Box::new(extractor),
    }
}

/// Runs tasks as one execution; returns the outcomes and the execution's status.
async fn run(db: &TestDb, tasks: Vec<StoreTask>) -> (Vec<StoreOutcome>, ExecutionStatus, i64) {
    let stores: Vec<String> = tasks.iter().map(|t| t.store.id.to_string()).collect();
    let refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let tracker = ExecutionTracker::start_execution(db.destination.tracker_store(), spec(&refs))
        .await
        .unwrap();
    let runner = Runner::new(
        RunnerOptions {
            max_workers: 4,
            channel_capacity: 2,
        },
        Arc::new(Identity),
        db.destination.loader(),
    );
    let outcomes = runner
        .run(&tracker, tasks, &fluxion_etl::CancellationToken::new())
        .await;
    let id = tracker.id();
    let finish = tracker.finish_execution().await.unwrap();
    (outcomes, finish.status, id)
}

/// Loads one store's window and returns its recorded detail.
async fn load(db: &TestDb, store: &str, w: Window, lines: Vec<SaleLine>) -> StoreDetail {
    let (mut outcomes, status, _) = run(
        db,
        vec![sales_task(store, w, VecExtractor::sales(lines, 7))],
    )
    .await;
    let outcome = outcomes.remove(0);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(status, ExecutionStatus::Success);
    outcome.detail.unwrap()
}

async fn same_window_twice_changes_nothing(db: &TestDb) {
    let w = window(8, 12);
    let lines = lines_in("tienda_01", w, 50);
    let first = load(db, "tienda_01", w, lines.clone()).await;
    assert_eq!(
        (
            first.records_inserted,
            first.records_updated,
            first.records_deleted
        ),
        (50, 0, 0)
    );
    assert_eq!(first.records_loaded, 50);
    assert_eq!(first.duplicates_skipped, 0);
    let before = db.sales().await;
    assert_eq!(before.len(), 50);

    let second = load(db, "tienda_01", w, lines).await;
    assert_eq!(
        (
            second.records_inserted,
            second.records_updated,
            second.records_deleted
        ),
        (0, 0, 0)
    );
    assert_eq!(second.records_loaded, 0);
    assert_eq!(second.duplicates_skipped, 50);
    assert_eq!(db.sales().await, before);
}

async fn recorded_detail_matches_the_load(db: &TestDb) {
    let w = window(8, 12);
    let detail = load(db, "tienda_01", w, lines_in("tienda_01", w, 20)).await;
    let view = db
        .destination
        .tracker_store()
        .execution(detail.execution_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.status, "success");
    assert_eq!(view.records_loaded, 20);
    assert_eq!(view.tiendas_detail.len(), 1, "the detail is written once");
    let d = &view.tiendas_detail[0];
    assert_eq!(
        (d.status.as_str(), d.records_extracted, d.records_loaded),
        ("success", 20, 20)
    );
}

async fn a_voided_line_disappears(db: &TestDb) {
    let w = window(8, 12);
    let mut lines = lines_in("tienda_01", w, 30);
    load(db, "tienda_01", w, lines.clone()).await;
    let voided = lines.remove(10);
    let detail = load(db, "tienda_01", w, lines).await;
    assert_eq!(detail.records_deleted, 1);
    assert_eq!(detail.duplicates_skipped, 29);
    let view = db
        .destination
        .tracker_store()
        .execution(detail.execution_id)
        .await
        .unwrap()
        .unwrap();
    let recorded = &view.tiendas_detail[0];
    assert_eq!(
        (
            recorded.records_deleted,
            recorded.records_inserted,
            recorded.records_updated
        ),
        (1, 0, 0),
        "the history shows what the load did"
    );
    let rows = db.sales().await;
    assert_eq!(rows.len(), 29);
    let key = format!(
        "tienda_01|{}|{}|",
        voided.invoice_number, voided.line_number
    );
    assert!(
        !rows.iter().any(|r| r.starts_with(&key)),
        "{key} still there"
    );
}

async fn an_empty_window_deletes_what_it_had(db: &TestDb) {
    let w = window(8, 12);
    load(db, "tienda_01", w, lines_in("tienda_01", w, 10)).await;
    let detail = load(db, "tienda_01", w, Vec::new()).await;
    assert_eq!(detail.records_deleted, 10);
    assert!(db.sales().await.is_empty());
}

async fn a_changed_line_is_updated(db: &TestDb) {
    let w = window(8, 12);
    let mut lines = lines_in("tienda_01", w, 30);
    load(db, "tienda_01", w, lines.clone()).await;
    lines[3].quantity = Some(dec("0.735"));
    let detail = load(db, "tienda_01", w, lines.clone()).await;
    assert_eq!(
        (
            detail.records_updated,
            detail.records_inserted,
            detail.duplicates_skipped
        ),
        (1, 0, 29)
    );
    let key = format!(
        "tienda_01|{}|{}|0.735",
        lines[3].invoice_number, lines[3].line_number
    );
    assert!(db.sales().await.contains(&key));
}

async fn overlapping_windows_are_safe(db: &TestDb) {
    // The source's truth: one line a minute from 08:00 to 14:00.
    let all = lines_in("tienda_01", window(8, 14), 360);
    let inside = |w: Window| -> Vec<SaleLine> {
        all.iter()
            .filter(|l| w.contains_utc(l.sold_at))
            .cloned()
            .collect()
    };
    let (w1, w2) = (window(8, 12), window(10, 14));
    let a = load(db, "tienda_01", w1, inside(w1)).await;
    assert_eq!(a.records_inserted, 240);
    let b = load(db, "tienda_01", w2, inside(w2)).await;
    assert_eq!(b.records_inserted, 120, "only 12:00–14:00 is new");
    assert_eq!(b.duplicates_skipped, 120, "10:00–12:00 was already there");
    assert_eq!(b.records_deleted, 0);
    assert_eq!(db.sales().await.len(), 360);
}

async fn other_stores_are_untouched(db: &TestDb) {
    let w = window(8, 12);
    load(db, "tienda_01", w, lines_in("tienda_01", w, 20)).await;
    load(db, "tienda_02", w, lines_in("tienda_02", w, 20)).await;
    let before = db.sales_of("tienda_02").await;
    // Same invoice numbers in another store are other lines: store scopes the key.
    load(db, "tienda_01", w, Vec::new()).await;
    assert_eq!(db.sales_of("tienda_02").await, before);
    assert!(db.sales_of("tienda_01").await.is_empty());
}

async fn a_failing_batch_leaves_the_destination_as_before(db: &TestDb) {
    let w = window(8, 12);
    let lines = lines_in("tienda_01", w, 40);
    load(db, "tienda_01", w, lines.clone()).await;
    let before = db.sales().await;

    // Different data, streamed in several batches, then the source fails.
    let mut changed = lines[..30].to_vec();
    for l in &mut changed {
        l.quantity = Some(dec("9"));
    }
    let extractor =
        VecExtractor::sales(changed, 7).failing_after(extract_error(ErrorCategory::ApiTimeout));
    let (outcomes, status, _) = run(db, vec![sales_task("tienda_01", w, extractor)]).await;
    assert_eq!(status, ExecutionStatus::Failed);
    let error = outcomes[0].error.as_ref().unwrap();
    assert_eq!(
        (error.phase(), error.category()),
        (Phase::Extract, ErrorCategory::ApiTimeout)
    );
    assert_eq!(
        db.sales().await,
        before,
        "nothing of the failed window was committed"
    );
}

async fn a_failing_merge_rolls_back(db: &TestDb) {
    let w = window(8, 12);
    let lines = lines_in("tienda_01", w, 40);
    load(db, "tienda_01", w, lines.clone()).await;
    let before = db.sales().await;
    db.install_poison().await;

    // Updates, deletions and a poisoned insert in one unit: all or nothing.
    let mut next = lines[5..].to_vec();
    next[0].quantity = Some(dec("3"));
    let mut poison = next[1].clone();
    poison.invoice_number = "POISON".into();
    next.push(poison);
    let (outcomes, status, id) = run(
        db,
        vec![sales_task("tienda_01", w, VecExtractor::sales(next, 7))],
    )
    .await;
    assert_eq!(status, ExecutionStatus::Failed);
    let error = outcomes[0].error.as_ref().unwrap();
    assert_eq!(error.phase(), Phase::Load);
    assert_eq!(error.category(), ErrorCategory::ConstraintViolation);
    assert!(!error.is_retryable());
    assert_eq!(db.sales().await, before);
    let view = db
        .destination
        .tracker_store()
        .execution(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.tiendas_detail.len(), 1);
    assert_eq!(view.tiendas_detail[0].status, "failed");
    assert_eq!(
        view.tiendas_detail[0].error_category.as_deref(),
        Some("constraint_violation")
    );
}

async fn repeated_keys_in_one_delivery_are_counted_once(db: &TestDb) {
    let w = window(8, 12);
    let mut lines = lines_in("tienda_01", w, 10);
    lines.push(lines[0].clone());
    let detail = load(db, "tienda_01", w, lines).await;
    assert_eq!(detail.records_inserted, 10);
    assert_eq!(detail.duplicates_skipped, 1);
    assert_eq!(db.sales().await.len(), 10);
}

async fn a_minimal_line_loads(db: &TestDb) {
    // Only the identity, the time and the article: every other field may be missing at the source.
    let w = window(8, 12);
    let minimal = SaleLine {
        store_id: StoreId::new("tienda_01"),
        invoice_number: "C10-01-00000001".into(),
        line_number: 1,
        sold_at: fluxion_etl::model::local_to_utc(local(9, 30)),
        business_date: day(),
        product_code: "001853".into(),
        ..SaleLine::default()
    };
    let detail = load(db, "tienda_01", w, vec![minimal]).await;
    assert_eq!(detail.records_inserted, 1);
    assert_eq!(
        db.sales().await,
        vec!["tienda_01|C10-01-00000001|1|".to_owned()]
    );
}

async fn inventory_snapshot_replaces_and_keeps_history(db: &TestDb) {
    let snapshot = |items: Vec<fluxion_etl::model::InventoryItem>| StoreTask {
        store: store_ref("tienda_01"),
        unit: LoadUnit {
            store: StoreId::new("tienda_01"),
            scope: LoadScope::InventorySnapshot {
                warehouse: "APP-TPF".into(),
                taken_at: chrono::Utc::now(),
                keep_history: true,
            },
        },
        extractor: Box::new(VecExtractor::new(
            items
                .chunks(16)
                .map(|c| Batch::Inventory(c.to_vec()))
                .collect(),
        )),
    };
    let first: Vec<_> = (0..100)
        .map(|c| item("tienda_01", "APP-TPF", c, "5"))
        .collect();
    let (o, status, _) = run(db, vec![snapshot(first)]).await;
    assert_eq!(status, ExecutionStatus::Success, "{:?}", o[0].error);
    assert_eq!(o[0].detail.as_ref().unwrap().records_inserted, 100);

    // Ten articles gone, five with new stock (one negative, one fractional: both real).
    let mut second: Vec<_> = (0..90)
        .map(|c| item("tienda_01", "APP-TPF", c, "5"))
        .collect();
    second[0].stock = dec("-3");
    second[1].stock = dec("2.5");
    for i in second.iter_mut().skip(2).take(3) {
        i.stock = dec("7");
    }
    let (o, _, _) = run(db, vec![snapshot(second)]).await;
    let d = o[0].detail.as_ref().unwrap();
    assert_eq!(
        (
            d.records_updated,
            d.records_deleted,
            d.duplicates_skipped,
            d.records_inserted
        ),
        (5, 10, 85, 0)
    );
    let current = db.inventory().await;
    assert_eq!(current.len(), 90);
    assert!(current.contains(&"tienda_01|APP-TPF|000000|-3".to_owned()));
    assert!(current.contains(&"tienda_01|APP-TPF|000001|2.5".to_owned()));
    assert_eq!(db.inventory_history_len().await, 190);
}

/// Declares every contract test for one backend.
macro_rules! contract_suite {
    ($backend:ident, $db:expr) => {
        mod $backend {
            use super::*;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let db = $db.await;
                        super::$name(&db).await;
                    }
                };
            }

            case!(same_window_twice_changes_nothing);
            case!(recorded_detail_matches_the_load);
            case!(a_voided_line_disappears);
            case!(an_empty_window_deletes_what_it_had);
            case!(a_changed_line_is_updated);
            case!(overlapping_windows_are_safe);
            case!(other_stores_are_untouched);
            case!(a_failing_batch_leaves_the_destination_as_before);
            case!(a_failing_merge_rolls_back);
            case!(repeated_keys_in_one_delivery_are_counted_once);
            case!(a_minimal_line_loads);
            case!(inventory_snapshot_replaces_and_keeps_history);
        }
    };
}

contract_suite!(sqlite, TestDb::sqlite());
contract_suite!(postgres, TestDb::postgres());
