//! Where backups go: a directory (a mounted volume) or S3-compatible object storage,
//! through `object_store`, under one prefix. S3 credentials, region and endpoint come from
//! the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT` for MinIO and the like, `AWS_ALLOW_HTTP=true` for an
//! endpoint without TLS).

use std::sync::Arc;

use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// A backup target, as `--target` names it.
#[derive(Clone)]
pub struct Target {
    store: Arc<dyn ObjectStore>,
    /// Every object of the target lives under it (empty: the store's root).
    prefix: Path,
    /// The target as it was named, for messages.
    pub url: String,
}

/// An object written: its size and SHA-256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
}

impl Target {
    /// `s3://bucket[/prefix]`, `file:///dir` or a directory path (created if missing).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let (store, prefix): (Arc<dyn ObjectStore>, &str) = match url.split_once("://") {
            Some(("s3", rest)) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                anyhow::ensure!(!bucket.is_empty(), "{url}: no bucket named");
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()?;
                (Arc::new(s3), prefix)
            }
            Some(("file", dir)) => (local(dir)?, ""),
            Some((scheme, _)) => anyhow::bail!(
                "{url}: targets are s3://bucket/prefix or a directory, not {scheme}://"
            ),
            None => (local(url)?, ""),
        };
        Ok(Target {
            store,
            prefix: Path::from(prefix),
            url: url.to_string(),
        })
    }

    fn path(&self, name: &str) -> Path {
        name.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |path, part| path.child(part))
    }

    /// Writes the object `name` from `body` as it comes (multipart uploads on S3), hashing
    /// it on the way.
    pub async fn put_stream<S, E>(&self, name: &str, mut body: S) -> anyhow::Result<Written>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: Into<anyhow::Error>,
    {
        let mut writer =
            object_store::buffered::BufWriter::new(self.store.clone(), self.path(name));
        let written = copy_hashing(&mut body, &mut writer).await?;
        writer.shutdown().await?;
        Ok(written)
    }

    /// Writes a small object whole.
    pub async fn put(&self, name: &str, body: Vec<u8>) -> anyhow::Result<()> {
        self.store.put(&self.path(name), body.into()).await?;
        Ok(())
    }

    /// Reads a small object whole; `None` when it does not exist.
    pub async fn get(&self, name: &str) -> anyhow::Result<Option<bytes::Bytes>> {
        match self.store.get(&self.path(name)).await {
            Ok(object) => Ok(Some(object.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The size of the object `name`; `None` when it does not exist.
    pub async fn size(&self, name: &str) -> anyhow::Result<Option<u64>> {
        match self.store.head(&self.path(name)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The objects under the folder `name`, at any depth, by their names from the
    /// target's root.
    pub async fn objects_under(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let mut listed = self.store.list(Some(&self.path(name)));
        let mut names = Vec::new();
        while let Some(object) = listed.next().await {
            let location = object?.location;
            if let Some(parts) = location.prefix_match(&self.prefix) {
                names.push(
                    parts
                        .map(|p| p.as_ref().to_string())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
        Ok(names)
    }

    /// Removes the object `name`.
    pub async fn remove(&self, name: &str) -> anyhow::Result<()> {
        self.store.delete(&self.path(name)).await?;
        Ok(())
    }

    /// Copies the object `name` into the file `to`, hashing it on the way.
    pub async fn download(&self, name: &str, to: &std::path::Path) -> anyhow::Result<Written> {
        let mut body = self.store.get(&self.path(name)).await?.into_stream();
        let mut file = tokio::fs::File::create(to).await?;
        let written = copy_hashing(&mut body, &mut file).await?;
        file.sync_all().await?;
        Ok(written)
    }

    /// The names of the "folders" directly under the prefix.
    pub async fn folders(&self) -> anyhow::Result<Vec<String>> {
        let listed = self.store.list_with_delimiter(Some(&self.prefix)).await?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// Removes every object under the folder `name`.
    pub async fn remove_folder(&self, name: &str) -> anyhow::Result<()> {
        let folder = self.path(name);
        let mut objects = self.store.list(Some(&folder));
        while let Some(object) = objects.next().await {
            self.store.delete(&object?.location).await?;
        }
        Ok(())
    }
}

fn local(dir: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{dir}: {e}"))?;
    Ok(Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(dir)?,
    ))
}

/// Copies `body` into `out` as it comes, and says how many bytes with which SHA-256.
async fn copy_hashing<S, E, W>(body: &mut S, out: &mut W) -> anyhow::Result<Written>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: Into<anyhow::Error>,
    W: tokio::io::AsyncWrite + Unpin,
{
    let (mut hash, mut bytes) = (Sha256::new(), 0u64);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Into::into)?;
        hash.update(&chunk);
        bytes += chunk.len() as u64;
        out.write_all(&chunk).await?;
    }
    Ok(Written {
        bytes,
        sha256: format!("{:x}", hash.finalize()),
    })
}
