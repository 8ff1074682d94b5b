//! sled storage of one context (`<data-dir>/<context>/`) and its group commit.
//!
//! A write is acknowledged only after [`Store::durable`] returns: concurrent writers share
//! one `flush` (sled 0.34 flushes with `sync_file_range`: safe against a process crash,
//! weaker than `fsync` against power loss; see docs/architecture.md).

mod commit;
mod replica;
mod resident;
pub mod sealing;
pub mod snapshot;
mod tx;
mod watched;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use sled::Transactional;
use tokio::sync::{Notify, watch};

use super::changes::{self, ChangeSet};
use super::error::{ApiError, ApiResult};
pub use commit::flush;
use commit::{GroupCommit, flush_loop};
pub use replica::{Mirrored, Role};
pub use resident::{Residence, Resident};
pub use sealing::Sealer;
use std::cell::Cell;
pub use tx::{Tx, TxResult, abort};
pub use watched::Changes;

/// How long a write waits for the change stream to hold it before the client is told to
/// retry (the stream is down, or this replica was fenced).
pub const REPLICATION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What a transaction did, for what follows its commit.
struct Committed {
    /// It queued events: the outbox relay is woken.
    emitted: bool,
    /// It logged a change set with this LSN: the change relay is woken.
    lsn: Option<u64>,
    /// Its writes to resident prefixes, for the in-memory mirror.
    resident: Vec<resident::Write>,
}

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
    /// The change log waiting to be published ([`super::changes`]), keyed by LSN; empty
    /// unless [`Store::with_change_log`].
    pub(crate) changes: sled::Tree,
    /// Whether every transaction is logged in `changes`.
    log_changes: bool,
    /// Woken after every commit that logged changes.
    pub(crate) changes_written: Arc<Notify>,
    /// The highest LSN this store holds that the change stream holds whole: what the
    /// writer's relay published, or what a follower applied. Reads that must see a write
    /// wait for it ([`super::replication`]).
    pub stream_lsn: Arc<watch::Sender<u64>>,
    /// Whether this replica may write ([`Store::set_role`]); always the writer without a
    /// change log.
    role: Arc<watch::Sender<Role>>,
    /// Every transaction holds it shared; a checkpoint holds it alone while it reads the
    /// whole store, so what it reads is one point in the log.
    gate: Arc<std::sync::RwLock<()>>,
    commit: Arc<GroupCommit>,
    /// Woken after every commit that wrote to the outbox.
    pub outbox_written: Arc<Notify>,
    /// Held while a consumed event is applied; `rebuild` takes it to pause the consumer
    /// for its switch-over.
    pub(crate) apply_gate: Arc<tokio::sync::Mutex<()>>,
    /// Set when this replica, as a follower, found a gap in its change stream: it serves
    /// what it holds, never writes, and is not ready ([`Store::needs_copy`]).
    needs_copy: Arc<std::sync::atomic::AtomicBool>,
    /// The prefixes read from memory ([`Store::with_resident`]), if any.
    resident: Option<Arc<Resident>>,
    /// Seals the values written and opens those read ([`sealing`]), when the platform has
    /// a key.
    sealer: Option<Arc<Sealer>>,
}

/// The key in `data` of the applied floor: every consumed event at or below this stream
/// sequence has been applied. Kept in `data` so that a rebuild's switch-over moves the
/// projections and the floor in one atomic batch.
pub const APPLIED_FLOOR: &[u8] = b"_/applied-floor";

/// What can key an index on something private (an e-mail address) by its keyed hash: a
/// store and its transactions.
pub trait Blinds {
    fn sealer(&self) -> Option<&Sealer>;

    /// The stand-in for `private` in an index key: its keyed hash when the store is sealed,
    /// else itself.
    fn blind(&self, private: &str) -> String {
        match self.sealer() {
            Some(sealer) => sealer.blind(private),
            None => private.to_string(),
        }
    }
}

impl Blinds for Store {
    fn sealer(&self) -> Option<&Sealer> {
        self.sealer.as_deref()
    }
}

impl Blinds for Tx<'_> {
    fn sealer(&self) -> Option<&Sealer> {
        self.sealer
    }
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
            changes: db.open_tree(format!("{prefix}_changes"))?,
            log_changes: false,
            changes_written: Arc::new(Notify::new()),
            stream_lsn: Arc::new(watch::channel(0).0),
            role: Arc::new(watch::channel(Role::Writer).0),
            gate: Arc::default(),
            db,
            commit,
            outbox_written: Arc::new(Notify::new()),
            apply_gate: Arc::default(),
            needs_copy: Arc::default(),
            resident: None,
            sealer: None,
        })
    }

    /// Seals this store's values with `sealer` from now on, and seals at once the values
    /// written before (a store from before encryption at rest, or from a platform without
    /// a key). A store with sealed values and no sealer is refused: it could not be read.
    /// A store sealed with another key is refused too, before anything is read or written.
    pub fn sealed_with(mut self, sealer: Option<Sealer>) -> Result<Self, sled::Error> {
        let mark = self.data.get(sealing::MARK)?;
        let Some(sealer) = sealer else {
            if mark.is_some() {
                return Err(sled::Error::Unsupported(
                    "the store is encrypted: AGORA_ENCRYPTION_KEY is needed to read it".into(),
                ));
            }
            return Ok(self);
        };
        match mark {
            // The mark of the first sealed stores (`e029c67`), which held no check.
            Some(mark) if *mark == [1] => {
                self.data.insert(sealing::MARK, sealer.check())?;
            }
            Some(mark) if !sealer.verifies(&mark) => {
                return Err(sled::Error::Unsupported(
                    "the store was sealed with another key: AGORA_ENCRYPTION_KEY is not the platform's key that sealed it".into(),
                ));
            }
            Some(_) => {}
            None => {
                for tree in [&self.data, &self.outbox] {
                    seal_tree(tree, &sealer)?;
                }
                self.data.insert(sealing::MARK, sealer.check())?;
                self.db.flush()?;
            }
        }
        self.sealer = Some(Arc::new(sealer));
        Ok(self)
    }

    /// Holds the records under the prefixes of `residence` in memory ([`resident`]), within
    /// `budget` bytes; `bytes` shows what they cost.
    pub fn with_resident(
        mut self,
        residence: Residence,
        budget: u64,
        bytes: prometheus_client::metrics::gauge::Gauge,
    ) -> Result<Self, sled::Error> {
        if !residence.is_empty() {
            let mirror = Resident::load(&self.data, self.sealer(), residence, budget, bytes)?;
            self.resident = Some(Arc::new(mirror));
        }
        Ok(self)
    }

    /// The mirror, when it holds every key under `prefix` in order.
    fn resident_range(&self, prefix: &[u8]) -> Option<&Resident> {
        self.resident.as_deref().filter(|r| r.holds_range(prefix))
    }

    /// An empty store beside this one, in the same database, for `rebuild` to replay into.
    /// What its handlers emit stays in its own outbox and is never published.
    pub(crate) fn shadow(&self) -> Result<Store, sled::Error> {
        for tree in ["_rebuild/data", "_rebuild/_outbox", "_rebuild/_consumed"] {
            self.db.drop_tree(tree)?;
        }
        let mut shadow = Store::over(self.db.clone(), "_rebuild/", self.commit.clone())?;
        shadow.sealer = self.sealer.clone();
        Ok(shadow)
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
    ///
    /// With a change log, the write is acknowledged only once the change stream holds it
    /// too (synchronous replication): a writer that dies after answering loses nothing
    /// its successor does not have.
    pub async fn write<T>(&self, f: impl Fn(&Tx) -> TxResult<T>) -> ApiResult<T> {
        let (value, committed) = self.transact(f)?;
        self.durable().await?;
        if committed.emitted {
            self.outbox_written.notify_one();
        }
        if let Some(lsn) = committed.lsn {
            self.in_stream(lsn).await?;
        }
        Ok(value)
    }

    /// Waits until the change stream holds every transaction committed so far (at once
    /// without a change log), at most [`REPLICATION_WAIT`]: what a consumer waits for
    /// before it acknowledges the events it applied, as [`Store::write`] does before a
    /// request is answered. Acknowledged sooner, an event applied by a writer that died
    /// before publishing its changes would be lost for its successor: the bus would not
    /// deliver it again.
    pub async fn replicated_so_far(&self) -> ApiResult<()> {
        if !self.log_changes {
            return Ok(());
        }
        let lsn = self.lsn()?;
        self.in_stream(lsn).await
    }

    /// Waits until the change stream holds `lsn`, at most [`REPLICATION_WAIT`].
    async fn in_stream(&self, lsn: u64) -> ApiResult<()> {
        let mut held = self.stream_lsn.subscribe();
        match tokio::time::timeout(REPLICATION_WAIT, held.wait_for(|l| *l >= lsn)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ApiError::Unconfirmed(
                "the write was not replicated in time; it may or may not have been applied".into(),
            )),
        }
    }

    /// Commits `f` at once without waiting for the disk: for writes nobody is told about
    /// (a timeline rebuilt on read, a rebuild's switch-over), which the next flush covers.
    pub fn write_now<T>(&self, f: impl Fn(&Tx) -> TxResult<T>) -> ApiResult<T> {
        let (value, committed) = self.transact(f)?;
        if committed.emitted {
            self.outbox_written.notify_one();
        }
        Ok(value)
    }

    /// Runs `f` as one sled transaction over the data, the outbox and the consumed set,
    /// logging its changes with the next LSN when the store keeps a change log (sled runs
    /// one transaction at a time, so LSNs follow the commit order without gaps).
    fn transact<T>(&self, f: impl Fn(&Tx) -> TxResult<T>) -> ApiResult<(T, Committed)> {
        self.transact_logged(self.log_changes, f)
    }

    fn transact_logged<T>(
        &self,
        log_changes: bool,
        f: impl Fn(&Tx) -> TxResult<T>,
    ) -> ApiResult<(T, Committed)> {
        // Taken before the gate: a checkpoint holds the gate alone and never this.
        let _in_order = self.resident.as_deref().map(Resident::order);
        let _shared = self.shared_gate();
        let trees = (&self.data, &self.outbox, &self.consumed, &self.changes);
        let result = trees.transaction(|(data, outbox, consumed, log)| {
            let lsn = match log_changes {
                true if *self.role.borrow() != Role::Writer => {
                    return abort(ApiError::NotWriter(
                        "this replica does not take writes now; the writer takes them".into(),
                    ));
                }
                true => Some(data.get(changes::LSN)?.map_or(Ok(0), |b| from_json(&b))? + 1),
                false => None,
            };
            let tx = Tx {
                data,
                outbox,
                consumed,
                emitted: Cell::new(0),
                log: lsn.map(|lsn| tx::Log {
                    lsn,
                    changes: Default::default(),
                }),
                resident: self.resident.as_deref(),
                resident_writes: Default::default(),
                sealer: self.sealer(),
            };
            let value = f(&tx)?;
            let emitted = tx.emitted.get() > 0;
            let logged_lsn = tx.log.as_ref().map(|l| l.lsn);
            let logged = match tx.log {
                Some(entry) if !entry.changes.borrow().is_empty() => {
                    let set = ChangeSet {
                        lsn: entry.lsn,
                        part: 0,
                        last: true,
                        base: false,
                        changes: entry.changes.into_inner(),
                    };
                    data.insert(changes::LSN, to_json(&entry.lsn))?;
                    log.insert(&seq_key(entry.lsn), set.encode())?;
                    true
                }
                _ => false,
            };
            let lsn = logged_lsn.filter(|_| logged);
            let resident = tx.resident_writes.take();
            Ok((
                value,
                Committed {
                    emitted,
                    lsn,
                    resident,
                },
            ))
        });
        let (value, mut committed) = result?;
        if let Some(mirror) = &self.resident {
            mirror.apply(std::mem::take(&mut committed.resident));
        }
        if committed.lsn.is_some() {
            self.changes_written.notify_one();
        }
        Ok((value, committed))
    }

    /// The gate, held shared by a transaction. While a snapshot or a checkpoint holds it
    /// alone, a caller on a Tokio worker waits inside `block_in_place`, so the worker's
    /// other tasks (reads of this and every other context) move to another thread instead
    /// of waiting with it. A poisoned gate guards nothing that could be half-written.
    fn shared_gate(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        match self.gate.try_read() {
            Ok(shared) => shared,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                let wait = || self.gate.read().unwrap_or_else(|p| p.into_inner());
                match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                    Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                        tokio::task::block_in_place(wait)
                    }
                    _ => wait(),
                }
            }
        }
    }

    /// Applies the consumed event at stream sequence `seq` exactly once: `f` runs and `seq`
    /// is recorded as applied in one transaction. Returns false when it had been applied.
    /// Not durable by itself: the consumer flushes before it acknowledges.
    pub fn apply_at(&self, seq: u64, f: impl Fn(&Tx) -> TxResult<()>) -> ApiResult<bool> {
        let (applied, _) = self.transact(|tx| {
            let floor: u64 = tx.get(APPLIED_FLOOR)?.unwrap_or(0);
            if seq <= floor || tx.was_consumed(seq)? {
                return Ok(false);
            }
            tx.set_consumed(seq, true)?;
            f(tx)?;
            Ok(true)
        })?;
        Ok(applied)
    }

    /// Removes published events from the outbox (a logged write: a follower that takes
    /// over must not publish them again).
    pub(crate) fn clear_outbox(&self, keys: &[sled::IVec]) -> ApiResult<()> {
        self.write_now(|tx| keys.iter().try_for_each(|k| tx.clear_outbox(k)))
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
        let below = self
            .consumed
            .range(..=seq_key(floor))
            .keys()
            .collect::<Result<Vec<_>, _>>()?;
        self.write_now(|tx| {
            let old: u64 = tx.get(APPLIED_FLOOR)?.unwrap_or(0);
            tx.put(APPLIED_FLOOR, &old.max(floor))?;
            for key in &below {
                let seq = key.as_ref().try_into().map_or(0, u64::from_be_bytes);
                tx.set_consumed(seq, false)?;
            }
            Ok(())
        })
    }

    /// How many applied sequences the dedup set holds (those above the floor).
    pub fn consumed_len(&self) -> usize {
        self.consumed.len()
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> ApiResult<Option<T>> {
        match self.get_raw(key)? {
            Some(bytes) => Ok(Some(from_json(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The bytes under `key` (an index entry, not a record), from memory when resident.
    pub fn get_raw(&self, key: &[u8]) -> ApiResult<Option<sled::IVec>> {
        if let Some(held) = self.resident.as_deref().and_then(|r| r.get_raw(key)) {
            return Ok(held);
        }
        match self.data.get(key)? {
            Some(stored) => Ok(Some(self.opened(key, stored)?)),
            None => Ok(None),
        }
    }

    /// A value as sled holds it, opened.
    pub(crate) fn opened(&self, key: &[u8], stored: sled::IVec) -> Result<sled::IVec, sled::Error> {
        sealing::opened(self.sealer(), key, stored)
    }

    /// An entry of a scan of sled's trees, its value opened.
    fn opened_entry(
        &self,
        item: Result<(sled::IVec, sled::IVec), sled::Error>,
    ) -> ApiResult<(sled::IVec, sled::IVec)> {
        let (k, v) = item?;
        let v = self.opened(&k, v)?;
        Ok((k, v))
    }

    /// Every record of `data` (the platform's bookkeeping included), values opened: for
    /// scans of the whole store.
    pub fn records(&self) -> impl Iterator<Item = ApiResult<(sled::IVec, sled::IVec)>> + '_ {
        self.records_under(b"")
    }

    /// The events waiting in the outbox, oldest first, opened.
    pub(crate) fn outbox_records(
        &self,
    ) -> impl Iterator<Item = ApiResult<(sled::IVec, sled::IVec)>> + '_ {
        self.outbox.iter().map(|item| self.opened_entry(item))
    }

    /// The records whose keys start with `prefix`, values opened.
    pub fn records_under(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = ApiResult<(sled::IVec, sled::IVec)>> + '_ {
        self.data
            .scan_prefix(prefix)
            .map(|item| self.opened_entry(item))
    }

    /// The record under `key`, shared: under a resident prefix it is decoded once and then
    /// handed out as is while it is unchanged (the hot path's reads), else read and decoded.
    pub fn shared<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        key: &[u8],
    ) -> ApiResult<Option<Arc<T>>> {
        match self.resident.as_deref().and_then(|r| r.shared(key)) {
            Some(held) => Ok(held?),
            None => Ok(self.get(key)?.map(Arc::new)),
        }
    }

    /// The record at `key` of a projection that may not have received it yet (a client
    /// names something another context answered a moment ago): an absent key is waited
    /// for, until `deadline`.
    pub async fn get_waiting<T: DeserializeOwned>(
        &self,
        key: &[u8],
        deadline: tokio::time::Instant,
    ) -> ApiResult<Option<T>> {
        let mut changes = self.data.watch_prefix(key);
        loop {
            // From sled, whose change the watch reports (the mirror follows a moment later).
            if let Some(stored) = self.data.get(key)? {
                return Ok(Some(from_json(&self.opened(key, stored)?)?));
            }
            match tokio::time::timeout_at(deadline, &mut changes).await {
                Ok(Some(_)) => continue,
                // Out of time, or the database is closing.
                Err(_) | Ok(None) => return Ok(None),
            }
        }
    }

    pub fn contains(&self, key: &[u8]) -> ApiResult<bool> {
        match self.resident.as_deref().and_then(|r| r.contains(key)) {
            Some(held) => Ok(held),
            None => Ok(self.data.contains_key(key)?),
        }
    }

    /// Values under `prefix` after the key `prefix + after` (exclusive), at most `limit`.
    pub fn scan_after(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> ApiResult<Vec<(Vec<u8>, sled::IVec)>> {
        if let Some(mirror) = self.resident_range(prefix) {
            return Ok(mirror.scan_after(prefix, after, limit));
        }
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
            out.push((rest.to_vec(), self.opened(&k, v)?));
        }
        Ok(out)
    }

    /// Keys under `prefix` (with the prefix cut off), newest first, read lazily (a chunk at
    /// a time, from memory when resident): for merging several sources without reading
    /// more of each than the merge takes.
    pub fn keys_newest_first(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = ApiResult<Vec<u8>>> + use<> {
        const CHUNK: usize = 64;
        let (store, prefix) = (self.clone(), prefix.to_vec());
        let mut chunk = std::collections::VecDeque::new();
        let mut before: Option<Vec<u8>> = None;
        let mut more = true;
        std::iter::from_fn(move || {
            if chunk.is_empty() && more {
                match store.scan_before(&prefix, before.as_deref(), CHUNK) {
                    Ok(rows) => {
                        more = rows.len() == CHUNK;
                        before = rows.last().map(|(k, _)| k.clone());
                        chunk.extend(rows.into_iter().map(|(k, _)| k));
                    }
                    Err(e) => {
                        more = false;
                        return Some(Err(e));
                    }
                }
            }
            chunk.pop_front().map(Ok)
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
        if let Some(mirror) = self.resident_range(prefix) {
            return Ok(mirror.scan_before(prefix, before, limit));
        }
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
            out.push((rest.to_vec(), self.opened(&k, v)?));
        }
        Ok(out)
    }
}

/// Seals every value of `tree` written before sealing, in batches.
fn seal_tree(tree: &sled::Tree, sealer: &Sealer) -> Result<(), sled::Error> {
    let mut batch = sled::Batch::default();
    let mut queued = 0;
    for item in tree.iter() {
        let (k, v) = item?;
        if sealing::needs_sealing(&k, &v) {
            batch.insert(k.clone(), sealer.seal(&k, &v).into_owned());
            queued += 1;
        }
        if queued == 10_000 {
            tree.apply_batch(std::mem::take(&mut batch))?;
            queued = 0;
        }
    }
    tree.apply_batch(batch)
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

    fn event(id: &str) -> crate::platform::envelope::Envelope {
        crate::platform::envelope::Envelope {
            id: id.into(),
            kind: "K".into(),
            version: 1,
            context: "c".into(),
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            actor: "a".into(),
            aggregate_id: "g".into(),
            data: serde_json::Value::Null,
            personal: None,
        }
    }

    fn tree(t: &sled::Tree) -> Vec<(sled::IVec, sled::IVec)> {
        t.iter()
            .map(Result::unwrap)
            .filter(|(k, _)| k.as_ref() != replica::CHANGES_SEQ)
            .collect()
    }

    /// The log entries of `store`, taken off its log as the relay does.
    fn drain_log(store: &Store) -> Vec<ChangeSet> {
        let sets: Vec<ChangeSet> = store
            .changes
            .iter()
            .map(|item| ChangeSet::decode(&item.unwrap().1).unwrap())
            .collect();
        store.changes.clear().unwrap();
        sets
    }

    #[tokio::test]
    async fn a_follower_applying_the_change_log_holds_the_writers_trees() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let writer = Store::open(dirs[0].path())
            .unwrap()
            .with_change_log()
            .unwrap();
        writer.set_role(Role::Writer).unwrap();
        let follower = Store::open(dirs[1].path())
            .unwrap()
            .with_change_log()
            .unwrap();
        writer.write_now(|tx| tx.put_raw(b"a", b"1")).unwrap();
        writer
            .write_now(|tx| {
                tx.put(b"b", &2)?;
                tx.emit(&event("e1"))?;
                tx.emit(&event("e2"))
            })
            .unwrap();
        writer.write_now(|tx| tx.remove(b"a")).unwrap();
        assert!(writer.apply_at(9, |tx| tx.put_raw(b"c", b"3")).unwrap());
        assert!(writer.apply_at(11, |tx| tx.put_raw(b"d", b"4")).unwrap());
        writer.raise_applied_floor(10).unwrap();
        let first_event = writer.outbox.first().unwrap().unwrap().0;
        writer.clear_outbox(&[first_event]).unwrap();
        // A transaction that writes nothing logs nothing.
        writer.write_now(|tx| tx.contains(b"b")).unwrap();

        let sets = drain_log(&writer);
        assert_eq!(
            sets.iter().map(|s| s.lsn).collect::<Vec<_>>(),
            (1..=7).collect::<Vec<_>>(),
            "one LSN per writing transaction, without gaps"
        );
        for (i, set) in sets.iter().enumerate() {
            let applied = follower.apply_mirrored(std::slice::from_ref(set), 100 + i as u64);
            assert_eq!(applied.unwrap(), Mirrored::Applied);
        }
        assert_eq!(tree(&follower.data), tree(&writer.data));
        assert_eq!(tree(&follower.outbox), tree(&writer.outbox));
        assert_eq!(tree(&follower.consumed), tree(&writer.consumed));
        assert_eq!(follower.outbox.len(), 1, "e2 still to publish");
        assert_eq!((follower.lsn().unwrap(), writer.lsn().unwrap()), (7, 7));
        assert_eq!(follower.changes_seq().unwrap(), 106);
        assert_eq!(*follower.stream_lsn.borrow(), 7, "what reads may wait for");
        assert!(follower.changes.is_empty(), "a follower logs nothing");
        assert!(
            matches!(
                follower.write_now(|tx| tx.put_raw(b"z", b"0")),
                Err(ApiError::NotWriter(_))
            ),
            "nor writes anything of its own"
        );

        // Redelivered: skipped. Out of order: refused, nothing applied.
        assert_eq!(
            follower.apply_mirrored(&sets[..1], 100).unwrap(),
            Mirrored::AlreadyHeld
        );
        writer.write_now(|tx| tx.put_raw(b"x", b"8")).unwrap();
        writer.write_now(|tx| tx.put_raw(b"y", b"9")).unwrap();
        let later = drain_log(&writer);
        assert_eq!(
            follower.apply_mirrored(&later[1..], 108).unwrap(),
            Mirrored::Gap { holds: 7, got: 9 }
        );
        assert!(!follower.contains(b"y").unwrap());
    }

    /// A checkpoint is copied while writes go on, then made exact by redoing the sets
    /// logged meanwhile: a follower taking it and the sets after it holds the writer's
    /// trees, whatever the writes did to the keys while they were read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checkpoint_taken_under_writes_is_the_store_at_its_lsn() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let writer = Store::open(dirs[0].path())
            .unwrap()
            .with_change_log()
            .unwrap();
        writer.set_role(Role::Writer).unwrap();
        for batch in 0..20 {
            writer
                .write_now(|tx| {
                    for i in 0..1_000 {
                        tx.put_raw(format!("k/{:05}", batch * 1_000 + i).as_bytes(), b"old")?;
                    }
                    Ok(())
                })
                .unwrap();
        }
        drain_log(&writer);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writes = {
            let (writer, stop) = (writer.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // From the end of the key range down, so the copy meets both keys
                    // written before it reached them and keys written after.
                    let key = format!("k/{:05}", 19_999 - (n * 7) % 20_000);
                    writer
                        .write_now(|tx| match n % 3 {
                            0 => tx.remove(key.as_bytes()).map(drop),
                            _ => tx.put_raw(key.as_bytes(), format!("new {n}").as_bytes()),
                        })
                        .unwrap();
                    n += 1;
                }
                n
            })
        };
        while writer.lsn().unwrap() < 20 + 50 {
            std::thread::yield_now();
        }
        let checkpoint = writer.log_checkpoint().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writes.join().unwrap();
        assert!(written > 50 && writer.lsn().unwrap() > checkpoint);

        let sets = drain_log(&writer);
        let from_base: Vec<ChangeSet> = sets.into_iter().skip_while(|s| !s.base).collect();
        assert_eq!(from_base[0].lsn, checkpoint);
        let follower = Store::open(dirs[1].path())
            .unwrap()
            .with_change_log()
            .unwrap();
        for (i, set) in from_base.iter().enumerate() {
            let applied = follower.apply_mirrored(std::slice::from_ref(set), i as u64 + 1);
            assert_eq!(applied.unwrap(), Mirrored::Applied);
        }
        assert_eq!(tree(&follower.data), tree(&writer.data));
    }

    #[tokio::test]
    async fn a_checkpoint_cut_short_after_taking_its_lsn_leaves_a_no_op_followers_apply() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let writer = Store::open(dirs[0].path())
            .unwrap()
            .with_change_log()
            .unwrap();
        writer.set_role(Role::Writer).unwrap();
        writer.write_now(|tx| tx.put_raw(b"k/1", b"one")).unwrap();
        // What a crash between taking the LSN and writing the checkpoint leaves behind.
        let taken = writer.take_lsn().unwrap();
        writer.write_now(|tx| tx.put_raw(b"k/2", b"two")).unwrap();
        let sets = drain_log(&writer);
        assert_eq!(
            sets.iter().map(|s| s.lsn).collect::<Vec<_>>(),
            [taken - 1, taken, taken + 1],
            "the stream stays whole"
        );
        let follower = Store::open(dirs[1].path())
            .unwrap()
            .with_change_log()
            .unwrap();
        for (i, set) in sets.iter().enumerate() {
            let applied = follower.apply_mirrored(std::slice::from_ref(set), i as u64 + 1);
            assert_eq!(applied.unwrap(), Mirrored::Applied);
        }
        assert_eq!(tree(&follower.data), tree(&writer.data));
    }

    #[tokio::test]
    async fn the_outbox_keeps_its_order_across_the_writers_lsns() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap().with_change_log().unwrap();
        store.set_role(Role::Writer).unwrap();
        for i in 0..3 {
            store
                .write_now(|tx| {
                    tx.emit(&event(&format!("{i}a")))?;
                    tx.emit(&event(&format!("{i}b")))
                })
                .unwrap();
        }
        let ids: Vec<String> = store
            .outbox
            .iter()
            .map(|item| {
                from_json::<crate::platform::envelope::Envelope>(&item.unwrap().1)
                    .unwrap()
                    .id
            })
            .collect();
        assert_eq!(ids, ["0a", "0b", "1a", "1b", "2a", "2b"]);
    }

    #[tokio::test]
    async fn values_written_before_sealing_are_sealed_at_open_and_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Store::open(dir.path()).unwrap();
        plain
            .write_now(|tx| {
                tx.put(b"p/1", &"hello")?;
                tx.put_raw(b"s/1", &[])?;
                tx.put(APPLIED_FLOOR, &7u64)?;
                tx.emit(&event("e1"))
            })
            .unwrap();
        let key = crate::platform::keyring::PlatformKey::from_setting(
            &crate::platform::keyring::PlatformKey::generate(),
        )
        .unwrap();
        let store = plain
            .clone()
            .sealed_with(Some(Sealer::new(&key, "posts")))
            .unwrap();
        store.write_now(|tx| tx.put(b"p/2", &"world")).unwrap();
        let in_clear = |tree: &sled::Tree, text: &[u8]| {
            tree.iter()
                .map(Result::unwrap)
                .any(|(_, v)| v.windows(text.len()).any(|w| w == text))
        };
        for text in [&b"hello"[..], b"world"] {
            assert!(!in_clear(&store.data, text), "sealed on disk");
        }
        assert!(!in_clear(&store.outbox, b"e1"));
        assert_eq!(store.get::<String>(b"p/1").unwrap().unwrap(), "hello");
        let scanned = store.scan_after(b"p/", None, 9).unwrap();
        assert_eq!(scanned[1].1, to_json(&"world"));
        assert!(store.contains(b"s/1").unwrap());
        assert_eq!(store.applied_floor().unwrap(), 7);
        let (_, queued) = store.outbox_records().next().unwrap().unwrap();
        let queued: crate::platform::envelope::Envelope = from_json(&queued).unwrap();
        assert_eq!(queued.id, "e1");
        // Without the key, or with another, the store is refused, never read as noise.
        assert!(plain.clone().sealed_with(None).is_err());
        let another = crate::platform::keyring::PlatformKey::from_setting(
            &crate::platform::keyring::PlatformKey::generate(),
        )
        .unwrap();
        let refused = plain
            .clone()
            .sealed_with(Some(Sealer::new(&another, "posts")));
        assert!(refused.is_err());
        let again = plain.clone().sealed_with(Some(Sealer::new(&key, "posts")));
        assert_eq!(
            again.unwrap().get::<String>(b"p/2").unwrap().unwrap(),
            "world"
        );
    }

    /// During a rolling upgrade a follower that seals may follow a writer that does not
    /// yet: what comes in the clear is stored sealed, and reads the same.
    #[tokio::test]
    async fn a_sealing_follower_seals_what_a_writer_sends_in_the_clear() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let writer = Store::open(dirs[0].path())
            .unwrap()
            .with_change_log()
            .unwrap();
        writer.set_role(Role::Writer).unwrap();
        let key = crate::platform::keyring::PlatformKey::from_setting(
            &crate::platform::keyring::PlatformKey::generate(),
        )
        .unwrap();
        let follower = Store::open(dirs[1].path())
            .unwrap()
            .sealed_with(Some(Sealer::new(&key, "posts")))
            .unwrap()
            .with_change_log()
            .unwrap();
        writer
            .write_now(|tx| {
                tx.put(b"p/1", &"hello")?;
                tx.emit(&event("e1"))
            })
            .unwrap();
        for (i, set) in drain_log(&writer).iter().enumerate() {
            let applied = follower.apply_mirrored(std::slice::from_ref(set), i as u64 + 1);
            assert_eq!(applied.unwrap(), Mirrored::Applied);
        }
        let stored = follower.data.get(b"p/1").unwrap().unwrap();
        assert!(!stored.windows(5).any(|w| w == b"hello"), "sealed on disk");
        assert_eq!(follower.get::<String>(b"p/1").unwrap().unwrap(), "hello");
        let (_, queued) = follower.outbox_records().next().unwrap().unwrap();
        let queued: crate::platform::envelope::Envelope = from_json(&queued).unwrap();
        assert_eq!(queued.id, "e1");
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
        store.write(|tx| tx.emit(&event("e"))).await.unwrap();
        woken.await;
        assert_eq!(store.outbox.len(), 1);
    }
}
