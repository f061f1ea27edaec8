//! End-to-end tests of the `fluxion` binary: each test runs the real executable against its own
//! SQLite file in a temporary directory, so they run in parallel and in any order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod demo;
mod gaps;
#[cfg(unix)]
mod interrupt;
mod readonly;
mod runs;
mod schedule;
mod usage;
