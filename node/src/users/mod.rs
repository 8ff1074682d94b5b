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

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;

use crate::auth::events::AccountRegistered;
use crate::platform::Platform;
use crate::platform::bus::{Applied, ConsumerSpec};
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::Store;
use crate::platform::tokens::TokenVerifier;

#[derive(Clone)]
pub struct UsersState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<UsersState> for Arc<TokenVerifier> {
    fn from_ref(state: &UsersState) -> Self {
        state.verifier.clone()
    }
}

/// Opens the context's store, starts its consumer and returns its routes.
pub fn start(platform: &Platform) -> anyhow::Result<Router> {
    let store = platform.open_store(events::CONTEXT)?;
    let handler_store = store.clone();
    let spec = ConsumerSpec {
        context: events::CONTEXT,
        events: vec![format!("auth.{}", AccountRegistered::TYPE)],
        handler: Arc::new(move |event| apply(&handler_store, event)),
    };
    platform.spawn_consumer(spec, &store);
    Ok(http::routes(UsersState {
        store,
        verifier: platform.verifier.clone(),
    }))
}

/// Applies one consumed event.
pub fn apply(store: &Store, event: &Envelope) -> ApiResult<Applied> {
    let Some(decoded) = event.decode::<AccountRegistered>() else {
        tracing::warn!(kind = %event.kind, version = event.version, "event not handled by users");
        return Ok(Applied::Ignored);
    };
    let account = match decoded {
        Ok(account) => account,
        Err(e) => {
            // A poison message must not block the stream: log it and move on.
            tracing::error!(event_id = %event.id, error = %e, "undecodable AccountRegistered skipped");
            return Ok(Applied::Ignored);
        }
    };
    let applied = storage::create_profile(
        store,
        &event.id,
        event.occurred_at.unix_timestamp(),
        &account,
    )?;
    Ok(if applied {
        Applied::Applied
    } else {
        Applied::Duplicate
    })
}
