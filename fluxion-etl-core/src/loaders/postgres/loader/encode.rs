//! What a batch becomes on its way to PostgreSQL: the target [`Table`]s, each row's hash and
//! key, and the COPY bytes appended to the unit's buffer. The hot path of a load.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use super::PgSession;
use crate::loaders::postgres::copy::encode_row;
use crate::loaders::rows::{row_hash, ColumnType, Value, INVENTORY_COLUMNS, SALES_COLUMNS};
use crate::pipeline::{LoadScope, LoadUnit};

/// A target table, as the loader writes it.
pub(super) struct Table {
    pub(super) target: &'static str,
    pub(super) etl_name: &'static str,
    pub(super) columns: &'static [(&'static str, ColumnType)],
    /// What identifies a row within one unit (store, and for inventory the warehouse, fixed).
    pub(super) key: &'static [&'static str],
}

/// `sales_lines`.
pub(super) const SALES: Table = Table {
    target: "sales_lines",
    etl_name: "ventas",
    columns: SALES_COLUMNS,
    key: &["invoice_number", "line_number"],
};

/// `inventory_current`.
pub(super) const INVENTORY: Table = Table {
    target: "inventory_current",
    etl_name: "inventario",
    columns: INVENTORY_COLUMNS,
    key: &["product_code"],
};

/// The table a unit loads.
pub(super) fn table_for(unit: &LoadUnit) -> &'static Table {
    match unit.scope {
        LoadScope::SalesWindow(_) => &SALES,
        LoadScope::InventorySnapshot { .. } => &INVENTORY,
    }
}

impl Table {
    pub(super) fn names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|(n, _)| *n).collect()
    }

    /// The column list every COPY stream carries: the record's columns, `row_hash`,
    /// `execution_id`.
    pub(super) fn copy_columns(&self) -> String {
        format!("{}, row_hash, execution_id", self.names().join(", "))
    }

    /// Values that enter the row hash: inventory leaves out `snapshot_at` (the last column),
    /// which changes with every snapshot.
    #[inline]
    pub(super) fn hashed<'a, 'v>(&self, values: &'a [Value<'v>]) -> &'a [Value<'v>] {
        if self.target == "inventory_current" {
            &values[..values.len() - 1]
        } else {
            values
        }
    }

    #[inline]
    pub(super) fn key_of(&self, values: &[Value<'_>]) -> u64 {
        // invoice_number, line_number (sales) or product_code (inventory).
        let key = if self.target == "sales_lines" {
            &values[1..3]
        } else {
            &values[2..3]
        };
        row_hash(key) as u64
    }
}

/// The keys seen in a unit, as 64-bit hashes: they are hashes already, so the set only needs
/// their bits spread (SipHash, the default, cost more than the FNV that made them).
pub(super) type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// The [`KeySet`]'s hasher: a multiply and a fold of each key.
#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // FNV's low bits see only the inputs' low bits; a multiply and a fold mix the high ones
        // into the bucket index (low bits) and keep them in the control byte (top bits).
        let x = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl PgSession {
    /// Hashes and encodes a batch into `self.buf`.
    pub(super) fn encode<'a, const N: usize>(
        &mut self,
        rows: impl Iterator<Item = [Value<'a>; N]>,
    ) {
        self.buf.clear();
        let table = self.table;
        let mut rows = rows.peekable();
        let mut four: Vec<[Value<'a>; N]> = Vec::with_capacity(4);
        while rows.peek().is_some() {
            four.clear();
            four.extend(rows.by_ref().take(4));
            if let [a, b, c, d] = four.as_slice() {
                let hashes = self.hasher.hash4([
                    table.hashed(a),
                    table.hashed(b),
                    table.hashed(c),
                    table.hashed(d),
                ]);
                for (values, hash) in four.iter().zip(hashes) {
                    self.encode_row(values, hash);
                }
            } else {
                for values in &four {
                    self.encode_row(values, row_hash(table.hashed(values)));
                }
            }
        }
    }

    #[inline]
    fn encode_row(&mut self, values: &[Value<'_>], hash: i64) {
        self.hash_sum += i128::from(hash);
        if !self.keys.insert(self.table.key_of(values)) {
            self.repeated = true;
        }
        encode_row(
            self.loader.format,
            &mut self.buf,
            values,
            hash,
            self.execution_id,
        );
    }
}
