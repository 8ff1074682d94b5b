//! # posts
//!
//! Owns posts (text, visibility, audience: a profile, a group or a page), their edit
//! history, comments with one level of replies, reactions, shares, mentions and hashtags.
//! Privacy is applied on every read.
//!
//! Publishes: `PostCreated`, `PostEdited`, `PostDeleted`, `CommentAdded`, `CommentDeleted`,
//! `ReactionSet`, `ReactionRemoved`, `PostsOpened` (posts signed-in readers opened, in
//! batches, for analytics) ([`events`]).
//! Consumes: `users.FriendshipCreated|FriendshipEnded|UserBlocked|UserUnblocked|ProfileUpdated`
//! `groups.GroupUpdated|GroupDeleted|MemberJoined|MemberLeft|PageUpdated|PageAdminAdded` and
//! `media.MediaUploaded|MediaDescribed|MediaDeleted` and
//! `moderation.ContentRemoved|ContentRestored|AccountSuspended|AccountReinstated|KeywordRuleSet|KeywordRuleRemoved`, kept as
//! projections (friendships, blocks, usernames, group privacy and roles, page admins, each
//! media item's metadata, so a post's attachments are validated and drawn without a call,
//! what moderators hide: removed posts and comments, suspended authors' content, and the
//! keyword rules text is screened against: `block` refuses, `flag` goes out marked).

pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod storage;

use axum::Router;

use std::sync::Arc;

use crate::groups::events as groups;
use crate::media::events as media;
use crate::moderation::events as moderation;
use crate::platform::Platform;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::media_urls::MediaUrls;
use crate::platform::storage::Store;
use crate::platform::tokens::TokenVerifier;
use crate::users::events as users;

/// Handlers reach the context's store, the token verifier and the key that signs the
/// URLs of attached media for each reader.
#[derive(Clone)]
pub struct PostsState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
    pub urls: Arc<MediaUrls>,
    /// Which posts signed-in readers opened (published in batches for analytics).
    pub views: crate::platform::views::ViewRecorder,
}

impl axum::extract::FromRef<PostsState> for Arc<TokenVerifier> {
    fn from_ref(state: &PostsState) -> Self {
        state.verifier.clone()
    }
}

/// The posts context.
pub struct Posts;

impl BoundedContext for Posts {
    fn name(&self) -> &'static str {
        Context::Posts.name()
    }

    /// A user's timeline (`users/{id}/posts`) belongs to posts, not users.
    fn paths(&self) -> &'static [&'static str] {
        &["posts", "users/*/posts"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::PostsApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
            .on_read::<crate::auth::events::AccountErased, _>(
                storage::erasure::read,
                storage::erasure::apply,
            )
            .on::<users::FriendshipCreated>(storage::befriend)
            .on::<moderation::ContentRemoved>(storage::content_removed)
            .on::<moderation::ContentRestored>(storage::content_restored)
            .on::<moderation::AccountSuspended>(storage::account_suspended)
            .on::<moderation::AccountReinstated>(storage::account_reinstated)
            .on::<moderation::KeywordRuleSet>(storage::keyword_rule_set)
            .on::<moderation::KeywordRuleRemoved>(storage::keyword_rule_removed)
            .on::<users::FriendshipEnded>(storage::unfriend)
            .on::<users::UserBlocked>(storage::block)
            .on::<users::UserUnblocked>(storage::unblock)
            .on::<users::ProfileUpdated>(storage::set_profile)
            .on::<groups::GroupUpdated>(storage::set_group)
            .on::<groups::GroupDeleted>(storage::drop_group)
            .on::<groups::MemberJoined>(storage::join)
            .on::<groups::MemberLeft>(storage::leave)
            .on::<groups::PageUpdated>(storage::set_page)
            .on::<groups::PageAdminAdded>(storage::add_page_admin)
            .on::<media::MediaUploaded>(storage::media_uploaded)
            .on::<media::MediaDescribed>(storage::media_described)
            .on::<media::MediaDeleted>(storage::media_deleted)
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn resident(&self) -> crate::platform::storage::Residence {
        storage::RESIDENT
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        let views = crate::platform::views::ViewRecorder::start::<events::PostsOpened>(
            store.clone(),
            Context::Posts.name(),
            platform.record_views,
        );
        Ok(http::routes(PostsState {
            store,
            verifier: platform.verifier.clone(),
            urls: platform.media_urls()?,
            views,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::platform::context::Applied;
    use crate::platform::envelope::Envelope;

    #[tokio::test]
    async fn a_redelivered_event_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let table = Posts.subscriptions();
        let apply = |e: &Envelope, seq| table.apply(&store, e, seq);
        let event = Envelope::new(
            "a",
            "a",
            &users::FriendshipCreated {
                user_a: "a".into(),
                user_b: "b".into(),
            },
        );
        assert_eq!(apply(&event, 1).unwrap(), Applied::Applied);
        assert!(storage::friends(&store, "b", "a").unwrap());
        // The friendship ends, then the creation is delivered again: it must not come back.
        let ended = Envelope::new(
            "a",
            "a",
            &users::FriendshipEnded {
                user_a: "a".into(),
                user_b: "b".into(),
            },
        );
        assert_eq!(apply(&ended, 2).unwrap(), Applied::Applied);
        assert_eq!(apply(&event, 1).unwrap(), Applied::Duplicate);
        assert!(!storage::friends(&store, "a", "b").unwrap());
        let unknown = Envelope::new(
            "a",
            "a",
            &users::UserUnblocked {
                blocker: "a".into(),
                blocked: "b".into(),
            },
        );
        let mut strange = unknown.clone();
        strange.kind = "SomethingNew".into();
        assert_eq!(apply(&strange, 3).unwrap(), Applied::Ignored);
    }
}
