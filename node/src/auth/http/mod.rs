//! The HTTP API of auth, under `/api/v1/auth`, by concern: [`registration`] (register,
//! verify), [`sessions`] (login, the MFA challenge, refresh, logout), [`mfa`] (enrolment and
//! recovery codes), [`recovery`] (password reset), [`email`] (changing the address),
//! [`invitations`], [`devices`] (sessions and devices), [`accounts`] (password, roles, the
//! public key) and [`erasure`] (`DELETE /users/me`, the one route outside `/auth`).

mod accounts;
mod devices;
mod email;
mod erasure;
mod invitations;
mod mfa;
mod recovery;
mod registration;
mod seeding;
mod sessions;

use axum::Router;
use axum::routing::{get, post, put};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::tokens::Role;

use super::AuthState;
use super::domain::Account;

pub fn routes(state: AuthState) -> Router {
    Router::new()
        .route("/api/v1/auth/register", post(registration::register))
        .route("/api/v1/auth/verify", post(registration::verify))
        .route(
            "/api/v1/auth/verify/resend",
            post(registration::resend_verification),
        )
        .route("/api/v1/auth/login", post(sessions::login))
        .route("/api/v1/auth/refresh", post(sessions::refresh))
        .route("/api/v1/auth/logout", post(sessions::logout))
        .route("/api/v1/auth/password", post(accounts::change_password))
        .route(
            "/api/v1/auth/password/reset",
            post(recovery::request_password_reset),
        )
        .route(
            "/api/v1/auth/password/reset/confirm",
            post(recovery::confirm_password_reset),
        )
        .route("/api/v1/auth/mfa/enroll", post(mfa::enroll_mfa))
        .route("/api/v1/auth/mfa/confirm", post(mfa::confirm_mfa))
        .route("/api/v1/auth/mfa/challenge", post(sessions::mfa_challenge))
        .route("/api/v1/auth/mfa/disable", post(mfa::disable_mfa))
        .route(
            "/api/v1/auth/mfa/recovery-codes",
            post(mfa::regenerate_recovery_codes),
        )
        .route("/api/v1/auth/username", post(accounts::change_username))
        .route("/api/v1/auth/settings", put(accounts::update_settings))
        .route("/api/v1/auth/email", post(email::change_email))
        .route("/api/v1/auth/email/confirm", post(email::confirm_email))
        .route(
            "/api/v1/auth/email/report",
            post(email::report_email_change),
        )
        .route(
            "/api/v1/auth/invitations",
            post(invitations::create_invitation).get(invitations::list_invitations),
        )
        .route(
            "/api/v1/auth/invitations/{id}",
            axum::routing::delete(invitations::revoke_invitation),
        )
        .route("/api/v1/auth/jwks.json", get(accounts::jwks))
        .route("/api/v1/auth/me", get(accounts::me))
        .route("/api/v1/auth/accounts/{id}/roles", put(accounts::set_roles))
        .route("/api/v1/auth/sessions", get(devices::list_sessions))
        .route(
            "/api/v1/auth/sessions/revoke-others",
            post(devices::end_other_sessions),
        )
        .route(
            "/api/v1/auth/sessions/{id}",
            axum::routing::delete(devices::end_session),
        )
        .route(
            "/api/v1/users/me",
            axum::routing::delete(erasure::delete_account),
        )
        .with_state(state)
        // Tokens, codes and account data never sit in a cache, whoever forwards them.
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        ))
}

/// `dev --bulk-seeding`'s route: many generated accounts at once ([`seeding`]).
pub fn seeding_routes(state: AuthState) -> Router {
    Router::new()
        .route("/api/v1/dev/accounts", post(seeding::seed_accounts))
        .with_state(state)
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
    /// Whether logins from new devices or networks are mailed (`PUT /auth/settings`).
    sign_in_alerts: bool,
    /// Who invited this account, where it registered with an invitation.
    #[serde(skip_serializing_if = "Option::is_none")]
    invited_by: Option<String>,
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
            invited_by: a.invited_by.clone(),
            sign_in_alerts: a.sign_in_alerts,
        }
    }
}

/// The auth part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    registration::register,
    registration::verify,
    registration::resend_verification,
    sessions::login,
    sessions::mfa_challenge,
    sessions::refresh,
    sessions::logout,
    accounts::change_password,
    accounts::change_username,
    accounts::update_settings,
    invitations::create_invitation,
    invitations::list_invitations,
    invitations::revoke_invitation,
    email::change_email,
    email::confirm_email,
    email::report_email_change,
    recovery::request_password_reset,
    recovery::confirm_password_reset,
    mfa::enroll_mfa,
    mfa::confirm_mfa,
    mfa::disable_mfa,
    mfa::regenerate_recovery_codes,
    accounts::jwks,
    accounts::me,
    accounts::set_roles,
    devices::list_sessions,
    devices::end_session,
    devices::end_other_sessions,
    erasure::delete_account
))]
pub struct AuthApi;
