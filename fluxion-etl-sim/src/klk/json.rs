//! Hand-written JSON for the vendor's shapes.
//!
//! `serde_json` would spend most of its time on field names and on formatting `Decimal`s; here the
//! constant parts of a line (keys, the article's whole `producto` block, the warehouse) are byte slices
//! copied as they are, and numbers are fixed-point integers written with `itoa` plus a decimal point.
//! Output is compact (no whitespace), UTF-8, with KLK's key order.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};

use super::config::SimBranch;
use super::data::{
    unit_name, warehouse_of, Article, Catalog, DayData, LineRec, StockRec, NUMERIC_FIELDS,
    TICKS_PER_SECOND,
};

/// Appends `s` as a JSON string (quotes included).
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends the fixed-point number `mantissa × 10^-scale` the way JavaScript prints it: no trailing
/// zeros, no decimal point for integers, `0` rather than `-0`. Digits are written right to left into a
/// stack buffer and appended once.
pub(crate) fn put_fixed(out: &mut Vec<u8>, mantissa: i64, scale: u32) {
    // A third of a line's numbers are zero (discounts, weights, volumes).
    if mantissa == 0 {
        out.push(b'0');
        return;
    }
    let mut v = mantissa.unsigned_abs();
    let mut scale = scale;
    while scale > 0 && v.is_multiple_of(10) {
        v /= 10;
        scale -= 1;
    }
    let mut buf = [0u8; 24];
    let mut i = buf.len();
    for _ in 0..scale.min(19) {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    if scale > 0 {
        i -= 1;
        buf[i] = b'.';
    }
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if mantissa < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    // A handful of bytes: pushing them beats a `memmove` call for each number.
    out.reserve(buf.len() - i);
    for &b in &buf[i..] {
        out.push(b);
    }
}

fn put_2(out: &mut Vec<u8>, v: u64) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `HH:MM:SS.fffffff` (no quotes).
pub(crate) fn put_ticks(out: &mut Vec<u8>, ticks: u64) {
    put_hms(out, ticks);
    out.push(b'.');
    let mut frac = ticks % TICKS_PER_SECOND;
    let mut buf = [b'0'; 7];
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    out.extend_from_slice(&buf);
}

fn put_hms(out: &mut Vec<u8>, ticks: u64) {
    let secs = ticks / TICKS_PER_SECOND;
    put_2(out, secs / 3600);
    out.push(b':');
    put_2(out, secs / 60 % 60);
    out.push(b':');
    put_2(out, secs % 60);
}

/// `YYYY-MM-DD` (no quotes).
pub(crate) fn date_text(date: NaiveDate) -> [u8; 10] {
    let mut b = *b"0000-00-00";
    let y = date.year().clamp(0, 9999) as u32;
    b[0] = b'0' + (y / 1000) as u8;
    b[1] = b'0' + (y / 100 % 10) as u8;
    b[2] = b'0' + (y / 10 % 10) as u8;
    b[3] = b'0' + (y % 10) as u8;
    b[5] = b'0' + (date.month() / 10) as u8;
    b[6] = b'0' + (date.month() % 10) as u8;
    b[8] = b'0' + (date.day() / 10) as u8;
    b[9] = b'0' + (date.day() % 10) as u8;
    b
}

/// `fecha_generacion`: `2025-11-18T13:45:09.488Z`, the way a JavaScript `Date.toISOString()` prints it.
pub(crate) fn generated_at(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `C10-01-00008064`: kind (`C` sale, `D` return), till, series, sequence (no quotes).
pub(crate) fn put_invoice_number(out: &mut Vec<u8>, rec: &LineRec) {
    out.push(rec.kind);
    put_2(out, u64::from(rec.till));
    out.extend_from_slice(b"-01-");
    let mut seq = rec.seq;
    let mut buf = [b'0'; 8];
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (seq % 10) as u8;
        seq /= 10;
    }
    out.extend_from_slice(&buf);
}

/// The constant `"producto":[{...}]` block of an article's sales lines.
pub(crate) fn product_fragment(a: &Article) -> Vec<u8> {
    let mut out = Vec::with_capacity(400);
    out.extend_from_slice(b"\"producto\":[{\"codigo_producto\":");
    put_str(&mut out, &a.code);
    out.extend_from_slice(b",\"descripcion_producto\":");
    put_str(&mut out, &a.description);
    out.extend_from_slice(b",\"marca_producto\":");
    match a.brand {
        Some(brand) => put_str(&mut out, brand),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"modelo_producto\":");
    put_str(&mut out, &a.model);
    out.extend_from_slice(b",\"categoria_producto\":");
    put_str(&mut out, a.category);
    out.extend_from_slice(b",\"grupo_articulo\":");
    put_str(&mut out, a.group);
    out.extend_from_slice(b",\"subgrupo_producto\":");
    put_str(&mut out, a.subgroup);
    out.extend_from_slice(b",\"categoria_nombre\":");
    put_str(&mut out, a.category_name);
    out.extend_from_slice(b",\"codigo_barras\":");
    put_str(&mut out, &a.barcode);
    out.extend_from_slice(b",\"serial\":\"\",\"imei\":\"\"");
    if let Some(q) = &a.quadrant {
        out.extend_from_slice(b",\"cuadrante_producto\":");
        put_str(&mut out, q);
    }
    out.extend_from_slice(b"}]");
    out
}

/// Encodes the sales lines of one store-day; holds the day's constant fragments.
pub(crate) struct LineEncoder {
    fecha: [u8; 10],
    /// Per warehouse index: `,"cantidad":[{"codigo_almacen":"…","nombre_almacen":"…","cantidad_vendida":`.
    warehouses: Vec<Vec<u8>>,
}

impl LineEncoder {
    pub fn new(day: &DayData, branch: &SimBranch) -> Self {
        let warehouses = (0..=branch.other_warehouses.len())
            .map(|i| {
                let (code, name) = warehouse_of(branch, i as u8);
                let mut out = Vec::with_capacity(120);
                out.extend_from_slice(b",\"cantidad\":[{\"codigo_almacen\":");
                put_str(&mut out, code);
                out.extend_from_slice(b",\"nombre_almacen\":");
                put_str(&mut out, name);
                out.extend_from_slice(b",\"cantidad_vendida\":");
                out
            })
            .collect();
        Self {
            fecha: date_text(day.date),
            warehouses,
        }
    }

    /// Appends one line object.
    pub fn encode(&self, out: &mut Vec<u8>, rec: &LineRec, day: &DayData, catalog: &Catalog) {
        let article = &catalog.articles[rec.article as usize];
        let n = day.numbers(rec, catalog);
        let null = usize::from(rec.null_field);
        let num = |out: &mut Vec<u8>, i: usize| {
            if null == i + 1 {
                out.extend_from_slice(b"null");
            } else {
                put_fixed(out, n[i], NUMERIC_FIELDS[i].1);
            }
        };
        out.extend_from_slice(b"{\"numero_factura\":\"");
        put_invoice_number(out, rec);
        out.extend_from_slice(b"\",\"fecha\":\"");
        out.extend_from_slice(&self.fecha);
        out.extend_from_slice(b"\",\"hora\":\"");
        put_ticks(out, rec.ticks);
        out.extend_from_slice(b"\",\"fecha_hora_completa\":\"");
        out.extend_from_slice(&self.fecha);
        out.push(b'T');
        put_hms(out, rec.ticks);
        out.extend_from_slice(b"\",\"linea\":");
        out.extend_from_slice(itoa::Buffer::new().format(rec.linea).as_bytes());
        out.push(b',');
        out.extend_from_slice(&article.product_json);
        let wh = self
            .warehouses
            .get(usize::from(rec.warehouse))
            .or(self.warehouses.first());
        if let Some(wh) = wh {
            out.extend_from_slice(wh);
        }
        num(out, 0);
        out.extend_from_slice(b",\"peso_unitario\":");
        num(out, 1);
        out.extend_from_slice(b",\"peso_bruto\":");
        num(out, 2);
        out.extend_from_slice(b",\"volumen_unitario\":");
        num(out, 3);
        out.extend_from_slice(b",\"unidad_medida_venta\":\"");
        out.extend_from_slice(unit_name(article.unit).as_bytes());
        out.extend_from_slice(b"\",\"factor_unidad_medida\":");
        num(out, 4);
        out.extend_from_slice(b",\"total_cantidad_por_unidad_medida\":");
        num(out, 5);
        out.extend_from_slice(b",\"peso_calculado\":");
        num(out, 6);
        out.extend_from_slice(b"}],\"financiero\":[{\"costo_unitario_bs\":");
        num(out, 7);
        // Spelled out rather than looped over `NUMERIC_FIELDS`, so that every key is a constant-size
        // copy the compiler inlines.
        macro_rules! field {
            ($i:literal, $key:literal) => {
                out.extend_from_slice(concat!(",\"", $key, "\":").as_bytes());
                num(out, $i);
            };
        }
        field!(8, "costo_unitario_usd");
        field!(9, "precio_unitario_bs");
        field!(10, "precio_unitario_usd");
        field!(11, "impuesto_porcentaje");
        field!(12, "impuesto_monto");
        field!(13, "porcentaje_descuento");
        field!(14, "monto_descuento");
        field!(15, "porcentaje_descuento_fidelizacion");
        field!(16, "monto_descuento_fidelizacion");
        field!(17, "porcentaje_descuento_forma_pago");
        field!(18, "monto_descuento_forma_pago");
        field!(19, "venta_total_bs");
        field!(20, "venta_total_usd");
        field!(21, "costo_total_bs");
        field!(22, "costo_total_usd");
        field!(23, "utilidad_bruta_bs");
        field!(24, "utilidad_bruta_usd");
        out.extend_from_slice(b"}],\"total_factura\":");
        num(out, 25);
        out.extend_from_slice(b",\"tasa_usd\":");
        num(out, 26);
        out.extend_from_slice(if rec.non_fiscal {
            b",\"es_no_fiscal\":true,\"tiene_promocion\":\""
        } else {
            b",\"es_no_fiscal\":false,\"tiene_promocion\":\""
        });
        if rec.promo > 0 {
            out.extend_from_slice(b"SI\",\"codigo_promocion\":\"PROMO-");
            let mut promo = rec.promo;
            let mut buf = [b'0'; 4];
            for slot in buf.iter_mut().rev() {
                *slot = b'0' + (promo % 10) as u8;
                promo /= 10;
            }
            out.extend_from_slice(&buf);
            out.extend_from_slice(b"\"}");
        } else {
            out.extend_from_slice(b"\",\"codigo_promocion\":\"\"}");
        }
    }
}

/// Appends one inventory article object.
pub(crate) fn put_inventory_article(out: &mut Vec<u8>, rec: &StockRec, catalog: &Catalog) {
    let a = &catalog.articles[rec.article as usize];
    fn na(s: &str) -> &str {
        if s.is_empty() {
            "N/A"
        } else {
            s
        }
    }
    out.extend_from_slice(b"{\"NombreProducto\":");
    put_str(out, &a.description);
    out.extend_from_slice(b",\"Codigo\":");
    put_str(out, &a.code);
    out.extend_from_slice(b",\"Barra\":");
    put_str(out, na(&a.barcode));
    out.extend_from_slice(b",\"Categoria\":");
    put_str(out, &a.category_id);
    out.extend_from_slice(b",\"Descripcion\":");
    put_str(
        out,
        if a.category_missing {
            "N/A"
        } else {
            a.category
        },
    );
    out.extend_from_slice(b",\"Subcategoria\":");
    put_str(out, &a.subcategory_id);
    out.extend_from_slice(b",\"Descripcion_categoria\":");
    put_str(out, a.group);
    out.extend_from_slice(b",\"Marca\":");
    put_str(out, na(a.brand.unwrap_or("")));
    out.extend_from_slice(b",\"Precio\":");
    if a.price_null {
        out.extend_from_slice(b"null");
    } else {
        put_fixed(out, a.price_usd_cents, 2);
    }
    out.extend_from_slice(b",\"Iva\":");
    put_fixed(out, a.tax, 0);
    out.extend_from_slice(b",\"stock\":");
    put_fixed(out, rec.stock, 3);
    out.push(b'}');
}

/// Appends one warehouse object of the `/maestra/almacenes/*` answers.
pub(crate) fn put_warehouse(out: &mut Vec<u8>, branch: &SimBranch, code: &str, name: &str) {
    out.extend_from_slice(b"{\"NombreSucursal\":");
    put_str(out, &branch.name);
    out.extend_from_slice(b",\"CodigoSucursal\":");
    put_str(out, &branch.branch);
    out.extend_from_slice(b",\"CodigoAlmacen\":");
    put_str(out, code);
    out.extend_from_slice(b",\"NombreAlmacen\":");
    put_str(out, name);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn fixed(m: i64, s: u32) -> String {
        let mut out = Vec::new();
        put_fixed(&mut out, m, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fixed_point_numbers_print_like_javascript() {
        assert_eq!(fixed(23035, 2), "230.35");
        assert_eq!(fixed(974_138, 6), "0.974138");
        assert_eq!(fixed(1_000_000, 6), "1");
        assert_eq!(fixed(368_560, 4), "36.856");
        assert_eq!(fixed(-3, 2), "-0.03");
        assert_eq!(fixed(0, 3), "0");
        assert_eq!(fixed(-0, 0), "0");
        assert_eq!(fixed(735, 3), "0.735");
        assert_eq!(fixed(-1500, 3), "-1.5");
        assert_eq!(fixed(16, 0), "16");
        assert_eq!(fixed(i64::MIN, 0), "-9223372036854775808");
        for (m, s) in [(123_456_789, 4), (-5, 6), (10, 1), (99, 2), (-120_000, 3)] {
            assert_eq!(
                Decimal::from_str(&fixed(m, s)).unwrap(),
                Decimal::new(m, s),
                "{m} {s}"
            );
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        put_str(&mut out, "TUBO PVC 1/2\" MAÑONGO \\ \n\u{1}");
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, "\"TUBO PVC 1/2\\\" MAÑONGO \\\\ \\n\\u0001\"");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "TUBO PVC 1/2\" MAÑONGO \\ \n\u{1}");
    }

    #[test]
    fn times_dates_and_invoices() {
        let mut out = Vec::new();
        put_ticks(
            &mut out,
            (12 * 3600 + 19 * 60 + 56) * TICKS_PER_SECOND + 8_966_141,
        );
        assert_eq!(out, b"12:19:56.8966141");
        out.clear();
        put_ticks(&mut out, 6 * 3600 * TICKS_PER_SECOND + 5);
        assert_eq!(out, b"06:00:00.0000005");
        assert_eq!(
            &date_text(NaiveDate::from_ymd_opt(2025, 1, 7).unwrap()),
            b"2025-01-07"
        );
        let ts = DateTime::parse_from_rfc3339("2025-11-18T13:45:09.488123Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(generated_at(ts), "2025-11-18T13:45:09.488Z");
    }
}
