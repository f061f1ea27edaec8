//! The parser end to end: documents fed in every kind of chunking, broken rows and documents,
//! and both inventory shapes.

use chrono::{DateTime, NaiveDate};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use super::document::DocSummary;
use super::records::parse_time;
use super::*;
use crate::model::test_support::dec;
use crate::model::{InventoryItem, SaleLine, StoreId, Window};
use crate::sources::scope::SnapshotScope;
use crate::sources::texts::TextPool;

/// Parses `body` fed in the given chunks; returns the lines, the row errors and the summary
/// or document error.
pub(super) fn run_sales(
    chunks: &[&[u8]],
) -> (Vec<SaleLine>, Vec<RowError>, Result<DocSummary, DocError>) {
    let store = StoreId::from("tienda_01");
    let mut p = DocParser::new("ventas", false);
    let mut pool = TextPool::default();
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    let mut feed = chunks.iter();
    loop {
        match p.next(|r, i| sale_element(r, i, &store, None, &mut pool)) {
            Ok(Step::Item(Ok(l))) => lines.extend(l),
            Ok(Step::Item(Err(e))) => rows.push(e),
            Ok(Step::NeedMore) => match feed.next() {
                Some(c) => p.feed(c),
                None => p.finish(),
            },
            Ok(Step::End(s)) => return (lines, rows, Ok(s)),
            Err(e) => return (lines, rows, Err(e)),
        }
    }
}

fn sales(body: &str) -> (Vec<SaleLine>, Vec<RowError>, Result<DocSummary, DocError>) {
    run_sales(&[body.as_bytes()])
}

fn line(invoice: &str, n: u32, hora: &str, extra: &str) -> String {
    format!(
        r#"{{"numero_factura":"{invoice}","fecha":"2025-11-17","hora":"{hora}","linea":{n},
           "producto":[{{"codigo_producto":"001853","descripcion_producto":"X"{extra}}}],
           "cantidad":[{{"codigo_almacen":"APP-TPF","cantidad_vendida":1.5}}],
           "financiero":[{{"venta_total_usd":0.974138,"utilidad_bruta_usd":-0.03}}],
           "tasa_usd":236.46,"es_no_fiscal":false,"tiene_promocion":""}}"#
    )
}

fn doc(lines: &[String], meta_first: bool) -> String {
    let meta = r#""meta":{"sucursal_codigo":"SUC001","total_registros":3}"#;
    let ventas = format!(r#""ventas":[{}]"#, lines.join(",\n"));
    if meta_first {
        format!("{{{meta},{ventas}}}")
    } else {
        format!("{{ {ventas} , {meta} }}\n")
    }
}

fn tricky_lines() -> Vec<String> {
    vec![
        line(
            "C10-01-1",
            1,
            "12:19:56.8966141",
            r#","marca_producto":"A]B}C""#,
        ),
        line(
            "C10-01-2",
            1,
            "06:00:00",
            r#","marca_producto":"say \"hi\" \\ \u00e9 \ud83d\ude00 [{""#,
        ),
        line(
            "C10-01-3",
            2,
            "21:59:59.9999999",
            r#","cuadrante_producto":"Q-7""#,
        ),
    ]
}

#[test]
fn maps_a_line() {
    let (lines, rows, end) = sales(&doc(&tricky_lines(), true));
    assert!(rows.is_empty(), "{rows:?}");
    let s = end.unwrap();
    assert_eq!(s.elements, 3);
    assert_eq!(s.meta_total, Some(3));
    assert!(s.error.is_none());
    assert_eq!(lines.len(), 3);
    let l = &lines[0];
    assert_eq!(&*l.invoice_number, "C10-01-1");
    assert_eq!(l.sold_at.to_rfc3339(), "2025-11-17T16:19:56.896614+00:00");
    assert_eq!(
        l.business_date,
        NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()
    );
    assert_eq!(l.brand.as_deref(), Some("A]B}C"));
    assert_eq!(l.quantity, Some(dec("1.5")));
    assert_eq!(l.total_usd, Some(dec("0.974138")));
    assert_eq!(l.gross_profit_usd, Some(dec("-0.03")));
    assert_eq!(l.promotion, None);
    assert_eq!(l.non_fiscal, Some(false));
    assert_eq!(lines[1].brand.as_deref(), Some("say \"hi\" \\ é 😀 [{"));
    assert_eq!(lines[2].quadrant.as_deref(), Some("Q-7"));
    assert_eq!(
        lines[2].sold_at.to_rfc3339(),
        "2025-11-18T01:59:59.999999+00:00"
    );
}

#[test]
fn every_split_point_gives_the_same_result() {
    let body = doc(&tricky_lines(), false);
    let whole = sales(&body);
    assert_eq!(whole.0.len(), 3);
    let b = body.as_bytes();
    for cut in 0..=b.len() {
        let got = run_sales(&[&b[..cut], &b[cut..]]);
        assert_eq!(got.0, whole.0, "cut at {cut}");
        assert_eq!(got.2, whole.2, "cut at {cut}");
    }
    // One byte at a time.
    let bytes: Vec<&[u8]> = b.chunks(1).collect();
    let got = run_sales(&bytes);
    assert_eq!(got.0, whole.0);
}

#[test]
fn random_splits_of_a_large_body() {
    let lines: Vec<String> = (0..2_000)
        .map(|i| {
            let extra = if i % 7 == 0 {
                r#","marca_producto":"b]r}a\"n{d[""#
            } else {
                ""
            };
            line(&format!("F-{i}"), i % 5 + 1, "10:11:12.1234567", extra)
        })
        .collect();
    let body = doc(&lines, false);
    let whole = sales(&body);
    assert_eq!(whole.0.len(), 2_000);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..20 {
        let mut chunks = Vec::new();
        let mut rest = body.as_bytes();
        while !rest.is_empty() {
            let n = rng.gen_range(1..=rest.len().min(9_000));
            let (a, b) = rest.split_at(n);
            chunks.push(a);
            rest = b;
        }
        let got = run_sales(&chunks);
        assert_eq!(got.0, whole.0);
        assert_eq!(got.2, whole.2);
    }
}

#[test]
fn truncation_anywhere_is_detected() {
    let body = doc(&tricky_lines(), true);
    let b = body.as_bytes();
    for cut in 0..b.len() {
        let (_, _, end) = run_sales(&[&b[..cut]]);
        assert!(
            matches!(end, Err(DocError::Truncated { .. })),
            "cut at {cut}: {end:?}"
        );
    }
}

#[test]
fn malformed_bodies() {
    for bad in [
        r#"{"ventas":[{"numero_factura":"A",}]}"#,
        r#"{"ventas":[{"numero_factura":"A"} {"x":1}]}"#,
        r#"{"ventas":[1,2]}"#,
        r#"{"ventas":{"a":1}}"#,
        r#"{"ventas":[]} trailing"#,
        r#"[{"numero_factura":"A"}]"#,
        r#"<html>502 Bad Gateway</html>"#,
        r#"{"ventas":[{"linea":01}]}"#,
        r#"{"ventas":[{"linea":tru}]}"#,
        "{\"ventas\":[{\"serial\":\"a\nb\"}]}",
    ] {
        let (_, _, end) = sales(bad);
        assert!(
            matches!(end, Err(DocError::Syntax { .. })),
            "{bad}: {end:?}"
        );
    }
    let (_, _, end) = run_sales(&[b"{\"ventas\":[{\"numero_factura\":\"\xff\"}]}"]);
    assert!(matches!(end, Err(DocError::Encoding { .. })), "{end:?}");
}

#[test]
fn error_member_is_reported() {
    let (lines, _, end) = sales(r#"{"error":"Sucursal no existe","ventas":[]}"#);
    assert!(lines.is_empty());
    let s = end.unwrap();
    assert_eq!(s.error.as_deref(), Some("Sucursal no existe"));
    let (_, _, end) = sales(r#"{"meta":{},"error":{"code":7}}"#);
    let s = end.unwrap();
    assert_eq!(s.error.as_deref(), Some(r#"{"code":7}"#));
    assert!(!s.saw_array);
    let (_, _, end) = sales(r#"{"error":null,"ventas":[]}"#);
    assert!(end.unwrap().error.is_none());
}

#[test]
fn broken_rows_are_reported_and_parsing_goes_on() {
    let mut lines = tricky_lines();
    lines.insert(1, r#"{"numero_factura":"X-9","linea":4,"fecha":"2025-11-17","hora":"10:00:00","producto":[]}"#.to_owned());
    lines.push(
        r#"{"numero_factura":"X-10","linea":"4","fecha_hora_completa":"2025-11-17T10:00:00"}"#
            .to_owned(),
    );
    lines.push(line("X-11", 1, "25:00:00", ""));
    let (ok, rows, end) = sales(&doc(&lines, true));
    assert_eq!(ok.len(), 3);
    assert_eq!(end.unwrap().elements, 6);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].element, 2);
    assert_eq!(rows[0].problem, RowProblem::Missing("codigo_producto"));
    assert!(rows[0].to_string().contains("X-9"), "{}", rows[0]);
    assert!(matches!(
        rows[1].problem,
        RowProblem::Invalid { field: "linea", .. }
    ));
    assert!(matches!(
        rows[2].problem,
        RowProblem::Invalid { field: "hora", .. }
    ));
}

#[test]
fn lines_outside_the_window_are_dropped_not_rejected() {
    let at = |h: &str| {
        NaiveDate::from_ymd_opt(2025, 11, 17)
            .unwrap()
            .and_time(parse_time(h).unwrap())
    };
    let window = Window::new(at("12:00:00"), at("12:20:00")).unwrap();
    let body = doc(
        &[
            line("A", 1, "11:59:59.9999999", ""),
            line("A", 2, "12:00:00.0000000", ""),
            line("A", 3, "12:19:59.9999999", ""),
            line("A", 4, "12:20:00.0000000", ""),
            // Broken, but outside the window: not this unit's row.
            r#"{"numero_factura":"B","linea":1,"fecha":"2025-11-17","hora":"12:20:00"}"#.to_owned(),
        ],
        true,
    );
    let store = StoreId::from("tienda_01");
    let mut p = DocParser::new("ventas", false);
    let mut pool = TextPool::default();
    p.feed(body.as_bytes());
    p.finish();
    let mut kept = Vec::new();
    let mut dropped = 0;
    loop {
        match p
            .next(|r, i| sale_element(r, i, &store, Some(&window), &mut pool))
            .unwrap()
        {
            Step::Item(Ok(Some(l))) => kept.push(l.line_number),
            Step::Item(Ok(None)) => dropped += 1,
            Step::Item(Err(e)) => panic!("{e}"),
            Step::NeedMore => unreachable!("finished"),
            Step::End(_) => break,
        }
    }
    assert_eq!(kept, [2, 3]);
    assert_eq!(dropped, 3);
}

#[test]
fn nulls_and_exact_numbers() {
    let body = r#"{"ventas":[{"numero_factura":"A","linea":1,"fecha":"2025-11-17",
        "hora":"12:00","producto":{"codigo_producto":"01"},
        "cantidad":[{"cantidad_vendida":null,"peso_bruto":1e2}],
        "financiero":[{"venta_total_bs":123456789012345678901.25,"costo_total_usd":-0}]}]}"#;
    let (lines, rows, _) = sales(body);
    assert!(rows.is_empty(), "{rows:?}");
    let l = &lines[0];
    assert_eq!(l.quantity, None);
    assert_eq!(l.gross_weight, Some(dec("100")));
    assert_eq!(l.total_bs, Some(dec("123456789012345678901.25")));
    assert_eq!(l.total_cost_usd, Some(Decimal::ZERO));
    assert_eq!(&*l.product_code, "01");
}

fn run_inventory(
    body: &str,
) -> (
    Vec<InventoryItem>,
    Vec<RowError>,
    Result<DocSummary, DocError>,
) {
    let scope = SnapshotScope {
        store: StoreId::from("tienda_01"),
        warehouse: "APP-TPF".into(),
        snapshot_at: DateTime::from_timestamp(1_763_400_000, 0).unwrap(),
    };
    let mut p = DocParser::new("articulos", true);
    let mut pool = TextPool::default();
    p.feed(body.as_bytes());
    p.finish();
    let mut items = Vec::new();
    let mut rows = Vec::new();
    loop {
        match p.next(|r, i| article_element(r, i, &scope, &mut pool)) {
            Ok(Step::Item(Ok(l))) => items.push(l),
            Ok(Step::Item(Err(e))) => rows.push(e),
            Ok(Step::NeedMore) => unreachable!("finished"),
            Ok(Step::End(s)) => return (items, rows, Ok(s)),
            Err(e) => return (items, rows, Err(e)),
        }
    }
}

#[test]
fn inventory_both_shapes() {
    let art = r#"{ "NombreProducto": "QUESO", "Codigo": "000002", "Barra": "00010",
        "Categoria": 99, "Descripcion": "N/A", "Subcategoria": "99",
        "Descripcion_categoria": "DE TRIGO", "Marca": "N/A",
        "Precio": 12.08, "Iva": 16, "stock": -2.375 }"#;
    let wrapped = format!(
        r#"{{"meta":{{"almacences_filtrados":"[\"PALT\",\"APP-PPF\"]","total_articulos":1}},"articulos":[{art}]}}"#
    );
    let bare = format!("[{art}]");
    for body in [wrapped, bare] {
        let (items, rows, end) = run_inventory(&body);
        assert!(rows.is_empty());
        assert_eq!(end.unwrap().elements, 1);
        let i = &items[0];
        assert_eq!(&*i.product_code, "000002");
        assert_eq!(i.barcode.as_deref(), Some("00010"));
        assert_eq!(i.category, None);
        assert_eq!(i.brand, None);
        assert_eq!(i.category_id.as_deref(), Some("99"));
        assert_eq!(i.stock, dec("-2.375"));
        assert_eq!(&*i.warehouse_code, "APP-TPF");
    }
    let (_, rows, _) = run_inventory(r#"[{"Codigo":"1","stock":null},{"stock":1}]"#);
    assert_eq!(rows[0].problem, RowProblem::Missing("stock"));
    assert_eq!(rows[1].problem, RowProblem::Missing("Codigo"));
}
