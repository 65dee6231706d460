use super::ResultCache;
use crate::dataset::Sha256Digest;
use crate::spec::CacheKey;

fn digest(byte: &str) -> Sha256Digest {
    byte.repeat(32).parse().unwrap()
}

/// A cache in a fresh folder (`gates/` in the returned one) and a key.
fn cache() -> (tempfile::TempDir, ResultCache, CacheKey) {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResultCache::new(dir.path().join("gates"));
    (dir, cache, CacheKey { model: digest("01"), dataset: digest("02"), gate_spec: digest("03") })
}

#[test]
fn round_trip_and_corrupt_entries_are_misses() {
    let (dir, cache, key) = cache();
    assert_eq!(cache.get::<Vec<f64>>(&key).unwrap(), None);
    cache.put(&key, &vec![0.5, 0.25]).unwrap();
    assert_eq!(cache.get::<Vec<f64>>(&key).unwrap(), Some(vec![0.5, 0.25]));
    let other = CacheKey { gate_spec: digest("04"), ..key };
    assert_eq!(cache.get::<Vec<f64>>(&other).unwrap(), None);
    std::fs::write(dir.path().join("gates").join(format!("{}.json", key.to_key())), b"{not json").unwrap();
    assert_eq!(cache.get::<Vec<f64>>(&key).unwrap(), None);
}

/// Two computations of one release's gates in one process (a server's API preparing a commit
/// while its reconcile loop does) store the same entry at once: every store succeeds, and the
/// entry is whole.
#[test]
fn concurrent_stores_of_one_entry_all_succeed() {
    let (dir, cache, key) = cache();
    let value: Vec<f64> = (0..20_000).map(f64::from).collect();
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..20 {
                        cache.put(&key, &value).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
    });
    assert_eq!(cache.get::<Vec<f64>>(&key).unwrap().as_ref(), Some(&value));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("gates")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "temporary files left behind: {left:?}");
}
