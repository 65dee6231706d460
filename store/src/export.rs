//! Exports a period of the log as an auditor bundle (the format and its offline check live in
//! [`tollgate_audit::bundle`]), and verifies the stored log.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt as _;
use serde_json::json;
use tollgate_audit::bundle::technical::{self, TechnicalFile, ToPdf};
use tollgate_audit::bundle::{
    BundleError, CSV_HEADER, FORMAT, HashingFile, csv_line, file_entry, html, io_err, normalize_time, payload_text, records_file,
};
use tollgate_audit::checkpoint::Verifier;
use tollgate_audit::event::{self, GENESIS};
use tollgate_audit::merkle::{self, Hash, RangeRoots};
use tollgate_audit::verify::{self, Report};
use tollgate_audit::{RecordKind, StoredCheckpoint, jcs};

use crate::{AuditError, AuditLog, Store, StoreError};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store or the log failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The bundle could not be written.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// First and last seq exported (`None` when the period holds no events).
    pub range: Option<(u64, u64)>,
    /// Size of the covering checkpoint (0 when there is none).
    pub checkpoint_size: u64,
    /// The technical file's documents written (`technical-file.html`, and
    /// `technical-file.pdf` when a converter made it); empty without one.
    pub technical_file: Vec<&'static str>,
}

/// What an export adds to the bundle's standard files.
#[derive(Default)]
pub struct ExportOptions<'a> {
    /// Add the auditor's technical file (`technical-file.html`).
    pub technical_file: bool,
    /// Also render it as `technical-file.pdf` with this converter.
    pub pdf: Option<&'a dyn ToPdf>,
}

/// Exports as [`export_with`] does, with the standard files only.
///
/// # Errors
///
/// As [`export_with`].
pub async fn export(log: &AuditLog, from: &str, to: &str, out: &Path) -> Result<ExportSummary, ExportError> {
    export_with(log, from, to, out, &ExportOptions::default()).await
}

/// Exports the events whose times lie in `[from, to]`, and the records they wrote, to `out`.
///
/// The bundle is written to a temporary sibling directory and renamed into place at the end, so
/// `out` holds either a complete bundle or nothing. When `log` has a signing key, a fresh
/// checkpoint is signed first so that the bundle is covered.
///
/// With `options.technical_file`, the auditor's technical file is gathered from the same
/// records and written beside them (and converted to PDF with `options.pdf`), listed in the
/// manifest like every file.
///
/// # Errors
///
/// [`BundleError`].
pub async fn export_with(
    log: &AuditLog,
    from: &str,
    to: &str,
    out: &Path,
    options: &ExportOptions<'_>,
) -> Result<ExportSummary, ExportError> {
    let (from, to) = (normalize_time(from)?, normalize_time(to)?);
    if out.exists() && std::fs::read_dir(out).map_err(io_err(out))?.next().is_some() {
        return Err(BundleError::OutExists { path: out.to_owned() }.into());
    }
    let store = log.store();
    if !log.signers.is_empty() {
        log.checkpoint().await?;
    }
    let range = store.seq_range_for_times(&from, &to).await.map_err(AuditError::from)?;
    let checkpoints = store.checkpoints().await.map_err(AuditError::from)?;
    let need = range.map_or(0, |(_, b)| b);
    let covering = checkpoints.iter().rev().find(|c| c.size >= need && c.size > 0).cloned();
    if range.is_some() && covering.is_none() {
        return Err(BundleError::Uncovered { seq: need }.into());
    }
    let previous = covering.as_ref().and_then(|cov| checkpoints.iter().rev().find(|c| c.size < cov.size && c.size > 0).cloned());

    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = parent.join(format!(".{}.partial-{}", out.file_name().and_then(|n| n.to_str()).unwrap_or("bundle"), std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;

    let mut report = html::Report::create(&tmp, &from, &to)?;
    let mut technical = options.technical_file.then(TechnicalFile::default);
    let mut jsonl = HashingFile::create(&tmp, "events.jsonl")?;
    let mut csv = HashingFile::create(&tmp, "events.csv")?;
    csv.write(CSV_HEADER.as_bytes())?;
    let mut first_prev = GENESIS;
    let (a, b) = range.unwrap_or((1, 0));
    let mut expected = a;
    let mut events = store.events(a, b);
    let mut line = Vec::with_capacity(1024);
    while let Some(row) = events.next().await {
        let row = row.map_err(AuditError::from)?;
        if row.seq != expected {
            return Err(BundleError::Inconsistent { seq: expected }.into());
        }
        if row.seq == a {
            first_prev = row.prev_hash;
        }
        expected += 1;
        jsonl.write(&row.body)?;
        jsonl.write(b"\n")?;
        // The CSV mirrors the hashed body, not the query columns.
        let inconsistent = || BundleError::Inconsistent { seq: row.seq };
        let fields = verify::body_fields(&row.body).filter(|f| f.seq == row.seq).ok_or_else(inconsistent)?;
        let payload = payload_text(&row.body).ok_or_else(inconsistent)?;
        line.clear();
        csv_line(&mut line, &fields, &row.prev_hash, &row.hash, payload);
        csv.write(&line)?;
        report.event(&fields, payload)?;
        if let Some(t) = &mut technical {
            t.event(&fields);
        }
    }
    drop(events);
    if range.is_some() && expected != b + 1 {
        return Err(BundleError::Inconsistent { seq: expected }.into());
    }
    let mut files = serde_json::Map::new();
    for f in [jsonl.finish()?, csv.finish()?] {
        files.insert(f.0.to_owned(), f.1);
    }
    report.end_events()?;
    for kind in RecordKind::ALL {
        let mut file = HashingFile::create(&tmp, records_file(kind))?;
        let mut rows = store.records(kind, a, b);
        while let Some(rec) = rows.next().await {
            let rec = rec.map_err(AuditError::from)?;
            let value = json!({
                "id": rec.id, "subject": rec.subject, "recorded_at": rec.recorded_at,
                "audit_seq": rec.audit_seq, "doc": rec.doc,
            });
            let text = jcs::canonicalize(&value).map_err(|_| BundleError::Inconsistent { seq: rec.audit_seq })?;
            file.write(&text)?;
            file.write(b"\n")?;
            report.record(kind, &rec)?;
            if let Some(t) = &mut technical {
                t.record(kind, &rec);
            }
        }
        let f = file.finish()?;
        files.insert(f.0.to_owned(), f.1);
    }

    // Proofs: inclusion of the last exported event in the covering checkpoint, and consistency
    // of the previous checkpoint with it, from one pass over the leaves.
    let mut proofs = serde_json::Map::new();
    if let Some(cov) = &covering {
        let inclusion = range.map(|(_, b)| merkle::inclusion_ranges(b - 1, cov.size)).unwrap_or_default();
        let consistency = previous.as_ref().map(|p| merkle::consistency_ranges(p.size, cov.size)).unwrap_or_default();
        let roots = leaf_range_roots(log, &[&inclusion, &consistency]).await?;
        let (inc, con) = (&roots[0], &roots[1]);
        let b64 = |hs: &[Hash]| hs.iter().map(|h| B64.encode(h)).collect::<Vec<_>>();
        if let Some((_, b)) = range {
            proofs.insert("inclusion".into(), json!({ "leaf_index": b - 1, "tree_size": cov.size, "hashes": b64(inc) }));
        }
        if let Some(p) = &previous {
            proofs.insert("consistency".into(), json!({ "size1": p.size, "size2": cov.size, "hashes": b64(con) }));
        }
    }

    // A copy of the standalone verifier, for convenience; auditors should prefer their own copy.
    let mut script = HashingFile::create(&tmp, "verify_bundle.py")?;
    script.write(include_str!("../../docs/audit/verify_bundle.py").as_bytes())?;
    let f = script.finish()?;
    files.insert(f.0.to_owned(), f.1);

    let cp_json = |c: &StoredCheckpoint| json!({ "size": c.size, "note": c.note });
    let public_keys: Vec<String> = log.signers.iter().map(|s| s.verifier().to_text()).collect();
    report.finish(covering.as_ref(), &public_keys)?;
    let f = report.into_file().finish()?;
    files.insert(f.0.to_owned(), f.1);
    let mut technical_file = Vec::new();
    if let Some(t) = technical {
        let f = t.write(&tmp, (&from, &to), covering.as_ref(), &public_keys)?;
        files.insert(f.0.to_owned(), f.1);
        technical_file.push(technical::HTML);
        if let Some(pdf) = options.pdf {
            let (html, out) = (tmp.join(technical::HTML), tmp.join(technical::PDF));
            pdf.convert(&html, &out).map_err(|source| BundleError::Pdf { path: html.clone(), source })?;
            files.insert(technical::PDF.to_owned(), file_entry(&out)?);
            technical_file.push(technical::PDF);
        }
    }
    let manifest = json!({
        "format": FORMAT,
        "generator": concat!("tollgate ", env!("CARGO_PKG_VERSION")),
        "generated_at": event::now(),
        "period": { "from": from, "to": to },
        "events": {
            "first_seq": range.map(|r| r.0),
            "last_seq": range.map(|r| r.1),
            "count": range.map_or(0, |(a, b)| b - a + 1),
            "prev_hash": hex::encode(first_prev),
        },
        "files": files,
        "checkpoint": covering.as_ref().map(cp_json),
        "previous_checkpoint": previous.as_ref().map(cp_json),
        "proofs": proofs,
        "public_keys": public_keys,
    });
    let path = tmp.join("manifest.json");
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    std::fs::write(&path, text).map_err(io_err(&path))?;
    if out.exists() {
        std::fs::remove_dir(out).map_err(io_err(out))?;
    }
    std::fs::rename(&tmp, out).map_err(io_err(out))?;
    Ok(ExportSummary { range, checkpoint_size: covering.map_or(0, |c| c.size), technical_file })
}

/// Roots of several proofs' leaf ranges (0-based leaf indices), from one streaming pass over
/// the events. Ranges within one proof are disjoint; different proofs may overlap.
async fn leaf_range_roots(log: &AuditLog, proofs: &[&[std::ops::Range<u64>]]) -> Result<Vec<Vec<Hash>>, ExportError> {
    let mut hashers: Vec<RangeRoots> = proofs.iter().map(|ranges| RangeRoots::new(ranges)).collect();
    let end = hashers.iter().map(RangeRoots::end).max().unwrap_or(0);
    if end > 0 {
        let mut rows = log.store().events(1, end);
        let mut expected = 1;
        while let Some(row) = rows.next().await {
            let row = row.map_err(AuditError::from)?;
            if row.seq != expected {
                return Err(BundleError::Inconsistent { seq: expected }.into());
            }
            expected += 1;
            let leaf = event::leaf_hash(&row.prev_hash, &row.body);
            for h in &mut hashers {
                h.push(leaf);
            }
        }
        if expected != end + 1 {
            return Err(BundleError::Inconsistent { seq: expected }.into());
        }
    }
    Ok(hashers.into_iter().map(RangeRoots::finish).collect())
}

/// Walks the whole log in `store`, checking every event and every checkpoint against
/// `trusted` keys (plus keys introduced by `audit.key.rotated` events once a checkpoint signed
/// by an already trusted key covers them), and against `anchors` kept outside the database.
///
/// Rows come from [`Store::event_batches`]; each batch is digested in parallel
/// ([`RowDigest`]) and then walked in order on a blocking thread, so the first bad row is the
/// one named whatever the parallelism.
///
/// # Errors
///
/// [`StoreError`] when the store cannot be read; problems with the data are in the report.
pub async fn verify_store(store: &Store, trusted: &[Verifier], anchors: &verify::Anchors<'_>) -> Result<Report, StoreError> {
    let checkpoints = store.checkpoints().await?;
    let head = store.head().await?;
    let mut batches = store.event_batches(1, u64::MAX);
    let trusted = trusted.to_vec();
    let (saved, every, witnesses) = (anchors.saved.to_vec(), anchors.every, anchors.witnesses.to_vec());
    match tokio::task::spawn_blocking(move || {
        let anchors = verify::Anchors { saved: &saved, every, witnesses: &witnesses };
        verify::walk(std::iter::from_fn(move || batches.blocking_next()), &checkpoints, head, trusted, &anchors)
    })
    .await
    {
        Ok(result) => result,
        // A blocking task cannot be cancelled once it runs, so this is a panic: pass it on.
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}
