//! # notifications
//!
//! Owns each user's notifications, made from other contexts' events, never by a call:
//! friend requests and acceptances, comments on your posts, replies to your comments,
//! reactions (grouped per post or comment: "A and 12 others reacted"), mentions in posts
//! you may read, shares of your posts, group invitations, and join requests (to the
//! group's moderators and admins), and messages that arrived while the recipient had no
//! connection open (grouped per conversation, gone once it is read). Nothing is told about someone a block stands
//! between, or about content the recipient may not read. Read marks, deletions,
//! preferences per kind and muted posts are the user's own records; the notifications
//! themselves are projections, rebuilt with the same ids.
//! New activity is pushed live (`notification`) to the user's devices.
//!
//! Publishes: `DigestDue` ([`events`]): counts of unread notifications a user wants by
//! e-mail, every `AGORA_DIGEST_INTERVAL_SECS`; auth mails them.
//! Consumes: `users.FriendRequestSent|FriendshipCreated|FriendshipEnded|UserBlocked|UserUnblocked`,
//! `posts.PostCreated|PostEdited|PostDeleted|CommentAdded|CommentDeleted|ReactionSet`,
//! `groups.GroupUpdated|GroupDeleted|MemberJoined|MemberLeft|GroupInvitationSent|JoinRequested`,
//! `messages.ConversationCreated|MembersAdded|MemberLeft|MessageSent|ConversationRead`,
//! `moderation.ContentRemoved|ContentRestored|UserWarned|AccountSuspended|AccountReinstated`
//! (the affected user is told what a moderator did and why).

pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod storage;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;

use crate::groups::events as groups;
use crate::messages::events as messages;
use crate::moderation::events as moderation;
use crate::platform::Platform;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::push::{Push, PushEvent};
use crate::platform::storage::Store;
use crate::platform::tokens::TokenVerifier;
use crate::posts::events as posts;
use crate::users::events as users;

/// Handlers reach the context's store and the token verifier.
#[derive(Clone)]
pub struct NotificationsState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<NotificationsState> for Arc<TokenVerifier> {
    fn from_ref(state: &NotificationsState) -> Self {
        state.verifier.clone()
    }
}

/// The notifications context.
pub struct Notifications;

impl BoundedContext for Notifications {
    fn name(&self) -> &'static str {
        Context::Notifications.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["notifications"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::NotificationsApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
            .on_erasure::<crate::auth::events::AccountErased>(storage::erasure)
            .on::<users::FriendRequestSent>(storage::friend_request)
            .on::<users::FriendshipCreated>(storage::befriend)
            .on::<users::FriendshipEnded>(storage::unfriend)
            .on::<users::UserBlocked>(storage::block)
            .on::<users::UserUnblocked>(storage::unblock)
            .on::<groups::GroupUpdated>(storage::set_group)
            .on::<groups::GroupDeleted>(storage::drop_group)
            .on::<groups::MemberJoined>(storage::join)
            .on::<groups::MemberLeft>(storage::leave)
            .on::<groups::GroupInvitationSent>(storage::group_invitation)
            .on_read::<groups::JoinRequested, _>(storage::read_moderators, storage::join_request)
            .on::<posts::PostCreated>(storage::add_post)
            .on::<posts::PostEdited>(storage::edit_post)
            .on::<posts::PostDeleted>(storage::delete_post)
            .on::<posts::CommentAdded>(storage::comment_added)
            .on::<posts::CommentDeleted>(storage::comment_deleted)
            .on::<posts::ReactionSet>(storage::reaction_set)
            .on::<messages::ConversationCreated>(storage::conversation_started)
            .on::<messages::MembersAdded>(storage::members_added)
            .on::<messages::MemberLeft>(storage::member_left)
            .on::<messages::MessageSent>(storage::message_sent)
            .on::<messages::ConversationRead>(storage::conversation_read)
            .on::<crate::users::events::ExportReady>(storage::export_ready)
            .on::<moderation::ContentRemoved>(storage::content_removed)
            .on::<moderation::ContentRestored>(storage::content_restored)
            .on::<moderation::UserWarned>(storage::user_warned)
            .on::<moderation::AccountSuspended>(storage::account_suspended)
            .on::<moderation::AccountReinstated>(storage::account_reinstated)
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        // Only the writer pushes and mails: a follower would say everything twice.
        let (s, push) = (store.clone(), platform.push());
        platform.while_writer(&store, move |_| push_new_activity(s.clone(), push.clone()));
        let (s, every) = (store.clone(), platform.digest_interval);
        platform.while_writer(&store, move |stop| send_digests(s.clone(), every, stop));
        Ok(http::routes(NotificationsState {
            store,
            verifier: platform.verifier.clone(),
        }))
    }
}

/// Every `interval`, counts for each user who wants some kind by e-mail what is unread
/// since their last digest, and publishes `DigestDue` when there is anything (auth mails
/// it). Runs until shutdown.
async fn send_digests(
    store: Store,
    interval: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = digest_round(&store).await {
            tracing::warn!(error = ?e, "digest round failed");
        }
    }
}

async fn digest_round(store: &Store) -> crate::platform::error::ApiResult<()> {
    // A boundary every activity so far sorts below (ULIDs of this millisecond or older).
    let until = ulid::Ulid::from_parts(
        u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
            .unwrap_or_default(),
        u128::MAX,
    )
    .to_string();
    for user in storage::digest_subscribers(store)? {
        let since = storage::last_digest(store, &user)?;
        let counts = storage::digest_counts(store, &user, since.as_deref())?;
        let digest = (!counts.is_empty()).then(|| events::DigestDue {
            user_id: user.clone(),
            counts: counts
                .into_iter()
                .map(|(kind, n)| (kind.name(), n))
                .collect(),
        });
        storage::record_digest(store, &user, &until, digest.as_ref()).await?;
    }
    Ok(())
}

/// Activity older than this is not pushed: a rebuild rewrites every list entry, and those
/// are not news.
const PUSH_WINDOW_MS: u64 = 60_000;

/// Pushes each new list entry (a new notification, or someone joining a grouped one) to
/// its user, with the unread count, unless the user turned pushing that kind off.
async fn push_new_activity(store: Store, push: Push) {
    let mut entries = storage::watch_list(&store);
    while let Some(event) = entries.next().await {
        let sled::Event::Insert { key, .. } = event else {
            continue;
        };
        let Some((user, activity, id)) = storage::list_entry(&key) else {
            continue;
        };
        let fresh = ulid::Ulid::from_string(&activity).is_ok_and(|u| {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            (now as u64).saturating_sub(u.timestamp_ms()) < PUSH_WINDOW_MS
        });
        if !fresh {
            continue;
        }
        if let Err(e) = push_one(&store, &push, &user, &activity, &id) {
            tracing::warn!(error = %e, "notification not pushed");
        }
    }
}

/// Pushes one notification's new activity; the push event's id is the activity (a ULID,
/// like every push id, so a reconnecting device resumes after it).
fn push_one(
    store: &Store,
    push: &Push,
    user: &str,
    activity: &str,
    id: &str,
) -> crate::platform::error::ApiResult<()> {
    let Some(n) = storage::notification(store, user, id)? else {
        return Ok(());
    };
    if !storage::preferences(store, user)?.of(n.kind).push || !storage::shown(store, &n)? {
        return Ok(());
    }
    let unread = storage::unread(store, user)?;
    let read = storage::read(store, &n)?;
    let data = serde_json::json!({"notification": http::view(n, read), "unread_count": unread});
    push.send(
        &[user.to_string()],
        &PushEvent::new(activity, "notification", data),
    );
    Ok(())
}
