//! Gate computations for tollgate: quality, fairness, data-quality and drift metrics in pure
//! Rust, dataset readers, and (behind the `torch` feature) the TorchScript model runner.

pub mod cache;
pub mod data_quality;
pub mod dataset;
pub mod drift_files;
pub mod eval;
pub mod metrics;
pub mod runner;
pub mod spec;
