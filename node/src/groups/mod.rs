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

use axum::Router;

use crate::auth::events::AccountRegistered;
use crate::platform::Platform;
use crate::platform::bus::Applied;
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::Store;

/// Handlers reach the context's store and the token verifier.
pub type GroupsState = crate::platform::ContextState;

pub fn start(platform: &Platform) -> anyhow::Result<Router> {
    let state = platform.start_context(
        events::CONTEXT,
        vec![format!("auth.{}", AccountRegistered::TYPE)],
        apply,
    )?;
    Ok(http::routes(state))
}

pub fn apply(store: &Store, event: &Envelope) -> ApiResult<Applied> {
    let Some(account) = event.decode_logged::<AccountRegistered>() else {
        return Ok(Applied::Ignored);
    };
    Ok(Applied::once(storage::record_account(
        store, &event.id, &account,
    )?))
}
