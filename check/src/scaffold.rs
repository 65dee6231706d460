//! `tollgate init`: the starter config repo, embedded at build time from `templates/init/`.

use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/init_files.rs"));

/// Errors writing the starter repo.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The target folder exists and is not empty.
    #[error("`{path}` exists and is not empty")]
    NotEmpty { path: String },
    /// Writing failed; nothing was left behind.
    #[error("cannot write `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Writes the starter repo into `dir`, which must not exist or be empty. Files are written to a
/// temporary sibling folder first and moved into place at once, so a failure leaves nothing
/// half-written.
///
/// # Errors
///
/// Returns [`ScaffoldError`] when `dir` is not empty or cannot be written.
pub fn init(dir: &Path) -> Result<usize, ScaffoldError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ScaffoldError::Io { path, source }
    };
    let existed = dir.exists();
    if existed {
        let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
        if entries.next().is_some() {
            return Err(ScaffoldError::NotEmpty { path: dir.display().to_string() });
        }
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let staging = tempfile::Builder::new().prefix(".tollgate-init-").tempdir_in(parent).map_err(io(parent))?;
    for (rel, bytes) in INIT_FILES {
        let path = staging.path().join(rel);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(io(folder))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    if existed {
        std::fs::remove_dir(dir).map_err(io(dir))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(|source| {
        let _ = std::fs::remove_dir_all(&staged);
        ScaffoldError::Io { path: dir.display().to_string(), source }
    })?;
    Ok(INIT_FILES.len())
}
