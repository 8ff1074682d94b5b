//! Projections held in memory: the key prefixes a context reads on its hot path, mirrored
//! whole from its sled store and kept equal to it by the store's one write path.
//!
//! sled stays the durable copy and the only thing written. A resident prefix is read from
//! a hash map instead of sled's tree (no page-cache lookup, no key comparisons down the
//! tree, none of sled's process-wide lock that every read shares with every transaction's
//! commit), and a record decoded once is kept decoded ([`Resident::shared`]), so a feed read
//! that looks at 120 posts decodes none of them.
//!
//! **Built the same way everywhere.** The map is loaded from sled when the store opens
//! (after a restart, after a restore, on a follower) and then changed only by committed
//! transactions ([`super::Store`]'s `transact_logged`): a consumer applying an event, a
//! follower applying the writer's change set, a rebuild switching its projections over,
//! an erasure. Each transaction's writes to resident prefixes are applied to the map after
//! the commit, under a lock the store holds from before the transaction until then, so
//! the map sees the commits in their order. A reader may see a commit a few microseconds
//! after sled does, never out of order and never one that was not committed.
//!
//! **Bounded.** The mirror has a budget (a share of the process's memory budget,
//! [`crate::platform::memory`]); a store whose resident prefixes outgrow it drops the
//! mirror and reads those prefixes from sled again (logged, and the gauge
//! `agora_resident_bytes` falls to 0): slower, never wrong.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard};

use serde::de::DeserializeOwned;

use super::from_json;

/// What an entry costs beyond its key and value bytes, for the budget: the map's slot
/// (the boxed key's 16 bytes, the value's 32, the decoded handle's 24, the control byte),
/// the allocator's rounding of the key and of a value too long to be held inline, and the
/// decoded copy's header. An estimate from the types' sizes, not yet checked against what
/// the process's resident memory grows by.
const ENTRY_OVERHEAD: usize = 112;

/// One record held in memory.
struct Entry {
    bytes: sled::IVec,
    /// The record decoded, once some reader asked for it as a type.
    decoded: OnceLock<Arc<dyn Any + Send + Sync>>,
}

/// A write of a committed transaction to a resident prefix (`None`: removed).
pub(super) type Write = (Vec<u8>, Option<sled::IVec>);

/// The in-memory mirror of a store's resident prefixes.
pub struct Resident {
    prefixes: &'static [&'static str],
    entries: RwLock<HashMap<Box<[u8]>, Entry>>,
    /// Held from before a transaction of the store until its writes are applied here.
    order: Mutex<()>,
    /// False once the mirror outgrew its budget: reads go to sled.
    active: AtomicBool,
    budget: i64,
    /// What the entries cost, about (`agora_resident_bytes`).
    bytes: prometheus_client::metrics::gauge::Gauge<i64, AtomicI64>,
}

/// What an entry of a key and a value of these lengths costs, about.
fn cost(key: usize, value: usize) -> i64 {
    i64::try_from(key + value + ENTRY_OVERHEAD).unwrap_or(i64::MAX)
}

impl Resident {
    /// Loads every record under `prefixes` from `tree`. A mirror that would exceed
    /// `budget` bytes is not kept (see the module's doc).
    pub fn load(
        tree: &sled::Tree,
        sealer: Option<&super::Sealer>,
        prefixes: &'static [&'static str],
        budget: u64,
        bytes: prometheus_client::metrics::gauge::Gauge<i64, AtomicI64>,
    ) -> Result<Self, sled::Error> {
        let resident = Resident {
            prefixes,
            entries: RwLock::default(),
            order: Mutex::default(),
            active: AtomicBool::new(true),
            budget: i64::try_from(budget).unwrap_or(i64::MAX),
            bytes,
        };
        let mut loaded = Vec::new();
        for prefix in prefixes {
            for item in tree.scan_prefix(prefix.as_bytes()) {
                let (k, v) = item?;
                let v = super::sealing::open(sealer, &k, &v)?.into_owned();
                loaded.push((k.to_vec(), Some(v.into())));
            }
        }
        resident.apply(loaded);
        Ok(resident)
    }

    /// Whether `key` is read from memory.
    pub fn holds(&self, key: &[u8]) -> bool {
        self.active.load(Ordering::Relaxed) && self.is_resident(key)
    }

    /// Whether `key` is under a resident prefix (whatever the budget decided).
    pub(super) fn is_resident(&self, key: &[u8]) -> bool {
        self.prefixes.iter().any(|p| key.starts_with(p.as_bytes()))
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<Box<[u8]>, Entry>> {
        // A panic while the map was written leaves at worst one write unapplied; reads
        // go on (the same policy as the store's gate).
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes under `key` (`holds(key)` must be true).
    pub fn get_raw(&self, key: &[u8]) -> Option<sled::IVec> {
        self.read().get(key).map(|e| e.bytes.clone())
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.read().contains_key(key)
    }

    /// The record under `key` decoded as `T`, decoded at most once while it is unchanged.
    pub fn shared<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        key: &[u8],
    ) -> Result<Option<Arc<T>>, sled::Error> {
        let entries = self.read();
        let Some(entry) = entries.get(key) else {
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

    /// Taken by the store before a transaction, released after [`Resident::apply`].
    pub(super) fn order(&self) -> MutexGuard<'_, ()> {
        self.order.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a committed transaction's writes to resident prefixes.
    pub(super) fn apply(&self, writes: Vec<Write>) {
        if writes.is_empty() || !self.active.load(Ordering::Relaxed) {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let mut delta = 0;
        for (key, value) in writes {
            let key_len = key.len();
            let old = match value {
                Some(bytes) => {
                    delta += cost(key_len, bytes.len());
                    let entry = Entry {
                        bytes,
                        decoded: OnceLock::new(),
                    };
                    entries.insert(key.into_boxed_slice(), entry)
                }
                None => entries.remove(key.as_slice()),
            };
            if let Some(old) = old {
                delta -= cost(key_len, old.bytes.len());
            }
        }
        let total = self.bytes.inc_by(delta) + delta;
        if total > self.budget {
            entries.clear();
            entries.shrink_to_fit();
            self.active.store(false, Ordering::Relaxed);
            self.bytes.set(0);
            tracing::warn!(
                bytes = total,
                budget = self.budget,
                "resident projections outgrew their memory budget: read from sled from now on"
            );
        }
    }
}

#[cfg(test)]
impl Resident {
    /// Everything the mirror holds.
    fn contents(&self) -> std::collections::BTreeMap<Vec<u8>, sled::IVec> {
        self.read()
            .iter()
            .map(|(k, e)| (k.to_vec(), e.bytes.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Mirrored, Role, Store};
    use super::*;
    use crate::platform::changes::ChangeSet;
    use prometheus_client::metrics::gauge::Gauge;

    const PREFIXES: &[&str] = &["m/", "n/"];

    fn resident_store(path: &std::path::Path, budget: u64) -> (Store, Gauge) {
        let gauge = Gauge::default();
        let store = Store::open(path)
            .unwrap()
            .with_resident(PREFIXES, budget, gauge.clone())
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
        let writer = writer.with_change_log();
        writer.set_role(Role::Writer).unwrap();
        let (follower, _) = resident_store(dirs[1].path(), 1 << 20);
        let follower = follower.with_change_log();
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
            Resident::load(&writer.data, None, PREFIXES, 1 << 20, Gauge::default()).unwrap();
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
}
