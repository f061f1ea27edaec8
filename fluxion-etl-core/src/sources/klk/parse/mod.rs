//! Streaming parse of KLK's JSON answers into [`SaleLine`](crate::model::SaleLine)s and
//! [`InventoryItem`](crate::model::InventoryItem)s.
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

mod document;
mod inventory;
#[cfg(test)]
mod props;
mod reader;
mod records;
mod sales;
#[cfg(test)]
mod tests;

pub(crate) use document::{DocError, DocParser, Step};
pub(crate) use inventory::article_element;
pub(crate) use reader::{PErr, Reader};
pub(crate) use records::{RowError, RowProblem};
pub(crate) use sales::sale_element;
