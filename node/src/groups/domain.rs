//! Pure rules of groups and pages: who may see, join and manage what.

use serde::{Deserialize, Serialize};

use crate::platform::error::ApiError;

pub use super::events::{GroupPrivacy, GroupRole};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    pub privacy: GroupPrivacy,
    pub created_by: String,
    pub created_at: i64,
    pub member_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_by: String,
    pub created_at: i64,
    pub follower_count: u64,
}

/// Whether a viewer with this membership may see the group at all.
pub fn group_visible(privacy: GroupPrivacy, role: Option<GroupRole>, invited: bool) -> bool {
    privacy != GroupPrivacy::Secret || role.is_some() || invited
}

/// Whether a viewer may see the group's members and content.
pub fn content_visible(privacy: GroupPrivacy, role: Option<GroupRole>) -> bool {
    privacy == GroupPrivacy::Public || role.is_some()
}

/// What asking to join does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined,
    Requested,
}

/// The effect of a join request, given the group and the asker's standing.
pub fn join(privacy: GroupPrivacy, invited: bool, banned: bool) -> Result<JoinOutcome, ApiError> {
    if banned {
        return Err(ApiError::Forbidden("you are banned from this group".into()));
    }
    match (privacy, invited) {
        (_, true) | (GroupPrivacy::Public, _) => Ok(JoinOutcome::Joined),
        (GroupPrivacy::Private, false) => Ok(JoinOutcome::Requested),
        (GroupPrivacy::Secret, false) => Err(ApiError::NotFound("no such group".into())),
    }
}

/// Requires at least `needed` from the caller's role.
pub fn require(role: Option<GroupRole>, needed: GroupRole) -> Result<(), ApiError> {
    match role {
        Some(r) if r >= needed => Ok(()),
        _ => Err(ApiError::Forbidden(format!(
            "this needs the group {} role",
            format!("{needed:?}").to_lowercase()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_groups_are_invisible_to_non_members_and_need_an_invitation() {
        assert!(!group_visible(GroupPrivacy::Secret, None, false));
        assert!(group_visible(GroupPrivacy::Secret, None, true));
        assert!(group_visible(GroupPrivacy::Private, None, false));
        assert!(!content_visible(GroupPrivacy::Private, None));
        assert!(content_visible(
            GroupPrivacy::Private,
            Some(GroupRole::Member)
        ));
        assert!(join(GroupPrivacy::Secret, false, false).is_err());
        assert_eq!(
            join(GroupPrivacy::Secret, true, false).unwrap(),
            JoinOutcome::Joined
        );
        assert_eq!(
            join(GroupPrivacy::Private, false, false).unwrap(),
            JoinOutcome::Requested
        );
        assert_eq!(
            join(GroupPrivacy::Public, false, false).unwrap(),
            JoinOutcome::Joined
        );
        assert!(join(GroupPrivacy::Public, false, true).is_err());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(require(Some(GroupRole::Admin), GroupRole::Moderator).is_ok());
        assert!(require(Some(GroupRole::Member), GroupRole::Moderator).is_err());
        assert!(require(None, GroupRole::Member).is_err());
    }
}
