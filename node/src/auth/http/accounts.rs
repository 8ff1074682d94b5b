//! The account itself: password change, roles, and the public key that verifies tokens.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::Json;
use crate::platform::tokens::{Admin, AuthUser, RequireRole, Role};

use super::super::AuthState;
use super::super::domain::{self, Account};
use super::super::error::Error;
use super::super::storage;
use super::AccountView;
use super::sessions::client_ip;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "staple battery horse correct"}))]
pub struct PasswordChange {
    current_password: String,
    #[schema(min_length = 10, max_length = 128)]
    new_password: String,
}

/// Changes the password and ends every other session of the account.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 401, description = "wrong current password"), (status = 422, description = "weak new password"), (status = 429, description = "too many attempts")), security(("bearer" = [])))]
pub(super) async fn change_password(
    State(s): State<AuthState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(req): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    s.limits.attempt(user.id(), &client_ip(&headers))?;
    let account = own_account(&s, &user)?;
    domain::check_password(
        &req.new_password,
        "new_password",
        &account.username,
        &account.email,
    )?;
    s.require_password(&account, req.current_password, Error::WrongCurrentPassword)
        .await?;
    let hash = s.hasher.hash(req.new_password).await?;
    storage::update_account(&s.store, &account.id, |_, a| {
        a.password_hash = hash.clone();
        Ok(())
    })
    .await?;
    let revoked = storage::revoke_other_sessions(&s.store, &account.id, Some(&user.0.sid)).await?;
    s.sessions_ended(revoked.as_ref());
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn own_account(s: &AuthState, user: &AuthUser) -> ApiResult<Account> {
    storage::find_account(&s.store, user.id())?.ok_or(Error::AccountGone.into())
}

/// The public key that verifies access tokens, as a JSON Web Key Set.
#[utoipa::path(get, path = "/api/v1/auth/jwks.json", tag = "auth", responses((status = 200, description = "JWKS (RFC 7517)")))]
pub(super) async fn jwks(State(s): State<AuthState>) -> Json<serde_json::Value> {
    Json(s.verifier.jwks())
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = AccountView)), security(("bearer" = [])))]
pub(super) async fn me(State(s): State<AuthState>, user: AuthUser) -> ApiResult<Json<AccountView>> {
    Ok(Json(AccountView::from(&own_account(&s, &user)?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"roles": ["user", "moderator"]}))]
pub struct RolesRequest {
    roles: Vec<Role>,
}

/// Sets the roles of an account (admins only). `user` is always kept.
#[utoipa::path(put, path = "/api/v1/auth/accounts/{id}/roles", tag = "auth", request_body = RolesRequest,
    responses((status = 200, body = AccountView), (status = 403, description = "not an admin"), (status = 404), (status = 409, description = "the last admin cannot lose the role")), security(("bearer" = [])))]
pub(super) async fn set_roles(
    State(s): State<AuthState>,
    RequireRole(admin, ..): RequireRole<Admin>,
    Path(id): Path<String>,
    Json(req): Json<RolesRequest>,
) -> ApiResult<Json<AccountView>> {
    let roles = domain::roles_with_user(req.roles);
    // The platform never ends up without an admin: the last one keeps the role.
    let demoted = storage::find_account(&s.store, &id)?
        .is_some_and(|a| a.roles.contains(&Role::Admin) && !roles.contains(&Role::Admin));
    if demoted && storage::other_admins(&s.store, &id, 1)? == 0 {
        return Err(Error::LastAdmin.into());
    }
    let account = storage::set_roles(&s.store, admin.id(), &id, &roles).await?;
    Ok(Json(AccountView::from(&account)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "ada_l", "password": "correct horse battery staple"}))]
pub struct UsernameChange {
    /// 3 to 30 characters of a-z, 0-9 and `_`.
    #[schema(min_length = 3, max_length = 30, pattern = "^[A-Za-z0-9_]+$")]
    username: String,
    password: String,
}

/// Changes the username (once in 30 days). The old one stays reserved to the account for
/// 90 days, so nobody can take it at once to impersonate; everything that refers to the
/// account by id is unaffected, and mentions of the old name keep resolving to it.
#[utoipa::path(post, path = "/api/v1/auth/username", tag = "auth", request_body = UsernameChange,
    responses((status = 200, body = AccountView), (status = 401, description = "wrong password"), (status = 409, description = "username taken or reserved"), (status = 422, description = "not a valid username"), (status = 429, description = "changed within the last 30 days (`Retry-After`), or too many attempts")),
    security(("bearer" = [])))]
pub(super) async fn change_username(
    State(s): State<AuthState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(req): Json<UsernameChange>,
) -> ApiResult<Json<AccountView>> {
    let username = domain::validate_username(&req.username).map_err(Error::from)?;
    s.limits.attempt(user.id(), &client_ip(&headers))?;
    let account = own_account(&s, &user)?;
    s.require_password(&account, req.password, Error::WrongPassword)
        .await?;
    let account = storage::change_username(&s.store, &account.id, &username).await?;
    Ok(Json(AccountView::from(&account)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sign_in_alerts": true}))]
pub struct Settings {
    /// Mail the owner when the account is logged in to from a new device or network.
    sign_in_alerts: Option<bool>,
}

/// Changes the account's settings; answers the account.
#[utoipa::path(put, path = "/api/v1/auth/settings", tag = "auth", request_body = Settings,
    responses((status = 200, body = AccountView)), security(("bearer" = [])))]
pub(super) async fn update_settings(
    State(s): State<AuthState>,
    user: AuthUser,
    Json(req): Json<Settings>,
) -> ApiResult<Json<AccountView>> {
    let (account, ()) = storage::update_account(&s.store, user.id(), |_, a| {
        if let Some(on) = req.sign_in_alerts {
            a.sign_in_alerts = on;
        }
        Ok(())
    })
    .await?;
    Ok(Json(AccountView::from(&account)))
}
