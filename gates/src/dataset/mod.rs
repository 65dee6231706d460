//! Dataset readers: CSV and Parquet files streamed in batches of typed columns, with the file's
//! SHA-256 verified on the way.
//!
//! # Guarantees
//! [`read`] hands batches to its callback while it reads, and returns `Ok` only once the whole
//! file was read and its digest matched the expected one. Callers accumulate metrics from the
//! batches but report nothing until `read` has returned `Ok`: a digest mismatch is an error
//! before any metric is reported. Memory stays bounded by the batch size (plus, for Parquet,
//! one row group's pages).

mod batch;
mod csv;
mod digest;
#[cfg(feature = "parquet")]
mod parquet;
mod schema;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use tollgate_error::Hint;

pub use batch::{Batch, Column};
pub use digest::{Sha256Digest, sha256_file};
pub use schema::{ColumnSpec, ColumnType, DatasetSchema, Range};

/// Rows per batch unless the caller asks for another size.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

/// CSV fields read as null: pandas' default `na_values`, so null rates agree with pandas.
pub const CSV_NULL_TOKENS: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None",
    "n/a", "nan", "null",
];

/// A file format tollgate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    /// The format named by a file's extension (`.csv`, `.parquet`, `.pq`), if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// What a finished read saw.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReadSummary {
    pub rows: u64,
    pub bytes: u64,
    pub sha256: Sha256Digest,
    /// Every column of the file, in file order.
    pub file_columns: Vec<String>,
}

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be opened or read.
    #[error("failed to read dataset `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The CSV syntax is broken (unbalanced quotes, a row of the wrong width, invalid UTF-8).
    #[error("{path}:{line}: malformed CSV")]
    Csv {
        path: PathBuf,
        line: u64,
        #[source]
        source: ::csv::Error,
    },
    /// A column named by the schema is not in the file.
    #[error("{path}: no column `{column}`; the file has {available}")]
    MissingColumn { path: PathBuf, column: String, available: String },
    /// A value does not have the column's declared type.
    #[error("{path}:{line}: column `{column}`: expected {expected}, found `{value}`")]
    Type { path: PathBuf, line: u64, column: String, expected: &'static str, value: String, hint: &'static str },
    /// The file's SHA-256 is not the one the spec pins.
    #[error("{path}: sha256 is `{actual}`, expected `{expected}`")]
    DigestMismatch { path: PathBuf, expected: Sha256Digest, actual: Sha256Digest },
    /// The expected digest is not 64 hexadecimal digits.
    #[error("`{value}` is not a sha256 digest")]
    BadDigest { value: String },
    /// The Parquet file could not be decoded.
    #[error("{path}: invalid Parquet file")]
    Parquet {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A Parquet column's type cannot be read as the declared type.
    #[error("{path}: column `{column}` is stored as {stored}, which cannot be read as {expected}")]
    ParquetType { path: PathBuf, column: String, stored: String, expected: String },
    /// This build cannot read the format.
    #[error("{path}: reading {format} needs tollgate built with the `{feature}` feature")]
    FeatureDisabled { path: PathBuf, format: &'static str, feature: &'static str },
    /// The format could not be told from the file name.
    #[error("{path}: cannot tell the format from the file name")]
    UnknownFormat { path: PathBuf },
    /// The callback that consumes batches failed.
    #[error("failed to process dataset `{path}`")]
    Consumer {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Hint for DatasetError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            DatasetError::Csv { .. } => {
                Some(Cow::Borrowed("every row needs as many fields as the header, quoted with `\"` where a field holds a comma"))
            }
            DatasetError::MissingColumn { .. } => Some(Cow::Borrowed("check the column name and the dataset's schema")),
            DatasetError::Type { hint, .. } => Some(Cow::Borrowed(hint)),
            DatasetError::DigestMismatch { .. } => {
                Some(Cow::Borrowed("the file changed since its digest was recorded; update the digest only if the change is intended"))
            }
            DatasetError::BadDigest { .. } => Some(Cow::Borrowed("give 64 hexadecimal digits, as `sha256sum` prints them")),
            DatasetError::UnknownFormat { .. } => Some(Cow::Borrowed("name the file `*.csv` or `*.parquet`, or give the format")),
            DatasetError::Io { .. }
            | DatasetError::Parquet { .. }
            | DatasetError::ParquetType { .. }
            | DatasetError::FeatureDisabled { .. }
            | DatasetError::Consumer { .. } => None,
        }
    }
}

/// Options of one read.
#[derive(Clone, Debug)]
pub struct ReadOptions<'a> {
    /// The columns to read, with their types, in the order batches hold them.
    pub columns: &'a [ColumnSpec],
    /// The digest the file must have, if pinned.
    pub expected_sha256: Option<&'a Sha256Digest>,
    pub batch_rows: usize,
}

/// Reads `path` in batches of `options.columns`, verifying the digest.
///
/// # Errors
/// The file cannot be read or decoded, a column is missing, a value has the wrong type, the
/// digest differs, or `consume` fails (its error is wrapped in [`DatasetError::Consumer`]).
pub fn read<E>(
    path: &Path,
    format: Format,
    options: &ReadOptions<'_>,
    consume: impl FnMut(&Batch) -> Result<(), E>,
) -> Result<ReadSummary, DatasetError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match format {
        Format::Csv => csv::read(path, options, consume),
        #[cfg(feature = "parquet")]
        Format::Parquet => parquet::read(path, options, consume),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => {
            let _ = consume;
            Err(DatasetError::FeatureDisabled { path: path.to_owned(), format: "Parquet", feature: "parquet" })
        }
    }
}

/// The column names of a file, in file order, without reading its rows.
///
/// # Errors
/// The file cannot be read or decoded.
pub fn column_names(path: &Path, format: Format) -> Result<Vec<String>, DatasetError> {
    match format {
        Format::Csv => csv::column_names(path),
        #[cfg(feature = "parquet")]
        Format::Parquet => parquet::column_names(path),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(DatasetError::FeatureDisabled { path: path.to_owned(), format: "Parquet", feature: "parquet" }),
    }
}

fn missing_column(path: &Path, column: &str, file_columns: &[String]) -> DatasetError {
    let available = if file_columns.is_empty() {
        "no columns".to_owned()
    } else {
        file_columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
    };
    DatasetError::MissingColumn { path: path.to_owned(), column: column.to_owned(), available }
}

#[cfg(test)]
mod tests;
