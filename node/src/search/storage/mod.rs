//! The sled side of search: everything is a projection of other contexts' events.
//!
//! Keys: `d/<kind>/<id>` the document as it should be indexed; `q/<event><kind>/<id>` the
//! documents an event changed, in order, until the indexer ([`index`]) has them in
//! Tantivy; `f/<a><b>` friendships, `b/<a><b>` blocks, `gm/<user><group>` memberships,
//! `gv/<group>` group privacy, `gp/<group><post>` the posts of a group, `pm/<post>` a
//! post's audience (to recompute who finds it when its group's privacy changes), `rm/` and
//! `su/` what moderators hide ([`moderation`]), `pd/` an erasure's request to purge deleted
//! documents from the index's files.

pub mod index;
mod moderation;
pub mod sealed_directory;
pub mod trending;
mod typos;

pub use moderation::{
    account_reinstated, account_suspended, content_removed, content_restored, suspended,
};

use crate::auth::events::AccountErased;
use crate::platform::erasure::{self, Erase, Named};
use serde::{Deserialize, Serialize};

use super::domain::{self, Doc, Kind};
use crate::groups::events::{self as groups, GroupPrivacy};
use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Changes, Store, Tx, TxResult, key};
use crate::posts::events::{self as posts, Audience, Visibility};
use crate::users::events as users;

/// Everything: a rebuild replays it all, and the index follows from the documents.
pub const PROJECTIONS: &[&str] = &[
    "d/", "q/", "f/", "b/", "gm/", "gv/", "gp/", "pm/", "th/", "tw/", "tc/", "rm/", "su/", "pd/",
    "au/",
];

const QUEUE: &str = "q/";

fn doc_key(kind: Kind, id: &str) -> Vec<u8> {
    key("d/", &[kind.name(), "/", id])
}

/// The document id the index knows a document by.
pub fn doc_id(kind: Kind, id: &str) -> String {
    format!("{}/{id}", kind.name())
}

/// Records `doc` and queues it for the indexer, under the event that changed it.
fn put_doc(tx: &Tx, event: &str, doc: &Doc) -> TxResult<()> {
    tx.put(&doc_key(doc.kind, &doc.id), doc)?;
    queue(tx, event, doc.kind, &doc.id)
}

fn drop_doc(tx: &Tx, event: &str, kind: Kind, id: &str) -> TxResult<()> {
    tx.remove(&doc_key(kind, id))?;
    queue(tx, event, kind, id)
}

fn queue(tx: &Tx, event: &str, kind: Kind, id: &str) -> TxResult<()> {
    tx.put_raw(&key(QUEUE, &[event, &doc_id(kind, id)]), &[])
}

// ----- people -----

pub fn profile_updated(tx: &Tx, e: &Event<users::ProfileUpdated>) -> TxResult<()> {
    let p = &e.data;
    let doc = Doc {
        kind: Kind::People,
        id: p.user_id.clone(),
        title: format!("{} {}", p.username, p.display_name),
        body: p.bio.clone(),
        tags: Vec::new(),
        owner: Some(p.user_id.clone()),
        access: domain::person_access(&p.user_id, p.privacy.searchable),
        created_at: e.occurred_at.unix_timestamp(),
        username: p.username.clone(),
        display_name: p.display_name.clone(),
    };
    tx.put(&key("au/", &[&p.user_id]), &users::Byline::from(p))?;
    put_doc(tx, e.id, &doc)
}

/// The name and avatar shown with a person's hits and beside their posts.
pub fn byline(store: &Store, user: &str) -> ApiResult<Option<users::Byline>> {
    store.get(&key("au/", &[user]))
}

pub fn befriend(tx: &Tx, e: &Event<users::FriendshipCreated>) -> TxResult<()> {
    tx.set_pair("f/", &e.data.user_a, &e.data.user_b, true, true)
}

pub fn unfriend(tx: &Tx, e: &Event<users::FriendshipEnded>) -> TxResult<()> {
    tx.set_pair("f/", &e.data.user_a, &e.data.user_b, false, true)
}

pub fn block(tx: &Tx, e: &Event<users::UserBlocked>) -> TxResult<()> {
    tx.set_pair("b/", &e.data.blocker, &e.data.blocked, true, true)
}

pub fn unblock(tx: &Tx, e: &Event<users::UserUnblocked>) -> TxResult<()> {
    tx.set_pair("b/", &e.data.blocker, &e.data.blocked, false, true)
}

// ----- groups and pages -----

/// The posts of a group, read before its privacy changes (they are found anew).
pub fn read_group_posts(store: &Store, e: &Event<groups::GroupUpdated>) -> ApiResult<Vec<String>> {
    group_posts(store, &e.data.group_id)
}

pub fn read_deleted_group_posts(
    store: &Store,
    e: &Event<groups::GroupDeleted>,
) -> ApiResult<Vec<String>> {
    group_posts(store, &e.data.group_id)
}

fn group_posts(store: &Store, group: &str) -> ApiResult<Vec<String>> {
    Ok(store
        .scan_after(&key("gp/", &[group]), None, usize::MAX)?
        .into_iter()
        .map(|(post, _)| String::from_utf8_lossy(&post).into_owned())
        .collect())
}

pub fn group_updated(
    tx: &Tx,
    e: &Event<groups::GroupUpdated>,
    posts: &Vec<String>,
) -> TxResult<()> {
    let g = &e.data;
    let before: Option<GroupPrivacy> = tx.get(&key("gv/", &[&g.group_id]))?;
    tx.put(&key("gv/", &[&g.group_id]), &g.privacy)?;
    let doc = Doc {
        kind: Kind::Groups,
        id: g.group_id.clone(),
        title: g.name.clone(),
        body: String::new(),
        tags: Vec::new(),
        owner: None,
        access: domain::group_access(&g.group_id, g.privacy),
        created_at: e.occurred_at.unix_timestamp(),
        username: String::new(),
        display_name: String::new(),
    };
    put_doc(tx, e.id, &doc)?;
    if before != Some(g.privacy) {
        for post in posts {
            reaccess_post(tx, e.id, post, Some(g.privacy))?;
        }
    }
    Ok(())
}

pub fn group_deleted(
    tx: &Tx,
    e: &Event<groups::GroupDeleted>,
    posts: &Vec<String>,
) -> TxResult<()> {
    let group = &e.data.group_id;
    tx.remove(&key("gv/", &[group]))?;
    drop_doc(tx, e.id, Kind::Groups, group)?;
    for post in posts {
        tx.remove(&key("gp/", &[group, post]))?;
        tx.remove(&key("pm/", &[post]))?;
        drop_doc(tx, e.id, Kind::Posts, post)?;
    }
    Ok(())
}

pub fn member_joined(tx: &Tx, e: &Event<groups::MemberJoined>) -> TxResult<()> {
    tx.put_raw(&key("gm/", &[&e.data.user_id, &e.data.group_id]), &[])
}

pub fn member_left(tx: &Tx, e: &Event<groups::MemberLeft>) -> TxResult<()> {
    tx.remove(&key("gm/", &[&e.data.user_id, &e.data.group_id]))
        .map(|_| ())
}

pub fn page_updated(tx: &Tx, e: &Event<groups::PageUpdated>) -> TxResult<()> {
    let p = &e.data;
    let doc = Doc {
        kind: Kind::Pages,
        id: p.page_id.clone(),
        title: p.name.clone(),
        body: String::new(),
        tags: Vec::new(),
        owner: None,
        access: vec![domain::PUBLIC.into()],
        created_at: e.occurred_at.unix_timestamp(),
        username: String::new(),
        display_name: String::new(),
    };
    put_doc(tx, e.id, &doc)
}

// ----- posts -----

/// What a post's access is computed from.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PostMeta {
    author: String,
    audience: Audience,
    visibility: Visibility,
}

pub fn post_created(tx: &Tx, e: &Event<posts::PostCreated>) -> TxResult<()> {
    let p = &e.data;
    let meta = PostMeta {
        author: p.author_id.clone(),
        audience: p.audience.clone(),
        visibility: p.visibility,
    };
    if let Audience::Group { id } = &p.audience {
        tx.put_raw(&key("gp/", &[id, &p.post_id]), &[])?;
    }
    tx.put(&key("pm/", &[&p.post_id]), &meta)?;
    let doc = post_doc(tx, &p.post_id, &meta, &p.text, &p.hashtags, p.created_at)?;
    trend(tx, &p.post_id, &meta, p.created_at, &p.hashtags)?;
    put_doc(tx, e.id, &doc)
}

/// What the post adds to trending (nothing unless it is public).
fn trend(tx: &Tx, post: &str, meta: &PostMeta, created_at: i64, tags: &[String]) -> TxResult<()> {
    let public =
        trending::counts(&meta.audience, meta.visibility) && !moderation::removed(tx, post)?;
    trending::contribute(
        tx,
        post,
        public.then_some((meta.author.as_str(), created_at, tags)),
    )
}

pub fn post_edited(tx: &Tx, e: &Event<posts::PostEdited>) -> TxResult<()> {
    let p = &e.data;
    let Some(mut meta) = tx.get::<PostMeta>(&key("pm/", &[&p.post_id]))? else {
        return Ok(());
    };
    let Some(old) = tx.get::<Doc>(&doc_key(Kind::Posts, &p.post_id))? else {
        return Ok(());
    };
    meta.visibility = p.visibility;
    tx.put(&key("pm/", &[&p.post_id]), &meta)?;
    let doc = post_doc(tx, &p.post_id, &meta, &p.text, &p.hashtags, old.created_at)?;
    trend(tx, &p.post_id, &meta, old.created_at, &p.hashtags)?;
    put_doc(tx, e.id, &doc)
}

pub fn post_deleted(tx: &Tx, e: &Event<posts::PostDeleted>) -> TxResult<()> {
    forget_post(tx, e.id, &e.data.post_id)
}

/// Drops a post: its document (through the queue), its audience and its tag uses.
fn forget_post(tx: &Tx, event: &str, post: &str) -> TxResult<()> {
    if let Some(meta) = tx.get::<PostMeta>(&key("pm/", &[post]))?
        && let Audience::Group { id } = &meta.audience
    {
        tx.remove(&key("gp/", &[id, post]))?;
    }
    tx.remove(&key("pm/", &[post]))?;
    trending::contribute(tx, post, None)?;
    drop_doc(tx, event, Kind::Posts, post)
}

/// Erasure: the person's profile and posts leave the index (through the queue) and their
/// tag uses leave trending; the groups and pages they created, and what they posted as a
/// page (which the posts context keeps as the page's), stay findable without naming them
/// (re-indexed); every other record naming them goes.
pub fn account_erased(tx: &Tx, e: &Event<AccountErased>, found: &Vec<Named>) -> TxResult<()> {
    let person = &e.data.account_id;
    let posts_prefix = doc_key(Kind::Posts, "");
    // Records rewritten here without the person, which the policy below must not remove.
    let mut kept = Vec::new();
    for named in found {
        if let Some(post) = named.key.strip_prefix(posts_prefix.as_slice()) {
            let post = String::from_utf8_lossy(post).into_owned();
            if keep_as_the_pages(tx, &post)? {
                kept.extend([named.key.clone(), key("pm/", &[&post])]);
            } else {
                forget_post(tx, e.id, &post)?;
            }
        }
    }
    let rest: Vec<Named> = found
        .iter()
        .filter(|n| !kept.contains(&n.key))
        .cloned()
        .collect();
    erasure::apply(tx, person, &rest, |named, _| {
        let kept = [Kind::Groups, Kind::Pages].map(|k| doc_key(k, ""));
        if kept.iter().any(|k| named.key.starts_with(k)) {
            Erase::Anonymize
        } else {
            Erase::Remove
        }
    })?;
    for named in found {
        if let Some(doc) = named.key.strip_prefix(b"d/") {
            tx.put_raw(&[QUEUE.as_bytes(), e.id.as_bytes(), doc].concat(), &[])?;
        }
    }
    tx.put_raw(PURGE, e.id.as_bytes())
}

/// A post its erased author made as a page stays the page's: its document and audience
/// record name [`erasure::ERASED`] as the author instead (who finds it does not change: a
/// page's posts are public). Its tag uses leave trending (distinct authors are counted).
/// Returns whether the post was one.
fn keep_as_the_pages(tx: &Tx, post: &str) -> TxResult<bool> {
    let Some(mut meta) = tx
        .get::<PostMeta>(&key("pm/", &[post]))?
        .filter(|m| matches!(m.audience, Audience::Page { .. }))
    else {
        return Ok(false);
    };
    meta.author = erasure::ERASED.to_string();
    tx.put(&key("pm/", &[post]), &meta)?;
    if let Some(mut doc) = tx.get::<Doc>(&doc_key(Kind::Posts, post))? {
        doc.owner = Some(meta.author.clone());
        if !doc.access.is_empty() {
            doc.access = domain::post_access(&meta.author, &meta.audience, meta.visibility, None);
        }
        tx.put(&doc_key(Kind::Posts, post), &doc)?;
    }
    trending::contribute(tx, post, None)?;
    Ok(true)
}

fn post_doc(
    tx: &Tx,
    id: &str,
    meta: &PostMeta,
    text: &str,
    hashtags: &[String],
    created_at: i64,
) -> TxResult<Doc> {
    let group_privacy = match &meta.audience {
        Audience::Group { id } => tx.get(&key("gv/", &[id]))?,
        _ => None,
    };
    Ok(Doc {
        kind: Kind::Posts,
        id: id.to_string(),
        title: String::new(),
        body: text.to_string(),
        tags: hashtags.iter().map(|t| t.to_lowercase()).collect(),
        owner: Some(meta.author.clone()),
        // A removed post is found by nobody.
        access: if moderation::removed(tx, id)? {
            Vec::new()
        } else {
            domain::post_access(&meta.author, &meta.audience, meta.visibility, group_privacy)
        },
        created_at,
        username: String::new(),
        display_name: String::new(),
    })
}

/// Recomputes who finds a group post after its group's privacy changed.
fn reaccess_post(tx: &Tx, event: &str, post: &str, privacy: Option<GroupPrivacy>) -> TxResult<()> {
    let (Some(meta), Some(mut doc)) = (
        tx.get::<PostMeta>(&key("pm/", &[post]))?,
        tx.get::<Doc>(&doc_key(Kind::Posts, post))?,
    ) else {
        return Ok(());
    };
    if !moderation::removed(tx, post)? {
        doc.access = domain::post_access(&meta.author, &meta.audience, meta.visibility, privacy);
    }
    put_doc(tx, event, &doc)
}

// ----- what the viewer holds -----

/// The access tokens `viewer` holds, and the owners they must not find: those a block
/// stands between them and, and suspended accounts.
pub fn viewer_access(store: &Store, viewer: &str) -> ApiResult<(Vec<String>, Vec<String>)> {
    let mut holds = vec![domain::PUBLIC.to_string(), domain::author_token(viewer)];
    let friends = related(store, "f/", viewer)?;
    let mut second = std::collections::BTreeSet::new();
    for f in &friends {
        holds.push(domain::friends_token(f));
        holds.push(domain::fof_token(f));
        for x in related(store, "f/", f)? {
            if x != viewer {
                second.insert(x);
            }
        }
    }
    holds.extend(second.iter().map(|x| domain::fof_token(x)));
    for group in related(store, "gm/", viewer)? {
        holds.push(domain::member_token(&group));
    }
    let suspended = moderation::suspended(store, crate::platform::unix_now())?;
    let blocked = related(store, "b/", viewer)?
        .iter()
        .chain(suspended.iter().filter(|s| *s != viewer))
        .map(|b| domain::author_token(b))
        .collect();
    Ok((holds, blocked))
}

fn related(store: &Store, prefix: &str, of: &str) -> ApiResult<Vec<String>> {
    Ok(store
        .scan_after(&key(prefix, &[of]), None, usize::MAX)?
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect())
}

// ----- the indexer's side -----

/// A queued change: its queue key and the document id it names.
pub struct Queued {
    pub key: Vec<u8>,
    pub doc: String,
}

/// Up to `limit` queued changes, oldest first.
pub fn queued(store: &Store, limit: usize) -> ApiResult<Vec<Queued>> {
    Ok(store
        .scan_after(QUEUE.as_bytes(), None, limit)?
        .into_iter()
        .map(|(rest, _)| Queued {
            doc: String::from_utf8_lossy(rest.get(26..).unwrap_or_default()).into_owned(),
            key: [QUEUE.as_bytes(), &rest].concat(),
        })
        .collect())
}

/// The document a queued change names, as it is now (`None`: gone).
pub fn doc(store: &Store, doc_id: &str) -> ApiResult<Option<Doc>> {
    let Some((kind, id)) = doc_id.split_once('/') else {
        return Ok(None);
    };
    store.get(&[b"d/".as_slice(), kind.as_bytes(), b"/", id.as_bytes()].concat())
}

/// Every document (to fill an empty index).
pub fn all_docs(store: &Store) -> ApiResult<Vec<Doc>> {
    store
        .scan_after(b"d/", None, usize::MAX)?
        .into_iter()
        .map(|(_, v)| Ok(crate::platform::storage::from_json(&v)?))
        .collect()
}

/// Removes the changes the index now has.
/// Set by an erasure: once its deletions are indexed, deleted documents are purged from
/// the index's files.
const PURGE: &[u8] = b"pd/";

/// Which erasure asked for a purge (its event id; empty when asked by a version that did
/// not say), if one did.
pub fn purge_asked(store: &Store) -> ApiResult<Option<Vec<u8>>> {
    Ok(store.get_raw(PURGE)?.map(|v| v.to_vec()))
}

pub async fn purged(store: &Store) -> ApiResult<()> {
    store.write(|tx| tx.remove(PURGE).map(|_| ())).await
}

pub async fn done(store: &Store, keys: &[Vec<u8>]) -> ApiResult<()> {
    store
        .write(|tx| {
            for k in keys {
                tx.remove(k)?;
            }
            Ok(())
        })
        .await
}

/// Wakes the indexer when something is queued.
pub fn watch_queue(store: &Store) -> Changes {
    store.watch(QUEUE.as_bytes())
}

/// Every change of a document, whatever made it: what a follower's indexer follows (its
/// store takes the writer's changes, checkpoints and resets included, and never writes
/// the queue's removals itself).
pub fn watch_docs(store: &Store) -> Changes {
    store.watch(b"d/")
}

/// The document id a changed document key names (see [`watch_docs`]).
pub fn changed_doc(key: &[u8]) -> Option<String> {
    key.strip_prefix(b"d/".as_slice())
        .map(|rest| String::from_utf8_lossy(rest).into_owned())
}
