//! Data-quality measures of a dataset against its declared schema: schema match, null rates,
//! ranges, allowed values, duplicate rows and row counts, accumulated batch by batch.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::Serialize;

use crate::dataset::{Batch, Column, ColumnSpec, ColumnType};

/// Per-column findings. The keys of measures that thresholds can name are those metric
/// names, as specs spell them (`null_rate`); the others are camelCase.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnQuality {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    pub nulls: u64,
    /// Nulls over rows (NaN for an empty dataset).
    #[serde(rename = "null_rate")]
    pub null_rate: f64,
    /// Nulls in a column declared non-nullable (0 when nulls are allowed).
    #[serde(rename = "null_violations")]
    pub null_violations: u64,
    #[serde(rename = "below_min")]
    pub below_min: u64,
    #[serde(rename = "above_max")]
    pub above_max: u64,
    /// Non-null values outside the declared `allowedValues`.
    #[serde(rename = "not_allowed")]
    pub not_allowed: u64,
    /// Smallest and largest non-null numeric value seen.
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Data-quality findings of one dataset. Keys of measures that thresholds can name are those
/// metric names (`duplicate_rate`); the others are camelCase.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataQualityReport {
    pub rows: u64,
    /// Whether the file has exactly the declared columns (in any order).
    #[serde(rename = "schema_match")]
    pub schema_match: bool,
    pub missing_columns: Vec<String>,
    pub unexpected_columns: Vec<String>,
    pub columns: Vec<ColumnQuality>,
    /// Rows equal, on every declared column present, to an earlier row (pandas'
    /// `DataFrame.duplicated()`, nulls equal to nulls).
    #[serde(rename = "duplicate_rows")]
    pub duplicate_rows: u64,
    #[serde(rename = "duplicate_rate")]
    pub duplicate_rate: f64,
}

/// Accumulates data-quality findings over the batches of the columns `specs` (those present).
#[derive(Debug)]
pub struct DataQualityAccumulator {
    specs: Vec<ColumnSpec>,
    allowed: Vec<Option<HashSet<String>>>,
    columns: Vec<ColumnQuality>,
    rows: u64,
    /// 128-bit row fingerprints (two independently keyed hashes): 16 bytes per distinct row.
    seen: HashSet<u128>,
    hashers: (std::collections::hash_map::RandomState, std::collections::hash_map::RandomState),
    duplicates: u64,
}

impl DataQualityAccumulator {
    pub fn new(specs: &[ColumnSpec]) -> DataQualityAccumulator {
        DataQualityAccumulator {
            specs: specs.to_vec(),
            allowed: specs.iter().map(|s| s.allowed_values.as_ref().map(|v| v.iter().cloned().collect())).collect(),
            columns: specs
                .iter()
                .map(|s| ColumnQuality {
                    name: s.name.clone(),
                    ty: s.ty,
                    nulls: 0,
                    null_rate: f64::NAN,
                    null_violations: 0,
                    below_min: 0,
                    above_max: 0,
                    not_allowed: 0,
                    min: None,
                    max: None,
                })
                .collect(),
            rows: 0,
            seen: HashSet::new(),
            hashers: Default::default(),
            duplicates: 0,
        }
    }

    /// Adds a batch whose columns are `specs`, in order.
    pub fn push(&mut self, batch: &Batch) {
        for (c, column) in batch.columns.iter().enumerate().take(self.specs.len()) {
            let spec = &self.specs[c];
            let q = &mut self.columns[c];
            for row in 0..batch.rows {
                if column.is_null(row) {
                    q.nulls += 1;
                    if !spec.nullable {
                        q.null_violations += 1;
                    }
                    continue;
                }
                if (!matches!(column, Column::String(_)) || spec.range.is_some())
                    && let Some(x) = column.number(row)
                {
                    q.min = Some(q.min.map_or(x, |m| m.min(x)));
                    q.max = Some(q.max.map_or(x, |m| m.max(x)));
                    if let Some(range) = spec.range {
                        if range.min.is_some_and(|m| x < m) {
                            q.below_min += 1;
                        }
                        if range.max.is_some_and(|m| x > m) {
                            q.above_max += 1;
                        }
                    }
                }
                if let Some(allowed) = &self.allowed[c]
                    && let Some(text) = column.text(row)
                    && !allowed.contains(text.as_ref())
                {
                    q.not_allowed += 1;
                }
            }
        }
        for row in 0..batch.rows {
            let mut h1 = self.hashers.0.build_hasher();
            let mut h2 = self.hashers.1.build_hasher();
            for column in &batch.columns {
                hash_cell(column, row, &mut h1);
                hash_cell(column, row, &mut h2);
            }
            let key = (u128::from(h1.finish()) << 64) | u128::from(h2.finish());
            if !self.seen.insert(key) {
                self.duplicates += 1;
            }
        }
        self.rows += batch.rows as u64;
    }

    /// The report, given the file's columns (for the schema match).
    pub fn finish(mut self, file_columns: &[String], declared: &[ColumnSpec]) -> DataQualityReport {
        let missing_columns: Vec<String> = declared.iter().filter(|s| !file_columns.contains(&s.name)).map(|s| s.name.clone()).collect();
        let unexpected_columns: Vec<String> = file_columns.iter().filter(|c| !declared.iter().any(|s| s.name == **c)).cloned().collect();
        for q in &mut self.columns {
            q.null_rate = q.nulls as f64 / self.rows as f64;
        }
        DataQualityReport {
            rows: self.rows,
            schema_match: missing_columns.is_empty() && unexpected_columns.is_empty(),
            missing_columns,
            unexpected_columns,
            columns: self.columns,
            duplicate_rows: self.duplicates,
            duplicate_rate: self.duplicates as f64 / self.rows as f64,
        }
    }
}

fn hash_cell(column: &Column, row: usize, h: &mut impl Hasher) {
    match column {
        Column::Integer(v) => v[row].hash(h),
        // -0.0 equals 0.0, as pandas compares them.
        Column::Float(v) => v[row].map(|x| if x == 0.0 { 0u64 } else { x.to_bits() }).hash(h),
        Column::Boolean(v) => v[row].hash(h),
        Column::String(v) => v[row].hash(h),
    }
}

#[cfg(test)]
mod tests;

/// Reads a dataset once and measures its data quality against `schema`. Declared columns
/// missing from the file are reported (and not read); the digest is verified before the
/// report is returned.
///
/// # Errors
/// The file cannot be read, a value does not have its declared type, or the digest differs.
pub fn assess(
    path: &std::path::Path,
    format: crate::dataset::Format,
    schema: &[ColumnSpec],
    expected_sha256: Option<&crate::dataset::Sha256Digest>,
) -> Result<DataQualityReport, crate::dataset::DatasetError> {
    use crate::dataset::{self, DEFAULT_BATCH_ROWS, ReadOptions};
    let file_columns = dataset::column_names(path, format)?;
    let present: Vec<ColumnSpec> = schema.iter().filter(|s| file_columns.contains(&s.name)).cloned().collect();
    let mut acc = DataQualityAccumulator::new(&present);
    let options = ReadOptions { columns: &present, expected_sha256, batch_rows: DEFAULT_BATCH_ROWS };
    let summary = dataset::read(path, format, &options, |batch| {
        acc.push(batch);
        Ok::<_, std::convert::Infallible>(())
    })?;
    Ok(acc.finish(&summary.file_columns, schema))
}
