//! Shared texts for the records one extraction produces.
//!
//! A day of sales repeats a few thousand distinct texts (an article's description, brand,
//! category, the warehouse, the unit of measure…) across tens of thousands of lines. A
//! [`TextPool`] hands out one [`Arc<str>`] per distinct text, so a line costs a hash lookup and a
//! reference-count increment per text instead of an allocation, a copy and later a free — and
//! the lines of a batch share their memory.
//!
//! Texts are compared with [`same_text`], inline, rather than through `memcmp`: they are short,
//! and a call per comparison was a tenth of a KLK extraction's time.

// The KLK parser uses every lookup of the pool; a build with only the Stellar source uses the
// plain ones.
#![cfg_attr(not(feature = "klk"), allow(dead_code))]

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap, HashSet};

/// Distinct texts kept before the pool starts over. A day of one store holds a few thousand;
/// the bound only keeps a pathological source (every text unique) from growing the pool
/// without end. Starting over is harmless: texts already handed out stay valid.
const MAX_TEXTS: usize = 1 << 16;

/// Whether two texts are equal: `a == b` for short byte strings, without a call to `memcmp`
/// (eight bytes at a time, the last word overlapping).
#[inline(always)]
pub(crate) fn same_text(a: &[u8], b: &[u8]) -> bool {
    #[inline(always)]
    fn word(s: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// A pooled text; equal to a [`Probe`] of the same bytes (compared with [`same_text`]).
#[derive(Debug)]
struct Pooled(Arc<str>);

impl Hash for Pooled {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for Pooled {
    fn eq(&self, other: &Self) -> bool {
        same_text(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Pooled {}

/// A text looked up in the pool (hashes as the `str` it holds, like [`Pooled`]).
struct Probe<'a>(&'a str);

impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Equivalent<Pooled> for Probe<'_> {
    fn equivalent(&self, key: &Pooled) -> bool {
        same_text(self.0.as_bytes(), key.0.as_bytes())
    }
}

/// A set of shared texts (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct TextPool {
    /// `hashbrown`'s set: its default hasher (foldhash) is fast on short strings, and
    /// `get_or_insert_with` hashes a text once whether or not it is new.
    texts: HashSet<Pooled>,
    /// The last text handed out for each slot of [`TextPool::get_at`]: a field that repeats
    /// from one record to the next (the warehouse, the unit of measure) skips the lookup.
    slots: Vec<Option<Arc<str>>>,
    /// The last text asked for with [`TextPool::repeated`]; consecutive lines of an invoice
    /// carry the same number.
    last: Option<Arc<str>>,
    /// The texts that came with each key in [`TextPool::keyed`] (an article's description,
    /// brand, category… with its code).
    keyed: HashMap<Pooled, Box<[Option<Arc<str>>]>>,
}

impl TextPool {
    /// The shared copy of `text`.
    #[inline]
    pub(crate) fn get(&mut self, text: &str) -> Arc<str> {
        if self.texts.len() >= MAX_TEXTS && !self.texts.contains(&Probe(text)) {
            self.texts.clear();
        }
        let pooled = self
            .texts
            .get_or_insert_with(&Probe(text), |p| Pooled(Arc::from(p.0)));
        Arc::clone(&pooled.0)
    }

    /// The shared copy of `text`, remembered as the last of `slot` (one per field of a
    /// record): equal to the slot's last text, it costs a comparison, not a lookup.
    #[inline]
    pub(crate) fn get_at(&mut self, slot: usize, text: &str) -> Arc<str> {
        if let Some(Some(last)) = self.slots.get(slot) {
            if same_text(last.as_bytes(), text.as_bytes()) {
                return Arc::clone(last);
            }
        }
        let shared = self.get(text);
        if slot >= self.slots.len() {
            self.slots.resize(slot + 1, None);
        }
        self.slots[slot] = Some(Arc::clone(&shared));
        shared
    }

    /// The shared copy of `text`, or `None` for no text.
    #[inline]
    pub(crate) fn get_opt(&mut self, text: Option<&str>) -> Option<Arc<str>> {
        text.map(|t| self.get(t))
    }

    /// The shared copies of `key` and of the `texts` that come with it — an article's code and
    /// its description, brand, category… that every line of the article repeats. When the key
    /// comes with the same texts as last time, that costs one lookup and a comparison per text
    /// instead of a lookup per text.
    pub(crate) fn keyed<const K: usize>(
        &mut self,
        key: &str,
        texts: [Option<&str>; K],
    ) -> (Arc<str>, [Option<Arc<str>>; K]) {
        if let Some((k, cached)) = self.keyed.get_key_value(&Probe(key)) {
            let same = cached.len() == K
                && cached.iter().zip(&texts).all(|(c, t)| match (c, t) {
                    (Some(c), Some(t)) => same_text(c.as_bytes(), t.as_bytes()),
                    (None, None) => true,
                    _ => false,
                });
            if same {
                return (
                    Arc::clone(&k.0),
                    std::array::from_fn(|i| cached.get(i).cloned().flatten()),
                );
            }
        }
        let key = self.get(key);
        let shared: [Option<Arc<str>>; K] = std::array::from_fn(|i| texts[i].map(|t| self.get(t)));
        if self.keyed.len() >= MAX_TEXTS {
            self.keyed.clear();
        }
        self.keyed
            .insert(Pooled(Arc::clone(&key)), shared.iter().cloned().collect());
        (key, shared)
    }

    /// A text that usually equals the previous one asked for this way and rarely recurs later
    /// (an invoice number across its lines): compared with the last, never pooled.
    #[inline]
    pub(crate) fn repeated(&mut self, text: &str) -> Arc<str> {
        match &self.last {
            Some(last) if same_text(last.as_bytes(), text.as_bytes()) => Arc::clone(last),
            _ => {
                let shared: Arc<str> = Arc::from(text);
                self.last = Some(Arc::clone(&shared));
                shared
            }
        }
    }

    /// Distinct texts held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.texts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_allocation() {
        let mut pool = TextPool::default();
        let a = pool.get("HARINA DE MAIZ 1KG");
        let b = pool.get(&String::from("HARINA DE MAIZ 1KG"));
        assert!(Arc::ptr_eq(&a, &b));
        let c = pool.get("ARROZ 1KG");
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(&*c, "ARROZ 1KG");
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.get_opt(None), None);
    }

    #[test]
    fn slots_remember_their_last_text() {
        let mut pool = TextPool::default();
        let a = pool.get_at(3, "UNIDAD");
        let b = pool.get_at(3, "UNIDAD");
        let c = pool.get_at(0, "UNIDAD");
        let d = pool.get_at(3, "KILO");
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &c));
        assert_eq!(&*d, "KILO");
        assert!(Arc::ptr_eq(&pool.get_at(0, "UNIDAD"), &a));
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn keyed_texts_are_shared_while_they_stay_the_same() {
        let mut pool = TextPool::default();
        let (k1, [d1, b1]) = pool.keyed("000417", [Some("HARINA 1KG"), None]);
        let (k2, [d2, b2]) = pool.keyed("000417", [Some("HARINA 1KG"), None]);
        assert!(Arc::ptr_eq(&k1, &k2));
        assert!(Arc::ptr_eq(d1.as_ref().unwrap(), d2.as_ref().unwrap()));
        assert_eq!((b1, b2), (None, None));
        // The article's description changed: the new text, and it is remembered.
        let (k3, [d3, b3]) = pool.keyed("000417", [Some("HARINA 1 KG"), Some("PAN")]);
        assert!(Arc::ptr_eq(&k1, &k3));
        assert_eq!(
            (d3.as_deref(), b3.as_deref()),
            (Some("HARINA 1 KG"), Some("PAN"))
        );
        let (_, [d4, _]) = pool.keyed("000417", [Some("HARINA 1 KG"), Some("PAN")]);
        assert!(Arc::ptr_eq(d3.as_ref().unwrap(), d4.as_ref().unwrap()));
        // Another key with the same texts shares them too.
        let (k5, [d5, _]) = pool.keyed("000418", [Some("HARINA 1 KG"), None]);
        assert_eq!(&*k5, "000418");
        assert!(Arc::ptr_eq(d3.as_ref().unwrap(), d5.as_ref().unwrap()));
    }

    #[test]
    fn same_text_is_equality() {
        let texts = [
            "",
            "a",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefghj",
            "porcentaje_descuento_fidelizacion",
            "porcentaje_descuento_fidelizacioN",
            "Porcentaje_descuento_fidelizacion",
            "porcentaje_descuento_forma_pago",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(same_text(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn repeated_texts_share_while_they_repeat() {
        let mut pool = TextPool::default();
        let a = pool.repeated("F-1");
        let b = pool.repeated("F-1");
        let c = pool.repeated("F-2");
        let d = pool.repeated("F-1");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!((&*c, &*d), ("F-2", "F-1"));
        assert!(!Arc::ptr_eq(&a, &d));
        assert_eq!(pool.len(), 0, "repeated texts are not pooled");
    }

    #[test]
    fn the_pool_is_bounded_and_texts_outlive_a_reset() {
        let mut pool = TextPool::default();
        let first = pool.get("0");
        for i in 1..=MAX_TEXTS {
            pool.get(&i.to_string());
        }
        assert!(pool.len() <= MAX_TEXTS);
        assert_eq!(&*first, "0");
        let again = pool.get("0");
        assert_eq!(again, first);
    }
}
