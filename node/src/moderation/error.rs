//! What can go wrong in moderation, in its own words; mapped onto the problem table once,
//! here.

use crate::platform::error::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such report")]
    ReportNotFound,
    #[error("no such action")]
    ActionNotFound,
    /// Also what a target moderation has not heard of is.
    #[error("no such {0}")]
    TargetNotFound(&'static str),
    #[error("you already reported this; its report is still open")]
    AlreadyReported,
    #[error("this report is already resolved")]
    AlreadyResolved,
    #[error("another moderator has claimed this report")]
    ClaimedByOther,
    #[error("this action was already reverted")]
    AlreadyReverted,
    #[error("a dismissal or a warning has nothing to revert")]
    NothingToRevert,
    #[error("this account is not suspended by this action any more")]
    Superseded,
    #[error("only admins may {0}")]
    AdminsOnly(&'static str),
    #[error("this needs the moderator or admin role")]
    NotModerator,
    #[error(
        "group moderators dismiss and remove; warnings, suspensions and bans are for platform moderators"
    )]
    GroupScope,
    #[error("no such keyword rule")]
    RuleNotFound,
    #[error("a keyword rule for this phrase exists; delete it first")]
    RuleExists,
    #[error(
        "this rule comes from the platform's configuration (spec.moderation.blockedKeywords); change it there"
    )]
    PlatformRule,
    #[error("{}", .0.message)]
    Field(FieldError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Error::Field(FieldError::new(field, message))
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Field(e)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::ReportNotFound
            | Error::ActionNotFound
            | Error::TargetNotFound(_)
            | Error::RuleNotFound => ApiError::NotFound(e.to_string()),
            Error::AlreadyReported
            | Error::AlreadyResolved
            | Error::ClaimedByOther
            | Error::AlreadyReverted
            | Error::NothingToRevert
            | Error::Superseded
            | Error::RuleExists
            | Error::PlatformRule => ApiError::Conflict(e.to_string()),
            Error::AdminsOnly(_) | Error::NotModerator | Error::GroupScope => {
                ApiError::Forbidden(e.to_string())
            }
            Error::Field(f) => f.into(),
        }
    }
}
