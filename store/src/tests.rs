use super::*;

#[test]
fn credentials_never_appear_in_messages() {
    assert_eq!(redact("postgres://user:secret@db:5432/tollgate"), "postgres://…@db:5432/tollgate");
    assert_eq!(redact("sqlite://tollgate.db"), "sqlite://tollgate.db");
}

#[test]
fn time_never_goes_backwards() {
    assert_eq!(next_time("9999-01-01T00:00:00.000000Z"), "9999-01-01T00:00:00.000000Z");
    assert!(next_time("2000-01-01T00:00:00.000000Z").as_str() > "2000-01-01T00:00:00.000000Z");
}

#[test]
fn record_kinds_have_distinct_tables_and_actions() {
    let tables: std::collections::BTreeSet<_> = RecordKind::ALL.iter().map(|k| k.table()).collect();
    let actions: std::collections::BTreeSet<_> = RecordKind::ALL.iter().map(|k| k.action()).collect();
    assert_eq!((tables.len(), actions.len()), (6, 6));
}
