//! The YAML loader never panics, never exceeds its limits, and locates what it loads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_spec::yaml::{Limits, locate, locate_nearest, parse_documents};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_file_bytes: 64 * 1024, max_depth: 32, max_nodes: 20_000 };
    if let Ok(docs) = parse_documents(data, &limits) {
        for doc in &docs {
            // Every top-level key of a loaded mapping can be located again.
            if let Some(map) = doc.value.as_object() {
                for key in map.keys().take(8) {
                    let pointer = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
                    assert!(locate(data, doc.index, &pointer, &limits).is_some(), "cannot locate {pointer}");
                }
            }
            let _ = locate_nearest(data, doc.index, "/spec/versions/0/artifact/sha256", &limits);
        }
    }
});
