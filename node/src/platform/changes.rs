//! The change log of a replicated context: every committed transaction of its store, as the
//! keys it set and removed, numbered by a log sequence number (LSN).
//!
//! The writer of a context logs each transaction's changes in the same sled transaction as
//! the changes themselves ([`super::storage::Store::with_change_log`]), publishes them in
//! LSN order to the context's change stream ([`super::replication`]), and followers apply
//! them to their own store in the same order: byte for byte the writer's trees, so every
//! read model built on the store is the same on every replica. Domain events stay what
//! they were (the contexts' published language); the change log is the physical record
//! one context keeps for its own replicas, like PostgreSQL's WAL for its standbys.

use serde::{Deserialize, Serialize};

/// The key in a store's `data` tree of the LSN of its last transaction (written or
/// applied). Kept with the data so a replica's position moves with what it holds.
pub const LSN: &[u8] = b"_/lsn";

/// Which tree of a store a change is to. The dedup set and the outbox are replicated with
/// the data: a follower that takes over publishes what the writer had not, and does not
/// apply twice an event the writer had applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TreeId {
    Data,
    Outbox,
    Consumed,
}

/// One key set (`value: Some`) or removed (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub tree: TreeId,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

impl Change {
    /// A key of the `data` tree set to `value`, or removed.
    pub fn data(key: Vec<u8>, value: Option<Vec<u8>>) -> Self {
        Change {
            tree: TreeId::Data,
            key,
            value,
        }
    }
}

/// The changes of one transaction, or a part of them: a transaction bigger than a NATS
/// message goes out as several parts with the same LSN, and only the one with `last` set
/// lets a follower apply them (all at once, so a reader never sees half a transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    pub lsn: u64,
    /// Which part of the transaction this is, from 0.
    pub part: u32,
    pub last: bool,
    /// A checkpoint: the store's whole contents at `lsn`, which replaces whatever a
    /// follower held (so the stream before it can be dropped).
    pub base: bool,
    pub changes: Vec<Change>,
}

/// What a change set costs on the wire beyond its keys and values (a generous bound).
const OVERHEAD: usize = 16;

impl ChangeSet {
    /// The compact binary form on the stream and in the log tree.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain vectors and integers into a vector cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    /// One change stream message: several small change sets in LSN order, or one part of
    /// a big one.
    pub fn encode_batch(sets: &[ChangeSet]) -> Vec<u8> {
        postcard::to_stdvec(sets).unwrap_or_default()
    }

    pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Self>, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    /// About how many bytes this change set takes on the wire (a bound, as for parts).
    pub fn size_hint(&self) -> usize {
        OVERHEAD
            + self
                .changes
                .iter()
                .map(|c| c.key.len() + c.value.as_ref().map_or(0, Vec::len) + OVERHEAD)
                .sum::<usize>()
    }

    /// This change set cut into parts of at most about `max_bytes` each, in order, the
    /// last one marked. A single change bigger than `max_bytes` is a part of its own (the
    /// publisher reports it when the server refuses it).
    pub fn into_parts(self, max_bytes: usize) -> Vec<ChangeSet> {
        let mut parts = Vec::new();
        let mut current = Vec::new();
        let mut size = OVERHEAD;
        for change in self.changes {
            let cost = change.key.len() + change.value.as_ref().map_or(0, Vec::len) + OVERHEAD;
            if !current.is_empty() && size + cost > max_bytes {
                parts.push(std::mem::take(&mut current));
                size = OVERHEAD;
            }
            size += cost;
            current.push(change);
        }
        parts.push(current);
        let count = parts.len();
        parts
            .into_iter()
            .enumerate()
            .map(|(i, changes)| ChangeSet {
                lsn: self.lsn,
                base: self.base,
                part: u32::try_from(i).unwrap_or(u32::MAX),
                last: i + 1 == count,
                changes,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize, value_len: usize) -> ChangeSet {
        ChangeSet {
            lsn: 7,
            part: 0,
            last: true,
            base: false,
            changes: (0..n)
                .map(|i| Change {
                    tree: if i % 2 == 0 {
                        TreeId::Data
                    } else {
                        TreeId::Outbox
                    },
                    key: format!("k/{i:04}").into_bytes(),
                    value: (i % 3 != 0).then(|| vec![b'v'; value_len]),
                })
                .collect(),
        }
    }

    #[test]
    fn a_change_set_survives_the_wire() {
        let original = set(10, 50);
        assert_eq!(ChangeSet::decode(&original.encode()).unwrap(), original);
        assert!(ChangeSet::decode(b"\xff\xff").is_err());
    }

    #[test]
    fn a_big_transaction_is_cut_into_ordered_parts_only_the_last_marked() {
        let original = set(100, 1_000);
        let parts = original.clone().into_parts(10_000);
        assert!(parts.len() >= 6, "{} parts", parts.len());
        assert!(
            parts
                .iter()
                .all(|p| p.lsn == 7 && p.encode().len() <= 10_000)
        );
        assert_eq!(
            parts.iter().map(|p| p.last).collect::<Vec<_>>(),
            (0..parts.len())
                .map(|i| i + 1 == parts.len())
                .collect::<Vec<_>>()
        );
        let rejoined: Vec<Change> = parts.into_iter().flat_map(|p| p.changes).collect();
        assert_eq!(rejoined, original.changes);
    }

    #[test]
    fn a_batch_of_change_sets_survives_the_wire() {
        let sets = vec![set(2, 5), set(3, 7)];
        assert_eq!(
            ChangeSet::decode_batch(&ChangeSet::encode_batch(&sets)).unwrap(),
            sets
        );
        assert!(sets[0].size_hint() >= sets[0].encode().len());
    }

    #[test]
    fn a_small_or_empty_transaction_is_one_part() {
        assert_eq!(set(3, 10).into_parts(10_000).len(), 1);
        let empty = ChangeSet {
            lsn: 1,
            part: 0,
            last: true,
            base: false,
            changes: vec![],
        };
        assert_eq!(empty.clone().into_parts(100), vec![empty]);
    }
}
