//! With the `torch` feature, gives this package's tests an rpath to libtorch and keeps
//! `libtorch_cuda` linked (see docs/adr/0012-*.md).

use std::path::Path;

fn main() {
    torch_link_args();
}

/// The libtorch directory comes from `tollgate-torch`'s build script.
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
