//! TLS for the server: the certificate chain and key from PEM files (rustls, TLS 1.2 and 1.3,
//! HTTP/1.1), reloaded while the server runs; `server` wraps each connection.
//!
//! Every handshake takes its certificate from a [`CertResolver`], which holds the current pair
//! behind an [`ArcSwap`]: a handshake reads it without a lock, and a new pair replaces it whole.
//! A [`Reloader`] watches the two files (cert-manager rotates a Secret's files in place, by a
//! symbolic-link swap or a plain rewrite) and swaps a new pair in only when it reads, parses and
//! the key fits the certificate; a half-written, mismatched or garbled pair is logged, counted
//! and otherwise ignored, and the previous certificate stays in use.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};

#[cfg(test)]
mod tests;

/// How often `tollgate serve` looks at the certificate files, unless told otherwise.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// The shortest interval [`Reloader::run`] polls at; a shorter one is taken as this.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(100);

/// A file whose change time is this close to the moment it was read may change again within
/// the file system's timestamp granularity without its metadata showing it (git's "racily
/// clean" entries); it is read again at the next check.
const RACY: Duration = Duration::from_secs(2);

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or held nothing usable.
    #[error("failed to read {what} from `{path}`: {reason}")]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The key cannot sign for the certificate: the key of another certificate, a key type
    /// rustls does not support, or a certificate it cannot parse.
    #[error("the private key `{key}` cannot be used with the certificate `{cert}`")]
    Pair {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// What rustls found.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the server configuration.
    #[error("the TLS configuration cannot be built")]
    Config(#[source] rustls::Error),
}

/// A certificate chain and its private key, read and checked together.
#[derive(Debug)]
pub struct Certificate {
    key: Arc<CertifiedKey>,
    /// Of the two files' bytes, so that re-reading unchanged files is recognised.
    digest: [u8; 32],
    fingerprint: String,
    not_after: Option<jiff::Timestamp>,
}

impl Certificate {
    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] naming the file that cannot be read or holds no PEM block of its kind;
    /// [`TlsError::Pair`] when the key does not fit the first certificate of the chain.
    pub fn load(cert: &Path, key: &Path) -> Result<Certificate, TlsError> {
        Certificate::parse(cert, &read(cert, "certificate")?, key, &read(key, "private key")?)
    }

    /// As [`Certificate::load`], from the files' bytes (`cert` and `key` name them in errors).
    fn parse(cert: &Path, cert_pem: &[u8], key: &Path, key_pem: &[u8]) -> Result<Certificate, TlsError> {
        let pem = |what, path: &Path, reason: String| TlsError::Pem { what, path: path.display().to_string(), reason };
        let chain =
            CertificateDer::pem_slice_iter(cert_pem).collect::<Result<Vec<_>, _>>().map_err(|e| pem("certificate", cert, e.to_string()))?;
        let Some(leaf) = chain.first() else {
            return Err(pem("certificate", cert, "no `BEGIN CERTIFICATE` block".into()));
        };
        let fingerprint = hex::encode(Sha256::digest(leaf));
        let not_after = not_after(leaf);
        let private = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| pem("private key", key, e.to_string()))?;
        // What `ServerConfig::with_single_cert` checks: the key loads, and its public half is the
        // leaf's (a key whose public half cannot be told is taken, as rustls takes it).
        let certified = CertifiedKey::from_der(chain, private, &provider()).map_err(|source| TlsError::Pair {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
            source,
        })?;
        Ok(Certificate { key: Arc::new(certified), digest: digest(cert_pem, key_pem), fingerprint, not_after })
    }

    /// The SHA-256 fingerprint of the leaf certificate, in lower-case hex (what `openssl x509
    /// -fingerprint -sha256` prints, without the colons).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// When the leaf certificate expires (its `notAfter`); `None` if it could not be read.
    pub fn not_after(&self) -> Option<jiff::Timestamp> {
        self.not_after
    }

    /// The chain and signing key handshakes use.
    pub fn certified_key(&self) -> &Arc<CertifiedKey> {
        &self.key
    }
}

/// The number of reloads since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reloads {
    /// New certificates swapped in.
    pub ok: u64,
    /// Changed files whose pair was refused (each distinct broken pair once).
    pub error: u64,
}

/// The certificate handshakes present: the current pair, replaced whole by a [`Reloader`].
///
/// # Guarantees
///
/// A handshake reads the current pair without taking a lock and gets either the previous pair
/// or the next one, never a certificate of one and a key of the other.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<Certificate>,
    ok: AtomicU64,
    error: AtomicU64,
}

impl CertResolver {
    /// A resolver that presents `first` until something swaps another in.
    pub fn new(first: Certificate) -> CertResolver {
        CertResolver { current: ArcSwap::from_pointee(first), ok: AtomicU64::new(0), error: AtomicU64::new(0) }
    }

    /// The certificate presented now.
    pub fn current(&self) -> Arc<Certificate> {
        self.current.load_full()
    }

    /// Reloads done and refused so far.
    pub fn reloads(&self) -> Reloads {
        Reloads { ok: self.ok.load(Ordering::Relaxed), error: self.error.load(Ordering::Relaxed) }
    }

    /// A server config (TLS 1.2 and 1.3, HTTP/1.1) whose handshakes present this resolver's
    /// certificate of the moment.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] if rustls refuses the protocol versions (never with its `ring`
    /// provider).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let resolver: Arc<dyn ResolvesServerCert> = Arc::clone(self) as _;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.load().key))
    }
}

/// A server config from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1),
/// presenting that certificate for as long as it runs (see [`Reloader`] for one that follows
/// the files).
///
/// # Errors
///
/// [`TlsError`] naming the file and what was wrong.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    Arc::new(CertResolver::new(Certificate::load(cert, key)?)).server_config()
}

/// What one [`Reloader::check`] did.
#[derive(Debug)]
pub enum Checked {
    /// The files are as they were, hold the pair already in use (or already refused), or
    /// changed while they were read (they are read again at the next check).
    Unchanged,
    /// A new pair was swapped in.
    Reloaded,
    /// The files changed, and the new pair was refused; the previous one is still presented.
    Refused(TlsError),
}

/// Follows a certificate file and a key file, swapping each new, whole and consistent pair into
/// its [`CertResolver`].
///
/// A check compares the two files' metadata (device, inode, length, modification and change
/// times, through symbolic links: a Kubernetes Secret volume swaps a `..data` link to a new
/// directory) with what it saw last time; when anything differs, or the files were read too
/// soon after they changed, it reads both and compares their digest with the pair in use.
///
/// # Guarantees
///
/// A pair that cannot be used never replaces the current one: it is logged as an error naming
/// the file and why, counted in [`Reloads::error`] once (not at every check while the files
/// stay so), and read again whenever the files change. Nothing here panics on what a file
/// holds.
#[derive(Debug)]
pub struct Reloader {
    cert: PathBuf,
    key: PathBuf,
    resolver: Arc<CertResolver>,
    /// The files' metadata when last read; `None` reads them at the next check.
    seen: Option<[Option<Stamp>; 2]>,
    /// The digest of the last pair refused, so that one broken pair is reported once.
    refused: Option<[u8; 32]>,
}

impl Reloader {
    /// Reads the pair for the first time.
    ///
    /// # Errors
    ///
    /// As [`Certificate::load`]: a server does not start on a pair it cannot use.
    pub fn new(cert: &Path, key: &Path) -> Result<Reloader, TlsError> {
        let (cert, key) = (cert.to_path_buf(), key.to_path_buf());
        let stamps = [Stamp::of(&cert), Stamp::of(&key)];
        let first = Certificate::load(&cert, &key)?;
        let seen = stable(stamps, SystemTime::now());
        Ok(Reloader { cert, key, resolver: Arc::new(CertResolver::new(first)), seen, refused: None })
    }

    /// The resolver this reloader swaps certificates into (for the server config and metrics).
    pub fn resolver(&self) -> &Arc<CertResolver> {
        &self.resolver
    }

    /// Looks at the files once, and swaps their pair in when it changed and can be used.
    pub fn check(&mut self) -> Checked {
        self.check_at(SystemTime::now())
    }

    /// As [`Reloader::check`], reading the files at `now` (tests pass a later moment to see
    /// what a check does once files have settled).
    fn check_at(&mut self, now: SystemTime) -> Checked {
        let stamps = [Stamp::of(&self.cert), Stamp::of(&self.key)];
        if self.seen == Some(stamps) {
            return Checked::Unchanged;
        }
        let (cert_pem, key_pem) = (read(&self.cert, "certificate"), read(&self.key, "private key"));
        // Files that changed while they were read may be one old and one new (a `..data` swap
        // between the two reads): judge them at the next check, once they hold still.
        if [Stamp::of(&self.cert), Stamp::of(&self.key)] != stamps {
            self.seen = None;
            return Checked::Unchanged;
        }
        self.seen = stable(stamps, now);
        // The bytes, or why they could not be read, identify what the files hold now.
        let read_digest = {
            let part = |r: &Result<Vec<u8>, TlsError>| r.as_ref().map_or_else(|e| e.to_string().into_bytes(), Clone::clone);
            digest(&part(&cert_pem), &part(&key_pem))
        };
        let current = self.resolver.current();
        if read_digest == current.digest {
            self.refused = None;
            return Checked::Unchanged;
        }
        if self.refused == Some(read_digest) {
            return Checked::Unchanged;
        }
        let next = cert_pem.and_then(|c| key_pem.map(|k| (c, k))).and_then(|(c, k)| Certificate::parse(&self.cert, &c, &self.key, &k));
        match next {
            Ok(next) => {
                tracing::info!(
                    cert = %self.cert.display(),
                    fingerprint = %next.fingerprint,
                    not_after = %next.not_after.map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
                    previous = %current.fingerprint,
                    "TLS certificate reloaded"
                );
                self.refused = None;
                self.resolver.current.store(Arc::new(next));
                self.resolver.ok.fetch_add(1, Ordering::Relaxed);
                Checked::Reloaded
            }
            Err(err) => {
                tracing::error!(
                    cert = %self.cert.display(),
                    key = %self.key.display(),
                    error = %tollgate_error::chain(&err),
                    serving = %current.fingerprint,
                    "TLS certificate files refused; the current certificate stays in use"
                );
                self.refused = Some(read_digest);
                self.resolver.error.fetch_add(1, Ordering::Relaxed);
                Checked::Refused(err)
            }
        }
    }

    /// Checks the files every `every` (at least [`MIN_RELOAD_INTERVAL`]) until `stop` completes.
    /// The files are read on the blocking pool.
    pub async fn run(mut self, every: Duration, stop: impl Future<Output = ()>) {
        let every = every.max(MIN_RELOAD_INTERVAL);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
            self = match tokio::task::spawn_blocking(move || {
                self.check();
                self
            })
            .await
            {
                Ok(reloader) => reloader,
                Err(err) => {
                    // Nothing in a check panics on a file's content; should it anyway, the server
                    // keeps the certificate it has.
                    tracing::error!(error = %err, "the TLS certificate reloader stopped; the current certificate stays in use");
                    return;
                }
            };
        }
    }
}

/// What a file's metadata says about its content, through symbolic links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// `None` when there is no file to look at (it is then read, and refused, as missing).
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp { dev: m.dev(), ino: m.ino(), len: m.len(), mtime: (m.mtime(), m.mtime_nsec()), ctime: (m.ctime(), m.ctime_nsec()) })
    }

    /// Whether the file changed so shortly before `now` that a later change might keep these
    /// timestamps.
    fn racy(&self, now: SystemTime) -> bool {
        let since_epoch = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        since_epoch - self.mtime.0.max(self.ctime.0) <= RACY.as_secs() as i64
    }
}

/// The stamps to remember after reading at `now`: `None` (read again next time) when a file is
/// missing or changed too recently to trust its metadata.
fn stable(stamps: [Option<Stamp>; 2], now: SystemTime) -> Option<[Option<Stamp>; 2]> {
    stamps.iter().all(|s| s.is_some_and(|s| !s.racy(now))).then_some(stamps)
}

/// A PEM file larger than this is no certificate chain or key; reading on would only fill memory.
const MAX_PEM_BYTES: u64 = 1 << 20;

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    use std::io::Read as _;
    let refuse = |reason: String| TlsError::Pem { what, path: path.display().to_string(), reason };
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes)).map_err(|e| refuse(e.to_string()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(refuse(format!("larger than {} KiB", MAX_PEM_BYTES / 1024)));
    }
    Ok(bytes)
}

/// The digest of a certificate file's and a key file's bytes, as one pair.
fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_be_bytes());
    h.update(cert);
    h.update(key);
    h.finalize().into()
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The `notAfter` of a DER X.509 certificate, for logs and the expiry metric; `None` for
/// anything else. A walk of the few fields in front of it, which no TLS decision depends on
/// (rustls has already parsed the certificate when this runs):
///
/// ```text
/// Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, ... }
/// TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
///                               validity SEQUENCE { notBefore Time, notAfter Time }, ... }
/// ```
fn not_after(der: &[u8]) -> Option<jiff::Timestamp> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = tlv(der)? else { return None };
    let (SEQUENCE, mut tbs, _) = tlv(certificate)? else { return None };
    if let (0xa0, _, rest) = tlv(tbs)? {
        tbs = rest;
    }
    for _ in ["serialNumber", "signature", "issuer"] {
        tbs = tlv(tbs)?.2;
    }
    let (SEQUENCE, validity, _) = tlv(tbs)? else { return None };
    let (tag, time, _) = tlv(tlv(validity)?.2)?;
    x509_time(tag, time)
}

/// One DER element: its tag, its value and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        (bytes.iter().fold(0usize, |len, &b| (len << 8) | usize::from(b)), rest)
    };
    (rest.len() >= len).then(|| {
        let (value, rest) = rest.split_at(len);
        (tag, value, rest)
    })
}

/// An X.509 `Time`: `UTCTime` (`YYMMDDHHMMSSZ`, years 1950 to 2049) or `GeneralizedTime`
/// (`YYYYMMDDHHMMSSZ`), as RFC 5280 allows them.
fn x509_time(tag: u8, value: &[u8]) -> Option<jiff::Timestamp> {
    let text = std::str::from_utf8(value).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = match (tag, text.len()) {
        (0x17, 12) => format!("{}{text}", if &text[..2] < "50" { "20" } else { "19" }),
        (0x18, 14) => text.to_owned(),
        _ => return None,
    };
    let n = |at: usize, len: usize| full[at..at + len].parse::<i16>().ok();
    let small = |at| n(at, 2).and_then(|v| i8::try_from(v).ok());
    let at = jiff::civil::DateTime::new(n(0, 4)?, small(4)?, small(6)?, small(8)?, small(10)?, small(12)?, 0).ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(at).ok()
}
