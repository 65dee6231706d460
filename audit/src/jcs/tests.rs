use super::*;

fn check(input: &str, expect: &str) {
    let got = canonicalize_str(input).expect("canonicalizes");
    assert_eq!(String::from_utf8(got).expect("utf-8"), expect);
}

/// RFC 8785 §3.2.2, the example of whitespace, numbers, strings and literals.
#[test]
fn rfc8785_section_3_2_2_example() {
    check(
        r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#,
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#,
    );
}

/// RFC 8785 §3.2.3, member names sorted by UTF-16 code units.
#[test]
fn rfc8785_section_3_2_3_sorting() {
    check(
        r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#,
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}",
    );
}

/// RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
#[test]
fn rfc8785_appendix_b_numbers() {
    let cases = [
        (0x0000000000000000_u64, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for (bits, expect) in cases {
        let got = format_number(f64::from_bits(bits)).expect("finite");
        assert_eq!(got, expect, "bits {bits:016x}");
    }
    for bits in [0x7fffffffffffffff_u64, 0x7ff0000000000000, 0xfff0000000000000] {
        assert!(matches!(format_number(f64::from_bits(bits)), Err(JcsError::NonFinite { .. })));
    }
}

#[test]
fn numbers_in_text_take_the_double_they_denote() {
    check(
        "[1.0, -0, 0.1, 1e-7, 123456789012, -9007199254740992, 1e21, 1e20]",
        "[1,0,0.1,1e-7,123456789012,-9007199254740992,1e+21,100000000000000000000]",
    );
}

#[test]
fn strings_escape_only_what_json_requires() {
    check(r#""\u0000\u001f\u007f\u2028\b\t\n\f\r/""#, "\"\\u0000\\u001f\u{7f}\u{2028}\\b\\t\\n\\f\\r/\"");
}

#[test]
fn nested_objects_sort_at_every_level() {
    check(r#"{"b":{"z":1,"a":[{"y":2,"x":1}]},"a":null}"#, r#"{"a":null,"b":{"a":[{"x":1,"y":2}],"z":1}}"#);
}

#[test]
fn duplicate_members_are_refused_at_any_depth() {
    for input in [r#"{"a":1,"a":2}"#, r#"[{"x":{"a":1,"a":1}}]"#] {
        match canonicalize_str(input) {
            Err(JcsError::DuplicateMember { name }) => assert_eq!(name, "a"),
            other => panic!("expected a duplicate member error, got {other:?}"),
        }
    }
}

#[test]
fn unsafe_integers_are_refused() {
    for input in ["9007199254740993", "-9007199254740993", "18446744073709551615"] {
        assert!(matches!(canonicalize_str(input), Err(JcsError::UnsafeInteger { .. })), "{input}");
    }
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    for input in ["", "{", "[1,]", "\"\\ud800\"", "1 2", "nan", "{\"a\":1}x", "\u{feff}{}"] {
        assert!(canonicalize_str(input).is_err(), "{input:?}");
    }
}
