//! What can go wrong in feed, in its own words; mapped onto the problem table once, here.

use crate::platform::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cursor this feed did not hand out, or one of the other order.
    #[error("cursor: is not a cursor this feed returned")]
    BadCursor,
    #[error("limit: must be between 1 and 100")]
    BadLimit,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::BadCursor => ApiError::field("cursor", "is not a cursor this feed returned"),
            Error::BadLimit => ApiError::field("limit", "must be between 1 and 100"),
        }
    }
}
