//! `DELETE /users/me`: the owner asks for the account's erasure.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, rfc3339};
use crate::platform::storage::abort;
use crate::platform::tokens::{AuthUser, Role};

use super::super::AuthState;
use super::super::domain::{self, Deletion, Factor, now};
use super::super::error::Error;
use super::super::storage;
use super::accounts::own_account;
use super::sessions::client_ip;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeleteAccountRequest)]
#[schema(example = json!({"password": "correct horse battery staple", "code": "123456"}))]
pub struct DeleteAccount {
    password: String,
    /// With MFA on: a current TOTP code, or `recovery_code`.
    code: Option<String>,
    recovery_code: Option<String>,
}

/// When the account will be erased.
#[derive(Serialize, ToSchema)]
pub struct DeletionScheduled {
    /// Logging in before then cancels the deletion.
    erase_at: String,
}

/// Deletes the caller's account: every session ends now, and when the grace period
/// (`AGORA_ERASURE_GRACE_HOURS`, 30 days by default) has passed, everything the platform
/// holds about the person is erased in every context. Logging in before then cancels it.
/// Needs the password and, with MFA on, a second factor.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "privacy", request_body = DeleteAccount,
    responses((status = 202, body = DeletionScheduled), (status = 401, description = "wrong password or code"), (status = 409, description = "the platform's last admin"), (status = 429, description = "too many attempts")),
    security(("bearer" = [])))]
pub(super) async fn delete_account(
    State(s): State<AuthState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(req): Json<DeleteAccount>,
) -> ApiResult<(StatusCode, Json<DeletionScheduled>)> {
    s.limits.attempt(user.id(), &client_ip(&headers))?;
    let account = own_account(&s, &user)?;
    let factor = match account.mfa {
        Some(_) => Some(Factor::from_request(req.code, req.recovery_code)?),
        None => None,
    };
    s.require_password(&account, req.password, Error::WrongPassword)
        .await?;
    if account.roles.contains(&Role::Admin) && storage::other_admins(&s.store, &account.id, 1)? == 0
    {
        return Err(Error::LastAdmin.into());
    }
    if let Some(factor) = factor {
        let platform = s.platform.clone();
        storage::update_account(&s.store, &account.id, |_, a| {
            domain::use_second_factor(a, &factor, &platform).or_else(abort)
        })
        .await?;
    }
    let deletion = Deletion::new(now(), s.settings.erasure_grace_hours);
    let revoked = storage::schedule_deletion(&s.store, &account.id, &deletion).await?;
    s.sessions_ended(revoked.as_ref());
    s.erasures.notify_one();
    let erase_at = rfc3339(deletion.erase_at);
    s.mailer.send(
        &account.email,
        "Your account will be deleted",
        format!(
            "Hello {},\n\nyour account on {} will be erased on {erase_at}, with everything \
             the platform holds about you.\nLog in before then to keep it.\n",
            account.username, s.platform
        ),
    );
    Ok((StatusCode::ACCEPTED, Json(DeletionScheduled { erase_at })))
}
