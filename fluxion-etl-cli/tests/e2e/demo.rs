//! `fluxion demo`: the README's first command, end to end, twice.

use crate::common::{run, Sandbox};

#[test]
fn the_demo_loads_once_and_a_second_run_loads_nothing_new() {
    let sandbox = Sandbox::new();
    let db = sandbox.path().join("demo.db");
    let db = db.to_str().unwrap();
    let args = [
        "demo",
        "--days",
        "1",
        "--stores",
        "tienda_01,tienda_08",
        "--db",
        db,
        "--json",
    ];

    let first = run(sandbox.fluxion(), &args).expect_code(0).json();
    let sales = &first["sales"];
    assert_eq!(sales["status"], "success");
    assert_eq!(sales["tiendas_detail"].as_array().unwrap().len(), 2);
    let extracted = sales["records_extracted"].as_i64().unwrap();
    assert!(
        extracted >= 20_000,
        "two store-days of 10k–30k lines, got {extracted}"
    );
    assert_eq!(sales["records_loaded"].as_i64().unwrap(), extracted);
    assert_eq!(first["inventory"]["status"], "success");
    assert!(first["inventory"]["records_extracted"].as_i64().unwrap() > 7_000);
    // The gaps it sees: yesterday is loaded, so both stores are up to date.
    let gaps = &first["gaps"];
    assert_eq!(gaps["resumen"]["total_tiendas"], 2, "{gaps}");
    assert_eq!(gaps["resumen"]["al_dia"], 2, "{gaps}");
    for store in gaps["tiendas"].as_array().unwrap() {
        assert_eq!(store["estado"], "al_dia", "{store}");
        assert_eq!(store["dias_atraso"], 0, "{store}");
    }

    // The same days again: everything is a duplicate, nothing is written, and it says so.
    let human = run(
        sandbox.fluxion(),
        &[
            "demo",
            "--days",
            "1",
            "--stores",
            "tienda_01,tienda_08",
            "--db",
            db,
        ],
    )
    .expect_code(0);
    assert!(
        human.stdout.contains("gaps: 2 of 2 stores up to date"),
        "the summary shows the gaps:\n{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("Nothing new"),
        "the second run must say nothing was new:\n{}",
        human.stdout
    );
    let mut readonly = sandbox.fluxion();
    readonly.env("DATABASE_URL", format!("sqlite://{db}"));
    let view = run(
        readonly,
        &["history", "--json", "--kind", "sales", "--limit", "1"],
    )
    .expect_code(0)
    .json();
    assert_eq!(view[0]["records_loaded"], 0);
    assert_eq!(view[0]["duplicates_skipped"].as_i64().unwrap(), extracted);
}

#[test]
fn an_unknown_demo_store_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let db = sandbox.path().join("demo.db");
    let out = run(
        sandbox.fluxion(),
        &[
            "demo",
            "--stores",
            "tienda_99",
            "--db",
            db.to_str().unwrap(),
        ],
    )
    .expect_code(64);
    assert!(out.stderr.contains("tienda_99"), "{}", out.stderr);
}
