//! Erasure and export. Erasure: the person's media records go with every record naming them, their blobs'
//! references and attachments too, and the blobs nobody else names are queued
//! (`eb/<sha256>`) for deletion at once rather than after the sweep's grace period.

use super::*;
use crate::auth::events::AccountErased;
use crate::platform::context::Event;
use crate::platform::erasure::{self, Named};

const ERASE_BLOBS: &str = "eb/";

/// What erasing a person touches here: the records naming them, and the media records
/// among them with the attachments that show each.
pub struct Found {
    named: Vec<Named>,
    media: Vec<(Media, Vec<Vec<u8>>)>,
}

pub fn read_erased(store: &Store, e: &Event<AccountErased>) -> ApiResult<Found> {
    let named = erasure::records_naming(store, &e.data.account_id)?;
    let mut media = Vec::new();
    for n in named.iter().filter(|n| n.prefix() == b"m/") {
        let Some(m) = n
            .value
            .clone()
            .and_then(|v| serde_json::from_value::<Media>(v).ok())
        else {
            continue;
        };
        let shown: Vec<Vec<u8>> = store
            .scan_after(&key("pa/", &[&m.id]), None, usize::MAX)?
            .into_iter()
            .map(|(post, _)| [key("pa/", &[&m.id]), post].concat())
            .collect();
        media.push((m, shown));
    }
    Ok(Found { named, media })
}

pub fn account_erased(tx: &Tx, e: &Event<AccountErased>, found: &Found) -> TxResult<()> {
    for (m, shown) in &found.media {
        for k in shown {
            tx.remove(k)?;
        }
        tx.remove(&key(attachments::RELEASE, &[&m.id]))?;
        for sha256 in m.blobs() {
            tx.remove(&blob_ref(sha256, &m.id))?;
            tx.put_raw(&key(ERASE_BLOBS, &[sha256]), &[])?;
        }
    }
    erasure::apply(tx, &e.data.account_id, &found.named, erasure::remove_all)
}

/// Blobs queued for deletion.
pub fn blobs_to_erase(store: &Store) -> ApiResult<Vec<String>> {
    store.queued_ids(ERASE_BLOBS)
}

pub fn watch_blobs_to_erase(store: &Store) -> crate::platform::storage::Changes {
    store.watch(ERASE_BLOBS.as_bytes())
}

pub async fn blob_erased(store: &Store, sha256: &str) -> ApiResult<()> {
    store.unqueue(ERASE_BLOBS, sha256).await
}

/// The person's part of an export: every record naming them, and the files they uploaded
/// (as stored: re-encoded images without metadata, videos as sent), as `<media>.<ext>`
/// (the export worker opens them when they are sealed).
pub fn export(
    store: &Store,
    data_dir: &std::path::Path,
    user: &str,
) -> ApiResult<crate::platform::export::Part> {
    let mut part = crate::platform::export::records_naming(store, data_dir, user)?;
    let files =
        blobs::Blobs::open(data_dir, None).map_err(crate::platform::error::ApiError::internal)?;
    for (id, _) in store.scan_after(&key("o/", &[user]), None, usize::MAX)? {
        let id = String::from_utf8_lossy(&id).into_owned();
        let Some(m) = media(store, &id)? else {
            continue;
        };
        let ext = m
            .main
            .format
            .content_type()
            .rsplit('/')
            .next()
            .unwrap_or("bin");
        part.files.push(crate::platform::export::PartFile {
            name: format!("{}.{ext}", m.id),
            path: files.path(&m.main.sha256),
        });
    }
    Ok(part)
}
