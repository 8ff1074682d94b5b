//! The files a backup carries besides a context's store: its content-addressed files,
//! `<data-dir>/<context>-files/sha256/<first two hex digits>/<SHA-256>` (media's blobs).
//! A file's name is the hash of its content, so it never changes once written: a backup
//! stores each once (`<target>/files/<SHA-256>`, shared by every backup that names it),
//! and a restore checks each against its name.
//!
//! A file sealed at rest ([`crate::platform::sealed_files`]) is stored as it is, sealed,
//! under `<target>/files/<SHA-256>.<its nonce>`: two sealings of the same content (before
//! and after a migration, or by two platforms sharing a target) are two objects. The
//! backup cannot check a sealed file's hash (it has no key): the node does as it sends
//! the file, and the restore again once it has opened it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One content-addressed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// The hash of its content: its name.
    pub sha256: String,
    /// Its size as stored.
    pub bytes: u64,
    /// When it is sealed, its nonce (hex): which sealing of the content this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

impl FileRef {
    /// The object name of this file in a backup target.
    pub fn object(&self) -> String {
        match &self.sealed {
            None => format!("files/{}", self.sha256),
            Some(seal) => format!("files/{}.{seal}", self.sha256),
        }
    }
}

/// The directory of `context`'s content-addressed files under `data_dir`.
pub fn dir(data_dir: &Path, context: &str) -> PathBuf {
    data_dir.join(format!("{context}-files")).join("sha256")
}

/// Where the file `sha256` lives under `dir`.
pub fn path(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(sha256.get(..2).unwrap_or("00")).join(sha256)
}

/// Whether `name` is a SHA-256 in lowercase hex (and so a safe file name).
pub fn is_sha256(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every content-addressed file under `dir` (none when it does not exist). Blocking.
pub fn list(dir: &Path) -> std::io::Result<Vec<FileRef>> {
    let mut files = Vec::new();
    let shards = match std::fs::read_dir(dir) {
        Ok(shards) => shards,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for shard in shards {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(shard.path())? {
            let file = file?;
            let name = file.file_name().to_string_lossy().into_owned();
            if is_sha256(&name) && file.file_type()?.is_file() {
                files.push(FileRef {
                    sha256: name,
                    bytes: file.metadata()?.len(),
                    sealed: crate::platform::sealed_files::seal_id(&file.path())?,
                });
            }
        }
    }
    files.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_content_addressed_files() {
        let data = tempfile::tempdir().unwrap();
        let dir = dir(data.path(), "media");
        let sha = "ab".repeat(32);
        std::fs::create_dir_all(path(&dir, &sha).parent().unwrap()).unwrap();
        std::fs::write(path(&dir, &sha), b"hello").unwrap();
        std::fs::write(dir.join("ab").join("not-a-hash"), b"x").unwrap();
        assert_eq!(
            list(&dir).unwrap(),
            vec![FileRef {
                sha256: sha,
                bytes: 5,
                sealed: None,
            }]
        );
        assert!(list(&data.path().join("nothing")).unwrap().is_empty());
        assert!(!is_sha256(&"AB".repeat(32)) && !is_sha256("../etc"));
    }
}
