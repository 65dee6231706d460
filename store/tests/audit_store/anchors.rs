//! Anchors outside the database (issue #12 item 3): with write access to the database, deleting
//! the checkpoint rows and rewriting events consistently, truncating the log or emptying it
//! verified ok. Checkpoints saved elsewhere (`audit verify --checkpoint`) catch every one of
//! these, and with trusted keys a log past the checkpoint interval with no checkpoint, or an
//! empty log, is a problem of its own.

use crate::support::{Backend, TestDb};
use crate::{both_backends, seeded};
use futures_util::StreamExt as _;
use tollgate_audit::checkpoint::{Checkpoint, KeyKind, Signer, cosign_note};
use tollgate_audit::event::GENESIS;
use tollgate_audit::verify::{Anchors, Problem, Report, Saved};
use tollgate_store::{Store, verify_store};

/// A log of 12 events with checkpoints at 5 and 10, whose notes are saved "elsewhere" first;
/// then `attack`, then a verification without and with the saved checkpoints.
async fn attacked(backend: Backend, attack: impl AsyncFnOnce(&TestDb)) -> (Report, Report) {
    let db = TestDb::new(backend).await;
    let key = Signer::generate("tollgate").expect("key");
    let log = seeded(&db, 12, 5, &key).await;
    let saved: Vec<Saved> = log
        .store()
        .checkpoints()
        .await
        .expect("checkpoints")
        .into_iter()
        .map(|cp| Saved { name: format!("cp-{}", cp.size), note: cp.note })
        .collect();
    assert_eq!(saved.len(), 2);
    let trusted = [key.verifier()];
    let clean = verify_store(log.store(), &trusted, &Anchors { saved: &saved, every: Some(5), witnesses: &[] }).await.expect("verify");
    assert_eq!((clean.events, clean.checkpoints, clean.saved, clean.problem), (12, 2, 2, None));
    db.drop_guards().await;
    attack(&db).await;
    let alone = verify_store(log.store(), &trusted, &Anchors { saved: &[], every: Some(5), witnesses: &[] }).await.expect("verify");
    let anchored = verify_store(log.store(), &trusted, &Anchors { saved: &saved, every: Some(5), witnesses: &[] }).await.expect("verify");
    log.store().close().await;
    (alone, anchored)
}

/// The attack: every checkpoint row deleted, event 3 rewritten and the chain and head
/// recomputed. The log alone is consistent, but unanchored; the saved checkpoints disagree.
async fn checkpoints_deleted_and_chain_rewritten(backend: Backend) {
    let (alone, anchored) = attacked(backend, async |db| {
        let rewrite = crate::tamper::rewritten_chain(db, 12, 3, "\"n\":3", "\"n\":33").await;
        db.exec(&format!("DELETE FROM audit_checkpoints;\n{rewrite}")).await;
    })
    .await;
    assert_eq!((alone.events, alone.checkpoints), (12, 0));
    assert_eq!(alone.problem, Some(Problem::Unanchored { last: 12, covered: 0, every: 5 }));
    assert_eq!(
        alone.problem.map(|p| p.to_string()).as_deref(),
        Some("no checkpoint covers events `1..=12`, though one is signed every `5` events")
    );
    assert_eq!(anchored.problem, Some(Problem::SavedMismatch { name: "cp-5".into(), size: 5 }));
}

/// The tail cut after event 7, with the checkpoints that covered it and a head to match.
async fn log_truncated_with_its_checkpoints(backend: Backend) {
    let (alone, anchored) = attacked(backend, async |db| {
        let store = Store::open(&db.url).await.expect("open");
        let seven = store.events(7, 7).next().await.expect("row").expect("event");
        store.close().await;
        db.exec(&format!(
            "DELETE FROM audit_checkpoints; DELETE FROM audit_events WHERE seq > 7; UPDATE audit_head SET size = 7, hash = {} WHERE id = 1;",
            db.blob(&seven.hash)
        ))
        .await;
    })
    .await;
    assert_eq!(alone.problem, Some(Problem::Unanchored { last: 7, covered: 0, every: 5 }));
    // Events 1..=5 still match the first saved checkpoint; the second reaches past the end.
    assert_eq!(anchored.saved, 1);
    assert_eq!(anchored.problem, Some(Problem::TruncatedBehindSaved { name: "cp-10".into(), size: 10, last: 7 }));
}

/// Everything deleted: an empty log verified ok.
async fn log_emptied(backend: Backend) {
    let (alone, anchored) = attacked(backend, async |db| {
        db.exec(&format!(
            "DELETE FROM audit_checkpoints; DELETE FROM audit_events; UPDATE audit_head SET size = 0, hash = {} WHERE id = 1;",
            db.blob(&GENESIS)
        ))
        .await;
    })
    .await;
    assert_eq!(alone.problem, Some(Problem::Empty));
    assert_eq!(anchored.problem, Some(Problem::TruncatedBehindSaved { name: "cp-5".into(), size: 5, last: 0 }));
}

/// A saved checkpoint signed by a key nobody trusts proves nothing.
async fn saved_checkpoint_signed_by_an_untrusted_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let key = Signer::generate("tollgate").expect("key");
    let log = seeded(&db, 7, 5, &key).await;
    let cp = log.store().checkpoints().await.expect("checkpoints").pop().expect("one");
    let body = cp.note.split_once("\n\n").expect("note").0;
    let mallory = Signer::generate("tollgate").expect("key");
    let forged = Saved { name: "forged".into(), note: Checkpoint::parse_body(&format!("{body}\n")).expect("body").sign(&[&mallory]) };
    let report =
        verify_store(log.store(), &[key.verifier()], &Anchors { saved: &[forged], every: Some(5), witnesses: &[] }).await.expect("verify");
    assert!(matches!(report.problem, Some(Problem::SavedBadSignature { ref name, .. }) if name == "forged"), "{:?}", report.problem);
    log.store().close().await;
}

/// A witness's cosignature (C2SP `tlog-cosignature`) is required on saved checkpoints when its
/// key is given; one without it, or cosigned by someone else, is refused.
async fn saved_checkpoints_must_carry_the_required_witness_cosignature(backend: Backend) {
    let db = TestDb::new(backend).await;
    let key = Signer::generate("tollgate").expect("key");
    let log = seeded(&db, 7, 5, &key).await;
    let note = log.store().checkpoints().await.expect("checkpoints").pop().expect("one").note;
    let witness = Signer::generate_kind("witness.acme.example/w1", KeyKind::Witness).expect("witness");
    let other = Signer::generate_kind("witness.acme.example/w1", KeyKind::Witness).expect("impostor");
    let witnesses = [witness.verifier()];
    let verify = async |note: String| {
        let saved = [Saved { name: "cp-5".into(), note }];
        verify_store(log.store(), &[key.verifier()], &Anchors { saved: &saved, every: Some(5), witnesses: &witnesses })
            .await
            .expect("verify")
    };
    let bare = verify(note.clone()).await;
    assert!(
        matches!(bare.problem, Some(Problem::NotCosigned { size: 5, ref witness, .. }) if witness.starts_with("witness.acme.example/w1+")),
        "{:?}",
        bare.problem
    );
    let impostor = verify(cosign_note(&note, &other).expect("cosign")).await;
    assert!(matches!(impostor.problem, Some(Problem::NotCosigned { size: 5, .. })), "{:?}", impostor.problem);
    let cosigned = verify(cosign_note(&note, &witness).expect("cosign")).await;
    assert_eq!((cosigned.saved, cosigned.problem), (1, None));
    log.store().close().await;
}

both_backends!(
    saved_checkpoints_must_carry_the_required_witness_cosignature,
    checkpoints_deleted_and_chain_rewritten,
    log_truncated_with_its_checkpoints,
    log_emptied,
    saved_checkpoint_signed_by_an_untrusted_key,
);
