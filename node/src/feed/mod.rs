//! # feed
//!
//! Owns home timelines and the ranking signals behind them (engagement counts, affinity
//! between readers and authors). Fan-out on write into per-user timelines, capped in
//! length, only for readers seen in the last 30 days (others are rebuilt when they
//! return); page posts are pulled at read time, so a page with many followers costs one
//! write per post. Privacy is re-checked on every read, so the feed converges after an
//! unfriend, a block, a deletion or leaving a group as soon as the event arrives.
//!
//! A read writes nothing: when each reader last read and the trimming of their timeline
//! are written in batches by [`upkeep`] (a reader coming back is recorded at once, with
//! the rebuild of their timeline).
//!
//! Publishes: `PostsSeen` ([`events`]): which posts readers were shown, in batches of
//! about a second (analytics' reach and impressions; no write on the read path).
//! Consumes: `posts.PostCreated|PostEdited|PostDeleted|CommentAdded|CommentDeleted|ReactionSet|ReactionRemoved`,
//! `users.FriendshipCreated|FriendshipEnded|UserBlocked|UserUnblocked|ProfileUpdated` (the
//! author's name and avatar on each item),
//! `groups.MemberJoined|MemberLeft|GroupDeleted|PageFollowed|PageUnfollowed`,
//! `moderation.ContentRemoved|ContentRestored|AccountSuspended|AccountReinstated` (removed
//! posts and suspended authors' posts are left out of every feed).

pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod storage;
pub mod upkeep;

use axum::Router;

use crate::groups::events as groups;
use crate::moderation::events as moderation;
use crate::platform::Platform;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::storage::Store;
use crate::platform::views::ViewRecorder;
use crate::posts::events as posts;
use crate::users::events as users;

/// Handlers reach the context's store and the token verifier.
#[derive(Clone)]
pub struct FeedState {
    pub store: Store,
    pub verifier: std::sync::Arc<crate::platform::tokens::TokenVerifier>,
    /// Signs the URLs of attached media for each reader.
    pub urls: std::sync::Arc<crate::platform::media_urls::MediaUrls>,
    /// Which posts each reader was shown (published in batches for analytics).
    pub views: crate::platform::views::ViewRecorder,
    /// Readers' routine upkeep, off the read path.
    pub upkeep: upkeep::Upkeep,
}

impl axum::extract::FromRef<FeedState> for std::sync::Arc<crate::platform::tokens::TokenVerifier> {
    fn from_ref(state: &FeedState) -> Self {
        state.verifier.clone()
    }
}

/// The feed context.
pub struct Feed;

impl BoundedContext for Feed {
    fn name(&self) -> &'static str {
        Context::Feed.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["feed"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::FeedApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
            .on_erasure::<crate::auth::events::AccountErased>(crate::platform::erasure::remove_all)
            .on_read::<posts::PostCreated, _>(storage::read_fan_out, storage::add_post)
            .on::<posts::PostEdited>(storage::edit_post)
            .on::<posts::PostDeleted>(storage::delete_post)
            .on::<moderation::ContentRemoved>(storage::content_removed)
            .on::<moderation::ContentRestored>(storage::content_restored)
            .on::<moderation::AccountSuspended>(storage::account_suspended)
            .on::<moderation::AccountReinstated>(storage::account_reinstated)
            .on::<posts::CommentAdded>(storage::comment_added)
            .on::<posts::CommentDeleted>(storage::comment_deleted)
            .on::<posts::ReactionSet>(storage::reaction_set)
            .on::<posts::ReactionRemoved>(storage::reaction_removed)
            .on::<users::ProfileUpdated>(storage::set_byline)
            .on_read::<users::FriendshipCreated, _>(storage::read_befriend, storage::befriend)
            .on::<users::FriendshipEnded>(storage::unfriend)
            .on::<users::UserBlocked>(storage::block)
            .on::<users::UserUnblocked>(storage::unblock)
            .on_read::<groups::MemberJoined, _>(storage::read_join, storage::join)
            .on::<groups::MemberLeft>(storage::leave)
            .on::<groups::GroupUpdated>(storage::group_updated)
            .on_read::<groups::GroupDeleted, _>(storage::read_group_members, storage::drop_group)
            .on::<groups::PageFollowed>(storage::follow_page)
            .on::<groups::PageUnfollowed>(storage::unfollow_page)
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn resident(&self) -> crate::platform::storage::Residence {
        storage::RESIDENT
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        let views = ViewRecorder::start::<events::PostsSeen>(
            store.clone(),
            Context::Feed.name(),
            platform.record_views,
        );
        Ok(http::routes(FeedState {
            upkeep: upkeep::Upkeep::start(store.clone()),
            store,
            verifier: platform.verifier.clone(),
            urls: platform.media_urls()?,
            views,
        }))
    }
}
