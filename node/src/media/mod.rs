//! # media
//!
//! Owns uploaded files: their bytes, content-addressed on this context's volume (the same
//! bytes stored once), their metadata, thumbnails and each owner's quota. The type of an
//! upload is decided by its content; pictures are decoded under limits, turned upright,
//! re-encoded without metadata ([`processing`]); videos are stored as uploaded.
//!
//! Who may fetch a file is decided by the context that shows it (posts, messages, users),
//! which signs its URLs for the viewer ([`crate::platform::media_urls`]); this context
//! checks the signature, or that the caller owns the file. It keeps no projection of the
//! social graph.
//!
//! Media something shows (a post, a comment, a message, a profile's avatar or cover)
//! cannot be deleted by itself; when the last thing showing it lets it go (the post,
//! comment or message is deleted, the profile takes another avatar), it is deleted.
//!
//! Publishes: `MediaUploaded`, `MediaDescribed`, `MediaDeleted` ([`events`]).
//! Consumes: `posts.PostCreated|PostDeleted|CommentAdded|CommentDeleted`,
//! `messages.MessageSent|MessageDeleted`,
//! `users.ProfileUpdated`: what shows which media (a projection).

pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod processing;
pub mod replicas;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use futures::Stream;

use crate::messages::events as messages;
use crate::platform::Platform;
use crate::platform::config::MediaLimits;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::error::{ApiError, ApiResult};
use crate::platform::media_urls::MediaUrls;
use crate::platform::storage::{Role, Store};
use crate::platform::tokens::TokenVerifier;
use crate::posts::events as posts;
use crate::users::events as users;
use events::Dimensions;
use storage::blobs::{Blobs, Received};
use storage::copies::Copies;
use storage::{Media, Rendition};

/// How long a blob nobody names is kept before the sweep removes it (an upload in
/// progress names its files only when it commits).
const SWEEP_GRACE: Duration = Duration::from_secs(3_600);

/// How often the sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(900);

/// How long an upload nothing shows is kept (Mastodon's default: a day): long enough to
/// write the post it was uploaded for.
const UNSHOWN_GRACE: Duration = Duration::from_secs(24 * 3_600);

/// Handlers reach the store, the files, the URL key and the limits.
#[derive(Clone)]
pub struct MediaState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
    pub blobs: Blobs,
    pub urls: Arc<MediaUrls>,
    pub limits: MediaLimits,
    /// Pictures decoded at once: decoding is CPU- and memory-bound (up to 144 MB each).
    pub decoding: Arc<tokio::sync::Semaphore>,
    /// The files' shared copy, when the context is replicated ([`replicas`]).
    pub copies: Option<Copies>,
}

impl FromRef<MediaState> for Arc<TokenVerifier> {
    fn from_ref(state: &MediaState) -> Self {
        state.verifier.clone()
    }
}

impl MediaState {
    /// Receives an upload's bytes to disk, within the size limit.
    async fn receive<S, E>(&self, body: S) -> ApiResult<Received>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let limit = self.limits.max_upload_bytes;
        self.blobs.receive(body, limit, limit / (1024 * 1024)).await
    }

    /// Turns a received upload into stored renditions and records it.
    async fn store_upload(&self, owner: &str, received: Received, alt: String) -> ApiResult<Media> {
        let result = self.process_and_record(owner, &received, alt).await;
        if received.path.exists() {
            let _ = tokio::fs::remove_file(&received.path).await;
        }
        result
    }

    async fn process_and_record(
        &self,
        owner: &str,
        received: &Received,
        alt: String,
    ) -> ApiResult<Media> {
        let used = storage::usage(&self.store, owner)?;
        domain::check_quota(used, self.limits.quota_bytes, received.size)?;
        let mut media = Media {
            id: crate::platform::new_id(),
            owner: owner.to_string(),
            uploaded: received.format,
            main: Rendition {
                sha256: received.sha256.clone(),
                format: received.format,
                size: received.size,
                dimensions: None,
            },
            thumbnails: Vec::new(),
            blurhash: None,
            alt,
            created_at: crate::platform::unix_now(),
        };
        let processed = match received.format.kind() {
            domain::Kind::Video => None,
            _ => Some(self.process(received).await?),
        };
        // From placing the files until the record names them, the sweep keeps away.
        let _placing = self.blobs.placing().await;
        let blobs = self.blobs.clone();
        let (main, thumbnails) = match processed {
            None => {
                let received = received.clone();
                blocking(move || blobs.put_received(&received)).await?;
                (media.main.clone(), Vec::new())
            }
            Some(p) => {
                media.blurhash = Some(p.blurhash.clone());
                blocking(move || {
                    let main = place(&blobs, &p.main)?;
                    let thumbnails = p
                        .thumbnails
                        .iter()
                        .map(|(size, e)| Ok((*size, place(&blobs, e)?)))
                        .collect::<std::io::Result<Vec<_>>>()?;
                    Ok((main, thumbnails))
                })
                .await?
            }
        };
        media.main = main;
        media.thumbnails = thumbnails;
        if let Some(copies) = &self.copies {
            for sha256 in media.blobs() {
                copies.put(&self.blobs, sha256).await?;
            }
        }
        storage::add(&self.store, &media, self.limits.quota_bytes).await?;
        Ok(media)
    }

    /// The content of the blob `sha256`; a replica that lacks it (not copied yet) fetches
    /// it from the shared copy first.
    async fn open_file(&self, sha256: &str) -> ApiResult<crate::platform::sealed_files::PlainFile> {
        let open = |blobs: Blobs, sha256: String| async move {
            tokio::task::spawn_blocking(move || blobs.open_content(&sha256))
                .await
                .map_err(ApiError::internal)
        };
        let opened = open(self.blobs.clone(), sha256.to_string()).await?;
        match (opened, &self.copies) {
            (Err(e), Some(copies)) if e.kind() == std::io::ErrorKind::NotFound => {
                if !copies.fetch(&self.blobs, sha256).await? {
                    return Err(ApiError::Lagging(format!(
                        "the file {sha256} has not reached this replica yet"
                    )));
                }
                open(self.blobs.clone(), sha256.to_string())
                    .await?
                    .map_err(ApiError::internal)
            }
            (opened, _) => opened.map_err(ApiError::internal),
        }
    }

    /// Decodes and re-encodes a picture on a blocking thread, a few at a time.
    async fn process(&self, received: &Received) -> ApiResult<processing::Processed> {
        let _permit = self.decoding.acquire().await.map_err(ApiError::internal)?;
        let (blobs, received) = (self.blobs.clone(), received.clone());
        tokio::task::spawn_blocking(move || {
            let upload = blobs.open_received(&received).map_err(ApiError::internal)?;
            processing::process(upload, received.format).map_err(ApiError::from)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

fn place(blobs: &Blobs, encoded: &processing::Encoded) -> std::io::Result<Rendition> {
    Ok(Rendition {
        sha256: blobs.put_bytes(&encoded.bytes)?,
        format: encoded.format,
        size: encoded.bytes.len() as u64,
        dimensions: Some(Dimensions {
            width: encoded.width,
            height: encoded.height,
        }),
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format!("media files: {e}")))
}

/// The media context.
pub struct MediaContext;

impl BoundedContext for MediaContext {
    fn name(&self) -> &'static str {
        Context::Media.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["media"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::MediaApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        use storage::attachments;
        Subscriptions::default()
            .on_read::<crate::auth::events::AccountErased, _>(
                storage::erasure::read_erased,
                storage::erasure::account_erased,
            )
            .on_read::<posts::PostCreated, _>(attachments::plan_post, attachments::planned)
            .on_read::<posts::PostDeleted, _>(attachments::plan_deleted_post, attachments::planned)
            .on_read::<posts::CommentAdded, _>(attachments::plan_comment, attachments::planned)
            .on_read::<posts::CommentDeleted, _>(
                attachments::plan_deleted_comment,
                attachments::planned,
            )
            .on_read::<messages::MessageSent, _>(attachments::plan_message, attachments::planned)
            .on_read::<messages::MessageDeleted, _>(
                attachments::plan_deleted_message,
                attachments::planned,
            )
            .on_read::<users::ProfileUpdated, _>(attachments::plan_profile, attachments::planned)
    }

    fn export(&self) -> crate::platform::export::Exporter {
        storage::erasure::export
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        let blobs = Blobs::open(
            &platform.data_dir,
            platform.file_sealer(Context::Media.name()),
        )?;
        let copies = store
            .replicated()
            .then(|| Copies::new(platform.bus.clone()));
        let s = store.clone();
        platform.while_writer(&store, move |_| release_detached(s.clone()));
        let (s, b, c) = (store.clone(), blobs.clone(), copies.clone());
        platform.while_writer(&store, move |_| {
            erase_blobs(s.clone(), b.clone(), c.clone())
        });
        let urls = platform.media_urls()?;
        let (s, b, c) = (store.clone(), blobs.clone(), copies.clone());
        platform.while_writer(&store, move |stop| {
            sweep(s.clone(), b.clone(), c.clone(), stop)
        });
        if let Some(copies) = &copies {
            let (s, b, c) = (store.clone(), blobs.clone(), copies.clone());
            platform.by_role(&store, move |role, stop| {
                let (s, b, c) = (s.clone(), b.clone(), c.clone());
                async move {
                    match role {
                        Role::Follower => replicas::follow_files(s, b, c, stop).await,
                        Role::Writer => {
                            replicas::fetch_missing(&s, &b, &c).await;
                            replicas::share_missing(&s, &b, &c).await;
                        }
                        Role::Stopped => {}
                    }
                }
            });
        }
        let b = blobs.clone();
        platform.while_writer(&store, move |stop| seal_files(b.clone(), stop));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(http::routes(MediaState {
            store,
            verifier: platform.verifier.clone(),
            blobs,
            urls,
            limits: platform.media,
            decoding: Arc::new(tokio::sync::Semaphore::new(cores.min(4))),
            copies,
        }))
    }
}

/// Deletes media whose last post was deleted: those queued before this process started,
/// then each as it is queued.
async fn release_detached(store: Store) {
    use storage::attachments;
    let mut queued = attachments::watch_release(&store);
    let pending = attachments::to_release(&store).unwrap_or_default();
    for id in pending {
        release_one(&store, &id).await;
    }
    while let Some(event) = queued.next().await {
        if let Some(id) = attachments::queued(&event) {
            release_one(&store, &id).await;
        }
    }
}

async fn release_one(store: &Store, id: &str) {
    if let Err(e) = storage::attachments::release(store, id).await {
        tracing::warn!(media_id = %id, error = %e, "detached media not released");
    }
}

async fn expire_unshown(store: &Store) {
    use storage::attachments;
    let now_ms = u64::try_from(crate::platform::unix_now()).unwrap_or_default() * 1_000;
    let cutoff = now_ms.saturating_sub(UNSHOWN_GRACE.as_millis() as u64);
    let expired = attachments::unshown_before(store, cutoff).unwrap_or_default();
    for id in &expired {
        if let Err(e) = attachments::expire(store, id).await {
            tracing::warn!(media_id = %id, error = %e, "unshown upload not expired");
        }
    }
    if !expired.is_empty() {
        tracing::info!(
            checked = expired.len(),
            "uploads nothing showed for a day expired"
        );
    }
}

/// Seals the files written before the platform had a key (or before sealing existed).
async fn seal_files(blobs: Blobs, stop: tokio::sync::watch::Receiver<bool>) {
    match blobs.seal_all(&stop).await {
        Ok(0) => {}
        Ok(sealed) => tracing::info!(sealed, "media files from before sealing sealed"),
        Err(e) => tracing::warn!(error = %e, "media files not sealed (tried again at next start)"),
    }
}

/// Deletes the blobs an erasure queued, as they are queued, unless another's media names
/// the same bytes.
async fn erase_blobs(store: Store, blobs: Blobs, copies: Option<Copies>) {
    use storage::erasure;
    let mut queued = erasure::watch_blobs_to_erase(&store);
    loop {
        for sha256 in erasure::blobs_to_erase(&store).unwrap_or_default() {
            let mut removed = blobs
                .remove_unreferenced(&sha256, |sha| storage::referenced(&store, sha))
                .await;
            if let (Ok(_), Some(copies)) = (&removed, &copies)
                && let Err(e) = replicas::forget_copy(&store, &blobs, copies, &sha256).await
            {
                removed = Err(e);
            }
            match removed {
                Ok(_) => {
                    if let Err(e) = erasure::blob_erased(&store, &sha256).await {
                        tracing::warn!(error = %e, "erased blob left in the queue");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "erased blob not deleted; retried"),
            }
        }
        if !queued.changed().await {
            return;
        }
    }
}

/// Every [`SWEEP_EVERY`], deletes uploads nothing has shown for [`UNSHOWN_GRACE`], then
/// removes blobs no media has named for [`SWEEP_GRACE`].
async fn sweep(
    store: Store,
    blobs: Blobs,
    copies: Option<Copies>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        expire_unshown(&store).await;
        match blobs
            .sweep(|sha256| storage::referenced(&store, sha256), SWEEP_GRACE)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "unreferenced media files removed"),
            Err(e) => tracing::warn!(error = %e, "media sweep failed"),
        }
        if let Some(copies) = &copies {
            match replicas::sweep_copies(&store, &blobs, copies).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "unreferenced shared media copies removed"),
                Err(e) => tracing::warn!(error = %e, "sweep of shared media copies failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
