//! `tollgate init`.

use crate::support::{Scratch, check_json, code, stderr, tollgate};

#[test]
fn init_writes_a_repo_that_passes_check() {
    let parent = Scratch::empty();
    let dir = parent.path().join("ml-config");
    let out = tollgate(&["init", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(dir.join("tollgate.yaml").is_file());
    let (code, report) = check_json(&dir, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report["documents"].as_u64().unwrap() >= 5);
    // Nothing but the new repo was left in the parent folder.
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 1);
}

#[test]
fn init_refuses_a_folder_that_is_not_empty_and_changes_nothing() {
    let dir = Scratch::empty();
    dir.write("notes.txt", "mine\n");
    let out = tollgate(&["init", dir.path().to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("exists and is not empty"), "{}", stderr(&out));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["notes.txt"]);
}
