//! The shared copy of a replicated media context's files: every blob, as stored (sealed
//! with the platform's key), in the bus's object store `<prefix>-media-files` under its
//! SHA-256, with as many replicas as the bus's streams.
//!
//! The writer puts an upload's files there before its record commits, so an
//! acknowledged upload is on the bus (three servers, in a cluster) besides its volume;
//! followers copy each file as its record reaches them, and a replica asked for a file
//! it lacks fetches it at once. The replicas' volumes are then copies that any of them
//! can lose: the writer that dies takes no file with it.
//!
//! A context without replicas keeps its files on its volume only (nothing here runs).

use async_nats::jetstream::object_store::{self, ObjectStore};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

use super::blobs::Blobs;
use crate::platform::bus::Bus;
use crate::platform::error::{ApiError, ApiResult};

/// The bucket, opened (or created) on first use: the bus may be down when the context
/// starts.
#[derive(Clone)]
pub struct Copies {
    bus: Bus,
    bucket: std::sync::Arc<OnceCell<ObjectStore>>,
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "media files' shared copy unreachable");
    ApiError::Unavailable
}

impl Copies {
    pub fn new(bus: Bus) -> Self {
        Copies {
            bus,
            bucket: std::sync::Arc::default(),
        }
    }

    async fn bucket(&self) -> ApiResult<&ObjectStore> {
        self.bucket
            .get_or_try_init(|| async {
                let name = format!("{}-media-files", self.bus.settings.prefix);
                if let Ok(bucket) = self.bus.js.get_object_store(&name).await {
                    return Ok(bucket);
                }
                let config = object_store::Config {
                    bucket: name,
                    description: Some("media files of a replicated media context".into()),
                    num_replicas: self.bus.settings.replicas,
                    ..Default::default()
                };
                self.bus
                    .js
                    .create_object_store(config)
                    .await
                    .map_err(unavailable)
            })
            .await
    }

    /// Whether the bucket holds `sha256`.
    async fn holds(&self, sha256: &str) -> ApiResult<bool> {
        match self.bucket().await?.info(sha256).await {
            Ok(info) => Ok(!info.deleted),
            Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Puts the blob `sha256` of `blobs` in the bucket, unless it is there already.
    pub async fn put(&self, blobs: &Blobs, sha256: &str) -> ApiResult<()> {
        if self.holds(sha256).await? {
            return Ok(());
        }
        let mut file = tokio::fs::File::open(blobs.path(sha256))
            .await
            .map_err(ApiError::internal)?;
        self.bucket()
            .await?
            .put(sha256, &mut file)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Copies the blob `sha256` from the bucket into `blobs`, checked against its name
    /// before it is put in place. False when the bucket does not hold it.
    pub async fn fetch(&self, blobs: &Blobs, sha256: &str) -> ApiResult<bool> {
        let mut object = match self.bucket().await?.get(sha256).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(unavailable(e)),
        };
        let scratch = blobs.scratch();
        let mut file = tokio::fs::File::create(&scratch)
            .await
            .map_err(ApiError::internal)?;
        let copied = tokio::io::copy(&mut object, &mut file).await;
        let synced = match copied {
            Ok(_) => file.flush().await.and(file.sync_all().await),
            Err(e) => Err(e),
        };
        drop(file);
        if let Err(e) = synced {
            let _ = tokio::fs::remove_file(&scratch).await;
            return Err(unavailable(e));
        }
        let (blobs, name) = (blobs.clone(), sha256.to_string());
        tokio::task::spawn_blocking(move || blobs.put_copy(&scratch, &name))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        Ok(true)
    }

    /// The hashes of every blob in the bucket.
    pub async fn names(&self) -> ApiResult<Vec<String>> {
        use futures::TryStreamExt as _;
        let listed = self.bucket().await?.list().await.map_err(unavailable)?;
        let infos: Vec<_> = listed.try_collect().await.map_err(unavailable)?;
        Ok(infos
            .into_iter()
            .filter(|i| !i.deleted)
            .map(|i| i.name)
            .collect())
    }

    /// Removes the blob `sha256` from the bucket (absent: nothing to do).
    pub async fn delete(&self, sha256: &str) -> ApiResult<()> {
        match self.bucket().await?.delete(sha256).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == object_store::DeleteErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
