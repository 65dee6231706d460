use super::*;

const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

/// The example of golang.org/x/mod/sumdb/note: keys, key id and signature match byte for byte.
#[test]
fn go_sumdb_note_vector() {
    let signer = Signer::from_text(GO_SKEY).expect("signing key");
    let verifier = Verifier::from_text(GO_VKEY).expect("verifier key");
    assert_eq!(signer.verifier(), verifier);
    assert_eq!(verifier.to_text(), GO_VKEY);
    assert_eq!(signer.to_text(), GO_SKEY);
    assert_eq!(sign_note(GO_TEXT, &[&signer]), GO_NOTE);
    let (body, ids) = open_note(GO_NOTE, &[verifier]).expect("verifies");
    assert_eq!((body, ids), (GO_TEXT, vec![0xc74f20a3]));
}

fn sample() -> Checkpoint {
    Checkpoint { origin: DEFAULT_ORIGIN.into(), size: 42, root: [1; 32], chain_hash: [2; 32], time: "2026-11-28T09:00:00.000000Z".into() }
}

#[test]
fn checkpoint_round_trips_and_pins_its_body() {
    let signer = Signer::generate("tollgate-test").expect("key");
    let note = sample().sign(&[&signer]);
    assert!(note.starts_with("tollgate.dev/audit\n42\nAQEB"), "{note}");
    let (cp, ids) = Checkpoint::open(&note, &[signer.verifier()]).expect("opens");
    assert_eq!((cp, ids), (sample(), vec![signer.key_id()]));
    let tampered = note.replacen("\n42\n", "\n43\n", 1);
    assert!(matches!(Checkpoint::open(&tampered, &[signer.verifier()]), Err(CheckpointError::BadSignature { .. })));
}

#[test]
fn a_checkpoint_forged_with_another_key_is_refused() {
    let ours = Signer::generate("tollgate").expect("key");
    let forger = Signer::generate("tollgate").expect("key");
    let note = sample().sign(&[&forger]);
    let err = Checkpoint::open(&note, &[ours.verifier()]).expect_err("untrusted");
    assert!(err.to_string().contains(&format!("{:08x}", forger.key_id())), "{err}");
    let both = sample().sign(&[&forger, &ours]);
    assert_eq!(Checkpoint::open(&both, &[ours.verifier()]).expect("one trusted").1, vec![ours.key_id()]);
}

#[test]
fn malformed_notes_and_keys_are_errors() {
    let signer = Signer::generate("k").expect("key");
    let v = [signer.verifier()];
    let good = sample().sign(&[&signer]);
    for note in [
        "",
        "\n\n",
        "a\n1\nAA==\n\n\u{2014} k AAAA\n",
        &good.replace("\n\n", "\n"),
        &good.replacen("\n42\n", "\n042\n", 1),
        &good.replacen("\n42\n", "\n-1\n", 1),
        &good.replace("chain ", "chian "),
        good.trim_end(),
        &good.replace('\u{2014}', "-"),
    ] {
        assert!(Checkpoint::open(note, &v).is_err(), "{note:?}");
    }
    for key in ["", "PRIVATE+KEY+", "PRIVATE+KEY+a+00000000+AQ==", "PRIVATE+KEY+a b+00+AQ=="] {
        assert!(Signer::from_text(key).is_err(), "{key}");
    }
    for key in ["", "a+b", "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"] {
        assert!(Verifier::from_text(key).is_err(), "{key}");
    }
}

// The vectors of Go's `golang.org/x/mod/sumdb/note` (`note_test.go`, `TestOpen`; Copyright 2019
// The Go Authors, BSD-style licence), copied verbatim: two keys, one text and each key's
// signature of it.
const GO_ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_PETER_SIG: &str =
    "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const GO_ENOCH_SIG: &str =
    "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn go_keys() -> (Verifier, Verifier) {
    (Verifier::from_text(GO_VKEY).expect("peter"), Verifier::from_text(GO_ENOCH_VKEY).expect("enoch"))
}

/// Go's signature with four base64 digits spliced in at byte `at` (still base64, no longer a
/// signature), as `TestOpen` corrupts them.
fn corrupt(sig: &str, at: usize) -> String {
    format!("{}ABCD{}", &sig[..at], &sig[at..])
}

#[test]
fn go_sumdb_note_open_vectors() {
    let (peter, enoch) = go_keys();
    let note = format!("{GO_TEXT}\n{GO_PETER_SIG}{GO_ENOCH_SIG}");
    // One signature verified, the other by a key we do not trust: ignored.
    assert_eq!(open_note(&note, std::slice::from_ref(&peter)).expect("peter"), (GO_TEXT, vec![0xc74f20a3]));
    // Both verified.
    assert_eq!(open_note(&note, &[peter.clone(), enoch.clone()]).expect("both"), (GO_TEXT, vec![0xc74f20a3, 0xaf0cfe78]));
    // Neither trusted.
    let err = open_note(&note, &[]).expect_err("untrusted");
    assert_eq!(err, CheckpointError::Untrusted { signers: "PeterNeumann+c74f20a3, EnochRoot+af0cfe78".into() });
    // Duplicated signatures, and a corrupt signature by a key we do not trust.
    let dup = format!("{GO_TEXT}\n{GO_PETER_SIG}{GO_PETER_SIG}{GO_ENOCH_SIG}{GO_ENOCH_SIG}{}", corrupt(GO_ENOCH_SIG, 60));
    assert_eq!(open_note(&dup, std::slice::from_ref(&peter)).expect("dup"), (GO_TEXT, vec![0xc74f20a3]));
    // Too many signatures.
    let many = format!("{GO_TEXT}\n{}", GO_PETER_SIG.repeat(101));
    assert!(matches!(open_note(&many, std::slice::from_ref(&peter)), Err(CheckpointError::Malformed { .. })));
    // Malformed notes.
    for bad in [
        GO_TEXT.to_owned(),
        format!("{GO_TEXT}\n"),
        format!("{GO_TEXT}\n{}", &GO_PETER_SIG[..GO_PETER_SIG.len() - 1]),
        format!("\x01{GO_TEXT}\n{GO_PETER_SIG}"),
        format!(
            "{GO_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{GO_TEXT}\n{GO_PETER_SIG}Unexpected line.\n"),
    ] {
        assert!(matches!(open_note(&bad, std::slice::from_ref(&peter)), Err(CheckpointError::Malformed { .. })), "{bad:?}");
    }
}

/// Regression (issue #11): a trusted key's signature that did not verify was skipped, so a note
/// with one good and one bad trusted signature was accepted. C2SP: reject the whole note.
#[test]
fn a_bad_signature_by_a_trusted_key_refuses_the_note() {
    let (peter, enoch) = go_keys();
    let trusted = [peter.clone(), enoch.clone()];
    // Go's own case: Peter's signature with bytes spliced in.
    let note = format!("{GO_TEXT}\n{}", corrupt(GO_PETER_SIG, 60));
    assert_eq!(
        open_note(&note, std::slice::from_ref(&peter)),
        Err(CheckpointError::BadSignature { signer: "PeterNeumann+c74f20a3".into() })
    );
    // A good signature by one trusted key does not make up for a bad one by another.
    let note = format!("{GO_TEXT}\n{GO_PETER_SIG}{}", corrupt(GO_ENOCH_SIG, 60));
    assert_eq!(open_note(&note, &trusted), Err(CheckpointError::BadSignature { signer: "EnochRoot+af0cfe78".into() }));
    // Nor does it for a signature of the right length whose bytes were changed.
    let flipped = GO_ENOCH_SIG.replacen("5n2tiOHp", "5n2tiOHq", 1);
    let note = format!("{GO_TEXT}\n{GO_PETER_SIG}{flipped}");
    assert_eq!(open_note(&note, &trusted), Err(CheckpointError::BadSignature { signer: "EnochRoot+af0cfe78".into() }));
    assert_eq!(open_note(&note, &[peter]).expect("enoch not trusted: ignored").1, vec![0xc74f20a3]);
}

/// Regression (issue #11): the text was cut at the first blank line, so a note whose text holds
/// one was refused. C2SP: the signatures follow the last blank line.
#[test]
fn the_text_ends_at_the_last_blank_line() {
    // Ed25519 is deterministic and `go_sumdb_note_vector` shows this signer writes Go's bytes,
    // so this is the note Go's `note.Sign` makes of this text with the same key.
    let text = "first paragraph\n\nsecond paragraph\n\n\nthird\n";
    let note = sign_note(text, &[&Signer::from_text(GO_SKEY).expect("key")]);
    let (peter, _) = go_keys();
    assert_eq!(open_note(&note, &[peter]).expect("opens"), (text, vec![0xc74f20a3]));
    // The example of the C2SP specification (its key is not published): parsed to its signer.
    let spec = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    assert_eq!(open_note(spec, &[]), Err(CheckpointError::Untrusted { signers: "quasimodo.example/salvatore+367ba04b".into() }));
}

/// C2SP `tlog-cosignature`: a witness's `cosignature/v1` is an Ed25519 signature over
/// `cosignature/v1\ntime <t>\n` and the whole note body, carried as key id ‖ 8-byte big-endian
/// timestamp ‖ signature, under a key id made with type byte 0x04. Checked here against the
/// spec's construction, computed independently of `open_note`.
#[test]
fn a_witness_cosignature_follows_c2sp_tlog_cosignature() {
    let log = Signer::generate("tollgate.dev/audit").unwrap();
    let witness = Signer::generate_kind("witness.acme.example/w1", KeyKind::Witness).unwrap();
    assert_eq!(witness.kind(), KeyKind::Witness);
    // Keys round-trip with their type byte; the same public key has another id as type 0x01.
    let wtext = witness.verifier().to_text();
    let wver = Verifier::from_text(&wtext).unwrap();
    assert_eq!((wver.kind(), wver.key_id()), (KeyKind::Witness, witness.key_id()));
    assert_eq!(Signer::from_text(&witness.to_text()).unwrap().verifier(), wver);
    let public: [u8; 32] = B64.decode(wtext.splitn(3, '+').nth(2).unwrap()).unwrap()[1..].try_into().unwrap();
    assert_ne!(key_id("witness.acme.example/w1", &public), witness.key_id());

    let note = sample().sign(&[&log]);
    let cosigned = cosign_note(&note, &witness).unwrap();
    assert!(cosigned.starts_with(&note), "the log's signature is kept");
    let line = cosigned.lines().last().unwrap();
    let blob = B64.decode(line.strip_prefix("\u{2014} witness.acme.example/w1 ").unwrap()).unwrap();
    assert_eq!(blob.len(), 4 + 8 + 64);
    assert_eq!(u32::from_be_bytes(blob[..4].try_into().unwrap()), witness.key_id());
    let timestamp = u64::from_be_bytes(blob[4..12].try_into().unwrap());
    let message = format!("cosignature/v1\ntime {timestamp}\n{}", sample().body());
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
    key.verify_strict(message.as_bytes(), &ed25519_dalek::Signature::from_bytes(&blob[12..].try_into().unwrap())).unwrap();

    // Opened with the witness alone, or the log alone, it verifies.
    assert!(open_note(&cosigned, std::slice::from_ref(&wver)).is_ok());
    assert!(open_note(&cosigned, &[log.verifier()]).is_ok());
    // Without the cosignature, the witness finds nothing of its own.
    assert!(matches!(open_note(&note, std::slice::from_ref(&wver)), Err(CheckpointError::Untrusted { .. })));
    // A cosignature over other text, or with its timestamp changed, does not verify.
    let other = cosign_note(&Checkpoint { size: 8, ..sample() }.sign(&[&log]), &witness).unwrap();
    let spliced = format!("{note}{}\n", other.lines().last().unwrap());
    assert!(matches!(open_note(&spliced, std::slice::from_ref(&wver)), Err(CheckpointError::BadSignature { .. })));
    let mut shifted = blob.clone();
    shifted[11] ^= 1;
    let retimed = format!("{note}\u{2014} witness.acme.example/w1 {}\n", B64.encode(&shifted));
    assert!(matches!(open_note(&retimed, std::slice::from_ref(&wver)), Err(CheckpointError::BadSignature { .. })));
}
