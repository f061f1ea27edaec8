//! The root integration tests: one binary, one module per subject.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod config;
mod contract;
mod daily_counts;
mod examples;
mod gaps;
mod klk;
mod liveness;
mod postgres;
mod repository;
mod runner;
mod scheduler;
mod seed_views;
mod stellar;
mod stores;
