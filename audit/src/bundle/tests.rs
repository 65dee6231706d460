use super::*;

#[test]
fn csv_fields_round_trip() {
    let fields = ["7", "plain", "with,comma", "with \"quotes\"", "{\"a\":[1,2]}", ""];
    let mut line = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        csv_field(&mut line, f);
    }
    let text = String::from_utf8(line).expect("utf-8");
    assert_eq!(text, r#"7,plain,"with,comma","with ""quotes""","{""a"":[1,2]}","#);
    assert_eq!(csv_split(&text), fields);
}

#[test]
fn times_normalise_to_the_log_form() {
    assert_eq!(normalize_time("2026-03-29T03:30:00+02:00").expect("time"), "2026-03-29T01:30:00.000000Z");
    assert!(normalize_time("2026-13-01T00:00:00Z").is_err());
}
