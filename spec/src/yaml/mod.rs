//! A bounded YAML loader that turns YAML text into JSON values and can say where any JSON
//! pointer sits in the source.
//!
//! tollgate reads YAML written by people and by other tools, so the loader is strict where
//! YAML is surprising and bounded where it is dangerous:
//!
//! - scalars resolve by the YAML 1.2 core schema (`yes` is a string, `0o17` is an integer);
//! - duplicate keys, complex keys and non-finite numbers are errors, since JSON cannot hold them
//!   and a silent choice would hide a mistake;
//! - file size, nesting depth and the number of nodes produced (aliases included) are capped,
//!   which stops "billion laughs" alias bombs before they allocate.
//!
//! The fast path ([`parse_documents`]) records no positions. When a later stage needs to point
//! at a value, [`locate`] parses the one file again and stops at the pointer: errors are rare,
//! so the position index is built only when it is needed.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

#[cfg(test)]
mod tests;

/// A position in a source file: 1-based line and column, counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        Pos { line: u32::try_from(span.start.line()).unwrap_or(u32::MAX), column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX) }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Resource limits applied while loading one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_file_bytes: usize,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes one file may produce, counting every node an alias copies.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_file_bytes: 4 * 1024 * 1024, max_depth: 64, max_nodes: 1_000_000 }
    }
}

/// One YAML document of a (possibly multi-document) file.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlDocument {
    /// Index of the document in its file, counting from 0 and skipping none.
    pub index: usize,
    /// Where the document's root node starts.
    pub start: Pos,
    pub value: Value,
}

/// Why a YAML file could not be loaded. Each variant carries the position it was found at.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YamlError {
    /// The file is larger than [`Limits::max_file_bytes`].
    #[error("file is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The file is not UTF-8.
    #[error("file is not valid UTF-8 (byte {offset})")]
    NotUtf8 { offset: usize },
    /// The text is not well-formed YAML.
    #[error("{message}")]
    Syntax { pos: Pos, message: String },
    /// Mappings and sequences nest deeper than [`Limits::max_depth`].
    #[error("nesting is deeper than the limit of {limit} levels")]
    TooDeep { pos: Pos, limit: usize },
    /// The file would expand to more than [`Limits::max_nodes`] nodes (an alias bomb, usually).
    #[error("document expands to more than {limit} nodes (aliases included)")]
    TooManyNodes { pos: Pos, limit: usize },
    /// A mapping has the same key twice.
    #[error("duplicate key `{key}` (first seen at line {first_line})")]
    DuplicateKey { pos: Pos, key: String, first_line: u32 },
    /// A mapping key is itself a mapping or sequence.
    #[error("mapping keys must be scalars")]
    ComplexKey { pos: Pos },
    /// An alias names an anchor that was not defined before it.
    #[error("alias refers to an unknown anchor")]
    UnknownAnchor { pos: Pos },
    /// A number JSON cannot represent (`.inf`, `.nan`).
    #[error("`{text}` is not a finite number")]
    NonFinite { pos: Pos, text: String },
    /// A core-schema tag whose value does not fit it (`!!int abc`).
    #[error("`{text}` is not a valid `{tag}`")]
    BadTag { pos: Pos, text: String, tag: String },
    /// A merge key (`<<`) whose value is not a mapping or a list of mappings.
    #[error("merge key `<<` needs a mapping or a list of mappings")]
    BadMerge { pos: Pos },
}

impl tollgate_error::Hint for YamlError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(YamlError::hint(self).into())
    }
}

impl YamlError {
    /// Where the problem was found, when it has a place.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            YamlError::TooLarge { .. } | YamlError::NotUtf8 { .. } => None,
            YamlError::Syntax { pos, .. }
            | YamlError::TooDeep { pos, .. }
            | YamlError::TooManyNodes { pos, .. }
            | YamlError::DuplicateKey { pos, .. }
            | YamlError::ComplexKey { pos }
            | YamlError::UnknownAnchor { pos }
            | YamlError::NonFinite { pos, .. }
            | YamlError::BadTag { pos, .. }
            | YamlError::BadMerge { pos } => Some(*pos),
        }
    }

    /// A suggestion for the person who wrote the file.
    pub fn hint(&self) -> &'static str {
        match self {
            YamlError::TooLarge { .. } => "split the file, or raise `spec.limits.maxFileBytes` in tollgate.yaml",
            YamlError::NotUtf8 { .. } => "save the file as UTF-8",
            YamlError::Syntax { .. } => "check indentation and quoting near this position",
            YamlError::TooDeep { .. } => "flatten the structure, or raise `spec.limits.maxDepth` in tollgate.yaml",
            YamlError::TooManyNodes { .. } => "aliases that expand to huge trees are refused; write the values out",
            YamlError::DuplicateKey { .. } => "remove one of the two keys; YAML keys must be unique",
            YamlError::ComplexKey { .. } => "use a string as the key",
            YamlError::UnknownAnchor { .. } => "define the anchor (`&name`) before the alias (`*name`)",
            YamlError::NonFinite { .. } => "quote the value to use it as a string",
            YamlError::BadTag { .. } => "remove the tag or fix the value",
            YamlError::BadMerge { .. } => "write `<<: *anchor` with an anchor on a mapping",
        }
    }
}

/// Loads every document of a YAML file. Empty documents (a bare `---`) are skipped.
///
/// # Errors
///
/// Returns the first [`YamlError`] met; nothing partial is returned.
pub fn parse_documents(bytes: &[u8], limits: &Limits) -> Result<Vec<YamlDocument>, YamlError> {
    let text = check_input(bytes, limits)?;
    let mut builder = Builder::new(limits, false);
    builder.run(text)?;
    Ok(builder.documents)
}

/// Finds where the node at `pointer` (an RFC 6901 JSON pointer) of document `index` starts.
/// For a mapping entry, the position of its key is returned, which is where people look.
///
/// Returns `None` when the file does not parse or the pointer does not exist; callers fall back
/// to the nearest parent pointer. This parses the file: to locate more than one pointer, build
/// [`Positions`] once.
pub fn locate(bytes: &[u8], index: usize, pointer: &str, limits: &Limits) -> Option<Pos> {
    Positions::of(bytes, limits).get(index, pointer)
}

/// Like [`locate`], but walks up to the nearest existing parent when the pointer is missing.
pub fn locate_nearest(bytes: &[u8], index: usize, pointer: &str, limits: &Limits) -> Option<Pos> {
    Positions::of(bytes, limits).nearest(index, pointer)
}

/// Where every node of a file starts, by document and JSON pointer, found in one pass over the
/// file: locating every finding of a file costs one parse, not one per finding (issue #12: a
/// file of 4,000 documents took 116 s to check when each finding parsed it again).
#[derive(Debug, Default)]
pub struct Positions {
    /// Per document index, each node's pointer (escaped as RFC 6901 writes it) and position.
    documents: HashMap<usize, HashMap<String, Pos>>,
}

impl Positions {
    /// Parses `bytes` once and records where each node starts. A file that stops parsing
    /// keeps the positions found before the error.
    pub fn of(bytes: &[u8], limits: &Limits) -> Positions {
        let Ok(text) = check_input(bytes, limits) else { return Positions::default() };
        let mut builder = Builder::new(limits, true);
        // An error part-way does not take back what was found before it.
        let _ = builder.run(text);
        builder.positions.unwrap_or_default()
    }

    /// Where the node at `pointer` of document `index` starts (its key, for a mapping entry).
    pub fn get(&self, index: usize, pointer: &str) -> Option<Pos> {
        let nodes = self.documents.get(&index)?;
        match nodes.get(pointer) {
            Some(pos) => Some(*pos),
            // An unusual but equivalent spelling (`~` escapes) is looked up in canonical form.
            None if pointer.contains('~') => nodes.get(&canonical(pointer)?).copied(),
            None => None,
        }
    }

    /// Like [`Positions::get`], but walks up to the nearest existing parent when the pointer is
    /// missing.
    pub fn nearest(&self, index: usize, pointer: &str) -> Option<Pos> {
        let mut pointer = pointer;
        loop {
            if let Some(pos) = self.get(index, pointer) {
                return Some(pos);
            }
            pointer = &pointer[..pointer.rfind('/')?];
        }
    }
}

/// A pointer with each token escaped the one way [`escape_token`] does.
fn canonical(pointer: &str) -> Option<String> {
    if pointer.is_empty() {
        return Some(String::new());
    }
    let rest = pointer.strip_prefix('/')?;
    let mut out = String::with_capacity(pointer.len());
    for token in rest.split('/') {
        out.push('/');
        escape_token(&token.replace("~1", "/").replace("~0", "~"), &mut out);
    }
    Some(out)
}

/// Appends a pointer token, escaped as RFC 6901 says (`~` as `~0`, `/` as `~1`).
fn escape_token(token: &str, out: &mut String) {
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

fn check_input<'a>(bytes: &'a [u8], limits: &Limits) -> Result<&'a str, YamlError> {
    if bytes.len() > limits.max_file_bytes {
        return Err(YamlError::TooLarge { size: bytes.len(), limit: limits.max_file_bytes });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| YamlError::NotUtf8 { offset: e.valid_up_to() })?;
    // A byte-order mark is legal at the start; the scanner handles it, nothing to strip.
    Ok(text)
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        nodes_at_start: usize,
    },
    Map {
        map: Map<String, Value>,
        key: Option<(String, Pos)>,
        anchor: usize,
        nodes_at_start: usize,
        /// The line of each entry, in insertion order (the map keeps that order).
        lines: Vec<u32>,
        /// Keys that came from a merge (`<<`); an explicit key may override them. Allocated
        /// only when the mapping has a merge, which is rare.
        merged: Option<std::collections::HashSet<String>>,
    },
}

struct Builder<'l> {
    limits: &'l Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    doc_index: usize,
    doc_start: Option<Pos>,
    root: Option<Value>,
    documents: Vec<YamlDocument>,
    /// Set by [`Positions::of`]: the current pointer is kept, and every node's position, only
    /// then.
    positions: Option<Positions>,
    /// The pointer of the current node, and where each of its tokens starts in it.
    path: String,
    tokens: Vec<usize>,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits, positions: bool) -> Self {
        Builder {
            limits,
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            doc_index: 0,
            doc_start: None,
            root: None,
            documents: Vec::new(),
            positions: positions.then(Positions::default),
            path: String::new(),
            tokens: Vec::new(),
        }
    }

    fn run(&mut self, text: &str) -> Result<(), YamlError> {
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| YamlError::Syntax {
                pos: Pos {
                    line: u32::try_from(e.marker().line()).unwrap_or(u32::MAX),
                    column: u32::try_from(e.marker().col() + 1).unwrap_or(u32::MAX),
                },
                message: e.info().to_owned(),
            })?;
            self.on_event(event, &span)?;
        }
        Ok(())
    }

    fn tracking(&self) -> bool {
        self.positions.is_some()
    }

    /// Called when a node starts at the current path (with `pos` being its key, if any). The
    /// first node at a pointer wins, as a later duplicate is an error anyway.
    fn mark(&mut self, pos: Pos) {
        if let Some(positions) = &mut self.positions {
            let nodes = positions.documents.entry(self.doc_index).or_default();
            if !nodes.contains_key(self.path.as_str()) {
                nodes.insert(self.path.clone(), pos);
            }
        }
    }

    /// Extends the current pointer with one token.
    fn push_token(&mut self, token: &str) {
        self.tokens.push(self.path.len());
        self.path.push('/');
        escape_token(token, &mut self.path);
    }

    fn pop_token(&mut self) {
        if let Some(len) = self.tokens.pop() {
            self.path.truncate(len);
        }
    }

    fn on_event(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlError> {
        let pos = Pos::from_span(span);
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_) => {
                self.stack.clear();
                self.anchors.clear();
                self.root = None;
                self.doc_start = None;
                self.nodes = 0;
            }
            Event::DocumentEnd => {
                let value = self.root.take().unwrap_or(Value::Null);
                let start = self.doc_start.take().unwrap_or(pos);
                if !value.is_null() {
                    self.documents.push(YamlDocument { index: self.doc_index, start, value });
                }
                self.doc_index += 1;
            }
            Event::Alias(id) => {
                let Some((value, count)) = self.anchors.get(&id) else {
                    return Err(YamlError::UnknownAnchor { pos });
                };
                let (value, count) = (value.clone_if_within(*count, self.nodes, self.limits.max_nodes, pos)?, *count);
                self.nodes += count;
                self.push_value(value, pos)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count_node(pos)?;
                if self.is_key_position() {
                    let key = text.into_owned();
                    if anchor > 0 {
                        self.anchors.insert(anchor, (Value::String(key.clone()), 1));
                    }
                    self.set_key(key, pos)?;
                } else {
                    let value = resolve_scalar(&text, style, tag.as_deref(), pos)?;
                    if anchor > 0 {
                        self.anchors.insert(anchor, (value.clone(), 1));
                    }
                    self.push_value(value, pos)?;
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.is_key_position() {
                    return Err(YamlError::ComplexKey { pos });
                }
                self.count_node(pos)?;
                if self.stack.len() >= self.limits.max_depth {
                    return Err(YamlError::TooDeep { pos, limit: self.limits.max_depth });
                }
                if self.stack.is_empty() && self.doc_start.is_none() {
                    self.doc_start = Some(pos);
                }
                self.enter_child(pos);
                let nodes_at_start = self.nodes;
                self.stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq { items: Vec::new(), anchor, nodes_at_start }
                } else {
                    Frame::Map { map: Map::new(), key: None, anchor, nodes_at_start, lines: Vec::new(), merged: None }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else { return Ok(()) };
                let (value, anchor, nodes_at_start) = match frame {
                    Frame::Seq { items, anchor, nodes_at_start } => (Value::Array(items), anchor, nodes_at_start),
                    Frame::Map { map, anchor, nodes_at_start, .. } => (Value::Object(map), anchor, nodes_at_start),
                };
                if anchor > 0 {
                    let count = self.nodes - nodes_at_start + 1;
                    self.anchors.insert(anchor, (value.clone(), count));
                }
                self.leave_child();
                self.attach(value, pos)?;
            }
        }
        Ok(())
    }

    fn count_node(&mut self, pos: Pos) -> Result<(), YamlError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(YamlError::TooManyNodes { pos, limit: self.limits.max_nodes });
        }
        Ok(())
    }

    fn is_key_position(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn set_key(&mut self, key: String, pos: Pos) -> Result<(), YamlError> {
        if let Some(Frame::Map { map, key: slot, lines, merged, .. }) = self.stack.last_mut() {
            if key != "<<" && map.contains_key(&key) {
                let position = map.keys().position(|k| *k == key).unwrap_or(0);
                if merged.as_mut().is_some_and(|m| m.remove(&key)) {
                    // A key set by a merge is overridden by an explicit one.
                    map.shift_remove(&key);
                    if position < lines.len() {
                        lines.remove(position);
                    }
                } else {
                    let first_line = lines.get(position).copied().unwrap_or(0);
                    return Err(YamlError::DuplicateKey { pos, key, first_line });
                }
            }
            *slot = Some((key, pos));
        }
        Ok(())
    }

    /// Before a container starts, extend the tracked path with the slot it goes into.
    fn enter_child(&mut self, pos: Pos) {
        if !self.tracking() {
            return;
        }
        match self.stack.last() {
            Some(Frame::Seq { items, .. }) => {
                let index = items.len().to_string();
                self.push_token(&index);
                self.mark(pos);
            }
            Some(Frame::Map { key: Some((key, key_pos)), .. }) => {
                let (key, key_pos) = (key.clone(), *key_pos);
                self.push_token(&key);
                self.mark(key_pos);
            }
            _ => self.mark(pos),
        }
    }

    fn leave_child(&mut self) {
        if self.tracking() && !self.stack.is_empty() {
            self.pop_token();
        }
    }

    /// Adds a scalar or alias value to its parent.
    fn push_value(&mut self, value: Value, pos: Pos) -> Result<(), YamlError> {
        if self.stack.is_empty() && self.doc_start.is_none() {
            self.doc_start = Some(pos);
        }
        if self.tracking() {
            match self.stack.last() {
                Some(Frame::Seq { items, .. }) => {
                    let index = items.len().to_string();
                    self.push_token(&index);
                    self.mark(pos);
                    self.pop_token();
                }
                Some(Frame::Map { key: Some((key, key_pos)), .. }) => {
                    let (key, key_pos) = (key.clone(), *key_pos);
                    self.push_token(&key);
                    self.mark(key_pos);
                    self.pop_token();
                }
                _ => self.mark(pos),
            }
        }
        self.attach(value, pos)
    }

    /// Puts a finished value into the frame on top of the stack, or makes it the root.
    fn attach(&mut self, value: Value, pos: Pos) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, lines, merged, .. }) => {
                let Some((k, key_pos)) = key.take() else {
                    return Err(YamlError::ComplexKey { pos });
                };
                if k == "<<" {
                    let added = merge_into(map, value, key_pos)?;
                    lines.resize(lines.len() + added.len(), key_pos.line);
                    merged.get_or_insert_with(Default::default).extend(added);
                } else {
                    map.insert(k, value);
                    lines.push(key_pos.line);
                }
            }
        }
        Ok(())
    }
}

/// Applies a YAML merge key: entries already present win over merged ones. Returns the keys
/// it added, in the order they were added.
fn merge_into(map: &mut Map<String, Value>, value: Value, pos: Pos) -> Result<Vec<String>, YamlError> {
    let sources = match value {
        Value::Object(m) => vec![m],
        Value::Array(items) => {
            let mut maps = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Object(m) => maps.push(m),
                    _ => return Err(YamlError::BadMerge { pos }),
                }
            }
            maps
        }
        _ => return Err(YamlError::BadMerge { pos }),
    };
    let mut added = Vec::new();
    for source in sources {
        for (k, v) in source {
            if !map.contains_key(&k) {
                added.push(k.clone());
                map.insert(k, v);
            }
        }
    }
    Ok(added)
}

trait CloneWithin {
    fn clone_if_within(&self, count: usize, used: usize, limit: usize, pos: Pos) -> Result<Value, YamlError>;
}

impl CloneWithin for Value {
    /// Clones an anchored value only when its size fits in what is left of the node budget,
    /// so that an alias bomb is refused before anything is copied.
    fn clone_if_within(&self, count: usize, used: usize, limit: usize, pos: Pos) -> Result<Value, YamlError> {
        if used.saturating_add(count) > limit {
            return Err(YamlError::TooManyNodes { pos, limit });
        }
        Ok(self.clone())
    }
}

/// Resolves a scalar by the YAML 1.2 core schema; quoted and block scalars are strings.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>, pos: Pos) -> Result<Value, YamlError> {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            return resolve_tagged(text, &tag.suffix, pos);
        }
        if tag.handle.is_empty() && tag.suffix == "!" {
            // The non-specific tag `!` forces a string.
            return Ok(Value::String(text.to_string()));
        }
        // Other local tags (`!Ref` in CloudFormation) carry no meaning for tollgate.
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    resolve_plain(text, pos)
}

fn resolve_tagged(text: &str, suffix: &str, pos: Pos) -> Result<Value, YamlError> {
    let bad = || YamlError::BadTag { pos, text: text.to_owned(), tag: format!("!!{suffix}") };
    match suffix {
        "str" => Ok(Value::String(text.to_owned())),
        "null" => match resolve_plain(text, pos)? {
            Value::Null => Ok(Value::Null),
            _ => Err(bad()),
        },
        "bool" => match resolve_plain(text, pos)? {
            v @ Value::Bool(_) => Ok(v),
            _ => Err(bad()),
        },
        "int" => match resolve_plain(text, pos)? {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Value::Number(n)),
            _ => Err(bad()),
        },
        "float" => match resolve_plain(text, pos)? {
            Value::Number(n) => Ok(Value::Number(Number::from_f64(n.as_f64().unwrap_or(0.0)).unwrap_or(n))),
            _ => Err(bad()),
        },
        // `!!binary`, `!!timestamp`, `!!map`, `!!seq`...: keep the text.
        _ => Ok(Value::String(text.to_owned())),
    }
}

fn resolve_plain(text: &str, pos: Pos) -> Result<Value, YamlError> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN" => {
            return Err(YamlError::NonFinite { pos, text: text.to_owned() });
        }
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Ok(Value::String(text.to_owned()));
    }
    if let Some(n) = parse_int(text) {
        return Ok(Value::Number(n));
    }
    if is_core_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        if let Some(n) = Number::from_f64(f) {
            return Ok(Value::Number(n));
        }
        return Err(YamlError::NonFinite { pos, text: text.to_owned() });
    }
    Ok(Value::String(text.to_owned()))
}

fn parse_int(text: &str) -> Option<Number> {
    if let Some(oct) = text.strip_prefix("0o") {
        return (!oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .then(|| u64::from_str_radix(oct, 8).ok().map(Number::from))
            .flatten();
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(hex, 16).ok().map(Number::from))
            .flatten();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::from(i));
    }
    if let Ok(u) = digits.parse::<u64>()
        && !text.starts_with('-')
    {
        return Some(Number::from(u));
    }
    // Larger than 64 bits: fall back to the nearest float, as JSON parsers do.
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - frac_start;
    } else if int_digits == 0 {
        return false;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}
