//! What the API reads from a request before anything else: the token parser never panics, and
//! accepts exactly `tg_` + 12 hex + `_` + 64 hex (surrounding whitespace aside).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_decision::approvals::parse_token;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((id, secret)) = parse_token(text) {
        assert_eq!(id.len(), 12);
        assert_eq!(secret.len(), 64);
        assert!(id.bytes().chain(secret.bytes()).all(|b| b.is_ascii_hexdigit()));
        assert_eq!(text.trim(), format!("tg_{id}_{secret}"));
    }
});
