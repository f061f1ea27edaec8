//! The reader: JSON tokens straight from a buffer that may end anywhere (answering
//! [`PErr::Incomplete`] there), scalar values borrowed from it, the keys of KLK's objects matched
//! in the order KLK sends them, and a number's exact value from its text.

use std::borrow::Cow;

use rust_decimal::Decimal;

use crate::sources::texts::same_text;

/// Nesting deeper than this inside one element is refused (it is not KLK data).
const MAX_DEPTH: usize = 64;

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PErr {
    /// The input ended inside a token: more bytes are needed.
    Incomplete,
    /// Not JSON (what was expected, byte offset in the input).
    Syntax(&'static str, usize),
}

/// What the reader's steps return.
pub(super) type R<T> = Result<T, PErr>;

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
    pub(super) fn type_name(&self) -> &'static str {
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
    pub(super) fn decimal(self, text: &[u8]) -> Option<Decimal> {
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
    pub(super) b: &'a [u8],
    /// The position: everything before it is read.
    pub(super) i: usize,
    /// The input is the whole rest of the body: a number may end at its end.
    pub(super) eof: bool,
    /// Strings that had escapes, unescaped ([`Val::Esc`] indexes here).
    pub(super) escaped: Vec<String>,
}

impl<'a> Reader<'a> {
    #[inline]
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
    pub(super) fn ws(&mut self) {
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
    pub(super) fn peek(&self) -> R<u8> {
        self.b.get(self.i).copied().ok_or(PErr::Incomplete)
    }

    #[inline]
    pub(super) fn eat(&mut self, c: u8, what: &'static str) -> R<()> {
        self.ws();
        if self.peek()? == c {
            self.i += 1;
            Ok(())
        } else {
            Err(PErr::Syntax(what, self.i))
        }
    }

    /// Where an object's key should start: fails unless a string does.
    #[inline(always)]
    pub(super) fn at_key(&mut self) -> R<()> {
        self.ws();
        if self.peek()? != b'"' {
            return Err(PErr::Syntax("a key", self.i));
        }
        Ok(())
    }

    /// The members of an object (`close` is `}`) or the elements of an array (`]`) whose
    /// opening byte was just read: `each` reads one (an object's key too), then a `,` means
    /// another follows and `close` ends them.
    #[inline(always)]
    fn items(&mut self, close: u8, mut each: impl FnMut(&mut Self) -> R<()>) -> R<()> {
        if self.closes(close)? {
            return Ok(());
        }
        loop {
            each(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.separator_expected(close)),
            }
        }
    }

    /// Right after an object's `{` or an array's `[`: whether its `close` follows at once (and
    /// is consumed).
    #[inline(always)]
    pub(super) fn closes(&mut self, close: u8) -> R<bool> {
        self.ws();
        if self.peek()? == close {
            self.i += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// After a member or a record at the document level, which the document's state machine
    /// reads one step at a time rather than through [`items`](Self::items): `false` for the `,`
    /// before another, `true` for the `close` that ends them; either is consumed.
    pub(super) fn next_or_close(&mut self, close: u8) -> R<bool> {
        self.ws();
        match self.peek()? {
            b',' => {
                self.i += 1;
                Ok(false)
            }
            c if c == close => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(self.separator_expected(close)),
        }
    }

    /// What was expected where neither `,` nor `close` stands.
    #[cold]
    fn separator_expected(&self, close: u8) -> PErr {
        let expected = if close == b'}' {
            "`,` or `}`"
        } else {
            "`,` or `]`"
        };
        PErr::Syntax(expected, self.i)
    }

    /// `&s[from..to]`; both ends sit next to ASCII delimiters, so they are char boundaries.
    #[inline]
    pub(super) fn slice(&self, from: usize, to: usize) -> R<&'a str> {
        self.s.get(from..to).ok_or(PErr::Syntax("a string", from))
    }

    /// A string starting at the current `"`: borrowed when it has no escapes.
    #[inline(always)]
    pub(super) fn string(&mut self) -> R<Cow<'a, str>> {
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
                self.items(b'}', |r| {
                    r.at_key()?;
                    r.skip_string()?;
                    r.eat(b':', "`:`")?;
                    r.skip(depth + 1)
                })
            }
            b'[' => {
                self.i += 1;
                self.items(b']', |r| r.skip(depth + 1))
            }
            b'-' | b'0'..=b'9' => self.number().map(|_| ()),
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            _ => Err(PErr::Syntax("a value", self.i)),
        }
    }

    /// Walks an object's members, handing each key to `member`, which must consume the value.
    pub(super) fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> R<()>) -> R<()> {
        self.eat(b'{', "`{`")?;
        self.items(b'}', |r| {
            r.at_key()?;
            let key = r.string()?;
            r.eat(b':', "`:`")?;
            member(r, &key)
        })
    }

    /// Walks an object whose keys are mostly `keys`, handing `member` the index of each key in
    /// `keys.names` (`None` for a key not in it). KLK sends keys in a fixed order, so the key
    /// after the previous one is tried first, and in compact JSON a key usually costs one
    /// comparison of its quoted bytes and colon.
    #[inline]
    pub(super) fn fields(
        &mut self,
        keys: &'static Keys,
        mut member: impl FnMut(&mut Self, Option<usize>) -> R<()>,
    ) -> R<()> {
        self.eat(b'{', "`{`")?;
        let mut next = 0;
        self.items(b'}', |r| {
            r.ws();
            // Fast path: the bytes are exactly the expected `"key":` (KLK's keys have no
            // escapes, so this is the key and its colon).
            let fast = keys.quoted.get(next).is_some_and(|q| {
                r.b.get(r.i..r.i + q.len())
                    .is_some_and(|k| same_text(k, q.as_bytes()))
            });
            let index = if fast {
                r.i += keys.quoted[next].len();
                Some(next)
            } else {
                r.at_key()?;
                let key = r.string()?;
                r.eat(b':', "`:`")?;
                keys.names.iter().position(|n| *n == key)
            };
            if let Some(i) = index {
                next = i + 1;
            }
            member(r, index)
        })
    }

    /// Reads an object of `keys` into `slots` (unknown keys are skipped).
    #[inline]
    pub(super) fn record(&mut self, keys: &'static Keys, slots: &mut [Val<'a>]) -> R<()> {
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
    #[inline]
    pub(super) fn one_element(&mut self, keys: &'static Keys, slots: &mut [Val<'a>]) -> R<usize> {
        self.ws();
        match self.peek()? {
            b'{' => self.record(keys, slots).map(|_| 1),
            b'[' => {
                self.i += 1;
                let mut n = 0;
                self.items(b']', |r| {
                    r.ws();
                    if n == 0 && r.peek()? == b'{' {
                        r.record(keys, slots)?;
                    } else {
                        // Further elements, `[null]` or a stray scalar: counted, reported by
                        // the caller.
                        r.skip(1)?;
                    }
                    n += 1;
                    Ok(())
                })?;
                Ok(n)
            }
            b'n' => self.literal(b"null").map(|_| 0),
            _ => self.skip(0).map(|_| usize::MAX),
        }
    }
}

/// The keys of one KLK object, in KLK's order.
pub(crate) struct Keys {
    /// The keys.
    pub(super) names: &'static [&'static str],
    /// Each key as `"key":`, the bytes compact JSON puts before its value.
    pub(super) quoted: &'static [&'static str],
}

/// A number token's text (the reader only accepts ASCII digits, signs, points and exponents).
#[inline]
pub(super) fn num_text(token: &[u8]) -> &str {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_support::dec;

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
}
