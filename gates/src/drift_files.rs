//! Drift between a reference and a current dataset, column by column, read from files.

use std::path::Path;

use serde::Serialize;

use crate::dataset::{self, Column, ColumnSpec, ColumnType, DEFAULT_BATCH_ROWS, DatasetError, Format, ReadOptions, Sha256Digest};
use crate::metrics::{ColumnDrift, MetricError, categorical_drift, numeric_drift};

/// Why drift could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// A dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A column had no usable value on one side.
    #[error("cannot measure drift of column `{column}`")]
    Metric {
        column: String,
        #[source]
        source: MetricError,
    },
}

/// One side of a comparison.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    pub path: &'a Path,
    pub format: Format,
    pub sha256: Option<&'a Sha256Digest>,
}

/// Drift of each column, in the order asked.
#[derive(Clone, Debug, Serialize)]
pub struct DriftReport {
    pub columns: Vec<(String, ColumnDrift)>,
}

enum Values {
    Numbers(Vec<f64>),
    Texts(Vec<Option<String>>),
}

fn read_side(side: Side<'_>, columns: &[ColumnSpec]) -> Result<Vec<Values>, DatasetError> {
    let mut values: Vec<Values> = columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::String | ColumnType::Boolean => Values::Texts(Vec::new()),
            ColumnType::Integer | ColumnType::Float => Values::Numbers(Vec::new()),
        })
        .collect();
    // Numeric columns are read as floats; nulls are dropped like NaN.
    let specs: Vec<ColumnSpec> = columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::Integer | ColumnType::Float => ColumnSpec::new(c.name.clone(), ColumnType::Float),
            _ => ColumnSpec::new(c.name.clone(), ColumnType::String),
        })
        .collect();
    let options = ReadOptions { columns: &specs, expected_sha256: side.sha256, batch_rows: DEFAULT_BATCH_ROWS };
    dataset::read(side.path, side.format, &options, |batch| {
        for (v, col) in values.iter_mut().zip(&batch.columns) {
            match (v, col) {
                (Values::Numbers(out), Column::Float(xs)) => out.extend(xs.iter().flatten()),
                (Values::Texts(out), Column::String(xs)) => out.extend(xs.iter().cloned()),
                _ => {}
            }
        }
        Ok::<_, std::convert::Infallible>(())
    })?;
    Ok(values)
}

/// Reads both datasets and measures drift of `columns` (numeric columns by their values,
/// string and boolean columns as categories). Values are held in memory: 8 bytes per numeric
/// value, since the KS statistic and the Wasserstein distance need them sorted.
///
/// # Errors
/// A dataset cannot be read or verified, or a column has no value on one side.
pub fn drift(reference: Side<'_>, current: Side<'_>, columns: &[ColumnSpec]) -> Result<DriftReport, DriftError> {
    let r = read_side(reference, columns)?;
    let c = read_side(current, columns)?;
    let mut out = Vec::new();
    for ((spec, r), c) in columns.iter().zip(r).zip(c) {
        let err = |source| DriftError::Metric { column: spec.name.clone(), source };
        let d = match (r, c) {
            (Values::Numbers(r), Values::Numbers(c)) => ColumnDrift::Numeric(numeric_drift(&r, &c).map_err(err)?),
            (Values::Texts(r), Values::Texts(c)) => ColumnDrift::Categorical(categorical_drift(&r, &c).map_err(err)?),
            _ => continue,
        };
        out.push((spec.name.clone(), d));
    }
    Ok(DriftReport { columns: out })
}
