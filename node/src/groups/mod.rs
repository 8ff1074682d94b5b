//! # groups
//!
//! Owns groups (public, private, secret), their members, roles, join requests, invitations
//! and bans; and pages, their admins and followers.
//!
//! Publishes: `GroupUpdated`, `GroupDeleted`, `GroupInvitationSent`, `JoinRequested`, `MemberJoined`, `MemberLeft`, `PageUpdated`,
//! `PageAdminAdded`, `PageFollowed`, `PageUnfollowed` ([`events`]).
//! Consumes: `auth.AccountRegistered` (which user ids exist, for invitations and admins).

pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod storage;

use axum::Router;

use crate::auth::events::AccountRegistered;
use crate::platform::Platform;
use crate::platform::context::{BoundedContext, Context, Subscriptions};
use crate::platform::storage::Store;

/// Handlers reach the context's store and the token verifier.
pub type GroupsState = crate::platform::ContextState;

/// The groups context (groups and pages).
pub struct Groups;

impl BoundedContext for Groups {
    fn name(&self) -> &'static str {
        Context::Groups.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["groups", "pages"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::GroupsApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
            .on_erasure::<crate::auth::events::AccountErased>(storage::erasure)
            .on::<AccountRegistered>(storage::record_account)
    }

    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        Ok(http::routes(platform.state(store)))
    }
}
