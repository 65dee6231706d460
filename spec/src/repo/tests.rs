use super::*;

#[test]
fn repo_paths_are_normalised_and_stay_inside() {
    assert_eq!(RepoPath::new("a/./b//c.yaml").unwrap().as_str(), "a/b/c.yaml");
    assert_eq!(RepoPath::new("a/x/../b.yaml").unwrap().as_str(), "a/b.yaml");
    assert_eq!(RepoPath::new("a\\b.yaml").unwrap().as_str(), "a/b.yaml");
    assert_eq!(RepoPath::new("../b.yaml"), Err(PathError::Escapes { path: "../b.yaml".into() }));
    assert_eq!(RepoPath::new("a/../../b"), Err(PathError::Escapes { path: "a/../../b".into() }));
    assert_eq!(RepoPath::new("/etc/passwd"), Err(PathError::Absolute { path: "/etc/passwd".into() }));
    assert_eq!(RepoPath::new("C:/x"), Err(PathError::Absolute { path: "C:/x".into() }));
    assert_eq!(RepoPath::new("./"), Err(PathError::Empty));
    assert_eq!(RepoPath::new(""), Err(PathError::Empty));
}

#[test]
fn link_targets_resolve_against_the_link_folder() {
    let link = RepoPath::new("models/current.yaml").unwrap();
    assert_eq!(link.join_sibling("v2.yaml").unwrap().as_str(), "models/v2.yaml");
    assert_eq!(link.join_sibling("../shared/m.yaml").unwrap().as_str(), "shared/m.yaml");
    assert!(matches!(link.join_sibling("../../x"), Err(PathError::Escapes { .. })));
    assert!(matches!(link.join_sibling("/etc/x"), Err(PathError::Absolute { .. })));
}

#[test]
fn blob_ids_match_git() {
    // `printf 'hello\n' | git hash-object --stdin`
    assert_eq!(blob_id(b"hello\n").to_string(), "ce013625030ba8dba906f756967f9e9ca394464a");
}

/// Regression (issue #12): listing a commit loaded every blob whole to learn its size, so a
/// file far beyond `maxFileBytes` was read into memory before the limit refused it. Sizes come
/// from the object headers now.
#[test]
fn listing_a_commit_reads_no_blob() {
    const BIG: usize = 64 << 20;
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    // Written and committed without holding it in this process, whose peak is measured.
    let mut big = std::fs::File::create(dir.path().join("big.yaml")).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..BIG >> 20 {
        big.write_all(&chunk).unwrap();
    }
    drop(big);
    std::fs::write(dir.path().join("small.yaml"), "a: 1\n").unwrap();
    for args in
        [&["init", "-q"][..], &["add", "."], &["-c", "user.name=dev", "-c", "user.email=dev@acme.example", "commit", "-qm", "a big file"]]
    {
        let status = std::process::Command::new("git").args(args).current_dir(dir.path()).status().unwrap();
        assert!(status.success(), "git {args:?}");
    }
    let before = tollgate_test_support::peak::peak_kib();
    let listing = Source::commit(dir.path(), "HEAD").unwrap().list().unwrap();
    let grew_kib = tollgate_test_support::peak::peak_kib().saturating_sub(before);
    let sizes: Vec<(&str, u64)> = listing.files.iter().map(|f| (f.path.as_str(), f.size)).collect();
    assert_eq!(sizes, [("big.yaml", BIG as u64), ("small.yaml", 5)]);
    assert!(grew_kib < 16 << 10, "listing grew the peak by {grew_kib} KiB");
}
