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

use axum::Router;

use crate::groups::events as groups;
use crate::platform::Platform;
use crate::platform::bus::Applied;
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, apply_pair};
use crate::users::events as users;

/// Handlers reach the context's store and the token verifier.
pub type PostsState = crate::platform::ContextState;

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
    let state = platform.start_context(events::CONTEXT, consumed(), apply)?;
    Ok(http::routes(state))
}

/// Applies one consumed event to the projections.
pub fn apply(store: &Store, event: &Envelope) -> ApiResult<Applied> {
    let id = event.id.as_str();
    let applied = match (event.context.as_str(), event.kind.as_str()) {
        ("users", users::FriendshipCreated::TYPE) => event
            .decode_logged::<users::FriendshipCreated>()
            .map(|e| apply_pair(store, id, "f/", &e.user_a, &e.user_b, true, true)),
        ("users", users::FriendshipEnded::TYPE) => event
            .decode_logged::<users::FriendshipEnded>()
            .map(|e| apply_pair(store, id, "f/", &e.user_a, &e.user_b, false, true)),
        ("users", users::UserBlocked::TYPE) => event
            .decode_logged::<users::UserBlocked>()
            .map(|e| apply_pair(store, id, "b/", &e.blocker, &e.blocked, true, false)),
        ("users", users::UserUnblocked::TYPE) => event
            .decode_logged::<users::UserUnblocked>()
            .map(|e| apply_pair(store, id, "b/", &e.blocker, &e.blocked, false, false)),
        ("users", users::ProfileUpdated::TYPE) => event
            .decode_logged::<users::ProfileUpdated>()
            .map(|e| storage::set_username(store, id, &e.user_id, &e.username)),
        ("groups", groups::GroupUpdated::TYPE) => event
            .decode_logged::<groups::GroupUpdated>()
            .map(|e| storage::set_group(store, id, &e.group_id, Some(e.privacy))),
        ("groups", groups::GroupDeleted::TYPE) => event
            .decode_logged::<groups::GroupDeleted>()
            .map(|e| storage::set_group(store, id, &e.group_id, None)),
        ("groups", groups::MemberJoined::TYPE) => event
            .decode_logged::<groups::MemberJoined>()
            .map(|e| storage::set_member(store, id, &e.group_id, &e.user_id, Some(e.role))),
        ("groups", groups::MemberLeft::TYPE) => event
            .decode_logged::<groups::MemberLeft>()
            .map(|e| storage::set_member(store, id, &e.group_id, &e.user_id, None)),
        ("groups", groups::PageUpdated::TYPE) => event
            .decode_logged::<groups::PageUpdated>()
            .map(|e| storage::set_page(store, id, &e.page_id, None)),
        ("groups", groups::PageAdminAdded::TYPE) => event
            .decode_logged::<groups::PageAdminAdded>()
            .map(|e| storage::set_page(store, id, &e.page_id, Some(&e.user_id))),
        _ => None,
    };
    match applied {
        Some(result) => result.map(Applied::once),
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
