//! The media context's records in sled, and (in [`blobs`]) its files.
//!
//! Keys: `m/<media>` the record; `o/<owner><media>` an owner's media; `u/<owner>` the
//! bytes an owner's media take (what the quota counts); `b/<sha256>/<media>` which media
//! name a blob (the sweep removes blobs nobody names); `ua/<media>` uploads nothing has
//! shown yet. That is this context's own truth; what media is attached to is a projection
//! of the events of posts, messages and users ([`attachments`]); `eb/<sha256>` blobs an
//! erasure left to delete ([`erasure`]). A replicated context also keeps its files in
//! the bus's object store ([`copies`]).

pub mod attachments;
pub mod blobs;
pub mod copies;
pub mod erasure;

use serde::{Deserialize, Serialize};

use super::domain::{Format, Thumbnail};
use super::error::Error;
use super::events::{Dimensions, MediaDeleted, MediaDescribed, MediaUploaded};
use crate::platform::envelope::Envelope;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Changes, Store, Tx, TxResult, abort, key};

/// One stored rendition: its blob and what it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rendition {
    pub sha256: String,
    pub format: Format,
    pub size: u64,
    pub dimensions: Option<Dimensions>,
}

/// A media item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Media {
    pub id: String,
    pub owner: String,
    /// The format uploaded (what was sniffed).
    pub uploaded: Format,
    pub main: Rendition,
    pub thumbnails: Vec<(Thumbnail, Rendition)>,
    pub blurhash: Option<String>,
    pub alt: String,
    pub created_at: i64,
}

impl Media {
    /// What the quota counts: every rendition's bytes.
    pub fn stored_bytes(&self) -> u64 {
        self.main.size + self.thumbnails.iter().map(|(_, r)| r.size).sum::<u64>()
    }

    /// The hashes of its files (the upload and its thumbnails).
    pub fn blobs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.main.sha256.as_str())
            .chain(self.thumbnails.iter().map(|(_, r)| r.sha256.as_str()))
    }

    /// The rendition a URL's variant names (`file`, or a thumbnail).
    pub fn rendition(&self, thumbnail: Option<Thumbnail>) -> Option<&Rendition> {
        match thumbnail {
            None => Some(&self.main),
            Some(t) => self
                .thumbnails
                .iter()
                .find(|(size, _)| *size == t)
                .map(|(_, r)| r),
        }
    }

    pub fn uploaded(&self) -> MediaUploaded {
        MediaUploaded {
            media_id: self.id.clone(),
            owner_id: self.owner.clone(),
            kind: self.uploaded.kind(),
            content_type: self.main.format.content_type().into(),
            size_bytes: self.stored_bytes(),
            dimensions: self.main.dimensions,
            thumbnails: self
                .thumbnails
                .iter()
                .filter_map(|(t, r)| Some((*t, r.dimensions?)))
                .collect(),
            blurhash: self.blurhash.clone(),
            alt: self.alt.clone(),
        }
    }
}

/// The key prefixes `rebuild` drops and replays.
pub const PROJECTIONS: &[&str] = attachments::PROJECTIONS;

fn media_key(id: &str) -> Vec<u8> {
    key("m/", &[id])
}

fn usage_key(owner: &str) -> Vec<u8> {
    key("u/", &[owner])
}

fn blob_ref(sha256: &str, media: &str) -> Vec<u8> {
    key("b/", &[sha256, "/", media])
}

pub fn media(store: &Store, id: &str) -> ApiResult<Option<Media>> {
    store.get(&media_key(id))
}

/// The media `id` when `owner` owns it; else `NotFound` (someone else's media is absent).
pub fn owned(store: &Store, id: &str, owner: &str) -> ApiResult<Media> {
    media(store, id)?
        .filter(|m| m.owner == owner)
        .ok_or_else(|| Error::NotFound.into())
}

/// The bytes `owner`'s media take.
pub fn usage(store: &Store, owner: &str) -> ApiResult<u64> {
    Ok(store.get(&usage_key(owner))?.unwrap_or(0))
}

/// Whether any media names the blob `sha256`.
pub fn referenced(store: &Store, sha256: &str) -> ApiResult<bool> {
    Ok(!store
        .scan_after(&key("b/", &[sha256, "/"]), None, 1)?
        .is_empty())
}

/// Every blob some media names, each once.
pub fn all_referenced(store: &Store) -> ApiResult<Vec<String>> {
    let mut all: Vec<String> = store
        .scan_after(b"b/", None, usize::MAX)?
        .into_iter()
        .filter_map(|(rest, _)| named_blob(&rest))
        .collect();
    all.dedup();
    Ok(all)
}

/// Every change of which media name which blob: what a follower copies files by.
pub fn watch_blob_names(store: &Store) -> Changes {
    store.watch(b"b/")
}

/// The blob a changed key of [`watch_blob_names`] is about.
pub fn changed_blob(key: &[u8]) -> Option<String> {
    named_blob(key.strip_prefix(b"b/".as_slice())?)
}

/// `<sha256>/<media>` → the hash.
fn named_blob(rest: &[u8]) -> Option<String> {
    let sha256 = rest.split(|b| *b == b'/').next()?;
    Some(String::from_utf8_lossy(sha256).into_owned())
}

/// Records a new media item, within its owner's `quota` (checked again here, in the
/// transaction, so two uploads at once cannot both pass it), and publishes `MediaUploaded`.
pub async fn add(store: &Store, media: &Media, quota: u64) -> ApiResult<()> {
    let size = media.stored_bytes();
    store
        .write(|tx| {
            let used: u64 = tx.get(&usage_key(&media.owner))?.unwrap_or(0);
            if let Err(e) = super::domain::check_quota(used, quota, size) {
                return abort(e);
            }
            tx.put(&usage_key(&media.owner), &(used + size))?;
            tx.put(&media_key(&media.id), media)?;
            tx.put_raw(&key("o/", &[&media.owner, &media.id]), &[])?;
            tx.put_raw(&key(attachments::UNSHOWN, &[&media.id]), &[])?;
            for sha256 in media.blobs() {
                tx.put_raw(&blob_ref(sha256, &media.id), &[])?;
            }
            tx.emit(&Envelope::new(&media.owner, &media.id, &media.uploaded()))
        })
        .await
}

/// Sets the alt text of `owner`'s media `id`.
pub async fn describe(store: &Store, id: &str, owner: &str, alt: &str) -> ApiResult<Media> {
    store
        .write(|tx| {
            let mut media = load_owned(tx, id, owner)?;
            media.alt = alt.to_string();
            tx.put(&media_key(id), &media)?;
            let event = MediaDescribed {
                media_id: id.to_string(),
                owner_id: owner.to_string(),
                alt: alt.to_string(),
            };
            tx.emit(&Envelope::new(owner, id, &event))?;
            Ok(media)
        })
        .await
}

/// Deletes `owner`'s media `id`, unless a post shows it (delete the post, and the media
/// goes with it): its bytes leave the quota at once, its blobs when the sweep finds
/// nothing names them.
pub async fn delete(store: &Store, id: &str, owner: &str) -> ApiResult<()> {
    if owned(store, id, owner).is_ok() && attachments::attached(store, id)? {
        return Err(Error::Attached.into());
    }
    remove(store, id, Some(owner)).await
}

/// Removes media `id` (only `owner`'s, when given), publishing `MediaDeleted`, and its
/// place in the release and unshown queues.
async fn remove(store: &Store, id: &str, owner: Option<&str>) -> ApiResult<()> {
    store
        .write(|tx| {
            tx.remove(&key(attachments::RELEASE, &[id]))?;
            tx.remove(&key(attachments::UNSHOWN, &[id]))?;
            let media = match (tx.get::<Media>(&media_key(id))?, owner) {
                (Some(m), Some(o)) if m.owner != o => return abort(Error::NotFound),
                (Some(m), _) => m,
                (None, Some(_)) => return abort(Error::NotFound),
                (None, None) => return Ok(()),
            };
            let owner = media.owner.as_str();
            let used: u64 = tx.get(&usage_key(owner))?.unwrap_or(0);
            tx.put(
                &usage_key(owner),
                &used.saturating_sub(media.stored_bytes()),
            )?;
            tx.remove(&media_key(id))?;
            tx.remove(&key("o/", &[owner, id]))?;
            for sha256 in media.blobs() {
                tx.remove(&blob_ref(sha256, id))?;
            }
            let event = MediaDeleted {
                media_id: id.to_string(),
                owner_id: owner.to_string(),
            };
            tx.emit(&Envelope::new(owner, id, &event))
        })
        .await
}

fn load_owned(tx: &Tx, id: &str, owner: &str) -> TxResult<Media> {
    match tx.get::<Media>(&media_key(id))? {
        Some(m) if m.owner == owner => Ok(m),
        _ => abort(Error::NotFound),
    }
}
