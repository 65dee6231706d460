//! SHA-256 digests as 32 bytes, and container image references read for their digest.
//!
//! An image is pinned when it reads `repository[:tag]@sha256:<64 lower-case hex>`, the form
//! the OCI distribution spec gives a sha256 digest (upper-case hex is not a valid digest there,
//! and runtimes refuse it).

use std::fmt;

use serde::{Serialize, Serializer};

/// A SHA-256 digest: the bytes, compared and ordered without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of 64 lower-case hex digits, or `sha256:` and those digits.
    pub fn parse(text: &str) -> Option<Digest> {
        Digest::from_hex(text.strip_prefix("sha256:").unwrap_or(text))
    }

    /// The digest of exactly 64 lower-case hex digits.
    pub fn from_hex(hex: &str) -> Option<Digest> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Digest(out))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `sha256:` and the first 12 hex digits, as people shorten image ids in messages.
    pub fn short(&self) -> String {
        format!("sha256:{}", hex::encode(&self.0[..6]))
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Digest {
    /// `sha256:<64 hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What an image reference says about its digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin<'a> {
    /// `repository[:tag]@sha256:<hex>`; `repository` without the tag.
    Digest { repository: &'a str, digest: Digest },
    /// No digest: a tag, or nothing (which pulls `latest`).
    Tag { repository: &'a str },
    /// An `@` followed by something that is not a sha256 digest.
    Malformed { repository: &'a str },
    /// An empty image (allowed in a workload controller's template, for tools that fill it in).
    Missing,
}

impl<'a> Pin<'a> {
    /// Reads `image`; never allocates.
    pub fn of(image: &'a str) -> Pin<'a> {
        let image = image.trim();
        if image.is_empty() {
            return Pin::Missing;
        }
        match image.rsplit_once('@') {
            Some((name, digest)) => {
                let repository = strip_tag(name);
                match digest.strip_prefix("sha256:").and_then(Digest::from_hex) {
                    Some(digest) => Pin::Digest { repository, digest },
                    None => Pin::Malformed { repository },
                }
            }
            None => Pin::Tag { repository: strip_tag(image) },
        }
    }

    /// The repository named, without tag or digest (empty for [`Pin::Missing`]).
    pub fn repository(&self) -> &'a str {
        match self {
            Pin::Digest { repository, .. } | Pin::Tag { repository } | Pin::Malformed { repository } => repository,
            Pin::Missing => "",
        }
    }
}

/// `registry:5000/repo:tag` → `registry:5000/repo`: a tag is a `:` after the last `/`.
fn strip_tag(name: &str) -> &str {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].find(':') {
        Some(colon) => &name[..last_slash + colon],
        None => name,
    }
}
