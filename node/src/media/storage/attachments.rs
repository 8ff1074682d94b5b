//! What media is attached to: a projection of posts' events. `pa/<media><post>` (which
//! posts show a media item), `pm/<post><media>` (the media of a post), and `rel/<media>`:
//! media whose last post was deleted, which [`release`] then deletes for real (its bytes
//! leave the quota; its files go with the sweep). Handlers write only these prefixes; the
//! deletion itself is a write of its own, so a replay of the stream never deletes twice.

use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, key};
use crate::posts::events::{PostCreated, PostDeleted};

use super::media_key;

/// The prefixes of this projection.
pub const PROJECTIONS: &[&str] = &["pa/", "pm/", "rel/"];

/// The queue of media to release.
pub(super) const RELEASE: &str = "rel/";

pub fn post_created(tx: &Tx, e: &Event<PostCreated>) -> TxResult<()> {
    let post = &e.data.post_id;
    for m in &e.data.media {
        let id = &m.media_id;
        // Media deleted since (a replay) is not brought back.
        if tx.contains(&media_key(id))? {
            tx.put_raw(&key("pa/", &[id, post]), &[])?;
            tx.put_raw(&key("pm/", &[post, id]), &[])?;
        }
    }
    Ok(())
}

/// The media of a post, and whether each is attached to any other post.
pub fn read_post_media(store: &Store, e: &Event<PostDeleted>) -> ApiResult<Vec<(String, bool)>> {
    let post = &e.data.post_id;
    let mut out = Vec::new();
    for (media, _) in store.scan_after(&key("pm/", &[post]), None, usize::MAX)? {
        let media = String::from_utf8_lossy(&media).into_owned();
        let elsewhere = store
            .scan_after(&key("pa/", &[&media]), None, 2)?
            .iter()
            .any(|(p, _)| p.as_slice() != post.as_bytes());
        out.push((media, elsewhere));
    }
    Ok(out)
}

pub fn post_deleted(tx: &Tx, e: &Event<PostDeleted>, media: &Vec<(String, bool)>) -> TxResult<()> {
    let post = &e.data.post_id;
    for (id, elsewhere) in media {
        tx.remove(&key("pa/", &[id, post]))?;
        tx.remove(&key("pm/", &[post, id]))?;
        if !elsewhere {
            tx.put_raw(&key(RELEASE, &[id]), &[])?;
        }
    }
    Ok(())
}

/// Whether anything shows media `id`.
pub fn attached(store: &Store, id: &str) -> ApiResult<bool> {
    Ok(!store.scan_after(&key("pa/", &[id]), None, 1)?.is_empty())
}

/// Changes to the release queue, from now on.
pub fn watch_release(store: &Store) -> sled::Subscriber {
    store.data.watch_prefix(RELEASE.as_bytes())
}

/// The media a change of the queue put in it, if it did.
pub fn queued(event: &sled::Event) -> Option<String> {
    match event {
        sled::Event::Insert { key, .. } => key
            .strip_prefix(RELEASE.as_bytes())
            .map(|id| String::from_utf8_lossy(id).into_owned()),
        sled::Event::Remove { .. } => None,
    }
}

/// The media waiting to be released.
pub fn to_release(store: &Store) -> ApiResult<Vec<String>> {
    store.queued_ids(RELEASE)
}

/// Deletes released media `id` (unless something shows it again), and its queue entry.
pub async fn release(store: &Store, id: &str) -> ApiResult<()> {
    if attached(store, id)? {
        return store
            .write(|tx| tx.remove(&key(RELEASE, &[id])).map(|_| ()))
            .await;
    }
    super::remove(store, id, None).await
}
