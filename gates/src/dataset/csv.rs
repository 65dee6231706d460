//! CSV reading: one pass that types the requested columns and hashes the bytes.

use std::fs::File;
use std::path::Path;

use super::batch::{Batch, Column};
use super::digest::{HashingReader, verify};
use super::schema::{ColumnSpec, ColumnType};
use super::{CSV_NULL_TOKENS, DatasetError, ReadOptions, ReadSummary, missing_column};

fn open(path: &Path) -> Result<File, DatasetError> {
    File::open(path).map_err(|source| DatasetError::Io { path: path.to_owned(), source })
}

fn csv_error(path: &Path, source: ::csv::Error) -> DatasetError {
    let line = source.position().map_or(0, ::csv::Position::line);
    if source.is_io_error() {
        let source = match source.into_kind() {
            ::csv::ErrorKind::Io(e) => e,
            _ => std::io::Error::other("i/o error while reading CSV"),
        };
        return DatasetError::Io { path: path.to_owned(), source };
    }
    DatasetError::Csv { path: path.to_owned(), line, source }
}

pub(crate) fn column_names(path: &Path) -> Result<Vec<String>, DatasetError> {
    let mut reader = ::csv::ReaderBuilder::new().from_reader(open(path)?);
    let headers = reader.headers().map_err(|e| csv_error(path, e))?;
    Ok(headers.iter().map(str::to_owned).collect())
}

/// Starts an empty column of `ty` with room for `rows` values.
fn empty(ty: ColumnType, rows: usize) -> Column {
    match ty {
        ColumnType::Integer => Column::Integer(Vec::with_capacity(rows)),
        ColumnType::Float => Column::Float(Vec::with_capacity(rows)),
        ColumnType::Boolean => Column::Boolean(Vec::with_capacity(rows)),
        ColumnType::String => Column::String(Vec::with_capacity(rows)),
    }
}

fn is_null(field: &str) -> bool {
    CSV_NULL_TOKENS.contains(&field)
}

/// Appends one field to its column, or says why it does not fit.
fn push(column: &mut Column, field: &str) -> Result<(), &'static str> {
    let null = is_null(field);
    match column {
        Column::String(v) => v.push(if null { None } else { Some(field.to_owned()) }),
        _ if null => match column {
            Column::Integer(v) => v.push(None),
            Column::Float(v) => v.push(None),
            Column::Boolean(v) => v.push(None),
            Column::String(_) => {}
        },
        Column::Integer(v) => {
            let t = field.trim();
            // pandas writes integer columns that hold nulls as floats (`3.0`): accept whole floats.
            let x = t
                .parse::<i64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().filter(|f| f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15).map(|f| f as i64));
            v.push(Some(x.ok_or("write whole numbers such as `42`")?));
        }
        Column::Float(v) => {
            let x = field.trim().parse::<f64>().map_err(|_| "write numbers such as `0.5`, `-3` or `1e-6`")?;
            v.push(Some(x));
        }
        Column::Boolean(v) => {
            let t = field.trim();
            let b = if t == "1" || t.eq_ignore_ascii_case("true") {
                true
            } else if t == "0" || t.eq_ignore_ascii_case("false") {
                false
            } else {
                return Err("write `true`/`false` or `1`/`0`");
            };
            v.push(Some(b));
        }
    }
    Ok(())
}

pub(crate) fn read<E>(
    path: &Path,
    options: &ReadOptions<'_>,
    mut consume: impl FnMut(&Batch) -> Result<(), E>,
) -> Result<ReadSummary, DatasetError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let file = open(path)?;
    let mut reader = ::csv::ReaderBuilder::new().buffer_capacity(1 << 20).from_reader(HashingReader::new(file));
    let file_columns: Vec<String> = reader.headers().map_err(|e| csv_error(path, e))?.iter().map(str::to_owned).collect();
    let indices: Vec<usize> = options
        .columns
        .iter()
        .map(|spec| file_columns.iter().position(|c| *c == spec.name).ok_or_else(|| missing_column(path, &spec.name, &file_columns)))
        .collect::<Result<_, _>>()?;
    let batch_rows = options.batch_rows.max(1);
    let specs: &[ColumnSpec] = options.columns;
    let new_batch = |first_row| Batch {
        columns: specs.iter().map(|s| empty(s.ty, batch_rows)).collect(),
        rows: 0,
        first_row,
        lines: Vec::with_capacity(batch_rows),
    };
    let mut batch = new_batch(0);
    let mut rows: u64 = 0;
    let mut record = ::csv::StringRecord::new();
    let consumer_error = |e: E| DatasetError::Consumer { path: path.to_owned(), source: Box::new(e) };
    while reader.read_record(&mut record).map_err(|e| csv_error(path, e))? {
        let line = record.position().map_or(rows + 2, ::csv::Position::line);
        for ((column, &index), spec) in batch.columns.iter_mut().zip(&indices).zip(specs) {
            let field = record.get(index).unwrap_or("");
            push(column, field).map_err(|hint| DatasetError::Type {
                path: path.to_owned(),
                line,
                column: spec.name.clone(),
                expected: spec.ty.describe(),
                value: field.to_owned(),
                hint,
            })?;
        }
        batch.lines.push(line);
        batch.rows += 1;
        rows += 1;
        if batch.rows == batch_rows {
            consume(&batch).map_err(consumer_error)?;
            batch = new_batch(rows);
        }
    }
    if batch.rows > 0 {
        consume(&batch).map_err(consumer_error)?;
    }
    let (sha256, bytes) = reader.into_inner().finish().map_err(|source| DatasetError::Io { path: path.to_owned(), source })?;
    verify(path, options.expected_sha256, sha256)?;
    Ok(ReadSummary { rows, bytes, sha256, file_columns })
}
