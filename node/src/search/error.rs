//! What can go wrong in search, in its own words; mapped onto the problem table once, here.

use crate::platform::error::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {}", .0.field, .0.message)]
    Field(FieldError),
    #[error("the search index: {0}")]
    Index(String),
}

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Error::Field(FieldError::new(field, message))
    }
}

impl From<tantivy::TantivyError> for Error {
    fn from(e: tantivy::TantivyError) -> Self {
        Error::Index(e.to_string())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Field(f) => f.into(),
            Error::Index(cause) => ApiError::internal(format!("search index: {cause}")),
        }
    }
}
