//! The only code of feed that touches sled. Prefixes: `t/<user><post>` home timelines,
//! `pm/<post>` post metadata, `ap/<author><post>`, `gp/<group><post>`, `pp/<page><post>`
//! posts by source (for the pull path and rebuilds), `f/<a><b>` friendships, `b/<a><b>`
//! blocks, `gm/<group><user>` and `mg/<user><group>` memberships, `gv/<group>` group privacy,
//! `up/<user><page>` page
//! follows, `af/<reader><author>` affinity (interaction counts), `rk/<post><user>` who
//! reacted and how, `au/<user>` bylines (name and avatar), `su/<account>` suspensions
//! ([`moderation`]): all projections of others' events ([`PROJECTIONS`]); and the feed's own
//! `ls/<user>`, when the user last read the feed.

mod moderation;

pub use moderation::{account_reinstated, account_suspended, content_removed, content_restored};

use crate::groups::events as groups;
use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Residence, Store, Tx, TxResult, key};
use crate::posts::events::{self as posts, Audience, Visibility};
use crate::users::events as users;

use super::domain::{ACTIVE_SECS, PER_SOURCE, PostMeta, Relation, TIMELINE_CAP};

/// The key prefixes that `rebuild` drops and rebuilds from the stream: everything but
/// `ls/` (when each reader last read, which only reads produce).
pub const PROJECTIONS: &[&str] = &[
    "t/", "pm/", "ap/", "gp/", "pp/", "f/", "b/", "gm/", "mg/", "gv/", "up/", "af/", "rk/", "au/",
    "su/",
];

/// What feed reads and fan-outs read, held in memory
/// ([`crate::platform::storage::Resident`]): looked up one key at a time, the posts'
/// metadata and the relations, bylines and reactions drawn with them, and when each
/// reader last read (every read checks it, and a post's fan-out checks it for each of the
/// author's friends); scanned as ranges, the timelines, the posts by source, and the
/// relation sets read whole (a post's readers, a reader's sources). A feed read then
/// touches no sled tree.
pub const RESIDENT: Residence = Residence {
    lookups: &["pm/", "b/", "gv/", "af/", "rk/", "au/", "su/", "ls/"],
    ranges: &["t/", "f/", "gm/", "mg/", "up/", "ap/", "gp/", "pp/"],
};

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

// ----- projections (applied once each by the platform; see `super::subscriptions`) -----

/// The newest posts of a source (`ap/<author>` or `gp/<group>`).
fn recent_of(store: &Store, prefix: &str, owner: &str) -> ApiResult<Vec<String>> {
    Ok(ids(store.scan_before(
        &key(prefix, &[owner]),
        None,
        PER_SOURCE,
    )?))
}

/// Each side's recent posts, read before a friendship is applied.
pub fn read_befriend(
    store: &Store,
    e: &Event<users::FriendshipCreated>,
) -> ApiResult<(Vec<String>, Vec<String>)> {
    Ok((
        recent_of(store, "ap/", &e.data.user_a)?,
        recent_of(store, "ap/", &e.data.user_b)?,
    ))
}

/// A new friendship: both ways, and each side's recent posts enter the other's timeline
/// (the feed converges on befriending too, not only on unfriending).
pub fn befriend(
    tx: &Tx,
    e: &Event<users::FriendshipCreated>,
    (from_a, from_b): &(Vec<String>, Vec<String>),
) -> TxResult<()> {
    let (a, b) = (&e.data.user_a, &e.data.user_b);
    tx.set_pair("f/", a, b, true, true)?;
    for (reader, posts) in [(b, from_a), (a, from_b)] {
        for p in posts {
            tx.put_raw(&key("t/", &[reader, p]), &[])?;
        }
    }
    Ok(())
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

pub fn follow_page(tx: &Tx, e: &Event<groups::PageFollowed>) -> TxResult<()> {
    tx.set_pair("up/", &e.data.user_id, &e.data.page_id, true, false)
}

pub fn unfollow_page(tx: &Tx, e: &Event<groups::PageUnfollowed>) -> TxResult<()> {
    tx.set_pair("up/", &e.data.user_id, &e.data.page_id, false, false)
}

/// The group's recent posts, read before a join is applied (backfill).
pub fn read_join(store: &Store, e: &Event<groups::MemberJoined>) -> ApiResult<Vec<String>> {
    recent_of(store, "gp/", &e.data.group_id)
}

pub fn join(tx: &Tx, e: &Event<groups::MemberJoined>, backfill: &Vec<String>) -> TxResult<()> {
    let (group, user) = (&e.data.group_id, &e.data.user_id);
    for p in backfill {
        tx.put_raw(&key("t/", &[user, p]), &[])?;
    }
    tx.put_raw(&key("gm/", &[group, user]), &[])?;
    tx.put_raw(&key("mg/", &[user, group]), &[])
}

pub fn leave(tx: &Tx, e: &Event<groups::MemberLeft>) -> TxResult<()> {
    let (group, user) = (&e.data.group_id, &e.data.user_id);
    tx.remove(&key("gm/", &[group, user]))?;
    tx.remove(&key("mg/", &[user, group])).map(|_| ())
}

/// The members of a deleted group, read before it is applied.
pub fn read_group_members(
    store: &Store,
    e: &Event<groups::GroupDeleted>,
) -> ApiResult<Vec<String>> {
    all(store, "gm/", &e.data.group_id)
}

/// A deleted group: its memberships go (its posts then leave every feed).
pub fn drop_group(tx: &Tx, e: &Event<groups::GroupDeleted>, members: &Vec<String>) -> TxResult<()> {
    let group = &e.data.group_id;
    for u in members {
        tx.remove(&key("gm/", &[group, u]))?;
        tx.remove(&key("mg/", &[u, group]))?;
    }
    tx.remove(&key("gv/", &[group])).map(|_| ())
}

/// A group's privacy, for deciding who may see the original of a share.
pub fn group_updated(tx: &Tx, e: &Event<groups::GroupUpdated>) -> TxResult<()> {
    tx.put(&key("gv/", &[&e.data.group_id]), &e.data.privacy)
}

/// Whether the reader may see the original a share points at, by what the feed knows:
/// the original itself, how the reader stands to its author and audience, and its group's
/// privacy. Doubtful cases (a friends-of-friends original from a non-friend) say no: the
/// share's own page (`GET /posts/{id}`) decides those exactly.
pub fn original_visible(store: &Store, reader: &str, original: &str) -> ApiResult<bool> {
    let Some(meta) = meta(store, original)? else {
        return Ok(false);
    };
    let relation = relation(store, reader, &meta)?;
    let public_group = match &meta.audience {
        Audience::Group { id } => {
            store.get::<groups::GroupPrivacy>(&key("gv/", &[id]))?
                == Some(groups::GroupPrivacy::Public)
        }
        _ => false,
    };
    Ok(super::domain::original_visible(
        &meta,
        &relation,
        public_group,
    ))
}

fn active(store: &Store, user: &str, now: i64) -> ApiResult<bool> {
    Ok(last_seen(store, user)?.is_some_and(|t| now - t < ACTIVE_SECS))
}

/// Who a new post fans out to, and the author of the post it shares.
pub struct FanOut {
    readers: Vec<String>,
    original_author: Option<String>,
}

/// The active readers a new post is for: the author, the author's friends (profile posts)
/// or the group's members. Page posts are not fanned out (pages may have very many
/// followers): readers pull them.
pub fn read_fan_out(store: &Store, e: &Event<posts::PostCreated>) -> ApiResult<FanOut> {
    let post = &e.data;
    let now = crate::platform::unix_now();
    let candidates = match &post.audience {
        Audience::Profile if post.visibility != Visibility::OnlyMe => {
            all(store, "f/", &post.author_id)?
        }
        Audience::Group { id } => all(store, "gm/", id)?,
        _ => Vec::new(),
    };
    let mut readers = vec![post.author_id.clone()];
    for u in candidates {
        if u != post.author_id && active(store, &u, now)? {
            readers.push(u);
        }
    }
    let original_author = match &post.shared_post {
        Some(o) => store.get::<PostMeta>(&meta_key(o))?.map(|o| o.author_id),
        None => None,
    };
    Ok(FanOut {
        readers,
        original_author,
    })
}

/// Records a new post and fans it out to the timelines of the readers it is for.
pub fn add_post(tx: &Tx, e: &Event<posts::PostCreated>, fan_out: &FanOut) -> TxResult<()> {
    let meta = PostMeta::from(&e.data);
    tx.put(&meta_key(&meta.id), &meta)?;
    tx.put_raw(&source_key(&meta), &[])?;
    for u in &fan_out.readers {
        tx.put_raw(&key("t/", &[u, &meta.id]), &[])?;
    }
    if let (Some(original), Some(author)) = (&meta.shared_post, &fan_out.original_author) {
        bump(tx, original, |m| m.shares += 1)?;
        interact(tx, &meta.author_id, author)?;
    }
    Ok(())
}

/// Changes the stored metadata of a post, if the feed knows it.
pub(super) fn bump(
    tx: &Tx,
    post: &str,
    change: impl Fn(&mut PostMeta),
) -> TxResult<Option<PostMeta>> {
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

pub fn edit_post(tx: &Tx, e: &Event<posts::PostEdited>) -> TxResult<()> {
    bump(tx, &e.data.post_id, |m| {
        m.visibility = e.data.visibility;
        m.text = e.data.text.clone();
    })
    .map(|_| ())
}

/// A deleted post leaves every feed: reads skip posts the feed no longer knows.
pub fn delete_post(tx: &Tx, e: &Event<posts::PostDeleted>) -> TxResult<()> {
    let k = meta_key(&e.data.post_id);
    if let Some(meta) = tx.get::<PostMeta>(&k)? {
        tx.remove(&k)?;
        tx.remove(&source_key(&meta))?;
    }
    Ok(())
}

fn count_comment(tx: &Tx, post: &str, commenter: Option<&str>) -> TxResult<()> {
    let meta = bump(tx, post, |m| {
        m.comments = if commenter.is_some() {
            m.comments + 1
        } else {
            m.comments.saturating_sub(1)
        }
    })?;
    match (meta, commenter) {
        (Some(m), Some(c)) => interact(tx, c, &m.author_id),
        _ => Ok(()),
    }
}

pub fn comment_added(tx: &Tx, e: &Event<posts::CommentAdded>) -> TxResult<()> {
    count_comment(tx, &e.data.post_id, Some(&e.data.author_id))
}

pub fn comment_deleted(tx: &Tx, e: &Event<posts::CommentDeleted>) -> TxResult<()> {
    count_comment(tx, &e.data.post_id, None)
}

/// A reaction to a post (not a comment) set or removed; counted once per user.
/// Counts `user`'s reaction to `post` (`kind`: set or changed; `None`: removed) and keeps
/// its kind for the reader's own items. Reactions to comments are not the feed's.
fn react(
    tx: &Tx,
    post: &str,
    target: &str,
    user: &str,
    kind: Option<posts::ReactionKind>,
) -> TxResult<()> {
    if target != post {
        return Ok(());
    }
    let marker = key("rk/", &[post, user]);
    let had = tx.contains(&marker)?;
    match kind {
        Some(kind) => {
            tx.put(&marker, &kind)?;
            if !had && let Some(m) = bump(tx, post, |m| m.reactions += 1)? {
                interact(tx, user, &m.author_id)?;
            }
        }
        None if had => {
            tx.remove(&marker)?;
            bump(tx, post, |m| m.reactions = m.reactions.saturating_sub(1))?;
        }
        None => {}
    }
    Ok(())
}

pub fn reaction_set(tx: &Tx, e: &Event<posts::ReactionSet>) -> TxResult<()> {
    let d = &e.data;
    react(tx, &d.post_id, &d.target_id, &d.user_id, Some(d.kind))
}

pub fn reaction_removed(tx: &Tx, e: &Event<posts::ReactionRemoved>) -> TxResult<()> {
    let d = &e.data;
    react(tx, &d.post_id, &d.target_id, &d.user_id, None)
}

/// Keeps the name and avatar shown beside each author's posts.
pub fn set_byline(tx: &Tx, e: &Event<users::ProfileUpdated>) -> TxResult<()> {
    tx.put(
        &key("au/", &[&e.data.user_id]),
        &users::Byline::from(&e.data),
    )
}

// ----- reads -----

/// How `reader` reacted to `post`, if they did. (Markers kept before the kind was are
/// empty: they count, with no kind to show.)
pub fn my_reaction(
    store: &Store,
    post: &str,
    reader: &str,
) -> ApiResult<Option<posts::ReactionKind>> {
    Ok(store
        .get_raw(&key("rk/", &[post, reader]))?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// The byline of `user`, once their profile's event arrived.
pub fn byline(store: &Store, user: &str) -> ApiResult<Option<users::Byline>> {
    store.get(&key("au/", &[user]))
}

pub fn last_seen(store: &Store, user: &str) -> ApiResult<Option<i64>> {
    store.get(&key("ls/", &[user]))
}

/// Records that `readers` read now, in one transaction (so the resident copy and
/// followers follow; once a minute per reader at most, and not flushed: losing it costs a
/// timeline rebuild).
pub fn touch<'a>(
    store: &Store,
    readers: impl IntoIterator<Item = &'a str> + Clone,
    now: i64,
) -> ApiResult<()> {
    store.write_now(|tx| {
        readers
            .clone()
            .into_iter()
            .try_for_each(|user| tx.put(&key("ls/", &[user]), &now))
    })
}

/// The metadata of a post, shared (decoded once while it is unchanged).
pub fn meta(store: &Store, post: &str) -> ApiResult<Option<std::sync::Arc<PostMeta>>> {
    store.shared(&meta_key(post))
}

pub fn relation(store: &Store, reader: &str, meta: &PostMeta) -> ApiResult<Relation> {
    let a = &meta.author_id;
    let mut r = Relation {
        is_author: reader == a,
        author_suspended: moderation::suspended(store, a, crate::platform::unix_now())?,
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

/// Keeps the reader's timeline maintained: rebuilt when they were away (before this read
/// goes on). Returns whether the routine upkeep is due (when they last read recorded,
/// the timeline trimmed: once a minute per reader), which the caller does off the read
/// path ([`super::upkeep`]).
///
/// A rebuild holds the consumer's apply gate: a post being applied decided its readers
/// (active ones only, [`read_fan_out`]) before it was stored, so a reader coming back
/// between the two would get neither the fan-out nor the post in the rebuild. With the
/// gate, the rebuild comes wholly before the post (which then finds the reader active:
/// the returning reader is recorded as having read within the gate) or after it (and
/// finds it among the friends' posts).
pub async fn refresh(store: &Store, reader: &str, now: i64) -> ApiResult<bool> {
    let last = last_seen(store, reader)?;
    if last.is_none_or(|t| now - t >= ACTIVE_SECS) {
        let _applying = store.apply_gate.lock().await;
        rebuild(store, reader)?;
        touch(store, [reader], now)?;
        trim(store, reader)?;
        return Ok(false);
    }
    Ok(last.is_none_or(|t| now - t >= 60))
}

/// Rebuilds the timeline of a reader who was away: the newest [`TIMELINE_CAP`] posts of
/// their own, their friends' and their groups', merged by time (post ids are ULIDs), so the
/// timeline is complete down to its depth whatever the mix of sources. The merge reads
/// each source lazily: at most the cap in all, plus one key per source.
pub fn rebuild(store: &Store, reader: &str) -> ApiResult<()> {
    let mut sources = vec![key("ap/", &[reader])];
    sources.extend(all(store, "f/", reader)?.iter().map(|f| key("ap/", &[f])));
    sources.extend(all(store, "mg/", reader)?.iter().map(|g| key("gp/", &[g])));
    let posts = newest_of(store, &sources, TIMELINE_CAP)?;
    store.write_now(|tx| {
        posts
            .iter()
            .try_for_each(|p| tx.put_raw(&key("t/", &[reader, p]), &[]))
    })
}

/// The newest `limit` ids under any of `prefixes`, newest first: a k-way merge.
fn newest_of(store: &Store, prefixes: &[Vec<u8>], limit: usize) -> ApiResult<Vec<String>> {
    use std::collections::BinaryHeap;
    let mut sources: Vec<_> = prefixes
        .iter()
        .map(|p| store.keys_newest_first(p))
        .collect();
    let mut heads = BinaryHeap::new();
    for (i, source) in sources.iter_mut().enumerate() {
        if let Some(id) = source.next().transpose()? {
            heads.push((id, i));
        }
    }
    let mut out = Vec::new();
    while out.len() < limit {
        let Some((id, i)) = heads.pop() else { break };
        if let Some(next) = sources.get_mut(i).and_then(Iterator::next).transpose()? {
            heads.push((next, i));
        }
        out.push(String::from_utf8_lossy(&id).into_owned());
    }
    Ok(out)
}

/// Drops timeline entries beyond the cap, in one transaction (so followers drop them too).
pub fn trim(store: &Store, reader: &str) -> ApiResult<()> {
    let prefix = key("t/", &[reader]);
    let old = store.scan_before(&prefix, None, TIMELINE_CAP + 256)?;
    let beyond: Vec<Vec<u8>> = old
        .into_iter()
        .skip(TIMELINE_CAP)
        .map(|(post, _)| [prefix.as_slice(), &post].concat())
        .collect();
    if beyond.is_empty() {
        return Ok(());
    }
    store.write_now(|tx| beyond.iter().try_for_each(|k| tx.remove(k).map(drop)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimming is a logged write: a follower applying the writer's change sets holds the
    /// same trimmed timeline.
    #[tokio::test]
    async fn a_trimmed_timeline_is_trimmed_on_followers_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap().with_change_log().unwrap();
        store
            .set_role(crate::platform::storage::Role::Writer)
            .unwrap();
        let entry = |i: usize| key("t/", &["bob", &format!("{i:026}")]);
        store
            .write_now(|tx| (0..TIMELINE_CAP + 5).try_for_each(|i| tx.put_raw(&entry(i), &[])))
            .unwrap();
        trim(&store, "bob").unwrap();
        let held = store.scan_after(b"t/bob", None, usize::MAX).unwrap();
        assert_eq!(held.len(), TIMELINE_CAP);
        assert!(!store.contains(&entry(4)).unwrap() && store.contains(&entry(5)).unwrap());
        let logged: Vec<crate::platform::changes::ChangeSet> = store
            .changes
            .iter()
            .map(|item| crate::platform::changes::ChangeSet::decode(&item.unwrap().1).unwrap())
            .collect();
        let removed = logged
            .last()
            .unwrap()
            .changes
            .iter()
            .filter(|c| c.value.is_none())
            .count();
        assert_eq!(removed, 5, "the oldest five, logged");
    }

    /// A reader coming back (their first feed read rebuilds their timeline) while a post
    /// of a friend is being applied gets the post: the rebuild waits for the apply.
    #[tokio::test(flavor = "current_thread")]
    async fn a_reader_coming_back_while_a_friends_post_is_applied_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write_now(|tx| tx.set_pair("f/", "alice", "bob", true, true))
            .unwrap();
        let post = posts::PostCreated {
            post_id: "01POST".into(),
            author_id: "alice".into(),
            audience: Audience::Profile,
            visibility: Visibility::Friends,
            text: "hello".into(),
            created_at: 1,
            hashtags: Vec::new(),
            mentions: Vec::new(),
            shared_post: None,
            media: Vec::new(),
            flagged: Vec::new(),
        };
        let event = Event {
            id: "01EVENT",
            actor: "alice",
            aggregate_id: "01POST",
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            data: post,
        };
        // The consumer applies the post: its readers are decided first (bob is away)...
        let applying = store.apply_gate.lock().await;
        let fan_out = read_fan_out(&store, &event).unwrap();
        // ...bob reads his feed meanwhile (this runtime runs it as far as it can go)...
        let reading = tokio::spawn({
            let store = store.clone();
            async move { refresh(&store, "bob", crate::platform::unix_now()).await }
        });
        tokio::task::yield_now().await;
        // ...and the post is stored.
        store
            .write_now(|tx| add_post(tx, &event, &fan_out))
            .unwrap();
        drop(applying);
        reading.await.unwrap().unwrap();
        let timeline = candidates(&store, "bob", None, 10).unwrap();
        assert_eq!(timeline, ["01POST"]);
    }
}
