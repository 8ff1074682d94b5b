//! # agora-node
//!
//! One binary for every bounded context of an Agora platform, the gateway in front of
//! them, and `dev`, which runs all of it in one process.
//!
//! # Layout
//! - [`platform`]: plumbing shared by every context (config, errors, storage, bus,
//!   tokens, telemetry); imports no context.
//! - [`auth`], [`users`], [`groups`], [`posts`], [`feed`], [`messages`], [`media`],
//!   [`search`], [`notifications`], [`moderation`], [`analytics`]: the bounded contexts, each with the same skeleton
//!   (`domain`, `error`, `storage`, `events`, `http`).
//! - [`gateway`]: the public edge under `/api/v1`.
//! - [`cli`]: the `serve`, `gateway`, `dev` and `rebuild` commands.
//!
//! [`bounded_context`] maps each entry of the one list of contexts
//! ([`platform::context::Context`]) onto its implementation: the only place that names
//! every context.

pub mod analytics;
pub mod auth;
pub mod cli;
pub mod feed;
pub mod gateway;
pub mod groups;
pub mod media;
pub mod messages;
pub mod moderation;
pub mod notifications;
pub mod platform;
pub mod posts;
pub mod search;
pub mod users;

use platform::context::{BoundedContext, Context};

/// The implementation of a built-in context.
pub fn bounded_context(context: Context) -> &'static dyn BoundedContext {
    match context {
        Context::Auth => &auth::Auth,
        Context::Users => &users::Users,
        Context::Groups => &groups::Groups,
        Context::Posts => &posts::Posts,
        Context::Feed => &feed::Feed,
        Context::Messages => &messages::Messages,
        Context::Media => &media::MediaContext,
        Context::Search => &search::Search,
        Context::Notifications => &notifications::Notifications,
        Context::Moderation => &moderation::Moderation,
        Context::Analytics => &analytics::Analytics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_context_is_implemented_under_its_own_name() {
        for c in Context::ALL {
            assert_eq!(bounded_context(c).name(), c.name());
        }
    }
}
