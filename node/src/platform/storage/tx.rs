//! The view of a [`Store`](super::Store) inside a transaction: every write a handler makes.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};

use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{from_json, key, sealing, seq_key, to_json};
use crate::platform::changes::{Change, TreeId};
use crate::platform::envelope::Envelope;
use crate::platform::error::ApiError;

pub type TxResult<T> = Result<T, ConflictableTransactionError<ApiError>>;

/// Aborts a transaction with a context's error (mapped onto the problem table).
pub fn abort<T>(e: impl Into<ApiError>) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e.into()))
}

/// The view of a [`Store`](super::Store) inside a transaction. Every write goes through
/// its methods, which also record it in the change log when the store keeps one.
pub struct Tx<'a> {
    pub(super) data: &'a TransactionalTree,
    pub(super) outbox: &'a TransactionalTree,
    pub(super) consumed: &'a TransactionalTree,
    /// How many events this attempt queued (the relay is woken after the commit).
    pub(super) emitted: Cell<u32>,
    /// This attempt's changes and LSN, when the store keeps a change log.
    pub(super) log: Option<Log>,
    /// The store's in-memory mirror, if it has one, and this attempt's writes to it.
    pub(super) resident: Option<&'a super::Resident>,
    pub(super) resident_writes: RefCell<Vec<super::resident::Write>>,
    /// Seals what is written and opens what is read, when the store is sealed.
    pub(super) sealer: Option<&'a super::Sealer>,
}

/// The changes of one transaction attempt, numbered.
pub(super) struct Log {
    pub(super) lsn: u64,
    pub(super) changes: RefCell<Vec<Change>>,
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
            Some(stored) => sealing::open(self.sealer, key, &stored)
                .and_then(|bytes| from_json(&bytes))
                .map(Some)
                .or_else(abort),
            None => Ok(None),
        }
    }

    pub fn contains(&self, key: &[u8]) -> TxResult<bool> {
        Ok(self.data.get(key)?.is_some())
    }

    /// The bytes stored under `key` (an index entry, not a record).
    pub fn get_raw(&self, key: &[u8]) -> TxResult<Option<sled::IVec>> {
        match self.data.get(key)? {
            Some(stored) => sealing::opened(self.sealer, key, stored)
                .map(Some)
                .or_else(abort),
            None => Ok(None),
        }
    }

    pub fn put<T: serde::Serialize>(&self, key: &[u8], value: &T) -> TxResult<()> {
        self.put_raw(key, &to_json(value))
    }

    pub fn put_raw(&self, key: &[u8], value: &[u8]) -> TxResult<()> {
        let stored = sealing::seal(self.sealer, key, value);
        self.data.insert(key, &*stored)?;
        self.record(TreeId::Data, key, Some(&stored));
        self.mirror(key, Some(value));
        Ok(())
    }

    pub fn remove(&self, key: &[u8]) -> TxResult<bool> {
        let existed = self.data.remove(key)?.is_some();
        if existed {
            self.record(TreeId::Data, key, None);
            self.mirror(key, None);
        }
        Ok(existed)
    }

    /// Queues an event in the outbox, committed with the rest of the transaction. With a
    /// change log, outbox keys follow the LSN, so events keep their order on a replica
    /// that takes over the writing.
    pub fn emit(&self, event: &Envelope) -> TxResult<()> {
        let n = self.emitted.get();
        let key = match &self.log {
            Some(log) => [seq_key(log.lsn).as_slice(), &n.to_be_bytes()].concat(),
            None => seq_key(self.outbox.generate_id()?).to_vec(),
        };
        let value = to_json(event);
        let stored = sealing::seal(self.sealer, &key, &value);
        self.outbox.insert(key.as_slice(), &*stored)?;
        self.record(TreeId::Outbox, &key, Some(&stored));
        self.emitted.set(n + 1);
        Ok(())
    }

    /// Whether the consumed event at stream sequence `seq` is in the dedup set.
    pub(super) fn was_consumed(&self, seq: u64) -> TxResult<bool> {
        Ok(self.consumed.get(seq_key(seq))?.is_some())
    }

    /// Adds (`true`) or removes the consumed event at `seq` in the dedup set.
    pub(super) fn set_consumed(&self, seq: u64, on: bool) -> TxResult<()> {
        let key = seq_key(seq);
        if on {
            self.consumed.insert(&key, &[])?;
            self.record(TreeId::Consumed, &key, Some(&[]));
        } else if self.consumed.remove(&key)?.is_some() {
            self.record(TreeId::Consumed, &key, None);
        }
        Ok(())
    }

    /// Removes a published event from the outbox.
    pub(super) fn clear_outbox(&self, key: &[u8]) -> TxResult<()> {
        if self.outbox.remove(key)?.is_some() {
            self.record(TreeId::Outbox, key, None);
        }
        Ok(())
    }

    /// Applies a change as it is stored (a replica's, or a batch computed outside the
    /// transaction: sealed values stay sealed), recording it like any other write. A value
    /// in the clear (from a writer that does not seal yet, during a rolling upgrade) is
    /// sealed here when this store seals.
    pub fn apply(&self, change: &Change) -> TxResult<()> {
        let tree = match change.tree {
            TreeId::Data => self.data,
            TreeId::Outbox => self.outbox,
            TreeId::Consumed => self.consumed,
        };
        let value = match change.tree {
            TreeId::Consumed => change.value.as_deref().map(Cow::Borrowed),
            TreeId::Data | TreeId::Outbox => change
                .value
                .as_deref()
                .map(|v| sealing::seal_if_clear(self.sealer, &change.key, v)),
        };
        match &value {
            Some(v) => tree.insert(change.key.as_slice(), &**v)?,
            None => tree.remove(change.key.as_slice())?,
        };
        self.record(change.tree, &change.key, value.as_deref());
        if change.tree == TreeId::Data {
            let plain = match &change.value {
                Some(v) => Some(sealing::open(self.sealer, &change.key, v).or_else(abort)?),
                None => None,
            };
            self.mirror(&change.key, plain.as_deref());
        }
        Ok(())
    }

    /// Hands a write of `data` to the in-memory mirror when it holds `key` (in the clear).
    fn mirror(&self, key: &[u8], value: Option<&[u8]>) {
        if let Some(mirror) = self.resident
            && mirror.is_resident(key)
        {
            self.resident_writes
                .borrow_mut()
                .push((key.to_vec(), value.map(sled::IVec::from)));
        }
    }

    /// Logs a write as it is stored, when the store keeps a change log.
    fn record(&self, tree: TreeId, key: &[u8], value: Option<&[u8]>) {
        if let Some(log) = &self.log {
            log.changes.borrow_mut().push(Change {
                tree,
                key: key.to_vec(),
                value: value.map(<[u8]>::to_vec),
            });
        }
    }
}
