//! Encryption at rest of a context's content-addressed files (media's blobs), under keys
//! derived from the platform's key for the context, so the volume (and a backup's copy)
//! shows no picture or video without the Secret.
//!
//! A file is written as a sealed block file ([`super::sealed_blocks`]): 4 KiB blocks, each
//! XChaCha20-Poly1305 under the STREAM construction, bound to the context's name. A `Range`
//! (a video seeking) opens only the blocks under it, and each is authenticated: a changed
//! byte on the volume fails the read that covers it instead of reaching a viewer.
//!
//! Files sealed before (`MAGIC (8) ‖ nonce (24) ‖ XChaCha20(content)`, a stream cipher not
//! authenticated by range) are still read, and rewritten as blocks in the background
//! ([`seal_in_place`]), as are files written plain (before sealing, or on a platform
//! without a key): every accepted upload and every rendition starts with its format's own
//! magic bytes, never with a sealed file's first byte, so a file says how it is stored.
//! Whole reads (a restore, a backup, the migration) also check the content against its
//! name, the SHA-256 of its bytes.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use chacha20::XChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::keyring::PlatformKey;
use super::sealed_blocks::{self, BlockSealer, Opener, SealingWriter};

/// The first bytes of a file sealed by the stream cipher (read, never written any more).
const STREAM_MAGIC: [u8; 8] = *b"\xFFagoraF1";
const NONCE: usize = 24;
/// The bytes before a stream-sealed file's content.
const STREAM_HEADER: usize = STREAM_MAGIC.len() + NONCE;
/// The bytes a file's head is read for (the longer of the two headers).
const HEAD: usize = if STREAM_HEADER > sealed_blocks::HEADER {
    STREAM_HEADER
} else {
    sealed_blocks::HEADER
};
/// The size of the chunks a file is read in, as tower-http's `ServeFile` does: small
/// chunks cost a frame each, and a response of many of them can wait on delayed ACKs.
/// Sixteen blocks.
const CHUNK: usize = 16 * sealed_blocks::BLOCK;

/// Seals and opens one context's files.
#[derive(Clone)]
pub struct FileSealer {
    /// The key of files sealed by the stream cipher.
    stream_key: [u8; 32],
    blocks: BlockSealer,
    /// What every block is bound to: files do not move between contexts.
    context: String,
}

impl FileSealer {
    pub fn new(platform: &PlatformKey, context: &str) -> FileSealer {
        FileSealer {
            stream_key: platform.derive(&format!("agora/files/{context}")),
            blocks: BlockSealer::new(platform.derive(&format!("agora/files/{context}/blocks"))),
            context: context.to_owned(),
        }
    }

    /// A writer sealing a new file into `inner` (its header first).
    fn writer<W: Write>(&self, inner: W) -> std::io::Result<SealingWriter<W>> {
        self.blocks.writer(inner, &self.context)
    }

    /// Sealing for a file written by async code: what to append after each piece.
    pub fn sealing(&self) -> std::io::Result<Sealing> {
        Ok(Sealing(self.writer(Vec::new())?))
    }

    fn keystream(&self, nonce: &[u8; NONCE]) -> XChaCha20 {
        XChaCha20::new(&self.stream_key.into(), &(*nonce).into())
    }
}

/// A file being sealed piece by piece ([`FileSealer::sealing`]).
pub struct Sealing(SealingWriter<Vec<u8>>);

impl Sealing {
    /// Seals `piece`; returns the sealed bytes to append to the file (the header with the
    /// first piece; whole blocks only, the rest waits for more or for `finish`).
    pub fn seal(&mut self, piece: &[u8]) -> std::io::Result<Vec<u8>> {
        self.0.write_all(piece)?;
        Ok(std::mem::take(self.0.inner_mut()))
    }

    /// The file's last sealed bytes.
    pub fn finish(mut self) -> std::io::Result<Vec<u8>> {
        self.0.finish()?;
        Ok(self.0.into_inner())
    }
}

/// A file's bytes as a stream of chunks.
pub type Chunks = futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// How a stored file's content is read.
enum Stored {
    Plain,
    /// Sealed by the stream cipher: the keystream, positioned at each read.
    Stream(Box<XChaCha20>),
    /// Sealed in blocks: each read opens the blocks under it.
    Blocks(Opener),
}

/// A stored file read as its content: opened when sealed, as it is when plain.
pub struct PlainFile {
    file: std::fs::File,
    stored: Stored,
    /// Where the content starts in the file (plain and stream-sealed files).
    start: u64,
    len: u64,
    /// The position in the content.
    at: u64,
}

impl PlainFile {
    /// Opens `path`; a sealed file needs `sealer` (the key of the platform that sealed it).
    pub fn open(path: &Path, sealer: Option<&FileSealer>) -> std::io::Result<PlainFile> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        let mut head = vec![0; HEAD.min(usize::try_from(size).unwrap_or(HEAD))];
        file.read_exact_at(&mut head, 0)?;
        let sealed = head.starts_with(&STREAM_MAGIC) || sealed_blocks::is_sealed(&head);
        let sealer = match (sealed, sealer) {
            (false, _) => None,
            (true, Some(sealer)) => Some(sealer),
            (true, None) => {
                return Err(std::io::Error::other(
                    "a sealed file, and no platform key to open it (AGORA_ENCRYPTION_KEY)",
                ));
            }
        };
        let (stored, start, len) = match sealer {
            None => (Stored::Plain, 0, size),
            Some(sealer) if sealed_blocks::is_sealed(&head) => {
                let size = usize::try_from(size).map_err(std::io::Error::other)?;
                let opener = sealer.blocks.opener(&head, size, &sealer.context)?;
                let len = opener.len() as u64;
                (Stored::Blocks(opener), 0, len)
            }
            Some(sealer) => {
                let nonce: [u8; NONCE] = head
                    .get(STREAM_MAGIC.len()..STREAM_HEADER)
                    .and_then(|n| n.try_into().ok())
                    .ok_or_else(|| std::io::Error::other("a sealed file cut short"))?;
                let keystream = Box::new(sealer.keystream(&nonce));
                let start = STREAM_HEADER as u64;
                (Stored::Stream(keystream), start, size - start)
            }
        };
        Ok(PlainFile {
            file,
            stored,
            start,
            len,
            at: 0,
        })
    }

    /// The length of the content.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it is stored sealed in blocks (as every file is written now).
    pub fn is_sealed_in_blocks(&self) -> bool {
        matches!(self.stored, Stored::Blocks(_))
    }

    /// The content from byte `from`, `len` bytes of it, as a stream of chunks (each read
    /// on the blocking pool, as `tokio::fs` reads).
    pub fn chunks(mut self, from: u64, len: u64) -> std::io::Result<Chunks> {
        self.seek(SeekFrom::Start(from))?;
        let end = from.saturating_add(len).min(self.len);
        Ok(
            futures::stream::try_unfold(self, move |mut file| async move {
                let left = end.saturating_sub(file.at);
                if left == 0 {
                    return Ok(None);
                }
                let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
                let (file, chunk) = tokio::task::spawn_blocking(move || {
                    let mut chunk = vec![0; n];
                    file.read_exact(&mut chunk)?;
                    Ok::<_, std::io::Error>((file, chunk))
                })
                .await
                .map_err(std::io::Error::other)??;
                Ok(Some((bytes::Bytes::from(chunk), file)))
            })
            .boxed(),
        )
    }
}

impl Read for PlainFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.at);
        let mut n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        // Whole blocks when the buffer allows, so a pass opens each block once.
        let aligned = (self.at as usize + n) / sealed_blocks::BLOCK * sealed_blocks::BLOCK;
        if aligned > self.at as usize {
            n = aligned - self.at as usize;
        }
        let Some(out) = buf.get_mut(..n).filter(|out| !out.is_empty()) else {
            return Ok(0);
        };
        match &mut self.stored {
            Stored::Plain => self.file.read_exact_at(out, self.start + self.at)?,
            Stored::Stream(keystream) => {
                self.file.read_exact_at(out, self.start + self.at)?;
                keystream.seek(self.at);
                keystream.apply_keystream(out);
            }
            Stored::Blocks(opener) => {
                let at = self.at as usize;
                let opened = opener.read(at..at + n, |r| {
                    let mut sealed = vec![0; r.len()];
                    self.file.read_exact_at(&mut sealed, r.start as u64)?;
                    Ok(sealed)
                })?;
                out.copy_from_slice(&opened);
            }
        }
        self.at += n as u64;
        Ok(n)
    }
}

impl Seek for PlainFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.at.checked_add_signed(d),
        }
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "before the start"))?;
        self.at = target;
        Ok(target)
    }
}

/// Writes what `source` reads into a new file at `to`, sealed when `sealer` is given,
/// and syncs it; returns the SHA-256 (lowercase hex) and length of the content.
pub fn write(
    source: impl Read,
    to: &Path,
    sealer: Option<&FileSealer>,
) -> std::io::Result<(String, u64)> {
    let file = std::fs::File::create(to)?;
    let mut source = Hashing(source, Sha256::new());
    let len = match sealer {
        Some(sealer) => {
            let mut out = sealer.writer(std::io::BufWriter::new(&file))?;
            let len = std::io::copy(&mut source, &mut out)?;
            out.finish()?;
            len
        }
        None => {
            let mut out = std::io::BufWriter::new(&file);
            let len = std::io::copy(&mut source, &mut out)?;
            out.flush()?;
            len
        }
    };
    file.sync_all()?;
    Ok((format!("{:x}", source.1.finalize()), len))
}

/// Hashes what is read through it.
struct Hashing<R>(R, Sha256);

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// The SHA-256 (lowercase hex) of a stored file's content.
pub fn content_sha256(path: &Path, sealer: Option<&FileSealer>) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut PlainFile::open(path, sealer)?, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Rewrites the file at `path` as `to` says (sealed with it, or plain when `None`), its
/// content opened with `from`, through `scratch` and a rename (a reader that has the file
/// open reads it whole as it was). Returns the SHA-256 of the content. Blocking.
pub fn rewrite(
    path: &Path,
    scratch: &Path,
    from: Option<&FileSealer>,
    to: Option<&FileSealer>,
) -> std::io::Result<String> {
    let (sha256, _) = write(PlainFile::open(path, from)?, scratch, to)?;
    std::fs::rename(scratch, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(sha256)
}

/// Seals the file at `path` in blocks (through `scratch`) when it is plain or sealed by
/// the stream cipher; false when it was sealed in blocks already. Blocking.
pub fn seal_in_place(path: &Path, scratch: &Path, sealer: &FileSealer) -> std::io::Result<bool> {
    if PlainFile::open(path, Some(sealer))?.is_sealed_in_blocks() {
        return Ok(false);
    }
    rewrite(path, scratch, Some(sealer), Some(sealer))?;
    Ok(true)
}

/// The file at `path` as it is stored (sealed or not), checked as it goes out: its content
/// (opened with `sealer` when sealed) must hash to `sha256`, else the stream ends with an
/// error instead of its end, so whoever copies it (a backup) never takes a damaged file
/// for a whole one. Blocking (it opens the file).
pub fn stored_chunks_checked(
    path: &Path,
    sealer: Option<&FileSealer>,
    sha256: &str,
) -> std::io::Result<Chunks> {
    let check = Check {
        stored: std::fs::File::open(path)?,
        content: Hashing(PlainFile::open(path, sealer)?, Sha256::new()),
        expected: sha256.to_string(),
    };
    Ok(futures::stream::try_unfold(check, |check| async move {
        tokio::task::spawn_blocking(move || check.next())
            .await
            .map_err(std::io::Error::other)?
    })
    .boxed())
}

/// What [`stored_chunks_checked`] reads: the stored bytes it sends, and the content it
/// hashes alongside (never longer than what is stored).
struct Check {
    stored: std::fs::File,
    content: Hashing<PlainFile>,
    expected: String,
}

impl Check {
    /// The next stored chunk, once the content as far as it has been hashed; at the end,
    /// the rest of the content hashed and compared.
    fn next(mut self) -> std::io::Result<Option<(bytes::Bytes, Check)>> {
        let mut chunk = Vec::with_capacity(CHUNK);
        let n = Read::by_ref(&mut self.stored)
            .take(CHUNK as u64)
            .read_to_end(&mut chunk)?;
        if n > 0 {
            let content = Read::by_ref(&mut self.content).take(n as u64);
            std::io::copy(&mut { content }, &mut std::io::sink())?;
            return Ok(Some((chunk.into(), self)));
        }
        std::io::copy(&mut self.content, &mut std::io::sink())?;
        if format!("{:x}", self.content.1.finalize()) != self.expected {
            return Err(std::io::Error::other("the file does not hash to its name"));
        }
        Ok(None)
    }
}

/// Which sealing of its content the file at `path` is, in hex (its nonce), when it is
/// sealed: a backup stores each under its own name.
pub fn seal_id(path: &Path) -> std::io::Result<Option<String>> {
    let mut head = Vec::with_capacity(HEAD);
    std::fs::File::open(path)?
        .take(HEAD as u64)
        .read_to_end(&mut head)?;
    let id = match head.starts_with(&STREAM_MAGIC) {
        true => head.get(STREAM_MAGIC.len()..STREAM_HEADER),
        false => sealed_blocks::seal_id(&head),
    };
    Ok(id.map(|n| n.iter().map(|b| format!("{b:02x}")).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(seed: u8) -> FileSealer {
        let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [seed; 32]);
        FileSealer::new(&PlatformKey::from_setting(&key).unwrap(), "media")
    }

    fn content() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 251) as u8).collect()
    }

    /// A file as the stream cipher sealed it (files written before blocks).
    fn write_stream_sealed(content: &[u8], path: &Path, sealer: &FileSealer) {
        let nonce = [5u8; NONCE];
        let mut sealed = content.to_vec();
        sealer.keystream(&nonce).apply_keystream(&mut sealed);
        std::fs::write(path, [&STREAM_MAGIC[..], &nonce, &sealed].concat()).unwrap();
    }

    #[test]
    fn a_sealed_file_shows_nothing_and_reads_back_from_any_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sealer) = (dir.path().join("f"), sealer(1));
        let content = content();
        let (sha, len) = write(content.as_slice(), &path, Some(&sealer)).unwrap();
        assert_eq!(sha, format!("{:x}", Sha256::digest(&content)));
        assert_eq!(len, content.len() as u64);
        let stored = std::fs::read(&path).unwrap();
        assert_eq!(stored.len(), sealed_blocks::sealed_len(content.len()));
        let run = &content[1_000..1_064];
        assert!(
            !stored.windows(run.len()).any(|w| w == run),
            "no run of the content is on disk"
        );
        let mut file = PlainFile::open(&path, Some(&sealer)).unwrap();
        assert!(file.is_sealed_in_blocks() && file.len() == len);
        file.seek(SeekFrom::Start(123_457)).unwrap();
        let mut middle = [0; 1000];
        file.read_exact(&mut middle).unwrap();
        assert_eq!(middle.as_slice(), &content[123_457..124_457]);
        assert_eq!(content_sha256(&path, Some(&sealer)).unwrap(), sha);
        assert!(
            content_sha256(&path, Some(&self::sealer(2))).is_err(),
            "another key"
        );
        assert!(PlainFile::open(&path, None).is_err(), "no key, no reading");
    }

    #[test]
    fn a_changed_byte_fails_the_reads_over_it_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sealer) = (dir.path().join("f"), sealer(1));
        let content = content();
        write(content.as_slice(), &path, Some(&sealer)).unwrap();
        let mut stored = std::fs::read(&path).unwrap();
        // A byte in the block holding content byte 100,000.
        let block = 100_000 / sealed_blocks::BLOCK;
        stored[sealed_blocks::HEADER + block * (sealed_blocks::BLOCK + 16) + 9] ^= 1;
        std::fs::write(&path, &stored).unwrap();
        let read = |at: u64, n: usize| {
            let mut file = PlainFile::open(&path, Some(&sealer)).unwrap();
            file.seek(SeekFrom::Start(at)).unwrap();
            let mut out = vec![0; n];
            file.read_exact(&mut out).map(|()| out)
        };
        assert!(read(99_990, 20).is_err(), "the changed block does not open");
        assert_eq!(read(0, 50_000).unwrap(), content[..50_000]);
        assert_eq!(read(150_000, 1_000).unwrap(), content[150_000..151_000]);
    }

    #[tokio::test]
    async fn a_range_streams_as_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sealer) = (dir.path().join("f"), sealer(1));
        write(content().as_slice(), &path, Some(&sealer)).unwrap();
        let stream_sealed = dir.path().join("old");
        write_stream_sealed(&content(), &stream_sealed, &sealer);
        let whole = content().len() as u64;
        for path in [&path, &stream_sealed] {
            for (from, len) in [(70_000, 100_001), (0, whole), (65_536, 65_536), (9, 0)] {
                let chunks = PlainFile::open(path, Some(&sealer))
                    .unwrap()
                    .chunks(from, len)
                    .unwrap();
                let got: Vec<u8> = chunks.map(|c| c.unwrap().to_vec()).concat().await;
                let (from, to) = (from as usize, (from + len) as usize);
                assert_eq!(got.as_slice(), &content()[from..to], "{from}..{to}");
            }
        }
    }

    #[tokio::test]
    async fn a_stored_file_goes_out_as_it_is_and_a_damaged_one_ends_in_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sealer) = (dir.path().join("f"), sealer(1));
        let (sha, _) = write(content().as_slice(), &path, Some(&sealer)).unwrap();
        let out = |path: &Path| {
            let chunks = stored_chunks_checked(path, Some(&sealer), &sha).unwrap();
            chunks.collect::<Vec<_>>()
        };
        let whole: Vec<u8> = out(&path)
            .await
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        assert_eq!(whole, std::fs::read(&path).unwrap(), "as stored: sealed");
        let mut damaged = whole.clone();
        damaged[150_000] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let chunks = out(&path).await;
        assert!(chunks.last().unwrap().is_err(), "the damage is told");
        // Another file's content under this name: every block opens, the hash does not.
        write(&content()[1..], &path, Some(&sealer)).unwrap();
        let chunks = out(&path).await;
        assert!(chunks.last().unwrap().is_err(), "the wrong content is told");
    }

    #[test]
    fn plain_and_stream_sealed_files_are_read_as_they_are_and_sealed_in_blocks_once() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, old, scratch) = (
            dir.path().join("plain"),
            dir.path().join("old"),
            dir.path().join("s"),
        );
        let sealer = sealer(1);
        std::fs::write(&plain, content()).unwrap();
        write_stream_sealed(&content(), &old, &sealer);
        let file = PlainFile::open(&plain, None).unwrap();
        assert!(!file.is_sealed_in_blocks() && file.len() == content().len() as u64);
        assert_eq!(seal_id(&plain).unwrap(), None);
        assert_eq!(seal_id(&old).unwrap(), Some("05".repeat(NONCE)));
        for path in [&plain, &old] {
            assert_eq!(
                content_sha256(path, Some(&sealer)).unwrap(),
                format!("{:x}", Sha256::digest(content()))
            );
            assert!(seal_in_place(path, &scratch, &sealer).unwrap());
            let id = seal_id(path).unwrap().expect("sealed");
            assert!(!seal_in_place(path, &scratch, &sealer).unwrap());
            assert_eq!(seal_id(path).unwrap(), Some(id), "sealed once");
            let mut back = Vec::new();
            let mut file = PlainFile::open(path, Some(&sealer)).unwrap();
            assert!(file.is_sealed_in_blocks());
            file.read_to_end(&mut back).unwrap();
            assert_eq!(back, content());
        }
        let other = self::sealer(9);
        rewrite(&plain, &scratch, Some(&sealer), Some(&other)).unwrap();
        assert_eq!(
            content_sha256(&plain, Some(&other)).unwrap(),
            format!("{:x}", Sha256::digest(content()))
        );
    }

    #[test]
    fn pieces_sealed_for_async_writers_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sealer) = (dir.path().join("f"), sealer(1));
        let mut sealing = sealer.sealing().unwrap();
        let mut stored = Vec::new();
        for piece in content().chunks(7_001) {
            stored.extend(sealing.seal(piece).unwrap());
        }
        stored.extend(sealing.finish().unwrap());
        std::fs::write(&path, stored).unwrap();
        let mut back = Vec::new();
        PlainFile::open(&path, Some(&sealer))
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, content());
    }
}
