//! Content-addressed files on the media context's volume: `<data-dir>/media-files/sha256/
//! <first two hex digits>/<SHA-256>`. The same bytes are stored once, whoever uploads them.
//!
//! With a platform key, every file is sealed in authenticated blocks from its first byte
//! on ([`crate::platform::sealed_files`]), uploads as they stream in included; files from
//! before (plain, or sealed by the stream cipher of earlier versions) are sealed in blocks
//! in the background ([`Blobs::seal_all`]).
//!
//! A file is written to `tmp/`, synced, then renamed into place, before the record that
//! names it commits: an acknowledged upload always has its bytes. What a crash leaves
//! behind (a file no record names) is removed by the sweep, as are files whose last
//! record was deleted, once they have been unreferenced for the grace period.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::super::domain::{Format, SNIFF_BYTES};
use super::super::error::Error;
use crate::platform::error::{ApiError, ApiResult};
use crate::platform::sealed_files::{self, FileSealer, PlainFile};

/// The blob directory and the gate that keeps the sweep from removing a file an upload is
/// about to name.
#[derive(Clone)]
pub struct Blobs {
    root: PathBuf,
    /// Uploads hold it shared from placing their files until their record commits; the
    /// sweep holds it alone while it decides about one file.
    gate: Arc<tokio::sync::RwLock<()>>,
    /// Seals the files; `None` without a platform key.
    sealer: Option<FileSealer>,
}

/// An upload received on disk, not yet in place.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub format: Format,
}

fn io(e: std::io::Error) -> ApiError {
    ApiError::internal(format!("media files: {e}"))
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

impl Blobs {
    /// Opens (creating) the blob directory under `data_dir`, its files sealed by `sealer`.
    pub fn open(data_dir: &Path, sealer: Option<FileSealer>) -> std::io::Result<Self> {
        let root = data_dir.join("media-files");
        std::fs::create_dir_all(root.join("tmp"))?;
        std::fs::create_dir_all(root.join("sha256"))?;
        Ok(Blobs {
            root,
            gate: Arc::default(),
            sealer,
        })
    }

    /// The content of the blob `sha256` (opened when sealed). Blocking.
    pub fn open_content(&self, sha256: &str) -> std::io::Result<PlainFile> {
        PlainFile::open(&self.path(sha256), self.sealer.as_ref())
    }

    /// The content of a received upload. Blocking.
    pub fn open_received(&self, received: &Received) -> std::io::Result<PlainFile> {
        PlainFile::open(&received.path, self.sealer.as_ref())
    }

    /// A new file name in `tmp/`, for something not yet in place.
    pub fn scratch(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(crate::platform::new_id().to_lowercase())
    }

    /// Where the blob with this hash lives.
    pub fn path(&self, sha256: &str) -> PathBuf {
        // The layout backups know too (`platform::backup::files`).
        crate::platform::backup::files::path(&self.root.join("sha256"), sha256)
    }

    /// Sole hold of the gate: deciding that a file nobody names goes.
    pub async fn deciding(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.gate.write().await
    }

    /// Shared hold of the gate: placing files and committing their record.
    pub async fn placing(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().await
    }

    /// Receives a body into `tmp/`, hashing it as it comes: refused as soon as its first
    /// bytes are no accepted type, or once it passes `limit` bytes (nothing is kept then).
    pub async fn receive<S, E>(&self, body: S, limit: u64, limit_mib: u64) -> ApiResult<Received>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.scratch();
        let result = self.receive_into(&path, body, limit, limit_mib).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        result
    }

    async fn receive_into<S, E>(
        &self,
        path: &Path,
        mut body: S,
        limit: u64,
        limit_mib: u64,
    ) -> ApiResult<Received>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut sealing = self
            .sealer
            .as_ref()
            .map(FileSealer::sealing)
            .transpose()
            .map_err(io)?;
        let mut hasher = Sha256::new();
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let mut format = None;
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ApiError::MalformedBody(format!("upload: {e}")))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(Error::TooLarge { limit_mib }.into());
            }
            if format.is_none() {
                let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(chunk.get(..take).unwrap_or_default());
                if head.len() == SNIFF_BYTES {
                    format = Some(Format::sniff(&head).ok_or(Error::UnsupportedType)?);
                }
            }
            hasher.update(&chunk);
            match &mut sealing {
                Some(sealing) => {
                    let sealed = sealing.seal(&chunk).map_err(io)?;
                    file.write_all(&sealed).await.map_err(io)?;
                }
                None => file.write_all(&chunk).await.map_err(io)?,
            }
        }
        if let Some(sealing) = sealing {
            file.write_all(&sealing.finish().map_err(io)?)
                .await
                .map_err(io)?;
        }
        if size == 0 {
            return Err(Error::Empty.into());
        }
        let format = match format {
            Some(f) => f,
            None => Format::sniff(&head).ok_or(Error::UnsupportedType)?,
        };
        file.sync_all().await.map_err(io)?;
        Ok(Received {
            path: path.to_path_buf(),
            sha256: format!("{:x}", hasher.finalize()),
            size,
            format,
        })
    }

    /// Puts `bytes` in place (once: the same bytes already there are only touched, so the
    /// sweep leaves them). Blocking; returns the hash. Call under [`Blobs::placing`].
    pub fn put_bytes(&self, bytes: &[u8]) -> std::io::Result<String> {
        let sha256 = sha256_hex(bytes);
        let target = self.path(&sha256);
        if touch(&target)? {
            return Ok(sha256);
        }
        let tmp = self.scratch();
        sealed_files::write(bytes, &tmp, self.sealer.as_ref())?;
        self.place(&tmp, &target)?;
        Ok(sha256)
    }

    /// Puts a received file in place under its hash (or drops it when those bytes are
    /// there already). Blocking. Call under [`Blobs::placing`].
    pub fn put_received(&self, received: &Received) -> std::io::Result<()> {
        let target = self.path(&received.sha256);
        if touch(&target)? {
            return std::fs::remove_file(&received.path);
        }
        self.place(&received.path, &target)
    }

    /// Puts a file copied as stored from another replica (`scratch`, in `tmp/`) in place
    /// under `sha256`, once its content is checked against that name (a copy that does
    /// not open with this platform's key, or holds other bytes, is refused). Blocking.
    pub fn put_copy(&self, scratch: &Path, sha256: &str) -> std::io::Result<()> {
        let checked = sealed_files::content_sha256(scratch, self.sealer.as_ref());
        if !matches!(&checked, Ok(found) if found == sha256) {
            let _ = std::fs::remove_file(scratch);
            return Err(std::io::Error::other(format!(
                "the copy of {sha256} holds other content ({checked:?})"
            )));
        }
        let target = self.path(sha256);
        if touch(&target)? {
            return std::fs::remove_file(scratch);
        }
        self.place(scratch, &target)
    }

    /// Whether the blob `sha256` is on this volume.
    pub fn holds(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    /// Every blob on this volume, by hash. Blocking.
    pub fn all(&self) -> std::io::Result<Vec<String>> {
        let mut all = Vec::new();
        for shard in files(&self.root.join("sha256"))? {
            for path in files(&shard)? {
                if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                    all.push(name.to_string());
                }
            }
        }
        Ok(all)
    }

    fn place(&self, tmp: &Path, target: &Path) -> std::io::Result<()> {
        let dir = target.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        std::fs::rename(tmp, target)?;
        std::fs::File::open(dir)?.sync_all()
    }

    /// Removes the blobs no record names (`referenced` says which are named) that have not
    /// been touched for `grace`, and leftovers in `tmp/` older than that. Returns how many
    /// files went.
    pub async fn sweep(
        &self,
        referenced: impl Fn(&str) -> ApiResult<bool>,
        grace: Duration,
    ) -> ApiResult<usize> {
        let old = |path: &Path| -> bool {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= grace)
        };
        let mut removed = 0;
        for path in files(&self.root.join("tmp")).map_err(io)? {
            if old(&path) && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        for shard in files(&self.root.join("sha256")).map_err(io)? {
            for path in files(&shard).map_err(io)? {
                let _alone = self.gate.write().await;
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if old(&path) && !referenced(name)? && std::fs::remove_file(&path).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

impl Blobs {
    /// Seals in blocks the files written plain (before the platform had a key, or before
    /// sealing existed) or sealed by the stream cipher (before blocks), one at a time, each
    /// away from the sweep; stops early when `stop` turns. Returns how many it sealed.
    pub async fn seal_all(&self, stop: &tokio::sync::watch::Receiver<bool>) -> ApiResult<usize> {
        let Some(sealer) = &self.sealer else {
            return Ok(0);
        };
        let mut sealed = 0;
        for shard in files(&self.root.join("sha256")).map_err(io)? {
            for path in files(&shard).map_err(io)? {
                if *stop.borrow() {
                    return Ok(sealed);
                }
                let _alone = self.gate.write().await;
                let (scratch, sealer) = (self.scratch(), sealer.clone());
                let done = tokio::task::spawn_blocking(move || {
                    sealed_files::seal_in_place(&path, &scratch, &sealer)
                })
                .await
                .map_err(ApiError::internal)?;
                match done {
                    Ok(true) => sealed += 1,
                    Ok(false) => {}
                    // Swept meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(e)),
                }
            }
        }
        Ok(sealed)
    }

    /// Removes the blob `sha256` now if no record names it (an erasure's; no grace).
    pub async fn remove_unreferenced(
        &self,
        sha256: &str,
        referenced: impl Fn(&str) -> ApiResult<bool>,
    ) -> ApiResult<bool> {
        let _alone = self.gate.write().await;
        if referenced(sha256)? {
            return Ok(false);
        }
        match std::fs::remove_file(self.path(sha256)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(e)),
        }
    }
}

/// Marks an existing file as just used; false when there is none.
fn touch(path: &Path) -> std::io::Result<bool> {
    match std::fs::File::options().append(true).open(path) {
        Ok(file) => {
            file.set_modified(SystemTime::now())?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(
        chunks: &[&'static [u8]],
    ) -> impl Stream<Item = Result<bytes::Bytes, String>> + Unpin {
        futures::stream::iter(
            chunks
                .iter()
                .map(|c| Ok(bytes::Bytes::from_static(c)))
                .collect::<Vec<_>>(),
        )
    }

    const PNG_HEAD: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

    #[tokio::test]
    async fn the_same_bytes_are_stored_once_and_swept_when_unnamed() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path(), None).unwrap();
        let a = blobs.put_bytes(b"same").unwrap();
        let b = blobs.put_bytes(b"same").unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::read(blobs.path(&a)).unwrap(), b"same");
        let kept = blobs.sweep(|_| Ok(true), Duration::ZERO).await.unwrap();
        assert_eq!(kept, 0, "a named blob stays");
        let young = blobs.sweep(|_| Ok(false), Duration::from_secs(3600)).await;
        assert_eq!(young.unwrap(), 0, "within the grace period it stays");
        assert_eq!(blobs.sweep(|_| Ok(false), Duration::ZERO).await.unwrap(), 1);
        assert!(!blobs.path(&a).exists());
    }

    #[tokio::test]
    async fn an_upload_is_hashed_as_it_streams_and_refused_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path(), Some(sealer())).unwrap();
        let (head, tail) = PNG_HEAD.split_at(10);
        let got = blobs.receive(stream(&[head, tail]), 1024, 1).await.unwrap();
        assert_eq!(got.format, Format::Png);
        assert_eq!(got.size, PNG_HEAD.len() as u64);
        assert_eq!(got.sha256, sha256_hex(PNG_HEAD));
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut blobs.open_received(&got).unwrap(), &mut content).unwrap();
        assert_eq!(content, PNG_HEAD, "sealed as it came, read back whole");
        assert!(
            !std::fs::read(&got.path)
                .unwrap()
                .windows(4)
                .any(|w| w == b"IHDR")
        );
        let over = blobs.receive(stream(&[PNG_HEAD]), 20, 1).await;
        assert!(matches!(over, Err(ApiError::PayloadTooLarge)));
        let text = blobs
            .receive(
                stream(&[b"plain text, whatever its name says; ".as_slice(); 3]),
                1024,
                1,
            )
            .await;
        assert!(matches!(text, Err(ApiError::UnsupportedMediaType(_))));
        let left: Vec<_> = files(&dir.path().join("media-files/tmp")).unwrap();
        assert_eq!(left, vec![got.path], "refused uploads leave nothing behind");
    }

    fn sealer() -> FileSealer {
        let key = crate::platform::keyring::PlatformKey::generate();
        FileSealer::new(
            &crate::platform::keyring::PlatformKey::from_setting(&key).unwrap(),
            "media",
        )
    }

    #[tokio::test]
    async fn files_from_before_sealing_are_sealed_once_and_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Blobs::open(dir.path(), None).unwrap();
        let sha = plain.put_bytes(PNG_HEAD).unwrap();
        assert_eq!(std::fs::read(plain.path(&sha)).unwrap(), PNG_HEAD);
        let blobs = Blobs::open(dir.path(), Some(sealer())).unwrap();
        let (_, stop) = tokio::sync::watch::channel(false);
        assert_eq!(blobs.seal_all(&stop).await.unwrap(), 1);
        assert_eq!(blobs.seal_all(&stop).await.unwrap(), 0, "once");
        let stored = std::fs::read(blobs.path(&sha)).unwrap();
        assert!(!stored.windows(4).any(|w| w == b"IHDR"));
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut blobs.open_content(&sha).unwrap(), &mut content).unwrap();
        assert_eq!(content, PNG_HEAD);
        assert_eq!(
            blobs.put_bytes(PNG_HEAD).unwrap(),
            sha,
            "the same bytes, still once"
        );
    }
}
