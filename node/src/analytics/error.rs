//! What can go wrong in analytics, in its own words; mapped onto the problem table once,
//! here.

use crate::platform::error::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Also what a post's or page's figures are to anyone who may not read them.
    #[error("no such post")]
    PostNotFound,
    #[error("no such page")]
    PageNotFound,
    #[error("{}", .0.message)]
    Field(FieldError),
}

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Error::Field(FieldError::new(field, message))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::PostNotFound | Error::PageNotFound => ApiError::NotFound(e.to_string()),
            Error::Field(f) => f.into(),
        }
    }
}
