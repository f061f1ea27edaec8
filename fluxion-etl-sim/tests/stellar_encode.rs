//! The simulator's raw encode rate: the reference sales query (21 columns, joined through codes and
//! articles to departments, groups and subgroups) encoded into 4 KB TDS packets in memory, no socket.
//! It prints rows/s (run with `--release --nocapture` for a meaningful figure) and checks the row count;
//! it never asserts a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fluxion_etl_sim::stellar::{
    encode_result, SimParam, SimTables, StellarSimConfig, REFERENCE_INVENTORY_SQL,
    REFERENCE_SALES_SQL,
};

/// CPU time of this thread (Linux): on a shared, loaded machine it measures the encoder, not the
/// other processes. None where /proc is not available.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace()
        .next()?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

/// Runs `f` `runs` times; returns (wall seconds, CPU seconds if known).
fn timed(runs: u64, mut f: impl FnMut()) -> (f64, Option<f64>) {
    let (t, c) = (Instant::now(), thread_cpu());
    for _ in 0..runs {
        f();
    }
    let cpu = match (c, thread_cpu()) {
        (Some(a), Some(b)) => Some((b - a).as_secs_f64()),
        _ => None,
    };
    (t.elapsed().as_secs_f64(), cpu)
}

fn rate(rows: u64, (wall, cpu): (f64, Option<f64>)) -> String {
    match cpu {
        Some(cpu) => format!(
            "{:.0} rows/s of CPU time ({:.0} rows/s wall clock)",
            rows as f64 / cpu,
            rows as f64 / wall
        ),
        None => format!("{:.0} rows/s wall clock", rows as f64 / wall),
    }
}

#[test]
fn stellar_raw_encode_rate_of_the_reference_queries() {
    let tables = Arc::new(SimTables::new(&StellarSimConfig::default()));
    let day = NaiveDate::from_ymd_opt(2024, 3, 13).unwrap();
    let (from, to) = (
        day.and_hms_opt(0, 0, 0).unwrap(),
        day.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::days(3),
    );
    let expected = tables.expected_sales("1413", from, to).len() as u64;
    let params = [
        SimParam::Str("1413".into()),
        SimParam::DateTime(from),
        SimParam::DateTime(to),
        SimParam::Str(String::new()),
        SimParam::Int(0),
        SimParam::Int(i32::MAX),
    ];
    // Warm the sales cache so generation is not what is measured.
    let warm = encode_result(&tables, REFERENCE_SALES_SQL, &params).unwrap();
    assert_eq!(warm.rows, expected);
    let runs = 5;
    let mut bytes = 0;
    let t = timed(runs, || {
        let s = encode_result(&tables, REFERENCE_SALES_SQL, &params).unwrap();
        assert_eq!(s.rows, expected);
        bytes = s.bytes;
    });
    println!(
        "stellar raw encode, reference sales query (3 days of CEDI Seco, {expected} rows x 21 columns, {:.1} MB of packets): {}",
        bytes as f64 / 1e6,
        rate(expected * runs, t)
    );

    let inv = [SimParam::Str("1413".into())];
    let expected = tables.expected_inventory("1413").len() as u64;
    let t = timed(runs, || {
        assert_eq!(
            encode_result(&tables, REFERENCE_INVENTORY_SQL, &inv)
                .unwrap()
                .rows,
            expected
        );
    });
    println!(
        "stellar raw encode, reference inventory query (CEDI Seco, {expected} rows x 18 columns): {}",
        rate(expected * runs, t)
    );

    // A plain single-table scan: the encoder alone.
    let plain = "SELECT c_Numero, c_Caja, f_Fecha, h_Hora, n_Linea, Codigo, Cantidad, Precio, Subtotal, Impuesto, Total, \
                 Descuento, n_Costo, c_Concepto, Estatus, c_Localidad, ID FROM VAD20.dbo.MA_TRANSACCION \
                 WHERE c_Localidad = @P1 AND f_Fecha >= @P2 AND f_Fecha < @P3";
    let p = [
        SimParam::Str("1413".into()),
        SimParam::DateTime(from),
        SimParam::DateTime(to),
    ];
    let n = encode_result(&tables, plain, &p).unwrap().rows;
    let t = timed(runs, || {
        assert_eq!(encode_result(&tables, plain, &p).unwrap().rows, n);
    });
    println!(
        "stellar raw encode, MA_TRANSACCION scan ({n} rows x 17 columns): {}",
        rate(n * runs, t)
    );
}
