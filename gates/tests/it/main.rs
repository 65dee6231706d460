//! Integration tests of tollgate-gates: golden values from the pinned references, and the
//! dataset readers on real files.

mod datasets;
mod golden;
