//! `POST /api/v1/dev/accounts`: many verified accounts at once, for benchmarks on large
//! graphs. Only in `agora-node dev --bulk-seeding`; never routed by `serve` or the gateway.
//!
//! What it skips, and why that is only for generated accounts: the password is hashed
//! once (argon2id) for the whole batch instead of once per account, and there is no
//! verification mail (the accounts are verified at once, and their addresses are
//! `<username>@seed.invalid`, a domain that cannot receive mail). The rest is as for any
//! account: the same records, the same `AccountRegistered`/`AccountVerified` events, and a
//! real session (access and refresh token) for each.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::platform::error::{ApiResult, FieldError};
use crate::platform::http::Json;
use crate::platform::tokens::Role;

use super::super::AuthState;
use super::super::domain::{self, Account, now};
use super::super::error::Error;
use super::super::storage;
use super::sessions::{Tokens, start_session};

/// The most accounts one request makes.
const MOST: usize = 1_000;
/// Accounts written per transaction.
const BATCH: usize = 250;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRequest {
    /// The accounts are `<prefix>0`, `<prefix>1`, …: the prefix must make valid usernames.
    prefix: String,
    /// How many, 1 to 1,000; numbered from `first` (default 0).
    count: usize,
    #[serde(default)]
    first: usize,
    /// Every account's password (checked as any password is).
    password: String,
}

pub(super) async fn seed_accounts(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<SeedRequest>,
) -> ApiResult<impl IntoResponse> {
    if !(1..=MOST).contains(&req.count) {
        let why = format!("1 to {MOST}");
        return Err(Error::Invalid(vec![FieldError::new("count", why)]).into());
    }
    let Some(end) = req.first.checked_add(req.count) else {
        let why = "first + count is too large".to_string();
        return Err(Error::Invalid(vec![FieldError::new("first", why)]).into());
    };
    let last = format!("{}{}", req.prefix, end - 1);
    let username = domain::validate_username(&last).map_err(Error::from)?;
    let email = domain::validate_email(&format!("{username}@seed.invalid")).map_err(Error::from)?;
    domain::check_password(&req.password, "password", &username, &email)?;
    let hash = s.hasher.hash(req.password.clone()).await?;
    let accounts: Vec<Account> = (req.first..end)
        .map(|i| {
            let username = format!("{}{i}", req.prefix).to_lowercase();
            Account {
                id: crate::platform::new_id(),
                email: format!("{username}@seed.invalid"),
                username,
                password_hash: hash.clone(),
                roles: vec![Role::User],
                verified: true,
                created_at: now(),
                mfa: None,
                mfa_pending: None,
                invited_by: None,
                username_changed_at: None,
                sign_in_alerts: false,
            }
        })
        .collect();
    for batch in accounts.chunks(BATCH) {
        storage::register_verified(&s.store, batch).await?;
    }
    let mut sessions: Vec<Tokens> = Vec::with_capacity(accounts.len());
    for account in &accounts {
        sessions.push(start_session(&s, account, &headers).await?);
    }
    Ok((StatusCode::CREATED, Json(sessions)))
}
