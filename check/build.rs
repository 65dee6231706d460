//! Embeds the starter repo of `tollgate init` (`templates/init/`).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    // The repo `tollgate init` writes.
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/init");
    println!("cargo:rerun-if-changed={}", templates.display());
    let mut files = Vec::new();
    walk(&templates, &templates, &mut files);
    files.sort();
    let mut out = String::from("/// Files of the starter repo: (relative path, contents).\npub const INIT_FILES: &[(&str, &[u8])] = &[\n");
    for rel in &files {
        let full = templates.join(rel);
        println!("cargo:rerun-if-changed={}", full.display());
        let _ = writeln!(out, "    (\"{rel}\", include_bytes!(r\"{}\")),", full.display());
    }
    out.push_str("];\n");
    write(&Path::new(&out_dir).join("init_files.rs"), &out);
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        println!("cargo:warning=cannot write {}: {e}", path.display());
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
