use std::io::Write;
use std::path::Path;

use super::{Column, ColumnSpec, ColumnType, DatasetError, Format, ReadOptions, Sha256Digest, read, sha256_file};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path
}

fn read_all(path: &Path, columns: &[ColumnSpec], sha: Option<&Sha256Digest>, batch_rows: usize) -> Result<Vec<super::Batch>, DatasetError> {
    let mut batches = Vec::new();
    let options = ReadOptions { columns, expected_sha256: sha, batch_rows };
    read(path, Format::Csv, &options, |b| {
        batches.push(b.clone());
        Ok::<_, std::io::Error>(())
    })?;
    Ok(batches)
}

#[test]
fn csv_types_columns_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.csv", "a,b,c,d\n1,0.5,x,true\n,NA,,0\n3,1e3,\"q,r\",1\n");
    let cols = [
        ColumnSpec::new("d", ColumnType::Boolean),
        ColumnSpec::new("a", ColumnType::Integer),
        ColumnSpec::new("b", ColumnType::Float),
        ColumnSpec::new("c", ColumnType::String),
    ];
    let batches = read_all(&path, &cols, None, 2).unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].columns[1], Column::Integer(vec![Some(1), None]));
    assert_eq!(batches[1].columns[3], Column::String(vec![Some("q,r".into())]));
    assert_eq!(batches[1].columns[0], Column::Boolean(vec![Some(true)]));
    assert_eq!(batches[1].line(0), 4);
    assert_eq!(batches[1].first_row, 2);
}

#[test]
fn type_error_names_line_column_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.csv", "a\n1\nabc\n");
    let err = read_all(&path, &[ColumnSpec::new("a", ColumnType::Integer)], None, 10).unwrap_err();
    let msg = err.to_string();
    assert!(msg.ends_with("d.csv:3: column `a`: expected an integer, found `abc`"), "{msg}");
    let hint = tollgate_error::Hint::hint(&err).expect("a hint");
    assert!(!hint.is_empty() && !msg.contains("hint"), "the hint is data, not part of the message: {msg}");
}

#[test]
fn missing_column_lists_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.csv", "a,b\n1,2\n");
    let err = read_all(&path, &[ColumnSpec::new("label", ColumnType::Integer)], None, 10).unwrap_err();
    assert!(err.to_string().contains("no column `label`; the file has `a`, `b`"), "{err}");
}

#[test]
fn digest_is_verified_after_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.csv", "a\n1\n2\n");
    let (good, bytes) = sha256_file(&path).unwrap();
    assert_eq!(bytes, 6);
    let cols = [ColumnSpec::new("a", ColumnType::Integer)];
    assert!(read_all(&path, &cols, Some(&good), 1).is_ok());
    let bad: Sha256Digest = "00".repeat(32).parse().unwrap();
    match read_all(&path, &cols, Some(&bad), 1) {
        Err(DatasetError::DigestMismatch { actual, .. }) => assert_eq!(actual, good),
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
}

#[test]
fn digest_parses_with_or_without_prefix() {
    let hex = "ab".repeat(32);
    let a: Sha256Digest = hex.parse().unwrap();
    let b: Sha256Digest = format!("sha256:{hex}").parse().unwrap();
    assert_eq!(a, b);
    assert!("xyz".parse::<Sha256Digest>().is_err());
}

#[test]
fn ragged_csv_is_an_error_with_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.csv", "a,b\n1,2\n3\n");
    let err = read_all(&path, &[ColumnSpec::new("a", ColumnType::Integer)], None, 10).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{}:3: malformed CSV", path.display())), "{err}");
}
