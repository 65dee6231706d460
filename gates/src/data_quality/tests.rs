use super::DataQualityAccumulator;
use crate::dataset::{Batch, Column, ColumnSpec, ColumnType, Range};

#[test]
fn counts_nulls_ranges_allowed_values_and_duplicates() {
    let mut age = ColumnSpec::new("age", ColumnType::Integer);
    age.range = Some(Range { min: Some(0.0), max: Some(120.0) });
    age.nullable = false;
    let mut sex = ColumnSpec::new("sex", ColumnType::String);
    sex.allowed_values = Some(vec!["f".into(), "m".into()]);
    let specs = vec![age, sex];
    let mut acc = DataQualityAccumulator::new(&specs);
    acc.push(&Batch {
        columns: vec![
            Column::Integer(vec![Some(30), None, Some(130), Some(30), Some(-1)]),
            Column::String(vec![Some("f".into()), Some("m".into()), Some("x".into()), Some("f".into()), None]),
        ],
        rows: 5,
        first_row: 0,
        lines: vec![],
    });
    let file_columns = vec!["age".to_owned(), "sex".to_owned(), "extra".to_owned()];
    let r = acc.finish(&file_columns, &specs);
    assert_eq!(r.rows, 5);
    assert!(!r.schema_match);
    assert_eq!(r.unexpected_columns, ["extra"]);
    assert_eq!(r.duplicate_rows, 1);
    let age = &r.columns[0];
    assert_eq!((age.nulls, age.null_violations, age.below_min, age.above_max), (1, 1, 1, 1));
    assert_eq!(age.null_rate, 0.2);
    assert_eq!((age.min, age.max), (Some(-1.0), Some(130.0)));
    assert_eq!(r.columns[1].not_allowed, 1);
}
