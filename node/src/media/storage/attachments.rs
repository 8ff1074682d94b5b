//! What media is attached to: a projection of the events of the contexts that show media.
//! A *holder* is what shows it: a post (by its id), a message (by its id), a profile (by
//! its user's id: avatar and cover); ids are ULIDs, unique across kinds.
//! `pa/<media><holder>` (which holders show a media item), `pm/<holder><media>` (the media
//! of a holder), and `rel/<media>`: media that nothing shows any more, which [`release`]
//! then deletes for real (its bytes leave the quota; its files go with the sweep).
//! Handlers write only these prefixes; the deletion itself is a write of its own, so a
//! replay of the stream never deletes twice.

use crate::messages::events::{MessageDeleted, MessageSent};
use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, key};
use crate::posts::events::{PostCreated, PostDeleted};
use crate::users::events::ProfileUpdated;

use super::media_key;

/// The prefixes of this projection.
pub const PROJECTIONS: &[&str] = &["pa/", "pm/", "rel/"];

/// The queue of media to release.
pub(super) const RELEASE: &str = "rel/";

/// What a holder shows now: each media item, and whether another holder shows it too.
pub struct Shown(Vec<(String, bool)>);

/// Reads what `holder` shows (outside the transaction: sled's cannot scan).
pub fn read_shown(store: &Store, holder: &str) -> ApiResult<Shown> {
    let mut out = Vec::new();
    for (media, _) in store.scan_after(&key("pm/", &[holder]), None, usize::MAX)? {
        let media = String::from_utf8_lossy(&media).into_owned();
        let elsewhere = store
            .scan_after(&key("pa/", &[&media]), None, 2)?
            .iter()
            .any(|(h, _)| h.as_slice() != holder.as_bytes());
        out.push((media, elsewhere));
    }
    Ok(Shown(out))
}

/// Makes `holder` show exactly `ids`: media it no longer shows is released unless another
/// holder shows it; media deleted meanwhile (a replay) is not brought back.
pub fn show(tx: &Tx, holder: &str, shown: &Shown, ids: &[&str]) -> TxResult<()> {
    for (id, elsewhere) in &shown.0 {
        if ids.contains(&id.as_str()) {
            continue;
        }
        tx.remove(&key("pa/", &[id, holder]))?;
        tx.remove(&key("pm/", &[holder, id]))?;
        if !elsewhere {
            tx.put_raw(&key(RELEASE, &[id]), &[])?;
        }
    }
    for id in ids {
        if tx.contains(&media_key(id))? {
            tx.put_raw(&key("pa/", &[id, holder]), &[])?;
            tx.put_raw(&key("pm/", &[holder, id]), &[])?;
        }
    }
    Ok(())
}

pub fn read_post(store: &Store, e: &Event<PostCreated>) -> ApiResult<Shown> {
    read_shown(store, &e.data.post_id)
}

pub fn post_created(tx: &Tx, e: &Event<PostCreated>, shown: &Shown) -> TxResult<()> {
    let ids: Vec<&str> = e.data.media.iter().map(|m| m.media_id.as_str()).collect();
    show(tx, &e.data.post_id, shown, &ids)
}

pub fn read_deleted_post(store: &Store, e: &Event<PostDeleted>) -> ApiResult<Shown> {
    read_shown(store, &e.data.post_id)
}

pub fn post_deleted(tx: &Tx, e: &Event<PostDeleted>, shown: &Shown) -> TxResult<()> {
    show(tx, &e.data.post_id, shown, &[])
}

pub fn read_message(store: &Store, e: &Event<MessageSent>) -> ApiResult<Shown> {
    read_shown(store, &e.data.message_id)
}

pub fn message_sent(tx: &Tx, e: &Event<MessageSent>, shown: &Shown) -> TxResult<()> {
    let ids: Vec<&str> = e.data.media_ids.iter().map(String::as_str).collect();
    show(tx, &e.data.message_id, shown, &ids)
}

pub fn read_deleted_message(store: &Store, e: &Event<MessageDeleted>) -> ApiResult<Shown> {
    read_shown(store, &e.data.message_id)
}

pub fn message_deleted(tx: &Tx, e: &Event<MessageDeleted>, shown: &Shown) -> TxResult<()> {
    show(tx, &e.data.message_id, shown, &[])
}

pub fn read_profile(store: &Store, e: &Event<ProfileUpdated>) -> ApiResult<Shown> {
    read_shown(store, &e.data.user_id)
}

/// A profile shows its avatar and its cover; a new one releases the one it replaced.
pub fn profile_updated(tx: &Tx, e: &Event<ProfileUpdated>, shown: &Shown) -> TxResult<()> {
    let ids: Vec<&str> = [&e.data.avatar_id, &e.data.cover_id]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    show(tx, &e.data.user_id, shown, &ids)
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
