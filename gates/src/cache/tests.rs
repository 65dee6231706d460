use super::ResultCache;
use crate::dataset::Sha256Digest;
use crate::spec::CacheKey;

#[test]
fn round_trip_and_corrupt_entries_are_misses() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResultCache::new(dir.path().join("gates"));
    let d = |b: &str| b.repeat(32).parse::<Sha256Digest>().unwrap();
    let key = CacheKey { model: d("01"), dataset: d("02"), gate_spec: d("03") };
    assert_eq!(cache.get::<Vec<f64>>(&key).unwrap(), None);
    cache.put(&key, &vec![0.5, 0.25]).unwrap();
    assert_eq!(cache.get::<Vec<f64>>(&key).unwrap(), Some(vec![0.5, 0.25]));
    let other = CacheKey { gate_spec: d("04"), ..key };
    assert_eq!(cache.get::<Vec<f64>>(&other).unwrap(), None);
    std::fs::write(dir.path().join("gates").join(format!("{}.json", key.to_key())), b"{not json").unwrap();
    assert_eq!(cache.get::<Vec<f64>>(&key).unwrap(), None);
}
