//! The HTTP API of auth, under `/api/v1/auth`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use governor::DefaultKeyedRateLimiter;
use governor::clock::{Clock, DefaultClock};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::envelope::Envelope;
use crate::platform::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::Json;
use crate::platform::storage::abort;
use crate::platform::tokens::{Admin, AuthUser, EnrollingUser, RequireRole, Role};

use super::domain::{self, Account, Mfa, OneTimeToken, Session, now, random_token, token_hash};
use super::events::RolesChanged;
use super::{AuthState, storage};
use crate::platform::config::Registration;

/// Verification tokens live a day, MFA challenges five minutes.
const VERIFY_TTL_SECS: i64 = 86_400;
const CHALLENGE_TTL_SECS: i64 = 300;

pub fn routes(state: AuthState) -> Router {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/verify", post(verify))
        .route("/api/v1/auth/verify/resend", post(resend_verification))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/auth/mfa/enroll", post(enroll_mfa))
        .route("/api/v1/auth/mfa/confirm", post(confirm_mfa))
        .route("/api/v1/auth/mfa/challenge", post(mfa_challenge))
        .route("/api/v1/auth/mfa/disable", post(disable_mfa))
        .route(
            "/api/v1/auth/mfa/recovery-codes",
            post(regenerate_recovery_codes),
        )
        .route("/api/v1/auth/jwks.json", get(jwks))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/accounts/{id}/roles", put(set_roles))
        .with_state(state)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3 to 30 characters of a-z, 0-9 and `_`; stored lower-case.
    username: String,
    email: String,
    /// 10 to 128 characters, and not easy to guess.
    password: String,
}

/// An account as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    id: String,
    username: String,
    email: String,
    roles: Vec<Role>,
    verified: bool,
    mfa_enabled: bool,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        AccountView {
            id: a.id.clone(),
            username: a.username.clone(),
            email: a.email.clone(),
            roles: a.roles.clone(),
            verified: a.verified,
            mfa_enabled: a.mfa.is_some(),
        }
    }
}

/// Creates an account and mails its verification token. The profile follows by event.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AccountView), (status = 409, description = "username or e-mail taken"), (status = 422, description = "invalid field or weak password")))]
async fn register(
    State(s): State<AuthState>,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    if s.settings.registration == Registration::Closed {
        return Err(ApiError::Forbidden(
            "registration is closed on this platform".into(),
        ));
    }
    let fields: Vec<FieldError> = [
        domain::validate_username(&req.username).err(),
        domain::validate_email(&req.email).err(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !fields.is_empty() {
        let detail = fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ApiError::Validation {
            detail,
            errors: fields,
        });
    }
    let username = domain::validate_username(&req.username).map_err(field_error)?;
    let email = domain::validate_email(&req.email).map_err(field_error)?;
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

fn field_error(e: FieldError) -> ApiError {
    ApiError::Validation {
        detail: format!("{}: {}", e.field, e.message),
        errors: vec![e],
    }
}

fn send_verification(s: &AuthState, account: &Account, token: &str) {
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
async fn verify(
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

/// Sends a fresh verification token. Always 202, so it does not tell which addresses exist.
#[utoipa::path(post, path = "/api/v1/auth/verify/resend", tag = "auth", request_body = EmailRequest, responses((status = 202)))]
async fn resend_verification(
    State(s): State<AuthState>,
    Json(req): Json<EmailRequest>,
) -> ApiResult<StatusCode> {
    let email = domain::validate_email(&req.email).map_err(field_error)?;
    if let Some(account) = storage::find_by_email(&s.store, &email)?.filter(|a| !a.verified) {
        let token = random_token();
        let record = OneTimeToken {
            account_id: account.id.clone(),
            expires_at: now() + VERIFY_TTL_SECS,
        };
        storage::put_token(&s.store, &storage::verify_key(&token_hash(&token)), &record).await?;
        send_verification(&s, &account, &token);
    }
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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

fn limited(limiter: &DefaultKeyedRateLimiter<String>, key: String) -> ApiResult<()> {
    limiter.check_key(&key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        }
    })
}

/// The client's address as the gateway recorded it.
fn client_ip(headers: &HeaderMap) -> String {
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
async fn login(
    State(s): State<AuthState>,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> ApiResult<axum::response::Response> {
    limited(&s.per_ip, client_ip(&headers))?;
    limited(&s.per_account, req.login.trim().to_lowercase())?;
    let account = storage::find_by_login(&s.store, &req.login)?;
    let ok = s
        .hasher
        .verify(
            req.password,
            account.as_ref().map(|a| a.password_hash.clone()),
        )
        .await?;
    let account = match account {
        Some(account) if ok => account,
        _ => return Err(ApiError::Unauthorized("wrong username or password".into())),
    };
    if !account.verified {
        return Err(ApiError::Forbidden(
            "confirm your e-mail address first (see /auth/verify)".into(),
        ));
    }
    if account.mfa.is_some() {
        let token = random_token();
        let record = OneTimeToken {
            account_id: account.id.clone(),
            expires_at: now() + CHALLENGE_TTL_SECS,
        };
        storage::put_token(
            &s.store,
            &storage::challenge_key(&token_hash(&token)),
            &record,
        )
        .await?;
        return Ok(Json(MfaRequired {
            mfa_required: true,
            mfa_token: token,
        })
        .into_response());
    }
    Ok(Json(start_session(&s, &account).await?).into_response())
}

async fn start_session(s: &AuthState, account: &Account) -> ApiResult<Tokens> {
    let session = Session {
        id: crate::platform::new_id(),
        account_id: account.id.clone(),
        created_at: now(),
        revoked: false,
    };
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

fn tokens(
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
pub struct ChallengeRequest {
    mfa_token: String,
    /// The 6-digit TOTP code; or give `recovery_code` instead.
    code: Option<String>,
    recovery_code: Option<String>,
}

/// Completes a login with the second factor (a TOTP code or an unused recovery code).
#[utoipa::path(post, path = "/api/v1/auth/mfa/challenge", tag = "auth", request_body = ChallengeRequest,
    responses((status = 200, body = Tokens), (status = 401, description = "wrong code or expired challenge")))]
async fn mfa_challenge(
    State(s): State<AuthState>,
    Json(req): Json<ChallengeRequest>,
) -> ApiResult<Json<Tokens>> {
    let factor = second_factor(req.code, req.recovery_code)?;
    let challenge = storage::challenge_key(&token_hash(req.mfa_token.trim()));
    let Some(token) = s.store.get::<OneTimeToken>(&challenge)? else {
        return Err(ApiError::Unauthorized(
            "unknown or expired MFA challenge; log in again".into(),
        ));
    };
    if token.expires_at < now() {
        return Err(ApiError::Unauthorized(
            "unknown or expired MFA challenge; log in again".into(),
        ));
    }
    limited(&s.per_account, token.account_id.clone())?;
    let platform = s.platform.clone();
    let (account, ()) = storage::update_account(&s.store, &token.account_id, |tx, account| {
        use_second_factor(account, &factor, &platform).or_else(abort)?;
        storage::take_token(tx, &challenge).map(|_| ())
    })
    .await?;
    Ok(Json(start_session(&s, &account).await?))
}

enum Factor {
    Totp(String),
    Recovery(String),
}

fn second_factor(code: Option<String>, recovery: Option<String>) -> ApiResult<Factor> {
    match (code, recovery) {
        (Some(code), None) => Ok(Factor::Totp(code)),
        (None, Some(recovery)) => Ok(Factor::Recovery(recovery)),
        _ => Err(ApiError::field(
            "code",
            "give either `code` or `recovery_code`",
        )),
    }
}

/// Checks a factor against the account's MFA and records its use.
fn use_second_factor(account: &mut Account, factor: &Factor, platform: &str) -> ApiResult<()> {
    let username = account.username.clone();
    let Some(mfa) = account.mfa.as_mut() else {
        return Err(ApiError::BadRequest(
            "MFA is not enabled on this account".into(),
        ));
    };
    match factor {
        Factor::Totp(code) => mfa.last_step = domain::check_totp(mfa, code, &username, platform)?,
        Factor::Recovery(code) => {
            let hash = token_hash(&domain::normalize_recovery_code(code));
            let before = mfa.recovery_hashes.len();
            mfa.recovery_hashes.retain(|h| *h != hash);
            if mfa.recovery_hashes.len() == before {
                return Err(ApiError::Unauthorized(
                    "unknown or already used recovery code".into(),
                ));
            }
        }
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Trades a refresh token for new tokens. A token used twice ends its whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Tokens), (status = 401, description = "unknown, expired or reused token")))]
async fn refresh(
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
        storage::Rotation::Reused => {
            tracing::warn!("refresh token reused: session revoked");
            Err(ApiError::Unauthorized(
                "this refresh token was already used; the session has been revoked".into(),
            ))
        }
        storage::Rotation::Rotated {
            account_id,
            session_id,
        } => {
            let account = storage::find_account(&s.store, &account_id)?
                .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))?;
            Ok(Json(tokens(&s, &account, &session_id, next)?))
        }
    }
}

/// Ends the session of a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest, responses((status = 204)))]
async fn logout(
    State(s): State<AuthState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    storage::revoke_by_refresh(&s.store, &token_hash(req.refresh_token.trim())).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the password and ends every other session of the account.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 401, description = "wrong current password"), (status = 422, description = "weak new password")), security(("bearer" = [])))]
async fn change_password(
    State(s): State<AuthState>,
    user: AuthUser,
    Json(req): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    let account = own_account(&s, &user)?;
    domain::check_password(
        &req.new_password,
        "new_password",
        &account.username,
        &account.email,
    )?;
    if !s
        .hasher
        .verify(req.current_password, Some(account.password_hash.clone()))
        .await?
    {
        return Err(ApiError::Unauthorized(
            "the current password is wrong".into(),
        ));
    }
    let hash = s.hasher.hash(req.new_password).await?;
    storage::update_account(&s.store, &account.id, |_, a| {
        a.password_hash = hash.clone();
        Ok(())
    })
    .await?;
    storage::revoke_other_sessions(&s.store, &account.id, Some(&user.0.sid)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn own_account(s: &AuthState, user: &AuthUser) -> ApiResult<Account> {
    storage::find_account(&s.store, user.id())?
        .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))
}

/// A new TOTP secret, to be confirmed with a code.
#[derive(Serialize, ToSchema)]
pub struct Enrollment {
    /// Base32 secret, for manual entry.
    secret: String,
    /// `otpauth://totp/...`, to show as a QR code.
    otpauth_uri: String,
}

/// Starts MFA enrolment: returns a secret and its otpauth URI.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enroll", tag = "auth", responses((status = 200, body = Enrollment), (status = 409, description = "MFA already on")), security(("bearer" = [])))]
async fn enroll_mfa(
    State(s): State<AuthState>,
    user: EnrollingUser,
) -> ApiResult<Json<Enrollment>> {
    let secret = domain::new_totp_secret();
    let (account, ()) = storage::update_account(&s.store, user.id(), |_, a| {
        if a.mfa.is_some() {
            return abort(ApiError::Conflict(
                "MFA is already enabled; disable it first".into(),
            ));
        }
        a.mfa_pending = Some(secret.clone());
        Ok(())
    })
    .await?;
    let uri = domain::totp(&secret, &account.username, &s.platform)?
        .to_url()
        .map_err(ApiError::internal)?;
    Ok(Json(Enrollment {
        secret,
        otpauth_uri: uri,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The 6-digit TOTP code.
    code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Each works once in place of a TOTP code. Shown only now.
    recovery_codes: Vec<String>,
}

/// Confirms enrolment with a first code; MFA is on from now and recovery codes are returned.
#[utoipa::path(post, path = "/api/v1/auth/mfa/confirm", tag = "auth", request_body = CodeRequest,
    responses((status = 200, body = RecoveryCodes), (status = 401, description = "wrong code")), security(("bearer" = [])))]
async fn confirm_mfa(
    State(s): State<AuthState>,
    user: EnrollingUser,
    Json(req): Json<CodeRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    let codes = domain::recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| token_hash(c)).collect();
    let platform = s.platform.clone();
    storage::update_account(&s.store, user.id(), |_, a| {
        let Some(secret) = a.mfa_pending.clone() else {
            return abort(ApiError::BadRequest("start with /auth/mfa/enroll".into()));
        };
        let candidate = Mfa {
            secret,
            recovery_hashes: hashes.clone(),
            last_step: 0,
        };
        let step =
            domain::check_totp(&candidate, &req.code, &a.username, &platform).or_else(abort)?;
        a.mfa = Some(Mfa {
            last_step: step,
            ..candidate
        });
        a.mfa_pending = None;
        Ok(())
    })
    .await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableMfa {
    password: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

/// Turns MFA off; needs the password and a second factor.
#[utoipa::path(post, path = "/api/v1/auth/mfa/disable", tag = "auth", request_body = DisableMfa, responses((status = 204)), security(("bearer" = [])))]
async fn disable_mfa(
    State(s): State<AuthState>,
    user: AuthUser,
    Json(req): Json<DisableMfa>,
) -> ApiResult<StatusCode> {
    if s.settings.mfa_required {
        return Err(ApiError::Forbidden(
            "this platform requires a second factor; it cannot be turned off".into(),
        ));
    }
    let factor = second_factor(req.code, req.recovery_code)?;
    let account = own_account(&s, &user)?;
    if !s
        .hasher
        .verify(req.password, Some(account.password_hash.clone()))
        .await?
    {
        return Err(ApiError::Unauthorized("the password is wrong".into()));
    }
    let platform = s.platform.clone();
    storage::update_account(&s.store, user.id(), |_, a| {
        use_second_factor(a, &factor, &platform).or_else(abort)?;
        a.mfa = None;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the recovery codes; needs a current TOTP code.
#[utoipa::path(post, path = "/api/v1/auth/mfa/recovery-codes", tag = "auth", request_body = CodeRequest, responses((status = 200, body = RecoveryCodes)), security(("bearer" = [])))]
async fn regenerate_recovery_codes(
    State(s): State<AuthState>,
    user: AuthUser,
    Json(req): Json<CodeRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    let codes = domain::recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| token_hash(c)).collect();
    let platform = s.platform.clone();
    let factor = Factor::Totp(req.code);
    storage::update_account(&s.store, user.id(), |_, a| {
        use_second_factor(a, &factor, &platform).or_else(abort)?;
        if let Some(mfa) = a.mfa.as_mut() {
            mfa.recovery_hashes = hashes.clone();
        }
        Ok(())
    })
    .await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// The public key that verifies access tokens, as a JSON Web Key Set.
#[utoipa::path(get, path = "/api/v1/auth/jwks.json", tag = "auth", responses((status = 200, description = "JWKS (RFC 7517)")))]
async fn jwks(State(s): State<AuthState>) -> Json<serde_json::Value> {
    Json(s.verifier.jwks())
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = AccountView)), security(("bearer" = [])))]
async fn me(State(s): State<AuthState>, user: AuthUser) -> ApiResult<Json<AccountView>> {
    Ok(Json(AccountView::from(&own_account(&s, &user)?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesRequest {
    roles: Vec<Role>,
}

/// Sets the roles of an account (admins only). `user` is always kept.
#[utoipa::path(put, path = "/api/v1/auth/accounts/{id}/roles", tag = "auth", request_body = RolesRequest,
    responses((status = 200, body = AccountView), (status = 403, description = "not an admin"), (status = 404)), security(("bearer" = [])))]
async fn set_roles(
    State(s): State<AuthState>,
    RequireRole(admin, ..): RequireRole<Admin>,
    Path(id): Path<String>,
    Json(req): Json<RolesRequest>,
) -> ApiResult<Json<AccountView>> {
    let mut roles = vec![Role::User];
    for role in req.roles {
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    let actor = admin.id().to_string();
    let (account, ()) = storage::update_account(&s.store, &id, |tx, a| {
        a.roles = roles.clone();
        let event = RolesChanged {
            account_id: a.id.clone(),
            roles: roles.clone(),
        };
        tx.emit(&Envelope::new(&actor, &a.id, &event))
    })
    .await?;
    Ok(Json(AccountView::from(&account)))
}

/// The auth part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    verify,
    resend_verification,
    login,
    mfa_challenge,
    refresh,
    logout,
    change_password,
    enroll_mfa,
    confirm_mfa,
    disable_mfa,
    regenerate_recovery_codes,
    jwks,
    me,
    set_roles
))]
pub struct AuthApi;
