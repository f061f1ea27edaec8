//! Inventory: the keys of an `articulos` element, read from the buffer and converted into an
//! [`InventoryItem`] of the snapshot's scope.

use std::sync::Arc;

use super::reader::{Reader, Val, R};
use super::records::{klk_object, Conv, Obj, RowError, RowProblem};
use crate::model::InventoryItem;
use crate::sources::scope::SnapshotScope;
use crate::sources::texts::TextPool;

klk_object! {
    /// An `articulos` element.
    mod articulo {
        NombreProducto, Codigo, Barra, Categoria, Descripcion, Subcategoria,
        Descripcion_categoria, Marca, Precio, Iva, stock,
    }
}

/// Parses and converts one `articulos` element.
pub(crate) fn article_element(
    r: &mut Reader<'_>,
    element: u64,
    scope: &SnapshotScope,
    pool: &mut TextPool,
) -> R<Result<InventoryItem, RowError>> {
    r.escaped.clear();
    let mut vals = [Val::Absent; articulo::N];
    r.record(&articulo::KEYS, &mut vals)?;
    let a = Obj {
        vals: &vals,
        names: articulo::NAMES,
        escaped: &r.escaped,
        slots: 0,
    };
    Ok(
        convert_article(&a, scope, pool).map_err(|problem| RowError {
            element,
            ident: a
                .str(articulo::Codigo)
                .ok()
                .flatten()
                .map(|c| format!("Codigo {c}")),
            problem,
        }),
    )
}

fn convert_article<const N: usize>(
    a: &Obj<'_, '_, N>,
    scope: &SnapshotScope,
    pool: &mut TextPool,
) -> Conv<InventoryItem> {
    // An article's code, barcode and name are its own; its category, group and brand repeat.
    let product_code: Arc<str> = a
        .str_na(articulo::Codigo)?
        .ok_or(RowProblem::Missing("Codigo"))?
        .into();
    let stock = a
        .decimal(articulo::stock)?
        .ok_or(RowProblem::Missing("stock"))?;
    Ok(InventoryItem {
        store_id: scope.store.clone(),
        warehouse_code: scope.warehouse.clone(),
        warehouse_name: None,
        product_code,
        barcode: a.str_na(articulo::Barra)?.map(Arc::from),
        description: a.str_na(articulo::NombreProducto)?.map(Arc::from),
        category_id: pool.get_opt(a.id_str(articulo::Categoria)?),
        category: pool.get_opt(a.str_na(articulo::Descripcion)?),
        group_name: pool.get_opt(a.str_na(articulo::Descripcion_categoria)?),
        subcategory_id: pool.get_opt(a.id_str(articulo::Subcategoria)?),
        subgroup: None,
        brand: pool.get_opt(a.str_na(articulo::Marca)?),
        quadrant: None,
        presentation: None,
        cost: None,
        price: a.decimal(articulo::Precio)?,
        tax_pct: a.decimal(articulo::Iva)?,
        weight: None,
        volume: None,
        units_per_case: None,
        stock,
        committed: None,
        ordered: None,
        snapshot_at: scope.snapshot_at,
    })
}
