//! Embeds tollgate's default Rego library (`../policies/lib/*.rego`, tests excluded).

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
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        println!("cargo:warning=cannot write {}: {e}", path.display());
    }
}
