//! The search index sealed at rest: a Tantivy [`Directory`] over [`MmapDirectory`] that
//! stores every file of the index (segments, `meta.json`, `.managed.json`) as a sealed
//! block file (`platform::sealed_blocks`) under a key derived from the platform's key
//! (`agora/search/index`), so the volume (and anything copied off it) shows no post text,
//! name or bio without the Secret.
//!
//! Tantivy reads ranges (a posting list, a dictionary block, a stored-document block, a
//! fast-field column): a read opens only the 4 KiB blocks under it, each authenticated, so
//! a changed file fails the search instead of answering from altered bytes. Reads come
//! back to the same blocks (a column, a common word's postings, the next term's postings
//! during a merge): opened blocks are kept in a cache bounded by bytes (a share of the
//! memory budget), as the page cache does for a plain index (it holds only sealed bytes
//! here), and a read within one block is a slice of it. Index files never change once
//! written, so a kept block never goes stale. Locks and the directory's own sync pass
//! through.

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use tantivy::HasLen;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes,
    TerminatingWrite, WatchCallback, WatchHandle, WritePtr,
};

use crate::platform::keyring::PlatformKey;
use crate::platform::sealed_blocks::{BLOCK, BlockSealer, HEADER, Opener, SealingWriter};

/// The file Tantivy writes at every commit: it tells whether a directory holds an index
/// sealed with this key.
const META: &str = "meta.json";

/// A block: the file's name and the block's number. A name is never reused (segments are
/// named by UUID) and a file never changes once written, while Tantivy opens every file
/// again at each reload of its reader (after each commit): kept by name, a block outlives
/// the handle that opened it.
///
/// A kept span of a file's content: its name, first byte and the byte past its end. A
/// block opened whole, or a read across blocks put together once (a fast-field column,
/// which every search reads whole: put together again at each search, it was a tenth of
/// a query's time).
type Span = (Arc<str>, usize, usize);

/// Blocks opened, and reads across blocks, weighed by their bytes.
type Opened = quick_cache::sync::Cache<Span, OwnedBytes, ByLength>;

/// The longest read across blocks that is kept (a column of a large segment; a merge's
/// long reads, made once, are not).
const SPAN_KEPT_MAX: usize = 4 << 20;

#[derive(Clone)]
struct ByLength;

impl quick_cache::Weighter<Span, OwnedBytes> for ByLength {
    fn weight(&self, _: &Span, bytes: &OwnedBytes) -> u64 {
        // What an entry costs besides its bytes.
        bytes.len() as u64 + 64
    }
}

/// An index directory whose files are sealed.
#[derive(Clone)]
pub struct SealedDirectory {
    inner: MmapDirectory,
    sealer: BlockSealer,
    opened: Arc<Opened>,
}

impl SealedDirectory {
    /// The directory over `inner`, keeping up to `cache_bytes` of opened blocks.
    pub fn new(inner: MmapDirectory, key: &PlatformKey, cache_bytes: u64) -> SealedDirectory {
        let items = usize::try_from(cache_bytes / BLOCK as u64)
            .unwrap_or(usize::MAX)
            .max(16);
        SealedDirectory {
            inner,
            sealer: sealer(key),
            opened: Arc::new(Opened::with_weighter(items, cache_bytes.max(1), ByLength)),
        }
    }

    /// Whether `dir` holds an index this key did not seal (a plain one written before
    /// sealing, or one sealed under another platform's key): it cannot be read and is
    /// dropped, to be refilled from the documents.
    pub fn holds_another_index(dir: &Path, key: &PlatformKey) -> bool {
        match std::fs::read(dir.join(META)) {
            Ok(meta) => sealer(key).open(&meta, META).is_err(),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for SealedDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedDirectory({:?})", self.inner)
    }
}

/// What seals the index's files: a key of its own, derived from the platform's.
fn sealer(key: &PlatformKey) -> BlockSealer {
    BlockSealer::new(key.derive("agora/search/index"))
}

/// The name a file is sealed under (its path in the index): a file renamed to another's
/// name does not open.
fn name(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn read_error(path: &Path) -> impl FnOnce(io::Error) -> OpenReadError + '_ {
    |e| OpenReadError::wrap_io_error(e, path.to_path_buf())
}

impl Directory for SealedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let sealed = self.inner.get_file_handle(path)?;
        let head = sealed
            .read_bytes(0..HEADER.min(sealed.len()))
            .map_err(read_error(path))?;
        let opener = self
            .sealer
            .opener(&head, sealed.len(), &name(path))
            .map_err(read_error(path))?;
        Ok(Arc::new(SealedFile {
            name: name(path).into(),
            sealed,
            opener,
            opened: self.opened.clone(),
        }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let inner = self.inner.open_write(path)?;
        let writer = self
            .sealer
            .writer(inner, &name(path))
            .map_err(|e| OpenWriteError::wrap_io_error(e, path.to_path_buf()))?;
        Ok(BufWriter::new(Box::new(SealedWrite(writer))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        let sealed = self.inner.atomic_read(path)?;
        self.sealer
            .open(&sealed, &name(path))
            .map_err(read_error(path))
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner
            .atomic_write(path, &self.sealer.seal(data, &name(path))?)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

/// A sealed file read as its content.
struct SealedFile {
    /// Tells its blocks apart in the cache from other files'.
    name: Arc<str>,
    sealed: Arc<dyn FileHandle>,
    opener: Opener,
    opened: Arc<Opened>,
}

impl fmt::Debug for SealedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedFile({:?})", self.sealed)
    }
}

impl HasLen for SealedFile {
    fn len(&self) -> usize {
        self.opener.len()
    }
}

impl FileHandle for SealedFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.start >= range.end {
            return Ok(OwnedBytes::empty());
        }
        if range.end > self.opener.len() {
            return Err(io::Error::other("a read past the end of an index file"));
        }
        let (first, last) = (range.start / BLOCK, (range.end - 1) / BLOCK);
        let within = |i: usize| {
            let at = i * BLOCK;
            range.start.max(at) - at..range.end.min(at + BLOCK) - at
        };
        // Most reads (a posting list, a dictionary block, a stored-document block) lie in
        // one block: a slice of it, no copy.
        if first == last {
            return Ok(self.block(first)?.slice(within(first)));
        }
        let key = (self.name.clone(), range.start, range.end);
        if let Some(span) = self.opened.get(&key) {
            return Ok(span);
        }
        let mut content = Vec::with_capacity(range.len());
        for i in first..=last {
            let block = self.block(i)?;
            let part = block.as_slice().get(within(i));
            content.extend_from_slice(part.ok_or_else(|| io::Error::other("a short block"))?);
        }
        let span = OwnedBytes::new(content);
        if range.len() <= SPAN_KEPT_MAX {
            self.opened.insert(key, span.clone());
        }
        Ok(span)
    }
}

impl SealedFile {
    /// Block `i`'s content: kept, or opened and kept.
    fn block(&self, i: usize) -> io::Result<OwnedBytes> {
        let key = (self.name.clone(), i * BLOCK, (i + 1) * BLOCK);
        if let Some(block) = self.opened.get(&key) {
            return Ok(block);
        }
        let sealed = self.sealed.read_bytes(self.opener.sealed_range(i))?;
        let block = OwnedBytes::new(self.opener.open_block(i, &sealed)?);
        self.opened.insert(key, block.clone());
        Ok(block)
    }
}

/// A file being written, sealed block by block.
struct SealedWrite(SealingWriter<WritePtr>);

impl Write for SealedWrite {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl TerminatingWrite for SealedWrite {
    fn terminate_ref(&mut self, token: AntiCallToken) -> io::Result<()> {
        self.0.finish()?;
        self.0.inner_mut().terminate_ref(token)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a panic is a failure")]

    use super::*;

    #[test]
    fn every_range_of_a_written_file_reads_back_from_the_blocks_kept_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let key = PlatformKey::from_setting(&PlatformKey::generate()).unwrap();
        let directory =
            SealedDirectory::new(MmapDirectory::open(dir.path()).unwrap(), &key, 64 << 10);
        let content: Vec<u8> = (0..3 * BLOCK + 100).map(|i| (i * 7 % 253) as u8).collect();
        let path = Path::new("seg.idx");
        let mut writer = directory.open_write(path).unwrap();
        writer.write_all(&content).unwrap();
        writer.terminate().unwrap();
        let file = directory.get_file_handle(path).unwrap();
        assert_eq!(file.len(), content.len());
        let cuts = [
            0,
            1,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            2 * BLOCK + 5,
            content.len(),
        ];
        // Twice: opened, then kept.
        for _ in 0..2 {
            for start in cuts {
                for end in cuts.into_iter().filter(|end| *end >= start) {
                    let read = file.read_bytes(start..end).unwrap();
                    assert_eq!(read.as_slice(), &content[start..end], "{start}..{end}");
                }
            }
        }
        assert!(file.read_bytes(0..content.len() + 1).is_err());

        // Tantivy opens every file again at each reload: the blocks kept stay kept. (The
        // file is changed under the cache to tell a kept block from one opened again,
        // which no longer opens; index files never change.)
        let again = directory.get_file_handle(path).unwrap();
        let mut changed = std::fs::read(dir.path().join(path)).unwrap();
        for byte in &mut changed[HEADER..] {
            *byte ^= 1;
        }
        std::fs::write(dir.path().join(path), &changed).unwrap();
        let fresh = SealedDirectory::new(MmapDirectory::open(dir.path()).unwrap(), &key, 64 << 10);
        let uncached = fresh.get_file_handle(path).unwrap();
        assert!(
            uncached.read_bytes(0..10).is_err(),
            "the change is seen when opened"
        );
        assert_eq!(again.read_bytes(0..10).unwrap().as_slice(), &content[..10]);
        let on_disk = std::fs::read(dir.path().join(path)).unwrap();
        assert!(
            !on_disk
                .windows(32)
                .any(|w| w == &content[BLOCK..BLOCK + 32])
        );
    }
}
