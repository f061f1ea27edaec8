//! Property tests: random documents in random chunkings, checked against `serde_json`.
//!
//! Each case is brief (64 by default; `PROPTEST_CASES=10000 cargo test -p fluxion-etl-core
//! props` for a long run). What must hold for any input: no panic; the same result however the
//! body is split; every element of a well-formed document either becomes a line that agrees with
//! `serde_json`'s reading of it or is reported as a broken row; and a body `serde_json` rejects
//! is a document error, never a clean end.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::tests::run_sales as parse;

/// `body` cut at the given points (taken modulo its length).
fn split<'a>(body: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| c % (body.len() + 1))
        .chain([0, body.len()])
        .collect();
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| &body[w[0]..w[1]]).collect()
}

/// Any JSON text: strings with escapes, quotes, brackets and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Z0-9-]{1,12}",
        "\\PC{0,12}",
        Just(String::from("a]b}c\"d\\e")),
        Just(String::new()),
    ]
}

/// A value of a field: usually the right type, sometimes not.
fn value(right: BoxedStrategy<Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        8 => right.prop_map(Some),
        1 => Just(Some(Value::Null)),
        1 => Just(None),
        1 => prop_oneof![
            Just(json!(true)),
            Just(json!([])),
            Just(json!({"x": 1})),
            text().prop_map(Value::from),
        ]
        .prop_map(Some),
    ]
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::from),
        (-1.0e9f64..1.0e9).prop_map(Value::from),
        Just(json!(0.974138)),
        Just(json!(-0.03)),
    ]
    .boxed()
}

/// A KLK sales element with random values (fields may be missing, null or of the wrong type).
fn element() -> impl Strategy<Value = Value> {
    (
        value(text().prop_map(Value::from).boxed()),
        value(
            prop_oneof![Just("2025-11-17"), Just("2025-02-30"), Just("x")]
                .prop_map(Value::from)
                .boxed(),
        ),
        value(
            prop_oneof![Just("12:19:56.8966141"), Just("06:00"), Just("25:00:00")]
                .prop_map(Value::from)
                .boxed(),
        ),
        value((-3i64..100_000).prop_map(Value::from).boxed()),
        value(text().prop_map(Value::from).boxed()),
        value(number()),
        value(number()),
        any::<bool>(),
    )
        .prop_map(|(invoice, fecha, hora, linea, code, qty, total, fiscal)| {
            let mut producto = serde_json::Map::new();
            if let Some(code) = code {
                producto.insert("codigo_producto".into(), code);
            }
            producto.insert("descripcion_producto".into(), json!("X"));
            let mut cantidad = serde_json::Map::new();
            cantidad.insert("codigo_almacen".into(), json!("APP-TPF"));
            if let Some(q) = qty {
                cantidad.insert("cantidad_vendida".into(), q);
            }
            let mut financiero = serde_json::Map::new();
            if let Some(t) = total {
                financiero.insert("venta_total_usd".into(), t);
            }
            let mut e = serde_json::Map::new();
            for (k, v) in [
                ("numero_factura", invoice),
                ("fecha", fecha),
                ("hora", hora),
                ("linea", linea),
            ] {
                if let Some(v) = v {
                    e.insert(k.into(), v);
                }
            }
            e.insert("producto".into(), json!([producto]));
            e.insert("cantidad".into(), json!([cantidad]));
            e.insert("financiero".into(), json!([financiero]));
            e.insert("es_no_fiscal".into(), json!(fiscal));
            Value::Object(e)
        })
}

fn document() -> impl Strategy<Value = (Vec<Value>, String)> {
    (proptest::collection::vec(element(), 0..12), any::<bool>()).prop_map(|(elements, pretty)| {
        let doc = json!({
            "meta": {"sucursal_codigo": "SUC001", "total_registros": elements.len()},
            "ventas": elements,
        });
        let body = if pretty {
            serde_json::to_string_pretty(&doc).unwrap()
        } else {
            doc.to_string()
        };
        (elements, body)
    })
}

proptest! {
    #![proptest_config(crate::model::test_support::proptest_config(64))]

    /// Every element is accounted for, agrees with serde_json, and the chunking changes nothing.
    #[test]
    fn random_documents_in_random_chunks((elements, body) in document(), cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        let whole = parse(&[body.as_bytes()]);
        let summary = whole.2.clone().expect("a well-formed document parses to its end");
        prop_assert_eq!(summary.elements, elements.len() as u64);
        prop_assert_eq!(whole.0.len() + whole.1.len(), elements.len());
        let broken: Vec<u64> = whole.1.iter().map(|r| r.element).collect();
        let mut lines = whole.0.iter();
        for (i, e) in elements.iter().enumerate() {
            if broken.contains(&(i as u64 + 1)) {
                continue;
            }
            let line = lines.next().unwrap();
            prop_assert_eq!(Some(&*line.invoice_number), e["numero_factura"].as_str());
            prop_assert_eq!(Some(i64::from(line.line_number)), e["linea"].as_i64());
            prop_assert_eq!(Some(&*line.product_code), e["producto"][0]["codigo_producto"].as_str());
        }
        let chunked = parse(&split(body.as_bytes(), &cuts));
        prop_assert_eq!(&chunked.0, &whole.0);
        prop_assert_eq!(chunked.1.len(), whole.1.len());
        prop_assert_eq!(chunked.2, whole.2);
    }

    /// Bytes edited at random: never a panic, and what serde_json rejects is an error here too.
    #[test]
    fn edited_bodies_never_panic(
        (_, body) in document(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut bytes = body.into_bytes();
        for (at, byte, kind) in edits {
            let at = at % (bytes.len() + 1);
            match kind {
                0 => bytes.insert(at, byte),
                1 if at < bytes.len() => { bytes.remove(at); }
                _ if at < bytes.len() => bytes[at] = byte,
                _ => bytes.push(byte),
            }
        }
        let outcome = parse(&split(&bytes, &cuts));
        if serde_json::from_slice::<Value>(&bytes).is_err() {
            prop_assert!(outcome.2.is_err(), "serde_json rejects {:?}", String::from_utf8_lossy(&bytes));
        }
    }

    /// Arbitrary bytes: never a panic, and never a clean end unless serde_json reads a document.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let outcome = parse(&[&bytes]);
        if serde_json::from_slice::<Value>(&bytes).is_err() {
            prop_assert!(outcome.2.is_err());
        }
    }
}
