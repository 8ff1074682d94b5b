//! What can go wrong in posts, in its own words; mapped onto the problem table once, here.

use crate::platform::error::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Also what a reader gets for a post they may not read: 404, as if it did not exist.
    #[error("no such post")]
    PostNotFound,
    #[error("no such comment")]
    CommentNotFound,
    #[error("no such group")]
    GroupNotFound,
    #[error("no such page")]
    PageNotFound,
    #[error("no such user")]
    UserNotFound,
    #[error("you have not reacted to this")]
    NoReaction,
    #[error("only the author edits a post")]
    NotPostAuthor,
    #[error("you may not delete this post")]
    MayNotDeletePost,
    #[error("only the author edits a comment")]
    NotCommentAuthor,
    #[error("only the comment's or the post's author deletes a comment")]
    MayNotDeleteComment,
    #[error("only members post in this group")]
    MembersOnly,
    #[error("only the page's admins post as the page")]
    PageAdminsOnly,
    #[error("posts of private and secret groups cannot be shared")]
    Unshareable,
    /// A delete that lost every retry to concurrent comments or reactions.
    #[error("the post kept changing while it was deleted; try again")]
    KeptChanging,
    /// Text a keyword rule of `block` action matched.
    #[error("text: contains “{phrase}”, which this platform does not allow (rule {rule_id})")]
    Blocked { phrase: String, rule_id: String },
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid(FieldError::new(field, message))
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Invalid(e)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use Error::*;
        match e {
            Invalid(field) => field.into(),
            PostNotFound | CommentNotFound | GroupNotFound | PageNotFound | UserNotFound
            | NoReaction => ApiError::NotFound(e.to_string()),
            NotPostAuthor | MayNotDeletePost | NotCommentAuthor | MayNotDeleteComment
            | MembersOnly | PageAdminsOnly | Unshareable => ApiError::Forbidden(e.to_string()),
            KeptChanging => ApiError::Conflict(e.to_string()),
            Blocked { phrase, rule_id } => ApiError::field(
                "text",
                format!("contains “{phrase}”, which this platform does not allow (rule {rule_id})"),
            ),
        }
    }
}
