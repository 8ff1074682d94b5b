//! # users
//!
//! Owns profiles, privacy settings, friend requests, friendships and blocks.
//!
//! Publishes: `ProfileUpdated`, `FriendshipCreated`, `FriendshipEnded`, `UserBlocked`,
//! `UserUnblocked` ([`events`]).
//! Consumes: `auth.AccountRegistered` (creates the profile; a profile is never created
//! by a call).

pub mod domain;
pub mod events;
pub mod http;
pub mod storage;

use axum::Router;

use crate::auth::events::AccountRegistered;
use crate::platform::Platform;
use crate::platform::bus::Applied;
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::Store;

/// Handlers reach the context's store and the token verifier.
pub type UsersState = crate::platform::ContextState;

/// Opens the context's store, starts its consumer and returns its routes.
pub fn start(platform: &Platform) -> anyhow::Result<Router> {
    let state = platform.start_context(
        events::CONTEXT,
        vec![format!("auth.{}", AccountRegistered::TYPE)],
        apply,
    )?;
    Ok(http::routes(state))
}

/// Applies one consumed event.
pub fn apply(store: &Store, event: &Envelope) -> ApiResult<Applied> {
    let Some(account) = event.decode_logged::<AccountRegistered>() else {
        return Ok(Applied::Ignored);
    };
    let applied = storage::create_profile(
        store,
        &event.id,
        event.occurred_at.unix_timestamp(),
        &account,
    )?;
    Ok(Applied::once(applied))
}
