//! Erasure in posts: the records naming the person go (what they posted as a page stays the
//! page's, without naming them), and so does what hangs off what goes, so that what others
//! see adds up: the counts of others' posts and comments lose the person's comments,
//! reactions and shares, and the comments and reactions others left on removed posts and
//! comments are removed with them (as deleting the post or comment does).

use std::collections::HashMap;

use super::*;
use crate::auth::events::AccountErased;
use crate::platform::erasure::{self, Erase, ErasesPerson as _, Named};

/// What an erasure changes, gathered outside the transaction (a scan).
pub struct Erasure {
    found: Vec<Named>,
    /// The removed posts with their comments' ids and the keys of every reaction to them.
    posts: Vec<(Post, Vec<String>, Vec<Vec<u8>>)>,
    /// The keys of others' reactions to the removed comments.
    reactions_to_comments: Vec<Vec<u8>>,
    /// The post of each comment the person reacted to.
    posts_of_comments: HashMap<String, String>,
}

/// Erasure: the person's posts, comments and reactions go, except what they posted as a
/// page, which stays the page's, without naming them.
pub fn policy(named: &Named, _: &str) -> Erase {
    let as_page = named
        .value
        .as_ref()
        .and_then(|v| v.get("audience")?.get("type")?.as_str())
        == Some("page");
    match named.prefix() {
        b"p/" if as_page => Erase::Anonymize,
        _ => Erase::Remove,
    }
}

fn removed<'a>(found: &'a [Named], prefix: &'a [u8]) -> impl Iterator<Item = &'a Named> {
    found
        .iter()
        .filter(move |n| n.prefix() == prefix && policy(n, "") == Erase::Remove)
}

/// The id at `start` in a key (ids are 26-character ULIDs): in `c/<post><comment>` the
/// post's is at 2 and the comment's at 28; in `r/<target><user>` the target's at 2.
fn id_at(key: &[u8], start: usize) -> String {
    String::from_utf8_lossy(key.get(start..start + 26).unwrap_or_default()).into_owned()
}

pub fn read(store: &Store, e: &Event<AccountErased>) -> ApiResult<Erasure> {
    let found = crate::platform::context::erased_records(store, e)?;
    let mut posts = Vec::new();
    for named in removed(&found, b"p/") {
        if let Some(post) = store.get::<Post>(&named.key)? {
            let (comments, reactions) = children(store, &post.id)?;
            posts.push((post, comments, reactions));
        }
    }
    let mut reactions_to_comments = Vec::new();
    for named in removed(&found, b"c/") {
        let prefix = key("r/", &[&id_at(&named.key, 28)]);
        for (k, _) in store.scan_after(&prefix, None, usize::MAX)? {
            reactions_to_comments.push([prefix.as_slice(), &k].concat());
        }
    }
    // Her reactions name their target: a post, or a comment whose post is found by a scan.
    let targets: Vec<String> = removed(&found, b"r/")
        .map(|n| id_at(&n.key, 2))
        .filter(|t| !store.contains(&post_key(t)).unwrap_or(true))
        .collect();
    let mut posts_of_comments = HashMap::new();
    if !targets.is_empty() {
        for item in store.keys_newest_first(b"c/") {
            // Without its prefix: `<post><comment>`.
            let k = item?;
            let (post, comment) = (id_at(&k, 0), id_at(&k, 26));
            if targets.contains(&comment) {
                posts_of_comments.insert(comment, post);
            }
        }
    }
    Ok(Erasure {
        found,
        posts,
        reactions_to_comments,
        posts_of_comments,
    })
}

pub fn apply(tx: &Tx, e: &Event<AccountErased>, r: &Erasure) -> TxResult<()> {
    // Counts first, while the records they count are still there to read.
    for named in removed(&r.found, b"c/") {
        lower_post(tx, &id_at(&named.key, 2), |p| {
            p.comment_count = p.comment_count.saturating_sub(1)
        })?;
    }
    for named in removed(&r.found, b"p/") {
        if let Some(shared) = named.field("shared_post") {
            lower_post(tx, shared, |p| {
                p.share_count = p.share_count.saturating_sub(1)
            })?;
        }
    }
    for named in removed(&r.found, b"r/") {
        let Some(kind) = named
            .value
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
        else {
            continue;
        };
        let target = id_at(&named.key, 2);
        match r.posts_of_comments.get(&target) {
            Some(post) => lower_comment(tx, post, &target, kind)?,
            None => lower_post(tx, &target, |p| lower(&mut p.reactions, kind))?,
        }
    }
    for (post, comments, reactions) in &r.posts {
        tx.remove(&index_key(post))?;
        tx.remove(&children_key(&post.id))?;
        for c in comments {
            tx.remove(&comment_key(&post.id, c))?;
        }
        for k in reactions {
            tx.remove(k)?;
        }
    }
    for k in &r.reactions_to_comments {
        tx.remove(k)?;
    }
    erasure::apply(tx, e.data.person(), &r.found, policy)
}

fn lower_post(tx: &Tx, id: &str, change: impl Fn(&mut Post)) -> TxResult<()> {
    if let Some(mut post) = tx.get::<Post>(&post_key(id))? {
        change(&mut post);
        tx.put(&post_key(id), &post)?;
    }
    Ok(())
}

fn lower_comment(tx: &Tx, post: &str, id: &str, kind: ReactionKind) -> TxResult<()> {
    if let Some(mut comment) = tx.get::<Comment>(&comment_key(post, id))? {
        lower(&mut comment.reactions, kind);
        tx.put(&comment_key(post, id), &comment)?;
    }
    Ok(())
}

fn lower(counts: &mut std::collections::BTreeMap<ReactionKind, u64>, kind: ReactionKind) {
    if let Some(n) = counts.get_mut(&kind) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(&kind);
        }
    }
}
