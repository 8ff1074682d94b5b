//! Sealed block files: a file stored as `MAGIC (8) ‖ nonce prefix (19) ‖ blocks`, where
//! block *i* is [`BLOCK`] bytes of content (the last one fewer, possibly none) sealed with
//! XChaCha20-Poly1305 under the STREAM construction (`aead-stream`'s big-endian 32-bit
//! counter and last-block flag in the nonce), bound to the file's name as associated data.
//!
//! Every block is authenticated on its own and still opens without the others: a reader
//! of any range opens only the blocks under it, and a changed, moved, reordered or cut-off
//! block (or a file sealed under another name) fails to open instead of reading as
//! something else. Used where readers ask for ranges: Tantivy's index files
//! (`search/storage/sealed_directory.rs`) and media's files ([`super::sealed_files`]).

use std::io::{self, Write};
use std::ops::Range;

use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;

/// The first bytes of a sealed block file.
pub const MAGIC: [u8; 8] = *b"\xFFagoraB1";
/// The bytes of the nonce a file chooses (STREAM takes the other five of XChaCha's 24).
const PREFIX: usize = 19;
/// The bytes before the first block.
pub const HEADER: usize = MAGIC.len() + PREFIX;
/// The content bytes of a block: near the size of the ranges Tantivy reads (a posting
/// list, a dictionary block), so a small read opens one or two blocks.
pub const BLOCK: usize = 4096;
/// The tag each sealed block carries.
const TAG: usize = 16;
const SEALED_BLOCK: usize = BLOCK + TAG;

type Stream = StreamBE32<XChaCha20Poly1305>;

/// Seals and opens files under one key.
#[derive(Clone)]
pub struct BlockSealer {
    key: [u8; 32],
}

impl BlockSealer {
    pub fn new(key: [u8; 32]) -> BlockSealer {
        BlockSealer { key }
    }

    fn stream(&self, prefix: &[u8; PREFIX]) -> Stream {
        Stream::from_aead(XChaCha20Poly1305::new(&self.key.into()), &(*prefix).into())
    }

    /// A writer that seals what it is given into `inner` as the file `name`; its header is
    /// written at once, its last block by [`SealingWriter::finish`].
    pub fn writer<W: Write>(&self, mut inner: W, name: &str) -> io::Result<SealingWriter<W>> {
        let prefix: [u8; PREFIX] = rand::random();
        inner.write_all(&MAGIC)?;
        inner.write_all(&prefix)?;
        Ok(SealingWriter {
            stream: self.stream(&prefix),
            inner,
            name: name.as_bytes().to_vec(),
            pending: Vec::with_capacity(SEALED_BLOCK),
            position: 0,
            finished: false,
        })
    }

    /// `content` sealed whole as the file `name`.
    pub fn seal(&self, content: &[u8], name: &str) -> io::Result<Vec<u8>> {
        let mut writer = self.writer(Vec::with_capacity(sealed_len(content.len())), name)?;
        writer.write_all(content)?;
        writer.finish()?;
        Ok(writer.inner)
    }

    /// The reader of the sealed file `name` whose first bytes are `head` and whose size is
    /// `sealed_len`: an error when it is no sealed file or is cut short.
    pub fn opener(&self, head: &[u8], sealed_len: usize, name: &str) -> io::Result<Opener> {
        if !is_sealed(head) {
            return Err(invalid(name, "not a sealed block file"));
        }
        let prefix: [u8; PREFIX] = head
            .get(MAGIC.len()..HEADER)
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| invalid(name, "cut short"))?;
        let body = sealed_len.saturating_sub(HEADER);
        let blocks = body.div_ceil(SEALED_BLOCK);
        // The last sealed block holds at least its tag.
        if blocks == 0 || body - (blocks - 1) * SEALED_BLOCK < TAG {
            return Err(invalid(name, "cut short"));
        }
        Ok(Opener {
            stream: self.stream(&prefix),
            name: name.to_owned(),
            blocks,
            len: body - blocks * TAG,
        })
    }

    /// Opens a whole sealed file.
    pub fn open(&self, sealed: &[u8], name: &str) -> io::Result<Vec<u8>> {
        let opener = self.opener(sealed, sealed.len(), name)?;
        opener.read(0..opener.len(), |r| {
            sealed.get(r).ok_or_else(|| invalid(name, "cut short"))
        })
    }
}

/// The nonce prefix a sealed block file chose (what tells two sealings of the same
/// content apart), from its first bytes; `None`: no sealed block file.
pub fn seal_id(head: &[u8]) -> Option<&[u8]> {
    head.get(MAGIC.len()..HEADER).filter(|_| is_sealed(head))
}

/// Whether `head` starts a sealed block file.
pub fn is_sealed(head: &[u8]) -> bool {
    head.starts_with(&MAGIC)
}

/// The size of a sealed file of `len` content bytes: every block carries a tag, and an
/// empty file is one empty block.
pub fn sealed_len(len: usize) -> usize {
    HEADER + len + len.div_ceil(BLOCK).max(1) * TAG
}

fn invalid(name: &str, what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {what}"))
}

/// Seals what it is written into a sealed block file.
pub struct SealingWriter<W: Write> {
    stream: Stream,
    inner: W,
    name: Vec<u8>,
    /// Content not sealed yet, at most a block: it is sealed once more follows it, since
    /// the last block is sealed as the last.
    pending: Vec<u8>,
    position: u32,
    finished: bool,
}

impl<W: Write> SealingWriter<W> {
    /// Seals the pending block (at most [`BLOCK`] bytes) and writes it.
    fn seal_block(&mut self, last: bool) -> io::Result<()> {
        self.stream
            .encrypt_in_place(self.position, last, &self.name, &mut self.pending)
            .map_err(|_| io::Error::other("a block could not be sealed"))?;
        self.position = self
            .position
            .checked_add(1)
            .ok_or_else(|| io::Error::other("a sealed file of more than 2^32 blocks"))?;
        self.inner.write_all(&self.pending)?;
        self.pending.clear();
        Ok(())
    }

    /// Seals the last block. Nothing may be written after.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.seal_block(true)?;
        self.finished = true;
        self.inner.flush()
    }

    /// The writer the sealed bytes go to.
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for SealingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.finished {
            return Err(io::Error::other(
                "a sealed file written after its last block",
            ));
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            // A full block is sealed only once more follows it: the last is sealed as such.
            if self.pending.len() == BLOCK {
                self.seal_block(false)?;
            }
            let (now, later) = rest.split_at((BLOCK - self.pending.len()).min(rest.len()));
            self.pending.extend_from_slice(now);
            rest = later;
        }
        Ok(bytes.len())
    }

    /// Flushes what is sealed; the pending block waits for more or for `finish`.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads ranges of one sealed block file's content.
pub struct Opener {
    stream: Stream,
    name: String,
    blocks: usize,
    len: usize,
}

impl Opener {
    /// The length of the content.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The content bytes in `range`, opening the blocks under it; `read` gives the sealed
    /// file's bytes in a range (one call per read).
    pub fn read<B: AsRef<[u8]>>(
        &self,
        range: Range<usize>,
        read: impl FnOnce(Range<usize>) -> io::Result<B>,
    ) -> io::Result<Vec<u8>> {
        if range.start >= range.end {
            return Ok(Vec::new());
        }
        if range.end > self.len {
            return Err(invalid(&self.name, "a read past the end"));
        }
        let (first, last) = (range.start / BLOCK, (range.end - 1) / BLOCK);
        let sealed_start = HEADER + first * SEALED_BLOCK;
        let sealed_end = (HEADER + (last + 1) * SEALED_BLOCK).min(self.sealed_len());
        let sealed = read(sealed_start..sealed_end)?;
        let mut content = Vec::with_capacity((last - first + 1) * BLOCK);
        let mut opened = Vec::with_capacity(SEALED_BLOCK);
        for (i, block) in (first..=last).zip(sealed.as_ref().chunks(SEALED_BLOCK)) {
            self.open_into(i, block, &mut opened)?;
            content.extend_from_slice(&opened);
        }
        let skip = range.start - first * BLOCK;
        content.drain(..skip);
        content.truncate(range.len());
        Ok(content)
    }

    /// Block `i`'s content, from its sealed bytes (at [`Opener::sealed_range`]).
    pub fn open_block(&self, i: usize, sealed: &[u8]) -> io::Result<Vec<u8>> {
        let mut opened = Vec::with_capacity(sealed.len());
        self.open_into(i, sealed, &mut opened)?;
        Ok(opened)
    }

    /// Opens block `i` into `opened` (its previous content replaced).
    fn open_into(&self, i: usize, sealed: &[u8], opened: &mut Vec<u8>) -> io::Result<()> {
        let position = u32::try_from(i).map_err(|_| invalid(&self.name, "too long"))?;
        opened.clear();
        opened.extend_from_slice(sealed);
        self.stream
            .decrypt_in_place(position, i + 1 == self.blocks, self.name.as_bytes(), opened)
            .map_err(|_| invalid(&self.name, "a block that does not open"))
    }

    /// Where block `i` lies in the sealed file.
    pub fn sealed_range(&self, i: usize) -> Range<usize> {
        let start = HEADER + i * SEALED_BLOCK;
        start.min(self.sealed_len())..(start + SEALED_BLOCK).min(self.sealed_len())
    }

    fn sealed_len(&self) -> usize {
        HEADER + self.len + self.blocks * TAG
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a panic is a failure")]

    use super::*;

    const SIZES: [usize; 7] = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 3 * BLOCK + 7];

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Writes in uneven pieces, as a buffered writer does, and checks that one write of
    /// the whole seals to as many bytes.
    fn sealed(sealer: &BlockSealer, content: &[u8], name: &str) -> Vec<u8> {
        let mut writer = sealer.writer(Vec::new(), name).unwrap();
        for piece in content.chunks(1000) {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap();
        let whole = sealer.seal(content, name).unwrap();
        assert_eq!(sealer.open(&whole, name).unwrap(), content);
        writer.into_inner()
    }

    #[test]
    fn every_range_reads_what_was_written() {
        let sealer = BlockSealer::new([7; 32]);
        for len in SIZES {
            let plain = content(len);
            let file = sealed(&sealer, &plain, "a.idx");
            assert_eq!(file.len(), sealed_len(len), "size of {len} bytes");
            if let Some(head) = plain.get(..32) {
                assert!(!file.windows(32).any(|w| w == head), "the content shows");
            }
            let opener = sealer.opener(&file, file.len(), "a.idx").unwrap();
            assert_eq!(opener.len(), len);
            let cuts = [0, 1, BLOCK - 1, BLOCK, BLOCK + 3, len / 2, len];
            for start in cuts.into_iter().filter(|c| *c <= len) {
                for end in cuts.into_iter().filter(|c| *c >= start && *c <= len) {
                    let read = opener.read(start..end, |r| Ok(&file[r])).unwrap();
                    assert_eq!(read, plain[start..end], "{start}..{end} of {len}");
                }
            }
            assert_eq!(sealer.open(&file, "a.idx").unwrap(), plain);
        }
    }

    #[test]
    fn a_changed_moved_or_cut_file_does_not_open() {
        let sealer = BlockSealer::new([7; 32]);
        let plain = content(3 * BLOCK + 7);
        let file = sealed(&sealer, &plain, "a.idx");
        // Another name, another key.
        assert!(sealer.open(&file, "b.idx").is_err());
        assert!(BlockSealer::new([8; 32]).open(&file, "a.idx").is_err());
        // One byte changed in the second block: its reads fail, the first block's do not.
        let mut changed = file.clone();
        changed[HEADER + SEALED_BLOCK + 5] ^= 1;
        let opener = sealer.opener(&changed, changed.len(), "a.idx").unwrap();
        assert!(opener.read(BLOCK..BLOCK + 1, |r| Ok(&changed[r])).is_err());
        assert_eq!(
            opener.read(0..10, |r| Ok(&changed[r])).unwrap(),
            plain[..10]
        );
        // Cut at a block's end: the new last block was not sealed as the last.
        let cut = &file[..HEADER + 2 * SEALED_BLOCK];
        assert!(sealer.open(cut, "a.idx").is_err());
        // Cut inside the header, or inside a tag.
        assert!(sealer.open(&file[..HEADER - 1], "a.idx").is_err());
        assert!(sealer.open(&file[..HEADER + 5], "a.idx").is_err());
        // A plain file is none.
        assert!(sealer.open(&plain, "a.idx").is_err());
    }
}
