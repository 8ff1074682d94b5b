//! What can go wrong in notifications, in its own words; mapped onto the problem table
//! once, here.

use crate::platform::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Also what a notification of someone else is: 404.
    #[error("no such notification")]
    NotFound,
    #[error("no such post or conversation")]
    PostNotFound,
    #[error("this post is already muted")]
    AlreadyMuted,
    #[error("this post is not muted")]
    NotMuted,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound | Error::PostNotFound | Error::NotMuted => {
                ApiError::NotFound(e.to_string())
            }
            Error::AlreadyMuted => ApiError::Conflict(e.to_string()),
        }
    }
}
