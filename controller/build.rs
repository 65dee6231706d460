//! Embeds tollgate's default Rego library (`../policies/lib/*.rego`, tests excluded) and the
//! starter repo of `tollgate init`. With the `torch` feature, also gives this package's tests an
//! rpath to libtorch and keeps `libtorch_cuda` linked (see docs/adr/0012-*.md).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/lib");
    println!("cargo:rerun-if-changed={}", lib.display());
    let mut files: Vec<String> = std::fs::read_dir(&lib)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".rego") && !n.ends_with("_test.rego"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from(
        "/// tollgate's default policy library: (virtual path, Rego source).\npub const DEFAULT_LIBRARY: &[(&str, &str)] = &[\n",
    );
    for name in &files {
        println!("cargo:rerun-if-changed={}", lib.join(name).display());
        let _ = writeln!(out, "    (\"tollgate:lib/{name}\", include_str!(r\"{}\")),", lib.join(name).display());
    }
    out.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    write(&Path::new(&out_dir).join("default_library.rs"), &out);

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

    torch_link_args();
}

/// The libtorch directory comes from `tollgate-gates`' build script.
fn torch_link_args() {
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    let Some(lib) = std::env::var_os("DEP_TOLLGATE_TORCH_LIBTORCH_LIB") else { return };
    let lib = Path::new(&lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
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
