//! # search
//!
//! Finds people (username, display name, bio), posts (text, hashtags), groups and pages
//! (names) with Tantivy, fed only by events, and tells which hashtags are trending
//! (`storage/trending.rs`: distinct authors of public posts per ten minutes, against the
//! week before), for a viewer who may read what is found
//! ([`domain`]: privacy is part of every query, so hidden documents are never ranked,
//! counted or paged over).
//!
//! Event handlers write the documents and a queue of changes in sled, in the apply-once
//! transaction; a task moves the queue into the index (one writer, a commit per batch of
//! up to 1,000 changes, at once when it was idle, then at most every 500 ms) and reloads the
//! one reader. The index is
//! derived: an empty one is filled from the documents at start, before the context
//! serves. Each replica keeps its own index; a follower's follows its documents'
//! changes ([`indexing`]).
//!
//! Publishes: nothing.
//! Consumes: `users.ProfileUpdated|FriendshipCreated|FriendshipEnded|UserBlocked|UserUnblocked`,
//! `groups.GroupUpdated|GroupDeleted|MemberJoined|MemberLeft|PageUpdated`,
//! `posts.PostCreated|PostEdited|PostDeleted`,
//! `moderation.ContentRemoved|ContentRestored|AccountSuspended|AccountReinstated`.

pub mod domain;
pub mod error;
pub mod http;
pub mod indexing;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;

use crate::groups::events as groups;
use crate::moderation::events as moderation;
use crate::platform::Platform;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::storage::Store;
use crate::platform::tokens::TokenVerifier;
use crate::posts::events as posts;
use crate::users::events as users;
use storage::index::SearchIndex;

/// Most changes one commit takes.
const BATCH: usize = 1_000;
/// Least time between two commits: changes arriving meanwhile share the next one. A change
/// arriving while the index was idle is committed at once. Each commit makes a segment
/// that merges then rewrite: at 100 ms, under the social workload's few composes per
/// commit, Tantivy's indexing, merging and segment threads took a fifth of the node's CPU
/// (docs/benchmarks.md). Elasticsearch refreshes every second by default; half of that
/// keeps the freshness goal (p99 under 1 s from the event).
const COMMIT_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct SearchState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
    pub index: Arc<SearchIndex>,
    /// Signs the avatar URLs of hits.
    pub urls: Arc<crate::platform::media_urls::MediaUrls>,
}

impl FromRef<SearchState> for Arc<TokenVerifier> {
    fn from_ref(state: &SearchState) -> Self {
        state.verifier.clone()
    }
}

/// The search context.
pub struct Search;

impl BoundedContext for Search {
    fn name(&self) -> &'static str {
        Context::Search.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["search", "trending"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::SearchApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
            .on_read::<crate::auth::events::AccountErased, _>(
                crate::platform::context::erased_records,
                storage::account_erased,
            )
            .on::<users::ProfileUpdated>(storage::profile_updated)
            .on::<users::FriendshipCreated>(storage::befriend)
            .on::<users::FriendshipEnded>(storage::unfriend)
            .on::<users::UserBlocked>(storage::block)
            .on::<users::UserUnblocked>(storage::unblock)
            .on_read::<groups::GroupUpdated, _>(storage::read_group_posts, storage::group_updated)
            .on_read::<groups::GroupDeleted, _>(
                storage::read_deleted_group_posts,
                storage::group_deleted,
            )
            .on::<groups::MemberJoined>(storage::member_joined)
            .on::<groups::MemberLeft>(storage::member_left)
            .on::<groups::PageUpdated>(storage::page_updated)
            .on::<posts::PostCreated>(storage::post_created)
            .on::<posts::PostEdited>(storage::post_edited)
            .on::<posts::PostDeleted>(storage::post_deleted)
            .on::<moderation::ContentRemoved>(storage::content_removed)
            .on::<moderation::ContentRestored>(storage::content_restored)
            .on::<moderation::AccountSuspended>(storage::account_suspended)
            .on::<moderation::AccountReinstated>(storage::account_reinstated)
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        let index = match platform.search_index_in_memory {
            true => SearchIndex::in_memory()?,
            false => SearchIndex::open(
                &platform.data_dir.join("search-index"),
                platform
                    .encryption_key
                    .as_ref()
                    .map(|key| (key, platform.index_cache_bytes)),
            )?,
        };
        let index = Arc::new(index);
        indexing::keep(platform, store.clone(), index.clone())?;
        Ok(http::routes(SearchState {
            store,
            verifier: platform.verifier.clone(),
            index,
            urls: platform.media_urls()?,
        }))
    }
}
