//! What can go wrong in groups and pages, in their own words; mapped onto the problem
//! table once, here.

use crate::platform::error::{ApiError, FieldError};

use super::events::GroupRole;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Also what an outsider gets for a secret group.
    #[error("no such group")]
    GroupNotFound,
    #[error("no such page")]
    PageNotFound,
    #[error("no such user")]
    UserNotFound,
    #[error("you are not a member of this group")]
    NotAMember,
    #[error("no pending request from this user")]
    NoRequest,
    #[error("nothing pending for this user")]
    NothingPending,
    #[error("you do not follow this page")]
    NotFollowing,
    #[error("you are banned from this group")]
    Banned,
    #[error("this user is banned from the group")]
    UserBanned,
    #[error("this needs the group {} role", format!("{:?}", .0).to_lowercase())]
    RoleNeeded(GroupRole),
    #[error("you cannot act on a member of your rank or above")]
    Outranked,
    #[error("only members see who is in this group")]
    MembersOnly,
    #[error("only the page's admins may do this")]
    PageAdminsOnly,
    #[error("you cannot ban yourself")]
    BanYourself,
    #[error("already a member")]
    AlreadyMember,
    #[error("already pending")]
    AlreadyPending,
    #[error("already an admin of this page")]
    AlreadyPageAdmin,
    #[error("you already follow this page")]
    AlreadyFollowing,
    #[error("the last admin cannot leave; make another member admin first")]
    LastAdmin,
    #[error("{}", crate::platform::error::describe(.0))]
    Invalid(Vec<FieldError>),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use Error::*;
        match e {
            Invalid(errors) => errors.into(),
            GroupNotFound | PageNotFound | UserNotFound | NotAMember | NoRequest
            | NothingPending | NotFollowing => ApiError::NotFound(e.to_string()),
            Banned | UserBanned | RoleNeeded(_) | Outranked | MembersOnly | PageAdminsOnly => {
                ApiError::Forbidden(e.to_string())
            }
            BanYourself => ApiError::BadRequest(e.to_string()),
            AlreadyMember | AlreadyPending | AlreadyPageAdmin | AlreadyFollowing | LastAdmin => {
                ApiError::Conflict(e.to_string())
            }
        }
    }
}
