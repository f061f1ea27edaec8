//! The root integration tests: one binary, one module per subject.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod config;
mod contract;
mod daily_counts;
mod examples;
mod gaps;
mod klk;
mod postgres;
mod runner;
mod scheduler;
mod stellar;
mod stores;
