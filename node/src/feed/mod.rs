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

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use serde::de::DeserializeOwned;

use crate::groups::events as groups;
use crate::platform::Platform;
use crate::platform::bus::{Applied, ConsumerSpec};
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::Store;
use crate::platform::tokens::TokenVerifier;
use crate::posts::events as posts;
use crate::users::events as users;

pub const CONTEXT: &str = "feed";

#[derive(Clone)]
pub struct FeedState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<FeedState> for Arc<TokenVerifier> {
    fn from_ref(state: &FeedState) -> Self {
        state.verifier.clone()
    }
}

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
    let store = platform.open_store(CONTEXT)?;
    let handler_store = store.clone();
    let spec = ConsumerSpec {
        context: CONTEXT,
        events: consumed(),
        handler: Arc::new(move |event| apply(&handler_store, event)),
    };
    platform.spawn_consumer(spec, &store);
    Ok(http::routes(FeedState {
        store,
        verifier: platform.verifier.clone(),
    }))
}

fn decode<E: DomainEvent + DeserializeOwned>(event: &Envelope) -> Option<E> {
    match event.decode::<E>()? {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::error!(event_id = %event.id, kind = %event.kind, error = %e, "undecodable event skipped");
            None
        }
    }
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
        ("posts", posts::PostCreated::TYPE) => decode::<posts::PostCreated>(event)
            .map(|e| storage::add_post(store, id, &post_meta(e), now)),
        ("posts", posts::PostEdited::TYPE) => decode::<posts::PostEdited>(event)
            .map(|e| storage::edit_post(store, id, &e.post_id, e.visibility, &e.text)),
        ("posts", posts::PostDeleted::TYPE) => {
            decode::<posts::PostDeleted>(event).map(|e| storage::delete_post(store, id, &e.post_id))
        }
        ("posts", posts::CommentAdded::TYPE) => decode::<posts::CommentAdded>(event)
            .map(|e| storage::comment(store, id, &e.post_id, &e.author_id, true)),
        ("posts", posts::CommentDeleted::TYPE) => decode::<posts::CommentDeleted>(event)
            .map(|e| storage::comment(store, id, &e.post_id, "", false)),
        ("posts", posts::ReactionSet::TYPE) => decode::<posts::ReactionSet>(event)
            .filter(|e| e.target_id == e.post_id)
            .map(|e| storage::reaction(store, id, &e.post_id, &e.user_id, true)),
        ("posts", posts::ReactionRemoved::TYPE) => decode::<posts::ReactionRemoved>(event)
            .filter(|e| e.target_id == e.post_id)
            .map(|e| storage::reaction(store, id, &e.post_id, &e.user_id, false)),
        ("users", users::FriendshipCreated::TYPE) => decode::<users::FriendshipCreated>(event)
            .map(|e| storage::befriend(store, id, &e.user_a, &e.user_b)),
        ("users", users::FriendshipEnded::TYPE) => decode::<users::FriendshipEnded>(event)
            .map(|e| storage::set_pair(store, id, "f/", &e.user_a, &e.user_b, false, true)),
        ("users", users::UserBlocked::TYPE) => decode::<users::UserBlocked>(event)
            .map(|e| storage::set_pair(store, id, "b/", &e.blocker, &e.blocked, true, false)),
        ("users", users::UserUnblocked::TYPE) => decode::<users::UserUnblocked>(event)
            .map(|e| storage::set_pair(store, id, "b/", &e.blocker, &e.blocked, false, false)),
        ("groups", groups::MemberJoined::TYPE) => decode::<groups::MemberJoined>(event)
            .map(|e| storage::set_member(store, id, &e.group_id, &e.user_id, true)),
        ("groups", groups::MemberLeft::TYPE) => decode::<groups::MemberLeft>(event)
            .map(|e| storage::set_member(store, id, &e.group_id, &e.user_id, false)),
        ("groups", groups::GroupDeleted::TYPE) => decode::<groups::GroupDeleted>(event)
            .map(|e| storage::drop_group(store, id, &e.group_id)),
        ("groups", groups::PageFollowed::TYPE) => decode::<groups::PageFollowed>(event)
            .map(|e| storage::set_pair(store, id, "up/", &e.user_id, &e.page_id, true, false)),
        ("groups", groups::PageUnfollowed::TYPE) => decode::<groups::PageUnfollowed>(event)
            .map(|e| storage::set_pair(store, id, "up/", &e.user_id, &e.page_id, false, false)),
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
