//! A store's snapshot: every key of its trees at one point, as one compressed file, for
//! backups ([`crate::platform::backup`]). Written while writes wait (the same gate a
//! checkpoint takes), so what it holds is one point in the store's history: one LSN, one
//! applied floor. Read back into a new, empty directory by [`restore`]; a truncated or
//! altered file is refused before the directory is used.
//!
//! Layout, gzip over: the [`SnapshotInfo`] (a `u32` little-endian length, then JSON),
//! then per key its tree's id (`u8`), the key's and the value's lengths (`u32` LE each),
//! the key and the value; last the id [`END`] and the count of keys (`u64` LE).

use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::sealing::Resealing;
use super::{APPLIED_FLOOR, ApiError, ApiResult, Store, from_json};
use crate::platform::changes;

/// The format this build writes and reads.
const FORMAT: u32 = 1;

/// The trees of a store a snapshot holds, by the id an entry names. The default tree
/// (where the replica id lives) and a rebuild's shadow trees are not part of it.
const TREES: [&str; 4] = ["data", "_outbox", "_consumed", "_changes"];

/// The tree id of the last entry.
const END: u8 = u8::MAX;

/// What a snapshot says of itself, first in the file and in the backup's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub format: u32,
    /// The LSN of the last transaction it holds (0 for a store without a change log).
    pub lsn: u64,
    /// Every consumed event at or below this stream sequence was applied.
    pub applied_floor: u64,
    /// Keys held, over all its trees.
    pub keys: u64,
    /// The id of the replica whose store it is ([`Store::replica_id`]), when it has one:
    /// the restored store keeps it, so it knows the change sets it logged and the stream
    /// took after the snapshot as its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

impl Store {
    /// Writes the snapshot to `out` and returns what it holds. Writes to the store wait
    /// while it is read whole into an uncompressed file in `scratch` (docs/benchmarks.md,
    /// "Backups": about 100 MB of store a second here); it is compressed into `out` after
    /// they went on.
    pub fn write_snapshot(&self, scratch: &Path, out: impl Write) -> ApiResult<SnapshotInfo> {
        std::fs::create_dir_all(scratch).map_err(io_error)?;
        let path = scratch.join(format!("snapshot-{}.raw", crate::platform::new_id()));
        let outcome = self.write_raw(&path).and_then(|info| {
            let mut raw = std::fs::File::open(&path).map_err(io_error)?;
            let mut out = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            std::io::copy(&mut raw, &mut out).map_err(io_error)?;
            out.finish().map_err(io_error)?;
            Ok(info)
        });
        let _ = std::fs::remove_file(&path);
        outcome
    }

    /// The frames of the snapshot, uncompressed, into the file `path`, under the gate.
    fn write_raw(&self, path: &Path) -> ApiResult<SnapshotInfo> {
        let file = std::fs::File::create(path).map_err(io_error)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let _alone = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let mut info = SnapshotInfo {
            format: FORMAT,
            lsn: self.get(changes::LSN)?.unwrap_or(0),
            applied_floor: self.get(APPLIED_FLOOR)?.unwrap_or(0),
            keys: 0,
            replica: self
                .db
                .get(super::replica::REPLICA_ID)?
                .map(|id| String::from_utf8_lossy(&id).into_owned()),
        };
        // The count is not known yet: the header says 0 and the end entry says how many.
        frame(&mut out, &info)?;
        for (id, name) in (0u8..).zip(TREES) {
            for item in self.db.open_tree(name)?.iter() {
                let (key, value) = item?;
                entry(&mut out, id, &key, &value)?;
                info.keys += 1;
            }
        }
        out.write_all(&[END]).map_err(io_error)?;
        out.write_all(&info.keys.to_le_bytes()).map_err(io_error)?;
        out.flush().map_err(io_error)?;
        Ok(info)
    }
}

/// Reads the snapshot in `input` into a new store at `path` (which must not exist), with
/// the restore's `mark` when given, flushes it, and returns what it held. The whole file
/// is checked: a truncated one, a count that disagrees or an unknown format is an error,
/// and `path` is removed again.
pub fn restore(
    path: &Path,
    input: impl Read,
    mark: Option<&Restored>,
    reseal: Option<&Resealing>,
) -> anyhow::Result<SnapshotInfo> {
    anyhow::ensure!(!path.exists(), "{} already exists", path.display());
    // One open of the new database: sled 0.34 lets go of its lock only once its
    // background threads are done, so opening it again at once can fail.
    let outcome = fill(path, input, mark, reseal);
    if outcome.is_err() {
        let _ = std::fs::remove_dir_all(path);
    }
    outcome
}

fn fill(
    path: &Path,
    input: impl Read,
    mark: Option<&Restored>,
    reseal: Option<&Resealing>,
) -> anyhow::Result<SnapshotInfo> {
    let mut input = flate2::read::GzDecoder::new(input);
    let mut buffer = Vec::new();
    let mut info: SnapshotInfo = serde_json::from_slice(next_frame(&mut input, &mut buffer)?)?;
    anyhow::ensure!(
        info.format == FORMAT,
        "snapshot format {} is not {FORMAT}, the one this build reads",
        info.format
    );
    let db = sled::Config::new().path(path).open()?;
    if let Some(replica) = &info.replica {
        db.insert(super::replica::REPLICA_ID, replica.as_bytes())?;
    }
    let trees = TREES.map(|name| db.open_tree(name));
    let mut held = 0u64;
    let (mut key, mut value) = (Vec::new(), Vec::new());
    loop {
        let [tree] = read_array::<1>(&mut input)?;
        if tree == END {
            let count = u64::from_le_bytes(read_array(&mut input)?);
            anyhow::ensure!(
                count == held,
                "the snapshot says {count} keys, it held {held}"
            );
            // Reading to the end checks gzip's CRC of the whole.
            let trailing = std::io::copy(&mut input, &mut std::io::sink())?;
            anyhow::ensure!(trailing == 0, "{trailing} bytes after the snapshot's end");
            break;
        }
        let id = tree;
        let tree = trees
            .get(usize::from(tree))
            .ok_or_else(|| anyhow::anyhow!("unknown tree {tree}"))?
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let key_len = u32::from_le_bytes(read_array(&mut input)?) as usize;
        let value_len = u32::from_le_bytes(read_array(&mut input)?) as usize;
        read_into(&mut input, &mut key, key_len)?;
        read_into(&mut input, &mut value, value_len)?;
        match (reseal, TREES.get(usize::from(id))) {
            (Some(reseal), Some(&"data" | &"_outbox")) => {
                tree.insert(key.as_slice(), reseal.value(&key, &value)?)?
            }
            (Some(reseal), Some(&"_changes")) => {
                tree.insert(key.as_slice(), reseal.change_set(&value)?)?
            }
            _ => tree.insert(key.as_slice(), value.as_slice())?,
        };
        held += 1;
    }
    if let Some(mark) = mark {
        db.insert(RESTORED, serde_json::to_vec(mark)?)?;
    }
    db.flush()?;
    info.keys = held;
    Ok(info)
}

/// The key, in the database's default tree (not replicated, not in snapshots), of the
/// [`Restored`] mark a restore leaves.
const RESTORED: &[u8] = b"restored";

/// What a restore leaves in the store it put in place, until the context's consumer has
/// been made anew from the snapshot's applied floor ([`Store::restored`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    /// The backup it came from.
    pub backup: String,
    /// The creation time of the event stream its applied floor counts in, when known.
    pub stream_created: Option<String>,
}

impl Store {
    /// The mark of a restore whose replay has not started yet.
    pub fn restored(&self) -> ApiResult<Option<Restored>> {
        match self.db.get(RESTORED)? {
            Some(bytes) => Ok(Some(from_json(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Removes the restore's mark: the consumer replays from the floor now.
    pub fn forget_restored(&self) -> ApiResult<()> {
        self.db.remove(RESTORED)?;
        Ok(())
    }

    /// Forgets which consumed events were applied (floor 0, an empty dedup set): for a
    /// store restored against another event stream than the one its floor counts in.
    pub fn forget_applied(&self) -> ApiResult<()> {
        let held = self.consumed.iter().keys().collect::<Result<Vec<_>, _>>()?;
        self.write_now(|tx| {
            tx.put(APPLIED_FLOOR, &0u64)?;
            for key in &held {
                let seq = key.as_ref().try_into().map_or(0, u64::from_be_bytes);
                tx.set_consumed(seq, false)?;
            }
            Ok(())
        })
    }
}

fn frame(out: &mut impl Write, value: &impl Serialize) -> ApiResult<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| ApiError::Internal(format!("encoding a snapshot header: {e}")))?;
    let len = u32::try_from(bytes.len())
        .map_err(|_| ApiError::Internal("a snapshot entry over 4 GiB".into()))?;
    out.write_all(&len.to_le_bytes()).map_err(io_error)?;
    out.write_all(&bytes).map_err(io_error)
}

/// One key of tree `tree`, as the layout says.
fn entry(out: &mut impl Write, tree: u8, key: &[u8], value: &[u8]) -> ApiResult<()> {
    let len = |b: &[u8]| {
        u32::try_from(b.len()).map_err(|_| ApiError::Internal("a key or value over 4 GiB".into()))
    };
    out.write_all(&[tree]).map_err(io_error)?;
    out.write_all(&len(key)?.to_le_bytes()).map_err(io_error)?;
    out.write_all(&len(value)?.to_le_bytes())
        .map_err(io_error)?;
    out.write_all(key).map_err(io_error)?;
    out.write_all(value).map_err(io_error)
}

fn read_array<const N: usize>(input: &mut impl Read) -> anyhow::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    input
        .read_exact(&mut bytes)
        .map_err(|e| anyhow::anyhow!("the snapshot ends early: {e}"))?;
    Ok(bytes)
}

fn read_into(input: &mut impl Read, buffer: &mut Vec<u8>, len: usize) -> anyhow::Result<()> {
    buffer.resize(len, 0);
    input
        .read_exact(buffer)
        .map_err(|e| anyhow::anyhow!("the snapshot ends early: {e}"))
}

fn next_frame<'b>(input: &mut impl Read, buffer: &'b mut Vec<u8>) -> anyhow::Result<&'b [u8]> {
    let mut len = [0u8; 4];
    input
        .read_exact(&mut len)
        .map_err(|e| anyhow::anyhow!("the snapshot ends early: {e}"))?;
    buffer.resize(u32::from_le_bytes(len) as usize, 0);
    input
        .read_exact(buffer)
        .map_err(|e| anyhow::anyhow!("the snapshot ends early: {e}"))?;
    Ok(buffer)
}

fn io_error(e: std::io::Error) -> ApiError {
    ApiError::Internal(format!("writing a snapshot: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with(keys: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("posts")).unwrap();
        for i in 0..keys {
            store
                .write(|tx| tx.put(format!("post/{i:04}").as_bytes(), &i))
                .await
                .unwrap();
        }
        store.raise_applied_floor(42).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_restored_snapshot_holds_every_key_and_the_floor() {
        let (dir, store) = store_with(300).await;
        store.replica_id().unwrap();
        let mut file = Vec::new();
        let info = store.write_snapshot(dir.path(), &mut file).unwrap();
        assert_eq!(info.applied_floor, 42);
        let target = dir.path().join("restored");
        let restored = restore(&target, file.as_slice(), None, None).unwrap();
        assert_eq!(restored, info);
        let back = Store::open(&target).unwrap();
        // The restored copy is the same replica: the change sets it logged are its own.
        assert_eq!(back.replica_id().unwrap(), store.replica_id().unwrap());
        let value: Option<usize> = back.get(b"post/0299").unwrap();
        assert_eq!(value, Some(299));
        assert_eq!(back.applied_floor().unwrap(), 42);
        assert_eq!(back.data.len(), store.data.len());
    }

    #[tokio::test]
    async fn a_truncated_snapshot_is_refused_and_leaves_nothing() {
        let (dir, store) = store_with(50).await;
        let mut file = Vec::new();
        store.write_snapshot(dir.path(), &mut file).unwrap();
        // Cut inside the compressed entries, and one byte short of the whole.
        for cut in [file.len() / 2, file.len() - 1] {
            let target = dir.path().join(format!("cut-{cut}"));
            assert!(
                restore(&target, &file[..cut], None, None).is_err(),
                "cut at {cut}"
            );
            assert!(!target.exists());
        }
    }

    #[tokio::test]
    async fn restore_never_writes_over_an_existing_directory() {
        let (dir, store) = store_with(1).await;
        let mut file = Vec::new();
        store.write_snapshot(dir.path(), &mut file).unwrap();
        let error = restore(&dir.path().join("posts"), file.as_slice(), None, None).unwrap_err();
        assert!(error.to_string().contains("already exists"), "{error}");
    }
}
