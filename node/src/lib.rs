//! # agora-node
//!
//! One binary for every bounded context of an Agora platform, the gateway in front of
//! them, and `dev`, which runs all of it in one process.
//!
//! # Layout
//! - [`platform`]: plumbing shared by every context (config, errors, storage, bus,
//!   tokens, telemetry); imports no context.
//! - [`auth`], [`users`], [`groups`], [`posts`], [`feed`]: the bounded contexts, each with the same skeleton
//!   (`domain`, `storage`, `events`, `http`).
//! - [`gateway`]: the public edge under `/api/v1`.
//! - [`cli`]: the `serve`, `gateway` and `dev` roles.

pub mod auth;
pub mod cli;
pub mod feed;
pub mod gateway;
pub mod groups;
pub mod platform;
pub mod posts;
pub mod users;
