//! Pure rules of groups and pages: who may see, join and manage what.

use serde::{Deserialize, Serialize};

use crate::platform::error::FieldError;
use crate::platform::text::clean_text;

use super::error::Error;

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
pub fn join(privacy: GroupPrivacy, invited: bool, banned: bool) -> Result<JoinOutcome, Error> {
    if banned {
        return Err(Error::Banned);
    }
    match (privacy, invited) {
        (_, true) | (GroupPrivacy::Public, _) => Ok(JoinOutcome::Joined),
        (GroupPrivacy::Private, false) => Ok(JoinOutcome::Requested),
        (GroupPrivacy::Secret, false) => Err(Error::GroupNotFound),
    }
}

/// Requires at least `needed` from the caller's role.
pub fn require(role: Option<GroupRole>, needed: GroupRole) -> Result<(), Error> {
    match role {
        Some(r) if r >= needed => Ok(()),
        _ => Err(Error::RoleNeeded(needed)),
    }
}

/// Moderators act on members; only admins act on moderators and admins.
pub fn outranks(actor: GroupRole, target: Option<GroupRole>) -> Result<(), Error> {
    match target {
        Some(t) if t >= actor && actor != GroupRole::Admin => Err(Error::Outranked),
        _ => Ok(()),
    }
}

/// Who invites: any member of a public or private group; moderators of a secret one.
pub fn may_invite(privacy: GroupPrivacy, role: Option<GroupRole>) -> Result<(), Error> {
    let needed = if privacy == GroupPrivacy::Secret {
        GroupRole::Moderator
    } else {
        GroupRole::Member
    };
    require(role, needed)
}

/// A name (1-100 characters) and description (at most 2,000) of a group or page; either
/// may be absent (a change that leaves it alone).
pub fn name_and_description(
    name: Option<&str>,
    description: Option<&str>,
) -> Result<(Option<String>, Option<String>), Error> {
    let mut errors = Vec::new();
    let name = name.and_then(|n| match clean_text("name", n, 100, false) {
        Ok(n) if n.is_empty() => {
            errors.push(FieldError::new("name", "must not be empty"));
            None
        }
        Ok(n) => Some(n),
        Err(e) => {
            errors.push(e);
            None
        }
    });
    let description = description.and_then(|d| {
        clean_text("description", d, 2_000, true)
            .map_err(|e| errors.push(e))
            .ok()
    });
    if errors.is_empty() {
        Ok((name, description))
    } else {
        Err(Error::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moderators_act_on_members_only() {
        use GroupRole::*;
        assert!(outranks(Moderator, Some(Member)).is_ok());
        assert!(matches!(
            outranks(Moderator, Some(Moderator)),
            Err(Error::Outranked)
        ));
        assert!(outranks(Admin, Some(Admin)).is_ok());
        assert!(may_invite(GroupPrivacy::Secret, Some(Member)).is_err());
        assert!(may_invite(GroupPrivacy::Private, Some(Member)).is_ok());
    }

    #[test]
    fn names_are_checked_together() {
        let Err(Error::Invalid(errors)) = name_and_description(Some(" "), Some("\u{202E}x")) else {
            panic!("both fields are bad");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "description"]);
    }

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
