//! # groups
//!
//! Owns groups (public, private, secret), their members, roles, join requests, invitations
//! and bans; and pages, their admins and followers.
//!
//! Publishes: `GroupUpdated`, `GroupDeleted`, `MemberJoined`, `MemberLeft`, `PageUpdated`,
//! `PageAdminAdded`, `PageFollowed`, `PageUnfollowed` ([`events`]).
//! Consumes: `auth.AccountRegistered` (which user ids exist, for invitations and admins).

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
pub struct GroupsState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<GroupsState> for Arc<TokenVerifier> {
    fn from_ref(state: &GroupsState) -> Self {
        state.verifier.clone()
    }
}

pub fn start(platform: &Platform) -> anyhow::Result<Router> {
    let store = platform.open_store(events::CONTEXT)?;
    let handler_store = store.clone();
    let spec = ConsumerSpec {
        context: events::CONTEXT,
        events: vec![format!("auth.{}", AccountRegistered::TYPE)],
        handler: Arc::new(move |event| apply(&handler_store, event)),
    };
    platform.spawn_consumer(spec, &store);
    Ok(http::routes(GroupsState {
        store,
        verifier: platform.verifier.clone(),
    }))
}

pub fn apply(store: &Store, event: &Envelope) -> ApiResult<Applied> {
    match event.decode::<AccountRegistered>() {
        Some(Ok(account)) => Ok(if storage::record_account(store, &event.id, &account)? {
            Applied::Applied
        } else {
            Applied::Duplicate
        }),
        Some(Err(e)) => {
            tracing::error!(event_id = %event.id, error = %e, "undecodable AccountRegistered skipped");
            Ok(Applied::Ignored)
        }
        None => Ok(Applied::Ignored),
    }
}
