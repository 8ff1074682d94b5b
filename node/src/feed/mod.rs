//! # feed
//!
//! Owns home timelines and the ranking signals behind them (engagement counts, affinity
//! between readers and authors). Fan-out on write into per-user timelines, capped in
//! length, only for readers seen in the last 30 days (others are rebuilt when they
//! return); page posts are pulled at read time, so a page with many followers costs one
//! write per post. Privacy is re-checked on every read, so the feed converges after an
//! unfriend, a block, a deletion or leaving a group as soon as the event arrives.
//!
//! Publishes: nothing.
//! Consumes: `posts.PostCreated|PostEdited|PostDeleted|CommentAdded|CommentDeleted|ReactionSet|ReactionRemoved`,
//! `users.FriendshipCreated|FriendshipEnded|UserBlocked|UserUnblocked`,
//! `groups.MemberJoined|MemberLeft|GroupDeleted|PageFollowed|PageUnfollowed`.

pub mod domain;
pub mod http;
pub mod storage;

use axum::Router;

use crate::groups::events as groups;
use crate::platform::Platform;
use crate::platform::bus::Applied;
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, apply_pair};
use crate::posts::events as posts;
use crate::users::events as users;

pub const CONTEXT: &str = "feed";

/// Handlers reach the context's store and the token verifier.
pub type FeedState = crate::platform::ContextState;

pub fn consumed() -> Vec<String> {
    let posts = [
        posts::PostCreated::TYPE,
        posts::PostEdited::TYPE,
        posts::PostDeleted::TYPE,
        posts::CommentAdded::TYPE,
        posts::CommentDeleted::TYPE,
        posts::ReactionSet::TYPE,
        posts::ReactionRemoved::TYPE,
    ];
    let users = [
        users::FriendshipCreated::TYPE,
        users::FriendshipEnded::TYPE,
        users::UserBlocked::TYPE,
        users::UserUnblocked::TYPE,
    ];
    let groups = [
        groups::MemberJoined::TYPE,
        groups::MemberLeft::TYPE,
        groups::GroupDeleted::TYPE,
        groups::PageFollowed::TYPE,
        groups::PageUnfollowed::TYPE,
    ];
    posts
        .iter()
        .map(|t| format!("posts.{t}"))
        .chain(users.iter().map(|t| format!("users.{t}")))
        .chain(groups.iter().map(|t| format!("groups.{t}")))
        .collect()
}

pub fn start(platform: &Platform) -> anyhow::Result<Router> {
    let state = platform.start_context(CONTEXT, consumed(), apply)?;
    Ok(http::routes(state))
}

fn post_meta(e: posts::PostCreated) -> domain::PostMeta {
    domain::PostMeta {
        id: e.post_id,
        author_id: e.author_id,
        audience: e.audience,
        visibility: e.visibility,
        text: e.text,
        shared_post: e.shared_post,
        created_at: e.created_at,
        reactions: 0,
        comments: 0,
        shares: 0,
    }
}

/// Applies one consumed event.
pub fn apply(store: &Store, event: &Envelope) -> ApiResult<Applied> {
    let id = event.id.as_str();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let applied = match (event.context.as_str(), event.kind.as_str()) {
        ("posts", posts::PostCreated::TYPE) => event
            .decode_logged::<posts::PostCreated>()
            .map(|e| storage::add_post(store, id, &post_meta(e), now)),
        ("posts", posts::PostEdited::TYPE) => event
            .decode_logged::<posts::PostEdited>()
            .map(|e| storage::edit_post(store, id, &e.post_id, e.visibility, &e.text)),
        ("posts", posts::PostDeleted::TYPE) => event
            .decode_logged::<posts::PostDeleted>()
            .map(|e| storage::delete_post(store, id, &e.post_id)),
        ("posts", posts::CommentAdded::TYPE) => event
            .decode_logged::<posts::CommentAdded>()
            .map(|e| storage::comment(store, id, &e.post_id, &e.author_id, true)),
        ("posts", posts::CommentDeleted::TYPE) => event
            .decode_logged::<posts::CommentDeleted>()
            .map(|e| storage::comment(store, id, &e.post_id, "", false)),
        ("posts", posts::ReactionSet::TYPE) => event
            .decode_logged::<posts::ReactionSet>()
            .filter(|e| e.target_id == e.post_id)
            .map(|e| storage::reaction(store, id, &e.post_id, &e.user_id, true)),
        ("posts", posts::ReactionRemoved::TYPE) => event
            .decode_logged::<posts::ReactionRemoved>()
            .filter(|e| e.target_id == e.post_id)
            .map(|e| storage::reaction(store, id, &e.post_id, &e.user_id, false)),
        ("users", users::FriendshipCreated::TYPE) => event
            .decode_logged::<users::FriendshipCreated>()
            .map(|e| storage::befriend(store, id, &e.user_a, &e.user_b)),
        ("users", users::FriendshipEnded::TYPE) => event
            .decode_logged::<users::FriendshipEnded>()
            .map(|e| apply_pair(store, id, "f/", &e.user_a, &e.user_b, false, true)),
        ("users", users::UserBlocked::TYPE) => event
            .decode_logged::<users::UserBlocked>()
            .map(|e| apply_pair(store, id, "b/", &e.blocker, &e.blocked, true, false)),
        ("users", users::UserUnblocked::TYPE) => event
            .decode_logged::<users::UserUnblocked>()
            .map(|e| apply_pair(store, id, "b/", &e.blocker, &e.blocked, false, false)),
        ("groups", groups::MemberJoined::TYPE) => event
            .decode_logged::<groups::MemberJoined>()
            .map(|e| storage::set_member(store, id, &e.group_id, &e.user_id, true)),
        ("groups", groups::MemberLeft::TYPE) => event
            .decode_logged::<groups::MemberLeft>()
            .map(|e| storage::set_member(store, id, &e.group_id, &e.user_id, false)),
        ("groups", groups::GroupDeleted::TYPE) => event
            .decode_logged::<groups::GroupDeleted>()
            .map(|e| storage::drop_group(store, id, &e.group_id)),
        ("groups", groups::PageFollowed::TYPE) => event
            .decode_logged::<groups::PageFollowed>()
            .map(|e| apply_pair(store, id, "up/", &e.user_id, &e.page_id, true, false)),
        ("groups", groups::PageUnfollowed::TYPE) => event
            .decode_logged::<groups::PageUnfollowed>()
            .map(|e| apply_pair(store, id, "up/", &e.user_id, &e.page_id, false, false)),
        _ => None,
    };
    match applied {
        Some(result) => result.map(|a| {
            if a {
                Applied::Applied
            } else {
                Applied::Duplicate
            }
        }),
        None => Ok(Applied::Ignored),
    }
}
