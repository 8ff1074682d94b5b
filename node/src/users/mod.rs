//! # users
//!
//! Owns profiles, privacy settings, friend requests, friendships and blocks.
//!
//! Publishes: `FriendRequestSent`, `ProfileUpdated`, `FriendshipCreated`, `FriendshipEnded`, `UserBlocked`,
//! `UserUnblocked` ([`events`]).
//! Consumes: `auth.UsernameChanged` (renames the profile; the old name keeps finding it
//! until another account takes it), `auth.AccountRegistered` (creates the profile; a profile is never created
//! by a call).

pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod storage;

use axum::Router;

use crate::auth::events::{AccountRegistered, UsernameChanged};
use crate::platform::Platform;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::storage::Store;

/// Handlers reach the context's store and the token verifier.
pub type UsersState = crate::platform::ContextState;

/// The users context. It has no projections: the profiles it creates from registrations
/// are its own records from then on.
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
            .on_erasure::<crate::auth::events::AccountErased>(crate::platform::erasure::remove_all)
            .on::<AccountRegistered>(storage::create_profile)
            .on::<UsernameChanged>(storage::rename)
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        Ok(http::routes(platform.state(store)))
    }
}
