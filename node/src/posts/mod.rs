//! # posts
//!
//! Owns posts (text, visibility, audience: a profile, a group or a page), their edit
//! history, comments with one level of replies, reactions, shares, mentions and hashtags.
//! Privacy is applied on every read.
//!
//! Publishes: `PostCreated`, `PostEdited`, `PostDeleted`, `CommentAdded`, `CommentDeleted`,
//! `ReactionSet`, `ReactionRemoved` ([`events`]).
//! Consumes: `users.FriendshipCreated|FriendshipEnded|UserBlocked|UserUnblocked|ProfileUpdated`
//! and `groups.GroupUpdated|GroupDeleted|MemberJoined|MemberLeft|PageUpdated|PageAdminAdded`,
//! kept as projections (friendships, blocks, usernames, group privacy and roles, page admins).

pub mod domain;
pub mod events;
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
use crate::users::events as users;

#[derive(Clone)]
pub struct PostsState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<PostsState> for Arc<TokenVerifier> {
    fn from_ref(state: &PostsState) -> Self {
        state.verifier.clone()
    }
}

/// The events posts keeps projections of.
pub fn consumed() -> Vec<String> {
    let users = [
        users::FriendshipCreated::TYPE,
        users::FriendshipEnded::TYPE,
        users::UserBlocked::TYPE,
        users::UserUnblocked::TYPE,
        users::ProfileUpdated::TYPE,
    ];
    let groups = [
        groups::GroupUpdated::TYPE,
        groups::GroupDeleted::TYPE,
        groups::MemberJoined::TYPE,
        groups::MemberLeft::TYPE,
        groups::PageUpdated::TYPE,
        groups::PageAdminAdded::TYPE,
    ];
    users
        .iter()
        .map(|t| format!("users.{t}"))
        .chain(groups.iter().map(|t| format!("groups.{t}")))
        .collect()
}

pub fn start(platform: &Platform) -> anyhow::Result<Router> {
    let store = platform.open_store(events::CONTEXT)?;
    let handler_store = store.clone();
    let spec = ConsumerSpec {
        context: events::CONTEXT,
        events: consumed(),
        handler: Arc::new(move |event| apply(&handler_store, event)),
    };
    platform.spawn_consumer(spec, &store);
    Ok(http::routes(PostsState {
        store,
        verifier: platform.verifier.clone(),
    }))
}

/// Decodes `E` from the envelope, or says why it is skipped.
fn decode<E: DomainEvent + DeserializeOwned>(event: &Envelope) -> Option<E> {
    match event.decode::<E>()? {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::error!(event_id = %event.id, kind = %event.kind, error = %e, "undecodable event skipped");
            None
        }
    }
}

fn outcome(applied: bool) -> Applied {
    if applied {
        Applied::Applied
    } else {
        Applied::Duplicate
    }
}

/// Applies one consumed event to the projections.
pub fn apply(store: &Store, event: &Envelope) -> ApiResult<Applied> {
    let id = event.id.as_str();
    let applied = match (event.context.as_str(), event.kind.as_str()) {
        ("users", users::FriendshipCreated::TYPE) => decode::<users::FriendshipCreated>(event)
            .map(|e| storage::set_pair(store, id, "f/", &e.user_a, &e.user_b, true, true)),
        ("users", users::FriendshipEnded::TYPE) => decode::<users::FriendshipEnded>(event)
            .map(|e| storage::set_pair(store, id, "f/", &e.user_a, &e.user_b, false, true)),
        ("users", users::UserBlocked::TYPE) => decode::<users::UserBlocked>(event)
            .map(|e| storage::set_pair(store, id, "b/", &e.blocker, &e.blocked, true, false)),
        ("users", users::UserUnblocked::TYPE) => decode::<users::UserUnblocked>(event)
            .map(|e| storage::set_pair(store, id, "b/", &e.blocker, &e.blocked, false, false)),
        ("users", users::ProfileUpdated::TYPE) => decode::<users::ProfileUpdated>(event)
            .map(|e| storage::set_username(store, id, &e.user_id, &e.username)),
        ("groups", groups::GroupUpdated::TYPE) => decode::<groups::GroupUpdated>(event)
            .map(|e| storage::set_group(store, id, &e.group_id, Some(e.privacy))),
        ("groups", groups::GroupDeleted::TYPE) => decode::<groups::GroupDeleted>(event)
            .map(|e| storage::set_group(store, id, &e.group_id, None)),
        ("groups", groups::MemberJoined::TYPE) => decode::<groups::MemberJoined>(event)
            .map(|e| storage::set_member(store, id, &e.group_id, &e.user_id, Some(e.role))),
        ("groups", groups::MemberLeft::TYPE) => decode::<groups::MemberLeft>(event)
            .map(|e| storage::set_member(store, id, &e.group_id, &e.user_id, None)),
        ("groups", groups::PageUpdated::TYPE) => decode::<groups::PageUpdated>(event)
            .map(|e| storage::set_page(store, id, &e.page_id, None)),
        ("groups", groups::PageAdminAdded::TYPE) => decode::<groups::PageAdminAdded>(event)
            .map(|e| storage::set_page(store, id, &e.page_id, Some(&e.user_id))),
        _ => None,
    };
    match applied {
        Some(result) => result.map(outcome),
        None => {
            tracing::debug!(kind = %event.kind, "event not handled by posts");
            Ok(Applied::Ignored)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_redelivered_event_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let event = Envelope::new(
            "users",
            "a",
            "a",
            &users::FriendshipCreated {
                user_a: "a".into(),
                user_b: "b".into(),
            },
        );
        assert_eq!(apply(&store, &event).unwrap(), Applied::Applied);
        assert!(storage::friends(&store, "b", "a").unwrap());
        // The friendship ends, then the creation is delivered again: it must not come back.
        let ended = Envelope::new(
            "users",
            "a",
            "a",
            &users::FriendshipEnded {
                user_a: "a".into(),
                user_b: "b".into(),
            },
        );
        assert_eq!(apply(&store, &ended).unwrap(), Applied::Applied);
        assert_eq!(apply(&store, &event).unwrap(), Applied::Duplicate);
        assert!(!storage::friends(&store, "a", "b").unwrap());
        let unknown = Envelope::new(
            "users",
            "a",
            "a",
            &users::UserUnblocked {
                blocker: "a".into(),
                blocked: "b".into(),
            },
        );
        let mut strange = unknown.clone();
        strange.kind = "SomethingNew".into();
        assert_eq!(apply(&store, &strange).unwrap(), Applied::Ignored);
    }
}
