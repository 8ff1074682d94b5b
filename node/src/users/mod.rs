//! # users
//!
//! Owns profiles, privacy settings, friend requests, friendships and blocks; and the
//! exports people ask for (assembled in [`archive`] from every context's part).
//!
//! Publishes: `FriendRequestSent`, `ProfileUpdated`, `FriendshipCreated`, `FriendshipEnded`, `UserBlocked`,
//! `UserUnblocked`, `ExportRequested`, `ExportReady` ([`events`]).
//! Consumes: `auth.UsernameChanged` (renames the profile; the old name keeps finding it
//! until another account takes it), `auth.AccountRegistered` (creates the profile; a profile is never created
//! by a call), `media.MediaUploaded|MediaDescribed|MediaDeleted` (a projection: avatars and
//! covers are checked and drawn without a call).

pub mod archive;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod storage;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;

use crate::auth::events::{AccountRegistered, UsernameChanged};
use crate::media::events as media;
use crate::platform::Platform;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::media_urls::MediaUrls;
use crate::platform::storage::Store;
use crate::platform::tokens::TokenVerifier;

/// Handlers reach the context's store, the token verifier and the media URL key.
#[derive(Clone)]
pub struct UsersState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
    /// Signs the URLs of avatars and covers.
    pub urls: Arc<MediaUrls>,
}

impl FromRef<UsersState> for Arc<TokenVerifier> {
    fn from_ref(state: &UsersState) -> Self {
        state.verifier.clone()
    }
}

/// The users context. Its one projection is of media's uploads (to check and draw avatars
/// and covers): the profiles it creates from registrations are its own records from then on.
pub struct Users;

impl BoundedContext for Users {
    fn name(&self) -> &'static str {
        Context::Users.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["users", "friend-requests"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::UsersApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
            .on_read::<crate::auth::events::AccountErased, _>(
                crate::platform::context::erased_records,
                storage::exports::account_erased,
            )
            .on::<AccountRegistered>(storage::create_profile)
            .on::<UsernameChanged>(storage::rename)
            .on::<media::MediaUploaded>(storage::media::media_uploaded)
            .on::<media::MediaDescribed>(storage::media::media_described)
            .on::<media::MediaDeleted>(storage::media::media_deleted)
    }

    fn projections(&self) -> &'static [&'static str] {
        &[storage::media::PROJECTION]
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        let assembler = std::sync::Arc::new(tokio::sync::Notify::new());
        let (s, bus, dir, woken) = (
            store.clone(),
            platform.bus.clone(),
            platform.data_dir.join("users-exports"),
            assembler.clone(),
        );
        platform.while_writer(&store, move |stop| {
            archive::assemble_exports(s.clone(), bus.clone(), dir.clone(), woken.clone(), stop)
        });
        let exports = http::exports::ExportsState {
            store: store.clone(),
            verifier: platform.verifier.clone(),
            bus: platform.bus.clone(),
            assembler,
        };
        let state = UsersState {
            store,
            verifier: platform.verifier.clone(),
            urls: platform.media_urls()?,
        };
        let mut routes = http::routes(state.clone()).merge(http::export_routes(exports));
        if platform.bulk_seeding {
            routes = routes.merge(http::seeding_routes(state));
        }
        Ok(routes)
    }
}
