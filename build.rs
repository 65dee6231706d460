//! With the `torch` feature: an rpath to libtorch and `libtorch_cuda` kept linked, for the
//! binaries and tests of this package (the directory comes from `tollgate-torch`'s build script;
//! see docs/adr/0012-*.md).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    let Some(lib) = std::env::var_os("DEP_TOLLGATE_TORCH_LIBTORCH_LIB") else { return };
    let lib = std::path::Path::new(&lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
