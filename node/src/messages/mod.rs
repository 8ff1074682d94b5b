//! # messages
//!
//! Owns conversations (direct: two people, one per pair; group: up to 250, with a title
//! and admins), their messages (text, replies, media ids, edits and deletes for everyone
//! within a window, reactions, an idempotency key per send) and each member's read state
//! (last read, unread counts, read receipts that a member may hide).
//! Who may message whom follows the recipient's `messages` privacy and blocks either way.
//!
//! Publishes: `ConversationCreated`, `MembersAdded`, `MemberLeft`, `MessageSent`,
//! `MessageEdited`, `MessageDeleted`, `ConversationRead` ([`events`]; no message text).
//! Consumes: `auth.AccountRegistered`, `users.ProfileUpdated|FriendshipCreated|FriendshipEnded|UserBlocked|UserUnblocked`,
//! `moderation.ContentRemoved|ContentRestored`, `media.MediaUploaded|MediaDescribed|MediaDeleted`,
//! kept as projections (accounts, message privacy, friendships, blocks, messages a
//! moderator removed, uploads: a message's media are checked and drawn without a call).

pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod storage;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;

use crate::auth::events::AccountRegistered;
use crate::media::events as media;
use crate::moderation::events as moderation;
use crate::platform::Platform;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::media_urls::MediaUrls;
use crate::platform::push::Push;
use crate::platform::storage::Store;
use crate::platform::tokens::TokenVerifier;
use crate::users::events as users;

/// Handlers reach the context's store, the token verifier and the push channel.
#[derive(Clone)]
pub struct MessagesState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
    pub push: Push,
    /// Signs the URLs of attached media for the members who see them.
    pub urls: Arc<MediaUrls>,
}

impl FromRef<MessagesState> for Arc<TokenVerifier> {
    fn from_ref(state: &MessagesState) -> Self {
        state.verifier.clone()
    }
}

/// The messages context.
pub struct Messages;

impl BoundedContext for Messages {
    fn name(&self) -> &'static str {
        Context::Messages.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["conversations"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::MessagesApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
            .on_erasure::<crate::auth::events::AccountErased>(storage::erasure)
            .on::<AccountRegistered>(storage::record_account)
            .on::<users::ProfileUpdated>(storage::set_policy)
            .on::<users::FriendshipCreated>(storage::befriend)
            .on::<users::FriendshipEnded>(storage::unfriend)
            .on::<users::UserBlocked>(storage::block)
            .on::<users::UserUnblocked>(storage::unblock)
            .on::<moderation::ContentRemoved>(storage::content_removed)
            .on::<moderation::ContentRestored>(storage::content_restored)
            .on::<media::MediaUploaded>(storage::media::media_uploaded)
            .on::<media::MediaDescribed>(storage::media::media_described)
            .on::<media::MediaDeleted>(storage::media::media_deleted)
    }

    fn export(&self) -> crate::platform::export::Exporter {
        storage::export
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        Ok(http::routes(MessagesState {
            store,
            verifier: platform.verifier.clone(),
            push: platform.push(),
            urls: platform.media_urls()?,
        }))
    }
}
