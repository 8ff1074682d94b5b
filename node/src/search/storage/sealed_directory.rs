//! The search index sealed at rest: a Tantivy [`Directory`] over [`MmapDirectory`] that
//! stores every file of the index (segments, `meta.json`, `.managed.json`) as a sealed
//! block file (`platform::sealed_blocks`) under a key derived from the platform's key
//! (`agora/search/index`), so the volume (and anything copied off it) shows no post text,
//! name or bio without the Secret.
//!
//! Tantivy reads ranges (a posting list, a dictionary block, a stored-document block): a
//! read opens only the 4 KiB blocks under it, each authenticated, so a changed file fails
//! the search instead of answering from altered bytes. What Tantivy keeps of a read (the
//! fast-field columns and dictionaries it holds while a segment is open) is kept opened,
//! in the heap instead of the page cache. Locks and the directory's own sync pass through.

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
use crate::platform::sealed_blocks::{BlockSealer, HEADER, Opener, SealingWriter};

/// The file Tantivy writes at every commit: it tells whether a directory holds an index
/// sealed with this key.
const META: &str = "meta.json";

/// An index directory whose files are sealed.
#[derive(Clone)]
pub struct SealedDirectory {
    inner: MmapDirectory,
    sealer: BlockSealer,
}

impl SealedDirectory {
    pub fn new(inner: MmapDirectory, key: &PlatformKey) -> SealedDirectory {
        SealedDirectory {
            inner,
            sealer: BlockSealer::new(key.derive("agora/search/index")),
        }
    }

    /// Whether `dir` holds an index this key did not seal (a plain one written before
    /// sealing, or one sealed under another platform's key): it cannot be read and is
    /// dropped, to be refilled from the documents.
    pub fn holds_another_index(dir: &Path, key: &PlatformKey) -> bool {
        let sealer = BlockSealer::new(key.derive("agora/search/index"));
        match std::fs::read(dir.join(META)) {
            Ok(meta) => sealer.open(&meta, META).is_err(),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for SealedDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedDirectory({:?})", self.inner)
    }
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
        Ok(Arc::new(SealedFile { sealed, opener }))
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
    sealed: Arc<dyn FileHandle>,
    opener: Opener,
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
        let content = self
            .opener
            .read(range, |sealed| self.sealed.read_bytes(sealed))?;
        Ok(OwnedBytes::new(content))
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
