//! The only code of posts that touches sled. Prefixes: `p/` posts, `c/<post><comment>`
//! comments, `r/<target><user>` reactions (target: a post or comment id), indexes
//! `cv/<post>` the version of a post's comments and reactions, `tl/<author><post>` (profile posts), `ga/<group><post>`, `pg/<page><post>`; projections
//! `f/<a><b>` friendships, `b/<a><b>` blocks, `un/<username>` user ids, `gv/<group>` group
//! privacy, `gm/<group><user>` group roles, `pe/<page>` pages, `pa/<page><user>` page admins,
//! `md/<media>` media metadata ([`media`]), `rm/<id>` removals, `su/<account>`
//! suspensions and `kr/<rule>` keyword rules ([`moderation`]).

pub mod erasure;
mod media;
mod moderation;

pub use media::{attachments, media_deleted, media_described, media_uploaded, owned_media};
pub use moderation::{
    account_reinstated, account_suspended, content_removed, content_restored, keyword_rule_removed,
    keyword_rule_set, keyword_rules, moderated, removed, suspended,
};

use crate::groups::events::{self as groups, GroupPrivacy, GroupRole};
use crate::platform::context::Event;
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::{Residence, Store, Tx, TxResult, abort, from_json, key};
use crate::users::events as users;

use super::domain::{
    Audience, Authority, Comment, Post, ReactionKind, Revision, Standing, Visibility,
};
use super::error::Error;
use super::events::{
    CommentAdded, CommentDeleted, PostCreated, PostDeleted, PostEdited, ReactionRemoved,
    ReactionSet,
};

fn emit<E: DomainEvent>(tx: &Tx, actor: &str, aggregate: &str, event: &E) -> TxResult<()> {
    tx.emit(&Envelope::new(actor, aggregate, event))
}

fn post_key(id: &str) -> Vec<u8> {
    key("p/", &[id])
}
fn comment_key(post: &str, comment: &str) -> Vec<u8> {
    key("c/", &[post, comment])
}
fn reaction_key(target: &str, user: &str) -> Vec<u8> {
    key("r/", &[target, user])
}

/// The index a post is listed in.
fn index_key(post: &Post) -> Vec<u8> {
    match &post.audience {
        Audience::Profile => key("tl/", &[&post.author_id, &post.id]),
        Audience::Group { id } => key("ga/", &[id, &post.id]),
        Audience::Page { id } => key("pg/", &[id, &post.id]),
    }
}

// ----- projections of other contexts' events (applied once each by the platform) -----

/// What a timeline read reads, held in memory
/// ([`crate::platform::storage::Resident`]): looked up one key at a time, the posts
/// themselves and the relations, bylines, removals and suspensions that decide who reads
/// them; scanned as ranges, the listings (profile, group, page) and friendships (friends
/// of friends). Reactions (`r/`, as many as readers react) and comments stay in sled only.
pub const RESIDENT: Residence = Residence {
    lookups: &["p/", "b/", "au/", "rm/", "su/", "gv/", "gm/"],
    ranges: &["f/", "tl/", "ga/", "pg/"],
};

/// The key prefixes that `rebuild` drops and rebuilds from the stream.
pub const PROJECTIONS: &[&str] = &[
    "f/", "b/", "un/", "au/", "gv/", "gm/", "pe/", "pa/", "md/", "rm/", "su/", "kr/",
];

pub fn befriend(tx: &Tx, e: &Event<users::FriendshipCreated>) -> TxResult<()> {
    tx.set_pair("f/", &e.data.user_a, &e.data.user_b, true, true)
}

pub fn unfriend(tx: &Tx, e: &Event<users::FriendshipEnded>) -> TxResult<()> {
    tx.set_pair("f/", &e.data.user_a, &e.data.user_b, false, true)
}

pub fn block(tx: &Tx, e: &Event<users::UserBlocked>) -> TxResult<()> {
    tx.set_pair("b/", &e.data.blocker, &e.data.blocked, true, false)
}

pub fn unblock(tx: &Tx, e: &Event<users::UserUnblocked>) -> TxResult<()> {
    tx.set_pair("b/", &e.data.blocker, &e.data.blocked, false, false)
}

/// Usernames (for mentions) and bylines (for the author shown on each post).
pub fn set_profile(tx: &Tx, e: &Event<users::ProfileUpdated>) -> TxResult<()> {
    tx.put(
        &key("au/", &[&e.data.user_id]),
        &users::Byline::from(&e.data),
    )?;
    tx.put_raw(&key("un/", &[&e.data.username]), e.data.user_id.as_bytes())
}

/// The byline of `user`, once their profile's event arrived.
pub fn byline(store: &Store, user: &str) -> ApiResult<Option<users::Byline>> {
    store.get(&key("au/", &[user]))
}

pub fn set_group(tx: &Tx, e: &Event<groups::GroupUpdated>) -> TxResult<()> {
    tx.put(&key("gv/", &[&e.data.group_id]), &e.data.privacy)
}

pub fn drop_group(tx: &Tx, e: &Event<groups::GroupDeleted>) -> TxResult<()> {
    tx.remove(&key("gv/", &[&e.data.group_id])).map(|_| ())
}

pub fn join(tx: &Tx, e: &Event<groups::MemberJoined>) -> TxResult<()> {
    tx.put(
        &key("gm/", &[&e.data.group_id, &e.data.user_id]),
        &e.data.role,
    )
}

pub fn leave(tx: &Tx, e: &Event<groups::MemberLeft>) -> TxResult<()> {
    tx.remove(&key("gm/", &[&e.data.group_id, &e.data.user_id]))
        .map(|_| ())
}

pub fn set_page(tx: &Tx, e: &Event<groups::PageUpdated>) -> TxResult<()> {
    tx.put_raw(&key("pe/", &[&e.data.page_id]), &[])
}

pub fn add_page_admin(tx: &Tx, e: &Event<groups::PageAdminAdded>) -> TxResult<()> {
    tx.put_raw(&key("pe/", &[&e.data.page_id]), &[])?;
    tx.put_raw(&key("pa/", &[&e.data.page_id, &e.data.user_id]), &[])
}

// ----- reads -----

/// A post as stored. Posts are resident: decoded once while unchanged, and copied here
/// (a copy costs a fraction of decoding the JSON again).
pub fn post(store: &Store, id: &str) -> ApiResult<Option<Post>> {
    Ok(store
        .shared::<Post>(&post_key(id))?
        .map(std::sync::Arc::unwrap_or_clone))
}

pub fn comment(store: &Store, post: &str, id: &str) -> ApiResult<Option<Comment>> {
    store.get(&comment_key(post, id))
}

pub fn friends(store: &Store, a: &str, b: &str) -> ApiResult<bool> {
    store.contains(&key("f/", &[a, b]))
}

pub fn blocked_either(store: &Store, a: &str, b: &str) -> ApiResult<bool> {
    Ok(store.contains(&key("b/", &[a, b]))? || store.contains(&key("b/", &[b, a]))?)
}

/// Whether `a` and `b` have a friend in common.
pub fn friend_of_friend(store: &Store, a: &str, b: &str) -> ApiResult<bool> {
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_after(&key("f/", &[a]), after.as_deref().map(str::as_bytes), 512)?;
        let Some((last, _)) = page.last() else {
            return Ok(false);
        };
        after = Some(String::from_utf8_lossy(last).into_owned());
        for (x, _) in &page {
            if store.contains(&[b"f/".as_slice(), b.as_bytes(), x].concat())? {
                return Ok(true);
            }
        }
    }
}

pub fn group_privacy(store: &Store, group: &str) -> ApiResult<Option<GroupPrivacy>> {
    store.get(&key("gv/", &[group]))
}

pub fn group_role(store: &Store, group: &str, user: &str) -> ApiResult<Option<GroupRole>> {
    store.get(&key("gm/", &[group, user]))
}

pub fn page_exists(store: &Store, page: &str) -> ApiResult<bool> {
    store.contains(&key("pe/", &[page]))
}

pub fn page_admin(store: &Store, page: &str, user: &str) -> ApiResult<bool> {
    store.contains(&key("pa/", &[page, user]))
}

/// How `actor` stands to an audience: their role in the group, whether they administer
/// the page.
pub fn authority(store: &Store, audience: &Audience, actor: &str) -> ApiResult<Authority> {
    Ok(match audience {
        Audience::Profile => Authority::Profile,
        Audience::Group { id } => Authority::Group {
            privacy: group_privacy(store, id)?,
            role: group_role(store, id, actor)?,
        },
        Audience::Page { id } => Authority::Page {
            exists: page_exists(store, id)?,
            admin: page_admin(store, id, actor)?,
        },
    })
}

pub fn user_by_username(store: &Store, username: &str) -> ApiResult<Option<String>> {
    Ok(store
        .get_raw(&key("un/", &[username]))?
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// How `viewer` stands to a post's author and audience.
pub fn standing(store: &Store, viewer: Option<&str>, post: &Post) -> ApiResult<Standing> {
    let mut s = Standing {
        author_suspended: suspended(store, &post.author_id)?,
        ..Standing::default()
    };
    if let Audience::Group { id } = &post.audience {
        s.group_privacy = group_privacy(store, id)?;
        s.group_member = match viewer {
            Some(v) => group_role(store, id, v)?.is_some(),
            None => false,
        };
    }
    let Some(v) = viewer else { return Ok(s) };
    s.is_author = v == post.author_id;
    if s.is_author {
        return Ok(s);
    }
    s.blocked = blocked_either(store, v, &post.author_id)?;
    if post.audience == Audience::Profile
        && post.visibility != Visibility::Public
        && post.visibility != Visibility::OnlyMe
    {
        s.friends = friends(store, v, &post.author_id)?;
        if !s.friends && post.visibility == Visibility::FriendsOfFriends {
            s.friend_of_friend = friend_of_friend(store, v, &post.author_id)?;
        }
    }
    Ok(s)
}

/// A list of posts: a user's timeline (their profile posts), a group's or a page's.
#[derive(Debug, Clone, Copy)]
pub enum Listing<'a> {
    Timeline(&'a str),
    Group(&'a str),
    Page(&'a str),
}

/// Newest-first ids of a listing, before the cursor.
pub fn index_page(
    store: &Store,
    listing: Listing,
    before: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<String>> {
    let prefix = match listing {
        Listing::Timeline(author) => key("tl/", &[author]),
        Listing::Group(group) => key("ga/", &[group]),
        Listing::Page(page) => key("pg/", &[page]),
    };
    Ok(store
        .scan_before(&prefix, before.map(str::as_bytes), limit)?
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect())
}

/// Comments of a post in order, after the cursor.
pub fn comments(
    store: &Store,
    post: &str,
    after: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<Comment>> {
    store
        .scan_after(&key("c/", &[post]), after.map(str::as_bytes), limit)?
        .into_iter()
        .map(|(_, v)| Ok(from_json(&v)?))
        .collect()
}

pub fn reaction(store: &Store, target: &str, user: &str) -> ApiResult<Option<ReactionKind>> {
    store.get(&reaction_key(target, user))
}

// ----- writes -----

fn load_post(tx: &Tx, id: &str) -> TxResult<Post> {
    match tx.get::<Post>(&post_key(id))? {
        Some(p) => Ok(p),
        None => abort(Error::PostNotFound),
    }
}

/// Publishes a post (and counts the share on the original, if it is one).
/// Publishes `post`; `attached` is the metadata of its media (in `post.media`'s order),
/// carried by `PostCreated` so the feed can draw them.
pub async fn create_post(
    store: &Store,
    post: &Post,
    attached: &[crate::media::events::MediaUploaded],
    flagged: &[String],
) -> ApiResult<()> {
    store
        .write(|tx| {
            if let Some(original) = &post.shared_post {
                let mut o = load_post(tx, original)?;
                o.share_count += 1;
                tx.put(&post_key(original), &o)?;
            }
            tx.put(&post_key(&post.id), post)?;
            tx.put_raw(&index_key(post), &[])?;
            let event = PostCreated {
                post_id: post.id.clone(),
                author_id: post.author_id.clone(),
                audience: post.audience.clone(),
                visibility: post.visibility,
                text: post.text.clone(),
                created_at: post.created_at,
                hashtags: post.hashtags.clone(),
                mentions: post.mentions.clone(),
                shared_post: post.shared_post.clone(),
                media: attached.to_vec(),
                flagged: flagged.to_vec(),
            };
            emit(tx, &post.author_id, &post.id, &event)
        })
        .await
}

/// Replaces a post's text and visibility, keeping the old text in its history.
pub async fn edit_post(
    store: &Store,
    id: &str,
    text: Option<&str>,
    visibility: Option<Visibility>,
    tags: (Vec<String>, Vec<String>),
    flagged: &[String],
    at: i64,
) -> ApiResult<Post> {
    store
        .write(|tx| {
            let mut post = load_post(tx, id)?;
            if let Some(text) = text.filter(|t| *t != post.text) {
                post.history.push(Revision {
                    text: std::mem::replace(&mut post.text, text.to_string()),
                    replaced_at: at,
                });
                (post.hashtags, post.mentions) = tags.clone();
            }
            post.visibility = visibility.unwrap_or(post.visibility);
            post.edited_at = Some(at);
            tx.put(&post_key(id), &post)?;
            let event = PostEdited {
                post_id: id.into(),
                author_id: post.author_id.clone(),
                visibility: post.visibility,
                text: post.text.clone(),
                hashtags: post.hashtags.clone(),
                mentions: post.mentions.clone(),
                flagged: flagged.to_vec(),
            };
            emit(tx, &post.author_id, id, &event)?;
            Ok(post)
        })
        .await
}

/// How many times a delete rescans when comments or reactions keep arriving meanwhile.
const DELETE_ATTEMPTS: usize = 16;

fn children_key(post: &str) -> Vec<u8> {
    key("cv/", &[post])
}

/// The version of a post's comments and reactions: bumped by every transaction that adds
/// one, so that a delete, which must list them outside its transaction (sled transactions
/// cannot scan), notices inside it when the list went stale.
fn children_version(store: &Store, post: &str) -> ApiResult<u64> {
    Ok(store.get(&children_key(post))?.unwrap_or(0))
}

fn bump_children(tx: &Tx, post: &str) -> TxResult<()> {
    let n: u64 = tx.get(&children_key(post))?.unwrap_or(0);
    tx.put(&children_key(post), &(n + 1))
}

fn children_unchanged(tx: &Tx, post: &str, seen: u64) -> TxResult<bool> {
    Ok(tx.get::<u64>(&children_key(post))?.unwrap_or(0) == seen)
}

/// The keys of a post's comments and of every reaction to it or to them.
fn children(store: &Store, id: &str) -> ApiResult<(Vec<String>, Vec<Vec<u8>>)> {
    let comment_ids: Vec<String> = comments(store, id, None, usize::MAX)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut reaction_keys: Vec<Vec<u8>> = Vec::new();
    for target in std::iter::once(id.to_string()).chain(comment_ids.iter().cloned()) {
        let prefix = key("r/", &[&target]);
        reaction_keys.extend(
            store
                .scan_after(&prefix, None, usize::MAX)?
                .into_iter()
                .map(|(k, _)| [prefix.as_slice(), &k].concat()),
        );
    }
    Ok((comment_ids, reaction_keys))
}

/// Deletes a post with its comments and reactions, none left behind by a comment or a
/// reaction added at the same moment.
pub async fn delete_post(store: &Store, actor: &str, id: &str) -> ApiResult<()> {
    for _ in 0..DELETE_ATTEMPTS {
        let seen = children_version(store, id)?;
        let (comment_ids, reaction_keys) = children(store, id)?;
        let deleted = store
            .write(|tx| {
                let post = load_post(tx, id)?;
                if !children_unchanged(tx, id, seen)? {
                    return Ok(false);
                }
                tx.remove(&post_key(id))?;
                tx.remove(&index_key(&post))?;
                tx.remove(&children_key(id))?;
                if let Some(original) = &post.shared_post
                    && let Some(mut o) = tx.get::<Post>(&post_key(original))?
                {
                    o.share_count = o.share_count.saturating_sub(1);
                    tx.put(&post_key(original), &o)?;
                }
                for c in &comment_ids {
                    tx.remove(&comment_key(id, c))?;
                }
                for k in &reaction_keys {
                    tx.remove(k)?;
                }
                emit(
                    tx,
                    actor,
                    id,
                    &PostDeleted {
                        post_id: id.into(),
                        author_id: post.author_id.clone(),
                    },
                )?;
                Ok(true)
            })
            .await?;
        if deleted {
            return Ok(());
        }
    }
    Err(Error::KeptChanging.into())
}

pub async fn add_comment(store: &Store, comment: &Comment, flagged: &[String]) -> ApiResult<()> {
    store
        .write(|tx| {
            let mut post = load_post(tx, &comment.post_id)?;
            bump_children(tx, &comment.post_id)?;
            if let Some(parent) = &comment.parent_id {
                match tx.get::<Comment>(&comment_key(&comment.post_id, parent))? {
                    Some(p) if p.parent_id.is_none() => {}
                    Some(_) => {
                        return abort(Error::invalid(
                            "parent_id",
                            "replies have one level: answer the top-level comment",
                        ));
                    }
                    None => {
                        return abort(Error::invalid("parent_id", "no such comment on this post"));
                    }
                }
            }
            post.comment_count += 1;
            tx.put(&post_key(&post.id), &post)?;
            tx.put(&comment_key(&post.id, &comment.id), comment)?;
            let event = CommentAdded {
                post_id: post.id.clone(),
                comment_id: comment.id.clone(),
                author_id: comment.author_id.clone(),
                post_author_id: post.author_id.clone(),
                parent_id: comment.parent_id.clone(),
                flagged: flagged.to_vec(),
                media_ids: comment.media.clone(),
            };
            emit(tx, &comment.author_id, &post.id, &event)
        })
        .await
}

pub async fn edit_comment(
    store: &Store,
    post: &str,
    id: &str,
    text: &str,
    at: i64,
) -> ApiResult<Comment> {
    store
        .write(|tx| {
            let Some(mut c) = tx.get::<Comment>(&comment_key(post, id))? else {
                return abort(Error::CommentNotFound);
            };
            c.text = text.into();
            c.edited_at = Some(at);
            tx.put(&comment_key(post, id), &c)?;
            Ok(c)
        })
        .await
}

/// Deletes a comment and its replies.
pub async fn delete_comment(store: &Store, actor: &str, post: &str, id: &str) -> ApiResult<()> {
    for _ in 0..DELETE_ATTEMPTS {
        let seen = children_version(store, post)?;
        let replies: Vec<String> = comments(store, post, None, usize::MAX)?
            .into_iter()
            .filter(|c| c.parent_id.as_deref() == Some(id))
            .map(|c| c.id)
            .collect();
        let deleted = store
            .write(|tx| {
                let mut p = load_post(tx, post)?;
                if !children_unchanged(tx, post, seen)? {
                    return Ok(false);
                }
                if !tx.remove(&comment_key(post, id))? {
                    return abort(Error::CommentNotFound);
                }
                let mut removed = 1;
                for r in &replies {
                    removed += u64::from(tx.remove(&comment_key(post, r))?);
                }
                p.comment_count = p.comment_count.saturating_sub(removed);
                tx.put(&post_key(post), &p)?;
                emit(
                    tx,
                    actor,
                    post,
                    &CommentDeleted {
                        post_id: post.into(),
                        comment_id: id.into(),
                    },
                )?;
                Ok(true)
            })
            .await?;
        if deleted {
            return Ok(());
        }
    }
    Err(Error::KeptChanging.into())
}

/// Sets (`Some`) or removes (`None`) a user's reaction to a post or one of its comments,
/// adjusting the target's counts in the same transaction. Returns the new counts.
pub async fn react(
    store: &Store,
    post_id: &str,
    comment_id: Option<&str>,
    user: &str,
    kind: Option<ReactionKind>,
) -> ApiResult<std::collections::BTreeMap<ReactionKind, u64>> {
    let target = comment_id.unwrap_or(post_id).to_string();
    store
        .write(|tx| {
            let post = load_post(tx, post_id)?;
            bump_children(tx, post_id)?;
            let previous = tx.get::<ReactionKind>(&reaction_key(&target, user))?;
            if previous == kind {
                if kind.is_none() {
                    return abort(Error::NoReaction);
                }
                return counts_of(tx, &post, comment_id);
            }
            let mut counts = counts_of(tx, &post, comment_id)?;
            if let Some(p) = previous {
                let n = counts.entry(p).or_default();
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.remove(&p);
                }
            }
            match kind {
                Some(k) => {
                    *counts.entry(k).or_default() += 1;
                    tx.put(&reaction_key(&target, user), &k)?;
                    let event = ReactionSet {
                        post_id: post_id.into(),
                        target_id: target.clone(),
                        user_id: user.into(),
                        post_author_id: post.author_id.clone(),
                        kind: k,
                        previous,
                    };
                    emit(tx, user, post_id, &event)?;
                }
                None => {
                    tx.remove(&reaction_key(&target, user))?;
                    emit(
                        tx,
                        user,
                        post_id,
                        &ReactionRemoved {
                            post_id: post_id.into(),
                            target_id: target.clone(),
                            user_id: user.into(),
                            kind: previous,
                        },
                    )?;
                }
            }
            match comment_id {
                None => tx.put(
                    &post_key(post_id),
                    &Post {
                        reactions: counts.clone(),
                        ..post
                    },
                )?,
                Some(c) => {
                    let mut comment = load_comment(tx, post_id, c)?;
                    comment.reactions = counts.clone();
                    tx.put(&comment_key(post_id, c), &comment)?;
                }
            }
            Ok(counts)
        })
        .await
}

fn load_comment(tx: &Tx, post: &str, id: &str) -> TxResult<Comment> {
    match tx.get::<Comment>(&comment_key(post, id))? {
        Some(c) => Ok(c),
        None => abort(Error::CommentNotFound),
    }
}

fn counts_of(
    tx: &Tx,
    post: &Post,
    comment: Option<&str>,
) -> TxResult<std::collections::BTreeMap<ReactionKind, u64>> {
    match comment {
        None => Ok(post.reactions.clone()),
        Some(c) => Ok(load_comment(tx, &post.id, c)?.reactions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: &str) -> Post {
        Post {
            id: id.into(),
            author_id: "author".into(),
            audience: Audience::Profile,
            text: "t".into(),
            visibility: Visibility::Public,
            hashtags: vec![],
            mentions: vec![],
            shared_post: None,
            media: Vec::new(),
            created_at: 0,
            edited_at: None,
            history: vec![],
            reactions: Default::default(),
            comment_count: 0,
            share_count: 0,
        }
    }

    /// Comments and reactions racing a delete: whatever was added before the delete
    /// committed goes with it, and nothing can be added after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delete_leaves_no_comment_or_reaction_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for round in 0..40 {
            let id = format!("post{round:04}");
            create_post(&store, &post(&id), &[], &[]).await.unwrap();
            let mut writers = Vec::new();
            for i in 0..8 {
                let (store, id) = (store.clone(), id.clone());
                writers.push(tokio::spawn(async move {
                    let comment = Comment {
                        id: format!("c{i}"),
                        post_id: id.clone(),
                        author_id: format!("u{i}"),
                        parent_id: None,
                        text: "x".into(),
                        created_at: 0,
                        edited_at: None,
                        reactions: Default::default(),
                        media: Vec::new(),
                    };
                    let _ = add_comment(&store, &comment, &[]).await;
                    let user = format!("u{i}");
                    let _ = react(&store, &id, None, &user, Some(ReactionKind::Like)).await;
                }));
            }
            tokio::task::yield_now().await;
            delete_post(&store, "author", &id).await.unwrap();
            for w in writers {
                w.await.unwrap();
            }
            let left = |prefix: &str| store.data.scan_prefix(key(prefix, &[&id])).count();
            assert_eq!((left("c/"), left("r/")), (0, 0), "round {round}");
        }
    }
}
