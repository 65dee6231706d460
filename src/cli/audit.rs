//! `tollgate audit`: append, verify, checkpoint, export and verify-bundle.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use tollgate_audit::bundle;
use tollgate_audit::checkpoint::{self, Checkpoint, KeyKind, Signer, Verifier};
use tollgate_audit::event::NewEvent;
use tollgate_audit::jcs;
use tollgate_audit::verify::{Anchors, Saved};
use tollgate_store::verify_store;
use tollgate_store::{AuditLog, DEFAULT_CHECKPOINT_EVERY, KEY_ENV};
use tollgate_store::{DEFAULT_URL, Store};

use super::out;

#[derive(Debug, clap::Args)]
pub struct DbArgs {
    /// Database URL: `sqlite://PATH` (one file, the default) or `postgres://…`.
    #[arg(long, env = "TOLLGATE_DB", default_value = DEFAULT_URL)]
    db: String,
}

impl DbArgs {
    /// The database URL.
    pub fn url(&self) -> &str {
        &self.db
    }
}

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// File holding the checkpoint signing key (`PRIVATE+KEY+…`); `TOLLGATE_AUDIT_KEY` may hold
    /// the key itself instead.
    #[arg(long, env = "TOLLGATE_AUDIT_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// File holding the previous signing key, to cosign the first checkpoint after a rotation.
    #[arg(long, env = "TOLLGATE_AUDIT_PREVIOUS_KEY_FILE")]
    previous_key_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// A trusted checkpoint key (`name+id+base64`), or a file of them, one per line; repeatable.
    /// Defaults to the verifier of the configured signing key.
    #[arg(long = "trusted-key", env = "TOLLGATE_AUDIT_TRUSTED_KEYS", value_delimiter = ',')]
    trusted_keys: Vec<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Record an external event through the same path as tollgate's own events.
    Append {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// Who did it.
        #[arg(long)]
        actor: String,
        /// What was done, as a dotted name (`deploy.approved`).
        #[arg(long)]
        action: String,
        /// What it was done to.
        #[arg(long)]
        subject: String,
        /// Details as JSON (I-JSON: no duplicate names, integers within ±2^53).
        #[arg(long, default_value = "{}")]
        payload: String,
    },
    /// Walk the chain and the checkpoints; name the first bad row (exit 1).
    ///
    /// With trusted keys, a log with events past the checkpoint interval and no checkpoint
    /// covering them fails, as does an empty log: deleting the checkpoint rows, or the whole
    /// log, is how a rewrite would hide.
    Verify {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        trust: TrustArgs,
        /// A checkpoint saved outside the database (a file holding a signed note, as `tollgate
        /// audit checkpoint` prints it), or a directory of them (`*.checkpoint`, `*.note`,
        /// `*.txt`); repeatable. Each must be signed by a trusted key and match the events it
        /// covers, which proves the log as it is extends the one it was signed over.
        #[arg(long = "checkpoint", value_name = "FILE|DIR")]
        checkpoints: Vec<PathBuf>,
        /// The interval writers sign checkpoints at.
        #[arg(long, default_value_t = DEFAULT_CHECKPOINT_EVERY, value_name = "EVENTS")]
        checkpoint_every: u64,
        /// A witness key (C2SP `tlog-cosignature`, `name+id+base64(0x04 ‖ key)`), or a file of
        /// them; repeatable. Every saved checkpoint (`--checkpoint`) must carry its valid
        /// cosignature (`tollgate audit cosign`).
        #[arg(long = "witness-key", value_name = "KEY|FILE")]
        witness_keys: Vec<String>,
    },
    /// As a witness: cosign a checkpoint (C2SP `cosignature/v1`) after checking the log's
    /// signature on it; prints the note with the cosignature added.
    Cosign {
        /// The checkpoint note, as `tollgate audit checkpoint` prints it.
        note: PathBuf,
        /// The witness's key file (`tollgate audit keygen --witness`).
        #[arg(long)]
        key_file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Sign a checkpoint over the log as it stands.
    Checkpoint {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Export the events of a period, and the records they wrote, as a self-verifying bundle.
    Export {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// Start of the period (RFC 3339), inclusive.
        #[arg(long)]
        from: String,
        /// End of the period (RFC 3339), inclusive.
        #[arg(long)]
        to: String,
        /// Directory to write; must not exist or be empty.
        #[arg(long)]
        out: PathBuf,
        /// Add the auditor's technical file: EU AI Act Annex IV headings, each item traced to
        /// its records, with a checklist of what the config repo does not provide (HTML, and
        /// PDF when a converter is found).
        #[arg(long)]
        technical_file: bool,
        /// The PDF converter for the technical file: a headless Chromium (`chromium`,
        /// `chromium-browser` or `google-chrome` on PATH by default), or `none`.
        #[arg(long, env = "TOLLGATE_PDF_CONVERTER", value_name = "PATH|none", requires = "technical_file")]
        pdf_converter: Option<PathBuf>,
    },
    /// Check an exported bundle offline (no database needed).
    VerifyBundle {
        /// The bundle directory.
        dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Generate a checkpoint signing key; writes the secret key to FILE and prints the public one.
    Keygen {
        /// Key name, e.g. `tollgate-prod-2026` (a witness's: a URL-like name, `witness.acme.example/w1`).
        #[arg(long)]
        name: String,
        /// A witness's cosigning key (C2SP `tlog-cosignature`, type 0x04) instead of a log key.
        #[arg(long)]
        witness: bool,
        /// Where to write the secret key (created with mode 0600; must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Reads checkpoints saved outside the database: files, and directories of `*.checkpoint`,
/// `*.note` and `*.txt` files (not recursively), in name order.
fn saved_checkpoints(paths: &[PathBuf]) -> anyhow::Result<Vec<Saved>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("failed to read `{}`", path.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "checkpoint" || e == "note" || e == "txt"))
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|file| {
            let note = std::fs::read_to_string(&file).with_context(|| format!("failed to read checkpoint `{}`", file.display()))?;
            Ok(Saved { name: file.display().to_string(), note })
        })
        .collect()
}

/// Runs one `tollgate audit` command.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(run_async(cmd))
}

pub(crate) fn read_signer(path: &Path) -> anyhow::Result<Signer> {
    let text = std::fs::read_to_string(path).with_context(|| format!("failed to read key file `{}`", path.display()))?;
    Signer::from_text(&text).with_context(|| format!("invalid key in `{}`", path.display()))
}

impl KeyArgs {
    /// The current signing key (file, else `TOLLGATE_AUDIT_KEY`) and any previous one.
    fn signers(&self) -> anyhow::Result<Option<(Signer, Vec<Signer>)>> {
        let current = match &self.key_file {
            Some(path) => Some(read_signer(path)?),
            None => match std::env::var(KEY_ENV) {
                Ok(text) if !text.trim().is_empty() => {
                    Some(Signer::from_text(&text).with_context(|| format!("invalid key in `{KEY_ENV}`"))?)
                }
                _ => None,
            },
        };
        let previous = self.previous_key_file.as_deref().map(read_signer).transpose()?;
        Ok(current.map(|c| (c, previous.into_iter().collect())))
    }

    async fn log(&self, db: &DbArgs) -> anyhow::Result<AuditLog> {
        self.open_log(&db.db).await
    }

    /// Opens the audit log at `url` with this command's signing keys, after checking that it
    /// still matches its last checkpoint. Every command that records events goes through it.
    pub(crate) async fn open_log(&self, url: &str) -> anyhow::Result<AuditLog> {
        let store = Store::open(url).await?;
        let log = AuditLog::new(store);
        let log = match self.signers()? {
            Some((current, previous)) => log.with_signers(current, previous),
            None => log,
        };
        // Never write to a log that no longer matches its last checkpoint.
        log.check_start().await?;
        Ok(log)
    }
}

/// Public keys given as text or as files of them (one per line, `#` comments), all of `kind`.
pub(crate) fn read_verifiers(items: &[String], kind: KeyKind, what: &str) -> anyhow::Result<Vec<Verifier>> {
    let mut keys = Vec::new();
    for item in items {
        let path = Path::new(item);
        let text = if !item.contains('+') && path.exists() {
            std::fs::read_to_string(path).with_context(|| format!("failed to read `{}`", path.display()))?
        } else {
            item.clone()
        };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let key = Verifier::from_text(line).with_context(|| format!("invalid {what} `{line}`"))?;
            if key.kind() != kind {
                let hint = "a log key (type 0x01) goes in `--trusted-key`, a witness key (type 0x04) in `--witness-key`";
                return Err(tollgate_error::Hinted::new(format!("`{line}` is not a {what}"), hint).into());
            }
            keys.push(key);
        }
    }
    Ok(keys)
}

impl TrustArgs {
    fn verifiers(&self, key: &KeyArgs) -> anyhow::Result<Vec<Verifier>> {
        let mut keys = read_verifiers(&self.trusted_keys, KeyKind::Log, "trusted key")?;
        if keys.is_empty()
            && let Some((current, previous)) = key.signers()?
        {
            keys.extend(std::iter::once(current).chain(previous).map(|s| s.verifier()));
        }
        Ok(keys)
    }
}

async fn run_async(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Append { db, key, actor, action, subject, payload } => {
            let payload = jcs::parse_strict(&payload).context("invalid `--payload`")?;
            jcs::canonicalize(&payload).context("invalid `--payload`")?;
            let event = NewEvent::new(actor, action, subject, payload)?;
            let log = key.log(&db).await?;
            let appended = log.append(&[event]).await?;
            for e in appended {
                out(format_args!("{} {}", e.seq, hex::encode(e.hash)));
            }
            log.store().close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cosign { note, key_file, trust } => {
            let witness = read_signer(&key_file)?;
            if witness.kind() != KeyKind::Witness {
                let hint = "make one with `tollgate audit keygen --witness`";
                return Err(tollgate_error::Hinted::new(format!("`{}` is not a witness key", key_file.display()), hint).into());
            }
            let trusted = read_verifiers(&trust.trusted_keys, KeyKind::Log, "trusted key")?;
            if trusted.is_empty() {
                let hint = "pass the log's public key with `--trusted-key`: a witness cosigns only what the log signed";
                return Err(tollgate_error::Hinted::new("no trusted log key", hint).into());
            }
            let text = std::fs::read_to_string(&note).with_context(|| format!("failed to read `{}`", note.display()))?;
            Checkpoint::open(&text, &trusted)
                .with_context(|| format!("`{}` is not a checkpoint signed by a trusted log key", note.display()))?;
            let _ = write!(std::io::stdout().lock(), "{}", checkpoint::cosign_note(&text, &witness)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { db, key, trust, checkpoints, checkpoint_every, witness_keys } => {
            let trusted = trust.verifiers(&key)?;
            let witnesses = read_verifiers(&witness_keys, KeyKind::Witness, "witness key")?;
            let saved = saved_checkpoints(&checkpoints)?;
            let store = Store::open(&db.db).await?;
            if trusted.is_empty() && (!store.checkpoints().await?.is_empty() || !saved.is_empty()) {
                let hint = "pass `--trusted-key NAME+ID+KEY` (or a file of keys), or configure the signing key";
                return Err(tollgate_error::Hinted::new("no trusted checkpoint key", hint).into());
            }
            let anchors = Anchors { saved: &saved, every: Some(checkpoint_every), witnesses: &witnesses };
            let report = verify_store(&store, &trusted, &anchors).await?;
            store.close().await;
            match report.problem {
                None => {
                    let saved = if report.saved > 0 { format!(", {} saved checkpoints matched", report.saved) } else { String::new() };
                    out(format_args!(
                        "ok: {} events, {} checkpoints verified{saved}; last checkpoint covers {} of {} events",
                        report.events, report.checkpoints, report.last_checkpoint, report.events
                    ));
                    Ok(ExitCode::SUCCESS)
                }
                Some(problem) => {
                    let first = problem.seq().map(|s| format!(" (first bad row: seq {s})")).unwrap_or_default();
                    out(format_args!("FAILED{first}: {}", tollgate_error::chain(&problem)));
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Checkpoint { db, key } => {
            let log = key.log(&db).await?;
            let cp = log.checkpoint().await?;
            log.store().close().await;
            let _ = write!(std::io::stdout().lock(), "{}", cp.note);
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { db, key, from, to, out: dir, technical_file, pdf_converter } => {
            let log = key.log(&db).await?;
            let converter = technical_file.then(|| super::pdf::Chromium::find(pdf_converter.as_deref())).flatten();
            let options =
                tollgate_store::ExportOptions { technical_file, pdf: converter.as_ref().map(|c| c as &dyn bundle::technical::ToPdf) };
            let summary = tollgate_store::export_with(&log, &from, &to, &dir, &options).await?;
            log.store().close().await;
            match summary.range {
                Some((a, b)) => {
                    out(format_args!("exported events {a}..={b} to `{}`, covered by checkpoint {}", dir.display(), summary.checkpoint_size))
                }
                None => out(format_args!("no events in the period; wrote an empty bundle to `{}`", dir.display())),
            }
            match summary.technical_file.as_slice() {
                [] => {}
                [html] if pdf_converter.as_deref().is_some_and(|p| p.as_os_str() == "none") => {
                    out(format_args!("PDF conversion is off (--pdf-converter none); wrote {html} only"));
                }
                [html] if converter.is_none() => out(format_args!(
                    "no PDF converter found (looked for {} on PATH; --pdf-converter names one); wrote {html} only",
                    super::pdf::CANDIDATES.join(", ")
                )),
                names => out(format_args!("wrote the technical file: {}", names.join(", "))),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyBundle { dir, key, trust } => {
            let trusted = trust.verifiers(&key)?;
            let report = bundle::verify_bundle(&dir, &trusted)?;
            match report.problem {
                None => {
                    out(format_args!(
                        "ok: {} events and {} records verified against checkpoint {}",
                        report.events, report.records, report.checkpoint_size
                    ));
                    if !report.independently_trusted {
                        out(
                            "note: the checkpoint was checked against the keys listed in the bundle itself; pass `--trusted-key` to check it against a key you trust",
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(problem) => {
                    out(format_args!("FAILED: {}", tollgate_error::chain(&problem)));
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Keygen { name, witness, out: path } => {
            let signer = Signer::generate_kind(&name, if witness { KeyKind::Witness } else { KeyKind::Log })?;
            write_secret(&path, &signer.to_text())?;
            out(signer.verifier().to_text());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("failed to create key file `{}`", path.display()))?;
    writeln!(file, "{text}").with_context(|| format!("failed to write key file `{}`", path.display()))?;
    Ok(())
}
