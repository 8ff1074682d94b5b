//! Registration and confirming the e-mail address.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::platform::config::Registration;
use crate::platform::error::{ApiResult, FieldError};
use crate::platform::http::Json;
use crate::platform::tokens::Role;

use super::super::AuthState;
use super::super::domain::{self, Account, OneTimeToken, now, random_token, token_hash};
use super::super::error::Error;
use super::super::storage::{self, Purpose};
use super::AccountView;
use super::sessions::client_ip;

/// Verification tokens live a day.
const VERIFY_TTL_SECS: i64 = 86_400;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3 to 30 characters of a-z, 0-9 and `_`; stored lower-case.
    username: String,
    email: String,
    /// 10 to 128 characters, and not easy to guess.
    password: String,
}

/// Creates an account and mails its verification token. The profile follows by event.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AccountView), (status = 409, description = "username or e-mail taken"), (status = 422, description = "invalid field or weak password")))]
pub(super) async fn register(
    State(s): State<AuthState>,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    if s.settings.registration == Registration::Closed {
        return Err(Error::RegistrationClosed.into());
    }
    let fields: Vec<FieldError> = [
        domain::validate_username(&req.username).err(),
        domain::validate_email(&req.email).err(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !fields.is_empty() {
        return Err(Error::Invalid(fields).into());
    }
    let username = domain::validate_username(&req.username).map_err(Error::from)?;
    let email = domain::validate_email(&req.email).map_err(Error::from)?;
    domain::check_password(&req.password, "password", &username, &email)?;
    storage::check_free(&s.store, &username, &email)?;
    let mut roles = vec![Role::User];
    if s.settings
        .admin_emails
        .iter()
        .any(|a| a.trim().eq_ignore_ascii_case(&email))
    {
        roles.push(Role::Admin);
    }
    let account = Account {
        id: crate::platform::new_id(),
        username,
        email,
        password_hash: s.hasher.hash(req.password).await?,
        roles,
        verified: false,
        created_at: now(),
        mfa: None,
        mfa_pending: None,
    };
    let token = random_token();
    storage::register(
        &s.store,
        &account,
        &token_hash(&token),
        now() + VERIFY_TTL_SECS,
    )
    .await?;
    send_verification(&s, &account, &token);
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))))
}

pub(super) fn send_verification(s: &AuthState, account: &Account, token: &str) {
    let body = format!(
        "Hello {},\n\nconfirm your address with this token:\n\n{token}\n\n(POST /api/v1/auth/verify with {{\"token\": \"{token}\"}}; it expires in 24 hours.)\n",
        account.username
    );
    s.mailer
        .send(&account.email, "Confirm your Agora account", body);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    token: String,
}

/// Consumes a verification token.
#[utoipa::path(post, path = "/api/v1/auth/verify", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = AccountView), (status = 400, description = "unknown, used or expired token")))]
pub(super) async fn verify(
    State(s): State<AuthState>,
    Json(req): Json<TokenRequest>,
) -> ApiResult<Json<AccountView>> {
    let account = storage::verify(&s.store, &token_hash(req.token.trim())).await?;
    Ok(Json(AccountView::from(&account)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    email: String,
}

/// Sends a fresh verification token. Always 202, at once: the lookup and the mail happen
/// after the answer, so neither the status nor the time tells which addresses exist. At
/// most five mails an hour reach one address.
#[utoipa::path(post, path = "/api/v1/auth/verify/resend", tag = "auth", request_body = EmailRequest,
    responses((status = 202), (status = 422, description = "not an e-mail address"), (status = 429, description = "too many requests from this address")))]
pub(super) async fn resend_verification(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<EmailRequest>,
) -> ApiResult<StatusCode> {
    let email = domain::validate_email(&req.email).map_err(Error::from)?;
    s.limits.source(&client_ip(&headers))?;
    tokio::spawn(async move {
        if let Err(e) = mail_verification_again(&s, &email).await {
            tracing::error!(error = ?e, "verification mail not sent");
        }
    });
    Ok(StatusCode::ACCEPTED)
}

async fn mail_verification_again(s: &AuthState, email: &str) -> ApiResult<()> {
    let Some(account) = storage::find_by_email(&s.store, email)?.filter(|a| !a.verified) else {
        return Ok(());
    };
    if !s.limits.may_mail(&account.email) {
        tracing::info!(account_id = %account.id, "verification mail throttled");
        return Ok(());
    }
    let token = random_token();
    let record = OneTimeToken {
        account_id: account.id.clone(),
        expires_at: now() + VERIFY_TTL_SECS,
    };
    storage::put_token(
        &s.store,
        Purpose::Verification,
        &token_hash(&token),
        &record,
    )
    .await?;
    send_verification(s, &account, &token);
    Ok(())
}
