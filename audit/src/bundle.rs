//! Auditor bundles: export a period of the log with everything needed to check it offline,
//! and check such a bundle without the database.
//!
//! Layout (see `docs/audit/bundle.md`):
//!
//! ```text
//! events.jsonl       one event per line: exactly the hashed bytes (RFC 8785), in seq order
//! events.csv         the same events as a table, with prev_hash and hash
//! releases.jsonl     records written in the period, each bound to its audit event
//! decisions.jsonl    (with every input), approvals.jsonl, gate_results.jsonl,
//! promotions.jsonl   model_cards.jsonl
//! report.html        a self-contained, readable report with client-side filters
//! technical-file.html  with `--technical-file`: EU AI Act Annex IV headings, each item traced
//! technical-file.pdf   to its records (the PDF when a converter is available)
//! manifest.json      sha256 of every file, the covering checkpoint and the proofs
//! ```
//!
//! Exports stream: memory does not grow with the number of events.

use crate::checkpoint::{Checkpoint, CheckpointError, Verifier};
use crate::event::{self, Event};
use crate::merkle::{self, Hash};
use crate::rows::RecordKind;
use crate::verify::{ChainWalker, Problem};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufRead as _, BufReader, BufWriter, Read as _, Write};
use std::path::{Path, PathBuf};

pub mod html;
pub mod technical;
#[cfg(test)]
mod tests;

/// The bundle format written in `manifest.json`.
pub const FORMAT: &str = "tollgate-audit-bundle/1";

/// At most this many rows per section are rendered in `report.html`; the JSONL and CSV files
/// always hold everything.
pub const REPORT_ROW_LIMIT: usize = 10_000;

/// Why an export or a bundle check could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file could not be read or written.
    #[error("failed to access `{path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The output directory exists and is not empty.
    #[error("output directory `{path}` exists and is not empty")]
    OutExists {
        /// The directory.
        path: PathBuf,
    },
    /// No signed checkpoint covers the end of the period, and no key is configured to sign one.
    #[error("no signed checkpoint covers event `{seq}`; configure a signing key to sign one at export")]
    Uncovered {
        /// The last event of the period.
        seq: u64,
    },
    /// The period's bounds are not valid times.
    #[error("invalid time `{value}`; expected RFC 3339, e.g. `2026-01-31T00:00:00Z`")]
    Time {
        /// The value given.
        value: String,
    },
    /// A built-in template failed (a bug: the templates are tested against the data they get).
    #[error("cannot render an export document")]
    Template(#[source] Box<tollgate_render::RenderError>),
    /// The PDF converter failed.
    #[error("failed to convert `{path}` to PDF")]
    Pdf {
        /// The HTML file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The stored log is inconsistent while exporting (run `tollgate audit verify`).
    #[error("the stored log is inconsistent at event `{seq}`")]
    Inconsistent {
        /// The row.
        seq: u64,
    },
}

/// Maps an I/O error on `path`.
pub fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BundleError + '_ {
    move |source| BundleError::Io { path: path.to_owned(), source }
}

/// Normalises an RFC 3339 time to the log's fixed-width UTC form, for range comparisons.
///
/// # Errors
///
/// [`BundleError::Time`].
pub fn normalize_time(value: &str) -> Result<String, BundleError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| event::format_time(t.with_timezone(&chrono::Utc)))
        .map_err(|_| BundleError::Time { value: value.to_owned() })
}

/// A writer that hashes what it writes.
pub struct HashingFile {
    name: &'static str,
    path: PathBuf,
    out: BufWriter<File>,
    hash: Sha256,
    bytes: u64,
}

impl HashingFile {
    /// Creates `dir/name`.
    pub fn create(dir: &Path, name: &'static str) -> Result<Self, BundleError> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(io_err(&path))?;
        Ok(Self { name, path, out: BufWriter::with_capacity(1 << 20, file), hash: Sha256::new(), bytes: 0 })
    }

    /// Writes and hashes `data`.
    pub fn write(&mut self, data: &[u8]) -> Result<(), BundleError> {
        self.hash.update(data);
        self.bytes += data.len() as u64;
        self.out.write_all(data).map_err(io_err(&self.path))
    }

    /// Flushes and syncs; the file's name and its manifest entry.
    pub fn finish(self) -> Result<(&'static str, Value), BundleError> {
        let file = self.out.into_inner().map_err(|e| BundleError::Io { path: self.path.clone(), source: e.into_error() })?;
        file.sync_all().map_err(io_err(&self.path))?;
        Ok((self.name, json!({ "sha256": hex::encode(self.hash.finalize()), "bytes": self.bytes })))
    }
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(out: &mut Vec<u8>, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

#[cfg(test)]
/// Splits one CSV line into fields (RFC 4180 quoting; fields hold no raw newlines here).
fn csv_split(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// The payload's canonical text inside a canonical event body. The body is RFC 8785 with the
/// members `action, actor, payload, seq, …`; a `"` inside a JSON string is always escaped, so
/// the first `"payload":` and the last `,"seq":` are the top-level ones.
pub fn payload_text(body: &[u8]) -> Option<&str> {
    const START: &[u8] = b"\"payload\":";
    const END: &[u8] = b",\"seq\":";
    let start = body.windows(START.len()).position(|w| w == START)? + START.len();
    let end = body.windows(END.len()).rposition(|w| w == END)?;
    std::str::from_utf8(body.get(start..end)?).ok()
}

/// One `events.csv` line (with its newline) for an event.
/// One event as a CSV line.
pub fn csv_line(out: &mut Vec<u8>, fields: &super::verify::BodyFields, prev: &Hash, hash: &Hash, payload: &str) {
    let mut hex_buf = [0u8; 64];
    out.extend_from_slice(fields.seq.to_string().as_bytes());
    for field in [&fields.time, &fields.actor, &fields.action, &fields.subject] {
        out.push(b',');
        csv_field(out, field);
    }
    for h in [prev, hash] {
        out.push(b',');
        if hex::encode_to_slice(h, &mut hex_buf).is_ok() {
            out.extend_from_slice(&hex_buf);
        }
    }
    out.push(b',');
    csv_field(out, payload);
    out.push(b'\n');
}

/// The header of `events.csv`.
pub const CSV_HEADER: &str = "seq,time,actor,action,subject,prev_hash,hash,payload\n";

/// The file of the records of `kind`.
pub fn records_file(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Release => "releases.jsonl",
        RecordKind::Decision => "decisions.jsonl",
        RecordKind::Approval => "approvals.jsonl",
        RecordKind::GateResult => "gate_results.jsonl",
        RecordKind::Promotion => "promotions.jsonl",
        RecordKind::ModelCard => "model_cards.jsonl",
    }
}

/// Why a bundle does not verify.
#[derive(Debug, thiserror::Error)]
pub enum BundleProblem {
    /// `manifest.json` is missing a field or has the wrong format.
    #[error("manifest is malformed: {reason}")]
    Manifest {
        /// What is wrong.
        reason: String,
    },
    /// A file's digest differs from the manifest.
    #[error("file `{name}` does not match its sha256 in the manifest")]
    Digest {
        /// The file.
        name: String,
    },
    /// The checkpoint is not validly signed by a trusted key.
    #[error("the bundle's checkpoint is not validly signed")]
    Signature(#[source] CheckpointError),
    /// An event line is wrong.
    #[error("events.jsonl line `{line}`")]
    Event {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        #[source]
        problem: Problem,
    },
    /// An event lies outside the exported period.
    #[error("event `{seq}` lies outside the exported period")]
    OutsidePeriod {
        /// The event.
        seq: u64,
    },
    /// The events do not add up to what the manifest says.
    #[error("events.jsonl holds `{found}` events where the manifest says `{expected}`")]
    Count {
        /// Per the manifest.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// A Merkle proof does not verify against the signed checkpoint.
    #[error("the {which} proof does not verify against the signed checkpoint")]
    Proof {
        /// `inclusion` or `consistency`.
        which: &'static str,
        /// Why.
        #[source]
        source: merkle::ProofError,
    },
    /// A CSV row differs from the event it should mirror.
    #[error("events.csv row `{row}` differs from events.jsonl")]
    Csv {
        /// 1-based data row.
        row: u64,
    },
    /// A record is not bound to a matching event of the bundle.
    #[error("{file} line `{line}` is not recorded by a matching audit event")]
    Record {
        /// The file.
        file: &'static str,
        /// 1-based line.
        line: u64,
    },
}

/// The outcome of checking a bundle.
#[derive(Debug, Default)]
pub struct BundleReport {
    /// Events checked.
    pub events: u64,
    /// Records checked.
    pub records: u64,
    /// Size of the covering checkpoint.
    pub checkpoint_size: u64,
    /// Whether the checkpoint was checked against keys the caller trusts (`false`: against
    /// the keys listed in the manifest itself).
    pub independently_trusted: bool,
    /// The first problem found.
    pub problem: Option<BundleProblem>,
}

/// The manifest entry of a file already written into the bundle (`sha256` and `bytes`).
///
/// # Errors
///
/// [`BundleError::Io`].
pub fn file_entry(path: &Path) -> Result<Value, BundleError> {
    let bytes = std::fs::metadata(path).map_err(io_err(path))?.len();
    Ok(json!({ "sha256": sha256_file(path)?, "bytes": bytes }))
}

fn sha256_file(path: &Path) -> Result<String, BundleError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}

/// Checks a bundle in `dir` without the database. `trusted` are the auditor's keys; when empty,
/// the keys listed in the manifest are used and the report says so.
///
/// # Errors
///
/// [`BundleError::Io`] when a file cannot be read; problems with the content are in the report.
pub fn verify_bundle(dir: &Path, trusted: &[Verifier]) -> Result<BundleReport, BundleError> {
    let mut report = BundleReport::default();
    match check_bundle(dir, trusted, &mut report) {
        Ok(()) => {}
        Err(Check::Problem(p)) => report.problem = Some(p),
        Err(Check::Fatal(e)) => return Err(e),
    }
    Ok(report)
}

enum Check {
    Problem(BundleProblem),
    Fatal(BundleError),
}

impl From<BundleProblem> for Check {
    fn from(p: BundleProblem) -> Self {
        Check::Problem(p)
    }
}

impl From<BundleError> for Check {
    fn from(e: BundleError) -> Self {
        Check::Fatal(e)
    }
}

fn manifest_err(reason: &str) -> Check {
    Check::Problem(BundleProblem::Manifest { reason: reason.to_owned() })
}

fn decode_hashes(v: &Value) -> Option<Vec<Vec<u8>>> {
    v.as_array()?.iter().map(|h| B64.decode(h.as_str()?).ok()).collect()
}

/// One reader per records file, each positioned at its next record.
struct RecordCursors {
    cursors: Vec<RecordCursor>,
    matched: u64,
}

struct RecordCursor {
    kind: RecordKind,
    file: &'static str,
    lines: std::io::Lines<BufReader<File>>,
    line: u64,
    next: Option<(u64, Value)>,
}

impl RecordCursor {
    fn advance(&mut self) -> Result<(), Check> {
        let file = self.file;
        self.next = match self.lines.next() {
            None => None,
            Some(line) => {
                self.line += 1;
                let line = line.map_err(|source| BundleError::Io { path: PathBuf::from(file), source })?;
                let bad = BundleProblem::Record { file, line: self.line };
                let mut rec: Value = serde_json::from_str(&line).map_err(|_| Check::Problem(bad))?;
                let seq = rec["audit_seq"].as_u64().ok_or(BundleProblem::Record { file, line: self.line })?;
                Some((seq, rec["doc"].take()))
            }
        };
        Ok(())
    }
}

impl RecordCursors {
    fn open(dir: &Path, files: &serde_json::Map<String, Value>) -> Result<Self, Check> {
        let mut cursors = Vec::new();
        for kind in RecordKind::ALL {
            let file = records_file(kind);
            if !files.contains_key(file) {
                continue;
            }
            let path = dir.join(file);
            let lines = BufReader::new(File::open(&path).map_err(io_err(&path))?).lines();
            let mut cursor = RecordCursor { kind, file, lines, line: 0, next: None };
            cursor.advance()?;
            cursors.push(cursor);
        }
        Ok(Self { cursors, matched: 0 })
    }

    /// Consumes the record written by event `seq`, if any, and checks it equals the payload.
    fn event(&mut self, seq: u64, action: &str, body: &[u8]) -> Result<(), Check> {
        for c in &mut self.cursors {
            let Some((rec_seq, _)) = &c.next else {
                continue;
            };
            let bad = BundleProblem::Record { file: c.file, line: c.line };
            if *rec_seq < seq {
                return Err(bad.into());
            }
            if *rec_seq == seq {
                let payload = Event::decode(body).ok().map(|e| e.payload);
                let doc = c.next.as_ref().map(|(_, d)| d);
                if action != c.kind.action() || payload.as_ref() != doc {
                    return Err(bad.into());
                }
                self.matched += 1;
                c.advance()?;
            }
        }
        Ok(())
    }

    /// The number of records matched; an error if any record was left unmatched.
    fn finish(self) -> Result<u64, Check> {
        for c in &self.cursors {
            if c.next.is_some() {
                return Err(BundleProblem::Record { file: c.file, line: c.line }.into());
            }
        }
        Ok(self.matched)
    }
}

fn check_bundle(dir: &Path, trusted: &[Verifier], report: &mut BundleReport) -> Result<(), Check> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let m: Value = serde_json::from_str(&text).map_err(|_| manifest_err("not JSON"))?;
    if m["format"] != FORMAT {
        return Err(manifest_err("unknown format"));
    }
    // 1. Every file matches its digest, and the expected files are all listed.
    let files = m["files"].as_object().ok_or_else(|| manifest_err("no `files`"))?;
    for required in ["events.jsonl", "events.csv", "report.html"] {
        if !files.contains_key(required) {
            return Err(manifest_err(&format!("`{required}` is not listed")));
        }
    }
    for (name, entry) in files {
        if name.contains('/') || name.contains('\\') || name.starts_with('.') {
            return Err(manifest_err("a file name leaves the bundle"));
        }
        let want = entry["sha256"].as_str().ok_or_else(|| manifest_err("a file lacks `sha256`"))?;
        if sha256_file(&dir.join(name))? != want {
            return Err(BundleProblem::Digest { name: name.clone() }.into());
        }
    }
    // 2. The checkpoint is signed by a trusted key.
    let listed: Vec<Verifier> =
        m["public_keys"].as_array().map(|a| a.iter().filter_map(|k| Verifier::from_text(k.as_str()?).ok()).collect()).unwrap_or_default();
    report.independently_trusted = !trusted.is_empty();
    let keys = if trusted.is_empty() { &listed[..] } else { trusted };
    let open = |note: &Value| -> Result<Option<Checkpoint>, Check> {
        match note.as_str() {
            None => Ok(None),
            Some(note) => Ok(Some(Checkpoint::open(note, keys).map_err(BundleProblem::Signature)?.0)),
        }
    };
    let cp = open(&m["checkpoint"]["note"])?;
    let previous = open(&m["previous_checkpoint"]["note"])?;
    report.checkpoint_size = cp.as_ref().map_or(0, |c| c.size);
    // 3. The events chain from `prev_hash`, in seq order, inside the period.
    let ev = &m["events"];
    let count = ev["count"].as_u64().ok_or_else(|| manifest_err("no `events.count`"))?;
    let first = ev["first_seq"].as_u64().unwrap_or(1);
    let prev: Hash = ev["prev_hash"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| manifest_err("bad `events.prev_hash`"))?;
    let (from, to) = (m["period"]["from"].as_str().unwrap_or(""), m["period"]["to"].as_str().unwrap_or(""));
    let mut walker = ChainWalker::starting_at(first, prev);
    let mut last: Option<(Hash, Vec<u8>)> = None;
    // Records are bound to their events by a merge join: each records file is in audit_seq
    // order, like the events, so memory stays constant however long the bundle is.
    let mut pending = RecordCursors::open(dir, files)?;
    let path = dir.join("events.jsonl");
    let mut reader = BufReader::with_capacity(1 << 20, File::open(&path).map_err(io_err(&path))?);
    let csv_path = dir.join("events.csv");
    let mut csv = BufReader::with_capacity(1 << 20, File::open(&csv_path).map_err(io_err(&csv_path))?);
    // Buffers are reused across lines: memory and allocations stay flat.
    let (mut body, mut csv_row, mut expected) = (Vec::new(), Vec::new(), Vec::new());
    csv.read_until(b'\n', &mut csv_row).map_err(io_err(&csv_path))?;
    if csv_row != CSV_HEADER.as_bytes() {
        return Err(BundleProblem::Csv { row: 0 }.into());
    }
    let mut line = 0u64;
    loop {
        body.clear();
        if reader.read_until(b'\n', &mut body).map_err(io_err(&path))? == 0 {
            break;
        }
        line += 1;
        let seq = walker.next_seq();
        if body.pop() != Some(b'\n') {
            return Err(BundleProblem::Event { line, problem: Problem::Malformed { seq } }.into());
        }
        let prev = walker.hash();
        let fields = walker.step(seq, &body, None, None).map_err(|problem| BundleProblem::Event { line, problem })?;
        if fields.time.as_str() < from || fields.time.as_str() > to {
            return Err(BundleProblem::OutsidePeriod { seq }.into());
        }
        pending.event(seq, &fields.action, &body)?;
        // 4. The CSV mirrors the events, byte for byte.
        csv_row.clear();
        csv.read_until(b'\n', &mut csv_row).map_err(io_err(&csv_path))?;
        expected.clear();
        let payload = payload_text(&body).ok_or(BundleProblem::Event { line, problem: Problem::Malformed { seq } })?;
        csv_line(&mut expected, &fields, &prev, &walker.hash(), payload);
        if csv_row != expected {
            return Err(BundleProblem::Csv { row: line }.into());
        }
        match &mut last {
            Some((p, b)) => {
                *p = prev;
                std::mem::swap(b, &mut body);
            }
            None => last = Some((prev, std::mem::take(&mut body))),
        }
    }
    csv_row.clear();
    if csv.read_until(b'\n', &mut csv_row).map_err(io_err(&csv_path))? != 0 {
        return Err(BundleProblem::Csv { row: line + 1 }.into());
    }
    let found = walker.next_seq() - first;
    report.events = found;
    if found != count {
        return Err(BundleProblem::Count { expected: count, found }.into());
    }
    // 5. The last event is in the signed tree, which pins every event before it.
    if let Some((prev, body)) = &last {
        let cp = cp.as_ref().ok_or_else(|| manifest_err("events but no checkpoint"))?;
        let inc = &m["proofs"]["inclusion"];
        let index = inc["leaf_index"].as_u64().ok_or_else(|| manifest_err("no inclusion proof"))?;
        let hashes = decode_hashes(&inc["hashes"]).ok_or_else(|| manifest_err("bad inclusion hashes"))?;
        if index != walker.next_seq() - 2 || inc["tree_size"].as_u64() != Some(cp.size) {
            return Err(manifest_err("inclusion proof is for another leaf or tree"));
        }
        let leaf = event::leaf_hash(prev, body);
        merkle::verify_inclusion(index, cp.size, &leaf, &hashes, &cp.root)
            .map_err(|source| BundleProblem::Proof { which: "inclusion", source })?;
    }
    // 6. The previous checkpoint is consistent with the covering one.
    if let (Some(prev), Some(cp)) = (&previous, &cp) {
        let con = &m["proofs"]["consistency"];
        let hashes = decode_hashes(&con["hashes"]).ok_or_else(|| manifest_err("bad consistency hashes"))?;
        if con["size1"].as_u64() != Some(prev.size) || con["size2"].as_u64() != Some(cp.size) {
            return Err(manifest_err("consistency proof is for other sizes"));
        }
        merkle::verify_consistency(prev.size, cp.size, &hashes, &prev.root, &cp.root)
            .map_err(|source| BundleProblem::Proof { which: "consistency", source })?;
    }
    // 7. Every record was bound to the event that recorded it.
    report.records = pending.finish()?;
    Ok(())
}
