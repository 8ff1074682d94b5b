//! The projection of media: `md/<media>` holds what media published of each upload, so a
//! post's attachments are checked (they exist, they are the author's) and drawn without
//! a call. Written only by media's events.

use crate::media::events::{MediaDeleted, MediaDescribed, MediaUploaded};
use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, key};

fn media_key(id: &str) -> Vec<u8> {
    key("md/", &[id])
}

pub fn media_uploaded(tx: &Tx, e: &Event<MediaUploaded>) -> TxResult<()> {
    tx.put(&media_key(&e.data.media_id), &e.data)
}

pub fn media_described(tx: &Tx, e: &Event<MediaDescribed>) -> TxResult<()> {
    let key = media_key(&e.data.media_id);
    if let Some(mut m) = tx.get::<MediaUploaded>(&key)? {
        m.alt = e.data.alt.clone();
        tx.put(&key, &m)?;
    }
    Ok(())
}

pub fn media_deleted(tx: &Tx, e: &Event<MediaDeleted>) -> TxResult<()> {
    tx.remove(&media_key(&e.data.media_id)).map(|_| ())
}

/// The media `id` when `owner` uploaded it. An upload answered a moment ago may not have
/// reached this projection yet: an unknown id is waited for, until `until`.
pub async fn owned_media(
    store: &Store,
    id: &str,
    owner: &str,
    until: tokio::time::Instant,
) -> ApiResult<Option<MediaUploaded>> {
    let media = store
        .get_waiting::<MediaUploaded>(&media_key(id), until)
        .await?;
    Ok(media.filter(|m| m.owner_id == owner))
}

/// The metadata of a post's media that still exists, in the post's order.
pub fn attachments(store: &Store, ids: &[String]) -> ApiResult<Vec<MediaUploaded>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(m) = store.get::<MediaUploaded>(&media_key(id))? {
            out.push(m);
        }
    }
    Ok(out)
}
