//! What can go wrong in media, in its own words; mapped onto the problem table once, here.

use crate::platform::error::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Also what media of someone else is, without a signed URL: 404.
    #[error("no such media")]
    NotFound,
    #[error("the content is not one of the accepted types (JPEG, PNG, WebP, GIF, MP4, WebM)")]
    UnsupportedType,
    #[error("the upload is empty")]
    Empty,
    #[error("the upload is larger than the limit of {limit_mib} MiB")]
    TooLarge { limit_mib: u64 },
    #[error(
        "the picture is {width} × {height} pixels; at most {max_side} per side and {max_pixels} in all are decoded"
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        max_side: u32,
        max_pixels: u64,
    },
    #[error("the picture cannot be decoded: {0}")]
    Undecodable(String),
    #[error("storage quota exceeded: {used} of {quota} bytes used")]
    QuotaExceeded { used: u64, quota: u64 },
    #[error("a multipart upload needs one `file` part")]
    NoFilePart,
    #[error("this media is attached to a post; deleting the post deletes it")]
    Attached,
    #[error("{}", .0.message)]
    Field(FieldError),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => ApiError::NotFound(e.to_string()),
            Error::UnsupportedType => ApiError::UnsupportedMediaType(e.to_string()),
            Error::TooLarge { .. } => ApiError::PayloadTooLarge,
            Error::Empty | Error::TooManyPixels { .. } | Error::Undecodable(_) => {
                ApiError::field("file", e.to_string())
            }
            Error::NoFilePart => ApiError::field("file", e.to_string()),
            Error::Attached => ApiError::Conflict(e.to_string()),
            Error::QuotaExceeded { used, quota } => ApiError::QuotaExceeded { used, quota },
            Error::Field(f) => f.into(),
        }
    }
}
