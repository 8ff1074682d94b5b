//! # moderation
//!
//! Owns reports, the moderation queue, the actions moderators take and the audit log.
//! Users report posts, comments, messages (members of the conversation only), users, groups
//! and pages with a reason
//! ([`domain::Reason`]); platform moderators and admins (roles from auth) work the queue,
//! claim a report and resolve it with an action (dismiss, remove, warn, suspend, ban), and
//! may revert a removal or a suspension. A group's moderators handle reports about their
//! group's content (dismiss and remove only). Every step is appended to the audit log.
//!
//! Keyword rules (`block`, `flag`) come from admins and from the platform's configuration;
//! they are published as events, and the contexts that screen text (posts) keep them:
//! blocked text is refused there, flagged text goes out marked, and moderation opens a
//! report for it.
//!
//! Actions take effect only through events: auth refuses a suspended account and ends its
//! sessions; posts, feed and search hide removed content and a suspended account's
//! content; notifications tells the affected user why. Moderation never calls them.
//!
//! Publishes: `ReportFiled`, `ContentRemoved`, `ContentRestored`, `AccountSuspended`,
//! `AccountReinstated`, `UserWarned`, `KeywordRuleSet`, `KeywordRuleRemoved` ([`events`]).
//! Consumes: `auth.AccountRegistered`, `posts.PostCreated|PostEdited|PostDeleted|CommentAdded|CommentDeleted`,
//! `groups.GroupUpdated|GroupDeleted|PageUpdated|MemberJoined|MemberLeft`,
//! `messages.MessageSent`: what can be
//! reported, on whom an action falls, and who moderates which group.

pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod storage;

use axum::Router;

use crate::auth::events as auth;
use crate::groups::events as groups;
use crate::messages::events as messages;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::storage::Store;
use crate::platform::{Platform, unix_now};
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
            .on_erasure::<crate::auth::events::AccountErased>(storage::erasure)
            .on::<auth::AccountRegistered>(storage::account_registered)
            .on::<auth::RolesChanged>(storage::roles_changed)
            .on::<posts::PostCreated>(storage::post_created)
            .on::<posts::PostEdited>(storage::edit_flagged)
            .on::<posts::PostDeleted>(storage::post_deleted)
            .on::<posts::CommentAdded>(storage::comment_added)
            .on::<posts::CommentDeleted>(storage::comment_deleted)
            .on::<groups::GroupUpdated>(storage::group_updated)
            .on::<groups::GroupDeleted>(storage::group_deleted)
            .on::<groups::PageUpdated>(storage::page_updated)
            .on::<groups::MemberJoined>(storage::member_joined)
            .on::<groups::MemberLeft>(storage::member_left)
            .on::<messages::MessageSent>(storage::message_sent)
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        let phrases = platform_phrases(&platform.blocked_keywords)?;
        let s = store.clone();
        platform.while_writer(&store, move |_| {
            keep_rules_and_flags(s.clone(), phrases.clone())
        });
        Ok(http::routes(platform.state(store)))
    }
}

/// `AGORA_BLOCKED_KEYWORDS`, checked and normalized as rules keep phrases.
fn platform_phrases(configured: &[String]) -> anyhow::Result<Vec<String>> {
    let mut phrases = Vec::new();
    for raw in configured.iter().filter(|p| !p.trim().is_empty()) {
        let phrase = domain::keyword_phrase(raw)
            .map_err(|e| anyhow::anyhow!("AGORA_BLOCKED_KEYWORDS: {raw:?}: {e}"))?;
        if !phrases.contains(&phrase) {
            phrases.push(phrase);
        }
    }
    Ok(phrases)
}

/// Makes the platform's keyword rules match its configuration, then opens a report for
/// each post or comment the screening contexts flag (those queued before this process
/// started first). Runs until the store's subscriber ends (shutdown).
async fn keep_rules_and_flags(store: Store, phrases: Vec<String>) {
    match storage::reconcile_platform_rules(&store, &phrases, unix_now()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(changes = n, "platform keyword rules updated"),
        Err(e) => tracing::warn!(error = %e, "platform keyword rules not updated"),
    }
    let mut queued = storage::watch_flagged(&store);
    loop {
        for (event, flagged) in storage::flagged(&store).unwrap_or_default() {
            if let Err(e) = storage::open_flag_report(&store, &event, &flagged, unix_now()).await {
                tracing::warn!(event = %event, error = %e, "flagged content left in the queue");
            }
        }
        if !queued.changed().await {
            return;
        }
    }
}
