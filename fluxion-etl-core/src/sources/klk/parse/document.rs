//! The document level of an answer: `{ "meta": …, "ventas": [ … ] }` with its keys in any
//! order, or a bare array; a small state machine over the buffered, UTF-8-checked body that hands
//! each element of the records array to the caller's element parser.

use std::fmt;

use super::reader::{num_text, PErr, Reader, Val, R};
use super::records::RowError;

/// A single element (or skipped value) larger than this is refused, so a body that never closes
/// its element cannot make the buffer grow without bound. KLK lines are ~1.5 KB.
pub(crate) const MAX_ELEMENT_BYTES: usize = 16 << 20;

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

impl State {
    /// Where the records array leaves the parser: at its next element, or past its `]` (the end
    /// of a bare array, the next key of an object).
    fn in_array(ended: bool, bare: bool) -> State {
        match (ended, bare) {
            (false, _) => State::Element { bare },
            (true, true) => State::Done,
            (true, false) => State::NextKey,
        }
    }
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
                self.state = if r.closes(b'}')? {
                    State::Done
                } else {
                    State::Member
                };
            }
            State::NextKey => {
                self.state = if r.next_or_close(b'}')? {
                    State::Done
                } else {
                    State::Member
                };
            }
            State::Member => {
                r.at_key()?;
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
            State::FirstElement { bare } => self.state = State::in_array(r.closes(b']')?, bare),
            State::NextElement { bare } => {
                self.state = State::in_array(r.next_or_close(b']')?, bare);
            }
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
