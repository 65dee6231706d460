//! A whole repo built from one fuzzed file: loading, schemas, references and the default
//! policy library never panic on any input.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate_check::{CheckOptions};
use tollgate_policy::Bundle;
use tollgate_spec::repo::Source;
use tollgate_spec::{LoadOptions};

fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| Bundle::compile(&[], true).expect("the default library compiles"))
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = b"apiVersion: tollgate.dev/v1alpha1\nkind: Config\nmetadata: {name: fuzz}\nspec:\n  environments: [dev]\n";
    std::fs::write(dir.path().join("tollgate.yaml"), config).expect("write");
    std::fs::write(dir.path().join("doc.yaml"), data).expect("write");
    let source = Source::workdir(dir.path()).expect("source");
    let repo = tollgate_spec::load(&source, &LoadOptions { jobs: 1 }).expect("load");
    let report = tollgate_check::check(&repo, Some(bundle()), &CheckOptions { jobs: 1, ..CheckOptions::default() });
    assert!(report.exit_code() <= 2);
});
