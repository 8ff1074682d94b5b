//! Sessions: login (with the MFA challenge), refresh-token rotation and logout.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::Json;
use crate::platform::storage::abort;

use super::super::AuthState;
use super::super::domain::{
    self, Account, Factor, OneTimeToken, Session, now, random_token, token_hash,
};
use super::super::error::Error;
use super::super::storage::{self, Purpose};

/// MFA challenges live five minutes.
const CHALLENGE_TTL_SECS: i64 = 300;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"login": "ada", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    /// Username or e-mail.
    login: String,
    password: String,
}

/// What a successful login, MFA challenge or refresh returns.
#[derive(Serialize, ToSchema)]
pub struct Tokens {
    access_token: String,
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    refresh_token: String,
    account_id: String,
}

/// A login that needs the second factor.
#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    mfa_required: bool,
    /// Pass to `/auth/mfa/challenge` with the code, within five minutes.
    mfa_token: String,
}

/// The client's address as the gateway recorded it.
pub(super) fn client_ip(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Checks the password; answers with tokens, or with an MFA challenge when MFA is on.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Tokens), (status = 401, description = "wrong credentials"), (status = 403, description = "account not verified"), (status = 429, description = "too many attempts")))]
pub(super) async fn login(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> ApiResult<axum::response::Response> {
    let source = client_ip(&headers);
    let account = storage::find_by_login(&s.store, &req.login)?;
    let known = match &account {
        Some(a) => storage::known_network(&s.store, &a.id, &domain::approximate_ip(&source))?,
        None => false,
    };
    let key = account
        .as_ref()
        .map_or_else(|| req.login.trim().to_lowercase(), |a| a.id.clone());
    s.limits.login(&key, &source, known).await?;
    let ok = s
        .hasher
        .verify(
            req.password,
            account.as_ref().map(|a| a.password_hash.clone()),
        )
        .await?;
    let account = match account {
        Some(account) if ok => account,
        _ => return Err(Error::WrongCredentials.into()),
    };
    if !account.verified {
        return Err(Error::NotVerified.into());
    }
    if let Some(suspension) = storage::suspension(&s.store, &account.id, now())? {
        return Err(storage::suspended(&suspension).into());
    }
    if account.mfa.is_some() {
        let token = random_token();
        let record = OneTimeToken {
            account_id: account.id.clone(),
            expires_at: now() + CHALLENGE_TTL_SECS,
        };
        storage::put_token(&s.store, Purpose::Challenge, &token_hash(&token), &record).await?;
        return Ok(Json(MfaRequired {
            mfa_required: true,
            mfa_token: token,
        })
        .into_response());
    }
    Ok(Json(start_session(&s, &account, &headers).await?).into_response())
}

pub(super) async fn start_session(
    s: &AuthState,
    account: &Account,
    headers: &HeaderMap,
) -> ApiResult<Tokens> {
    let user_agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let session = Session {
        id: crate::platform::new_id(),
        account_id: account.id.clone(),
        created_at: now(),
        revoked: false,
        user_agent: domain::device(user_agent),
        ip: domain::approximate_ip(&client_ip(headers)),
        last_used_at: now(),
    };
    if account.sign_in_alerts {
        let (before, known) =
            storage::seen_device(&s.store, &account.id, &session.user_agent, &session.ip)?;
        if before && !known {
            send_sign_in_alert(s, account, &session);
        }
    }
    let refresh = random_token();
    storage::start_session(
        &s.store,
        &session,
        &token_hash(&refresh),
        now() + s.settings.refresh_token_ttl_secs as i64,
    )
    .await?;
    tokens(s, account, &session.id, refresh)
}

/// Tells the owner of a login from a device or network the account had not used lately.
fn send_sign_in_alert(s: &AuthState, account: &Account, session: &Session) {
    let device = if session.user_agent.is_empty() {
        "an unnamed device"
    } else {
        &session.user_agent
    };
    let body = format!(
        "Hello {username},\n\n\
         your account \"{username}\" on {platform} was just logged in to from\n\
         {device}, network {network}, at {at}.\n\n\
         If it was you, nothing more is needed. If it was not, reset your\n\
         password (POST /api/v1/auth/password/reset) and end that session\n\
         (GET /api/v1/auth/sessions, DELETE /api/v1/auth/sessions/{{id}}).\n\n\
         (These mails can be turned off: PUT /api/v1/auth/settings with\n\
         {{\"sign_in_alerts\": false}}.)\n",
        username = account.username,
        platform = s.platform,
        network = session.ip,
        at = crate::platform::http::rfc3339(session.created_at),
    );
    s.mailer
        .send(&account.email, "New sign-in to your Agora account", body);
}

pub(super) fn tokens(
    s: &AuthState,
    account: &Account,
    session_id: &str,
    refresh_token: String,
) -> ApiResult<Tokens> {
    // A platform that requires a second factor gives accounts without one a token that
    // only allows enrolling it.
    let enrol_mfa = s.settings.mfa_required && account.mfa.is_none();
    Ok(Tokens {
        access_token: s.issuer.issue_with(
            &account.id,
            account.roles.clone(),
            session_id,
            enrol_mfa,
        )?,
        token_type: "Bearer",
        expires_in: s.issuer.ttl_secs,
        refresh_token,
        account_id: account.id.clone(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mfa_token": "the mfa_token the login answered", "code": "123456"}))]
pub struct ChallengeRequest {
    mfa_token: String,
    /// The 6-digit TOTP code; or give `recovery_code` instead.
    code: Option<String>,
    recovery_code: Option<String>,
}

/// Completes a login with the second factor (a TOTP code or an unused recovery code).
#[utoipa::path(post, path = "/api/v1/auth/mfa/challenge", tag = "auth", request_body = ChallengeRequest,
    responses((status = 200, body = Tokens), (status = 401, description = "wrong code or expired challenge")))]
pub(super) async fn mfa_challenge(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<ChallengeRequest>,
) -> ApiResult<Json<Tokens>> {
    let factor = Factor::from_request(req.code, req.recovery_code)?;
    let challenge = token_hash(req.mfa_token.trim());
    let token = storage::peek_token(&s.store, Purpose::Challenge, &challenge)?
        .ok_or(Error::UnknownChallenge)?;
    s.limits.attempt(&token.account_id, &client_ip(&headers))?;
    let platform = s.platform.clone();
    let (account, ()) = storage::update_account(&s.store, &token.account_id, |tx, account| {
        domain::use_second_factor(account, &factor, &platform).or_else(abort)?;
        storage::spend_token(tx, Purpose::Challenge, &challenge).map(|_| ())
    })
    .await?;
    Ok(Json(start_session(&s, &account, &headers).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "the refresh_token from the last login or refresh"}))]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Trades a refresh token for new tokens. A token used twice ends its whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Tokens), (status = 401, description = "unknown, expired or reused token")))]
pub(super) async fn refresh(
    State(s): State<AuthState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<Json<Tokens>> {
    let next = random_token();
    let expires_at = now() + s.settings.refresh_token_ttl_secs as i64;
    let rotation = storage::rotate_refresh(
        &s.store,
        &token_hash(req.refresh_token.trim()),
        &token_hash(&next),
        expires_at,
    )
    .await?;
    match rotation {
        storage::Rotation::Reused(revoked) => {
            tracing::warn!("refresh token reused: session revoked");
            s.sessions_ended(Some(&revoked));
            Err(Error::RefreshTokenReused.into())
        }
        storage::Rotation::Rotated {
            account_id,
            session_id,
        } => {
            let account =
                storage::find_account(&s.store, &account_id)?.ok_or(Error::AccountGone)?;
            Ok(Json(tokens(&s, &account, &session_id, next)?))
        }
    }
}

/// Ends the session of a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest, responses((status = 204)))]
pub(super) async fn logout(
    State(s): State<AuthState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    let revoked =
        storage::revoke_by_refresh(&s.store, &token_hash(req.refresh_token.trim())).await?;
    s.sessions_ended(revoked.as_ref());
    Ok(StatusCode::NO_CONTENT)
}
