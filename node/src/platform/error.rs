//! The one error model of the HTTP API: RFC 9457 `application/problem+json`.
//!
//! Every context maps its own error enum onto [`ApiError`]; the status code and the
//! stable `type` of each variant are decided here, in one table ([`ApiError::code`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The header a replica that does not write puts on its `not-writer` answer, so the
/// gateway knows, without reading the body, that nothing was done and the write may go
/// to the next writer.
pub const NOT_WRITER_HEADER: &str = "agora-not-writer";

/// Base of every problem `type` URI; the slug after it is stable API.
pub const PROBLEM_BASE: &str = "https://agora.dev/problems/";

/// One invalid field of a request body or query.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field (`username`, `privacy.profile`).
    pub field: String,
    /// What is wrong with it, for humans.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Errors every handler may return. Domain errors convert into these.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedBody(String),
    /// The body's type is not one the route takes (JSON, or an accepted media type).
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body is larger than the limit")]
    PayloadTooLarge,
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("this route does not accept this method")]
    MethodNotAllowed,
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// A suspended or banned account trying to log in or refresh: the message says until
    /// when and why.
    #[error("{0}")]
    AccountSuspended(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Something that existed and is gone for good (an expired export).
    #[error("{0}")]
    Gone(String),
    /// An upload that would take its owner's stored bytes over their quota.
    #[error("storage quota exceeded: {used} of {quota} bytes used")]
    QuotaExceeded { used: u64, quota: u64 },
    #[error("too many requests, retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the upstream context is unavailable")]
    Unavailable,
    /// A follower replica asked to write (the writer is elsewhere, or being chosen):
    /// nothing was done, the client retries.
    #[error("{0}")]
    NotWriter(String),
    /// A write that the replicas could not confirm in time: it may have been applied.
    #[error("{0}")]
    Unconfirmed(String),
    /// A follower that has not reached the client's consistency token in time.
    #[error("{0}")]
    Lagging(String),
    /// The cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

/// The stable part of a problem: its slug and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    pub slug: &'static str,
    pub title: &'static str,
    pub status: StatusCode,
}

impl ApiError {
    /// A validation failure of a single field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        FieldError::new(field, message).into()
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// The table of error codes: the only place that decides status and `type`.
    pub fn code(&self) -> ErrorCode {
        use StatusCode as S;
        let (slug, title, status) = match self {
            ApiError::MalformedBody(_) => {
                ("malformed-body", "Malformed request body", S::BAD_REQUEST)
            }
            ApiError::UnsupportedMediaType(_) => (
                "unsupported-media-type",
                "Unsupported media type",
                S::UNSUPPORTED_MEDIA_TYPE,
            ),
            ApiError::PayloadTooLarge => (
                "payload-too-large",
                "Payload too large",
                S::PAYLOAD_TOO_LARGE,
            ),
            ApiError::Validation { .. } => (
                "validation-failed",
                "Validation failed",
                S::UNPROCESSABLE_ENTITY,
            ),
            ApiError::BadRequest(_) => ("bad-request", "Bad request", S::BAD_REQUEST),
            ApiError::MethodNotAllowed => (
                "method-not-allowed",
                "Method not allowed",
                S::METHOD_NOT_ALLOWED,
            ),
            ApiError::Unauthorized(_) => ("unauthorized", "Unauthorized", S::UNAUTHORIZED),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden", S::FORBIDDEN),
            ApiError::AccountSuspended(_) => {
                ("account-suspended", "Account suspended", S::FORBIDDEN)
            }
            ApiError::NotFound(_) => ("not-found", "Not found", S::NOT_FOUND),
            ApiError::Conflict(_) => ("conflict", "Conflict", S::CONFLICT),
            ApiError::Gone(_) => ("gone", "Gone", S::GONE),
            ApiError::QuotaExceeded { .. } => {
                ("quota-exceeded", "Storage quota exceeded", S::FORBIDDEN)
            }
            ApiError::RateLimited { .. } => {
                ("rate-limited", "Too many requests", S::TOO_MANY_REQUESTS)
            }
            ApiError::Unavailable => ("unavailable", "Service unavailable", S::SERVICE_UNAVAILABLE),
            ApiError::NotWriter(_) => ("not-writer", "Not the writer", S::SERVICE_UNAVAILABLE),
            ApiError::Unconfirmed(_) => {
                ("unconfirmed", "Write not confirmed", S::SERVICE_UNAVAILABLE)
            }
            ApiError::Lagging(_) => ("replica-lagging", "Replica lagging", S::SERVICE_UNAVAILABLE),
            ApiError::Internal(_) => ("internal", "Internal error", S::INTERNAL_SERVER_ERROR),
        };
        ErrorCode {
            slug,
            title,
            status,
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With `quota-exceeded`: the owner's quota, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// With `quota-exceeded`: the bytes the owner's media take now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let retry_after = match &self {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            ApiError::Unavailable
            | ApiError::NotWriter(_)
            | ApiError::Unconfirmed(_)
            | ApiError::Lagging(_) => Some(1),
            _ => None,
        };
        let errors = match &self {
            ApiError::Validation { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("{PROBLEM_BASE}{}", code.slug),
            title: code.title,
            status: code.status.as_u16(),
            detail: self.to_string(),
            errors,
            quota_bytes: None,
            used_bytes: None,
        };
        let problem = match &self {
            ApiError::QuotaExceeded { used, quota } => Problem {
                quota_bytes: Some(*quota),
                used_bytes: Some(*used),
                ..problem
            },
            _ => problem,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (code.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if let ApiError::NotWriter(_) = self {
            headers.insert(NOT_WRITER_HEADER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Invalid fields in one line: `name: must not be empty; bio: too long`.
pub fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A single invalid field is a validation failure.
impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        vec![e].into()
    }
}

/// Invalid fields, all named, are one validation failure.
impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::Validation {
            detail: describe(&errors),
            errors,
        }
    }
}

impl From<sled::Error> for ApiError {
    fn from(e: sled::Error) -> Self {
        ApiError::internal(format!("storage: {e}"))
    }
}

impl From<sled::transaction::TransactionError<ApiError>> for ApiError {
    fn from(e: sled::transaction::TransactionError<ApiError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => e.into(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_problem_type_and_4xx_or_5xx_status() {
        let e = ApiError::field("username", "too short");
        let code = e.code();
        assert_eq!(code.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(code.slug, "validation-failed");
        let r = ApiError::RateLimited {
            retry_after_secs: 3,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
