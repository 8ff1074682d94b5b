//! sled storage of one context (`<data-dir>/<context>/`) and its group commit.
//!
//! A write is acknowledged only after [`Store::durable`] returns: concurrent writers share
//! one `flush` (sled 0.34 flushes with `sync_file_range`: safe against a process crash,
//! weaker than `fsync` against power loss; see docs/architecture.md).

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use tokio::sync::{Notify, watch};

use super::envelope::Envelope;
use super::error::{ApiError, ApiResult};

/// The sled database of one context, with the trees the platform itself uses.
#[derive(Clone)]
pub struct Store {
    pub db: sled::Db,
    /// The context's own records and its projections, one key space with a prefix per
    /// record kind. Keys starting with `_` are the platform's ([`APPLIED_FLOOR`]).
    pub data: sled::Tree,
    /// Events waiting to be published, keyed by a big-endian sequence number.
    pub outbox: sled::Tree,
    /// Stream sequences of consumed events applied above the floor (consumer dedup).
    consumed: sled::Tree,
    commit: Arc<GroupCommit>,
    /// Woken after every commit that wrote to the outbox.
    pub outbox_written: Arc<Notify>,
    /// Held while a consumed event is applied; `rebuild` takes it to pause the consumer
    /// for its switch-over.
    pub(crate) apply_gate: Arc<tokio::sync::Mutex<()>>,
}

/// The key in `data` of the applied floor: every consumed event at or below this stream
/// sequence has been applied. Kept in `data` so that a rebuild's switch-over moves the
/// projections and the floor in one atomic batch.
pub const APPLIED_FLOOR: &[u8] = b"_/applied-floor";

struct GroupCommit {
    /// Tickets handed out to writers.
    requested: AtomicU64,
    /// Highest ticket known to be on disk.
    flushed: watch::Sender<u64>,
    wake: Notify,
}

/// The page cache of a store opened without a budget (tests, tools): 64 MiB.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

impl Store {
    pub fn open(path: &Path) -> Result<Self, sled::Error> {
        Self::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Opens the store with a page cache of at most about `cache_bytes` (sled's default is
    /// 1 GiB per database, whatever the process may use: [`super::memory`] derives it).
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Self, sled::Error> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(500))
            .open()?;
        // Before bounded dedup, every applied event id was kept here forever.
        db.drop_tree("_applied")?;
        let commit = Arc::new(GroupCommit {
            requested: AtomicU64::new(0),
            flushed: watch::channel(0).0,
            wake: Notify::new(),
        });
        tokio::spawn(flush_loop(db.clone(), commit.clone()));
        Store::over(db, "", commit)
    }

    /// The store whose trees are named `<prefix>data`, `<prefix>_outbox`, `<prefix>_consumed`.
    fn over(db: sled::Db, prefix: &str, commit: Arc<GroupCommit>) -> Result<Self, sled::Error> {
        Ok(Store {
            data: db.open_tree(format!("{prefix}data"))?,
            outbox: db.open_tree(format!("{prefix}_outbox"))?,
            consumed: db.open_tree(format!("{prefix}_consumed"))?,
            db,
            commit,
            outbox_written: Arc::new(Notify::new()),
            apply_gate: Arc::default(),
        })
    }

    /// An empty store beside this one, in the same database, for `rebuild` to replay into.
    /// What its handlers emit stays in its own outbox and is never published.
    pub(crate) fn shadow(&self) -> Result<Store, sled::Error> {
        for tree in ["_rebuild/data", "_rebuild/_outbox", "_rebuild/_consumed"] {
            self.db.drop_tree(tree)?;
        }
        Store::over(self.db.clone(), "_rebuild/", self.commit.clone())
    }

    /// Drops the trees of [`Store::shadow`].
    pub(crate) fn drop_shadow(&self) -> Result<(), sled::Error> {
        for tree in ["_rebuild/data", "_rebuild/_outbox", "_rebuild/_consumed"] {
            self.db.drop_tree(tree)?;
        }
        Ok(())
    }

    /// Waits until everything written before this call is on disk.
    pub async fn durable(&self) -> Result<(), sled::Error> {
        let ticket = self.commit.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut flushed = self.commit.flushed.subscribe();
        self.commit.wake.notify_one();
        while *flushed.borrow_and_update() < ticket {
            if flushed.changed().await.is_err() {
                // The flusher is gone (shutdown): flush on our own.
                flush(&self.db).await?;
                return Ok(());
            }
        }
        Ok(())
    }

    /// The one way to write: runs `f` as one transaction over the data and the outbox,
    /// waits until it is on disk (sharing the flush with concurrent writers), and wakes the
    /// outbox relay when `f` emitted events. A caller that has this future's result may
    /// acknowledge the write. `f` may run more than once (on conflict): no other effects.
    pub async fn write<T>(&self, f: impl Fn(&Tx) -> TxResult<T>) -> ApiResult<T> {
        let (value, emitted) = self.transact(|tx| f(tx).map(|v| (v, tx.emitted.get())))?;
        self.durable().await?;
        if emitted {
            self.outbox_written.notify_one();
        }
        Ok(value)
    }

    /// Runs `f` as one sled transaction over the data, the outbox and the consumed set.
    fn transact<T>(&self, f: impl Fn(&Tx) -> TxResult<T>) -> ApiResult<T> {
        let result =
            (&self.data, &self.outbox, &self.consumed).transaction(|(data, outbox, consumed)| {
                f(&Tx {
                    data,
                    outbox,
                    consumed,
                    emitted: Cell::new(false),
                })
            });
        Ok(result?)
    }

    /// Applies the consumed event at stream sequence `seq` exactly once: `f` runs and `seq`
    /// is recorded as applied in one transaction. Returns false when it had been applied.
    /// Not durable by itself: the consumer flushes before it acknowledges.
    pub fn apply_at(&self, seq: u64, f: impl Fn(&Tx) -> TxResult<()>) -> ApiResult<bool> {
        self.transact(|tx| {
            let floor: u64 = tx.get(APPLIED_FLOOR)?.unwrap_or(0);
            if seq <= floor || tx.consumed.get(seq_key(seq))?.is_some() {
                return Ok(false);
            }
            tx.consumed.insert(&seq_key(seq), &[])?;
            f(tx)?;
            Ok(true)
        })
    }

    /// The applied floor: every consumed event at or below it was applied.
    pub fn applied_floor(&self) -> ApiResult<u64> {
        Ok(self.get(APPLIED_FLOOR)?.unwrap_or(0))
    }

    /// Raises the applied floor to `floor` (JetStream's ack floor: acknowledged means
    /// applied) and forgets the sequences below it, so the dedup set holds only what is
    /// in flight. Never lowers it.
    pub fn raise_applied_floor(&self, floor: u64) -> ApiResult<()> {
        if floor <= self.applied_floor()? {
            return Ok(());
        }
        self.data.fetch_and_update(APPLIED_FLOOR, |old| {
            let old: u64 = old.and_then(|b| from_json(b).ok()).unwrap_or(0);
            Some(to_json(&old.max(floor)))
        })?;
        let mut batch = sled::Batch::default();
        for item in self.consumed.range(..=seq_key(floor)) {
            batch.remove(item?.0);
        }
        self.consumed.apply_batch(batch)?;
        Ok(())
    }

    /// How many applied sequences the dedup set holds (those above the floor).
    pub fn consumed_len(&self) -> usize {
        self.consumed.len()
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> ApiResult<Option<T>> {
        match self.data.get(key)? {
            Some(bytes) => Ok(Some(from_json(&bytes)?)),
            None => Ok(None),
        }
    }

    pub fn contains(&self, key: &[u8]) -> ApiResult<bool> {
        Ok(self.data.contains_key(key)?)
    }

    /// Values under `prefix` after the key `prefix + after` (exclusive), at most `limit`.
    pub fn scan_after(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> ApiResult<Vec<(Vec<u8>, sled::IVec)>> {
        let start = match after {
            Some(a) => {
                let mut k = prefix.to_vec();
                k.extend_from_slice(a);
                k.push(0);
                k
            }
            None => prefix.to_vec(),
        };
        let mut out = Vec::new();
        for item in self.data.range(start..) {
            let (k, v) = item?;
            let Some(rest) = k.strip_prefix(prefix).filter(|_| out.len() < limit) else {
                break;
            };
            out.push((rest.to_vec(), v));
        }
        Ok(out)
    }

    /// Keys under `prefix` (with the prefix cut off), newest first, read lazily: for merging
    /// several sources without reading more of each than the merge takes.
    pub fn keys_newest_first(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = ApiResult<Vec<u8>>> + use<> {
        let mut end = prefix.to_vec();
        end.push(0xff);
        let cut = prefix.len();
        self.data
            .range(prefix.to_vec()..end)
            .rev()
            .map(move |item| {
                let (k, _) = item?;
                Ok(k.get(cut..).unwrap_or_default().to_vec())
            })
    }

    /// The ids queued under `prefix`: a work queue of `<prefix><id>` keys (empty values)
    /// that a background task drains, oldest key first.
    pub fn queued_ids(&self, prefix: &str) -> ApiResult<Vec<String>> {
        Ok(self
            .scan_after(prefix.as_bytes(), None, usize::MAX)?
            .into_iter()
            .map(|(id, _)| String::from_utf8_lossy(&id).into_owned())
            .collect())
    }

    /// Takes `id` off the queue under `prefix` (durably).
    pub async fn unqueue(&self, prefix: &str, id: &str) -> ApiResult<()> {
        self.write(|tx| tx.remove(&key(prefix, &[id])).map(|_| ()))
            .await
    }

    /// Like [`Store::scan_after`], newest first: keys under `prefix` before `prefix + before`
    /// (exclusive), in descending order. With ULID suffixes that is newest first.
    pub fn scan_before(
        &self,
        prefix: &[u8],
        before: Option<&[u8]>,
        limit: usize,
    ) -> ApiResult<Vec<(Vec<u8>, sled::IVec)>> {
        let end = match before {
            Some(b) => [prefix, b].concat(),
            None => {
                let mut end = prefix.to_vec();
                end.push(0xff);
                end
            }
        };
        let mut out = Vec::new();
        for item in self.data.range(prefix.to_vec()..end).rev() {
            if out.len() == limit {
                break;
            }
            let (k, v) = item?;
            let rest = k.strip_prefix(prefix).unwrap_or_default();
            out.push((rest.to_vec(), v));
        }
        Ok(out)
    }
}

pub type TxResult<T> = Result<T, ConflictableTransactionError<ApiError>>;

/// Aborts a transaction with a context's error (mapped onto the problem table).
pub fn abort<T>(e: impl Into<ApiError>) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e.into()))
}

/// The view of a [`Store`] inside a transaction.
pub struct Tx<'a> {
    pub data: &'a TransactionalTree,
    outbox: &'a TransactionalTree,
    consumed: &'a TransactionalTree,
    /// Whether this attempt queued an event (the relay is woken after the commit).
    emitted: Cell<bool>,
}

impl Tx<'_> {
    /// Sets (`on`) or clears the relation `prefix<a><b>`, and `prefix<b><a>` too when it is
    /// `symmetric` (friendships) rather than directed (blocks).
    pub fn set_pair(
        &self,
        prefix: &str,
        a: &str,
        b: &str,
        on: bool,
        symmetric: bool,
    ) -> TxResult<()> {
        let pairs: &[(&str, &str)] = if symmetric {
            &[(a, b), (b, a)]
        } else {
            &[(a, b)]
        };
        for (x, y) in pairs {
            if on {
                self.put_raw(&key(prefix, &[x, y]), &[])?;
            } else {
                self.remove(&key(prefix, &[x, y]))?;
            }
        }
        Ok(())
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> TxResult<Option<T>> {
        match self.data.get(key)? {
            Some(bytes) => from_json(&bytes).map(Some).or_else(abort),
            None => Ok(None),
        }
    }

    pub fn contains(&self, key: &[u8]) -> TxResult<bool> {
        Ok(self.data.get(key)?.is_some())
    }

    /// The bytes stored under `key` (an index entry, not a record).
    pub fn get_raw(&self, key: &[u8]) -> TxResult<Option<sled::IVec>> {
        Ok(self.data.get(key)?)
    }

    pub fn put<T: serde::Serialize>(&self, key: &[u8], value: &T) -> TxResult<()> {
        self.data.insert(key, to_json(value))?;
        Ok(())
    }

    pub fn put_raw(&self, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.data.insert(key, value)?;
        Ok(())
    }

    pub fn remove(&self, key: &[u8]) -> TxResult<bool> {
        Ok(self.data.remove(key)?.is_some())
    }

    /// Queues an event in the outbox, committed with the rest of the transaction.
    pub fn emit(&self, event: &Envelope) -> TxResult<()> {
        let seq = self.outbox.generate_id()?;
        self.outbox.insert(&seq_key(seq), to_json(event))?;
        self.emitted.set(true);
        Ok(())
    }
}

/// How many flushes may wait on sled's IO pool at once, in the whole process.
const FLUSH_SLOTS: usize = 4;

/// sled's IO thread pool is process-wide; so is the limit on the flushes waiting on it.
/// (With `platform::new_id`'s generator, the one piece of global state: it mirrors sled's
/// own global pool.)
static FLUSHES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(FLUSH_SLOTS);

/// Flushes `db`, at most [`FLUSH_SLOTS`] stores at a time in the process.
///
/// **Trap:** `sled::Db::flush_async` runs the flush on sled's IO thread pool, which keeps 7
/// threads and grows only when more than 7 jobs queue; the flush then waits for log writes
/// that need a thread of that same pool. With a dozen stores in one process (a context
/// each), seven concurrent flushes took every thread and waited on writes nobody could run:
/// every write of the process hung (seen in `tests/feed.rs` once the eleventh store came).
/// Flushing on tokio's blocking pool instead avoids that but made writes 1.7 times slower
/// and feed reads under load ten times slower (docs/benchmarks.md): the flush then waits
/// for a pool thread to pick each write up. Limiting the flushes in flight keeps threads
/// free for the writes they wait on.
pub async fn flush(db: &sled::Db) -> Result<usize, sled::Error> {
    // The semaphore is never closed; were it, flushing unlimited is still correct.
    let _slot = FLUSHES.acquire().await.ok();
    db.flush_async().await
}

/// One flush at a time; every writer that asked before it started is covered by it.
async fn flush_loop(db: sled::Db, commit: Arc<GroupCommit>) {
    loop {
        let target = commit.requested.load(Ordering::SeqCst);
        if target <= *commit.flushed.borrow() {
            commit.wake.notified().await;
            continue;
        }
        if let Err(e) = flush(&db).await {
            tracing::error!(error = %e, "sled flush failed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        }
        commit.flushed.send_replace(target);
        if commit.flushed.receiver_count() == 0 && Arc::strong_count(&commit) == 1 {
            return;
        }
    }
}

/// Keys that sort like the numbers they encode.
pub fn seq_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// A key of a record kind: `prefix` then each part (ids are fixed-width ULIDs, so
/// concatenation keeps prefix scans exact).
pub fn key(prefix: &str, parts: &[&str]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    k.extend_from_slice(prefix.as_bytes());
    for p in parts {
        k.extend_from_slice(p.as_bytes());
    }
    k
}

/// Domain records are plain structs with string keys: serializing them cannot fail.
#[expect(clippy::expect_used, reason = "records have no non-string map keys")]
pub fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("domain types serialize")
}

pub fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, sled::Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| sled::Error::Unsupported(format!("corrupt record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scans_run_both_ways_within_their_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for k in ["a/1", "a/2", "a/3", "b/1"] {
            store.data.insert(k, &[]).unwrap();
        }
        let keys = |rows: Vec<(Vec<u8>, sled::IVec)>| {
            rows.into_iter()
                .map(|(k, _)| String::from_utf8(k).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(store.scan_after(b"a/", None, 10).unwrap()),
            ["1", "2", "3"]
        );
        assert_eq!(
            keys(store.scan_after(b"a/", Some(b"1"), 10).unwrap()),
            ["2", "3"]
        );
        assert_eq!(
            keys(store.scan_before(b"a/", None, 10).unwrap()),
            ["3", "2", "1"]
        );
        assert_eq!(
            keys(store.scan_before(b"a/", Some(b"3"), 1).unwrap()),
            ["2"]
        );
        assert!(store.scan_before(b"c/", None, 10).unwrap().is_empty());
    }

    #[tokio::test]
    async fn durable_returns_for_many_concurrent_writers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.db.insert(seq_key(i), b"x").unwrap();
                store.durable().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.db.len(), 64);
    }

    #[tokio::test]
    async fn consumed_events_apply_once_and_the_dedup_set_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let count = |store: &Store| store.data.len();
        let put = |n: u64| move |tx: &Tx| tx.put_raw(&seq_key(n), b"x");
        assert!(store.apply_at(5, put(5)).unwrap());
        assert!(
            store.apply_at(3, put(3)).unwrap(),
            "out of order above the floor"
        );
        assert!(!store.apply_at(5, put(5)).unwrap(), "redelivered");
        assert_eq!(count(&store), 2);
        assert_eq!(store.consumed_len(), 2);
        // The ack floor moves up: what is below it needs no record, and stays applied.
        store.raise_applied_floor(4).unwrap();
        assert_eq!(store.consumed_len(), 1);
        assert!(!store.apply_at(3, put(3)).unwrap());
        assert!(!store.apply_at(5, put(5)).unwrap());
        assert!(store.apply_at(4, put(4)).is_ok_and(|applied| !applied));
        store.raise_applied_floor(2).unwrap();
        assert_eq!(store.applied_floor().unwrap(), 4, "never lowered");
    }

    #[tokio::test]
    async fn a_write_that_emits_wakes_the_relay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.write(|tx| tx.put_raw(b"a", b"1")).await.unwrap();
        let woken = store.outbox_written.notified();
        tokio::pin!(woken);
        assert!(
            futures::poll!(woken.as_mut()).is_pending(),
            "no event, no wake-up"
        );
        store
            .write(|tx| {
                tx.emit(&crate::platform::envelope::Envelope {
                    id: "e".into(),
                    kind: "K".into(),
                    version: 1,
                    context: "c".into(),
                    occurred_at: time::OffsetDateTime::UNIX_EPOCH,
                    actor: "a".into(),
                    aggregate_id: "g".into(),
                    data: serde_json::Value::Null,
                    personal: None,
                })
            })
            .await
            .unwrap();
        woken.await;
        assert_eq!(store.outbox.len(), 1);
    }
}
