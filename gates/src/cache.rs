//! Gate results cached on disk by (model digest, dataset digest, gate spec digest): the same
//! three inputs always give the same results, so a result computed once is reused.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::spec::CacheKey;

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A cache file could not be read or written.
    #[error("failed to access gate result cache `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A cache entry could not be encoded.
    #[error("failed to encode gate result for `{path}`")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// A directory of JSON files, one per [`CacheKey`].
#[derive(Clone, Debug)]
pub struct ResultCache {
    dir: PathBuf,
}

impl ResultCache {
    pub fn new(dir: impl Into<PathBuf>) -> ResultCache {
        ResultCache { dir: dir.into() }
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.to_key()))
    }

    /// The cached value, or `None` when absent or unreadable as `T` (a corrupt or outdated
    /// entry is a miss, recomputed and overwritten, never an error).
    ///
    /// # Errors
    /// The file exists but cannot be read.
    pub fn get<T: DeserializeOwned>(&self, key: &CacheKey) -> Result<Option<T>, CacheError> {
        let path = self.path(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CacheError::Io { path, source }),
        }
    }

    /// Stores a value atomically ([`write_whole`]), so a crash never leaves a partial entry,
    /// and writers storing the same entry at once (a server's API and its reconcile loop
    /// computing one release's gates) each leave a whole one.
    ///
    /// # Errors
    /// The directory or file cannot be written.
    pub fn put<T: Serialize>(&self, key: &CacheKey, value: &T) -> Result<(), CacheError> {
        let path = self.path(key);
        let io = |source| CacheError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let bytes = serde_json::to_vec_pretty(value).map_err(|source| CacheError::Encode { path: path.clone(), source })?;
        write_whole(&path, &bytes).map_err(io)
    }
}

/// Writes `bytes` to `path` so that readers see the old file or the whole new one, never part
/// of it: into a temporary file of this write's own beside it, then renamed over it (removed
/// when the rename fails). Writers of one path at once each rename a whole file; the last one
/// stays. The temporary name carries the process, a count of its writes (its threads may write
/// at once) and a random number (processes in containers sharing a folder on a volume, a gate
/// cache or a gate store, are often all PID 1).
///
/// # Errors
/// The file cannot be written or renamed.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::hash::{BuildHasher as _, Hasher as _};
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    // The keys of std's `RandomState` come from the operating system's random source.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}-{n}-{random:016x}", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        // Not left behind for the next write to trip over.
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests;
