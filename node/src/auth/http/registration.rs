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

/// Verification tokens live a day, and so does an account nobody verified.
const VERIFY_TTL_SECS: i64 = 86_400;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "ada", "email": "ada@example.org", "password": "correct horse battery staple"}))]
pub struct RegisterRequest {
    /// 3 to 30 characters of a-z, 0-9 and `_`; stored lower-case.
    #[schema(min_length = 3, max_length = 30, pattern = "^[A-Za-z0-9_]+$")]
    username: String,
    email: String,
    /// 10 to 128 characters, and not easy to guess.
    #[schema(min_length = 10, max_length = 128)]
    password: String,
    /// An invitation code: required where registration is by invitation, recorded (who
    /// invited whom) wherever it is given.
    invitation: Option<String>,
}

/// Creates an account and mails its verification token. The profile follows by event.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AccountView), (status = 403, description = "registration closed, or by invitation and none given"), (status = 409, description = "username taken (an e-mail address is never answered as taken)"), (status = 422, description = "invalid field, weak password, or an invitation that is unknown, revoked, expired or used up")))]
pub(super) async fn register(
    State(s): State<AuthState>,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    // The addresses of AGORA_ADMIN_EMAILS register without an invitation: how the first
    // admin of an invitation-only platform comes to be.
    let first_admin = s.settings.registration == Registration::Invite
        && req.invitation.is_none()
        && is_admin_email(&s, &req.email);
    let invitation = match (s.settings.registration, &req.invitation) {
        (Registration::Closed, _) => return Err(Error::RegistrationClosed.into()),
        (Registration::Invite, None) if !first_admin => {
            return Err(Error::InvitationRequired.into());
        }
        (_, code) => code.as_deref().map(|c| token_hash(c.trim())),
    };
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
    storage::check_free(&s.store, &username)?;
    let mut roles = vec![Role::User];
    if is_admin_email(&s, &email) {
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
        invited_by: None,
        username_changed_at: None,
        sign_in_alerts: true,
    };
    // An address a verified account holds gets no token, only a word to its owner; the
    // answer is the same, so registering does not tell which addresses are here.
    let holder = storage::address_holder(&s.store, &account.email)?;
    let token = holder.is_none().then(random_token);
    let account = storage::register(
        &s.store,
        &account,
        invitation.as_deref(),
        token.as_deref().map(token_hash).as_deref(),
        now() + VERIFY_TTL_SECS,
    )
    .await?;
    if s.limits.may_mail(&account.email) {
        match (&token, holder) {
            (Some(token), _) => send_verification(&s, &account, token),
            (None, Some(holder)) => send_address_held(&s, &account, &holder)?,
            (None, None) => {}
        }
    }
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))))
}

fn is_admin_email(s: &AuthState, email: &str) -> bool {
    s.settings
        .admin_emails
        .iter()
        .any(|a| a.trim().eq_ignore_ascii_case(email.trim()))
}

pub(super) fn send_verification(s: &AuthState, account: &Account, token: &str) {
    let body = format!(
        "Hello,\n\n\
         the account \"{username}\" was registered on {platform} with this\n\
         address. If you registered it, confirm it with the account's\n\
         password and this token:\n\n\
         {token}\n\n\
         (POST /api/v1/auth/verify with the token and the password;\n\
         it expires in 24 hours.)\n\n\
         If you did not, ignore this mail: the account is deleted in\n\
         24 hours and never holds your address.\n",
        username = account.username,
        platform = s.platform,
    );
    s.mailer
        .send(&account.email, "Confirm your Agora account", body);
}

/// Someone registered with an address a verified account holds: its owner is told, and
/// no token is sent (the new account can never hold the address).
fn send_address_held(s: &AuthState, account: &Account, holder: &str) -> ApiResult<()> {
    let Some(owner) = storage::find_account(&s.store, holder)? else {
        return Ok(());
    };
    let body = format!(
        "Hello {owner},\n\n\
         someone registered the account \"{new}\" on {platform} with this\n\
         address, which already belongs to your account \"{owner}\".\n\
         It cannot be confirmed and is deleted in 24 hours.\n\n\
         If it was you, log in as \"{owner}\" (or reset its password:\n\
         POST /api/v1/auth/password/reset). If it was not, you need do\n\
         nothing.\n",
        owner = owner.username,
        new = account.username,
        platform = s.platform,
    );
    s.mailer
        .send(&owner.email, "Someone used your address on Agora", body);
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "the token from the verification mail", "password": "correct horse battery staple"}))]
pub struct VerifyRequest {
    /// The token from the mail: proves control of the address.
    token: String,
    /// The account's password: proves the one confirming is the one who registered (a
    /// token alone would let the address's owner confirm someone else's account by mistake).
    password: String,
}

/// Confirms the address of a new account; from now on it holds the address and can log in.
#[utoipa::path(post, path = "/api/v1/auth/verify", tag = "auth", request_body = VerifyRequest,
    responses((status = 200, body = AccountView), (status = 400, description = "unknown, used or expired token"), (status = 401, description = "wrong password"), (status = 409, description = "the address was confirmed for another account meanwhile"), (status = 429, description = "too many attempts")))]
pub(super) async fn verify(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<VerifyRequest>,
) -> ApiResult<Json<AccountView>> {
    let hash = token_hash(req.token.trim());
    let token =
        storage::peek_token(&s.store, Purpose::Verification, &hash)?.ok_or(Error::UnknownToken)?;
    s.limits.attempt(&token.account_id, &client_ip(&headers))?;
    let account = storage::find_account(&s.store, &token.account_id)?.ok_or(Error::UnknownToken)?;
    s.require_password(&account, req.password, Error::WrongPassword)
        .await?;
    let account = storage::verify(&s.store, &hash, &account.id).await?;
    Ok(Json(AccountView::from(&account)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.org"}))]
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
    if storage::address_holder(&s.store, email)?.is_some() {
        return Ok(()); // confirmed already: nothing more can be confirmed with it
    }
    for account in storage::unverified_with_address(&s.store, email, 3)? {
        if !s.limits.may_mail(&account.email) {
            tracing::info!(account_id = %account.id, "verification mail throttled");
            return Ok(());
        }
        let token = random_token();
        // The token lives until the account's own deadline, not longer.
        let record = OneTimeToken {
            account_id: account.id.clone(),
            expires_at: account.created_at + VERIFY_TTL_SECS,
        };
        storage::put_token(
            &s.store,
            Purpose::Verification,
            &token_hash(&token),
            &record,
        )
        .await?;
        send_verification(s, &account, &token);
    }
    Ok(())
}
