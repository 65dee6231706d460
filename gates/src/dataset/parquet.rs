//! Parquet reading with arrow-rs: the digest is verified in a first streaming pass (Parquet
//! needs random access to its footer), then the requested columns are decoded batch by batch.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::batch::{Batch, Column};
use super::digest::{sha256_file, verify};
use super::schema::ColumnType;
use super::{DatasetError, ReadOptions, ReadSummary, missing_column};

fn parquet_error(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> DatasetError {
    DatasetError::Parquet { path: path.to_owned(), source: Box::new(e) }
}

fn builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, DatasetError> {
    let file = File::open(path).map_err(|source| DatasetError::Io { path: path.to_owned(), source })?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(path, e))
}

pub(crate) fn column_names(path: &Path) -> Result<Vec<String>, DatasetError> {
    Ok(builder(path)?.schema().fields().iter().map(|f| f.name().clone()).collect())
}

pub(crate) fn read<E>(
    path: &Path,
    options: &ReadOptions<'_>,
    mut consume: impl FnMut(&Batch) -> Result<(), E>,
) -> Result<ReadSummary, DatasetError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let (sha256, bytes) = sha256_file(path)?;
    verify(path, options.expected_sha256, sha256)?;
    let builder = builder(path)?;
    let file_columns: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut indices = Vec::new();
    for spec in options.columns {
        let i = file_columns.iter().position(|c| *c == spec.name).ok_or_else(|| missing_column(path, &spec.name, &file_columns))?;
        indices.push(i);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
    let reader = builder.with_projection(mask).with_batch_size(options.batch_rows.max(1)).build().map_err(|e| parquet_error(path, e))?;
    let mut rows: u64 = 0;
    for record_batch in reader {
        let record_batch = record_batch.map_err(|e| parquet_error(path, e))?;
        let mut columns = Vec::with_capacity(options.columns.len());
        for spec in options.columns {
            let array = record_batch.column_by_name(&spec.name).ok_or_else(|| missing_column(path, &spec.name, &file_columns))?;
            columns.push(convert(array, spec.ty).ok_or_else(|| DatasetError::ParquetType {
                path: path.to_owned(),
                column: spec.name.clone(),
                stored: array.data_type().to_string(),
                expected: spec.ty.describe().to_owned(),
            })?);
        }
        let batch = Batch { columns, rows: record_batch.num_rows(), first_row: rows, lines: Vec::new() };
        rows += batch.rows as u64;
        consume(&batch).map_err(|e| DatasetError::Consumer { path: path.to_owned(), source: Box::new(e) })?;
    }
    Ok(ReadSummary { rows, bytes, sha256, file_columns })
}

/// Values of a primitive array mapped by `f`, nulls kept.
fn primitive<T: arrow_array::types::ArrowPrimitiveType, U>(
    array: &dyn Array,
    f: impl Fn(T::Native) -> Option<U>,
) -> Option<Vec<Option<U>>> {
    let a = array.as_primitive_opt::<T>()?;
    let mut out = Vec::with_capacity(a.len());
    for i in 0..a.len() {
        out.push(if a.is_null(i) { None } else { Some(f(a.value(i))?) });
    }
    Some(out)
}

fn integers(array: &dyn Array) -> Option<Vec<Option<i64>>> {
    match array.data_type() {
        DataType::Int8 => primitive::<Int8Type, _>(array, |v| Some(i64::from(v))),
        DataType::Int16 => primitive::<Int16Type, _>(array, |v| Some(i64::from(v))),
        DataType::Int32 => primitive::<Int32Type, _>(array, |v| Some(i64::from(v))),
        DataType::Int64 => primitive::<Int64Type, _>(array, Some),
        DataType::UInt8 => primitive::<UInt8Type, _>(array, |v| Some(i64::from(v))),
        DataType::UInt16 => primitive::<UInt16Type, _>(array, |v| Some(i64::from(v))),
        DataType::UInt32 => primitive::<UInt32Type, _>(array, |v| Some(i64::from(v))),
        DataType::UInt64 => primitive::<UInt64Type, _>(array, |v| i64::try_from(v).ok()),
        _ => None,
    }
}

fn floats(array: &dyn Array) -> Option<Vec<Option<f64>>> {
    match array.data_type() {
        // NaN is a null, as pandas' `isna` has it.
        DataType::Float32 => {
            primitive::<Float32Type, _>(array, |v| Some(f64::from(v))).map(|v| v.into_iter().map(|x| x.filter(|x| !x.is_nan())).collect())
        }
        DataType::Float64 => primitive::<Float64Type, _>(array, Some).map(|v| v.into_iter().map(|x| x.filter(|x| !x.is_nan())).collect()),
        // Integers above 2^53 lose precision as floats, as they do in pandas.
        _ => integers(array).map(|v| v.into_iter().map(|x| x.map(|x| x as f64)).collect()),
    }
}

fn booleans(array: &dyn Array) -> Option<Vec<Option<bool>>> {
    if let Some(a) = array.as_boolean_opt() {
        return Some((0..a.len()).map(|i| if a.is_null(i) { None } else { Some(a.value(i)) }).collect());
    }
    integers(array)?
        .into_iter()
        .map(|v| match v {
            None => Some(None),
            Some(0) => Some(Some(false)),
            Some(1) => Some(Some(true)),
            Some(_) => None,
        })
        .collect()
}

fn strings(array: &dyn Array) -> Option<Vec<Option<String>>> {
    let collect = |len: usize, is_null: &dyn Fn(usize) -> bool, value: &dyn Fn(usize) -> String| {
        (0..len).map(|i| if is_null(i) { None } else { Some(value(i)) }).collect::<Vec<_>>()
    };
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            Some(collect(a.len(), &|i| a.is_null(i), &|i| a.value(i).to_owned()))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Some(collect(a.len(), &|i| a.is_null(i), &|i| a.value(i).to_owned()))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            Some(collect(a.len(), &|i| a.is_null(i), &|i| a.value(i).to_owned()))
        }
        DataType::Dictionary(_, _) => {
            let d = array.as_any_dictionary_opt()?;
            let values: ArrayRef = Arc::clone(d.values());
            let values = strings(values.as_ref())?;
            let keys = d.normalized_keys();
            Some(keys.iter().enumerate().map(|(i, &k)| if array.is_null(i) { None } else { values.get(k).cloned().flatten() }).collect())
        }
        DataType::Boolean => Some(booleans(array)?.into_iter().map(|b| b.map(|b| b.to_string())).collect()),
        DataType::Float32 | DataType::Float64 => Some(floats(array)?.into_iter().map(|x| x.map(|x| x.to_string())).collect()),
        _ => Some(integers(array)?.into_iter().map(|x| x.map(|x| x.to_string())).collect()),
    }
}

/// Converts an Arrow array to the declared type, or `None` when its stored type cannot be read
/// as that type.
fn convert(array: &ArrayRef, ty: ColumnType) -> Option<Column> {
    let array = array.as_ref();
    match ty {
        ColumnType::Integer => integers(array).map(Column::Integer),
        ColumnType::Float => floats(array).map(Column::Float),
        ColumnType::Boolean => booleans(array).map(Column::Boolean),
        ColumnType::String => strings(array).map(Column::String),
    }
}
