//! Projections held in memory: the key prefixes a context reads on its hot path, mirrored
//! whole from its sled store and kept equal to it by the store's one write path.
//!
//! sled stays the durable copy and the only thing written. A resident prefix is read from
//! memory instead of sled's tree (no page-cache lookup, no key comparisons down the tree,
//! and none of sled's transaction lock, which every read and every iterator step of the
//! store shares with each of its transactions' commits, and which a waiting transaction
//! holds every reader out of). Two kinds ([`Residence`]): prefixes looked up one key at
//! a time live in a hash map, and a record decoded once is kept decoded
//! ([`Resident::shared`]), so a feed read that looks at 120 posts decodes none of them;
//! prefixes also read as ranges (timelines, indexes, relation sets) live in an ordered
//! map that answers [`super::Store::scan_after`] and [`super::Store::scan_before`] as
//! sled would.
//!
//! **Built the same way everywhere.** The maps are loaded from sled when the store opens
//! (after a restart, after a restore, on a follower) and then changed only by committed
//! transactions ([`super::Store`]'s `transact_logged`): a consumer applying an event, a
//! follower applying the writer's change set, a rebuild switching its projections over,
//! an erasure. Each transaction's writes to resident prefixes are applied to the maps
//! after the commit, under a lock the store holds from before the transaction until then,
//! so the maps see the commits in their order. A reader may see a commit a few
//! microseconds after sled does, never out of order and never one that was not committed.
//!
//! **Bounded.** The mirror has a budget (a share of the process's memory budget,
//! [`crate::platform::memory`]); a store whose resident prefixes outgrow it gives up its
//! ranges first (the larger part: an entry per reader and post), then its lookups, and
//! reads those from sled again (logged, and the gauge `agora_resident_bytes` falls with
//! it): slower, never wrong.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard};

use serde::de::DeserializeOwned;

use super::from_json;

/// Which key prefixes of a store are held in memory, by how they are read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Residence {
    /// Looked up one key at a time (records, markers): a hash map, each record decoded at
    /// most once while it is unchanged.
    pub lookups: &'static [&'static str],
    /// Read as ranges too (timelines, indexes by author, relation sets scanned whole): an
    /// ordered map, which serves both lookups and scans.
    pub ranges: &'static [&'static str],
}

impl Residence {
    pub const NONE: Residence = Residence {
        lookups: &[],
        ranges: &[],
    };

    pub fn is_empty(&self) -> bool {
        self.lookups.is_empty() && self.ranges.is_empty()
    }

    fn class(&self, key: &[u8]) -> Option<Class> {
        let under = |prefixes: &[&str]| prefixes.iter().any(|p| key.starts_with(p.as_bytes()));
        match (under(self.ranges), under(self.lookups)) {
            (true, _) => Some(Class::Range),
            (false, true) => Some(Class::Lookup),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Lookup,
    Range,
}

/// What a lookup entry costs beyond its key and value bytes, for the budget: the map's
/// slot (the boxed key's 16 bytes, the value's 32, the decoded handle's 24, the control
/// byte), the allocator's rounding of the key and of a value too long to be held inline,
/// and the decoded copy's header. An estimate from the types' sizes, not yet checked
/// against what the process's resident memory grows by.
const ENTRY_OVERHEAD: usize = 112;

/// What a range entry costs beyond its key and value bytes: the boxed key (16 bytes) and
/// the value (24) in a B-tree node about two thirds full, and the key's allocation
/// rounded up. Estimated the same way.
const RANGE_OVERHEAD: usize = 72;

/// One record held in memory.
struct Entry {
    bytes: sled::IVec,
    /// The record decoded, once some reader asked for it as a type.
    decoded: OnceLock<Arc<dyn Any + Send + Sync>>,
}

/// An entry as a scan returns it: the key with the scanned prefix cut off, the value.
pub type Row = (Vec<u8>, sled::IVec);

/// A write of a committed transaction to a resident prefix (`None`: removed).
pub(super) type Write = (Vec<u8>, Option<sled::IVec>);

#[derive(Default)]
struct Maps {
    lookups: HashMap<Box<[u8]>, Entry>,
    ranges: BTreeMap<Box<[u8]>, sled::IVec>,
    /// What each map's entries cost, about.
    lookup_bytes: i64,
    range_bytes: i64,
}

/// The in-memory mirror of a store's resident prefixes.
pub struct Resident {
    residence: Residence,
    maps: RwLock<Maps>,
    /// Held from before a transaction of the store until its writes are applied here.
    order: Mutex<()>,
    /// False once the mirror outgrew its budget: those reads go to sled. The ranges go
    /// first (they are the larger part: a timeline entry per reader and post).
    lookups_active: AtomicBool,
    ranges_active: AtomicBool,
    budget: i64,
    /// What the entries cost, about (`agora_resident_bytes`).
    bytes: prometheus_client::metrics::gauge::Gauge<i64, AtomicI64>,
}

/// What an entry of a key and a value of these lengths costs, about.
fn cost(class: Class, key: usize, value: usize) -> i64 {
    let overhead = match class {
        Class::Lookup => ENTRY_OVERHEAD,
        Class::Range => RANGE_OVERHEAD,
    };
    i64::try_from(key + value + overhead).unwrap_or(i64::MAX)
}

/// The bounds of the keys under `prefix` after `prefix + after` (exclusive).
fn after_bounds(prefix: &[u8], after: Option<&[u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    match after {
        Some(a) => (Bound::Excluded([prefix, a].concat()), Bound::Unbounded),
        None => (Bound::Included(prefix.to_vec()), Bound::Unbounded),
    }
}

/// The bounds of the keys under `prefix` before `prefix + before` (exclusive); as sled's
/// scans in [`super::Store::scan_before`], a key's byte after the prefix is below `0xff`.
fn before_bounds(prefix: &[u8], before: Option<&[u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let end = match before {
        Some(b) => [prefix, b].concat(),
        None => [prefix, &[0xff]].concat(),
    };
    (Bound::Included(prefix.to_vec()), Bound::Excluded(end))
}

impl Resident {
    /// Loads every record under the prefixes of `residence` from `tree`. A part that would
    /// exceed `budget` bytes is not kept (see the module's doc).
    pub fn load(
        tree: &sled::Tree,
        sealer: Option<&super::Sealer>,
        residence: Residence,
        budget: u64,
        bytes: prometheus_client::metrics::gauge::Gauge<i64, AtomicI64>,
    ) -> Result<Self, sled::Error> {
        let resident = Resident {
            residence,
            maps: RwLock::default(),
            order: Mutex::default(),
            lookups_active: AtomicBool::new(true),
            ranges_active: AtomicBool::new(true),
            budget: i64::try_from(budget).unwrap_or(i64::MAX),
            bytes,
        };
        for prefix in residence.lookups.iter().chain(residence.ranges) {
            let mut loaded = Vec::new();
            for item in tree.scan_prefix(prefix.as_bytes()) {
                let (k, v) = item?;
                let v = super::sealing::open(sealer, &k, &v)?.into_owned();
                loaded.push((k.to_vec(), Some(v.into())));
            }
            resident.apply(loaded);
        }
        Ok(resident)
    }

    fn active(&self, class: Class) -> bool {
        match class {
            Class::Lookup => self.lookups_active.load(Ordering::Relaxed),
            Class::Range => self.ranges_active.load(Ordering::Relaxed),
        }
    }

    /// Whether `key` is read from memory.
    pub fn holds(&self, key: &[u8]) -> bool {
        self.held(key).is_some()
    }

    /// How `key` is held in memory, if it is.
    fn held(&self, key: &[u8]) -> Option<Class> {
        self.residence.class(key).filter(|c| self.active(*c))
    }

    /// Whether the keys under `prefix` are scanned in memory: `prefix` starts with a
    /// resident range prefix.
    pub fn holds_range(&self, prefix: &[u8]) -> bool {
        self.residence.class(prefix) == Some(Class::Range) && self.active(Class::Range)
    }

    /// Whether `key` is under a resident prefix (whatever the budget decided).
    pub(super) fn is_resident(&self, key: &[u8]) -> bool {
        self.residence.class(key).is_some()
    }

    fn read(&self) -> RwLockReadGuard<'_, Maps> {
        // A panic while the maps were written leaves at worst one write unapplied; reads
        // go on (the same policy as the store's gate).
        self.maps.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes under `key`; `None` when `key` is not held in memory (read sled).
    pub fn get_raw(&self, key: &[u8]) -> Option<Option<sled::IVec>> {
        let class = self.held(key)?;
        let maps = self.read();
        Some(match class {
            Class::Range => maps.ranges.get(key).cloned(),
            Class::Lookup => maps.lookups.get(key).map(|e| e.bytes.clone()),
        })
    }

    /// Whether `key` is there; `None` when it is not held in memory (read sled).
    pub fn contains(&self, key: &[u8]) -> Option<bool> {
        let class = self.held(key)?;
        let maps = self.read();
        Some(match class {
            Class::Range => maps.ranges.contains_key(key),
            Class::Lookup => maps.lookups.contains_key(key),
        })
    }

    /// The record under `key` decoded as `T`, decoded at most once while it is unchanged
    /// (a record under a range prefix is decoded at each read); `None` when `key` is not
    /// held in memory (read sled).
    pub fn shared<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        key: &[u8],
    ) -> Option<Result<Option<Arc<T>>, sled::Error>> {
        let class = self.held(key)?;
        Some(self.shared_held(class, key))
    }

    fn shared_held<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        class: Class,
        key: &[u8],
    ) -> Result<Option<Arc<T>>, sled::Error> {
        let maps = self.read();
        if class == Class::Range {
            return match maps.ranges.get(key) {
                Some(bytes) => from_json(bytes).map(|v| Some(Arc::new(v))),
                None => Ok(None),
            };
        }
        let Some(entry) = maps.lookups.get(key) else {
            return Ok(None);
        };
        if let Some(done) = entry.decoded.get() {
            if let Ok(typed) = done.clone().downcast::<T>() {
                return Ok(Some(typed));
            }
            // Read as another type than before: decoded anew, not kept.
            return from_json(&entry.bytes).map(|v| Some(Arc::new(v)));
        }
        let typed: Arc<T> = Arc::new(from_json(&entry.bytes)?);
        let erased: Arc<dyn Any + Send + Sync> = typed.clone();
        // Two readers may decode it at once: the first one kept wins, both are right.
        let _ = entry.decoded.set(erased);
        Ok(Some(typed))
    }

    /// The entries under `prefix` after `prefix + after` (exclusive), in order, at most
    /// `limit`, with the prefix cut off (`holds_range(prefix)` must be true).
    pub fn scan_after(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<Row> {
        let maps = self.read();
        maps.ranges
            .range::<[u8], _>(as_refs(&after_bounds(prefix, after)))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(cut(prefix))
            .collect()
    }

    /// The entries under `prefix` before `prefix + before` (exclusive), last first, at most
    /// `limit`, with the prefix cut off (`holds_range(prefix)` must be true).
    pub fn scan_before(&self, prefix: &[u8], before: Option<&[u8]>, limit: usize) -> Vec<Row> {
        let maps = self.read();
        maps.ranges
            .range::<[u8], _>(as_refs(&before_bounds(prefix, before)))
            .rev()
            .take(limit)
            .map(cut(prefix))
            .collect()
    }

    /// Taken by the store before a transaction, released after [`Resident::apply`].
    pub(super) fn order(&self) -> MutexGuard<'_, ()> {
        self.order.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a committed transaction's writes to resident prefixes.
    pub(super) fn apply(&self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        let (lookups, ranges) = (self.active(Class::Lookup), self.active(Class::Range));
        if !lookups && !ranges {
            return;
        }
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        let before = maps.lookup_bytes + maps.range_bytes;
        for (key, value) in writes {
            match self.residence.class(&key) {
                Some(Class::Lookup) if lookups => maps.put_lookup(key, value),
                Some(Class::Range) if ranges => maps.put_range(key, value),
                _ => {}
            }
        }
        self.fit(&mut maps);
        self.bytes
            .inc_by(maps.lookup_bytes + maps.range_bytes - before);
    }

    /// Gives up the parts that do not fit the budget: the ranges first, then the lookups.
    fn fit(&self, maps: &mut Maps) {
        if maps.lookup_bytes + maps.range_bytes > self.budget && self.active(Class::Range) {
            tracing::warn!(
                bytes = maps.lookup_bytes + maps.range_bytes,
                budget = self.budget,
                ranges = ?self.residence.ranges,
                "resident ranges outgrew their memory budget: scanned in sled from now on"
            );
            maps.ranges = BTreeMap::new();
            maps.range_bytes = 0;
            self.ranges_active.store(false, Ordering::Relaxed);
        }
        if maps.lookup_bytes > self.budget && self.active(Class::Lookup) {
            tracing::warn!(
                bytes = maps.lookup_bytes,
                budget = self.budget,
                "resident projections outgrew their memory budget: read from sled from now on"
            );
            maps.lookups = HashMap::new();
            maps.lookup_bytes = 0;
            self.lookups_active.store(false, Ordering::Relaxed);
        }
    }
}

/// An entry of the ordered map as a scan returns it: the key without `prefix`, the value.
fn cut(prefix: &[u8]) -> impl Fn((&Box<[u8]>, &sled::IVec)) -> Row {
    let len = prefix.len();
    move |(k, v)| (k.get(len..).unwrap_or_default().to_vec(), v.clone())
}

/// `Bound<Vec<u8>>`s as the `Bound<&[u8]>`s a map's `range` takes.
fn as_refs((start, end): &(Bound<Vec<u8>>, Bound<Vec<u8>>)) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (
        start.as_ref().map(Vec::as_slice),
        end.as_ref().map(Vec::as_slice),
    )
}

impl Maps {
    fn put_lookup(&mut self, key: Vec<u8>, value: Option<sled::IVec>) {
        let key_len = key.len();
        let old = match value {
            Some(bytes) => {
                self.lookup_bytes += cost(Class::Lookup, key_len, bytes.len());
                let entry = Entry {
                    bytes,
                    decoded: OnceLock::new(),
                };
                self.lookups.insert(key.into_boxed_slice(), entry)
            }
            None => self.lookups.remove(key.as_slice()),
        };
        if let Some(old) = old {
            self.lookup_bytes -= cost(Class::Lookup, key_len, old.bytes.len());
        }
    }

    fn put_range(&mut self, key: Vec<u8>, value: Option<sled::IVec>) {
        let key_len = key.len();
        let old = match value {
            Some(bytes) => {
                self.range_bytes += cost(Class::Range, key_len, bytes.len());
                self.ranges.insert(key.into_boxed_slice(), bytes)
            }
            None => self.ranges.remove(key.as_slice()),
        };
        if let Some(old) = old {
            self.range_bytes -= cost(Class::Range, key_len, old.len());
        }
    }
}

#[cfg(test)]
impl Resident {
    /// Everything the mirror holds.
    fn contents(&self) -> std::collections::BTreeMap<Vec<u8>, sled::IVec> {
        let maps = self.read();
        let lookups = maps
            .lookups
            .iter()
            .map(|(k, e)| (k.to_vec(), e.bytes.clone()));
        let ranges = maps.ranges.iter().map(|(k, v)| (k.to_vec(), v.clone()));
        lookups.chain(ranges).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Mirrored, Role, Store};
    use super::*;
    use crate::platform::changes::ChangeSet;
    use prometheus_client::metrics::gauge::Gauge;

    /// `m/` looked up, `n/` scanned too.
    const RESIDENCE: Residence = Residence {
        lookups: &["m/"],
        ranges: &["n/"],
    };
    const PREFIXES: &[&str] = &["m/", "n/"];

    fn resident_store(path: &std::path::Path, budget: u64) -> (Store, Gauge) {
        let gauge = Gauge::default();
        let store = Store::open(path)
            .unwrap()
            .with_resident(RESIDENCE, budget, gauge.clone())
            .unwrap();
        (store, gauge)
    }

    fn mirror(store: &Store) -> &Resident {
        store.resident.as_deref().unwrap()
    }

    /// What sled holds under the resident prefixes.
    fn in_sled(store: &Store) -> std::collections::BTreeMap<Vec<u8>, sled::IVec> {
        PREFIXES
            .iter()
            .flat_map(|p| store.data.scan_prefix(p.as_bytes()))
            .map(|item| {
                let (k, v) = item.unwrap();
                (k.to_vec(), v)
            })
            .collect()
    }

    #[tokio::test]
    async fn resident_prefixes_are_read_from_memory_and_follow_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (store, gauge) = resident_store(dir.path(), 1 << 20);
        store
            .write_now(|tx| {
                tx.put(b"m/a", &1u64)?;
                tx.put(b"n/b", &"two")?;
                tx.put(b"o/c", &3u64)
            })
            .unwrap();
        assert_eq!(store.get::<u64>(b"m/a").unwrap(), Some(1));
        assert_eq!(mirror(&store).contents(), in_sled(&store));
        assert!(gauge.get() > 0, "what it holds is shown");
        // Read from memory: a write that bypasses the store's transactions is not seen
        // there (and no code writes resident prefixes so).
        store.data.insert(b"m/sideways", b"1").unwrap();
        assert!(!store.contains(b"m/sideways").unwrap());
        assert!(store.contains(b"o/c").unwrap(), "other prefixes: sled");
        store.data.remove(b"m/sideways").unwrap();

        // Decoded once while unchanged; a new value is decoded anew.
        let first = store.shared::<u64>(b"m/a").unwrap().unwrap();
        let again = store.shared::<u64>(b"m/a").unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        store.write_now(|tx| tx.put(b"m/a", &10u64)).unwrap();
        assert_eq!(*store.shared::<u64>(b"m/a").unwrap().unwrap(), 10);
        store.write_now(|tx| tx.remove(b"n/b")).unwrap();
        assert!(!store.contains(b"n/b").unwrap());
        assert_eq!(mirror(&store).contents(), in_sled(&store));
        // A transaction that aborts changes nothing, here as in sled.
        let aborted = store.write_now(|tx| {
            tx.put(b"m/a", &99u64)?;
            crate::platform::storage::abort::<()>(crate::platform::error::ApiError::Internal(
                "no".into(),
            ))
        });
        assert!(aborted.is_err());
        assert_eq!(store.get::<u64>(b"m/a").unwrap(), Some(10));
    }

    /// A follower applying the writer's change sets (a checkpoint included), and a store
    /// loading its mirror when it opens, hold what the writer's mirror holds.
    #[tokio::test]
    async fn a_follower_and_a_store_opened_again_hold_the_same_mirror() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (writer, _) = resident_store(dirs[0].path(), 1 << 20);
        let writer = writer.with_change_log().unwrap();
        writer.set_role(Role::Writer).unwrap();
        let (follower, _) = resident_store(dirs[1].path(), 1 << 20);
        let follower = follower.with_change_log().unwrap();
        follower.set_role(Role::Follower).unwrap();
        // Something the checkpoint below no longer holds: it must go from the mirror too.
        follower
            .apply_mirrored(
                &[ChangeSet {
                    lsn: 1,
                    part: 0,
                    last: true,
                    base: true,
                    changes: vec![crate::platform::changes::Change::data(
                        b"m/stale".to_vec(),
                        Some(b"1".to_vec()),
                    )],
                }],
                1,
            )
            .unwrap();
        assert!(follower.contains(b"m/stale").unwrap());
        writer.write_now(|tx| tx.put(b"m/a", &1u64)).unwrap();
        writer
            .write_now(|tx| {
                tx.put(b"m/b", &2u64)?;
                tx.remove(b"m/a").map(|_| ())
            })
            .unwrap();
        let checkpoint = writer.log_checkpoint().unwrap();
        writer.write_now(|tx| tx.put(b"n/c", &3u64)).unwrap();
        let sets: Vec<ChangeSet> = writer
            .changes
            .range(super::super::seq_key(checkpoint)..)
            .map(|item| ChangeSet::decode(&item.unwrap().1).unwrap())
            .collect();
        for (i, set) in sets.iter().enumerate() {
            let applied = follower.apply_mirrored(std::slice::from_ref(set), 10 + i as u64);
            assert_eq!(applied.unwrap(), Mirrored::Applied);
        }
        assert!(!follower.contains(b"m/stale").unwrap());
        assert_eq!(mirror(&follower).contents(), mirror(&writer).contents());
        assert_eq!(mirror(&writer).contents(), in_sled(&writer));
        // Opening loads the same (a restart, a restore, a copy).
        let loaded =
            Resident::load(&writer.data, None, RESIDENCE, 1 << 20, Gauge::default()).unwrap();
        assert_eq!(loaded.contents(), mirror(&writer).contents());
    }

    #[tokio::test]
    async fn a_mirror_over_its_budget_gives_way_to_sled() {
        let dir = tempfile::tempdir().unwrap();
        let (store, gauge) = resident_store(dir.path(), 1_000);
        for i in 0..20u64 {
            store
                .write_now(|tx| tx.put(format!("m/{i:04}").as_bytes(), &i))
                .unwrap();
        }
        assert!(!mirror(&store).holds(b"m/0001"));
        assert_eq!(gauge.get(), 0);
        assert!(
            mirror(&store).contents().is_empty(),
            "its memory is given back"
        );
        for i in 0..20u64 {
            let key = format!("m/{i:04}");
            assert_eq!(store.get::<u64>(key.as_bytes()).unwrap(), Some(i));
        }
        assert_eq!(*store.shared::<u64>(b"m/0019").unwrap().unwrap(), 19);
    }

    /// Scans of a resident range answer what sled's scans answer, for every cursor, limit
    /// and prefix, through puts and removals.
    #[tokio::test]
    async fn scans_of_a_resident_range_answer_what_sled_answers() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = resident_store(dir.path(), 1 << 20);
        let owners = ["a", "ab", "b"];
        let mut step = 0u64;
        for round in 0..3 {
            store
                .write_now(|tx| {
                    for (i, owner) in owners.iter().enumerate() {
                        for post in 0..(5 + i + round) {
                            tx.put(format!("n/{owner}{post:02}").as_bytes(), &post)?;
                        }
                    }
                    tx.remove(format!("n/ab{round:02}").as_bytes()).map(drop)
                })
                .unwrap();
            for prefix in ["n/", "n/a", "n/ab", "n/b", "n/c"] {
                let prefix = prefix.as_bytes();
                assert!(mirror(&store).holds_range(prefix));
                for cursor in [None, Some("00"), Some("b03"), Some("03"), Some("99")] {
                    let cursor = cursor.map(str::as_bytes);
                    for limit in [0, 1, 3, usize::MAX] {
                        step += 1;
                        let memory = (
                            mirror(&store).scan_after(prefix, cursor, limit),
                            mirror(&store).scan_before(prefix, cursor, limit),
                        );
                        let sled = sled_scans(&store, prefix, cursor, limit);
                        assert_eq!(memory, sled, "{prefix:?} {cursor:?} {limit}");
                    }
                }
            }
        }
        assert!(step > 100);
        assert!(
            !mirror(&store).holds_range(b"m/"),
            "a lookup prefix is not scanned"
        );
        assert_eq!(
            store.scan_before(b"n/a", None, 2).unwrap(),
            mirror(&store).scan_before(b"n/a", None, 2)
        );
    }

    type Rows = Vec<Row>;

    /// What sled's trees answer for the two scans (the store's own scans may be served
    /// by the mirror, so the trees are read directly).
    fn sled_scans(
        store: &Store,
        prefix: &[u8],
        cursor: Option<&[u8]>,
        limit: usize,
    ) -> (Rows, Rows) {
        let cut = |(k, v): (sled::IVec, sled::IVec)| (k[prefix.len()..].to_vec(), v);
        let after = store
            .data
            .scan_prefix(prefix)
            .map(Result::unwrap)
            .filter(|(k, _)| cursor.is_none_or(|c| &k[prefix.len()..] > c))
            .take(limit)
            .map(cut)
            .collect();
        let before = store
            .data
            .scan_prefix(prefix)
            .rev()
            .map(Result::unwrap)
            .filter(|(k, _)| cursor.is_none_or(|c| &k[prefix.len()..] < c))
            .take(limit)
            .map(cut)
            .collect();
        (after, before)
    }

    /// Over the budget, the ranges go first and the lookups stay in memory.
    #[tokio::test]
    async fn over_the_budget_the_ranges_give_way_first() {
        let dir = tempfile::tempdir().unwrap();
        let (store, gauge) = resident_store(dir.path(), 1_000);
        store.write_now(|tx| tx.put(b"m/kept", &1u64)).unwrap();
        for i in 0..20u64 {
            store
                .write_now(|tx| tx.put(format!("n/{i:04}").as_bytes(), &i))
                .unwrap();
        }
        assert!(mirror(&store).holds(b"m/kept"));
        assert!(!mirror(&store).holds(b"n/0001") && !mirror(&store).holds_range(b"n/"));
        assert_eq!(
            mirror(&store).contents().keys().collect::<Vec<_>>(),
            [&b"m/kept".to_vec()]
        );
        assert_eq!(gauge.get(), cost(Class::Lookup, 6, 1));
        assert_eq!(store.scan_after(b"n/", None, usize::MAX).unwrap().len(), 20);
        assert_eq!(store.get::<u64>(b"n/0019").unwrap(), Some(19));
    }
}
