//! Invitations (as Mastodon's invite links): where registration is `invite`, registering
//! needs one. Their creators (every account, or only admins, by `AGORA_INVITATIONS_BY`)
//! set an expiry and a number of uses; admins see and revoke everyone's.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::platform::config::{InvitationsBy, Registration};
use crate::platform::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::{Json, Page, PageParams, Query, path_id, rfc3339};
use crate::platform::tokens::{AuthUser, Role};

use super::super::AuthState;
use super::super::domain::{
    INVITATION_MAX_DAYS, INVITATION_MAX_USES, Invitation, now, random_token, token_hash,
};
use super::super::error::Error;
use super::super::storage;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"max_uses": 5, "expires_in_days": 7}))]
pub struct NewInvitation {
    /// How many accounts may register with it: 1 to 100 (default 1).
    max_uses: Option<u32>,
    /// Days until it expires: 1 to 30 (default 7).
    expires_in_days: Option<u32>,
}

/// An invitation as its creator (or an admin) sees it.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    id: String,
    /// The code to register with; only in the answer that created it (stored hashed).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    created_by: String,
    created_at: String,
    expires_at: String,
    max_uses: u32,
    /// The accounts that registered with it (who invited whom).
    used_by: Vec<String>,
    revoked: bool,
}

impl InvitationView {
    fn of(invitation: Invitation, code: Option<String>) -> Self {
        InvitationView {
            id: invitation.id,
            code,
            created_by: invitation.created_by,
            created_at: rfc3339(invitation.created_at),
            expires_at: rfc3339(invitation.expires_at),
            max_uses: invitation.max_uses,
            used_by: invitation.used_by,
            revoked: invitation.revoked,
        }
    }
}

fn may_invite(s: &AuthState, user: &AuthUser) -> Result<(), Error> {
    if s.settings.registration == Registration::Closed {
        return Err(Error::RegistrationClosed);
    }
    if s.settings.invitations_by == InvitationsBy::Admins && !user.0.has_role(Role::Admin) {
        return Err(Error::InvitationsByAdmins);
    }
    Ok(())
}

fn bounded(value: Option<u32>, default: u32, max: u32, field: &str) -> Result<u32, Error> {
    match value.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(FieldError::new(field, format!("must be between 1 and {max}")).into()),
    }
}

/// Creates an invitation; its code is in this answer only.
#[utoipa::path(post, path = "/api/v1/auth/invitations", tag = "auth", request_body = NewInvitation,
    responses((status = 201, body = InvitationView), (status = 403, description = "registration closed, or invitations are for admins"), (status = 422, description = "uses or days out of bounds")),
    security(("bearer" = [])))]
pub(super) async fn create_invitation(
    State(s): State<AuthState>,
    user: AuthUser,
    Json(req): Json<NewInvitation>,
) -> ApiResult<impl IntoResponse> {
    may_invite(&s, &user)?;
    let max_uses = bounded(req.max_uses, 1, INVITATION_MAX_USES, "max_uses")?;
    let days = bounded(
        req.expires_in_days,
        7,
        INVITATION_MAX_DAYS,
        "expires_in_days",
    )?;
    let invitation = Invitation {
        id: crate::platform::new_id(),
        created_by: user.id().to_string(),
        created_at: now(),
        expires_at: now() + i64::from(days) * 86_400,
        max_uses,
        used_by: Vec::new(),
        revoked: false,
    };
    let code = random_token();
    storage::create_invitation(&s.store, &invitation, &token_hash(&code)).await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationView::of(invitation, Some(code))),
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InvitationQuery {
    /// Everyone's invitations (admins only); otherwise the caller's own.
    #[serde(default)]
    all: bool,
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$")]
    cursor: Option<String>,
}

/// The caller's invitations, newest first (admins: everyone's with `all=true`).
#[utoipa::path(get, path = "/api/v1/auth/invitations", tag = "auth", params(InvitationQuery),
    responses((status = 200, body = Page<InvitationView>), (status = 403, description = "`all` without the admin role")),
    security(("bearer" = [])))]
pub(super) async fn list_invitations(
    State(s): State<AuthState>,
    user: AuthUser,
    Query(q): Query<InvitationQuery>,
) -> ApiResult<Json<Page<InvitationView>>> {
    if q.all && !user.0.has_role(Role::Admin) {
        return Err(ApiError::Forbidden(
            "listing every invitation needs the admin role".into(),
        ));
    }
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let cursor = page.cursor_id()?;
    let by = (!q.all).then(|| user.id());
    let rows = storage::invitations(&s.store, by, cursor.as_deref(), limit + 1)?;
    let page = Page::from_rows(
        rows,
        limit,
        |i| i.id.clone(),
        |i| Ok(Some(InvitationView::of(i, None))),
    )?;
    Ok(Json(page))
}

/// Revokes an invitation: its creator or an admin. Accounts made with it stay.
#[utoipa::path(delete, path = "/api/v1/auth/invitations/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "no such invitation of the caller's")),
    security(("bearer" = [])))]
pub(super) async fn revoke_invitation(
    State(s): State<AuthState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "invitation")?;
    let mine = storage::find_invitation(&s.store, &id)?
        .is_some_and(|i| i.created_by == user.id() || user.0.has_role(Role::Admin));
    if !mine {
        return Err(Error::InvitationNotFound.into());
    }
    storage::revoke_invitation(&s.store, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
