//! Sales: the keys of a `ventas` element and its nested `producto`, `cantidad` and `financiero`
//! objects, read from the buffer and converted into a [`SaleLine`].

use chrono::NaiveDateTime;

use super::reader::{num_text, Reader, Val, R};
use super::records::{
    invalid, klk_object, parse_date, parse_datetime, parse_time, Conv, Obj, RowError, RowProblem,
};
use crate::model::{local_to_utc, SaleLine, StoreId, Window};
use crate::sources::texts::TextPool;

klk_object! {
    /// A `ventas` element. `cuadrante_producto` belongs in `producto`; some servers put it
    /// beside it.
    mod venta {
        numero_factura, fecha, hora, fecha_hora_completa, linea, producto, cantidad, financiero,
        total_factura, tasa_usd, es_no_fiscal, tiene_promocion, codigo_promocion,
        cuadrante_producto,
    }
}

klk_object! {
    /// `producto[0]`.
    mod producto {
        codigo_producto, descripcion_producto, marca_producto, modelo_producto,
        categoria_producto, grupo_articulo, subgrupo_producto, categoria_nombre, codigo_barras,
        serial, imei, cuadrante_producto,
    }
}

klk_object! {
    /// `cantidad[0]`.
    mod cantidad {
        codigo_almacen, nombre_almacen, cantidad_vendida, peso_unitario, peso_bruto,
        volumen_unitario, unidad_medida_venta, factor_unidad_medida,
        total_cantidad_por_unidad_medida, peso_calculado,
    }
}

klk_object! {
    /// `financiero[0]`.
    mod financiero {
        costo_unitario_bs, costo_unitario_usd, precio_unitario_bs, precio_unitario_usd,
        impuesto_porcentaje, impuesto_monto, porcentaje_descuento, monto_descuento,
        porcentaje_descuento_fidelizacion, monto_descuento_fidelizacion,
        porcentaje_descuento_forma_pago, monto_descuento_forma_pago, venta_total_bs,
        venta_total_usd, costo_total_bs, costo_total_usd, utilidad_bruta_bs, utilidad_bruta_usd,
    }
}

/// One `ventas` element as read from the buffer, before conversion.
struct RawSale<'a> {
    top: [Val<'a>; venta::N],
    producto: [Val<'a>; producto::N],
    cantidad: [Val<'a>; cantidad::N],
    financiero: [Val<'a>; financiero::N],
    /// Elements of the `producto`, `cantidad` and `financiero` arrays.
    counts: [usize; 3],
}

impl RawSale<'_> {
    fn new() -> Self {
        RawSale {
            top: [Val::Absent; venta::N],
            producto: [Val::Absent; producto::N],
            cantidad: [Val::Absent; cantidad::N],
            financiero: [Val::Absent; financiero::N],
            counts: [0; 3],
        }
    }
}

fn read_sale<'a>(r: &mut Reader<'a>, s: &mut RawSale<'a>) -> R<()> {
    r.fields(&venta::KEYS, |r, index| {
        match index {
            Some(venta::producto) => {
                s.counts[0] = r.one_element(&producto::KEYS, &mut s.producto)?;
            }
            Some(venta::cantidad) => {
                s.counts[1] = r.one_element(&cantidad::KEYS, &mut s.cantidad)?;
            }
            Some(venta::financiero) => {
                s.counts[2] = r.one_element(&financiero::KEYS, &mut s.financiero)?;
            }
            Some(i) if i < venta::N => s.top[i] = r.value()?,
            _ => r.skip(0)?,
        }
        Ok(())
    })
}

/// Converts one sales element; `store` is the store the line is attributed to. A line whose
/// time falls outside `window` is `None`: it belongs to another unit, and whatever else is wrong
/// with it is not this unit's business.
fn convert_sale(
    s: &RawSale<'_>,
    escaped: &[String],
    store: &StoreId,
    window: Option<&Window>,
    pool: &mut TextPool,
) -> Conv<Option<SaleLine>> {
    let top = Obj {
        vals: &s.top,
        names: venta::NAMES,
        escaped,
        slots: 0,
    };
    let local = sold_at_local(&top)?;
    if window.is_some_and(|w| !w.contains_local(local)) {
        return Ok(None);
    }
    for (n, field) in s.counts.iter().zip(["producto", "cantidad", "financiero"]) {
        if *n > 1 {
            return Err(invalid(
                field,
                if *n == usize::MAX {
                    "should be a one-element array of objects".to_owned()
                } else {
                    format!("should hold one object, found {n}")
                },
            ));
        }
    }
    let p = Obj {
        vals: &s.producto,
        names: producto::NAMES,
        escaped,
        slots: venta::N,
    };
    let c = Obj {
        vals: &s.cantidad,
        names: cantidad::NAMES,
        escaped,
        slots: venta::N + producto::N,
    };
    let f = Obj {
        vals: &s.financiero,
        names: financiero::NAMES,
        escaped,
        slots: venta::N + producto::N + cantidad::N,
    };
    let invoice_number = pool.repeated(top.required_str(venta::numero_factura)?);
    let line_number = top.integer(venta::linea)?;
    let quadrant = match p.str(producto::cuadrante_producto)? {
        Some(q) => Some(q),
        None => top.str(venta::cuadrante_producto)?,
    };
    // What the article is: the same texts on every line of the article.
    let (
        product_code,
        [description, brand, model, category, group_name, subgroup, category_name, barcode, quadrant],
    ) = pool.keyed(
        p.required_str(producto::codigo_producto)?,
        [
            p.str(producto::descripcion_producto)?,
            p.str(producto::marca_producto)?,
            p.str(producto::modelo_producto)?,
            p.str(producto::categoria_producto)?,
            p.str(producto::grupo_articulo)?,
            p.str(producto::subgrupo_producto)?,
            p.str(producto::categoria_nombre)?,
            p.str(producto::codigo_barras)?,
            quadrant,
        ],
    );
    Ok(Some(SaleLine {
        store_id: store.clone(),
        invoice_number,
        line_number,
        sold_at: local_to_utc(local),
        business_date: local.date(),
        product_code,
        description,
        brand,
        model,
        category,
        group_name,
        subgroup,
        category_name,
        barcode,
        serial: p.own_text(producto::serial)?,
        imei: p.own_text(producto::imei)?,
        quadrant,
        warehouse_code: c.text(cantidad::codigo_almacen, pool)?,
        warehouse_name: c.text(cantidad::nombre_almacen, pool)?,
        quantity: c.decimal(cantidad::cantidad_vendida)?,
        unit_weight: c.decimal(cantidad::peso_unitario)?,
        gross_weight: c.decimal(cantidad::peso_bruto)?,
        unit_volume: c.decimal(cantidad::volumen_unitario)?,
        sale_unit: c.text(cantidad::unidad_medida_venta, pool)?,
        unit_factor: c.decimal(cantidad::factor_unidad_medida)?,
        total_unit_quantity: c.decimal(cantidad::total_cantidad_por_unidad_medida)?,
        computed_weight: c.decimal(cantidad::peso_calculado)?,
        unit_cost_bs: f.decimal(financiero::costo_unitario_bs)?,
        unit_cost_usd: f.decimal(financiero::costo_unitario_usd)?,
        unit_price_bs: f.decimal(financiero::precio_unitario_bs)?,
        unit_price_usd: f.decimal(financiero::precio_unitario_usd)?,
        tax_pct: f.decimal(financiero::impuesto_porcentaje)?,
        tax_amount: f.decimal(financiero::impuesto_monto)?,
        discount_pct: f.decimal(financiero::porcentaje_descuento)?,
        discount_amount: f.decimal(financiero::monto_descuento)?,
        loyalty_discount_pct: f.decimal(financiero::porcentaje_descuento_fidelizacion)?,
        loyalty_discount_amount: f.decimal(financiero::monto_descuento_fidelizacion)?,
        payment_discount_pct: f.decimal(financiero::porcentaje_descuento_forma_pago)?,
        payment_discount_amount: f.decimal(financiero::monto_descuento_forma_pago)?,
        subtotal: None,
        total_bs: f.decimal(financiero::venta_total_bs)?,
        total_usd: f.decimal(financiero::venta_total_usd)?,
        total_cost_bs: f.decimal(financiero::costo_total_bs)?,
        total_cost_usd: f.decimal(financiero::costo_total_usd)?,
        gross_profit_bs: f.decimal(financiero::utilidad_bruta_bs)?,
        gross_profit_usd: f.decimal(financiero::utilidad_bruta_usd)?,
        invoice_total: top.decimal(venta::total_factura)?,
        usd_rate: top.decimal(venta::tasa_usd)?,
        non_fiscal: top.boolean(venta::es_no_fiscal)?,
        promotion: top.text(venta::tiene_promocion, pool)?,
        promotion_code: top.text(venta::codigo_promocion, pool)?,
        till: None,
        concept: None,
        line_status: None,
    }))
}

/// The line's store-local time: `fecha` + `hora` (which keeps the fraction); when either is
/// missing, `fecha_hora_completa` (whole seconds) stands in.
fn sold_at_local<const N: usize>(top: &Obj<'_, '_, N>) -> Conv<NaiveDateTime> {
    match (top.str(venta::fecha)?, top.str(venta::hora)?) {
        (Some(f), Some(h)) => {
            let d = parse_date(f)
                .ok_or_else(|| invalid("fecha", format!("`{f}` is not a YYYY-MM-DD date")))?;
            let t = parse_time(h)
                .ok_or_else(|| invalid("hora", format!("`{h}` is not an HH:MM:SS time")))?;
            Ok(d.and_time(t))
        }
        (f, _) => match top.str(venta::fecha_hora_completa)? {
            Some(c) => parse_datetime(c).ok_or_else(|| {
                invalid(
                    "fecha_hora_completa",
                    format!("`{c}` is not a YYYY-MM-DDTHH:MM:SS time"),
                )
            }),
            None => Err(RowProblem::Missing(if f.is_none() {
                "fecha"
            } else {
                "hora"
            })),
        },
    }
}

fn ident_of_sale(s: &RawSale<'_>, escaped: &[String]) -> Option<String> {
    let top = Obj {
        vals: &s.top,
        names: venta::NAMES,
        escaped,
        slots: 0,
    };
    let invoice = top.str(venta::numero_factura).ok().flatten()?;
    Some(match top.vals[venta::linea] {
        Val::Num(l, _) => format!("numero_factura {invoice}, linea {}", num_text(l)),
        _ => format!("numero_factura {invoice}"),
    })
}

/// Parses and converts one `ventas` element; `None` when the line lies outside `window`.
pub(crate) fn sale_element(
    r: &mut Reader<'_>,
    element: u64,
    store: &StoreId,
    window: Option<&Window>,
    pool: &mut TextPool,
) -> R<Result<Option<SaleLine>, RowError>> {
    r.escaped.clear();
    let mut raw = RawSale::new();
    read_sale(r, &mut raw)?;
    Ok(
        convert_sale(&raw, &r.escaped, store, window, pool).map_err(|problem| RowError {
            element,
            ident: ident_of_sale(&raw, &r.escaped),
            problem,
        }),
    )
}
