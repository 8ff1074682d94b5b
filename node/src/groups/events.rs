//! The published language of groups: events other contexts may consume.

use serde::{Deserialize, Serialize};

use crate::platform::envelope::DomainEvent;
use utoipa::ToSchema;

pub const CONTEXT: &str = "groups";

/// Who sees a group and its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupPrivacy {
    /// Anyone sees the group, its members and its posts; anyone may join.
    Public,
    /// Anyone sees the group's name; content is for members; joining needs approval.
    Private,
    /// Invisible to non-members (404); joining only by invitation.
    Secret,
}

/// A member's role in a group, from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    Member,
    Moderator,
    Admin,
}

/// `invited_by` invited `user_id` to a group (pending until they join).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupInvitationSent {
    pub group_id: String,
    pub user_id: String,
    pub invited_by: String,
}
impl DomainEvent for GroupInvitationSent {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "GroupInvitationSent";
}

/// `user_id` asked to join a private group (pending until a moderator decides).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JoinRequested {
    pub group_id: String,
    pub user_id: String,
}
impl DomainEvent for JoinRequested {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "JoinRequested";
}

/// A group exists, or its name or privacy changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupUpdated {
    pub group_id: String,
    pub name: String,
    pub privacy: GroupPrivacy,
}
impl DomainEvent for GroupUpdated {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "GroupUpdated";
}

/// A group was deleted; its members are gone with it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupDeleted {
    pub group_id: String,
}
impl DomainEvent for GroupDeleted {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "GroupDeleted";
}

/// Someone became a member, or a member's role changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberJoined {
    pub group_id: String,
    pub user_id: String,
    pub role: GroupRole,
}
impl DomainEvent for MemberJoined {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MemberJoined";
}

/// A member left, was removed or was banned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberLeft {
    pub group_id: String,
    pub user_id: String,
}
impl DomainEvent for MemberLeft {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MemberLeft";
}

/// A page exists, or its name changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PageUpdated {
    pub page_id: String,
    pub name: String,
}
impl DomainEvent for PageUpdated {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "PageUpdated";
}

/// A user may now act (and post) as the page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PageAdminAdded {
    pub page_id: String,
    pub user_id: String,
}
impl DomainEvent for PageAdminAdded {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "PageAdminAdded";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PageFollowed {
    pub page_id: String,
    pub user_id: String,
}
impl DomainEvent for PageFollowed {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "PageFollowed";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PageUnfollowed {
    pub page_id: String,
    pub user_id: String,
}
impl DomainEvent for PageUnfollowed {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "PageUnfollowed";
}
