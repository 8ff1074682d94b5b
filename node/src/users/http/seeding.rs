//! `POST /api/v1/dev/friendships`: many friendships at once, for benchmarks on large
//! graphs. Only in `agora-node dev --bulk-seeding` (with auth's `POST /api/v1/dev/accounts`).
//! Each friendship is made as an accepted request makes it (the same records, one
//! `FriendshipCreated`), without the request: no privacy check, no notification.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use crate::platform::error::ApiResult;
use crate::platform::http::Json;

use super::super::UsersState;
use super::super::domain::parse_user_id;
use super::super::error::Error;
use super::super::storage;

/// The most pairs one request makes friends.
/// (A thousand pairs of ids is about 58 KB: within the default 64 KiB body limit.)
const MOST: usize = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFriendships {
    /// Pairs of user ids to make friends.
    pairs: Vec<(String, String)>,
}

#[derive(Serialize)]
pub struct Seeded {
    /// Pairs made friends now.
    created: usize,
    /// Pairs that were friends already.
    existing: usize,
}

pub(super) async fn seed_friendships(
    State(s): State<UsersState>,
    Json(req): Json<SeedFriendships>,
) -> ApiResult<impl IntoResponse> {
    if req.pairs.is_empty() || req.pairs.len() > MOST {
        return Err(Error::invalid("pairs", format!("1 to {MOST} pairs")).into());
    }
    let mut pairs = Vec::with_capacity(req.pairs.len());
    for (a, b) in &req.pairs {
        let (a, b) = (parse_user_id(a)?, parse_user_id(b)?);
        if a == b {
            return Err(Error::BefriendYourself.into());
        }
        pairs.push((a, b));
    }
    let mut created = 0;
    for batch in pairs.chunks(500) {
        created += storage::befriend_seeded(&s.store, batch).await?;
    }
    let existing = pairs.len() - created;
    Ok((StatusCode::CREATED, Json(Seeded { created, existing })))
}
