//! Getting back in after a forgotten password: a single-use token by mail, then a new
//! password that ends every session.
//!
//! The request answers 202 at once, for any input that is well formed: looking the account
//! up, storing the token and mailing happen after the answer, so neither the status nor
//! the time taken tells whether the account exists.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::platform::error::{ApiResult, FieldError};
use crate::platform::http::Json;

use super::super::AuthState;
use super::super::domain::{self, Account, OneTimeToken, now, random_token, token_hash};
use super::super::error::Error;
use super::super::storage::{self, Purpose};
use super::sessions::client_ip;

/// Password-reset tokens live an hour.
const RESET_TTL_SECS: i64 = 3_600;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"login": "ada"}))]
pub struct ResetRequest {
    /// The username or the e-mail address of the account.
    login: String,
}

/// Mails a password-reset token to the account's address. Always 202, at once: it does
/// not reveal whether the account exists. At most five mails an hour reach one address.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202), (status = 422, description = "`login` empty or too long"), (status = 429, description = "too many requests from this address")))]
pub(super) async fn request_password_reset(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<ResetRequest>,
) -> ApiResult<StatusCode> {
    let login = req.login.trim().to_lowercase();
    if login.is_empty() || login.chars().count() > 254 {
        return Err(Error::from(FieldError::new("login", "give a username or an e-mail")).into());
    }
    s.limits.source(&client_ip(&headers))?;
    tokio::spawn(async move {
        if let Err(e) = mail_reset_token(&s, &login).await {
            tracing::error!(error = ?e, "password reset not sent");
        }
    });
    Ok(StatusCode::ACCEPTED)
}

/// Only verified accounts get a reset: an unverified one proves nobody owns the address.
async fn mail_reset_token(s: &AuthState, login: &str) -> ApiResult<()> {
    let Some(account) = storage::find_by_login(&s.store, login)?.filter(|a| a.verified) else {
        return Ok(());
    };
    if !s.limits.may_mail(&account.email) {
        tracing::info!(account_id = %account.id, "password reset mail throttled");
        return Ok(());
    }
    let token = random_token();
    let record = OneTimeToken {
        account_id: account.id.clone(),
        expires_at: now() + RESET_TTL_SECS,
    };
    storage::put_token(
        &s.store,
        Purpose::PasswordReset,
        &token_hash(&token),
        &record,
    )
    .await?;
    send_reset(s, &account, &token);
    Ok(())
}

fn send_reset(s: &AuthState, account: &Account, token: &str) {
    let body = format!(
        "Hello {username},\n\n\
         someone (hopefully you) asked to reset the password of the\n\
         account \"{username}\" on {platform}. To choose a new one, use\n\
         this token:\n\n\
         {token}\n\n\
         (POST /api/v1/auth/password/reset/confirm with the token and\n\
         the new password; it works once and expires in one hour. Every\n\
         device logged in to the account is logged out.)\n\n\
         If it was not you, ignore this mail: your password stays as\n\
         it is.\n",
        username = account.username,
        platform = s.platform,
    );
    s.mailer
        .send(&account.email, "Reset your Agora password", body);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "the token from the reset mail", "new_password": "staple battery horse correct"}))]
pub struct ResetConfirmation {
    /// The token from the mail.
    token: String,
    /// The new password: same rules as at registration.
    #[schema(min_length = 10, max_length = 128)]
    new_password: String,
}

/// Sets a new password with a reset token (once); every session of the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password/reset/confirm", tag = "auth", request_body = ResetConfirmation,
    responses((status = 204), (status = 400, description = "unknown, used or expired token"), (status = 422, description = "weak new password"), (status = 429, description = "too many requests from this address")))]
pub(super) async fn confirm_password_reset(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<ResetConfirmation>,
) -> ApiResult<StatusCode> {
    s.limits.source(&client_ip(&headers))?;
    let hash = token_hash(req.token.trim());
    let token =
        storage::peek_token(&s.store, Purpose::PasswordReset, &hash)?.ok_or(Error::UnknownToken)?;
    let account = storage::find_account(&s.store, &token.account_id)?.ok_or(Error::UnknownToken)?;
    domain::check_password(
        &req.new_password,
        "new_password",
        &account.username,
        &account.email,
    )?;
    let password_hash = s.hasher.hash(req.new_password).await?;
    let revoked = storage::reset_password(&s.store, &hash, &account.id, &password_hash).await?;
    s.sessions_ended(revoked.as_ref());
    tracing::info!(account_id = %account.id, "password reset");
    Ok(StatusCode::NO_CONTENT)
}
