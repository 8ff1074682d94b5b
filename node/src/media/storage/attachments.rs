//! What media is attached to: a projection of the events of the contexts that show media.
//! A *holder* is what shows it: a post (its id), a comment (its post's id then its own, so
//! a post's holders include its comments'), a message (its id), a profile (its user's id:
//! avatar and cover); ids are ULIDs, unique across kinds.
//! `pa/<media><holder>` (which holders show a media item), `pm/<holder><media>` (the media
//! of a holder), and `rel/<media>`: media that nothing shows any more, which [`release`]
//! then deletes for real (its bytes leave the quota; its files go with the sweep).
//! Handlers write only these prefixes; the deletion itself is a write of its own, so a
//! replay of the stream never deletes twice.

use crate::messages::events::{MessageDeleted, MessageSent};
use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Changes, Store, Tx, TxResult, key};
use crate::posts::events::{CommentAdded, CommentDeleted, PostCreated, PostDeleted};
use crate::users::events::ProfileUpdated;

use super::media_key;

/// The prefixes of this projection.
pub const PROJECTIONS: &[&str] = &["pa/", "pm/", "rel/"];

/// The queue of media to release.
pub(super) const RELEASE: &str = "rel/";

/// Uploads nothing has shown yet: `ua/<media>`, written with the upload (this context's
/// own record, not a projection), removed when something shows the media; [`expire`]
/// deletes those left unshown past a grace period.
pub(super) const UNSHOWN: &str = "ua/";

/// Length of a media id (a ULID).
const ID_LEN: usize = 26;

/// What a change of a holder does, read before its transaction (sled's cannot scan).
pub struct Plan {
    holder: String,
    /// `(holder, media)` pairs that stop.
    detach: Vec<(String, String)>,
    /// Media that nothing shows once they stop.
    release: Vec<String>,
    /// What `holder` shows from now on.
    attach: Vec<String>,
}

/// Plans making `holder` show exactly `ids`; with `with_inner`, the holders within it (a
/// deleted post's comments) show nothing any more either.
pub fn plan(store: &Store, holder: &str, ids: &[&str], with_inner: bool) -> ApiResult<Plan> {
    let mut detach = Vec::new();
    for (rest, _) in store.scan_after(&key("pm/", &[holder]), None, usize::MAX)? {
        let rest = String::from_utf8_lossy(&rest).into_owned();
        let Some(cut) = rest.len().checked_sub(ID_LEN) else {
            continue;
        };
        let (inner, media) = rest.split_at(cut);
        let keeps = inner.is_empty() && ids.contains(&media);
        if !keeps && (inner.is_empty() || with_inner) {
            detach.push((format!("{holder}{inner}"), media.to_string()));
        }
    }
    let mut release = Vec::new();
    for (_, media) in &detach {
        if release.contains(media) || ids.contains(&media.as_str()) {
            continue;
        }
        let elsewhere = store
            .scan_after(&key("pa/", &[media]), None, usize::MAX)?
            .iter()
            .any(|(h, _)| {
                !detach
                    .iter()
                    .any(|(d, m)| m == media && d.as_bytes() == h.as_slice())
            });
        if !elsewhere {
            release.push(media.clone());
        }
    }
    let attach = ids.iter().map(|id| id.to_string()).collect();
    Ok(Plan {
        holder: holder.to_string(),
        detach,
        release,
        attach,
    })
}

/// Applies a [`Plan`]: media deleted meanwhile (a replay) is not brought back.
pub fn apply(tx: &Tx, plan: &Plan) -> TxResult<()> {
    for (holder, media) in &plan.detach {
        tx.remove(&key("pa/", &[media, holder]))?;
        tx.remove(&key("pm/", &[holder, media]))?;
    }
    for media in &plan.release {
        tx.put_raw(&key(RELEASE, &[media]), &[])?;
    }
    for media in &plan.attach {
        if tx.contains(&media_key(media))? {
            tx.put_raw(&key("pa/", &[media, &plan.holder]), &[])?;
            tx.put_raw(&key("pm/", &[&plan.holder, media]), &[])?;
            tx.remove(&key(UNSHOWN, &[media]))?;
        }
    }
    Ok(())
}

fn ids(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

pub fn plan_post(store: &Store, e: &Event<PostCreated>) -> ApiResult<Plan> {
    let ids: Vec<&str> = e.data.media.iter().map(|m| m.media_id.as_str()).collect();
    plan(store, &e.data.post_id, &ids, false)
}

/// A deleted post lets go of its media and its comments'.
pub fn plan_deleted_post(store: &Store, e: &Event<PostDeleted>) -> ApiResult<Plan> {
    plan(store, &e.data.post_id, &[], true)
}

pub fn plan_comment(store: &Store, e: &Event<CommentAdded>) -> ApiResult<Plan> {
    let holder = format!("{}{}", e.data.post_id, e.data.comment_id);
    plan(store, &holder, &ids(&e.data.media_ids), false)
}

pub fn plan_deleted_comment(store: &Store, e: &Event<CommentDeleted>) -> ApiResult<Plan> {
    let holder = format!("{}{}", e.data.post_id, e.data.comment_id);
    plan(store, &holder, &[], false)
}

pub fn plan_message(store: &Store, e: &Event<MessageSent>) -> ApiResult<Plan> {
    plan(store, &e.data.message_id, &ids(&e.data.media_ids), false)
}

pub fn plan_deleted_message(store: &Store, e: &Event<MessageDeleted>) -> ApiResult<Plan> {
    plan(store, &e.data.message_id, &[], false)
}

/// A profile shows its avatar and its cover; a new one releases the one it replaced.
pub fn plan_profile(store: &Store, e: &Event<ProfileUpdated>) -> ApiResult<Plan> {
    let pictures: Vec<&str> = [&e.data.avatar_id, &e.data.cover_id]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    plan(store, &e.data.user_id, &pictures, false)
}

/// Applies any of the plans above (the `on_read` shape).
pub fn planned<E>(tx: &Tx, _: &Event<E>, plan: &Plan) -> TxResult<()> {
    apply(tx, plan)
}

/// Whether anything shows media `id`.
pub fn attached(store: &Store, id: &str) -> ApiResult<bool> {
    Ok(!store.scan_after(&key("pa/", &[id]), None, 1)?.is_empty())
}

/// Changes to the release queue, from now on.
pub fn watch_release(store: &Store) -> Changes {
    store.watch(RELEASE.as_bytes())
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

/// Uploads nothing has shown, uploaded before `cutoff_ms` (Unix milliseconds), oldest
/// first (media ids are ULIDs: they sort by upload time).
pub fn unshown_before(store: &Store, cutoff_ms: u64) -> ApiResult<Vec<String>> {
    Ok(store
        .queued_ids(UNSHOWN)?
        .into_iter()
        .take_while(|id| ulid::Ulid::from_string(id).is_ok_and(|u| u.timestamp_ms() < cutoff_ms))
        .collect())
}

/// Deletes upload `id` if nothing shows it (as Mastodon removes unattached uploads after a
/// day); else only forgets that it was unshown.
pub async fn expire(store: &Store, id: &str) -> ApiResult<()> {
    if attached(store, id)? {
        return store.unqueue(UNSHOWN, id).await;
    }
    super::remove(store, id, None).await
}

#[cfg(test)]
mod tests {
    use super::super::{Media, Rendition, add, media, usage};
    use super::*;
    use crate::media::domain::Format;

    fn upload(owner: &str) -> Media {
        Media {
            id: crate::platform::new_id(),
            owner: owner.into(),
            uploaded: Format::Png,
            main: Rendition {
                sha256: "ab".repeat(32),
                format: Format::Png,
                size: 100,
                dimensions: None,
            },
            thumbnails: Vec::new(),
            blurhash: None,
            alt: String::new(),
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn an_upload_nothing_shows_expires_and_one_shown_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (shown, unshown) = (upload("ann"), upload("ann"));
        for m in [&shown, &unshown] {
            add(&store, m, u64::MAX).await.unwrap();
        }
        let later = u64::MAX;
        assert_eq!(
            unshown_before(&store, later).unwrap(),
            [shown.id.clone(), unshown.id.clone()]
        );
        assert!(
            unshown_before(&store, 0).unwrap().is_empty(),
            "none is old yet"
        );

        let plan = plan(&store, "post", &[&shown.id], false).unwrap();
        store.write(|tx| apply(tx, &plan)).await.unwrap();
        assert_eq!(
            unshown_before(&store, later).unwrap(),
            [unshown.id.as_str()]
        );

        expire(&store, &unshown.id).await.unwrap();
        assert!(media(&store, &unshown.id).unwrap().is_none());
        assert!(media(&store, &shown.id).unwrap().is_some());
        assert_eq!(
            usage(&store, "ann").unwrap(),
            100,
            "the expired upload left the quota"
        );
        assert!(unshown_before(&store, later).unwrap().is_empty());
    }
}
