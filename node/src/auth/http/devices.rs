//! Sessions and devices: where the caller is logged in, and ending those sessions.
//! Ending a session stops its refresh token at once, and its access tokens everywhere
//! within about a second (`SessionsRevoked`, followed by every process).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::error::{ApiError, ApiResult};
use crate::platform::http::{Json, path_id, rfc3339};
use crate::platform::tokens::AuthUser;

use super::super::AuthState;
use super::super::storage;

/// A session as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    id: String,
    created_at: String,
    /// The last login or token refresh.
    last_used_at: String,
    /// The device's `User-Agent` at login.
    user_agent: String,
    /// The network it logged in from, approximate (`203.0.113.0/24`).
    ip: String,
    /// The session of the token making this request.
    current: bool,
}

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", responses((status = 200, body = [SessionView])), security(("bearer" = [])))]
pub(super) async fn list_sessions(
    State(s): State<AuthState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<SessionView>>> {
    let current = user.0.sid.clone();
    let sessions = storage::sessions_of(&s.store, user.id())?
        .into_iter()
        .map(|session| SessionView {
            current: session.id == current,
            id: session.id,
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at.max(session.created_at)),
            user_agent: session.user_agent,
            ip: session.ip,
        })
        .collect();
    Ok(Json(sessions))
}

/// Ends one of the caller's sessions (logs that device out).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub(super) async fn end_session(
    State(s): State<AuthState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "session")?;
    let Some(revoked) = storage::revoke_session(&s.store, user.id(), &id).await? else {
        return Err(ApiError::NotFound("no such session".into()));
    };
    s.sessions_ended(Some(&revoked));
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller but the current one ("log out everywhere else").
#[utoipa::path(post, path = "/api/v1/auth/sessions/revoke-others", tag = "auth", responses((status = 204)), security(("bearer" = [])))]
pub(super) async fn end_other_sessions(
    State(s): State<AuthState>,
    user: AuthUser,
) -> ApiResult<StatusCode> {
    let revoked = storage::revoke_other_sessions(&s.store, user.id(), Some(&user.0.sid)).await?;
    s.sessions_ended(revoked.as_ref());
    Ok(StatusCode::NO_CONTENT)
}
