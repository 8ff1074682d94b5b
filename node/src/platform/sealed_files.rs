//! Encryption at rest of a context's content-addressed files (media's blobs): a file is
//! stored as `MAGIC (8) ‖ nonce (24) ‖ XChaCha20(bytes)`, under a key derived from the
//! platform's key for the context (`agora/files/<context>`) and a fresh nonce per file,
//! so the volume (and a backup's copy) shows no picture or video without the Secret.
//!
//! A stream cipher, so any range of a file reads without what comes before (a video
//! seeks). It is not authenticated by range: a file's name is the SHA-256 of its bytes,
//! and whole reads (a restore, a migration) check the bytes against it.
//!
//! A file says how it is stored: every accepted upload and every rendition starts with
//! its format's own magic bytes, never with [`MAGIC`], so files written before sealing
//! (or on a platform without a key) are read as they are, and sealed in the background
//! ([`seal_in_place`]).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use chacha20::XChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use super::keyring::PlatformKey;

/// The first bytes of a sealed file (the first is no format's first byte).
pub const MAGIC: [u8; 8] = *b"\xFFagoraF1";
const NONCE: usize = 24;
/// The bytes before a sealed file's content.
pub const HEADER: usize = MAGIC.len() + NONCE;
/// The size of the chunks a file is read in, as tower-http's `ServeFile` does: small
/// chunks cost a frame each, and a response of many of them can wait on delayed ACKs.
const CHUNK: usize = 64 * 1024;

/// Seals and opens one context's files.
#[derive(Clone)]
pub struct FileSealer {
    key: [u8; 32],
}

/// The keystream one file is sealed with, positioned at a byte of its content.
pub struct Keystream(XChaCha20);

impl Keystream {
    /// Seals or opens `bytes` (the same operation), moving on by their length.
    pub fn apply(&mut self, bytes: &mut [u8]) {
        self.0.apply_keystream(bytes);
    }

    /// Moves to byte `position` of the content.
    pub fn seek(&mut self, position: u64) {
        self.0.seek(position);
    }
}

impl FileSealer {
    pub fn new(platform: &PlatformKey, context: &str) -> FileSealer {
        FileSealer {
            key: platform.derive(&format!("agora/files/{context}")),
        }
    }

    /// A new file's header, and the keystream its content is sealed with.
    pub fn start(&self) -> ([u8; HEADER], Keystream) {
        let nonce: [u8; NONCE] = rand::random();
        let mut header = [0; HEADER];
        let (magic, rest) = header.split_at_mut(MAGIC.len());
        magic.copy_from_slice(&MAGIC);
        rest.copy_from_slice(&nonce);
        (header, self.keystream(&nonce))
    }

    fn keystream(&self, nonce: &[u8; NONCE]) -> Keystream {
        Keystream(XChaCha20::new(&self.key.into(), &(*nonce).into()))
    }
}

/// The nonce of a sealed file, from its first bytes; `None`: a plain file.
pub fn nonce(head: &[u8]) -> Option<[u8; NONCE]> {
    if head.get(..MAGIC.len()) != Some(&MAGIC) {
        return None;
    }
    head.get(MAGIC.len()..HEADER)?.try_into().ok()
}

/// Reads up to [`HEADER`] bytes from the start of `file`.
fn read_head(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEADER);
    Read::by_ref(file)
        .take(HEADER as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// A stored file read as its content: opened when sealed, as it is when plain.
pub struct PlainFile {
    file: std::fs::File,
    keystream: Option<Keystream>,
    /// Where the content starts in the file.
    start: u64,
    len: u64,
}

impl PlainFile {
    /// Opens `path`; a sealed file needs `sealer` (the key of the platform that sealed it).
    pub fn open(path: &Path, sealer: Option<&FileSealer>) -> std::io::Result<PlainFile> {
        let mut file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        let head = read_head(&mut file)?;
        let (keystream, start) = match nonce(&head) {
            None if head.starts_with(&MAGIC) => {
                return Err(std::io::Error::other("a sealed file cut short"));
            }
            None => (None, 0),
            Some(nonce) => {
                let sealer = sealer.ok_or_else(|| {
                    std::io::Error::other(
                        "a sealed file, and no platform key to open it (AGORA_ENCRYPTION_KEY)",
                    )
                })?;
                (Some(sealer.keystream(&nonce)), HEADER as u64)
            }
        };
        file.seek(SeekFrom::Start(start))?;
        Ok(PlainFile {
            file,
            keystream,
            start,
            len: size - start,
        })
    }

    /// The length of the content.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_sealed(&self) -> bool {
        self.keystream.is_some()
    }

    /// The content from byte `from`, `len` bytes of it, as a stream of chunks.
    pub fn chunks(
        mut self,
        from: u64,
        len: u64,
    ) -> std::io::Result<impl Stream<Item = std::io::Result<bytes::Bytes>> + Send + use<>> {
        self.seek(SeekFrom::Start(from))?;
        let mut keystream = self.keystream;
        let file = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(self.file), len);
        Ok(
            tokio_util::io::ReaderStream::with_capacity(file, CHUNK).map(move |chunk| {
                match &mut keystream {
                    None => chunk,
                    Some(keystream) => chunk.map(|sealed| {
                        let mut plain = sealed.to_vec();
                        keystream.apply(&mut plain);
                        plain.into()
                    }),
                }
            }),
        )
    }
}

impl Read for PlainFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        if let (Some(keystream), Some(read)) = (&mut self.keystream, buf.get_mut(..n)) {
            keystream.apply(read);
        }
        Ok(n)
    }
}

impl Seek for PlainFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let at = self.file.stream_position()? - self.start;
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => at.checked_add_signed(d),
        }
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "before the start"))?;
        self.file.seek(SeekFrom::Start(self.start + target))?;
        if let Some(keystream) = &mut self.keystream {
            keystream.seek(target);
        }
        Ok(target)
    }
}

/// Writes what `source` reads into a new file at `to`, sealed when `sealer` is given,
/// and syncs it; returns the SHA-256 (lowercase hex) and length of the content.
pub fn write(
    mut source: impl Read,
    to: &Path,
    sealer: Option<&FileSealer>,
) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::create(to)?;
    let mut keystream = match sealer {
        Some(sealer) => {
            let (header, keystream) = sealer.start();
            file.write_all(&header)?;
            Some(keystream)
        }
        None => None,
    };
    let (mut hasher, mut len) = (Sha256::new(), 0u64);
    let mut buf = vec![0; CHUNK];
    loop {
        let n = source.read(&mut buf)?;
        let Some(chunk) = buf.get_mut(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        hasher.update(&*chunk);
        len += n as u64;
        if let Some(keystream) = &mut keystream {
            keystream.apply(chunk);
        }
        file.write_all(chunk)?;
    }
    file.sync_all()?;
    Ok((format!("{:x}", hasher.finalize()), len))
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

/// Seals the plain file at `path` (through `scratch`); false when it was sealed already.
/// Blocking.
pub fn seal_in_place(path: &Path, scratch: &Path, sealer: &FileSealer) -> std::io::Result<bool> {
    if PlainFile::open(path, Some(sealer))?.is_sealed() {
        return Ok(false);
    }
    rewrite(path, scratch, None, Some(sealer))?;
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
) -> std::io::Result<impl Stream<Item = std::io::Result<bytes::Bytes>> + Send + use<>> {
    let content = PlainFile::open(path, sealer)?;
    let keystream = content.keystream;
    let mut file = content.file;
    file.seek(SeekFrom::Start(0))?;
    let raw = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), CHUNK);
    let start = HEADER as u64 * u64::from(keystream.is_some());
    let check = Check {
        raw,
        hasher: Sha256::new(),
        keystream,
        header_left: start,
        expected: sha256.to_string(),
    };
    Ok(futures::stream::unfold(Some(check), |check| async move {
        let mut check = check?;
        match check.raw.next().await {
            Some(Ok(chunk)) => {
                check.take(&chunk);
                Some((Ok(chunk), Some(check)))
            }
            Some(Err(e)) => Some((Err(e), None)),
            None if format!("{:x}", check.hasher.finalize_reset()) == check.expected => None,
            None => Some((
                Err(std::io::Error::other("the file does not hash to its name")),
                None,
            )),
        }
    }))
}

/// What [`stored_chunks_checked`] keeps between chunks.
struct Check {
    raw: tokio_util::io::ReaderStream<tokio::fs::File>,
    hasher: Sha256,
    keystream: Option<Keystream>,
    /// Bytes of the header still to pass (not hashed).
    header_left: u64,
    expected: String,
}

impl Check {
    /// Hashes the content in a stored chunk.
    fn take(&mut self, chunk: &[u8]) {
        let skip = usize::try_from(self.header_left)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        self.header_left -= skip as u64;
        let Some(content) = chunk.get(skip..) else {
            return;
        };
        match &mut self.keystream {
            Some(keystream) => {
                let mut plain = content.to_vec();
                keystream.apply(&mut plain);
                self.hasher.update(&plain);
            }
            None => self.hasher.update(content),
        }
    }
}

/// The nonce of the file at `path` in hex when it is sealed: what tells two sealings of
/// the same content apart (a backup stores each under its own name).
pub fn seal_id(path: &Path) -> std::io::Result<Option<String>> {
    let head = read_head(&mut std::fs::File::open(path)?)?;
    Ok(nonce(&head).map(|n| n.iter().map(|b| format!("{b:02x}")).collect()))
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

    #[test]
    fn a_sealed_file_shows_nothing_and_reads_back_from_any_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sealer) = (dir.path().join("f"), sealer(1));
        let content = content();
        let (sha, len) = write(content.as_slice(), &path, Some(&sealer)).unwrap();
        assert_eq!(sha, format!("{:x}", Sha256::digest(&content)));
        assert_eq!(len, content.len() as u64);
        let stored = std::fs::read(&path).unwrap();
        assert_eq!(stored.len(), HEADER + content.len());
        let run = &content[1_000..1_064];
        assert!(
            !stored.windows(run.len()).any(|w| w == run),
            "no run of the content is on disk"
        );
        let mut file = PlainFile::open(&path, Some(&sealer)).unwrap();
        assert!(file.is_sealed() && file.len() == len);
        file.seek(SeekFrom::Start(123_457)).unwrap();
        let mut middle = [0; 1000];
        file.read_exact(&mut middle).unwrap();
        assert_eq!(middle.as_slice(), &content[123_457..124_457]);
        assert_eq!(content_sha256(&path, Some(&sealer)).unwrap(), sha);
        assert_ne!(content_sha256(&path, Some(&self::sealer(2))).unwrap(), sha);
        assert!(PlainFile::open(&path, None).is_err(), "no key, no reading");
    }

    #[tokio::test]
    async fn a_range_streams_as_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let (path, sealer) = (dir.path().join("f"), sealer(1));
        write(content().as_slice(), &path, Some(&sealer)).unwrap();
        let chunks = PlainFile::open(&path, Some(&sealer))
            .unwrap()
            .chunks(70_000, 100_001)
            .unwrap();
        let got: Vec<u8> = chunks.map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(got.as_slice(), &content()[70_000..170_001]);
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
    }

    #[test]
    fn a_plain_file_is_read_as_it_is_and_sealed_once_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (path, scratch, sealer) = (dir.path().join("f"), dir.path().join("s"), sealer(1));
        std::fs::write(&path, content()).unwrap();
        let plain = PlainFile::open(&path, None).unwrap();
        assert!(!plain.is_sealed() && plain.len() == content().len() as u64);
        assert_eq!(seal_id(&path).unwrap(), None);
        assert!(seal_in_place(&path, &scratch, &sealer).unwrap());
        let id = seal_id(&path).unwrap().expect("sealed");
        assert!(!seal_in_place(&path, &scratch, &sealer).unwrap());
        assert_eq!(seal_id(&path).unwrap(), Some(id), "sealed once");
        let mut back = Vec::new();
        PlainFile::open(&path, Some(&sealer))
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, content());
        let other = self::sealer(9);
        rewrite(&path, &scratch, Some(&sealer), Some(&other)).unwrap();
        assert_eq!(
            content_sha256(&path, Some(&other)).unwrap(),
            format!("{:x}", Sha256::digest(content()))
        );
    }
}
