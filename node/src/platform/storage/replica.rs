//! A store as one replica of its context ([`super::super::replication`]): its role, its
//! place in the change log, the checkpoints a writer logs and the change sets a follower
//! applies.

use sled::Transactional;
use tokio::sync::watch;

use super::{ApiError, ApiResult, Store, seq_key, to_json};
use crate::platform::changes::{self, ChangeSet};

/// Whether a replica takes writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It holds the context's lease: it writes, and publishes its change log.
    Writer,
    /// It applies the writer's change stream and serves reads.
    Follower,
    /// The process is stopping and this replica has handed its lease over, if it held it.
    Stopped,
}

/// What became of a writer's transaction given to a follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirrored {
    Applied,
    /// Applied before (a redelivery): nothing done.
    AlreadyHeld,
    /// Not the next one: this store missed `holds + 1 ..= got - 1`; only a checkpoint
    /// applies now.
    Gap {
        holds: u64,
        got: u64,
    },
}

/// Keys of `data` that say where this replica is, not what the context holds.
fn is_position(key: &[u8]) -> bool {
    key == changes::LSN || key == CHANGES_SEQ
}

/// The key in the database's default tree of [`Store::replica_id`].
pub(super) const REPLICA_ID: &[u8] = b"replica-id";

/// The key in `data` of the change stream sequence a follower applied last.
pub(super) const CHANGES_SEQ: &[u8] = b"_/changes-seq";

impl Store {
    /// This store, logging every transaction's changes for its followers
    /// ([`super::changes`]). A store that ran without replicas first logs what it holds
    /// as the change stream's base ([`Store::log_base`]), before anything can log a write
    /// of its own: a write logged first would start the stream after data that no
    /// follower would ever receive. A rebuild's shadow store never logs.
    pub fn with_change_log(mut self) -> ApiResult<Self> {
        self.log_changes = true;
        self.role.send_replace(Role::Follower);
        if self.log_base()? {
            tracing::info!("the store's data goes out as the change stream's base");
        }
        Ok(self)
    }

    /// This replica's role. A store that keeps a change log starts as a follower.
    pub fn role(&self) -> Role {
        match self.log_changes {
            true => *self.role.borrow(),
            false => Role::Writer,
        }
    }

    /// Whether this store is a replica's (it keeps a change log).
    pub fn replicated(&self) -> bool {
        self.log_changes
    }

    /// The role, as it changes.
    pub fn watch_role(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// Makes this replica the writer or a follower. When it returns, no transaction that
    /// saw the old role is still running (sled runs one transaction at a time, and this
    /// runs one), so a follower commits nothing of its own after it.
    pub fn set_role(&self, role: Role) -> ApiResult<()> {
        self.role.send_replace(role);
        self.transact_logged(false, |_| Ok(()))?;
        Ok(())
    }

    /// Empties the replicated trees and the change log, so the store is copied afresh
    /// from the change stream (a replica whose unpublished writes another writer
    /// replaced). Only for a follower.
    pub(crate) fn reset(&self) -> ApiResult<()> {
        for tree in [&self.data, &self.outbox, &self.consumed, &self.changes] {
            tree.clear()?;
        }
        self.stream_lsn.send_replace(0);
        Ok(())
    }

    /// Makes this store the start of a new change stream history: its unpublished log
    /// goes, and its whole contents are logged as a checkpoint, which the stream takes
    /// first and followers copy. For a store restored from a backup onto a change stream
    /// that lacks what it holds (a bus made anew). Returns the checkpoint's LSN.
    pub(crate) fn begin_history(&self) -> ApiResult<u64> {
        self.changes.clear()?;
        self.transact_logged(false, |tx| tx.put(CHANGES_SEQ, &0u64))?;
        self.log_checkpoint()
    }

    /// Logs everything the store holds as one change set, when it holds data but has
    /// logged nothing yet (a context that ran without replicas and now has some): the
    /// base its followers copy before the changes that follow. Returns whether it did.
    fn log_base(&self) -> ApiResult<bool> {
        // The store's own bookkeeping (`_/`: the sealing mark, the applied floor) is no
        // data: a new store that seals holds its mark and nothing else.
        let holds_data = self
            .data
            .iter()
            .keys()
            .any(|k| k.map_or(true, |k| !k.starts_with(b"_/")));
        if self.lsn()? != 0 || (!holds_data && self.outbox.is_empty()) {
            return Ok(false);
        }
        self.log_checkpoint()?;
        Ok(true)
    }

    /// Logs a checkpoint: the store's whole contents as one change set marked `base`,
    /// which a follower takes in place of what it held, so the change stream before it can
    /// be dropped (and what was erased before it leaves the stream). Returns its LSN.
    ///
    /// The store is copied while writes go on (a fuzzy copy: each key as some transaction
    /// after LSN `from` may have left it). Then, with writes stopped only for that, the
    /// checkpoint takes the next LSN, logged as an empty change set (a no-op). With writes
    /// going again, every change set logged between `from` and that LSN is applied again
    /// to the copy, in LSN order: each sets or removes whole keys, so the copy becomes
    /// exactly the store at the checkpoint's LSN, as a database's fuzzy checkpoint is made
    /// exact by redoing its log; the checkpoint then replaces the no-op. A crash before
    /// that leaves the no-op, which is as true (the stream stays whole, without this
    /// checkpoint). The sets it redoes, and the no-op, are in the log while this runs:
    /// only the change relay clears or publishes the log, and it is the one waiting for
    /// this (or nothing publishes yet). Writes wait for two small writes, not for the copy,
    /// the redo, the encoding or the write of the checkpoint.
    pub fn log_checkpoint(&self) -> ApiResult<u64> {
        let from = self.lsn()?;
        let mut copy = self.contents()?;
        let lsn = self.take_lsn()?;
        if lsn > from + 1 {
            copy = self.redo(copy, from, lsn)?;
        }
        let set = ChangeSet {
            lsn,
            part: 0,
            last: true,
            base: true,
            changes: copy,
        };
        self.changes.insert(seq_key(lsn), set.encode())?;
        self.changes_written.notify_one();
        Ok(lsn)
    }

    /// The next LSN, taken with writes stopped and logged as an empty change set.
    pub(super) fn take_lsn(&self) -> ApiResult<u64> {
        let _alone = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let lsn = self.lsn()? + 1;
        let noop = ChangeSet {
            lsn,
            part: 0,
            last: true,
            base: false,
            changes: Vec::new(),
        };
        (&self.data, &self.changes)
            .transaction(|(data, log)| {
                data.insert(changes::LSN, to_json(&lsn))?;
                log.insert(&seq_key(lsn), noop.encode())?;
                Ok::<_, sled::transaction::ConflictableTransactionError<ApiError>>(())
            })
            .map_err(ApiError::from)?;
        Ok(lsn)
    }

    /// `copy` with every change set logged after LSN `from` and before `until` applied
    /// again, in order.
    fn redo(
        &self,
        copy: Vec<changes::Change>,
        from: u64,
        until: u64,
    ) -> ApiResult<Vec<changes::Change>> {
        let mut keys: std::collections::HashMap<(changes::TreeId, Vec<u8>), Option<Vec<u8>>> = copy
            .into_iter()
            .map(|c| ((c.tree, c.key), c.value))
            .collect();
        for item in self.changes.range(seq_key(from + 1)..seq_key(until)) {
            let (_, bytes) = item?;
            let set = ChangeSet::decode(&bytes)
                .map_err(|e| ApiError::Internal(format!("a logged change set: {e}")))?;
            for change in set.changes {
                if change.tree == changes::TreeId::Data && is_position(&change.key) {
                    continue;
                }
                keys.insert((change.tree, change.key), change.value);
            }
        }
        let mut changes: Vec<changes::Change> = keys
            .into_iter()
            .filter_map(|((tree, key), value)| {
                value.map(|v| changes::Change {
                    tree,
                    key,
                    value: Some(v),
                })
            })
            .collect();
        changes.sort_by(|a, b| (a.tree as u8, &a.key).cmp(&(b.tree as u8, &b.key)));
        Ok(changes)
    }

    /// Every key of the replicated trees, as changes that set it (positions excepted).
    fn contents(&self) -> ApiResult<Vec<changes::Change>> {
        let mut all = Vec::new();
        for (tree, id) in self.replicated_trees() {
            for item in tree.iter() {
                let (key, value) = item?;
                if id == changes::TreeId::Data && is_position(&key) {
                    continue;
                }
                all.push(changes::Change {
                    tree: id,
                    key: key.to_vec(),
                    value: Some(value.to_vec()),
                });
            }
        }
        Ok(all)
    }

    fn replicated_trees(&self) -> [(&sled::Tree, changes::TreeId); 3] {
        [
            (&self.data, changes::TreeId::Data),
            (&self.outbox, changes::TreeId::Outbox),
            (&self.consumed, changes::TreeId::Consumed),
        ]
    }

    /// Whether this replica missed part of its change stream (the stream no longer holds
    /// what it lacks): it is not whole until it has applied a checkpoint, which it asks
    /// the writer for ([`crate::platform::replication::follow`]).
    pub fn needs_copy(&self) -> bool {
        self.needs_copy.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set_needs_copy(&self, needs: bool) {
        self.needs_copy
            .store(needs, std::sync::atomic::Ordering::Relaxed);
    }

    /// The LSN of the last transaction this store committed or applied (0: none).
    pub fn lsn(&self) -> ApiResult<u64> {
        Ok(self.get(changes::LSN)?.unwrap_or(0))
    }

    /// The id of this copy of the context's data, made once: it tells a writer whether
    /// the change stream's last append was its own. Kept outside the replicated trees.
    pub fn replica_id(&self) -> ApiResult<String> {
        let id = self.db.update_and_fetch(REPLICA_ID, |old| {
            Some(old.map_or_else(
                || ulid::Ulid::generate().to_string().into_bytes(),
                <[u8]>::to_vec,
            ))
        })?;
        Ok(String::from_utf8_lossy(id.as_deref().unwrap_or_default()).into_owned())
    }

    /// Applies the writer's transaction (all its parts, in order) as it is, in one
    /// transaction that also records its LSN and the change stream's sequence it came
    /// from, logging nothing: a follower writes nothing of its own.
    pub(crate) fn apply_mirrored(
        &self,
        parts: &[ChangeSet],
        stream_seq: u64,
    ) -> ApiResult<Mirrored> {
        let lsn = parts.first().map_or(0, |p| p.lsn);
        let base = parts.first().is_some_and(|p| p.base);
        // A checkpoint replaces everything: what it does not hold goes.
        let stale = match base {
            true => self.not_in(parts)?,
            false => Vec::new(),
        };
        let (outcome, _) = self.transact_logged(false, |tx| {
            let holds: u64 = tx.get(changes::LSN)?.unwrap_or(0);
            if lsn <= holds {
                return Ok(Mirrored::AlreadyHeld);
            }
            if lsn != holds + 1 && !base {
                return Ok(Mirrored::Gap { holds, got: lsn });
            }
            for change in stale.iter().chain(parts.iter().flat_map(|p| &p.changes)) {
                tx.apply(change)?;
            }
            tx.put(changes::LSN, &lsn)?;
            tx.put(CHANGES_SEQ, &stream_seq)?;
            Ok(Mirrored::Applied)
        })?;
        if outcome == Mirrored::Applied {
            self.stream_lsn.send_replace(lsn);
        }
        Ok(outcome)
    }

    /// Removals of every key this store holds that the checkpoint `parts` does not.
    fn not_in(&self, parts: &[ChangeSet]) -> ApiResult<Vec<changes::Change>> {
        let kept: std::collections::HashSet<(changes::TreeId, &[u8])> = parts
            .iter()
            .flat_map(|p| &p.changes)
            .map(|c| (c.tree, c.key.as_slice()))
            .collect();
        Ok(self
            .contents()?
            .into_iter()
            .filter(|c| !kept.contains(&(c.tree, c.key.as_slice())))
            .map(|c| changes::Change { value: None, ..c })
            .collect())
    }

    /// The change stream's sequence of the last change set this store applied as a
    /// follower (0: none).
    pub(crate) fn changes_seq(&self) -> ApiResult<u64> {
        Ok(self.get(CHANGES_SEQ)?.unwrap_or(0))
    }
}
