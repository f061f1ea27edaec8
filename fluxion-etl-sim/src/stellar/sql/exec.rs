//! Executing a bound SELECT: scans, joins, filters, grouping, sorting, paging — and encoding the
//! result straight into TDS packets.
//!
//! A [`QueryCursor`] is resumable: the connection asks it for "about N bytes of rows" at a time
//! ([`QueryCursor::fill`]), sends them, checks for ATTENTION or a fault, and asks again. Unsorted
//! results stream one partition (one depot-day of sales) at a time, so `SELECT TOP 10 *` over years of
//! sales generates one day, not years; sorted and grouped results are materialized as row references
//! (eight bytes per table per row), never as copies of the rows.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;

use super::catalog::{self, PartKey, Partitioning, ProbeRow, RowSet, TableDef};
use super::error::SqlError;
use super::expr::{const_value, decimal_to_f64, CmpOp, Env, Expr, RowRef, SlotRows};
use super::plan::{monotone, AggFunc, AggPlan, JoinKind, OutputColumn, SelectPlan};
use super::value::{cast, compare, hash_value, FxHasher, SqlType, Value};
use crate::stellar::data::SimTables;
use crate::stellar::protocol::framing::PacketWriter;
use crate::stellar::protocol::tokens;
use crate::stellar::protocol::types::{put_type_info, put_value};

/// Sorting and grouping keep row references in memory; past this many the query is refused rather
/// than exhausting the test machine (real SQL Server would spill to tempdb).
const MAX_MATERIALIZED_ROWS: usize = 6_000_000;

/// Sorting and grouping read every partition before the first row: past this many depot-days the
/// query is refused (about three months of every default depot).
const MAX_MATERIALIZED_PARTS: usize = 2_000;

/// Join keys per lookup (the planner never uses more).
pub(crate) const MAX_KEYS: usize = 4;

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The combined hash of a composite key; None when a part is NULL (NULL equals nothing).
fn key_hash<'a>(values: impl Iterator<Item = Value<'a>>) -> Option<u64> {
    let mut h = FxHasher::default();
    for v in values {
        h.write_u64(hash_value(&v)?);
    }
    Some(h.finish())
}

/// Rows of one slot that share a join-key hash, for hash joins.
pub(crate) struct HashIndex {
    /// hash → (start, len) into `rows`.
    ranges: HashMap<u64, (u32, u32), BuildHasherDefault<IdHasher>>,
    rows: Vec<RowRef>,
}

impl HashIndex {
    fn build(parts: &[Arc<dyn RowSet>], cols: &[usize]) -> HashIndex {
        let mut pairs: Vec<(u64, RowRef)> = Vec::new();
        for (pi, p) in parts.iter().enumerate() {
            for r in 0..p.len() {
                if let Some(h) = key_hash(cols.iter().map(|&c| p.value(r, c))) {
                    pairs.push((
                        h,
                        RowRef {
                            part: pi as u32,
                            row: r as u32,
                        },
                    ));
                }
            }
        }
        pairs.sort_unstable_by_key(|(h, r)| (*h, r.part, r.row));
        let mut ranges =
            HashMap::with_capacity_and_hasher(pairs.len(), BuildHasherDefault::default());
        let mut start = 0usize;
        while start < pairs.len() {
            let h = pairs[start].0;
            let mut end = start + 1;
            while end < pairs.len() && pairs[end].0 == h {
                end += 1;
            }
            ranges.insert(h, (start as u32, (end - start) as u32));
            start = end;
        }
        HashIndex {
            ranges,
            rows: pairs.into_iter().map(|(_, r)| r).collect(),
        }
    }

    fn get(&self, h: u64) -> &[RowRef] {
        match self.ranges.get(&h) {
            Some(&(s, n)) => &self.rows[s as usize..(s + n) as usize],
            None => &[],
        }
    }
}

/// Output rows waiting to be encoded.
enum Phase {
    /// Streaming base partitions; `tuples` holds the matches of the current one.
    Stream {
        next_part: usize,
        tuples: Vec<RowRef>,
        pos: usize,
    },
    /// Materialized and ordered row references.
    Sorted {
        tuples: Vec<RowRef>,
        order: Vec<u32>,
        pos: usize,
    },
    /// Grouped rows (keys then aggregates), ordered.
    Groups {
        rows: Vec<Vec<Value<'static>>>,
        order: Vec<u32>,
        pos: usize,
    },
    Done,
}

/// What encoding the next row did.
enum Step {
    Sent,
    Skipped,
    End,
}

/// Matches of a joined slot memoized by the row of the single (whole, unpartitioned) earlier slot its
/// ON clause depends on: sales lines hit the same few thousand articles again and again, so the
/// article → department/group/subgroup joins are computed once per article, not once per line.
struct Memo {
    source: usize,
    /// Per source row: (start, len) into `pool`, or UNKNOWN.
    entries: RefCell<Vec<u64>>,
    pool: RefCell<Vec<RowRef>>,
}

const UNKNOWN: u64 = u64::MAX;

/// Slots a [`DistinctMemo`] can key on (the planner's joins stay well below).
const MEMO_SLOTS: usize = 8;

/// DISTINCT's hashes of the output columns that read only joined slots (not the base table, not
/// a group), memoized by the rows of those slots. A DISTINCT over a join of every sales line to
/// its article evaluates, casts and hashes the article's texts once per article instead of once
/// per line; the hash stored is the same hash of the same values, so which rows are distinct
/// does not change.
struct DistinctMemo {
    /// Per output column: whether it reads only joined slots.
    joined: Vec<bool>,
    /// The slots those columns read.
    slots: Vec<usize>,
    hashes: HashMap<[RowRef; MEMO_SLOTS], u64, BuildHasherDefault<FxHasher>>,
}

impl DistinctMemo {
    fn new(plan: &SelectPlan) -> Option<DistinctMemo> {
        if !plan.distinct || plan.aggregate.is_some() {
            return None;
        }
        let mut slots = Vec::new();
        let joined: Vec<bool> = plan
            .columns
            .iter()
            .map(|c| {
                let mut reads = Vec::new();
                c.expr.visit_slots(&mut |s| reads.push(s));
                let only_joined = !reads.is_empty()
                    && !c.expr.reads_group()
                    && reads.iter().all(|&s| s != 0 && s < plan.slots.len());
                if only_joined {
                    for s in reads {
                        if !slots.contains(&s) {
                            slots.push(s);
                        }
                    }
                }
                only_joined
            })
            .collect();
        if !joined.iter().any(|j| *j) || slots.len() > MEMO_SLOTS {
            return None;
        }
        slots.sort_unstable();
        Some(DistinctMemo {
            joined,
            slots,
            hashes: HashMap::default(),
        })
    }
}

/// The value DISTINCT compares: text that already fits its column is what the cast would
/// return, so the cast is skipped (every line of a DISTINCT over a join comes through here).
fn distinct_value<'v>(v: Value<'v>, ty: SqlType) -> Result<Value<'v>, SqlError> {
    match (&v, ty) {
        (Value::Str(s), SqlType::NVarChar(Some(n))) if s.len() <= usize::from(n) => Ok(v),
        _ => cast(v, ty, ty),
    }
}

/// What one call of [`QueryCursor::fill`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    /// More rows may follow.
    More,
    /// The result is complete.
    Done,
}

/// A running SELECT.
pub(crate) struct QueryCursor {
    plan: SelectPlan,
    params: Vec<Value<'static>>,
    tables: Arc<SimTables>,
    slots: Vec<SlotRows>,
    indexes: Vec<Option<Arc<HashIndex>>>,
    /// Per slot: memoized matches keyed by the row of the one earlier slot its join depends on.
    memos: Vec<Option<Memo>>,
    phase: Phase,
    /// Rows skipped so far (OFFSET).
    skipped: u64,
    /// Rows sent so far.
    pub rows_sent: u64,
    seen: HashSet<u64>,
    /// DISTINCT's memo of joined columns, when the plan has some.
    distinct_memo: Option<DistinctMemo>,
    started: bool,
}

impl QueryCursor {
    /// Prepares a cursor: loads the joined tables and builds hash indexes.
    pub fn new(
        plan: SelectPlan,
        params: Vec<Value<'static>>,
        tables: Arc<SimTables>,
    ) -> QueryCursor {
        let n = plan.slots.len();
        let mut slots = vec![SlotRows::default(); n];
        let mut indexes: Vec<Option<Arc<HashIndex>>> = vec![None; n];
        for k in 1..n {
            let sp = &plan.slots[k];
            slots[k].parts = sp
                .parts
                .iter()
                .map(|p| catalog::load(&tables, sp.table.id, *p))
                .collect();
            if let Some(lookup) = &sp.lookup {
                let cacheable = sp.parts == [PartKey::Whole];
                indexes[k] = Some(if cacheable {
                    tables.cached_index(sp.table.id, &lookup.cols, || {
                        HashIndex::build(&slots[k].parts, &lookup.cols)
                    })
                } else {
                    Arc::new(HashIndex::build(&slots[k].parts, &lookup.cols))
                });
            }
        }
        let memos = (0..n).map(|k| memo_for(&plan, k, &slots)).collect();
        let distinct_memo = DistinctMemo::new(&plan);
        QueryCursor {
            plan,
            params,
            tables,
            slots,
            indexes,
            memos,
            phase: Phase::Done,
            skipped: 0,
            rows_sent: 0,
            seen: HashSet::new(),
            distinct_memo,
            started: false,
        }
    }

    /// Writes the COLMETADATA token.
    pub fn put_colmetadata(&self, buf: &mut Vec<u8>) {
        buf.push(tokens::COLMETADATA);
        buf.extend_from_slice(&(self.plan.columns.len() as u16).to_le_bytes());
        for c in &self.plan.columns {
            buf.extend_from_slice(&0u32.to_le_bytes()); // user type
            buf.extend_from_slice(&0x0001u16.to_le_bytes()); // nullable
            put_type_info(buf, c.ty);
            tokens::put_b_varchar(buf, &c.name);
        }
    }

    /// Encodes rows into `out` until about `byte_target` bytes of complete packets are ready,
    /// `row_budget` rows were written, or the result ends.
    pub fn fill(
        &mut self,
        out: &mut PacketWriter,
        row_budget: u64,
        byte_target: usize,
    ) -> Result<Fill, SqlError> {
        if !self.started {
            self.started = true;
            self.start()?;
        }
        let mut written = 0u64;
        loop {
            if written >= row_budget || out.complete_len() >= byte_target {
                return Ok(Fill::More);
            }
            if let Some(take) = self.plan.take {
                if self.rows_sent >= take {
                    self.phase = Phase::Done;
                    return Ok(Fill::Done);
                }
            }
            match self.next_row(out)? {
                Step::Sent => written += 1,
                Step::Skipped => {}
                Step::End => return Ok(Fill::Done),
            }
        }
    }

    fn start(&mut self) -> Result<(), SqlError> {
        let materializes = self.plan.aggregate.is_some() || !self.plan.order_by.is_empty();
        let parts = self
            .plan
            .slots
            .iter()
            .map(|s| s.parts.len())
            .max()
            .unwrap_or(0);
        if materializes && parts > MAX_MATERIALIZED_PARTS {
            return Err(SqlError::custom(
                50001,
                16,
                1,
                format!(
                    "fluxion-etl-sim: this ORDER BY or GROUP BY would read {parts} depot-days of sales \
                     (at most {MAX_MATERIALIZED_PARTS}); narrow the query with a date or depot filter."
                ),
            ));
        }
        if let Some(agg) = self.plan.aggregate.take() {
            let rows = self.run_aggregate(&agg);
            self.plan.aggregate = Some(agg);
            let rows = rows?;
            let order = self.order_groups(&rows)?;
            self.phase = Phase::Groups {
                rows,
                order,
                pos: 0,
            };
        } else if !self.plan.order_by.is_empty() {
            let n = self.plan.slots.len().max(1);
            let mut tuples = Vec::new();
            let parts = self.base_parts();
            for (pi, key) in parts.iter().enumerate() {
                self.load_base(*key, true);
                self.match_part(pi as u32, *key, &mut tuples)?;
                if tuples.len() / n > MAX_MATERIALIZED_ROWS {
                    return Err(SqlError::custom(
                        50001,
                        16,
                        1,
                        format!(
                            "fluxion-etl-sim: this ORDER BY needs more than {MAX_MATERIALIZED_ROWS} rows in memory; \
                             narrow the query with a date or depot filter."
                        ),
                    ));
                }
            }
            let order = self.order_tuples(&tuples)?;
            self.phase = Phase::Sorted {
                tuples,
                order,
                pos: 0,
            };
        } else {
            self.phase = Phase::Stream {
                next_part: 0,
                tuples: Vec::new(),
                pos: 0,
            };
        }
        Ok(())
    }

    fn base_parts(&self) -> Vec<PartKey> {
        match self.plan.slots.first() {
            Some(s) => s.parts.clone(),
            None => vec![PartKey::Whole],
        }
    }

    /// Makes a base partition readable: appended (materializing) or alone (streaming).
    fn load_base(&mut self, key: PartKey, append: bool) {
        let Some(sp) = self.plan.slots.first() else {
            // SELECT without FROM reads one empty row.
            if self.slots.is_empty() {
                self.slots.push(SlotRows::default());
            }
            self.slots[0].parts = vec![Arc::new(ProbeRow { values: Vec::new() })];
            return;
        };
        let rows = catalog::load(&self.tables, sp.table.id, key);
        if append {
            self.slots[0].parts.push(rows);
        } else {
            self.slots[0].parts = vec![rows];
        }
    }

    /// Appends to `out` the tuples (one RowRef per slot) of base partition `part` that pass the joins
    /// and filters.
    fn match_part(&self, part: u32, key: PartKey, out: &mut Vec<RowRef>) -> Result<(), SqlError> {
        let n = self.plan.slots.len().max(1);
        let Some(base) = self.slots[0].parts.get(part as usize) else {
            return Ok(());
        };
        // Conjuncts every row of this partition satisfies (the depot it belongs to, a date range that
        // covers the whole day) are not evaluated row by row.
        let filters: Vec<Expr> = self.plan.filters[0]
            .iter()
            .filter(|f| !self.implied(f, key))
            .cloned()
            .collect();
        let mut tuple = vec![RowRef::NULL; n];
        for row in 0..base.len() {
            tuple[0] = RowRef {
                part,
                row: row as u32,
            };
            if !self.passes(&filters, &tuple)? {
                continue;
            }
            self.extend(1, &mut tuple, out)?;
        }
        Ok(())
    }

    /// Whether every row of base partition `key` satisfies the level-0 conjunct `f`.
    fn implied(&self, f: &Expr, key: PartKey) -> bool {
        let Some(sp) = self.plan.slots.first() else {
            return false;
        };
        let def = sp.table;
        match (def.partitioning, key) {
            (Partitioning::ByDepot { depot_col }, PartKey::Depot(d)) => {
                self.depot_implied(f, depot_col, &self.tables.depots[d].code)
            }
            (
                Partitioning::ByDepotDay {
                    locality_col,
                    date_col,
                    time_col,
                },
                PartKey::Day(d, date),
            ) => {
                self.depot_implied(f, locality_col, &self.tables.depots[d].locality)
                    || self.day_implied(f, def, date_col, time_col, date)
            }
            _ => false,
        }
    }

    fn depot_implied(&self, f: &Expr, col: usize, depot: &str) -> bool {
        let is_col = |x: &Expr| matches!(x, Expr::Column { slot: 0, col: c } if *c == col);
        let equal = |x: &Expr| -> bool {
            matches!(
                const_value(x, &self.params)
                    .map(|v| v.map(|v| compare(&Value::Str(depot.into()), &v))),
                Ok(Some(Ok(Some(Ordering::Equal))))
            )
        };
        match f {
            Expr::Cmp {
                op: CmpOp::Eq,
                left,
                right,
            } => (is_col(left) && equal(right)) || (is_col(right) && equal(left)),
            Expr::InList {
                expr,
                list,
                negated: false,
            } => is_col(expr) && list.iter().any(equal),
            _ => false,
        }
    }

    /// Whether a bound on an expression monotone in the (date, time) columns holds for the whole day:
    /// it holds at the day's first and last second.
    fn day_implied(
        &self,
        f: &Expr,
        def: &TableDef,
        date_col: usize,
        time_col: usize,
        date: NaiveDate,
    ) -> bool {
        let holds = |e: &Expr, op: CmpOp, c: &Expr| -> bool {
            if !monotone(e, 0, date_col, time_col) {
                return false;
            }
            let Ok(Some(c)) = const_value(c, &self.params) else {
                return false;
            };
            let base = self.tables.hora_base_date();
            let last = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
            [NaiveTime::MIN, last].iter().all(|t| {
                let probe: Arc<dyn RowSet> = Arc::new(catalog::probe_day(def, date, base, *t));
                let slots = [SlotRows { parts: vec![probe] }];
                let tuple = [RowRef { part: 0, row: 0 }];
                let env = Env {
                    slots: &slots,
                    tuple: &tuple,
                    params: &self.params,
                    group: &[],
                };
                matches!(
                    e.eval(&env).map(|v| compare(&v, &c)),
                    Ok(Ok(Some(o))) if op.holds(o)
                )
            })
        };
        match f {
            Expr::Cmp { op, left, right } if *op != CmpOp::Ne => {
                (right.is_constant() && holds(left, *op, right))
                    || (left.is_constant() && holds(right, op.flipped(), left))
            }
            Expr::Between {
                expr,
                low,
                high,
                negated: false,
            } => {
                low.is_constant()
                    && high.is_constant()
                    && holds(expr, CmpOp::Ge, low)
                    && holds(expr, CmpOp::Le, high)
            }
            Expr::And(list) => list
                .iter()
                .all(|x| self.day_implied(x, def, date_col, time_col, date)),
            _ => false,
        }
    }

    fn passes(&self, filters: &[Expr], tuple: &[RowRef]) -> Result<bool, SqlError> {
        if filters.is_empty() {
            return Ok(true);
        }
        let env = Env {
            slots: &self.slots,
            tuple,
            params: &self.params,
            group: &[],
        };
        for f in filters {
            if f.test(&env)? != Some(true) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn extend(
        &self,
        k: usize,
        tuple: &mut Vec<RowRef>,
        out: &mut Vec<RowRef>,
    ) -> Result<(), SqlError> {
        if k >= self.plan.slots.len() {
            out.extend_from_slice(tuple);
            return Ok(());
        }
        let sp = &self.plan.slots[k];
        let mut matched = false;
        if let Some(memo) = &self.memos[k] {
            let src = tuple[memo.source];
            let (start, len) = if src.is_null() {
                (0, 0)
            } else {
                let known = memo.entries.borrow()[src.row as usize];
                if known == UNKNOWN {
                    let mut found = Vec::new();
                    self.candidates(k, tuple, &mut found)?;
                    let mut pool = memo.pool.borrow_mut();
                    let start = pool.len();
                    pool.extend_from_slice(&found);
                    let entry = ((start as u64) << 32) | found.len() as u64;
                    memo.entries.borrow_mut()[src.row as usize] = entry;
                    (start, found.len())
                } else {
                    ((known >> 32) as usize, (known & 0xFFFF_FFFF) as usize)
                }
            };
            for i in start..start + len {
                let cand = memo.pool.borrow()[i];
                tuple[k] = cand;
                matched = true;
                if self.passes(&self.plan.filters[k], tuple)? {
                    self.extend(k + 1, tuple, out)?;
                }
            }
        } else {
            match (&self.indexes[k], &sp.lookup) {
                (Some(_), Some(_)) => {
                    // Few candidates (usually one): gather them, then go deeper.
                    let mut found: [RowRef; 4] = [RowRef::NULL; 4];
                    let mut more = Vec::new();
                    let n = self.candidates_into(k, tuple, &mut found, &mut more)?;
                    for i in 0..n {
                        tuple[k] = if i < found.len() {
                            found[i]
                        } else {
                            more[i - found.len()]
                        };
                        matched = true;
                        if self.passes(&self.plan.filters[k], tuple)? {
                            self.extend(k + 1, tuple, out)?;
                        }
                    }
                }
                _ => {
                    for (pi, p) in self.slots[k].parts.iter().enumerate() {
                        for r in 0..p.len() {
                            tuple[k] = RowRef {
                                part: pi as u32,
                                row: r as u32,
                            };
                            if self.passes(&sp.on, tuple)? {
                                matched = true;
                                if self.passes(&self.plan.filters[k], tuple)? {
                                    self.extend(k + 1, tuple, out)?;
                                }
                            }
                        }
                    }
                }
            }
        }
        if !matched && sp.join == JoinKind::Left {
            tuple[k] = RowRef::NULL;
            if self.passes(&self.plan.filters[k], tuple)? {
                self.extend(k + 1, tuple, out)?;
            }
        }
        tuple[k] = RowRef::NULL;
        Ok(())
    }

    /// The rows of slot `k` matching the ON clause for the current tuple (slots before `k` bound).
    fn candidates(
        &self,
        k: usize,
        tuple: &mut [RowRef],
        out: &mut Vec<RowRef>,
    ) -> Result<(), SqlError> {
        let mut found: [RowRef; 4] = [RowRef::NULL; 4];
        let n = self.candidates_into(k, tuple, &mut found, out)?;
        let head: Vec<RowRef> = found[..n.min(found.len())].to_vec();
        out.splice(0..0, head);
        Ok(())
    }

    /// Hash lookup of slot `k`: the first matches go to `found`, the rest (rare) to `more`.
    /// Returns how many there are. Leaves `tuple[k]` NULL.
    fn candidates_into(
        &self,
        k: usize,
        tuple: &mut [RowRef],
        found: &mut [RowRef; 4],
        more: &mut Vec<RowRef>,
    ) -> Result<usize, SqlError> {
        let (Some(index), Some(lookup)) = (&self.indexes[k], &self.plan.slots[k].lookup) else {
            return Ok(0);
        };
        // The key values, computed once; candidates are checked against them (the hash only
        // narrows the search), then against the rest of the ON clause.
        let mut keys: [Value<'_>; MAX_KEYS] = [Value::Null, Value::Null, Value::Null, Value::Null];
        let mut h = FxHasher::default();
        {
            let env = Env {
                slots: &self.slots,
                tuple,
                params: &self.params,
                group: &[],
            };
            for (i, e) in lookup.keys.iter().enumerate() {
                let v = e.eval(&env)?;
                match hash_value(&v) {
                    Some(x) => h.write_u64(x),
                    None => return Ok(0),
                }
                keys[i] = v;
            }
        }
        let parts = &self.slots[k].parts;
        let mut n = 0;
        for cand in index.get(h.finish()) {
            let rows = &parts[cand.part as usize];
            let equal = lookup.cols.iter().zip(keys.iter()).all(|(&c, key)| {
                matches!(
                    compare(&rows.value(cand.row as usize, c), key),
                    Ok(Some(Ordering::Equal))
                )
            });
            if !equal {
                continue;
            }
            tuple[k] = *cand;
            let pass = self.passes(&lookup.residual, tuple)?;
            tuple[k] = RowRef::NULL;
            if pass {
                if n < found.len() {
                    found[n] = *cand;
                } else {
                    more.push(*cand);
                }
                n += 1;
            }
        }
        Ok(n)
    }

    fn order_tuples(&self, tuples: &[RowRef]) -> Result<Vec<u32>, SqlError> {
        let n = self.plan.slots.len().max(1);
        let count = tuples.len() / n;
        let keys_per = self.plan.order_by.len();
        let mut keys: Vec<Value<'_>> = Vec::with_capacity(count * keys_per);
        for i in 0..count {
            let env = Env {
                slots: &self.slots,
                tuple: &tuples[i * n..(i + 1) * n],
                params: &self.params,
                group: &[],
            };
            for (e, _) in &self.plan.order_by {
                keys.push(e.eval(&env)?);
            }
        }
        let mut order: Vec<u32> = (0..count as u32).collect();
        sort_order(
            &mut order,
            &keys,
            &self
                .plan
                .order_by
                .iter()
                .map(|(_, d)| *d)
                .collect::<Vec<_>>(),
            self.limit(),
        );
        Ok(order)
    }

    /// How many leading rows of the ordered result matter (OFFSET + FETCH / TOP), for partial sorts.
    fn limit(&self) -> Option<usize> {
        if self.plan.distinct {
            return None;
        }
        self.plan.take.map(|t| (self.plan.skip + t) as usize)
    }

    fn run_aggregate(&mut self, agg: &AggPlan) -> Result<Vec<Vec<Value<'static>>>, SqlError> {
        let nk = agg.keys.len();
        let mut groups: Vec<(Vec<Value<'static>>, Vec<Acc>)> = Vec::new();
        let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
        let n = self.plan.slots.len().max(1);
        let parts = self.base_parts();
        let mut tuples = Vec::new();
        for key in parts {
            self.load_base(key, false);
            tuples.clear();
            self.match_part(0, key, &mut tuples)?;
            let mut key_buf: Vec<Value<'_>> = Vec::with_capacity(nk);
            for t in tuples.chunks(n) {
                let env = Env {
                    slots: &self.slots,
                    tuple: t,
                    params: &self.params,
                    group: &[],
                };
                key_buf.clear();
                let mut h = FxHasher::default();
                for k in &agg.keys {
                    let v = k.eval(&env)?;
                    h.write_u64(hash_value(&v).unwrap_or(0x5eed));
                    key_buf.push(v);
                }
                let hash = h.finish();
                let bucket = by_hash.entry(hash).or_default();
                let found = bucket.iter().copied().find(|&gi| {
                    groups[gi].0.iter().zip(key_buf.iter()).all(|(a, b)| {
                        match (a.is_null(), b.is_null()) {
                            (true, true) => true,
                            (false, false) => matches!(compare(a, b), Ok(Some(Ordering::Equal))),
                            _ => false,
                        }
                    })
                });
                let gi = match found {
                    Some(gi) => gi,
                    None => {
                        groups.push((
                            key_buf.iter().map(|v| v.clone().into_static()).collect(),
                            agg.aggs.iter().map(Acc::new).collect(),
                        ));
                        bucket.push(groups.len() - 1);
                        groups.len() - 1
                    }
                };
                for (acc, spec) in groups[gi].1.iter_mut().zip(agg.aggs.iter()) {
                    let v = match &spec.arg {
                        Some(a) => Some(a.eval(&env)?),
                        None => None,
                    };
                    acc.add(spec.func, spec.arg_ty, v)?;
                }
            }
        }
        if groups.is_empty() && nk == 0 {
            groups.push((Vec::new(), agg.aggs.iter().map(Acc::new).collect()));
        }
        let mut rows = Vec::with_capacity(groups.len());
        for (keys, accs) in groups {
            let mut row = keys;
            for (acc, spec) in accs.into_iter().zip(agg.aggs.iter()) {
                row.push(acc.finish(spec.func, spec.ty)?);
            }
            if let Some(h) = &agg.having {
                let env = Env {
                    slots: &[],
                    tuple: &[],
                    params: &self.params,
                    group: &row,
                };
                if h.test(&env)? != Some(true) {
                    continue;
                }
            }
            rows.push(row);
        }
        Ok(rows)
    }

    fn order_groups(&self, rows: &[Vec<Value<'static>>]) -> Result<Vec<u32>, SqlError> {
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        if self.plan.order_by.is_empty() {
            return Ok(order);
        }
        let mut keys: Vec<Value<'_>> = Vec::with_capacity(rows.len() * self.plan.order_by.len());
        for row in rows {
            let env = Env {
                slots: &[],
                tuple: &[],
                params: &self.params,
                group: row,
            };
            for (e, _) in &self.plan.order_by {
                keys.push(e.eval(&env)?);
            }
        }
        sort_order(
            &mut order,
            &keys,
            &self
                .plan
                .order_by
                .iter()
                .map(|(_, d)| *d)
                .collect::<Vec<_>>(),
            self.limit(),
        );
        Ok(order)
    }

    /// Which depots the query reads.
    pub fn depots(&self) -> &super::plan::DepotTouch {
        &self.plan.depots
    }

    /// Encodes the next output row.
    fn next_row(&mut self, out: &mut PacketWriter) -> Result<Step, SqlError> {
        let n = self.plan.slots.len().max(1);
        loop {
            // Take the next row reference out of the phase.
            enum Next {
                Tuple(usize),
                Group(usize),
                LoadPart(usize),
                End,
            }
            let next = match &mut self.phase {
                Phase::Stream {
                    next_part,
                    tuples,
                    pos,
                } => {
                    if *pos * n < tuples.len() {
                        *pos += 1;
                        Next::Tuple(*pos - 1)
                    } else {
                        Next::LoadPart(*next_part)
                    }
                }
                Phase::Sorted { order, pos, .. } => {
                    if *pos < order.len() {
                        *pos += 1;
                        Next::Tuple(order[*pos - 1] as usize)
                    } else {
                        Next::End
                    }
                }
                Phase::Groups { order, pos, .. } => {
                    if *pos < order.len() {
                        *pos += 1;
                        Next::Group(order[*pos - 1] as usize)
                    } else {
                        Next::End
                    }
                }
                Phase::Done => Next::End,
            };
            match next {
                Next::End => {
                    self.phase = Phase::Done;
                    return Ok(Step::End);
                }
                Next::LoadPart(p) => {
                    let parts = self.base_parts();
                    if p >= parts.len() {
                        self.phase = Phase::Done;
                        return Ok(Step::End);
                    }
                    self.load_base(parts[p], false);
                    let mut tuples = match std::mem::replace(&mut self.phase, Phase::Done) {
                        Phase::Stream { tuples, .. } => tuples,
                        _ => Vec::new(),
                    };
                    tuples.clear();
                    self.match_part(0, parts[p], &mut tuples)?;
                    self.phase = Phase::Stream {
                        next_part: p + 1,
                        tuples,
                        pos: 0,
                    };
                }
                Next::Tuple(i) => {
                    let tuples = match &self.phase {
                        Phase::Stream { tuples, .. } | Phase::Sorted { tuples, .. } => tuples,
                        _ => return Ok(Step::End),
                    };
                    let env = Env {
                        slots: &self.slots,
                        tuple: &tuples[i * n..(i + 1) * n],
                        params: &self.params,
                        group: &[],
                    };
                    let sent = emit(
                        &self.plan,
                        &env,
                        out,
                        &mut self.seen,
                        self.distinct_memo.as_mut(),
                        &mut self.skipped,
                    )?;
                    if sent {
                        self.rows_sent += 1;
                        return Ok(Step::Sent);
                    }
                    return Ok(Step::Skipped);
                }
                Next::Group(i) => {
                    let Phase::Groups { rows, .. } = &self.phase else {
                        return Ok(Step::End);
                    };
                    let env = Env {
                        slots: &[],
                        tuple: &[],
                        params: &self.params,
                        group: &rows[i],
                    };
                    let sent = emit(
                        &self.plan,
                        &env,
                        out,
                        &mut self.seen,
                        None,
                        &mut self.skipped,
                    )?;
                    if sent {
                        self.rows_sent += 1;
                        return Ok(Step::Sent);
                    }
                    return Ok(Step::Skipped);
                }
            }
        }
    }
}

/// Encodes one ROW token (or skips it for OFFSET/DISTINCT). Returns whether it was sent.
fn emit(
    plan: &SelectPlan,
    env: &Env<'_, '_>,
    out: &mut PacketWriter,
    seen: &mut HashSet<u64>,
    memo: Option<&mut DistinctMemo>,
    skipped: &mut u64,
) -> Result<bool, SqlError> {
    if plan.distinct {
        let column_hash = |c: &OutputColumn| -> Result<u64, SqlError> {
            let v = distinct_value(c.expr.eval(env)?, c.ty)?;
            Ok(hash_value(&v).unwrap_or(0x5eed))
        };
        let mut h = FxHasher::default();
        match memo {
            Some(memo) if env.tuple.len() >= plan.slots.len() => {
                // The columns of the base row in order, then the joined ones (memoized).
                let mut key = [RowRef::NULL; MEMO_SLOTS];
                for (k, &s) in key.iter_mut().zip(&memo.slots) {
                    *k = env.tuple[s];
                }
                for (c, joined) in plan.columns.iter().zip(&memo.joined) {
                    if !joined {
                        h.write_u64(column_hash(c)?);
                    }
                }
                let joined = match memo.hashes.get(&key) {
                    Some(j) => *j,
                    None => {
                        let mut jh = FxHasher::default();
                        for (c, joined) in plan.columns.iter().zip(&memo.joined) {
                            if *joined {
                                jh.write_u64(column_hash(c)?);
                            }
                        }
                        memo.hashes.insert(key, jh.finish());
                        jh.finish()
                    }
                };
                h.write_u64(joined);
            }
            _ => {
                for c in &plan.columns {
                    h.write_u64(column_hash(c)?);
                }
            }
        }
        if !seen.insert(h.finish()) {
            return Ok(false);
        }
    }
    if *skipped < plan.skip {
        *skipped += 1;
        return Ok(false);
    }
    let mark = out.mark();
    let buf = out.buf();
    buf.push(tokens::ROW);
    for c in &plan.columns {
        let v = match c.expr.eval(env) {
            Ok(v) => v,
            Err(e) => {
                out.truncate(mark);
                return Err(e);
            }
        };
        if let Err(e) = put_value(out.buf(), c.ty, v) {
            out.truncate(mark);
            return Err(e);
        }
    }
    out.settle();
    Ok(true)
}

/// A memo for slot `k` when its join (lookup keys and residual ON) reads only itself and one earlier
/// slot whose rows are a single, whole table.
fn memo_for(plan: &SelectPlan, k: usize, slots: &[SlotRows]) -> Option<Memo> {
    let lookup = plan.slots.get(k)?.lookup.as_ref()?;
    if k == 0 {
        return None;
    }
    let mut sources = Vec::new();
    for e in lookup.keys.iter().chain(lookup.residual.iter()) {
        e.visit_slots(&mut |s| {
            if s != k && !sources.contains(&s) {
                sources.push(s);
            }
        });
    }
    let [source] = sources[..] else { return None };
    if plan.slots[source].parts != [PartKey::Whole] {
        return None;
    }
    let rows = slots.get(source)?.parts.first()?.len();
    Some(Memo {
        source,
        entries: RefCell::new(vec![UNKNOWN; rows]),
        pool: RefCell::new(Vec::new()),
    })
}

/// Sorts `order` (row numbers) by their keys (`keys[row * k .. row * k + k]`); NULLs sort first.
/// With `limit`, only the first `limit` positions are guaranteed ordered (a partial sort).
fn sort_order(order: &mut [u32], keys: &[Value<'_>], desc: &[bool], limit: Option<usize>) {
    let k = desc.len();
    let cmp = |a: &u32, b: &u32| -> Ordering {
        let (a, b) = (*a as usize, *b as usize);
        for i in 0..k {
            let (x, y) = (&keys[a * k + i], &keys[b * k + i]);
            let o = match (x.is_null(), y.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => compare(x, y).ok().flatten().unwrap_or(Ordering::Equal),
            };
            let o = if desc[i] { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.cmp(&b)
    };
    match limit {
        Some(l) if l > 0 && l < order.len() => {
            order.select_nth_unstable_by(l - 1, cmp);
            order[..l].sort_unstable_by(cmp);
        }
        _ => order.sort_unstable_by(cmp),
    }
}

/// An aggregate's running state.
enum Acc {
    Count(i64, Option<HashSet<u64>>),
    SumInt(Option<i128>),
    SumDec(Option<Decimal>),
    SumFloat(Option<f64>),
    Extreme(Option<Value<'static>>),
    AvgInt(i128, i64),
    AvgDec(Decimal, i64),
    AvgFloat(f64, i64),
}

impl Acc {
    fn new(spec: &super::plan::AggSpec) -> Acc {
        match spec.func {
            AggFunc::CountStar | AggFunc::Count => Acc::Count(0, spec.distinct.then(HashSet::new)),
            AggFunc::Min | AggFunc::Max => Acc::Extreme(None),
            AggFunc::Sum => match spec.ty {
                SqlType::Decimal { .. } => Acc::SumDec(None),
                SqlType::Float | SqlType::Real => Acc::SumFloat(None),
                _ => Acc::SumInt(None),
            },
            AggFunc::Avg => match spec.ty {
                SqlType::Decimal { .. } => Acc::AvgDec(Decimal::ZERO, 0),
                SqlType::Float | SqlType::Real => Acc::AvgFloat(0.0, 0),
                _ => Acc::AvgInt(0, 0),
            },
        }
    }

    fn add(
        &mut self,
        func: AggFunc,
        arg_ty: SqlType,
        v: Option<Value<'_>>,
    ) -> Result<(), SqlError> {
        let v = match v {
            None => {
                if let Acc::Count(n, _) = self {
                    *n += 1;
                }
                return Ok(());
            }
            Some(Value::Null) => return Ok(()),
            Some(v) => v,
        };
        match self {
            Acc::Count(n, distinct) => {
                if let Some(seen) = distinct {
                    if !seen.insert(hash_value(&v).unwrap_or(0)) {
                        return Ok(());
                    }
                }
                *n += 1;
            }
            Acc::SumInt(s) => {
                let i = match cast(v, arg_ty, SqlType::BigInt)? {
                    Value::Int(i) => i128::from(i),
                    _ => 0,
                };
                *s = Some(s.unwrap_or(0) + i);
            }
            Acc::SumDec(s) => {
                let d = match cast(v, arg_ty, SqlType::decimal(38, arg_ty.decimal_shape().1))? {
                    Value::Decimal(d) => d,
                    _ => Decimal::ZERO,
                };
                *s = Some(
                    s.unwrap_or(Decimal::ZERO)
                        .checked_add(d)
                        .ok_or_else(|| SqlError::overflow_numeric("expression"))?,
                );
            }
            Acc::SumFloat(s) => {
                let f = match cast(v, arg_ty, SqlType::Float)? {
                    Value::Float(f) => f,
                    _ => 0.0,
                };
                *s = Some(s.unwrap_or(0.0) + f);
            }
            Acc::Extreme(cur) => {
                let replace = match cur {
                    None => true,
                    Some(c) => {
                        let o = compare(&v, c)?.unwrap_or(Ordering::Equal);
                        (func == AggFunc::Min && o == Ordering::Less)
                            || (func == AggFunc::Max && o == Ordering::Greater)
                    }
                };
                if replace {
                    *cur = Some(v.into_static());
                }
            }
            Acc::AvgInt(s, n) => {
                if let Value::Int(i) = cast(v, arg_ty, SqlType::BigInt)? {
                    *s += i128::from(i);
                    *n += 1;
                }
            }
            Acc::AvgDec(s, n) => {
                if let Value::Decimal(d) =
                    cast(v, arg_ty, SqlType::decimal(38, arg_ty.decimal_shape().1))?
                {
                    *s = s
                        .checked_add(d)
                        .ok_or_else(|| SqlError::overflow_numeric("expression"))?;
                    *n += 1;
                }
            }
            Acc::AvgFloat(s, n) => {
                let f = match cast(v, arg_ty, SqlType::Float)? {
                    Value::Float(f) => f,
                    Value::Decimal(d) => decimal_to_f64(&d),
                    _ => 0.0,
                };
                *s += f;
                *n += 1;
            }
        }
        Ok(())
    }

    fn finish(self, func: AggFunc, ty: SqlType) -> Result<Value<'static>, SqlError> {
        let _ = func;
        Ok(match self {
            Acc::Count(n, _) => {
                if ty == SqlType::Int && i32::try_from(n).is_err() {
                    return Err(SqlError::overflow("int"));
                }
                Value::Int(n)
            }
            Acc::SumInt(None) | Acc::SumDec(None) | Acc::SumFloat(None) | Acc::Extreme(None) => {
                Value::Null
            }
            Acc::SumInt(Some(s)) => {
                let limit = if ty == SqlType::BigInt {
                    i128::from(i64::MAX)
                } else {
                    i128::from(i32::MAX)
                };
                if s.abs() > limit {
                    return Err(SqlError::overflow(ty.name()));
                }
                Value::Int(s as i64)
            }
            Acc::SumDec(Some(d)) => Value::Decimal(d),
            Acc::SumFloat(Some(f)) => Value::Float(f),
            Acc::Extreme(Some(v)) => v,
            Acc::AvgInt(_, 0) | Acc::AvgDec(_, 0) | Acc::AvgFloat(_, 0) => Value::Null,
            Acc::AvgInt(s, n) => Value::Int((s / i128::from(n)) as i64),
            Acc::AvgDec(s, n) => {
                let scale = match ty {
                    SqlType::Decimal { scale, .. } => u32::from(scale),
                    _ => 6,
                };
                Value::Decimal(
                    (s / Decimal::from(n))
                        .round_dp_with_strategy(scale, rust_decimal::RoundingStrategy::ToZero),
                )
            }
            Acc::AvgFloat(s, n) => Value::Float(s / n as f64),
        })
    }
}
