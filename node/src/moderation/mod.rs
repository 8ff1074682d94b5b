//! # moderation
//!
//! Owns reports, the moderation queue, the actions moderators take and the audit log.
//! Users report posts, comments, users, groups and pages with a reason
//! ([`domain::Reason`]); platform moderators and admins (roles from auth) work the queue,
//! claim a report and resolve it with an action (dismiss, remove, warn, suspend, ban), and
//! may revert a removal or a suspension. A group's moderators handle reports about their
//! group's content (dismiss and remove only). Every step is appended to the audit log.
//!
//! Actions take effect only through events: auth refuses a suspended account and ends its
//! sessions; posts, feed and search hide removed content and a suspended account's
//! content; notifications tells the affected user why. Moderation never calls them.
//!
//! Publishes: `ReportFiled`, `ContentRemoved`, `ContentRestored`, `AccountSuspended`,
//! `AccountReinstated`, `UserWarned` ([`events`]).
//! Consumes: `auth.AccountRegistered`, `posts.PostCreated|PostDeleted|CommentAdded|CommentDeleted`,
//! `groups.GroupUpdated|GroupDeleted|PageUpdated|MemberJoined|MemberLeft`: what can be
//! reported, on whom an action falls, and who moderates which group.

pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod storage;

use axum::Router;

use crate::auth::events as auth;
use crate::groups::events as groups;
use crate::platform::Platform;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::storage::Store;
use crate::posts::events as posts;

/// The moderation context.
pub struct Moderation;

impl BoundedContext for Moderation {
    fn name(&self) -> &'static str {
        Context::Moderation.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["reports", "moderation"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::ModerationApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
            .on::<auth::AccountRegistered>(storage::account_registered)
            .on::<posts::PostCreated>(storage::post_created)
            .on::<posts::PostDeleted>(storage::post_deleted)
            .on::<posts::CommentAdded>(storage::comment_added)
            .on::<posts::CommentDeleted>(storage::comment_deleted)
            .on::<groups::GroupUpdated>(storage::group_updated)
            .on::<groups::GroupDeleted>(storage::group_deleted)
            .on::<groups::PageUpdated>(storage::page_updated)
            .on::<groups::MemberJoined>(storage::member_joined)
            .on::<groups::MemberLeft>(storage::member_left)
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        Ok(http::routes(platform.state(store)))
    }
}
