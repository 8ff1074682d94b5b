//! What can go wrong in users, in its own words; mapped onto the problem table once, here.

use crate::platform::error::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Also what each of two users who blocked the other gets for the other.
    #[error("no such user")]
    UserNotFound,
    #[error("no user with this username")]
    UsernameNotFound,
    /// The profile is made from auth's event moments after registration.
    #[error("your profile does not exist yet; it is created moments after registration")]
    ProfileNotYet,
    #[error("no pending friend request to this user")]
    NoRequestTo,
    #[error("no pending friend request from this user")]
    NoRequestFrom,
    #[error("you are not friends with this user")]
    NotFriends,
    #[error("you have not blocked this user")]
    NotBlocked,
    #[error("this user accepts friend requests only from friends of friends")]
    FriendsOfFriendsOnly,
    #[error("this user does not accept friend requests")]
    NoRequestsAccepted,
    #[error("you cannot befriend yourself")]
    BefriendYourself,
    #[error("you cannot block yourself")]
    BlockYourself,
    #[error("you are already friends")]
    AlreadyFriends,
    #[error("you already sent a friend request to this user")]
    AlreadyAsked,
    #[error("an export is already being prepared; wait until it is ready")]
    ExportInProgress,
    #[error("no such export")]
    ExportNotFound,
    #[error("this export is not ready yet")]
    ExportNotReady,
    #[error("this export has expired; ask for a new one")]
    ExportExpired,
    #[error("{}", crate::platform::error::describe(.0))]
    Invalid(Vec<FieldError>),
}

impl Error {
    /// One bad field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use Error::*;
        match e {
            Invalid(errors) => errors.into(),
            UserNotFound | UsernameNotFound | ProfileNotYet | NoRequestTo | NoRequestFrom
            | NotFriends | NotBlocked | ExportNotFound => ApiError::NotFound(e.to_string()),
            ExportInProgress | ExportNotReady => ApiError::Conflict(e.to_string()),
            ExportExpired => ApiError::Gone(e.to_string()),
            FriendsOfFriendsOnly | NoRequestsAccepted => ApiError::Forbidden(e.to_string()),
            BefriendYourself | BlockYourself => ApiError::BadRequest(e.to_string()),
            AlreadyFriends | AlreadyAsked => ApiError::Conflict(e.to_string()),
        }
    }
}
