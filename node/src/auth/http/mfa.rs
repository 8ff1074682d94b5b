//! Enrolling, confirming and turning off the second factor; recovery codes.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::{ApiError, ApiResult};
use crate::platform::http::Json;
use crate::platform::storage::abort;
use crate::platform::tokens::{AuthUser, EnrollingUser};

use super::super::AuthState;
use super::super::domain::{self, Factor, Mfa, token_hash};
use super::super::error::Error;
use super::super::storage;
use super::accounts::own_account;
use super::sessions::client_ip;

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
pub(super) async fn enroll_mfa(
    State(s): State<AuthState>,
    user: EnrollingUser,
) -> ApiResult<Json<Enrollment>> {
    let secret = domain::new_totp_secret();
    let (account, ()) = storage::update_account(&s.store, user.id(), |_, a| {
        if a.mfa.is_some() {
            return abort(Error::MfaAlreadyEnabled);
        }
        a.mfa_pending = Some(secret.clone());
        Ok(())
    })
    .await?;
    let uri = domain::totp(&secret, &account.username, &s.platform)?
        .to_url()
        .map_err(|e| ApiError::internal(format!("totp uri: {e}")))?;
    Ok(Json(Enrollment {
        secret,
        otpauth_uri: uri,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
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
pub(super) async fn confirm_mfa(
    State(s): State<AuthState>,
    user: EnrollingUser,
    headers: HeaderMap,
    Json(req): Json<CodeRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    s.limits.attempt(user.id(), &client_ip(&headers))?;
    let codes = domain::recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| token_hash(c)).collect();
    let platform = s.platform.clone();
    storage::update_account(&s.store, user.id(), |_, a| {
        let Some(secret) = a.mfa_pending.clone() else {
            return abort(Error::EnrolFirst);
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
#[schema(example = json!({"password": "correct horse battery staple", "code": "123456"}))]
pub struct DisableMfa {
    password: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

/// Turns MFA off; needs the password and a second factor.
#[utoipa::path(post, path = "/api/v1/auth/mfa/disable", tag = "auth", request_body = DisableMfa, responses((status = 204), (status = 401, description = "wrong password or code"), (status = 429, description = "too many attempts")), security(("bearer" = [])))]
pub(super) async fn disable_mfa(
    State(s): State<AuthState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(req): Json<DisableMfa>,
) -> ApiResult<StatusCode> {
    s.limits.attempt(user.id(), &client_ip(&headers))?;
    if s.settings.mfa_required {
        return Err(Error::MfaRequired.into());
    }
    let factor = Factor::from_request(req.code, req.recovery_code)?;
    let account = own_account(&s, &user)?;
    s.require_password(&account, req.password, Error::WrongPassword)
        .await?;
    let platform = s.platform.clone();
    storage::update_account(&s.store, user.id(), |_, a| {
        domain::use_second_factor(a, &factor, &platform).or_else(abort)?;
        a.mfa = None;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the recovery codes; needs a current TOTP code.
#[utoipa::path(post, path = "/api/v1/auth/mfa/recovery-codes", tag = "auth", request_body = CodeRequest, responses((status = 200, body = RecoveryCodes), (status = 401, description = "wrong code"), (status = 429, description = "too many attempts")), security(("bearer" = [])))]
pub(super) async fn regenerate_recovery_codes(
    State(s): State<AuthState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(req): Json<CodeRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    s.limits.attempt(user.id(), &client_ip(&headers))?;
    let codes = domain::recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| token_hash(c)).collect();
    let platform = s.platform.clone();
    let factor = Factor::Totp(req.code);
    storage::update_account(&s.store, user.id(), |_, a| {
        domain::use_second_factor(a, &factor, &platform).or_else(abort)?;
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
