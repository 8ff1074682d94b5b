//! The published language of users: events other contexts may consume.

use serde::{Deserialize, Serialize};

pub use super::domain::{MessagePolicy, Privacy};
use crate::platform::envelope::DomainEvent;

pub const CONTEXT: &str = "users";

/// A profile was created (from registration) or changed, privacy included.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProfileUpdated {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    /// Absent in events of before search.
    #[serde(default)]
    pub bio: String,
    pub privacy: Privacy,
    /// The owner's picture shown beside their name (a media id), if any. Absent in events
    /// of before avatars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_id: Option<String>,
    /// The wide picture atop the profile (a media id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_id: Option<String>,
}
impl DomainEvent for ProfileUpdated {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "ProfileUpdated";
    const PERSONAL: &'static [&'static str] = &["username", "display_name", "bio"];
    const SUBJECT: &'static str = "user_id";
}

/// `from` asked `to` for friendship (the request is pending).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FriendRequestSent {
    pub from: String,
    pub to: String,
}
impl DomainEvent for FriendRequestSent {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "FriendRequestSent";
}

/// Two users became friends (a request was accepted): `user_b` accepted `user_a`'s request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FriendshipCreated {
    pub user_a: String,
    pub user_b: String,
}
impl DomainEvent for FriendshipCreated {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "FriendshipCreated";
}

/// A friendship ended (unfriend or block).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FriendshipEnded {
    pub user_a: String,
    pub user_b: String,
}
impl DomainEvent for FriendshipEnded {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "FriendshipEnded";
}

/// `blocker` blocked `blocked`: each is hidden from the other.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserBlocked {
    pub blocker: String,
    pub blocked: String,
}
impl DomainEvent for UserBlocked {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "UserBlocked";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserUnblocked {
    pub blocker: String,
    pub blocked: String,
}
impl DomainEvent for UserUnblocked {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "UserUnblocked";
}

/// Asked for by a person (`POST /users/me/export`); every context writes its part.
pub use crate::platform::export::ExportRequested;

/// An export's archive is ready to download, until `expires_at`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExportReady {
    pub export_id: String,
    pub user_id: String,
    pub expires_at: i64,
}
impl DomainEvent for ExportReady {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "ExportReady";
}
