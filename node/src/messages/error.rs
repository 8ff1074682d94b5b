//! What can go wrong in messages, in its own words; mapped onto the problem table once, here.

use crate::platform::error::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Also what a non-member gets for a conversation: 404, as if it did not exist.
    #[error("no such conversation")]
    ConversationNotFound,
    #[error("no such message")]
    MessageNotFound,
    #[error("no such user")]
    UserNotFound,
    #[error("you have not reacted to this message")]
    NoReaction,
    /// A block in either direction: neither may message the other.
    #[error("you cannot message this user")]
    Blocked,
    #[error("this user accepts messages only from friends")]
    FriendsOnly,
    #[error("this user does not accept messages")]
    NotAccepting,
    #[error("only the sender edits or deletes a message")]
    NotSender,
    #[error("a message can be edited for {0} minutes after it was sent")]
    EditWindowOver(i64),
    #[error("a message can be deleted for everyone for {0} hours after it was sent")]
    DeleteWindowOver(i64),
    #[error("this message was deleted")]
    Deleted,
    #[error("only the conversation's admins may do this")]
    AdminsOnly,
    #[error("a direct conversation has exactly two members")]
    DirectIsFixed,
    #[error("a group conversation has at most {0} members")]
    TooManyMembers(usize),
    #[error("already a member of this conversation")]
    AlreadyMember,
    #[error("you cannot start a conversation with yourself")]
    WithYourself,
    #[error("messages kept arriving while marking read; try again")]
    KeptArriving,
    #[error("{}", crate::platform::error::describe(.0))]
    Invalid(Vec<FieldError>),
}

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, message)])
    }
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
            ConversationNotFound | MessageNotFound | UserNotFound | NoReaction => {
                ApiError::NotFound(e.to_string())
            }
            Blocked | FriendsOnly | NotAccepting | NotSender | EditWindowOver(_)
            | DeleteWindowOver(_) | AdminsOnly => ApiError::Forbidden(e.to_string()),
            Deleted | DirectIsFixed | TooManyMembers(_) | AlreadyMember | KeptArriving => {
                ApiError::Conflict(e.to_string())
            }
            WithYourself => ApiError::BadRequest(e.to_string()),
        }
    }
}
