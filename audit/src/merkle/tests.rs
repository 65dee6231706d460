use super::*;
use base64::Engine as _;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn vectors(kind: &str) -> Vec<(PathBuf, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/merkle").join(kind);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("vector directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).expect("vector file");
                out.push((path, serde_json::from_str(&text).expect("vector json")));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or("")).expect("base64")
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    v.as_array().map(|a| a.iter().map(b64).collect()).unwrap_or_default()
}

/// transparency-dev/merkle inclusion vectors: exactly the `wantErr: false` cases are accepted.
#[test]
fn inclusion_vectors() {
    let cases = vectors("inclusion");
    assert!(cases.len() > 50, "found {} vectors", cases.len());
    for (path, v) in cases {
        let got = verify_inclusion(
            v["leafIdx"].as_u64().expect("leafIdx"),
            v["treeSize"].as_u64().expect("treeSize"),
            &b64(&v["leafHash"]),
            &proof(&v["proof"]),
            &b64(&v["root"]),
        );
        assert_eq!(got.is_err(), v["wantErr"].as_bool().expect("wantErr"), "{}: {got:?}", path.display());
    }
}

/// transparency-dev/merkle consistency vectors: exactly the `wantErr: false` cases are accepted.
#[test]
fn consistency_vectors() {
    let cases = vectors("consistency");
    assert!(cases.len() > 50, "found {} vectors", cases.len());
    for (path, v) in cases {
        let got = verify_consistency(
            v["size1"].as_u64().expect("size1"),
            v["size2"].as_u64().expect("size2"),
            &proof(&v["proof"]),
            &b64(&v["root1"]),
            &b64(&v["root2"]),
        );
        assert_eq!(got.is_err(), v["wantErr"].as_bool().expect("wantErr"), "{}: {got:?}", path.display());
    }
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&[&i.to_be_bytes()])).collect()
}

/// The textbook recursive definition, to check the streaming code against.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn roots_of(ranges: &[Range<u64>], leaves: &[Hash]) -> Vec<Vec<u8>> {
    let mut rr = RangeRoots::new(ranges);
    for leaf in leaves.iter().take(rr.end() as usize) {
        rr.push(*leaf);
    }
    rr.finish().into_iter().map(|h| h.to_vec()).collect()
}

#[test]
fn compact_range_matches_the_recursive_definition() {
    let all = leaves(70);
    let mut cr = CompactRange::new();
    assert_eq!(cr.root(), empty_root());
    for n in 1..=all.len() {
        cr.push(all[n - 1]);
        assert_eq!(cr.root(), mth(&all[..n]), "size {n}");
    }
}

#[test]
fn generated_proofs_verify_and_mutations_fail() {
    let all = leaves(40);
    for size in 1..=all.len() as u64 {
        let root = mth(&all[..size as usize]);
        for index in 0..size {
            let p = roots_of(&inclusion_ranges(index, size), &all);
            assert_eq!(verify_inclusion(index, size, &all[index as usize], &p, &root), Ok(()));
            if let Some(first) = p.first() {
                let mut bad = p.clone();
                bad[0] = node_hash(first, first).to_vec();
                assert!(verify_inclusion(index, size, &all[index as usize], &bad, &root).is_err());
            }
        }
        for size1 in 1..=size {
            let root1 = mth(&all[..size1 as usize]);
            let p = roots_of(&consistency_ranges(size1, size), &all);
            assert_eq!(verify_consistency(size1, size, &p, &root1, &root), Ok(()), "{size1}->{size}");
            if size1 < size {
                assert!(verify_consistency(size1, size, &p, &root, &root1).is_err());
            }
        }
    }
}

#[test]
fn frontier_round_trips() {
    let all = leaves(45);
    let mut cr = CompactRange::new();
    for (i, leaf) in all.iter().enumerate() {
        let again = CompactRange::from_frontier(cr.size(), &cr.frontier()).expect("fits");
        assert_eq!(again.root(), cr.root(), "size {i}");
        cr.push(*leaf);
    }
    assert!(CompactRange::from_frontier(3, &[0u8; 32]).is_none());
}

/// Our tree, proofs and verifiers agree with `ct-merkle` (a second RFC 6962 implementation) on
/// every tree size up to 100 with leaves of varying length: roots, every inclusion proof and
/// every consistency proof are byte-identical, and each side verifies the other's proofs.
#[test]
fn proofs_match_ct_merkle() {
    use ct_merkle::mem_backed_tree::MemoryBackedTree;
    use ct_merkle::{ConsistencyProof, InclusionProof};
    type Theirs = MemoryBackedTree<sha2_11::Sha256, Vec<u8>>;

    let leaf_data = |i: u64| -> Vec<u8> { (0..(i * 7 % 45)).map(|b| (b * 31 + i) as u8).collect() };
    let roots_of = |ranges: &[Range<u64>], leaves: &[Hash]| -> Vec<u8> {
        let mut roots = RangeRoots::new(ranges);
        for leaf in leaves {
            roots.push(*leaf);
        }
        roots.finish().concat()
    };
    let mut theirs = Theirs::new();
    let mut leaves: Vec<Hash> = Vec::new();
    let mut ours = CompactRange::new();
    for size in 1..=100u64 {
        let data = leaf_data(size - 1);
        theirs.push(data.clone());
        leaves.push(leaf_hash(&[&data]));
        ours.push(*leaves.last().unwrap());
        let root = theirs.root();
        assert_eq!(ours.root().as_slice(), root.as_bytes().as_slice(), "root at size {size}");
        for index in 0..size {
            let proof = theirs.prove_inclusion(index as usize);
            let mine = roots_of(&inclusion_ranges(index, size), &leaves[..size as usize]);
            assert_eq!(mine, proof.as_bytes(), "inclusion of {index} in {size}");
            let split: Vec<Vec<u8>> = mine.chunks(32).map(<[u8]>::to_vec).collect();
            verify_inclusion(index, size, &leaves[index as usize], &split, &ours.root()).expect("ours verifies");
            root.verify_inclusion(&leaf_data(index), index, &InclusionProof::from_bytes(mine)).expect("theirs verifies ours");
        }
        for old in 1..size {
            let proof = theirs.prove_consistency((size - old) as usize);
            let mine = roots_of(&consistency_ranges(old, size), &leaves[..size as usize]);
            assert_eq!(mine, proof.as_bytes(), "consistency {old} -> {size}");
            let mut prefix = CompactRange::new();
            for leaf in &leaves[..old as usize] {
                prefix.push(*leaf);
            }
            let split: Vec<Vec<u8>> = mine.chunks(32).map(<[u8]>::to_vec).collect();
            verify_consistency(old, size, &split, &prefix.root(), &ours.root()).expect("ours verifies");
            let old_root = ct_merkle::RootHash::<sha2_11::Sha256>::new(prefix.root().into(), old);
            root.verify_consistency(&old_root, &ConsistencyProof::try_from_bytes(mine).expect("well-formed"))
                .expect("theirs verifies ours");
        }
    }
}
