//! Records the libtorch version for run records, sets an rpath to libtorch for this crate's
//! tests and benches, and keeps `libtorch_cuda` linked (the linker's as-needed mode would drop
//! it, and CUDA would then be invisible; see docs/adr/0012-*.md). The directory is passed on to
//! dependents as `DEP_TOLLGATE_TORCH_LIBTORCH_LIB`, for the same two link arguments in their
//! build scripts (a library's `rustc-link-arg` applies only to its own package's targets).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:rustc-env=TOLLGATE_LIBTORCH_VERSION=unknown");
        return;
    };
    let lib = Path::new(&lib);
    // torch/lib/../version.py holds `__version__ = '2.13.0+cu130'`; a libtorch zip has
    // build-version next to lib/.
    let version = std::fs::read_to_string(lib.join("../version.py"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("__version__ = ").map(|v| v.trim_matches(['\'', '"']).to_owned())))
        .or_else(|| std::fs::read_to_string(lib.join("../build-version")).ok().map(|s| s.trim().to_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TOLLGATE_LIBTORCH_VERSION={version}");
    println!("cargo:libtorch_lib={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
