//! What `POST /webhooks/github` reads from the network: the signature check and the payload
//! parser never panic on any header or body, a signature made with the secret is accepted and
//! any other refused,.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_github::webhook::{self, Secrets};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the event; the next up to 71 bytes are the signature header.
    let Some((&pick, rest)) = data.split_first() else { return };
    let event = webhook::EVENTS.get(pick as usize % (webhook::EVENTS.len() + 1)).copied().unwrap_or("star");
    let cut = rest.len().min(71);
    let (header, body) = rest.split_at(cut);
    let secrets = Secrets::new(b"fuzz-secret", Some(b"older")).expect("two secrets");
    // A random header is refused (it is the body's HMAC only by a forgery the fuzzer cannot
    // make); the body's own signature under either secret is accepted, and one bit off is not.
    let _ = secrets.verify(Some(header), body);
    assert_eq!(secrets.verify(None, body), Err(webhook::SignatureError::Missing));
    for secret in [&b"fuzz-secret"[..], b"older"] {
        let good = webhook::signature(secret, body);
        assert_eq!(secrets.verify(Some(good.as_bytes()), body), Ok(()));
        let mut bad = good.into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(secrets.verify(Some(&bad), body), Err(webhook::SignatureError::Mismatch));
    }
    // Any body, for every event: an event or an error, never a panic.
    let _ = webhook::parse(event, body);
});
