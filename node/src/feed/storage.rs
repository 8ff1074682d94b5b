//! The only code of feed that touches sled. Prefixes: `t/<user><post>` home timelines,
//! `pm/<post>` post metadata, `ap/<author><post>`, `gp/<group><post>`, `pp/<page><post>`
//! posts by source (for the pull path and rebuilds), `f/<a><b>` friendships, `b/<a><b>`
//! blocks, `gm/<group><user>` and `mg/<user><group>` memberships, `up/<user><page>` page
//! follows, `af/<reader><author>` affinity (interaction counts), `rk/<post><user>` who
//! reacted, `ls/<user>` when the user last read the feed.

use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, key};
use crate::posts::events::Audience;

use super::domain::{ACTIVE_SECS, PER_SOURCE, PostMeta, Relation, TIMELINE_CAP};

fn meta_key(post: &str) -> Vec<u8> {
    key("pm/", &[post])
}

fn ids(rows: Vec<(Vec<u8>, sled::IVec)>) -> Vec<String> {
    rows.into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect()
}

/// Every id under `prefix<owner>`.
fn all(store: &Store, prefix: &str, owner: &str) -> ApiResult<Vec<String>> {
    Ok(ids(store.scan_after(
        &key(prefix, &[owner]),
        None,
        usize::MAX,
    )?))
}

fn source_key(meta: &PostMeta) -> Vec<u8> {
    match &meta.audience {
        Audience::Profile => key("ap/", &[&meta.author_id, &meta.id]),
        Audience::Group { id } => key("gp/", &[id, &meta.id]),
        Audience::Page { id } => key("pp/", &[id, &meta.id]),
    }
}

// ----- projections -----

/// The newest posts of a source (`ap/<author>` or `gp/<group>`).
fn recent_of(store: &Store, prefix: &str, owner: &str) -> ApiResult<Vec<String>> {
    Ok(ids(store.scan_before(
        &key(prefix, &[owner]),
        None,
        PER_SOURCE,
    )?))
}

/// A new friendship: both ways, and each side's recent posts enter the other's timeline
/// (the feed converges on befriending too, not only on unfriending).
pub fn befriend(store: &Store, event_id: &str, a: &str, b: &str) -> ApiResult<bool> {
    let (from_a, from_b) = (recent_of(store, "ap/", a)?, recent_of(store, "ap/", b)?);
    store.apply_once(event_id, |tx| {
        tx.put_raw(&key("f/", &[a, b]), &[])?;
        tx.put_raw(&key("f/", &[b, a]), &[])?;
        for (reader, posts) in [(b, &from_a), (a, &from_b)] {
            for p in posts {
                tx.put_raw(&key("t/", &[reader, p]), &[])?;
            }
        }
        Ok(())
    })
}

pub fn set_member(
    store: &Store,
    event_id: &str,
    group: &str,
    user: &str,
    member: bool,
) -> ApiResult<bool> {
    let backfill = if member {
        recent_of(store, "gp/", group)?
    } else {
        Vec::new()
    };
    store.apply_once(event_id, |tx| {
        if member {
            for p in &backfill {
                tx.put_raw(&key("t/", &[user, p]), &[])?;
            }
            tx.put_raw(&key("gm/", &[group, user]), &[])?;
            tx.put_raw(&key("mg/", &[user, group]), &[])
        } else {
            tx.remove(&key("gm/", &[group, user]))?;
            tx.remove(&key("mg/", &[user, group])).map(|_| ())
        }
    })
}

/// A deleted group: its memberships go (its posts then leave every feed).
pub fn drop_group(store: &Store, event_id: &str, group: &str) -> ApiResult<bool> {
    let members = all(store, "gm/", group)?;
    store.apply_once(event_id, |tx| {
        for u in &members {
            tx.remove(&key("gm/", &[group, u]))?;
            tx.remove(&key("mg/", &[u, group]))?;
        }
        Ok(())
    })
}

fn active(store: &Store, user: &str, now: i64) -> ApiResult<bool> {
    Ok(last_seen(store, user)?.is_some_and(|t| now - t < ACTIVE_SECS))
}

/// Records a new post and fans it out to the timelines of the active readers it is for:
/// the author, the author's friends (profile posts) or the group's members. Page posts are
/// not fanned out (pages may have very many followers): readers pull them.
pub fn add_post(store: &Store, event_id: &str, meta: &PostMeta, now: i64) -> ApiResult<bool> {
    let candidates = match &meta.audience {
        Audience::Profile if meta.visibility != crate::posts::events::Visibility::OnlyMe => {
            all(store, "f/", &meta.author_id)?
        }
        Audience::Group { id } => all(store, "gm/", id)?,
        _ => Vec::new(),
    };
    let mut readers = vec![meta.author_id.clone()];
    for u in candidates {
        if u != meta.author_id && active(store, &u, now)? {
            readers.push(u);
        }
    }
    let original_author = match &meta.shared_post {
        Some(o) => store.get::<PostMeta>(&meta_key(o))?.map(|o| o.author_id),
        None => None,
    };
    store.apply_once(event_id, |tx| {
        tx.put(&meta_key(&meta.id), meta)?;
        tx.put_raw(&source_key(meta), &[])?;
        for u in &readers {
            tx.put_raw(&key("t/", &[u, &meta.id]), &[])?;
        }
        if let (Some(original), Some(author)) = (&meta.shared_post, &original_author) {
            bump(tx, original, |m| m.shares += 1)?;
            interact(tx, &meta.author_id, author)?;
        }
        Ok(())
    })
}

/// Changes the stored metadata of a post, if the feed knows it.
fn bump(tx: &Tx, post: &str, change: impl Fn(&mut PostMeta)) -> TxResult<Option<PostMeta>> {
    let k = meta_key(post);
    let Some(mut meta) = tx.get::<PostMeta>(&k)? else {
        return Ok(None);
    };
    change(&mut meta);
    tx.put(&k, &meta)?;
    Ok(Some(meta))
}

/// One more interaction of `reader` with `author` (affinity).
fn interact(tx: &Tx, reader: &str, author: &str) -> TxResult<()> {
    if reader == author {
        return Ok(());
    }
    let k = key("af/", &[reader, author]);
    let n: u64 = tx.get(&k)?.unwrap_or(0);
    tx.put(&k, &(n + 1))
}

pub fn edit_post(
    store: &Store,
    event_id: &str,
    post: &str,
    visibility: crate::posts::events::Visibility,
    text: &str,
) -> ApiResult<bool> {
    store.apply_once(event_id, |tx| {
        bump(tx, post, |m| {
            m.visibility = visibility;
            m.text = text.to_string();
        })
        .map(|_| ())
    })
}

/// A deleted post leaves every feed: reads skip posts the feed no longer knows.
pub fn delete_post(store: &Store, event_id: &str, post: &str) -> ApiResult<bool> {
    let meta = store.get::<PostMeta>(&meta_key(post))?;
    store.apply_once(event_id, |tx| {
        if let Some(meta) = &meta {
            tx.remove(&meta_key(post))?;
            tx.remove(&source_key(meta))?;
        }
        Ok(())
    })
}

pub fn comment(
    store: &Store,
    event_id: &str,
    post: &str,
    commenter: &str,
    added: bool,
) -> ApiResult<bool> {
    store.apply_once(event_id, |tx| {
        let meta = bump(tx, post, |m| {
            m.comments = if added {
                m.comments + 1
            } else {
                m.comments.saturating_sub(1)
            }
        })?;
        match meta {
            Some(m) if added => interact(tx, commenter, &m.author_id),
            _ => Ok(()),
        }
    })
}

/// A reaction to a post (not a comment) set or removed; counted once per user.
pub fn reaction(
    store: &Store,
    event_id: &str,
    post: &str,
    user: &str,
    on: bool,
) -> ApiResult<bool> {
    store.apply_once(event_id, |tx| {
        let marker = key("rk/", &[post, user]);
        let had = tx.contains(&marker)?;
        match (on, had) {
            (true, false) => {
                tx.put_raw(&marker, &[])?;
                if let Some(m) = bump(tx, post, |m| m.reactions += 1)? {
                    interact(tx, user, &m.author_id)?;
                }
            }
            (false, true) => {
                tx.remove(&marker)?;
                bump(tx, post, |m| m.reactions = m.reactions.saturating_sub(1))?;
            }
            _ => {}
        }
        Ok(())
    })
}

// ----- reads -----

pub fn last_seen(store: &Store, user: &str) -> ApiResult<Option<i64>> {
    store.get(&key("ls/", &[user]))
}

pub fn touch(store: &Store, user: &str, now: i64) -> ApiResult<()> {
    store
        .data
        .insert(key("ls/", &[user]), crate::platform::storage::to_json(&now))?;
    Ok(())
}

pub fn meta(store: &Store, post: &str) -> ApiResult<Option<PostMeta>> {
    store.get(&meta_key(post))
}

pub fn relation(store: &Store, reader: &str, meta: &PostMeta) -> ApiResult<Relation> {
    let a = &meta.author_id;
    let mut r = Relation {
        is_author: reader == a,
        ..Default::default()
    };
    if r.is_author {
        return Ok(r);
    }
    r.blocked =
        store.contains(&key("b/", &[reader, a]))? || store.contains(&key("b/", &[a, reader]))?;
    match &meta.audience {
        Audience::Profile => r.friends = store.contains(&key("f/", &[reader, a]))?,
        Audience::Group { id } => r.group_member = store.contains(&key("gm/", &[id, reader]))?,
        Audience::Page { id } => r.follows_page = store.contains(&key("up/", &[reader, id]))?,
    }
    Ok(r)
}

pub fn interactions(store: &Store, reader: &str, author: &str) -> ApiResult<u64> {
    Ok(store.get(&key("af/", &[reader, author]))?.unwrap_or(0))
}

/// Candidate post ids for a reader, newest first, older than `before`: the newest of their
/// timeline and of the pages they follow.
pub fn candidates(
    store: &Store,
    reader: &str,
    before: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<String>> {
    let before = before.map(str::as_bytes);
    let mut out = ids(store.scan_before(&key("t/", &[reader]), before, limit)?);
    for page in all(store, "up/", reader)?.into_iter().take(100) {
        out.extend(ids(store.scan_before(
            &key("pp/", &[&page]),
            before,
            PER_SOURCE,
        )?));
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    // The newest `limit` of both sources: the next window starts where this one ends.
    out.truncate(limit);
    Ok(out)
}

/// Rebuilds the timeline of a reader who was away: recent posts of their friends, their
/// groups and their own, instead of fan-out they did not get.
pub fn rebuild(store: &Store, reader: &str) -> ApiResult<()> {
    let mut posts = ids(store.scan_before(&key("ap/", &[reader]), None, PER_SOURCE)?);
    for friend in all(store, "f/", reader)? {
        posts.extend(ids(store.scan_before(
            &key("ap/", &[&friend]),
            None,
            PER_SOURCE,
        )?));
    }
    for group in all(store, "mg/", reader)? {
        posts.extend(ids(store.scan_before(
            &key("gp/", &[&group]),
            None,
            PER_SOURCE,
        )?));
    }
    posts.sort_unstable_by(|a, b| b.cmp(a));
    posts.truncate(TIMELINE_CAP);
    let mut batch = sled::Batch::default();
    for p in posts {
        batch.insert(key("t/", &[reader, &p]), &[]);
    }
    store.data.apply_batch(batch)?;
    Ok(())
}

/// Drops timeline entries beyond the cap.
pub fn trim(store: &Store, reader: &str) -> ApiResult<()> {
    let old = store.scan_before(&key("t/", &[reader]), None, TIMELINE_CAP + 256)?;
    for (post, _) in old.into_iter().skip(TIMELINE_CAP) {
        store
            .data
            .remove([key("t/", &[reader]).as_slice(), &post].concat())?;
    }
    Ok(())
}
