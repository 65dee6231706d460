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
    assert!(matches!(Checkpoint::open(&tampered, &[signer.verifier()]), Err(CheckpointError::Untrusted { .. })));
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
