//! What can go wrong in auth, in its own words; mapped onto the problem table once, here.

use crate::platform::error::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("registration is closed on this platform")]
    RegistrationClosed,
    #[error("this platform registers by invitation only: give `invitation`")]
    InvitationRequired,
    #[error("only admins create invitations on this platform")]
    InvitationsByAdmins,
    #[error("no such invitation")]
    InvitationNotFound,
    #[error("this is the platform's last admin: make another admin first")]
    LastAdmin,
    #[error("this username is taken")]
    UsernameTaken,
    #[error("the username changed recently; it may change again from {}", crate::platform::http::rfc3339(*next))]
    UsernameCooldown { next: i64 },
    #[error(
        "this address already belongs to another account; log in to that one or reset its password"
    )]
    AddressHeld,
    #[error("unknown or already used token")]
    UnknownToken,
    #[error("this token has expired")]
    TokenExpired,
    #[error("no such account")]
    AccountNotFound,
    /// Login refuses without saying which of the two was wrong.
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("the password is wrong")]
    WrongPassword,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("confirm your e-mail address first (see /auth/verify)")]
    NotVerified,
    #[error("unknown or expired MFA challenge; log in again")]
    UnknownChallenge,
    #[error("MFA is not enabled on this account")]
    MfaNotEnabled,
    #[error("MFA is already enabled; disable it first")]
    MfaAlreadyEnabled,
    #[error("start with /auth/mfa/enroll")]
    EnrolFirst,
    #[error("this platform requires a second factor; it cannot be turned off")]
    MfaRequired,
    #[error("wrong or expired code")]
    WrongCode,
    #[error("this code was already used; wait for the next one")]
    CodeReused,
    #[error("unknown or already used recovery code")]
    UnknownRecoveryCode,
    #[error("unknown refresh token")]
    UnknownRefreshToken,
    #[error("this refresh token has expired")]
    RefreshTokenExpired,
    #[error("this refresh token was already used; the session has been revoked")]
    RefreshTokenReused,
    #[error("unknown session")]
    UnknownSession,
    #[error("this session has ended")]
    SessionEnded,
    #[error(
        "this account is suspended {}: {reason}",
        until.map_or_else(|| "permanently".to_string(), |t| format!("until {}", crate::platform::http::rfc3339(t)))
    )]
    Suspended { until: Option<i64>, reason: String },
    #[error("the account no longer exists")]
    AccountGone,
    /// The TOTP library refused a secret we made: a bug, logged, never shown.
    #[error("totp: {0}")]
    Totp(String),
    #[error("{}", crate::platform::error::describe(.0))]
    Invalid(Vec<FieldError>),
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Invalid(vec![e])
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use Error::*;
        match e {
            Invalid(errors) => errors.into(),
            UsernameCooldown { next } => ApiError::RateLimited {
                retry_after_secs: (next - crate::platform::unix_now()).max(1) as u64,
            },
            Totp(cause) => ApiError::internal(cause),
            RegistrationClosed | InvitationRequired | InvitationsByAdmins | NotVerified
            | MfaRequired => ApiError::Forbidden(e.to_string()),
            UsernameTaken | AddressHeld | MfaAlreadyEnabled | LastAdmin => {
                ApiError::Conflict(e.to_string())
            }
            UnknownToken | TokenExpired | MfaNotEnabled | EnrolFirst => {
                ApiError::BadRequest(e.to_string())
            }
            AccountNotFound | InvitationNotFound => ApiError::NotFound(e.to_string()),
            Suspended { .. } => ApiError::AccountSuspended(e.to_string()),
            WrongCredentials | WrongPassword | WrongCurrentPassword | UnknownChallenge
            | WrongCode | CodeReused | UnknownRecoveryCode | UnknownRefreshToken
            | RefreshTokenExpired | RefreshTokenReused | UnknownSession | SessionEnded
            | AccountGone => ApiError::Unauthorized(e.to_string()),
        }
    }
}
