//! Streaming parse of KLK's JSON answers into [`SaleLine`]s and [`InventoryItem`]s.
//!
//! A store-day of sales is tens of MB of JSON, so the body is never held whole: bytes are fed to
//! a [`DocParser`] as they arrive and it yields one record per element of the `ventas` (or
//! `articulos`) array. Only the unconsumed tail of the body — at most one partial element plus
//! the last chunk — is buffered.
//!
//! # How
//! The document level (`{`, the `meta`/`error`/`ventas` keys in any order, `[`, commas) is a
//! small state machine that commits its position after every complete token. Each array element
//! is parsed *optimistically* by a hand-written reader straight from the buffer: when the element
//! runs past the bytes received so far the reader answers [`PErr::Incomplete`], nothing is
//! committed, and the element is parsed again once more bytes arrived. Re-parsing only happens at
//! chunk boundaries, and the parser waits until the buffered tail has doubled before trying again,
//! so even a body dripped one byte at a time costs O(n) overall.
//!
//! The buffer is checked to be UTF-8 once, incrementally, as bytes arrive; the reader then works
//! on `&str` and strings without escapes are borrowed slices of it. Keys are matched against the
//! field list of their object in the order KLK sends them, so the usual cost of a key is a single
//! comparison.
//!
//! We do not use `serde_json` for elements: money must be parsed exactly from the number's text
//! (enabling serde_json's `arbitrary_precision` feature would change `serde_json::Value` for the
//! whole workspace), and this single-pass reader that borrows from the buffer is several times
//! faster than deserializing through serde (see `benches/klk_extract.rs`).
//!
//! # What is an error
//! * Bytes that are not JSON (or a document of the wrong shape) → [`DocError::Syntax`], and a body
//!   that ends inside the document → [`DocError::Truncated`]: both `data_format`.
//! * Bytes that are not UTF-8 → [`DocError::Encoding`] (`encoding_error`).
//! * A syntactically fine element that cannot become a record (a required field missing or
//!   null, a value of the wrong type, an unparseable date) → a [`RowError`] *for that element*;
//!   parsing goes on so the caller can count every broken row.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;

use crate::model::{local_to_utc, InventoryItem, SaleLine, StoreId, Window};
use crate::sources::texts::{same_text, TextPool};

/// Nesting deeper than this inside one element is refused (it is not KLK data).
const MAX_DEPTH: usize = 64;
/// A single element (or skipped value) larger than this is refused, so a body that never closes
/// its element cannot make the buffer grow without bound. KLK lines are ~1.5 KB.
pub(crate) const MAX_ELEMENT_BYTES: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// The reader: JSON tokens from a string that may end anywhere.
// ---------------------------------------------------------------------------------------------

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PErr {
    /// The input ended inside a token: more bytes are needed.
    Incomplete,
    /// Not JSON (what was expected, byte offset in the input).
    Syntax(&'static str, usize),
}

type R<T> = Result<T, PErr>;

/// A scalar JSON value as read from the buffer; objects and arrays are skipped and reported as
/// [`Val::Nested`]. `Absent` is the default for fields not present in the element.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) enum Val<'a> {
    /// The key was not in the element.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number: its exact text (ASCII, as the reader validated it) and, for the common case,
    /// its value (see [`Number`]). Bytes rather than `&str`: slicing a `str` checks character
    /// boundaries out of line, and a line has thirty numbers.
    Num(&'a [u8], Number),
    /// A string without escapes, borrowed from the buffer.
    Str(&'a str),
    /// A string with escapes, unescaped into the reader's `escaped` list at this index.
    Esc(usize),
    /// An object or array.
    Nested,
}

impl Val<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Absent => "nothing",
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Num(..) => "a number",
            Val::Str(_) | Val::Esc(_) => "a string",
            Val::Nested => "an object or array",
        }
    }
}

/// Bytes that end the scan of a string's content: the quote, the backslash and the control
/// characters JSON forbids inside strings.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// A number's digits read as the reader validated it: the mantissa and the count of digits after
/// the point, when it has at most 18 significant digits and no exponent (every KLK number);
/// `scale == Number::SLOW` otherwise, and the text is parsed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Number {
    mantissa: u64,
    scale: u8,
}

impl Number {
    const SLOW: u8 = u8::MAX;

    /// The exact value; `text` is the number's token.
    #[inline]
    fn decimal(self, text: &[u8]) -> Option<Decimal> {
        if self.scale == Self::SLOW {
            return parse_decimal(num_text(text));
        }
        let m = self.mantissa;
        // At most 18 digits: the mantissa fits 60 bits and the scale is within 28.
        Some(Decimal::from_parts(
            m as u32,
            (m >> 32) as u32,
            0,
            text.first() == Some(&b'-'),
            u32::from(self.scale),
        ))
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Index of the first byte at or after `j` that ends a string's content (see [`STRING_STOP`]),
/// or `b.len()`. Eight bytes at a time: a zero byte in `v` shows as the high bit of its lane in
/// `(v - 0x01..) & !v & 0x80..`; the lowest such bit is exact (false positives only appear above
/// a true one), so the first stop byte is found without a branch per byte.
#[inline]
fn scan_string(b: &[u8], mut j: usize) -> usize {
    while j + 8 <= b.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[j..j + 8]);
        let x = u64::from_le_bytes(w);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let stops = zero(quote) | zero(backslash) | control;
        if stops != 0 {
            return j + (stops.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    while j < b.len() && !STRING_STOP[b[j] as usize] {
        j += 1;
    }
    j
}

pub(crate) struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// The input is the whole rest of the body: a number may end at its end.
    eof: bool,
    /// Strings that had escapes, unescaped ([`Val::Esc`] indexes here).
    escaped: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(s: &'a str, eof: bool) -> Self {
        Self {
            s,
            b: s.as_bytes(),
            i: 0,
            eof,
            escaped: Vec::new(),
        }
    }

    #[inline]
    fn ws(&mut self) {
        // Compact JSON has none: one comparison.
        if self.b.get(self.i).is_some_and(|&c| c > b' ') {
            return;
        }
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> R<u8> {
        self.b.get(self.i).copied().ok_or(PErr::Incomplete)
    }

    #[inline]
    fn eat(&mut self, c: u8, what: &'static str) -> R<()> {
        self.ws();
        if self.peek()? == c {
            self.i += 1;
            Ok(())
        } else {
            Err(PErr::Syntax(what, self.i))
        }
    }

    /// `&s[from..to]`; both ends sit next to ASCII delimiters, so they are char boundaries.
    #[inline]
    fn slice(&self, from: usize, to: usize) -> R<&'a str> {
        self.s.get(from..to).ok_or(PErr::Syntax("a string", from))
    }

    /// A string starting at the current `"`: borrowed when it has no escapes.
    #[inline(always)]
    fn string(&mut self) -> R<Cow<'a, str>> {
        let start = self.i + 1;
        let j = scan_string(self.b, start);
        match self.b.get(j) {
            None => Err(PErr::Incomplete),
            Some(b'"') => {
                self.i = j + 1;
                self.slice(start, j).map(Cow::Borrowed)
            }
            Some(b'\\') => self.escaped_string(start, j).map(Cow::Owned),
            Some(_) => Err(PErr::Syntax("a control character inside a string", j)),
        }
    }

    /// A string value.
    #[inline(always)]
    fn string_val(&mut self) -> R<Val<'a>> {
        Ok(match self.string()? {
            Cow::Borrowed(s) => Val::Str(s),
            Cow::Owned(s) => {
                self.escaped.push(s);
                Val::Esc(self.escaped.len() - 1)
            }
        })
    }

    /// The slow path of [`string`](Self::string): `j` is the first backslash.
    fn escaped_string(&mut self, start: usize, mut j: usize) -> R<String> {
        let b = self.b;
        let mut out = String::with_capacity(j - start + 16);
        out.push_str(self.slice(start, j)?);
        loop {
            let k = scan_string(b, j);
            if k > j {
                out.push_str(self.slice(j, k)?);
                j = k;
            }
            match b.get(j) {
                None => return Err(PErr::Incomplete),
                Some(b'"') => {
                    self.i = j + 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let esc = *b.get(j + 1).ok_or(PErr::Incomplete)?;
                    j += 2;
                    let simple = match esc {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => None,
                        _ => return Err(PErr::Syntax("a valid escape sequence", j - 1)),
                    };
                    if let Some(c) = simple {
                        out.push(c);
                        continue;
                    }
                    let hi = self.hex4(j)?;
                    j += 4;
                    let code = if (0xD800..0xDC00).contains(&hi) {
                        // A high surrogate must be followed by `\u` and a low surrogate.
                        if b.len() < j + 6 {
                            return Err(PErr::Incomplete);
                        }
                        if b[j] != b'\\' || b[j + 1] != b'u' {
                            return Err(PErr::Syntax("a low surrogate escape", j));
                        }
                        let lo = self.hex4(j + 2)?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(PErr::Syntax("a low surrogate escape", j));
                        }
                        j += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        hi
                    };
                    out.push(
                        char::from_u32(code).ok_or(PErr::Syntax("a valid unicode escape", j))?,
                    );
                }
                Some(_) => return Err(PErr::Syntax("a control character inside a string", j)),
            }
        }
    }

    fn hex4(&self, at: usize) -> R<u32> {
        let digits = self.b.get(at..at + 4).ok_or(PErr::Incomplete)?;
        let mut v = 0u32;
        for (k, &d) in digits.iter().enumerate() {
            let n = (d as char)
                .to_digit(16)
                .ok_or(PErr::Syntax("four hex digits", at + k))?;
            v = v * 16 + n;
        }
        Ok(v)
    }

    /// Skips a string without unescaping it.
    fn skip_string(&mut self) -> R<()> {
        let b = self.b;
        let mut j = self.i + 1;
        loop {
            j = scan_string(b, j);
            match b.get(j) {
                None => return Err(PErr::Incomplete),
                Some(b'"') => {
                    self.i = j + 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    if j + 1 >= b.len() {
                        return Err(PErr::Incomplete);
                    }
                    j += 2;
                }
                Some(_) => return Err(PErr::Syntax("a control character inside a string", j)),
            }
        }
    }

    /// A number token, validated against JSON's grammar; its value is accumulated on the way
    /// (see [`Number`]).
    #[inline(always)]
    fn number(&mut self) -> R<(&'a [u8], Number)> {
        /// Consumes ASCII digits from `j`, folding them into `m`; returns how many.
        #[inline]
        fn digits(b: &[u8], j: &mut usize, m: &mut u64) -> u32 {
            let s = *j;
            while let Some(d) = b.get(*j).map(|c| c.wrapping_sub(b'0')).filter(|d| *d < 10) {
                *m = m.wrapping_mul(10).wrapping_add(u64::from(d));
                *j += 1;
            }
            (*j - s) as u32
        }
        let b = self.b;
        let start = self.i;
        let mut j = start;
        let mut mantissa: u64 = 0;
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        let mut count = match b.get(j) {
            None => return Err(PErr::Incomplete),
            // A leading zero stands alone.
            Some(b'0') => {
                j += 1;
                1
            }
            Some(b'1'..=b'9') => digits(b, &mut j, &mut mantissa),
            Some(_) => return Err(PErr::Syntax("a digit", j)),
        };
        let mut scale = 0;
        if b.get(j) == Some(&b'.') {
            j += 1;
            scale = digits(b, &mut j, &mut mantissa);
            if scale == 0 {
                return Err(if j >= b.len() {
                    PErr::Incomplete
                } else {
                    PErr::Syntax("a digit after the decimal point", j)
                });
            }
            count += scale;
        }
        let mut exponent = false;
        if matches!(b.get(j), Some(b'e' | b'E')) {
            exponent = true;
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if digits(b, &mut j, &mut 0) == 0 {
                return Err(if j >= b.len() {
                    PErr::Incomplete
                } else {
                    PErr::Syntax("a digit in the exponent", j)
                });
            }
        }
        if j >= b.len() && !self.eof {
            // The number may go on in the next chunk.
            return Err(PErr::Incomplete);
        }
        self.i = j;
        let fast = !exponent && count <= 18;
        let number = Number {
            mantissa,
            scale: if fast { scale as u8 } else { Number::SLOW },
        };
        Ok((self.b.get(start..j).unwrap_or_default(), number))
    }

    fn literal(&mut self, word: &'static [u8]) -> R<()> {
        let avail = &self.b[self.i..];
        let n = word.len().min(avail.len());
        if avail[..n] != word[..n] {
            return Err(PErr::Syntax("a value", self.i));
        }
        if n < word.len() {
            return Err(PErr::Incomplete);
        }
        self.i += word.len();
        Ok(())
    }

    /// Any value; objects and arrays are skipped.
    #[inline(always)]
    pub(crate) fn value(&mut self) -> R<Val<'a>> {
        self.ws();
        match self.peek()? {
            b'"' => self.string_val(),
            b'-' | b'0'..=b'9' => self.number().map(|(t, n)| Val::Num(t, n)),
            b'n' => self.literal(b"null").map(|_| Val::Null),
            b't' => self.literal(b"true").map(|_| Val::Bool(true)),
            b'f' => self.literal(b"false").map(|_| Val::Bool(false)),
            b'{' | b'[' => self.skip(0).map(|_| Val::Nested),
            _ => Err(PErr::Syntax("a value", self.i)),
        }
    }

    /// Skips any value.
    pub(crate) fn skip(&mut self, depth: usize) -> R<()> {
        if depth > MAX_DEPTH {
            return Err(PErr::Syntax("less deeply nested data", self.i));
        }
        self.ws();
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if self.peek()? != b'"' {
                        return Err(PErr::Syntax("a key", self.i));
                    }
                    self.skip_string()?;
                    self.eat(b':', "`:`")?;
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(PErr::Syntax("`,` or `}`", self.i)),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(PErr::Syntax("`,` or `]`", self.i)),
                    }
                }
            }
            b'-' | b'0'..=b'9' => self.number().map(|_| ()),
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            _ => Err(PErr::Syntax("a value", self.i)),
        }
    }

    /// Walks an object's members, handing each key to `member`, which must consume the value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> R<()>) -> R<()> {
        self.eat(b'{', "`{`")?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return Err(PErr::Syntax("a key", self.i));
            }
            let key = self.string()?;
            self.eat(b':', "`:`")?;
            member(self, &key)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(PErr::Syntax("`,` or `}`", self.i)),
            }
        }
    }

    /// Walks an object whose keys are mostly `keys`, handing `member` the index of each key in
    /// `keys.names` (`None` for a key not in it). KLK sends keys in a fixed order, so the key
    /// after the previous one is tried first, and in compact JSON a key usually costs one
    /// comparison of its quoted bytes and colon.
    #[inline]
    fn fields(
        &mut self,
        keys: &'static Keys,
        mut member: impl FnMut(&mut Self, Option<usize>) -> R<()>,
    ) -> R<()> {
        self.eat(b'{', "`{`")?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        let mut next = 0;
        loop {
            self.ws();
            // Fast path: the bytes are exactly the expected `"key":` (KLK's keys have no
            // escapes, so this is the key and its colon).
            let fast = keys.quoted.get(next).is_some_and(|q| {
                self.b
                    .get(self.i..self.i + q.len())
                    .is_some_and(|k| same_text(k, q.as_bytes()))
            });
            let index = if fast {
                self.i += keys.quoted[next].len();
                Some(next)
            } else {
                if self.peek()? != b'"' {
                    return Err(PErr::Syntax("a key", self.i));
                }
                let key = self.string()?;
                self.eat(b':', "`:`")?;
                keys.names.iter().position(|n| *n == key)
            };
            if let Some(i) = index {
                next = i + 1;
            }
            member(self, index)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(PErr::Syntax("`,` or `}`", self.i)),
            }
        }
    }

    /// Reads an object of `keys` into `slots` (unknown keys are skipped).
    #[inline]
    fn record(&mut self, keys: &'static Keys, slots: &mut [Val<'a>]) -> R<()> {
        self.fields(keys, |r, index| {
            match index.and_then(|i| slots.get_mut(i)) {
                Some(slot) => {
                    *slot = r.value()?;
                    Ok(())
                }
                None => r.skip(0),
            }
        })
    }

    /// KLK's one-element arrays (`producto`, `cantidad`, `financiero`), read into `slots`. A bare
    /// object is accepted too; `null` and `[]` leave the fields absent. Returns how many
    /// elements there were (more than one is a row error: we would not know which to keep), or
    /// `usize::MAX` for a value that is neither an array nor an object.
    fn one_element(&mut self, keys: &'static Keys, slots: &mut [Val<'a>]) -> R<usize> {
        self.ws();
        match self.peek()? {
            b'{' => self.record(keys, slots).map(|_| 1),
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Ok(0);
                }
                let mut n = 0;
                loop {
                    self.ws();
                    if n == 0 && self.peek()? == b'{' {
                        self.record(keys, slots)?;
                    } else {
                        // Further elements, `[null]` or a stray scalar: counted, reported by
                        // the caller.
                        self.skip(1)?;
                    }
                    n += 1;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Ok(n);
                        }
                        _ => return Err(PErr::Syntax("`,` or `]`", self.i)),
                    }
                }
            }
            b'n' => self.literal(b"null").map(|_| 0),
            _ => self.skip(0).map(|_| usize::MAX),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The document: `{ "meta": …, "ventas": [ … ] }` in any key order, or a bare array.
// ---------------------------------------------------------------------------------------------

/// What the document parser produced.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// One element, converted (or the reason it could not be).
    Item(Result<T, RowError>),
    /// Every buffered byte is consumed; feed more (or call [`DocParser::finish`]).
    NeedMore,
    /// The document is complete.
    End(DocSummary),
}

/// What was learnt from the document besides its elements.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DocSummary {
    /// Elements in the array.
    pub elements: u64,
    /// The `meta` object's record count (`total_registros` / `total_articulos`), if present.
    pub meta_total: Option<u64>,
    /// The text of an `"error"` member, if the server sent one.
    pub error: Option<String>,
    /// Whether the records array was present.
    pub saw_array: bool,
}

/// The document is not what it should be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DocError {
    /// Not JSON, or JSON of the wrong shape.
    Syntax {
        /// What was expected.
        expected: &'static str,
        /// Byte offset in the body.
        offset: u64,
    },
    /// The body ended before the document did.
    Truncated {
        /// Bytes received.
        received: u64,
        /// Elements parsed before the end.
        elements: u64,
    },
    /// Text that is not UTF-8.
    Encoding {
        /// Byte offset in the body.
        offset: u64,
    },
    /// One element is larger than [`MAX_ELEMENT_BYTES`].
    TooLarge {
        /// Byte offset of the element in the body.
        offset: u64,
    },
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocError::Syntax { expected, offset } => {
                write!(f, "malformed JSON at byte {offset}: expected {expected}")
            }
            DocError::Truncated { received, elements } => write!(
                f,
                "the body ended before the JSON document did (truncated after {received} bytes, {elements} complete records)"
            ),
            DocError::Encoding { offset } => {
                write!(f, "text that is not valid UTF-8 at byte {offset}")
            }
            DocError::TooLarge { offset } => write!(
                f,
                "a record at byte {offset} is larger than {} MB",
                MAX_ELEMENT_BYTES >> 20
            ),
        }
    }
}

impl std::error::Error for DocError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    FirstKey,
    NextKey,
    Member,
    FirstElement { bare: bool },
    NextElement { bare: bool },
    Element { bare: bool },
    Done,
}

/// Parses one KLK answer incrementally. `array_key` names the records array (`ventas`,
/// `articulos`); `bare_array` accepts a document that is just that array (older inventory
/// servers).
pub(crate) struct DocParser {
    /// The unconsumed text, checked UTF-8.
    buf: String,
    pos: usize,
    /// Bytes drained from the front of `buf` so far (for offsets in messages).
    consumed: u64,
    /// The first bytes of a character split across chunks, waiting for the rest.
    pending: Vec<u8>,
    /// Where the body stops being UTF-8, if it does; nothing after it is buffered.
    bad_utf8: Option<u64>,
    received: u64,
    eof: bool,
    state: State,
    /// Don't try to parse again before `buf.len() - pos` reaches this (see module docs).
    want: usize,
    array_key: &'static str,
    bare_array: bool,
    summary: DocSummary,
}

impl DocParser {
    pub(crate) fn new(array_key: &'static str, bare_array: bool) -> Self {
        Self {
            buf: String::with_capacity(64 << 10),
            pos: 0,
            consumed: 0,
            pending: Vec::new(),
            bad_utf8: None,
            received: 0,
            eof: false,
            state: State::Start,
            want: 0,
            array_key,
            bare_array,
            summary: DocSummary::default(),
        }
    }

    /// Appends bytes received from the body, checking that they are UTF-8 (once: the reader
    /// then works on `&str`).
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        self.received += chunk.len() as u64;
        if self.bad_utf8.is_some() {
            return;
        }
        // `pos` sits right after a complete token, always a character boundary.
        if self.pos > 0 && self.buf.is_char_boundary(self.pos) {
            // Only the partial element (if any) moves; everything before it is done.
            self.buf.drain(..self.pos);
            self.consumed += self.pos as u64;
            self.pos = 0;
        }
        let mut input = chunk;
        // Finish a character split across chunks.
        while !self.pending.is_empty() {
            let Some((&first, rest)) = input.split_first() else {
                return;
            };
            self.pending.push(first);
            input = rest;
            match std::str::from_utf8(&self.pending) {
                Ok(c) => {
                    self.buf.push_str(c);
                    self.pending.clear();
                }
                Err(e) if e.error_len().is_some() => {
                    self.bad_utf8 = Some(self.consumed + self.buf.len() as u64);
                    return;
                }
                Err(_) => {}
            }
        }
        match std::str::from_utf8(input) {
            Ok(text) => self.buf.push_str(text),
            Err(e) => {
                let (valid, rest) = input.split_at(e.valid_up_to());
                if let Ok(text) = std::str::from_utf8(valid) {
                    self.buf.push_str(text);
                }
                if e.error_len().is_some() {
                    self.bad_utf8 = Some(self.consumed + self.buf.len() as u64);
                } else {
                    self.pending.extend_from_slice(rest);
                }
            }
        }
    }

    /// Marks the end of the body.
    pub(crate) fn finish(&mut self) {
        self.eof = true;
        self.want = 0;
    }

    /// Elements parsed so far.
    pub(crate) fn elements(&self) -> u64 {
        self.summary.elements
    }

    /// Bytes received so far.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    fn at(&self, i: usize) -> u64 {
        self.consumed + (self.pos + i) as u64
    }

    fn fail(&self, e: PErr) -> DocError {
        match e {
            PErr::Syntax(expected, i) => DocError::Syntax {
                expected,
                offset: self.at(i),
            },
            PErr::Incomplete => DocError::Truncated {
                received: self.received(),
                elements: self.summary.elements,
            },
        }
    }

    /// Advances to the next element (converted by `element`) or the end of the document.
    ///
    /// `element` parses one element from the reader and converts it; it must not have side
    /// effects, since it is called again on the same bytes after [`PErr::Incomplete`].
    pub(crate) fn next<T>(
        &mut self,
        mut element: impl FnMut(&mut Reader<'_>, u64) -> R<Result<T, RowError>>,
    ) -> Result<Step<T>, DocError> {
        loop {
            let avail = self.buf.len() - self.pos;
            if !self.eof && avail < self.want {
                return Ok(Step::NeedMore);
            }
            // Everything received is in `buf` unless a character is pending or the body is
            // not UTF-8 from some point on.
            let complete = self.eof && self.pending.is_empty() && self.bad_utf8.is_none();
            // The reader borrows the buffer while `step` updates the state: move the buffer
            // out for the duration (a move of three words, not a copy).
            let buf = std::mem::take(&mut self.buf);
            let mut r = Reader::new(buf.get(self.pos..).unwrap_or_default(), complete);
            let step = self.step(&mut r, &mut element);
            let advanced = r.i;
            self.buf = buf;
            match step {
                Ok(Some(item)) => {
                    self.pos += advanced;
                    self.want = 0;
                    return Ok(item);
                }
                Ok(None) => {
                    self.pos += advanced;
                    self.want = 0;
                }
                Err(PErr::Incomplete) => {
                    if let Some(offset) = self.bad_utf8 {
                        return Err(DocError::Encoding { offset });
                    }
                    if self.eof {
                        if !self.pending.is_empty() {
                            return Err(DocError::Encoding {
                                offset: self.consumed + self.buf.len() as u64,
                            });
                        }
                        return Err(self.fail(PErr::Incomplete));
                    }
                    if avail > MAX_ELEMENT_BYTES {
                        return Err(DocError::TooLarge { offset: self.at(0) });
                    }
                    // Retry once the partial token has (roughly) doubled.
                    self.want = (avail * 2).max(avail + 256);
                    return Ok(Step::NeedMore);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// One state transition. `Ok(None)`: progress without an item (commit `r.i` and go on).
    fn step<T>(
        &mut self,
        r: &mut Reader<'_>,
        element: &mut impl FnMut(&mut Reader<'_>, u64) -> R<Result<T, RowError>>,
    ) -> R<Option<Step<T>>> {
        r.ws();
        match self.state {
            State::Start => match r.peek()? {
                b'{' => {
                    r.i += 1;
                    self.state = State::FirstKey;
                }
                b'[' if self.bare_array => {
                    r.i += 1;
                    self.summary.saw_array = true;
                    self.state = State::FirstElement { bare: true };
                }
                _ => {
                    return Err(PErr::Syntax(
                        if self.bare_array {
                            "a JSON object or array"
                        } else {
                            "a JSON object"
                        },
                        r.i,
                    ))
                }
            },
            State::FirstKey => {
                if r.peek()? == b'}' {
                    r.i += 1;
                    self.state = State::Done;
                } else {
                    self.state = State::Member;
                }
            }
            State::NextKey => match r.peek()? {
                b',' => {
                    r.i += 1;
                    self.state = State::Member;
                }
                b'}' => {
                    r.i += 1;
                    self.state = State::Done;
                }
                _ => return Err(PErr::Syntax("`,` or `}`", r.i)),
            },
            State::Member => {
                if r.peek()? != b'"' {
                    return Err(PErr::Syntax("a key", r.i));
                }
                let key = r.string()?;
                r.eat(b':', "`:`")?;
                r.ws();
                if key == self.array_key {
                    if r.peek()? != b'[' {
                        return Err(PErr::Syntax("an array of records", r.i));
                    }
                    r.i += 1;
                    self.summary.saw_array = true;
                    self.state = State::FirstElement { bare: false };
                } else if key == "error" {
                    let start = r.i;
                    let v = r.value()?;
                    self.summary.error = match v {
                        Val::Null | Val::Bool(false) => None,
                        Val::Str(s) => Some(s.to_owned()),
                        Val::Esc(i) => r.escaped.get(i).cloned(),
                        _ => Some(r.slice(start, r.i)?.to_owned()),
                    };
                    self.state = State::NextKey;
                } else if key == "meta" {
                    let mut total = None;
                    if r.peek()? == b'{' {
                        r.object(|r, k| {
                            let v = r.value()?;
                            if let ("total_registros" | "total_articulos", Val::Num(n, _)) = (k, v)
                            {
                                total = num_text(n).parse().ok();
                            }
                            Ok(())
                        })?;
                    } else {
                        r.skip(0)?;
                    }
                    self.summary.meta_total = total;
                    self.state = State::NextKey;
                } else {
                    r.skip(0)?;
                    self.state = State::NextKey;
                }
            }
            State::FirstElement { bare } => {
                if r.peek()? == b']' {
                    r.i += 1;
                    self.state = if bare { State::Done } else { State::NextKey };
                } else {
                    self.state = State::Element { bare };
                }
            }
            State::NextElement { bare } => match r.peek()? {
                b',' => {
                    r.i += 1;
                    self.state = State::Element { bare };
                }
                b']' => {
                    r.i += 1;
                    self.state = if bare { State::Done } else { State::NextKey };
                }
                _ => return Err(PErr::Syntax("`,` or `]`", r.i)),
            },
            State::Element { bare } => {
                if r.peek()? != b'{' {
                    return Err(PErr::Syntax("a record (`{`)", r.i));
                }
                let index = self.summary.elements + 1;
                let item = element(r, index)?;
                self.summary.elements = index;
                self.state = State::NextElement { bare };
                return Ok(Some(Step::Item(item)));
            }
            State::Done => {
                if r.i < r.b.len() {
                    return Err(PErr::Syntax("the end of the body", r.i));
                }
                if !r.eof {
                    return Err(PErr::Incomplete);
                }
                return Ok(Some(Step::End(self.summary.clone())));
            }
        }
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------------
// Row-level conversion.
// ---------------------------------------------------------------------------------------------

/// Why one element could not become a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowError {
    /// 1-based position of the element in the array.
    pub element: u64,
    /// The KLK identity of the line, when it could be read (`numero_factura/linea` or `Codigo`).
    pub ident: Option<String>,
    /// What is wrong.
    pub problem: RowProblem,
}

/// What is wrong with a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowProblem {
    /// A required field is absent, null or empty (`missing_fields`).
    Missing(&'static str),
    /// A field has the wrong type or an unparseable value (`data_format`).
    Invalid {
        /// The KLK field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}", self.element)?;
        if let Some(id) = &self.ident {
            write!(f, " ({id})")?;
        }
        match &self.problem {
            RowProblem::Missing(field) => {
                write!(f, ": required field `{field}` is missing or null")
            }
            RowProblem::Invalid { field, reason } => write!(f, ": field `{field}` {reason}"),
        }
    }
}

type Conv<T> = Result<T, RowProblem>;

fn invalid(field: &'static str, reason: impl Into<String>) -> RowProblem {
    RowProblem::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Declares the keys of one KLK object, in the order KLK sends them: `NAMES` for the reader and
/// one index constant per key (named like the key) for the conversion.
macro_rules! klk_object {
    ($(#[$doc:meta])* mod $m:ident { $($key:ident),* $(,)? }) => {
        $(#[$doc])*
        #[allow(non_upper_case_globals, dead_code)]
        mod $m {
            /// The keys, in KLK's order.
            pub(super) const NAMES: &[&str] = &[$(stringify!($key)),*];
            /// The keys as compact JSON spells them, quoted and followed by the colon.
            const QUOTED: &[&str] = &[$(concat!("\"", stringify!($key), "\":")),*];
            /// Both, for the reader.
            pub(super) const KEYS: super::Keys = super::Keys { names: NAMES, quoted: QUOTED };
            /// How many.
            pub(super) const N: usize = NAMES.len();
            klk_object!(@index 0usize; $($key),*);
        }
    };
    (@index $i:expr; $first:ident $(, $rest:ident)*) => {
        pub(super) const $first: usize = $i;
        klk_object!(@index $i + 1usize; $($rest),*);
    };
    (@index $i:expr;) => {};
}

/// The keys of one KLK object, in KLK's order.
pub(crate) struct Keys {
    /// The keys.
    names: &'static [&'static str],
    /// Each key as `"key":`, the bytes compact JSON puts before its value.
    quoted: &'static [&'static str],
}

/// The values of one object as read, with the strings its reader unescaped.
struct Obj<'a, 'e, const N: usize> {
    vals: &'e [Val<'a>; N],
    names: &'static [&'static str],
    escaped: &'e [String],
    /// The [`TextPool`] slot of the object's first field (fields of the objects of one record
    /// get distinct slots).
    slots: usize,
}

impl<'a, const N: usize> Obj<'a, '_, N> {
    fn name(&self, i: usize) -> &'static str {
        self.names.get(i).copied().unwrap_or("?")
    }

    fn wrong_type(&self, i: usize, want: &str) -> RowProblem {
        invalid(
            self.name(i),
            format!("should be {want}, found {}", self.vals[i].type_name()),
        )
    }

    /// The string at `i`, if it is one; `""` counts as absent.
    fn str(&self, i: usize) -> Conv<Option<&str>> {
        let s = match self.vals[i] {
            Val::Absent | Val::Null => return Ok(None),
            Val::Str(s) => s,
            Val::Esc(k) => self.escaped.get(k).map_or("", String::as_str),
            _ => return Err(self.wrong_type(i, "a string")),
        };
        Ok((!s.is_empty()).then_some(s))
    }

    /// Optional text of the inventory endpoint, where `"N/A"` stands for null as well.
    fn str_na(&self, i: usize) -> Conv<Option<&str>> {
        Ok(self.str(i)?.filter(|s| *s != "N/A"))
    }

    /// An id some servers send as a number (`Categoria`): kept as its text.
    fn id_str(&self, i: usize) -> Conv<Option<&str>> {
        match self.vals[i] {
            Val::Num(n, _) => Ok(Some(num_text(n))),
            _ => self.str_na(i),
        }
    }

    fn required_str(&self, i: usize) -> Conv<&str> {
        self.str(i)?.ok_or(RowProblem::Missing(self.name(i)))
    }

    /// Optional text shared through `pool` (texts that repeat across records).
    fn text(&self, i: usize, pool: &mut TextPool) -> Conv<Option<Arc<str>>> {
        Ok(self.str(i)?.map(|s| pool.get_at(self.slots + i, s)))
    }

    /// Optional text of its own (texts that rarely repeat: serial numbers, IMEIs).
    fn own_text(&self, i: usize) -> Conv<Option<Arc<str>>> {
        Ok(self.str(i)?.map(Arc::from))
    }

    fn decimal(&self, i: usize) -> Conv<Option<Decimal>> {
        match self.vals[i] {
            Val::Absent | Val::Null => Ok(None),
            Val::Num(n, fast) => fast.decimal(n).map(Some).ok_or_else(|| {
                invalid(
                    self.name(i),
                    format!("`{}` does not fit an exact decimal", num_text(n)),
                )
            }),
            _ => Err(self.wrong_type(i, "a number")),
        }
    }

    fn boolean(&self, i: usize) -> Conv<Option<bool>> {
        match self.vals[i] {
            Val::Absent | Val::Null => Ok(None),
            Val::Bool(b) => Ok(Some(b)),
            _ => Err(self.wrong_type(i, "a boolean")),
        }
    }

    fn integer(&self, i: usize) -> Conv<i32> {
        match self.vals[i] {
            Val::Absent | Val::Null => Err(RowProblem::Missing(self.name(i))),
            Val::Num(n, fast) => fast
                .decimal(n)
                .filter(|d| d.fract().is_zero())
                .and_then(|d| i32::try_from(d.trunc().mantissa()).ok())
                .ok_or_else(|| {
                    invalid(
                        self.name(i),
                        format!("`{}` is not a line number", num_text(n)),
                    )
                }),
            _ => Err(self.wrong_type(i, "a number")),
        }
    }
}

/// A number token's text (the reader only accepts ASCII digits, signs, points and exponents).
fn num_text(token: &[u8]) -> &str {
    std::str::from_utf8(token).unwrap_or_default()
}

/// Parses a JSON number's text exactly. Up to 18 significant digits without exponent (every
/// KLK number) take a fast path with no allocation; the rest go through `rust_decimal`.
#[inline]
pub(crate) fn parse_decimal(tok: &str) -> Option<Decimal> {
    let b = tok.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    // At most 18 digits and a point: the mantissa fits a u64 (< 10^18) and the scale is valid.
    if digits.is_empty() || digits.len() > 19 {
        return slow_decimal(tok);
    }
    let mut mantissa: u64 = 0;
    let mut point: Option<usize> = None;
    for (k, &c) in digits.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            mantissa = mantissa * 10 + u64::from(d);
        } else if c == b'.' && point.is_none() {
            point = Some(k);
        } else {
            return slow_decimal(tok);
        }
    }
    let scale = point.map_or(0, |p| digits.len() - p - 1);
    if point.is_none() && digits.len() > 18 || scale == 0 && point.is_some() {
        return slow_decimal(tok);
    }
    // `scale` ≤ 18 here, within `Decimal::MAX_SCALE`.
    Some(Decimal::from_parts(
        mantissa as u32,
        (mantissa >> 32) as u32,
        0,
        neg,
        scale as u32,
    ))
}

fn slow_decimal(tok: &str) -> Option<Decimal> {
    if tok.contains(['e', 'E']) {
        Decimal::from_scientific(tok).ok()
    } else {
        Decimal::from_str_exact(tok).ok()
    }
}

fn two(b: &[u8], at: usize) -> Option<u32> {
    let hi = b.get(at)?.checked_sub(b'0').filter(|d| *d <= 9)?;
    let lo = b.get(at + 1)?.checked_sub(b'0').filter(|d| *d <= 9)?;
    Some(u32::from(hi) * 10 + u32::from(lo))
}

/// `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = two(b, 0)? * 100 + two(b, 2)?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, two(b, 5)?, two(b, 8)?)
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fffffff`: microseconds are kept, finer digits truncated
/// (KLK sends 7 fractional digits; the destinations store microseconds).
pub(crate) fn parse_time(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let h = two(b, 0)?;
    let m = two(b, 3)?;
    if b.len() == 5 {
        return NaiveTime::from_hms_opt(h, m, 0);
    }
    if b.len() < 8 || b[5] != b':' {
        return None;
    }
    let sec = two(b, 6)?;
    let mut micros = 0;
    if b.len() > 8 {
        let frac = &b[8..];
        if frac[0] != b'.' || frac.len() == 1 || !frac[1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let digits = &frac[1..];
        for k in 0..6 {
            micros = micros * 10 + digits.get(k).map_or(0, |d| u32::from(d - b'0'));
        }
    }
    NaiveTime::from_hms_micro_opt(h, m, sec, micros)
}

/// `YYYY-MM-DDTHH:MM:SS` (KLK's `fecha_hora_completa`).
fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let (d, t) = s.split_once(['T', ' '])?;
    Some(parse_date(d)?.and_time(parse_time(t)?))
}

// ---------------------------------------------------------------------------------------------
// Sales.
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Inventory.
// ---------------------------------------------------------------------------------------------

klk_object! {
    /// An `articulos` element.
    mod articulo {
        NombreProducto, Codigo, Barra, Categoria, Descripcion, Subcategoria,
        Descripcion_categoria, Marca, Precio, Iva, stock,
    }
}

/// Where an inventory snapshot is attributed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SnapshotScope {
    /// The store.
    pub store: StoreId,
    /// The store's warehouse (the one requested).
    pub warehouse: Arc<str>,
    /// When the snapshot was taken.
    pub snapshot_at: DateTime<Utc>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// Parses `body` fed in the given chunks; returns the lines, the row errors and the summary
    /// or document error.
    fn run_sales(chunks: &[&[u8]]) -> (Vec<SaleLine>, Vec<RowError>, Result<DocSummary, DocError>) {
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
                r#"{"numero_factura":"B","linea":1,"fecha":"2025-11-17","hora":"12:20:00"}"#
                    .to_owned(),
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

    #[test]
    fn decimals_keep_their_text() {
        for s in [
            "0",
            "-1",
            "230.35",
            "0.974138",
            "-0.03",
            "36.856",
            "999999999999999999",
        ] {
            assert_eq!(parse_decimal(s), Some(dec(s)), "{s}");
            assert_eq!(parse_decimal(s).unwrap().to_string(), s);
        }
        assert_eq!(parse_decimal("1.5E3"), Some(dec("1500")));
        // Past 18 digits the slow path keeps every digit too.
        for s in [
            "1234567890123456789",
            "-12345678901234567.89",
            "0.0000000000000000001",
        ] {
            assert_eq!(parse_decimal(s), Some(dec(s)), "{s}");
        }
        assert_eq!(parse_decimal("1e400"), None);
    }

    #[test]
    fn numbers_read_by_the_reader_are_exact() {
        for s in [
            "0",
            "-0",
            "7",
            "-0.03",
            "0.974138",
            "236.46",
            "999999999999999999",
            "1234567890123456789",
            "-12345678901234567.89",
            "1e2",
            "-2.5E-3",
            "10.50",
        ] {
            let mut r = Reader::new(s, true);
            let (text, n) = r.number().unwrap();
            assert_eq!(text, s.as_bytes());
            assert_eq!(
                n.decimal(text),
                Some(
                    dec(s.trim_start_matches('-'))
                        * if s.starts_with('-') {
                            -Decimal::ONE
                        } else {
                            Decimal::ONE
                        }
                ),
                "{s}"
            );
            assert_eq!(
                n.decimal(text).unwrap().to_string(),
                dec(s).to_string(),
                "{s}"
            );
        }
    }

    #[test]
    fn times() {
        let t = parse_time("12:19:56.8966141").unwrap();
        assert_eq!(t.to_string(), "12:19:56.896614");
        assert_eq!(parse_time("06:05").unwrap().to_string(), "06:05:00");
        assert_eq!(parse_time("06:05:07").unwrap().to_string(), "06:05:07");
        assert_eq!(
            parse_time("06:05:07.5").unwrap().to_string(),
            "06:05:07.500"
        );
        for bad in ["6:05", "24:00:00", "12:00:00.", "12:00:00.1x", "12-00"] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
        assert!(parse_date("2025-02-30").is_none());
        assert!(parse_date("2025-2-3").is_none());
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
}
