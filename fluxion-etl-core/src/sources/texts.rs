//! Shared texts for the records one extraction produces.
//!
//! A day of sales repeats a few thousand distinct texts (an article's description, brand,
//! category, the warehouse, the unit of measure…) across tens of thousands of lines. A
//! [`TextPool`] hands out one [`Arc<str>`] per distinct text, so a line costs a hash lookup and a
//! reference-count increment per text instead of an allocation, a copy and later a free — and
//! the lines of a batch share their memory.

use std::sync::Arc;

use hashbrown::HashSet;

/// Distinct texts kept before the pool starts over. A day of one store holds a few thousand;
/// the bound only keeps a pathological source (every text unique) from growing the pool
/// without end. Starting over is harmless: texts already handed out stay valid.
const MAX_TEXTS: usize = 1 << 16;

/// A set of shared texts (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct TextPool {
    /// `hashbrown`'s set: its default hasher (foldhash) is fast on short strings, and
    /// `get_or_insert_with` hashes a text once whether or not it is new.
    texts: HashSet<Arc<str>>,
    /// The last text asked for with [`TextPool::repeated`]; consecutive lines of an invoice
    /// carry the same number.
    last: Option<Arc<str>>,
}

impl TextPool {
    /// The shared copy of `text`.
    #[inline]
    pub(crate) fn get(&mut self, text: &str) -> Arc<str> {
        if self.texts.len() >= MAX_TEXTS && !self.texts.contains(text) {
            self.texts.clear();
        }
        Arc::clone(self.texts.get_or_insert_with(text, |t| Arc::from(t)))
    }

    /// The shared copy of `text`, or `None` for no text.
    #[inline]
    pub(crate) fn get_opt(&mut self, text: Option<&str>) -> Option<Arc<str>> {
        text.map(|t| self.get(t))
    }

    /// A text that usually equals the previous one asked for this way and rarely recurs later
    /// (an invoice number across its lines): compared with the last, never pooled.
    #[inline]
    pub(crate) fn repeated(&mut self, text: &str) -> Arc<str> {
        match &self.last {
            Some(last) if **last == *text => Arc::clone(last),
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
