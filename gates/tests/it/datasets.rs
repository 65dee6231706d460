//! The dataset readers on real files: Parquet written by arrow-rs, and the golden CSVs.

use std::path::Path;
#[cfg(feature = "parquet")]
use std::sync::Arc;

use tollgate_gates::dataset::{self, ColumnSpec, ColumnType, Format, ReadOptions};
#[cfg(feature = "parquet")]
use tollgate_gates::dataset::{Batch, Column, DatasetError, Sha256Digest};

#[cfg(feature = "parquet")]
fn collect(path: &Path, format: Format, columns: &[ColumnSpec], sha: Option<&Sha256Digest>) -> Result<Vec<Batch>, DatasetError> {
    let mut out = Vec::new();
    let options = ReadOptions { columns, expected_sha256: sha, batch_rows: 2 };
    dataset::read(path, format, &options, |b| {
        out.push(b.clone());
        Ok::<_, std::io::Error>(())
    })?;
    Ok(out)
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_columns_are_typed_and_digest_checked() {
    use arrow_array::types::Int8Type;
    use arrow_array::{BooleanArray, DictionaryArray, Float32Array, Int32Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.parquet");
    let sex: DictionaryArray<Int8Type> = vec![Some("f"), None, Some("m")].into_iter().collect();
    let batch = RecordBatch::try_from_iter([
        ("age", Arc::new(Int32Array::from(vec![Some(30), Some(41), None])) as _),
        ("score", Arc::new(Float32Array::from(vec![0.5, 0.25, 1.0])) as _),
        ("name", Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])) as _),
        ("sex", Arc::new(sex) as _),
        ("label", Arc::new(BooleanArray::from(vec![true, false, true])) as _),
    ])
    .unwrap();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let cols = [
        ColumnSpec::new("sex", ColumnType::String),
        ColumnSpec::new("age", ColumnType::Float),
        ColumnSpec::new("label", ColumnType::Boolean),
        ColumnSpec::new("age", ColumnType::String),
    ];
    let batches = collect(&path, Format::Parquet, &cols, None).unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].columns[0], Column::String(vec![Some("f".into()), None]));
    assert_eq!(batches[0].columns[1], Column::Float(vec![Some(30.0), Some(41.0)]));
    assert_eq!(batches[1].columns[2], Column::Boolean(vec![Some(true)]));
    assert_eq!(batches[0].columns[3], Column::String(vec![Some("30".into()), Some("41".into())]));
    assert_eq!(dataset::column_names(&path, Format::Parquet).unwrap(), ["age", "score", "name", "sex", "label"]);

    // A string column cannot be read as a number.
    let err = collect(&path, Format::Parquet, &[ColumnSpec::new("name", ColumnType::Float)], None).unwrap_err();
    assert!(err.to_string().contains("column `name` is stored as Utf8"), "{err}");

    // The digest is checked before a single batch is handed over.
    let bad: Sha256Digest = "11".repeat(32).parse().unwrap();
    let mut seen = 0;
    let options = ReadOptions { columns: &cols, expected_sha256: Some(&bad), batch_rows: 2 };
    let err = dataset::read(&path, Format::Parquet, &options, |_| {
        seen += 1;
        Ok::<_, std::io::Error>(())
    })
    .unwrap_err();
    assert!(matches!(err, DatasetError::DigestMismatch { .. }));
    assert_eq!(seen, 0);
}

#[test]
fn golden_adult_csv_reads_through_the_dataset_reader() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/adult.csv");
    let cols = [
        ColumnSpec::new("label", ColumnType::Boolean),
        ColumnSpec::new("score", ColumnType::Float),
        ColumnSpec::new("sex", ColumnType::String),
    ];
    let mut rows = 0;
    let options = ReadOptions { columns: &cols, expected_sha256: None, batch_rows: 4096 };
    let summary = dataset::read(&path, Format::Csv, &options, |b| {
        rows += b.rows;
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    assert_eq!(rows as u64, summary.rows);
    assert_eq!(summary.rows, 16281);
    assert_eq!(summary.sha256, dataset::sha256_file(&path).unwrap().0);
}

#[test]
fn drift_between_two_files() {
    use tollgate_gates::drift_files::{Side, drift};
    use tollgate_gates::metrics::ColumnDrift;
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    std::fs::write(&a, "x,c\n0,r\n1,g\n3,\n").unwrap();
    std::fs::write(&b, "x,c\n5,r\n6,r\n8,b\n").unwrap();
    let cols = [ColumnSpec::new("x", ColumnType::Integer), ColumnSpec::new("c", ColumnType::String)];
    fn side(p: &Path) -> Side<'_> {
        Side { path: p, format: Format::Csv, sha256: None }
    }
    let report = drift(side(&a), side(&b), &cols).unwrap();
    match &report.columns[0].1 {
        ColumnDrift::Numeric(d) => {
            assert_eq!(d.wasserstein_distance, 5.0);
            assert_eq!(d.ks_statistic, 1.0);
            // SciPy gives 0.09999999999999999 here too.
            assert!((d.ks_pvalue.unwrap() - 0.1).abs() < 1e-15);
        }
        other => panic!("expected numeric drift, got {other:?}"),
    }
    match &report.columns[1].1 {
        ColumnDrift::Categorical(d) => assert_eq!(d.categories, 3),
        other => panic!("expected categorical drift, got {other:?}"),
    }
}

#[cfg(feature = "parquet")]
#[test]
fn eval_and_data_quality_read_parquet() {
    use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use tollgate_gates::eval::{EvalRequest, Predictions, evaluate};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    let batch = RecordBatch::try_from_iter([
        ("y", Arc::new(Int64Array::from(vec![1, 0, 1, 0])) as _),
        ("s", Arc::new(Float64Array::from(vec![0.9, 0.6, 0.4, 0.1])) as _),
        ("g", Arc::new(StringArray::from(vec!["a", "a", "b", "b"])) as _),
    ])
    .unwrap();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let report = evaluate(&EvalRequest {
        data: path.clone(),
        format: None,
        label: "y".into(),
        predictions: Predictions::Threshold { score: "s".into(), threshold: 0.5 },
        sensitive: vec!["g".into()],
        weight: None,
        baseline: None,
        expected_sha256: None,
        ece_bins: 10,
        batch_rows: 3,
    })
    .unwrap();
    assert_eq!(report.overall["roc_auc"], 0.75);
    assert_eq!(report.dataset.rows, 4);

    let mut y = ColumnSpec::new("y", ColumnType::Integer);
    y.allowed_values = Some(vec!["0".into(), "1".into()]);
    let schema = [y, ColumnSpec::new("s", ColumnType::Float), ColumnSpec::new("missing", ColumnType::String)];
    let dq = tollgate_gates::data_quality::assess(&path, Format::Parquet, &schema, None).unwrap();
    assert_eq!(dq.rows, 4);
    assert_eq!(dq.missing_columns, ["missing"]);
    assert_eq!(dq.unexpected_columns, ["g"]);
    assert_eq!(dq.columns[0].not_allowed, 0);
}

#[cfg(not(feature = "parquet"))]
#[test]
fn parquet_without_the_feature_says_so() {
    let err = dataset::column_names(Path::new("d.parquet"), Format::Parquet).unwrap_err();
    assert!(err.to_string().contains("needs tollgate built with the `parquet` feature"), "{err}");
}
