//! A cache of document summaries keyed by Git blob id, kept in the Git directory.
//!
//! A scoped check reads every unchanged file's summary (kind, name, what it references) from
//! here instead of reading and parsing the file. Blob ids name contents, so an entry never goes
//! stale; what else shapes a summary (how the file is treated, the parser's limits) is part of
//! the key or of the file's header. The file is rewritten whole (temporary file, then rename)
//! and holds only the entries the last run used, so it does not grow without bound. Any problem
//! reading it means an empty cache, never a wrong answer.
//!
//! Format (UTF-8 text): a header line `tollgate-summaries 1 <maxFileBytes> <maxDepth>
//! <maxNodes>`, then one line per blob: `<blob hex> <treatment>` followed, for each document of
//! the file, by a tab and the fields kind, name and (kind, name) pairs of its references,
//! separated by U+001F. Names holding a tab, a newline or U+001F are not cached.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use git2::Oid;

use super::Kind;
use crate::yaml::Limits;

const MAGIC: &str = "tollgate-summaries 1";
const SEP: char = '\u{1f}';

/// How a file was read: YAML, YAML where Kubernetes objects count, or a Terraform plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Treatment {
    Yaml,
    Manifests,
    Plan,
}

impl Treatment {
    fn as_char(self) -> char {
        match self {
            Treatment::Yaml => 'y',
            Treatment::Manifests => 'm',
            Treatment::Plan => 'p',
        }
    }

    fn from_str(s: &str) -> Option<Treatment> {
        match s {
            "y" => Some(Treatment::Yaml),
            "m" => Some(Treatment::Manifests),
            "p" => Some(Treatment::Plan),
            _ => None,
        }
    }
}

pub(super) use super::Summary as DocSummary;

/// The summaries of one blob's documents, shared.
pub(super) type Docs = Arc<[DocSummary]>;

type Key = (Oid, Treatment);

/// The cache, loaded.
#[derive(Debug)]
pub(super) struct Summaries {
    file: Option<PathBuf>,
    header: String,
    entries: HashMap<Key, Docs>,
    used: HashMap<Key, Docs>,
    dirty: bool,
}

impl Summaries {
    /// Loads the cache of the Git directory `git_dir` (`None`: an in-memory cache only).
    pub fn open(git_dir: Option<&Path>, limits: &Limits) -> Summaries {
        let header = format!("{MAGIC} {} {} {}", limits.max_file_bytes, limits.max_depth, limits.max_nodes);
        let file = git_dir.map(|d| d.join("tollgate").join("summaries"));
        let mut entries = HashMap::new();
        if let Some(text) = file.as_deref().and_then(|f| std::fs::read_to_string(f).ok()) {
            let mut lines = text.lines();
            if lines.next() == Some(header.as_str()) {
                for line in lines {
                    if let Some((key, docs)) = parse_line(line) {
                        entries.insert(key, docs.into());
                    }
                }
            }
        }
        Summaries { file, header, entries, used: HashMap::new(), dirty: false }
    }

    /// The summaries of a blob read as `treatment`, when cached.
    pub fn get(&mut self, blob: Oid, treatment: Treatment) -> Option<Docs> {
        let key = (blob, treatment);
        let docs = self.entries.get(&key)?.clone();
        self.used.insert(key, docs.clone());
        Some(docs)
    }

    /// Records the summaries of a blob.
    pub fn put(&mut self, blob: Oid, treatment: Treatment, docs: Docs) {
        let storable = docs.iter().all(|d| storable(&d.name) && d.refs.iter().all(|(_, n)| storable(n)));
        if storable && !blob.is_zero() {
            self.used.insert((blob, treatment), docs);
            self.dirty = true;
        }
    }

    /// Writes what this run used, when anything was added or the file holds much more.
    pub fn save(&self) {
        let Some(file) = &self.file else { return };
        if !self.dirty && self.entries.len() <= 2 * self.used.len() {
            return;
        }
        // A cache that cannot be written costs time on the next run, nothing else.
        let _ = write_atomically(file, &self.render());
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(64 * (self.used.len() + 1));
        out.push_str(&self.header);
        out.push('\n');
        let mut keys: Vec<&Key> = self.used.keys().collect();
        keys.sort_by_key(|(oid, t)| (oid.as_bytes().to_vec(), t.as_char()));
        for key in keys {
            out.push_str(&key.0.to_string());
            out.push(' ');
            out.push(key.1.as_char());
            for doc in self.used[key].iter() {
                out.push('\t');
                out.push_str(doc.kind.as_str());
                out.push(SEP);
                out.push_str(&doc.name);
                for (kind, name) in &doc.refs {
                    out.push(SEP);
                    out.push_str(kind.as_str());
                    out.push(SEP);
                    out.push_str(name);
                }
            }
            out.push('\n');
        }
        out
    }
}

fn storable(name: &str) -> bool {
    !name.contains(['\t', '\n', '\r', SEP])
}

fn parse_line(line: &str) -> Option<(Key, Vec<DocSummary>)> {
    let mut fields = line.split('\t');
    let (hex, treatment) = fields.next()?.split_once(' ')?;
    let key = (Oid::from_str(hex).ok()?, Treatment::from_str(treatment)?);
    let mut docs = Vec::new();
    for field in fields {
        let mut parts = field.split(SEP);
        let kind = Kind::from_name(parts.next()?)?;
        let name = parts.next()?.to_owned();
        let mut refs = Vec::new();
        while let Some(k) = parts.next() {
            refs.push((Kind::from_name(k)?, parts.next()?.to_owned()));
        }
        docs.push(DocSummary { kind, name, refs });
    }
    Some((key, docs))
}

fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_drops_unstorable_names() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let blob = Oid::hash_object(git2::ObjectType::Blob, b"x").unwrap();
        let other = Oid::hash_object(git2::ObjectType::Blob, b"y").unwrap();
        let docs = vec![
            DocSummary { kind: Kind::Release, name: "r1".into(), refs: vec![(Kind::Model, "m".into()), (Kind::Dataset, "d".into())] },
            DocSummary { kind: Kind::Model, name: "m".into(), refs: vec![] },
        ];
        let mut cache = Summaries::open(Some(dir.path()), &limits);
        assert!(cache.get(blob, Treatment::Yaml).is_none());
        cache.put(blob, Treatment::Yaml, docs.clone().into());
        cache.put(other, Treatment::Yaml, vec![DocSummary { kind: Kind::Model, name: "bad\tname".into(), refs: vec![] }].into());
        cache.put(other, Treatment::Plan, Vec::new().into());
        cache.save();

        let mut again = Summaries::open(Some(dir.path()), &limits);
        assert_eq!(again.get(blob, Treatment::Yaml).as_deref(), Some(&docs[..]));
        assert_eq!(again.get(blob, Treatment::Manifests), None, "the treatment is part of the key");
        assert_eq!(again.get(other, Treatment::Yaml), None, "a name with a tab is not cached");
        assert_eq!(again.get(other, Treatment::Plan).as_deref(), Some(&[][..]));

        let stricter = Limits { max_depth: 8, ..limits };
        assert!(Summaries::open(Some(dir.path()), &stricter).get(blob, Treatment::Yaml).is_none(), "other limits, other cache");
    }

    #[test]
    fn garbage_is_an_empty_cache() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let header = Summaries::open(None, &limits).header;
        std::fs::create_dir_all(dir.path().join("tollgate")).unwrap();
        std::fs::write(dir.path().join("tollgate/summaries"), format!("{header}\nnot a line\n00 y\tNoKind\u{1f}x\n")).unwrap();
        let cache = Summaries::open(Some(dir.path()), &limits);
        assert!(cache.entries.is_empty());
    }
}
