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
