//! Gate computations for tollgate: quality, fairness, data-quality and drift metrics in pure
//! Rust, dataset readers, and the format-independent half of the model runner (artifact
//! checks, signatures, input encoding, output checks, the [`scorer::Scorer`] seam). Running a
//! TorchScript model is `tollgate-torch`'s, the one crate that links libtorch.

pub mod cache;
pub mod data_quality;
pub mod dataset;
pub mod drift_files;
pub mod eval;
pub mod metrics;
pub mod runner;
pub mod scorer;
pub mod spec;
