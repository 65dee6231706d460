use super::*;
use tollgate_audit::event::StoredEvent;

/// Binary COPY data as PostgreSQL writes it for `audit_events` rows.
fn copy_data(rows: &[StoredEvent]) -> Vec<u8> {
    let mut out = COPY_SIGNATURE.to_vec();
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&3i32.to_be_bytes());
    out.extend_from_slice(b"ext");
    for row in rows {
        out.extend_from_slice(&8i16.to_be_bytes());
        let seq = (row.seq as i64).to_be_bytes();
        let fields: [&[u8]; 8] = [
            &seq,
            row.time.as_bytes(),
            row.actor.as_bytes(),
            row.action.as_bytes(),
            row.subject.as_bytes(),
            &row.body,
            &row.prev_hash,
            &row.hash,
        ];
        for field in fields {
            out.extend_from_slice(&(field.len() as i32).to_be_bytes());
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

fn stored(seq: u64, body: &[u8]) -> StoredEvent {
    StoredEvent {
        seq,
        time: "2026-01-01T00:00:00.000000Z".into(),
        actor: "alice".into(),
        action: "test.event".into(),
        subject: "thing/ü".into(),
        body: body.to_vec(),
        prev_hash: [seq as u8; 32],
        hash: [seq as u8 + 1; 32],
    }
}

/// Parses `data` fed in chunks of `chunk` bytes, as `copy_events` does.
fn parse(data: &[u8], chunk: usize) -> Result<(Vec<StoredEvent>, bool), StoreError> {
    let mut input = CopyInput::default();
    let mut batch = EventBatch::with_capacity(4);
    for piece in data.chunks(chunk) {
        input.buf.extend_from_slice(piece);
        while input.next_row(&mut batch)? {}
        input.buf.drain(..input.pos);
        input.pos = 0;
    }
    Ok((batch.iter().map(|row| row.to_stored()).collect(), input.ended))
}

#[test]
fn copy_rows_are_parsed_whatever_the_chunking() {
    let rows = vec![stored(1, br#"{"a":1}"#), stored(2, b""), stored(3, &[b'x'; 300])];
    let data = copy_data(&rows);
    for chunk in [1, 2, 7, 64, data.len()] {
        let (parsed, ended) = parse(&data, chunk).expect("parse");
        assert!(ended, "chunk {chunk}");
        assert!(parsed == rows, "chunk {chunk}");
    }
}

#[test]
fn malformed_copy_data_is_refused() {
    let data = copy_data(&[stored(1, b"{}")]);
    let (_, ended) = parse(&data[..data.len() - 1], 5).expect("a prefix is not an error");
    assert!(!ended);
    let mut bad = data.clone();
    bad[0] = b'X';
    assert!(matches!(parse(&bad, 8), Err(StoreError::CopyFormat { .. })));
    let mut short_hash = copy_data(&[StoredEvent { prev_hash: [0; 32], ..stored(1, b"{}") }]);
    // Make the `hash` column 31 bytes: shorten its length and drop one byte before the trailer.
    let at = short_hash.len() - 2 - 32 - 4;
    short_hash[at..at + 4].copy_from_slice(&31i32.to_be_bytes());
    short_hash.remove(short_hash.len() - 3);
    assert!(matches!(parse(&short_hash, 3), Err(StoreError::BadHash { key: 1, .. })));
}
