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

/// What a context that shows people beside what they wrote keeps of each profile (from
/// [`ProfileUpdated`]): their name and picture are public, never behind privacy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Byline {
    pub username: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_id: Option<String>,
}

impl From<&ProfileUpdated> for Byline {
    fn from(p: &ProfileUpdated) -> Self {
        Byline {
            username: p.username.clone(),
            display_name: p.display_name.clone(),
            avatar_id: p.avatar_id.clone(),
        }
    }
}

impl Byline {
    /// The card of `id`, the avatar's URL signed with `urls`.
    pub fn author(
        self,
        id: &str,
        urls: &crate::platform::media_urls::MediaUrls,
        now: i64,
    ) -> Author {
        Author {
            id: id.to_string(),
            avatar_url: self
                .avatar_id
                .map(|media| urls.url(&media, "thumbnails/small", now)),
            username: self.username,
            display_name: self.display_name,
        }
    }
}

/// Who wrote a post, as a feed or timeline item shows them, so an app draws the item
/// without asking for the profile.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Author {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// The avatar's small thumbnail (fits 320 × 320), signed; valid one to two hours.
    /// Absent without an avatar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
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
