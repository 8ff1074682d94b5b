//! Changing the account's address: asked with the password (and the second factor where
//! enrolled), confirmed by a token mailed to the new address; the old address is told and
//! can report the change. Until confirmed, the old address stays in force.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::platform::error::{ApiResult, FieldError};
use crate::platform::http::Json;
use crate::platform::tokens::AuthUser;

use super::super::AuthState;
use super::super::domain::{self, Account, EmailChange, Factor, now, random_token, token_hash};
use super::super::error::Error;
use super::super::storage;
use super::AccountView;
use super::accounts::own_account;
use super::sessions::client_ip;

/// The new address has a day to confirm.
const CONFIRM_TTL_SECS: i64 = 86_400;
/// The old address can report the change for a week.
const REPORT_TTL_SECS: i64 = 7 * 86_400;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"new_email": "ada@new.example.org", "password": "correct horse battery staple"}))]
pub struct EmailChangeRequest {
    new_email: String,
    password: String,
    /// The TOTP code, where a second factor is enrolled (or `recovery_code`).
    code: Option<String>,
    recovery_code: Option<String>,
}

/// Starts changing the address: mails a confirmation token to the new address and tells
/// the old one (with a token to report it). 202: nothing changes until the new address
/// confirms. An address another account holds is answered alike (it cannot be confirmed).
#[utoipa::path(post, path = "/api/v1/auth/email", tag = "auth", request_body = EmailChangeRequest,
    responses((status = 202), (status = 401, description = "wrong password or code"), (status = 422, description = "not an address, the same address, or the second factor missing"), (status = 429, description = "too many attempts")),
    security(("bearer" = [])))]
pub(super) async fn change_email(
    State(s): State<AuthState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(req): Json<EmailChangeRequest>,
) -> ApiResult<StatusCode> {
    let new_email = domain::validate_email(&req.new_email)
        .map_err(|e| Error::from(FieldError::new("new_email", e.message)))?;
    s.limits.attempt(user.id(), &client_ip(&headers))?;
    let account = own_account(&s, &user)?;
    if new_email == account.email {
        return Err(Error::from(FieldError::new(
            "new_email",
            "is already the account's address",
        ))
        .into());
    }
    let factor = match (&account.mfa, req.code, req.recovery_code) {
        (None, ..) => None,
        (Some(_), code, recovery) => Some(Factor::from_request(code, recovery)?),
    };
    s.require_password(&account, req.password, Error::WrongPassword)
        .await?;
    if let Some(factor) = factor {
        let platform = s.platform.clone();
        storage::update_account(&s.store, &account.id, |_, a| {
            domain::use_second_factor(a, &factor, &platform)
                .or_else(crate::platform::storage::abort)
        })
        .await?;
    }
    let (confirm, report) = (random_token(), random_token());
    let change = EmailChange {
        account_id: account.id.clone(),
        old_email: account.email.clone(),
        new_email: new_email.clone(),
        expires_at: now() + CONFIRM_TTL_SECS,
        confirm_hash: token_hash(&confirm),
    };
    storage::start_email_change(
        &s.store,
        &change,
        &token_hash(&report),
        now() + REPORT_TTL_SECS,
    )
    .await?;
    if storage::address_holder(&s.store, &new_email)?.is_none() && s.limits.may_mail(&new_email) {
        send_confirmation(&s, &account, &new_email, &confirm);
    }
    send_notice(&s, &account, &new_email, &report);
    Ok(StatusCode::ACCEPTED)
}

fn send_confirmation(s: &AuthState, account: &Account, to: &str, token: &str) {
    let body = format!(
        "Hello {username},\n\n\
         to make this the address of your account \"{username}\" on\n\
         {platform}, confirm with this token:\n\n\
         {token}\n\n\
         (POST /api/v1/auth/email/confirm with the token; it expires in\n\
         24 hours. Until then your old address stays in force.)\n",
        username = account.username,
        platform = s.platform,
    );
    s.mailer.send(to, "Confirm your new Agora address", body);
}

fn send_notice(s: &AuthState, account: &Account, new_email: &str, token: &str) {
    let body = format!(
        "Hello {username},\n\n\
         someone asked to change the address of your account\n\
         \"{username}\" on {platform} to {masked}.\n\n\
         If it was you, nothing more is needed here. If it was not,\n\
         report it with this token:\n\n\
         {token}\n\n\
         (POST /api/v1/auth/email/report with the token, within 7 days:\n\
         the change is cancelled or undone, every device is logged out,\n\
         and you should then reset your password.)\n",
        username = account.username,
        platform = s.platform,
        masked = domain::masked(new_email),
    );
    s.mailer
        .send(&account.email, "Your Agora address is being changed", body);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "the token from the confirmation mail"}))]
pub struct EmailToken {
    token: String,
}

/// Confirms a new address with the token mailed to it: from now on it is the account's.
#[utoipa::path(post, path = "/api/v1/auth/email/confirm", tag = "auth", request_body = EmailToken,
    responses((status = 200, body = AccountView), (status = 400, description = "unknown, used or expired token"), (status = 409, description = "another account holds the address"), (status = 429, description = "too many requests from this address")))]
pub(super) async fn confirm_email(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<EmailToken>,
) -> ApiResult<Json<AccountView>> {
    s.limits.source(&client_ip(&headers))?;
    let account = storage::confirm_email_change(&s.store, &token_hash(req.token.trim())).await?;
    tracing::info!(account_id = %account.id, "address changed");
    Ok(Json(AccountView::from(&account)))
}

/// Reports a change of address the owner did not ask for (token from the mail to the old
/// address): cancels it, or restores the old address; every session ends.
#[utoipa::path(post, path = "/api/v1/auth/email/report", tag = "auth", request_body = EmailToken,
    responses((status = 204), (status = 400, description = "unknown, used or expired token"), (status = 409, description = "the old address was taken meanwhile"), (status = 429, description = "too many requests from this address")))]
pub(super) async fn report_email_change(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<EmailToken>,
) -> ApiResult<StatusCode> {
    s.limits.source(&client_ip(&headers))?;
    let (account, revoked) =
        storage::report_email_change(&s.store, &token_hash(req.token.trim())).await?;
    s.sessions_ended(revoked.as_ref());
    tracing::warn!(account_id = %account.id, "address change reported by the old address");
    Ok(StatusCode::NO_CONTENT)
}
