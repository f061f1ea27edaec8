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
//! We do not use `serde_json` for elements for two reasons: money must be parsed exactly from
//! the number's text (enabling serde_json's `arbitrary_precision` feature would change
//! `serde_json::Value` for the whole workspace), and a single-pass reader that borrows strings
//! from the buffer is what reaches the throughput goal (see `benches/klk_extract.rs`).
//!
//! # What is an error
//! * Bytes that are not JSON (or a document of the wrong shape) → [`DocError::Syntax`], and a body
//!   that ends inside the document → [`DocError::Truncated`]: both `data_format`.
//! * Text that is not UTF-8 → [`DocError::Encoding`] (`encoding_error`).
//! * A syntactically fine element that cannot become a record (a required field missing or
//!   null, a value of the wrong type, an unparseable date) → a [`RowError`] *for that element*;
//!   parsing goes on so the caller can count every broken row.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;

use crate::model::{local_to_utc, InventoryItem, SaleLine, StoreId, Window};

/// Nesting deeper than this inside one element is refused (it is not KLK data).
const MAX_DEPTH: usize = 64;
/// A single element (or skipped value) larger than this is refused, so a body that never closes
/// its element cannot make the buffer grow without bound. KLK lines are ~1.5 KB.
pub(crate) const MAX_ELEMENT_BYTES: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// The reader: JSON tokens from a byte slice that may end anywhere.
// ---------------------------------------------------------------------------------------------

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PErr {
    /// The slice ended inside a token: more bytes are needed.
    Incomplete,
    /// Not JSON (what was expected, byte offset in the slice).
    Syntax(&'static str, usize),
    /// A string is not valid UTF-8 (byte offset in the slice).
    Utf8(usize),
}

type R<T> = Result<T, PErr>;

/// A scalar JSON value as read from the buffer; objects and arrays are skipped and reported as
/// [`Val::Nested`]. `Absent` is the default for fields not present in the element.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Val<'a> {
    /// The key was not in the element.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as its exact text.
    Num(&'a str),
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// An object or array.
    Nested,
}

impl Val<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Absent => "nothing",
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Num(_) => "a number",
            Val::Str(_) => "a string",
            Val::Nested => "an object or array",
        }
    }
}

/// Bytes that end the fast scan of a string's content: the quote, the backslash and the control
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

pub(crate) struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    /// The slice is the whole rest of the body: a number may end at its end.
    eof: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8], eof: bool) -> Self {
        Self { b, i: 0, eof }
    }

    #[inline]
    fn ws(&mut self) {
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

    /// A string starting at the current `"`, unescaped; borrowed when it has no escapes.
    fn string(&mut self) -> R<Cow<'a, str>> {
        let b = self.b;
        let start = self.i + 1;
        let mut j = start;
        while j < b.len() && !STRING_STOP[b[j] as usize] {
            j += 1;
        }
        match b.get(j) {
            None => Err(PErr::Incomplete),
            Some(b'"') => {
                self.i = j + 1;
                std::str::from_utf8(&b[start..j])
                    .map(Cow::Borrowed)
                    .map_err(|e| PErr::Utf8(start + e.valid_up_to()))
            }
            Some(b'\\') => self.escaped_string(start, j),
            Some(_) => Err(PErr::Syntax("a control character inside a string", j)),
        }
    }

    /// The slow path of [`string`](Self::string): `j` is the first backslash.
    fn escaped_string(&mut self, start: usize, mut j: usize) -> R<Cow<'a, str>> {
        let b = self.b;
        let mut out: Vec<u8> = Vec::with_capacity(j - start + 16);
        out.extend_from_slice(&b[start..j]);
        loop {
            match b.get(j) {
                None => return Err(PErr::Incomplete),
                Some(b'"') => {
                    self.i = j + 1;
                    return String::from_utf8(out).map(Cow::Owned).map_err(|e| {
                        // Report an offset near the string; exact enough for a message.
                        PErr::Utf8(start + e.utf8_error().valid_up_to())
                    });
                }
                Some(b'\\') => {
                    let esc = *b.get(j + 1).ok_or(PErr::Incomplete)?;
                    j += 2;
                    let simple = match esc {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
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
                    let ch =
                        char::from_u32(code).ok_or(PErr::Syntax("a valid unicode escape", j))?;
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                Some(&c) if c < 0x20 => {
                    return Err(PErr::Syntax("a control character inside a string", j))
                }
                Some(&c) => {
                    out.push(c);
                    j += 1;
                }
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

    /// Skips a string without unescaping or validating it.
    fn skip_string(&mut self) -> R<()> {
        let b = self.b;
        let mut j = self.i + 1;
        loop {
            while j < b.len() && !STRING_STOP[b[j] as usize] {
                j += 1;
            }
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

    /// A number token, validated against JSON's grammar.
    fn number(&mut self) -> R<&'a str> {
        let b = self.b;
        let start = self.i;
        let mut j = start;
        let digits = |j: &mut usize| {
            let s = *j;
            while *j < b.len() && b[*j].is_ascii_digit() {
                *j += 1;
            }
            *j - s
        };
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        match b.get(j) {
            None => return Err(PErr::Incomplete),
            Some(b'0') => j += 1,
            Some(b'1'..=b'9') => {
                digits(&mut j);
            }
            Some(_) => return Err(PErr::Syntax("a digit", j)),
        }
        if b.get(j) == Some(&b'.') {
            j += 1;
            if digits(&mut j) == 0 {
                return Err(if j >= b.len() {
                    PErr::Incomplete
                } else {
                    PErr::Syntax("a digit after the decimal point", j)
                });
            }
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if digits(&mut j) == 0 {
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
        // Only ASCII digits, signs, '.' and 'e' were accepted.
        std::str::from_utf8(&b[start..j]).map_err(|_| PErr::Syntax("a number", start))
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
    pub(crate) fn value(&mut self) -> R<Val<'a>> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(Val::Str),
            b'-' | b'0'..=b'9' => self.number().map(Val::Num),
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
            _ => self.value().map(|_| ()),
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

    /// KLK's one-element arrays (`producto`, `cantidad`, `financiero`). A bare object is
    /// accepted too; `null` and `[]` leave the fields absent. Returns how many objects there
    /// were (more than one is a row error: we would not know which to keep).
    fn one_element(&mut self, mut member: impl FnMut(&mut Self, &str) -> R<()>) -> R<usize> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(&mut member).map(|_| 1),
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
                    if self.peek()? == b'{' {
                        if n == 0 {
                            self.object(&mut member)?;
                        } else {
                            self.skip(1)?;
                        }
                    } else {
                        // `[null]` or a stray scalar: counted, reported by the caller.
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
    buf: Vec<u8>,
    pos: usize,
    /// Bytes drained from the front of `buf` so far (for offsets in messages).
    consumed: u64,
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
            buf: Vec::with_capacity(64 << 10),
            pos: 0,
            consumed: 0,
            eof: false,
            state: State::Start,
            want: 0,
            array_key,
            bare_array,
            summary: DocSummary::default(),
        }
    }

    /// Appends bytes received from the body.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        if self.pos > 0 {
            // Only the partial element (if any) moves; everything before it is done.
            self.buf.drain(..self.pos);
            self.consumed += self.pos as u64;
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
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
        self.consumed + self.buf.len() as u64
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
            PErr::Utf8(i) => DocError::Encoding { offset: self.at(i) },
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
            // The reader borrows the buffer while `step` updates the state: move the buffer
            // out for the duration (a move of three words, not a copy).
            let buf = std::mem::take(&mut self.buf);
            let mut r = Reader::new(&buf[self.pos..], self.eof);
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
                    if self.eof {
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
                        Val::Str(s) => Some(s.into_owned()),
                        _ => Some(String::from_utf8_lossy(&r.b[start..r.i]).into_owned()),
                    };
                    self.state = State::NextKey;
                } else if key == "meta" {
                    let mut total = None;
                    if r.peek()? == b'{' {
                        r.object(|r, k| {
                            let v = r.value()?;
                            if let ("total_registros" | "total_articulos", Val::Num(n)) = (k, v) {
                                total = n.parse().ok();
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

fn wrong_type(field: &'static str, want: &str, v: &Val<'_>) -> RowProblem {
    invalid(field, format!("should be {want}, found {}", v.type_name()))
}

/// Optional text: `""` (KLK's way of saying "none") and `null` become `None`.
fn text(v: Val<'_>, field: &'static str) -> Conv<Option<String>> {
    match v {
        Val::Absent | Val::Null => Ok(None),
        Val::Str(s) if s.is_empty() => Ok(None),
        Val::Str(s) => Ok(Some(s.into_owned())),
        other => Err(wrong_type(field, "a string", &other)),
    }
}

/// Like [`text`] without allocating.
fn as_str<'v>(v: &'v Val<'_>, field: &'static str) -> Conv<Option<&'v str>> {
    match v {
        Val::Absent | Val::Null => Ok(None),
        Val::Str(s) if s.is_empty() => Ok(None),
        Val::Str(s) => Ok(Some(s)),
        other => Err(wrong_type(field, "a string", other)),
    }
}

/// Optional text of the inventory endpoint, where `"N/A"` stands for null as well.
fn text_na(v: Val<'_>, field: &'static str) -> Conv<Option<String>> {
    Ok(text(v, field)?.filter(|s| s != "N/A"))
}

/// An id that some servers send as a number (`Categoria`): kept as its text.
fn id_text(v: Val<'_>, field: &'static str) -> Conv<Option<String>> {
    match v {
        Val::Num(n) => Ok(Some(n.to_owned())),
        other => text_na(other, field),
    }
}

fn required_text(v: Val<'_>, field: &'static str) -> Conv<String> {
    text(v, field)?.ok_or(RowProblem::Missing(field))
}

fn decimal(v: Val<'_>, field: &'static str) -> Conv<Option<Decimal>> {
    match v {
        Val::Absent | Val::Null => Ok(None),
        Val::Num(n) => parse_decimal(n)
            .map(Some)
            .ok_or_else(|| invalid(field, format!("`{n}` does not fit an exact decimal"))),
        other => Err(wrong_type(field, "a number", &other)),
    }
}

fn boolean(v: Val<'_>, field: &'static str) -> Conv<Option<bool>> {
    match v {
        Val::Absent | Val::Null => Ok(None),
        Val::Bool(b) => Ok(Some(b)),
        other => Err(wrong_type(field, "a boolean", &other)),
    }
}

/// Parses a JSON number's text exactly. Up to 18 significant digits without exponent (every
/// KLK number) take a fast path with no allocation; the rest go through `rust_decimal`.
pub(crate) fn parse_decimal(tok: &str) -> Option<Decimal> {
    let b = tok.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut scale: u32 = 0;
    let mut seen_point = false;
    let mut significant = 0;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                significant += 1;
                if seen_point {
                    scale += 1;
                }
                if significant > 18 {
                    return slow_decimal(tok);
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return slow_decimal(tok),
        }
    }
    if significant == 0 {
        return None;
    }
    let m = i128::from(mantissa);
    Some(Decimal::from_i128_with_scale(
        if neg { -m } else { m },
        scale,
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

/// One `ventas` element as read from the buffer, before conversion.
#[derive(Default)]
struct RawSale<'a> {
    numero_factura: Val<'a>,
    fecha: Val<'a>,
    hora: Val<'a>,
    fecha_hora_completa: Val<'a>,
    linea: Val<'a>,
    productos: usize,
    cantidades: usize,
    financieros: usize,
    // producto
    codigo_producto: Val<'a>,
    descripcion_producto: Val<'a>,
    marca_producto: Val<'a>,
    modelo_producto: Val<'a>,
    categoria_producto: Val<'a>,
    grupo_articulo: Val<'a>,
    subgrupo_producto: Val<'a>,
    categoria_nombre: Val<'a>,
    codigo_barras: Val<'a>,
    serial: Val<'a>,
    imei: Val<'a>,
    cuadrante_producto: Val<'a>,
    // cantidad
    codigo_almacen: Val<'a>,
    nombre_almacen: Val<'a>,
    cantidad_vendida: Val<'a>,
    peso_unitario: Val<'a>,
    peso_bruto: Val<'a>,
    volumen_unitario: Val<'a>,
    unidad_medida_venta: Val<'a>,
    factor_unidad_medida: Val<'a>,
    total_cantidad_por_unidad_medida: Val<'a>,
    peso_calculado: Val<'a>,
    // financiero
    costo_unitario_bs: Val<'a>,
    costo_unitario_usd: Val<'a>,
    precio_unitario_bs: Val<'a>,
    precio_unitario_usd: Val<'a>,
    impuesto_porcentaje: Val<'a>,
    impuesto_monto: Val<'a>,
    porcentaje_descuento: Val<'a>,
    monto_descuento: Val<'a>,
    porcentaje_descuento_fidelizacion: Val<'a>,
    monto_descuento_fidelizacion: Val<'a>,
    porcentaje_descuento_forma_pago: Val<'a>,
    monto_descuento_forma_pago: Val<'a>,
    venta_total_bs: Val<'a>,
    venta_total_usd: Val<'a>,
    costo_total_bs: Val<'a>,
    costo_total_usd: Val<'a>,
    utilidad_bruta_bs: Val<'a>,
    utilidad_bruta_usd: Val<'a>,
    // invoice
    total_factura: Val<'a>,
    tasa_usd: Val<'a>,
    es_no_fiscal: Val<'a>,
    tiene_promocion: Val<'a>,
    codigo_promocion: Val<'a>,
}

fn read_sale<'a>(r: &mut Reader<'a>) -> R<RawSale<'a>> {
    let mut s = RawSale::default();
    r.object(|r, key| {
        match key {
            "numero_factura" => s.numero_factura = r.value()?,
            "fecha" => s.fecha = r.value()?,
            "hora" => s.hora = r.value()?,
            "fecha_hora_completa" => s.fecha_hora_completa = r.value()?,
            "linea" => s.linea = r.value()?,
            "producto" => {
                s.productos = r.one_element(|r, k| {
                    let slot = match k {
                        "codigo_producto" => &mut s.codigo_producto,
                        "descripcion_producto" => &mut s.descripcion_producto,
                        "marca_producto" => &mut s.marca_producto,
                        "modelo_producto" => &mut s.modelo_producto,
                        "categoria_producto" => &mut s.categoria_producto,
                        "grupo_articulo" => &mut s.grupo_articulo,
                        "subgrupo_producto" => &mut s.subgrupo_producto,
                        "categoria_nombre" => &mut s.categoria_nombre,
                        "codigo_barras" => &mut s.codigo_barras,
                        "serial" => &mut s.serial,
                        "imei" => &mut s.imei,
                        "cuadrante_producto" => &mut s.cuadrante_producto,
                        _ => return r.skip(0),
                    };
                    *slot = r.value()?;
                    Ok(())
                })?
            }
            "cantidad" => {
                s.cantidades = r.one_element(|r, k| {
                    let slot = match k {
                        "codigo_almacen" => &mut s.codigo_almacen,
                        "nombre_almacen" => &mut s.nombre_almacen,
                        "cantidad_vendida" => &mut s.cantidad_vendida,
                        "peso_unitario" => &mut s.peso_unitario,
                        "peso_bruto" => &mut s.peso_bruto,
                        "volumen_unitario" => &mut s.volumen_unitario,
                        "unidad_medida_venta" => &mut s.unidad_medida_venta,
                        "factor_unidad_medida" => &mut s.factor_unidad_medida,
                        "total_cantidad_por_unidad_medida" => {
                            &mut s.total_cantidad_por_unidad_medida
                        }
                        "peso_calculado" => &mut s.peso_calculado,
                        _ => return r.skip(0),
                    };
                    *slot = r.value()?;
                    Ok(())
                })?
            }
            "financiero" => {
                s.financieros = r.one_element(|r, k| {
                    let slot = match k {
                        "costo_unitario_bs" => &mut s.costo_unitario_bs,
                        "costo_unitario_usd" => &mut s.costo_unitario_usd,
                        "precio_unitario_bs" => &mut s.precio_unitario_bs,
                        "precio_unitario_usd" => &mut s.precio_unitario_usd,
                        "impuesto_porcentaje" => &mut s.impuesto_porcentaje,
                        "impuesto_monto" => &mut s.impuesto_monto,
                        "porcentaje_descuento" => &mut s.porcentaje_descuento,
                        "monto_descuento" => &mut s.monto_descuento,
                        "porcentaje_descuento_fidelizacion" => {
                            &mut s.porcentaje_descuento_fidelizacion
                        }
                        "monto_descuento_fidelizacion" => &mut s.monto_descuento_fidelizacion,
                        "porcentaje_descuento_forma_pago" => &mut s.porcentaje_descuento_forma_pago,
                        "monto_descuento_forma_pago" => &mut s.monto_descuento_forma_pago,
                        "venta_total_bs" => &mut s.venta_total_bs,
                        "venta_total_usd" => &mut s.venta_total_usd,
                        "costo_total_bs" => &mut s.costo_total_bs,
                        "costo_total_usd" => &mut s.costo_total_usd,
                        "utilidad_bruta_bs" => &mut s.utilidad_bruta_bs,
                        "utilidad_bruta_usd" => &mut s.utilidad_bruta_usd,
                        _ => return r.skip(0),
                    };
                    *slot = r.value()?;
                    Ok(())
                })?
            }
            "total_factura" => s.total_factura = r.value()?,
            "tasa_usd" => s.tasa_usd = r.value()?,
            "es_no_fiscal" => s.es_no_fiscal = r.value()?,
            "tiene_promocion" => s.tiene_promocion = r.value()?,
            "codigo_promocion" => s.codigo_promocion = r.value()?,
            // Some servers put the quadrant beside the product instead of inside it.
            "cuadrante_producto" => s.cuadrante_producto = r.value()?,
            _ => r.skip(0)?,
        }
        Ok(())
    })?;
    Ok(s)
}

/// Converts one sales element; `store` is the store the line is attributed to. A line whose
/// time falls outside `window` is `None`: it belongs to another unit, and whatever else is wrong
/// with it is not this unit's business.
fn convert_sale(
    s: RawSale<'_>,
    store: &StoreId,
    window: Option<&Window>,
) -> Conv<Option<SaleLine>> {
    let local = sold_at_local(s.fecha, s.hora, s.fecha_hora_completa)?;
    if window.is_some_and(|w| !w.contains_local(local)) {
        return Ok(None);
    }
    for (n, field) in [
        (s.productos, "producto"),
        (s.cantidades, "cantidad"),
        (s.financieros, "financiero"),
    ] {
        if n > 1 {
            return Err(invalid(
                field,
                if n == usize::MAX {
                    "should be a one-element array of objects".to_owned()
                } else {
                    format!("should hold one object, found {n}")
                },
            ));
        }
    }
    let invoice_number = required_text(s.numero_factura, "numero_factura")?;
    let line_number = match s.linea {
        Val::Absent | Val::Null => return Err(RowProblem::Missing("linea")),
        Val::Num(n) => n
            .parse::<i32>()
            .ok()
            .or_else(|| {
                parse_decimal(n)
                    .filter(|d| d.fract().is_zero())
                    .and_then(|d| i32::try_from(d.mantissa() / 10i128.pow(d.scale())).ok())
            })
            .ok_or_else(|| invalid("linea", format!("`{n}` is not a line number")))?,
        other => return Err(wrong_type("linea", "a number", &other)),
    };
    let product_code = required_text(s.codigo_producto, "codigo_producto")?;
    Ok(Some(SaleLine {
        store_id: store.clone(),
        invoice_number,
        line_number,
        sold_at: local_to_utc(local),
        business_date: local.date(),
        product_code,
        description: text(s.descripcion_producto, "descripcion_producto")?,
        brand: text(s.marca_producto, "marca_producto")?,
        model: text(s.modelo_producto, "modelo_producto")?,
        category: text(s.categoria_producto, "categoria_producto")?,
        group_name: text(s.grupo_articulo, "grupo_articulo")?,
        subgroup: text(s.subgrupo_producto, "subgrupo_producto")?,
        category_name: text(s.categoria_nombre, "categoria_nombre")?,
        barcode: text(s.codigo_barras, "codigo_barras")?,
        serial: text(s.serial, "serial")?,
        imei: text(s.imei, "imei")?,
        quadrant: text(s.cuadrante_producto, "cuadrante_producto")?,
        warehouse_code: text(s.codigo_almacen, "codigo_almacen")?,
        warehouse_name: text(s.nombre_almacen, "nombre_almacen")?,
        quantity: decimal(s.cantidad_vendida, "cantidad_vendida")?,
        unit_weight: decimal(s.peso_unitario, "peso_unitario")?,
        gross_weight: decimal(s.peso_bruto, "peso_bruto")?,
        unit_volume: decimal(s.volumen_unitario, "volumen_unitario")?,
        sale_unit: text(s.unidad_medida_venta, "unidad_medida_venta")?,
        unit_factor: decimal(s.factor_unidad_medida, "factor_unidad_medida")?,
        total_unit_quantity: decimal(
            s.total_cantidad_por_unidad_medida,
            "total_cantidad_por_unidad_medida",
        )?,
        computed_weight: decimal(s.peso_calculado, "peso_calculado")?,
        unit_cost_bs: decimal(s.costo_unitario_bs, "costo_unitario_bs")?,
        unit_cost_usd: decimal(s.costo_unitario_usd, "costo_unitario_usd")?,
        unit_price_bs: decimal(s.precio_unitario_bs, "precio_unitario_bs")?,
        unit_price_usd: decimal(s.precio_unitario_usd, "precio_unitario_usd")?,
        tax_pct: decimal(s.impuesto_porcentaje, "impuesto_porcentaje")?,
        tax_amount: decimal(s.impuesto_monto, "impuesto_monto")?,
        discount_pct: decimal(s.porcentaje_descuento, "porcentaje_descuento")?,
        discount_amount: decimal(s.monto_descuento, "monto_descuento")?,
        loyalty_discount_pct: decimal(
            s.porcentaje_descuento_fidelizacion,
            "porcentaje_descuento_fidelizacion",
        )?,
        loyalty_discount_amount: decimal(
            s.monto_descuento_fidelizacion,
            "monto_descuento_fidelizacion",
        )?,
        payment_discount_pct: decimal(
            s.porcentaje_descuento_forma_pago,
            "porcentaje_descuento_forma_pago",
        )?,
        payment_discount_amount: decimal(
            s.monto_descuento_forma_pago,
            "monto_descuento_forma_pago",
        )?,
        subtotal: None,
        total_bs: decimal(s.venta_total_bs, "venta_total_bs")?,
        total_usd: decimal(s.venta_total_usd, "venta_total_usd")?,
        total_cost_bs: decimal(s.costo_total_bs, "costo_total_bs")?,
        total_cost_usd: decimal(s.costo_total_usd, "costo_total_usd")?,
        gross_profit_bs: decimal(s.utilidad_bruta_bs, "utilidad_bruta_bs")?,
        gross_profit_usd: decimal(s.utilidad_bruta_usd, "utilidad_bruta_usd")?,
        invoice_total: decimal(s.total_factura, "total_factura")?,
        usd_rate: decimal(s.tasa_usd, "tasa_usd")?,
        non_fiscal: boolean(s.es_no_fiscal, "es_no_fiscal")?,
        promotion: text(s.tiene_promocion, "tiene_promocion")?,
        promotion_code: text(s.codigo_promocion, "codigo_promocion")?,
        till: None,
        concept: None,
        line_status: None,
    }))
}

/// The line's store-local time: `fecha` + `hora` (which keeps the fraction); when either is
/// missing, `fecha_hora_completa` (whole seconds) stands in.
fn sold_at_local(fecha: Val<'_>, hora: Val<'_>, completa: Val<'_>) -> Conv<NaiveDateTime> {
    let fecha = as_str(&fecha, "fecha")?;
    let hora = as_str(&hora, "hora")?;
    match (fecha, hora) {
        (Some(f), Some(h)) => {
            let d = parse_date(f)
                .ok_or_else(|| invalid("fecha", format!("`{f}` is not a YYYY-MM-DD date")))?;
            let t = parse_time(h)
                .ok_or_else(|| invalid("hora", format!("`{h}` is not an HH:MM:SS time")))?;
            Ok(d.and_time(t))
        }
        (f, _) => match text(completa, "fecha_hora_completa")? {
            Some(c) => parse_datetime(&c).ok_or_else(|| {
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

fn ident_of_sale(s: &RawSale<'_>) -> Option<String> {
    match (&s.numero_factura, &s.linea) {
        (Val::Str(f), Val::Num(l)) => Some(format!("numero_factura {f}, linea {l}")),
        (Val::Str(f), _) => Some(format!("numero_factura {f}")),
        _ => None,
    }
}

/// Parses and converts one `ventas` element; `None` when the line lies outside `window`.
pub(crate) fn sale_element(
    r: &mut Reader<'_>,
    element: u64,
    store: &StoreId,
    window: Option<&Window>,
) -> R<Result<Option<SaleLine>, RowError>> {
    let raw = read_sale(r)?;
    let ident = ident_of_sale(&raw);
    Ok(
        convert_sale(raw, store, window).map_err(|problem| RowError {
            element,
            ident,
            problem,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Inventory.
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct RawArticle<'a> {
    nombre_producto: Val<'a>,
    codigo: Val<'a>,
    barra: Val<'a>,
    categoria: Val<'a>,
    descripcion: Val<'a>,
    subcategoria: Val<'a>,
    descripcion_categoria: Val<'a>,
    marca: Val<'a>,
    precio: Val<'a>,
    iva: Val<'a>,
    stock: Val<'a>,
}

/// Where an inventory snapshot is attributed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SnapshotScope {
    /// The store.
    pub store: StoreId,
    /// The store's warehouse (the one requested).
    pub warehouse: String,
    /// When the snapshot was taken.
    pub snapshot_at: DateTime<Utc>,
}

/// Parses and converts one `articulos` element.
pub(crate) fn article_element(
    r: &mut Reader<'_>,
    element: u64,
    scope: &SnapshotScope,
) -> R<Result<InventoryItem, RowError>> {
    let mut a = RawArticle::default();
    r.object(|r, key| {
        let slot = match key {
            "NombreProducto" => &mut a.nombre_producto,
            "Codigo" => &mut a.codigo,
            "Barra" => &mut a.barra,
            "Categoria" => &mut a.categoria,
            "Descripcion" => &mut a.descripcion,
            "Subcategoria" => &mut a.subcategoria,
            "Descripcion_categoria" => &mut a.descripcion_categoria,
            "Marca" => &mut a.marca,
            "Precio" => &mut a.precio,
            "Iva" => &mut a.iva,
            "stock" => &mut a.stock,
            _ => return r.skip(0),
        };
        *slot = r.value()?;
        Ok(())
    })?;
    let ident = match &a.codigo {
        Val::Str(c) => Some(format!("Codigo {c}")),
        _ => None,
    };
    Ok(convert_article(a, scope).map_err(|problem| RowError {
        element,
        ident,
        problem,
    }))
}

fn convert_article(a: RawArticle<'_>, scope: &SnapshotScope) -> Conv<InventoryItem> {
    let product_code = text_na(a.codigo, "Codigo")?.ok_or(RowProblem::Missing("Codigo"))?;
    let stock = decimal(a.stock, "stock")?.ok_or(RowProblem::Missing("stock"))?;
    Ok(InventoryItem {
        store_id: scope.store.clone(),
        warehouse_code: scope.warehouse.clone(),
        warehouse_name: None,
        product_code,
        barcode: text_na(a.barra, "Barra")?,
        description: text_na(a.nombre_producto, "NombreProducto")?,
        category_id: id_text(a.categoria, "Categoria")?,
        category: text_na(a.descripcion, "Descripcion")?,
        group_name: text_na(a.descripcion_categoria, "Descripcion_categoria")?,
        subcategory_id: id_text(a.subcategoria, "Subcategoria")?,
        subgroup: None,
        brand: text_na(a.marca, "Marca")?,
        quadrant: None,
        presentation: None,
        cost: None,
        price: decimal(a.precio, "Precio")?,
        tax_pct: decimal(a.iva, "Iva")?,
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
        let mut lines = Vec::new();
        let mut rows = Vec::new();
        let mut feed = chunks.iter();
        loop {
            match p.next(|r, i| sale_element(r, i, &store, None)) {
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
        assert_eq!(l.invoice_number, "C10-01-1");
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
        p.feed(body.as_bytes());
        p.finish();
        let mut kept = Vec::new();
        let mut dropped = 0;
        loop {
            match p
                .next(|r, i| sale_element(r, i, &store, Some(&window)))
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
        assert_eq!(l.product_code, "01");
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
        assert_eq!(parse_decimal("1e400"), None);
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
        p.feed(body.as_bytes());
        p.finish();
        let mut items = Vec::new();
        let mut rows = Vec::new();
        loop {
            match p.next(|r, i| article_element(r, i, &scope)) {
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
            assert_eq!(i.product_code, "000002");
            assert_eq!(i.barcode.as_deref(), Some("00010"));
            assert_eq!(i.category, None);
            assert_eq!(i.brand, None);
            assert_eq!(i.category_id.as_deref(), Some("99"));
            assert_eq!(i.stock, dec("-2.375"));
            assert_eq!(i.warehouse_code, "APP-TPF");
        }
        let (_, rows, _) = run_inventory(r#"[{"Codigo":"1","stock":null},{"stock":1}]"#);
        assert_eq!(rows[0].problem, RowProblem::Missing("stock"));
        assert_eq!(rows[1].problem, RowProblem::Missing("Codigo"));
    }
}
