//! Signed checkpoints in the C2SP `tlog-checkpoint` / `signed-note` text format.
//!
//! ```text
//! tollgate.dev/audit            origin
//! 1042                          tree size: the seq of the last event covered
//! 3q2+7w...=                    base64 Merkle root (RFC 6962) of events 1..=size
//! chain 8a1f...=                extension: base64 chain hash of event `size`
//! time 2026-11-28T09:32:35.123456Z   extension: when it was signed
//!
//! — tollgate-audit-2026 AAAAAbase64(key id ‖ Ed25519 signature)
//! ```
//!
//! Key ids follow C2SP `signed-note`: the first four bytes of
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`. Keys are written as the `note` package writes
//! them: `PRIVATE+KEY+name+keyid+base64(0x01 ‖ seed)` and `name+keyid+base64(0x01 ‖ public)`.
//!
//! A witness adds a C2SP `tlog-cosignature` (`cosignature/v1`, signature type 0x04): an Ed25519
//! signature over `cosignature/v1\ntime <seconds>\n` and the whole note body, carried as
//! `key id ‖ 8-byte big-endian timestamp ‖ signature`. Its keys are written the same way with
//! type byte 0x04.

use super::merkle::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

#[cfg(test)]
mod tests;

/// The origin line tollgate writes unless told otherwise.
pub const DEFAULT_ORIGIN: &str = "tollgate.dev/audit";

/// The signature type byte for Ed25519 in C2SP signed notes.
const ALG_ED25519: u8 = 0x01;
/// The signature type byte for a timestamped Ed25519 witness cosignature (C2SP
/// `tlog-cosignature`, `cosignature/v1`).
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// What a key signs: the note itself, or (a witness's) a `cosignature/v1` of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The log's own Ed25519 note signature (type 0x01).
    Log,
    /// A witness's timestamped cosignature (type 0x04).
    Witness,
}

impl KeyKind {
    fn alg(self) -> u8 {
        match self {
            KeyKind::Log => ALG_ED25519,
            KeyKind::Witness => ALG_COSIGNATURE_V1,
        }
    }

    fn of(alg: u8) -> Option<KeyKind> {
        match alg {
            ALG_ED25519 => Some(KeyKind::Log),
            ALG_COSIGNATURE_V1 => Some(KeyKind::Witness),
            _ => None,
        }
    }
}

/// The message a `cosignature/v1` signs: the header line, the timestamp line and the note body.
fn cosigned_message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// Why a key or checkpoint could not be read, or a signature did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// A key is not in the `PRIVATE+KEY+name+id+data` or `name+id+data` form.
    #[error("malformed {which} key: {reason}")]
    MalformedKey {
        /// `signing` or `verifier`.
        which: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key name is empty or holds `+`, spaces or newlines.
    #[error("invalid key name `{name}`")]
    KeyName {
        /// The name.
        name: String,
    },
    /// The note text is not a well-formed checkpoint.
    #[error("malformed checkpoint: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// A signature by a trusted key does not verify: the note was altered or forged.
    #[error("checkpoint signature by trusted key `{signer}` does not verify")]
    BadSignature {
        /// The key's name and id.
        signer: String,
    },
    /// No signature on the note is by a trusted key.
    #[error("checkpoint carries no valid signature by a trusted key (signed by `{signers}`)")]
    Untrusted {
        /// The key names and ids that did sign, comma separated.
        signers: String,
    },
    /// Random bytes for a new key could not be obtained.
    #[error("failed to obtain randomness for a new key")]
    Random,
}

/// The content of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Names the log.
    pub origin: String,
    /// Number of events covered.
    pub size: u64,
    /// Merkle root of events `1..=size`.
    pub root: Hash,
    /// Chain hash of event `size` (all zeros when `size` is 0).
    pub chain_hash: Hash,
    /// When it was signed.
    pub time: String,
}

impl Checkpoint {
    /// The note body that is signed (ends with a newline).
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\nchain {}\ntime {}\n", self.origin, self.size, B64.encode(self.root), B64.encode(self.chain_hash), self.time)
    }

    /// Signs the checkpoint with every signer, in order, and returns the note.
    pub fn sign(&self, signers: &[&Signer]) -> String {
        sign_note(&self.body(), signers)
    }

    /// Parses a note's body without checking signatures.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Malformed`].
    pub fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let malformed = |reason| CheckpointError::Malformed { reason };
        let lines: Vec<&str> = body.strip_suffix('\n').ok_or(malformed("body does not end in a newline"))?.split('\n').collect();
        let [origin, size, root, chain, time] = lines[..] else {
            return Err(malformed("expected five lines: origin, size, root, chain, time"));
        };
        if origin.is_empty() || origin.contains(['\r', '\t']) {
            return Err(malformed("bad origin line"));
        }
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) || (size.len() > 1 && size.starts_with('0')) {
            return Err(malformed("tree size is not a decimal number"));
        }
        let size = size.parse().map_err(|_| malformed("tree size is too large"))?;
        let hash = |text: &str| -> Result<Hash, CheckpointError> {
            let bytes = B64.decode(text).map_err(|_| malformed("a hash is not base64"))?;
            bytes.try_into().map_err(|_| malformed("a hash is not 32 bytes"))
        };
        let root = hash(root)?;
        let chain_hash = hash(chain.strip_prefix("chain ").ok_or(malformed("missing `chain` line"))?)?;
        let time = time.strip_prefix("time ").ok_or(malformed("missing `time` line"))?;
        if time.is_empty() {
            return Err(malformed("empty `time` line"));
        }
        Ok(Self { origin: origin.to_owned(), size, root, chain_hash, time: time.to_owned() })
    }

    /// Parses a signed note and checks that at least one signature is by a key in `trusted`;
    /// returns the checkpoint and the ids of the trusted keys that signed it.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Malformed`], [`CheckpointError::BadSignature`] or
    /// [`CheckpointError::Untrusted`].
    pub fn open(note: &str, trusted: &[Verifier]) -> Result<(Self, Vec<u32>), CheckpointError> {
        let (body, signed_by) = open_note(note, trusted)?;
        Ok((Self::parse_body(body)?, signed_by))
    }
}

/// Signs `body` (which must end with a newline) with every signer, in order, as a C2SP signed
/// note.
pub fn sign_note(body: &str, signers: &[&Signer]) -> String {
    let mut note = body.to_owned();
    note.push('\n');
    for signer in signers {
        let mut blob = signer.key_id.to_be_bytes().to_vec();
        match signer.kind {
            KeyKind::Log => blob.extend_from_slice(&signer.key.sign(body.as_bytes()).to_bytes()),
            KeyKind::Witness => {
                let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                blob.extend_from_slice(&timestamp.to_be_bytes());
                blob.extend_from_slice(&signer.key.sign(cosigned_message(body, timestamp).as_bytes()).to_bytes());
            }
        }
        note.push_str(&format!("\u{2014} {} {}\n", signer.name, B64.encode(blob)));
    }
    note
}

/// Adds `witness`'s `cosignature/v1` to a signed note (the signatures already there are kept).
///
/// # Errors
///
/// [`CheckpointError::Malformed`] when `note` is not a signed note.
pub fn cosign_note(note: &str, witness: &Signer) -> Result<String, CheckpointError> {
    let split = note.rfind("\n\n").ok_or(CheckpointError::Malformed { reason: "no blank line before the signatures" })?;
    let body = &note[..split + 1];
    let added = sign_note(body, &[witness]);
    Ok(format!("{note}{}", &added[body.len() + 1..]))
}

/// The most signature lines a note may carry (C2SP asks verifiers to accept at least 16; Go's
/// `note` package accepts 100).
const MAX_SIGNATURES: usize = 100;

/// Splits a C2SP signed note into its body and signatures and checks them against `trusted`;
/// returns the body and the ids of the trusted keys that signed it.
///
/// As C2SP `signed-note` says: the text ends at the *last* blank line (it may hold blank lines
/// of its own); signatures by keys not in `trusted` are ignored; a signature by a trusted key
/// (same name and key id) must verify, or the whole note is refused; and at least one must.
/// Signatures are checked with `verify_strict`, which runs in constant time with respect to the
/// signature and refuses small-order and non-canonical points.
///
/// # Errors
///
/// [`CheckpointError::Malformed`], [`CheckpointError::BadSignature`] or
/// [`CheckpointError::Untrusted`].
pub fn open_note<'a>(note: &'a str, trusted: &[Verifier]) -> Result<(&'a str, Vec<u32>), CheckpointError> {
    let malformed = |reason| CheckpointError::Malformed { reason };
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed("a control character other than newline"));
    }
    let split = note.rfind("\n\n").ok_or(malformed("no blank line before the signatures"))?;
    let (body, sigs) = (&note[..split + 1], &note[split + 2..]);
    let Some(sigs) = sigs.strip_suffix('\n').filter(|s| !s.is_empty()) else {
        return Err(malformed("signature block is empty or does not end in a newline"));
    };
    let mut signed_by = Vec::new();
    let mut signers = Vec::new();
    for (n, line) in sigs.split('\n').enumerate() {
        if n == MAX_SIGNATURES {
            return Err(malformed("more than 100 signatures"));
        }
        let rest = line.strip_prefix("\u{2014} ").ok_or(malformed("signature line does not start with an em dash"))?;
        let (name, blob) = rest.split_once(' ').ok_or(malformed("signature line lacks a signature"))?;
        check_name(name).map_err(|_| malformed("signature names an invalid key"))?;
        let blob = B64.decode(blob).map_err(|_| malformed("signature is not base64"))?;
        let [a, b, c, d, sig @ ..] = &blob[..] else {
            return Err(malformed("signature is too short"));
        };
        let key_id = u32::from_be_bytes([*a, *b, *c, *d]);
        let signer = format!("{name}+{key_id:08x}");
        let mut keys = trusted.iter().filter(|v| v.name == name && v.key_id == key_id).peekable();
        if keys.peek().is_none() {
            signers.push(signer);
            continue;
        }
        let verified = keys.any(|v| match v.kind {
            KeyKind::Log => {
                <[u8; 64]>::try_from(sig).is_ok_and(|sig| v.key.verify_strict(body.as_bytes(), &Signature::from_bytes(&sig)).is_ok())
            }
            KeyKind::Witness => {
                let Some((timestamp, sig)) = sig.split_first_chunk::<8>() else { return false };
                let timestamp = u64::from_be_bytes(*timestamp);
                timestamp <= i64::MAX as u64
                    && <[u8; 64]>::try_from(sig).is_ok_and(|sig| {
                        v.key.verify_strict(cosigned_message(body, timestamp).as_bytes(), &Signature::from_bytes(&sig)).is_ok()
                    })
            }
        });
        if !verified {
            return Err(CheckpointError::BadSignature { signer });
        }
        signers.push(signer);
        if !signed_by.contains(&key_id) {
            signed_by.push(key_id);
        }
    }
    if signed_by.is_empty() {
        return Err(CheckpointError::Untrusted { signers: signers.join(", ") });
    }
    Ok((body, signed_by))
}

/// The C2SP signed-note key id of an Ed25519 public key under `name`.
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    key_id_of(KeyKind::Log, name, public)
}

/// The key id of a public key of `kind` under `name`.
fn key_id_of(kind: KeyKind, name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', kind.alg()]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn check_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty() || name.chars().any(|c| c == '+' || c.is_whitespace() || c.is_control()) {
        return Err(CheckpointError::KeyName { name: name.to_owned() });
    }
    Ok(())
}

/// A checkpoint signing key.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
    kind: KeyKind,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "Signer({}+{:08x})", self.name, self.key_id)
    }
}

impl Signer {
    /// Generates a new key named `name`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::KeyName`] or [`CheckpointError::Random`].
    pub fn generate(name: &str) -> Result<Self, CheckpointError> {
        Signer::generate_kind(name, KeyKind::Log)
    }

    /// Generates a new key named `name` of `kind` (a log key, or a witness's).
    ///
    /// # Errors
    ///
    /// [`CheckpointError::KeyName`] or [`CheckpointError::Random`].
    pub fn generate_kind(name: &str, kind: KeyKind) -> Result<Self, CheckpointError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| CheckpointError::Random)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id_of(kind, name, key.verifying_key().as_bytes());
        Ok(Self { name: name.to_owned(), key_id, key, kind })
    }

    /// Reads a key written as `PRIVATE+KEY+name+keyid+base64(0x01 ‖ seed)`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::MalformedKey`] or [`CheckpointError::KeyName`].
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        let bad = |reason| CheckpointError::MalformedKey { which: "signing", reason };
        let rest = text.trim().strip_prefix("PRIVATE+KEY+").ok_or(bad("missing `PRIVATE+KEY+` prefix"))?;
        // The key data is base64 and may itself contain `+`.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name, key id and key data separated by `+`"));
        };
        check_name(name)?;
        let data = B64.decode(data).map_err(|_| bad("key data is not base64"))?;
        let [alg, seed @ ..] = &data[..] else {
            return Err(bad("key data is empty"));
        };
        let kind = KeyKind::of(*alg).ok_or(bad("not an Ed25519 key (type 0x01) or witness key (type 0x04)"))?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| bad("key seed is not 32 bytes"))?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id_of(kind, name, key.verifying_key().as_bytes());
        if format!("{key_id:08x}") != id {
            return Err(bad("key id does not match the key"));
        }
        Ok(Self { name: name.to_owned(), key_id, key, kind })
    }

    /// The key as [`Signer::from_text`] reads it. Secret: store it like a password.
    pub fn to_text(&self) -> String {
        let mut data = vec![self.kind.alg()];
        data.extend_from_slice(self.key.as_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.key_id, B64.encode(data))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier { name: self.name.clone(), key_id: self.key_id, key: self.key.verifying_key(), kind: self.kind }
    }

    /// A log key or a witness's.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }
}

/// A trusted checkpoint verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
    kind: KeyKind,
}

impl Verifier {
    /// Reads a key written as `name+keyid+base64(0x01 ‖ public key)`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::MalformedKey`] or [`CheckpointError::KeyName`].
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        let bad = |reason| CheckpointError::MalformedKey { which: "verifier", reason };
        // The key data is base64 and may itself contain `+`.
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name, key id and key data separated by `+`"));
        };
        check_name(name)?;
        let data = B64.decode(data).map_err(|_| bad("key data is not base64"))?;
        let [alg, public @ ..] = &data[..] else {
            return Err(bad("key data is empty"));
        };
        let kind = KeyKind::of(*alg).ok_or(bad("not an Ed25519 key (type 0x01) or witness key (type 0x04)"))?;
        let public: [u8; 32] = public.try_into().map_err(|_| bad("public key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("public key is not a valid point"))?;
        let key_id = key_id_of(kind, name, &public);
        if format!("{key_id:08x}") != id {
            return Err(bad("key id does not match the key"));
        }
        Ok(Self { name: name.to_owned(), key_id, key, kind })
    }

    /// A log key or a witness's.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The key as [`Verifier::from_text`] reads it; safe to publish.
    pub fn to_text(&self) -> String {
        let mut data = vec![self.kind.alg()];
        data.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(data))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
}
