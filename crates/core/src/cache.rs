//! A least-recently-used cache bounded by bytes, for expensive results such
//! as decoded images, keyed by file identity so that a changed file misses.

use std::collections::{BTreeMap, HashMap};
use std::fs::Metadata;
use std::hash::Hash;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

/// Counters and sizes of a [`ByteLru`], for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Entries dropped to make room (not removals, replacements nor clears).
    pub evictions: u64,
    pub entries: usize,
    /// Sum of the costs of the entries held.
    pub bytes: usize,
    pub capacity: usize,
}

/// An LRU cache holding at most `capacity` bytes of entries, as declared by
/// each insert's `cost`. Thread-safe; values are cloned out, so make them
/// cheap to clone (`Arc<...>`).
///
/// Every operation is O(log n): a map from key to entry plus an ordered map
/// from recency tick to key.
pub struct ByteLru<K, V> {
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Recency order: the smallest tick is the least recently used.
    order: BTreeMap<u64, K>,
    next_tick: u64,
    bytes: usize,
    capacity: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
}

struct Entry<V> {
    value: V,
    cost: usize,
    tick: u64,
}

impl<K, V> std::fmt::Debug for ByteLru<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteLru")
            .field("stats", &self.lock().stats())
            .finish()
    }
}

impl<K, V> ByteLru<K, V> {
    /// An empty cache that holds at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: BTreeMap::new(),
                next_tick: 0,
                bytes: 0,
                capacity,
                hits: 0,
                misses: 0,
                evictions: 0,
            }),
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.lock().stats()
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry; the counters are kept.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        match self.inner.lock() {
            Ok(guard) => guard,
            // A panic (in a key's `Hash` or `Eq`, say) may have left the maps
            // out of step; start over empty rather than trust them.
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                guard.clear();
                self.inner.clear_poison();
                guard
            }
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> ByteLru<K, V> {
    /// The value for `key`, now the most recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let tick = inner.next_tick;
        let Some(entry) = inner.entries.get_mut(key) else {
            inner.misses += 1;
            return None;
        };
        if let Some(key) = inner.order.remove(&entry.tick) {
            inner.order.insert(tick, key);
        }
        entry.tick = tick;
        inner.next_tick += 1;
        inner.hits += 1;
        Some(entry.value.clone())
    }

    /// Inserts or replaces `key`, evicting the least recently used entries
    /// until it fits. An entry costing more than the whole capacity is not
    /// cached (and an older value for `key` is dropped); returns whether the
    /// value was cached.
    pub fn insert(&self, key: K, value: V, cost: usize) -> bool {
        let mut inner = self.lock();
        inner.remove_entry(&key);
        if cost > inner.capacity {
            return false;
        }
        while inner.bytes + cost > inner.capacity {
            let Some((_, oldest)) = inner.order.pop_first() else {
                break;
            };
            if let Some(entry) = inner.entries.remove(&oldest) {
                inner.bytes -= entry.cost;
                inner.evictions += 1;
            }
        }
        let tick = inner.next_tick;
        inner.next_tick += 1;
        inner.order.insert(tick, key.clone());
        inner.entries.insert(key, Entry { value, cost, tick });
        inner.bytes += cost;
        true
    }

    /// Removes `key`, returning its value if it was cached.
    pub fn remove(&self, key: &K) -> Option<V> {
        self.lock().remove_entry(key)
    }
}

impl<K, V> Inner<K, V> {
    fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits,
            misses: self.misses,
            evictions: self.evictions,
            entries: self.entries.len(),
            bytes: self.bytes,
            capacity: self.capacity,
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.bytes = 0;
    }
}

impl<K: Eq + Hash, V> Inner<K, V> {
    fn remove_entry(&mut self, key: &K) -> Option<V> {
        let entry = self.entries.remove(key)?;
        self.order.remove(&entry.tick);
        self.bytes -= entry.cost;
        Some(entry.value)
    }
}

/// Identifies one version of a file: the same path rewritten (other size,
/// other modification time, or replaced by a rename) gives another key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub path: PathBuf,
    pub len: u64,
    pub modified: Option<SystemTime>,
    /// Inode number: an atomic replacement (write then rename) changes it
    /// even when size and time happen to match.
    pub ino: u64,
}

impl FileKey {
    /// The key for `path` as described by `meta` (already at hand after
    /// opening the file, which avoids a second `stat`).
    pub fn from_metadata(path: &Path, meta: &Metadata) -> Self {
        Self {
            path: path.to_path_buf(),
            len: meta.len(),
            modified: meta.modified().ok(),
            ino: meta.ino(),
        }
    }

    /// The key for the file at `path` now (symlinks followed).
    pub fn of(path: &Path) -> io::Result<Self> {
        let meta = std::fs::metadata(path)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
        Ok(Self::from_metadata(path, &meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Which of `all` are cached, without touching recency or counters.
    fn keys<V>(cache: &ByteLru<&'static str, V>, all: &[&'static str]) -> Vec<&'static str> {
        all.iter()
            .copied()
            .filter(|key| cache.lock().entries.contains_key(key))
            .collect()
    }

    #[test]
    fn get_returns_what_was_inserted() {
        let cache = ByteLru::new(100);
        assert!(cache.is_empty());
        assert!(cache.insert("a", 1, 10));
        assert_eq!(cache.get(&"a"), Some(1));
        assert_eq!(cache.get(&"b"), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let cache = ByteLru::new(30);
        cache.insert("a", 1, 10);
        cache.insert("b", 2, 10);
        cache.insert("c", 3, 10);
        // Reading `a` makes `b` the oldest.
        assert_eq!(cache.get(&"a"), Some(1));
        cache.insert("d", 4, 10);
        assert_eq!(keys(&cache, &["a", "b", "c", "d"]), ["a", "c", "d"]);
        // Now `c` is the oldest, then `a`.
        cache.insert("e", 5, 20);
        assert_eq!(keys(&cache, &["a", "b", "c", "d", "e"]), ["d", "e"]);
        assert_eq!(cache.stats().evictions, 3);
    }

    #[test]
    fn replacing_a_key_refreshes_it_and_updates_its_cost() {
        let cache = ByteLru::new(30);
        cache.insert("a", 1, 10);
        cache.insert("b", 2, 10);
        cache.insert("a", 10, 15);
        assert_eq!(cache.stats().bytes, 25);
        assert_eq!(cache.stats().entries, 2);
        cache.insert("c", 3, 10);
        // `b` was older than the replaced `a`.
        assert_eq!(keys(&cache, &["a", "b", "c"]), ["a", "c"]);
        assert_eq!(cache.get(&"a"), Some(10));
        assert_eq!(cache.stats().bytes, 25);
    }

    #[test]
    fn byte_bound_is_respected() {
        let cache = ByteLru::new(1000);
        for index in 0..500u32 {
            cache.insert(index, index, (index as usize % 97) + 1);
            let stats = cache.stats();
            assert!(stats.bytes <= 1000, "{stats:?}");
        }
        let stats = cache.stats();
        // Full enough: the next entry would not have fit.
        assert!(stats.bytes > 1000 - 97, "{stats:?}");
        assert_eq!(stats.capacity, 1000);
        // The newest entry is always kept.
        assert_eq!(cache.get(&499), Some(499));
    }

    #[test]
    fn oversized_entry_is_not_cached() {
        let cache = ByteLru::new(100);
        assert!(cache.insert("small", 1, 50));
        assert!(!cache.insert("huge", 2, 101));
        assert_eq!(cache.get(&"huge"), None);
        // Nothing was evicted for it.
        assert_eq!(cache.get(&"small"), Some(1));
        assert_eq!(cache.stats().evictions, 0);
        // An oversized new value for a cached key drops the stale one.
        assert!(!cache.insert("small", 3, 1000));
        assert_eq!(cache.get(&"small"), None);
        assert_eq!(cache.stats().bytes, 0);
        // Exactly the capacity fits.
        assert!(cache.insert("exact", 4, 100));
        assert_eq!(cache.get(&"exact"), Some(4));
    }

    #[test]
    fn counters() {
        let cache = ByteLru::new(20);
        cache.insert("a", 1, 10);
        cache.get(&"a");
        cache.get(&"a");
        cache.get(&"x");
        cache.insert("b", 2, 10);
        cache.insert("c", 3, 10);
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 2,
                misses: 1,
                evictions: 1,
                entries: 2,
                bytes: 20,
                capacity: 20
            }
        );
        assert_eq!(cache.remove(&"b"), Some(2));
        assert_eq!(cache.remove(&"b"), None);
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 2,
                misses: 1,
                evictions: 1,
                entries: 1,
                bytes: 10,
                capacity: 20
            }
        );
        cache.clear();
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 2,
                misses: 1,
                evictions: 1,
                entries: 0,
                bytes: 0,
                capacity: 20
            }
        );
        assert_eq!(cache.get(&"c"), None);
        assert_eq!(cache.stats().misses, 2);
    }

    #[test]
    fn zero_capacity_caches_only_free_entries() {
        let cache = ByteLru::new(0);
        assert!(!cache.insert("a", 1, 1));
        assert!(cache.insert("b", 2, 0));
        assert_eq!(cache.get(&"b"), Some(2));
    }

    #[test]
    fn values_are_shared_not_copied() {
        let cache: ByteLru<&str, Arc<Vec<u8>>> = ByteLru::new(1 << 20);
        let value = Arc::new(vec![7u8; 1000]);
        cache.insert("img", Arc::clone(&value), value.len());
        let got = cache.get(&"img").unwrap();
        assert!(Arc::ptr_eq(&got, &value));
    }

    #[test]
    fn debug_shows_stats() {
        let cache: ByteLru<u8, u8> = ByteLru::new(5);
        assert!(format!("{cache:?}").contains("capacity: 5"));
    }

    #[test]
    fn concurrent_use_keeps_the_books_straight() {
        let cache: ByteLru<u32, Arc<u32>> = ByteLru::new(500);
        let threads = 4;
        let rounds = 2000u32;
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let cache = &cache;
                scope.spawn(move || {
                    for round in 0..rounds {
                        let key = (round * 7 + thread) % 100;
                        if round % 3 == 0 {
                            cache.insert(key, Arc::new(key), (key as usize % 20) + 1);
                        } else if let Some(value) = cache.get(&key) {
                            assert_eq!(*value, key);
                        }
                        if round % 101 == 0 {
                            cache.remove(&key);
                        }
                    }
                });
            }
        });
        let stats = cache.stats();
        let gets = (0..rounds).filter(|round| round % 3 != 0).count() as u64 * u64::from(threads);
        assert_eq!(stats.hits + stats.misses, gets);
        assert!(stats.bytes <= 500);
        let inner = cache.lock();
        assert_eq!(inner.entries.len(), inner.order.len());
        assert_eq!(
            inner
                .entries
                .values()
                .map(|entry| entry.cost)
                .sum::<usize>(),
            inner.bytes
        );
        for (tick, key) in &inner.order {
            assert_eq!(inner.entries[key].tick, *tick);
        }
    }

    #[test]
    fn a_poisoned_cache_starts_over_empty() {
        #[derive(Clone, PartialEq, Eq)]
        struct Bomb(bool);
        impl Hash for Bomb {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                assert!(!self.0, "boom");
                state.write_u8(0);
            }
        }
        let cache = ByteLru::new(10);
        cache.insert(Bomb(false), 1, 1);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.insert(Bomb(true), 2, 1);
        }));
        assert!(result.is_err());
        assert!(cache.is_empty());
        assert!(cache.insert(Bomb(false), 3, 1));
        assert_eq!(cache.get(&Bomb(false)), Some(3));
    }

    #[test]
    fn file_key_changes_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.png");
        std::fs::write(&path, b"one").unwrap();
        let first = FileKey::of(&path).unwrap();
        assert_eq!(first, FileKey::of(&path).unwrap());
        assert_eq!(first.path, path);
        assert_eq!(first.len, 3);
        assert!(first.modified.is_some());

        std::fs::write(&path, b"longer").unwrap();
        let second = FileKey::of(&path).unwrap();
        assert_ne!(first, second);
        assert_eq!(second.len, 6);

        // Same size, replaced by a rename: another inode.
        let other = dir.path().join("other");
        std::fs::write(&other, b"LONGER").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let third = FileKey::of(&path).unwrap();
        assert_eq!(third.len, 6);
        assert_ne!(second, third);

        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(FileKey::from_metadata(&path, &meta), third);

        let cache = ByteLru::new(100);
        cache.insert(first.clone(), "decoded one", 3);
        assert_eq!(cache.get(&first), Some("decoded one"));
        assert_eq!(cache.get(&third), None);

        let err = FileKey::of(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
