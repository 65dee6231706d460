//! The default policy library, embedded at build time from the workspace's `policies/lib/`.

include!(concat!(env!("OUT_DIR"), "/default_library.rs"));
