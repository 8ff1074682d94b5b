//! Pure rules of users: profiles, privacy and who may see or ask whom.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::{ApiError, FieldError};

use super::error::Error;

/// Who sees the full profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProfileVisibility {
    #[default]
    Public,
    Friends,
    OnlyMe,
}

/// Who may send a friend request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum RequestPolicy {
    #[default]
    Everyone,
    FriendsOfFriends,
    Nobody,
}

/// Who may start a conversation (enforced by the messages context).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum MessagePolicy {
    #[default]
    Everyone,
    Friends,
    Nobody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Privacy {
    pub profile: ProfileVisibility,
    pub friend_requests: RequestPolicy,
    pub messages: MessagePolicy,
    /// Whether search and username lookup by strangers find the profile.
    pub searchable: bool,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            profile: ProfileVisibility::Public,
            friend_requests: RequestPolicy::Everyone,
            messages: MessagePolicy::Everyone,
            searchable: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub location: String,
    pub website: String,
    pub privacy: Privacy,
    pub created_at: i64,
    /// The owner's picture shown beside their name: one of their uploads (a media id).
    #[serde(default)]
    pub avatar_id: Option<String>,
    /// The wide picture atop the profile: one of their uploads (a media id).
    #[serde(default)]
    pub cover_id: Option<String>,
}

impl Profile {
    pub fn new(id: &str, username: &str, created_at: i64) -> Self {
        Profile {
            id: id.into(),
            username: username.into(),
            display_name: username.into(),
            bio: String::new(),
            location: String::new(),
            website: String::new(),
            privacy: Privacy::default(),
            created_at,
            avatar_id: None,
            cover_id: None,
        }
    }
}

/// How the viewer stands to the profile's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// The viewer's own profile.
    Me,
    Friends,
    /// The viewer asked the owner.
    RequestSent,
    /// The owner asked the viewer.
    RequestReceived,
    None,
    /// No token: an anonymous viewer.
    Anonymous,
}

/// Whether the viewer may see more than the name.
pub fn sees_full_profile(privacy: &Privacy, relation: Relationship) -> bool {
    matches!(
        (privacy.profile, relation),
        (_, Relationship::Me)
            | (ProfileVisibility::Public, _)
            | (ProfileVisibility::Friends, Relationship::Friends)
    )
}

/// Whether the viewer may ask the owner for friendship.
pub fn may_request(policy: RequestPolicy, mutual_friends: usize) -> Result<(), Error> {
    match policy {
        RequestPolicy::Everyone => Ok(()),
        RequestPolicy::FriendsOfFriends if mutual_friends > 0 => Ok(()),
        RequestPolicy::FriendsOfFriends => Err(Error::FriendsOfFriendsOnly),
        RequestPolicy::Nobody => Err(Error::NoRequestsAccepted),
    }
}

/// The editable fields of a profile; absent fields stay, an empty string clears.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileFields {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub location: Option<String>,
    pub website: Option<String>,
    pub avatar_id: Option<String>,
    pub cover_id: Option<String>,
}

/// Checks every field of a profile change at once: a display name of 1 to 64 characters,
/// a bio of at most 500 (newlines allowed), a location of at most 100, an http(s) website,
/// media ids for the avatar and cover (whose uploads the caller checks against media's).
pub fn clean_profile(fields: ProfileFields) -> Result<ProfileFields, Error> {
    let nothing = fields.display_name.is_none()
        && fields.bio.is_none()
        && fields.location.is_none()
        && fields.website.is_none()
        && fields.avatar_id.is_none()
        && fields.cover_id.is_none();
    if nothing {
        return Err(Error::Invalid(vec![FieldError::new(
            "body",
            "give at least one of display_name, bio, location, website, avatar_id, cover_id",
        )]));
    }
    let mut errors = Vec::<FieldError>::new();
    let mut check = |r: Result<String, FieldError>| match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let display_name = fields.display_name.and_then(|v| {
        check(clean_text("display_name", &v, 64, false).and_then(|v| {
            if v.is_empty() {
                Err(FieldError::new("display_name", "must not be empty"))
            } else {
                Ok(v)
            }
        }))
    });
    let bio = fields
        .bio
        .and_then(|v| check(clean_text("bio", &v, 500, true)));
    let location = fields
        .location
        .and_then(|v| check(clean_text("location", &v, 100, false)));
    let website = fields.website.and_then(|v| check(clean_website(&v)));
    let avatar_id = fields
        .avatar_id
        .and_then(|v| check(clean_picture_id("avatar_id", &v)));
    let cover_id = fields
        .cover_id
        .and_then(|v| check(clean_picture_id("cover_id", &v)));
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(ProfileFields {
        display_name,
        bio,
        location,
        website,
        avatar_id,
        cover_id,
    })
}

/// A media id (canonical), or empty (no picture).
fn clean_picture_id(field: &str, value: &str) -> Result<String, FieldError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    ulid::Ulid::from_string(value)
        .map(|u| u.to_string())
        .map_err(|_| FieldError::new(field, format!("no media {value} of yours")))
}

/// Whether an upload of this kind may be an avatar or a cover: a picture (animated GIFs
/// too, as Mastodon allows), not a video.
pub fn profile_picture(field: &str, kind: crate::media::events::Kind) -> Result<(), Error> {
    if kind == crate::media::events::Kind::Video {
        return Err(Error::invalid(
            field,
            "must be a picture (JPEG, PNG, WebP or GIF), not a video",
        ));
    }
    Ok(())
}

pub use crate::platform::text::clean_text;

/// An `http(s)` URL or empty.
pub fn clean_website(value: &str) -> Result<String, FieldError> {
    let value = clean_text("website", value, 200, false)?;
    if value.is_empty() || value.starts_with("https://") || value.starts_with("http://") {
        Ok(value)
    } else {
        Err(FieldError::new(
            "website",
            "must start with https:// or http://",
        ))
    }
}

/// The id in a path: a ULID, or a 404 (unknown ids are not found, not malformed).
pub fn parse_user_id(id: &str) -> Result<String, ApiError> {
    crate::platform::http::path_id(id, "user")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privacy_decides_who_sees_the_full_profile() {
        let friends_only = Privacy {
            profile: ProfileVisibility::Friends,
            ..Privacy::default()
        };
        assert!(sees_full_profile(&friends_only, Relationship::Friends));
        assert!(sees_full_profile(&friends_only, Relationship::Me));
        assert!(!sees_full_profile(&friends_only, Relationship::None));
        assert!(!sees_full_profile(&friends_only, Relationship::Anonymous));
        let only_me = Privacy {
            profile: ProfileVisibility::OnlyMe,
            ..Privacy::default()
        };
        assert!(!sees_full_profile(&only_me, Relationship::Friends));
        assert!(sees_full_profile(
            &Privacy::default(),
            Relationship::Anonymous
        ));
    }

    #[test]
    fn request_policy_needs_a_mutual_friend_for_friends_of_friends() {
        assert!(may_request(RequestPolicy::Everyone, 0).is_ok());
        assert!(may_request(RequestPolicy::FriendsOfFriends, 0).is_err());
        assert!(may_request(RequestPolicy::FriendsOfFriends, 1).is_ok());
        assert!(may_request(RequestPolicy::Nobody, 5).is_err());
    }

    #[test]
    fn odd_text_is_refused() {
        assert_eq!(clean_text("bio", "  hi 👋 ", 10, false).unwrap(), "hi 👋");
        assert!(clean_text("bio", "a\u{202E}b", 10, false).is_err());
        assert!(clean_text("bio", "a\u{0}b", 10, false).is_err());
        assert!(clean_text("bio", "a\nb", 10, false).is_err());
        assert!(clean_text("bio", "a\nb", 10, true).is_ok());
        assert!(clean_text("bio", &"é".repeat(11), 10, false).is_err());
        assert!(clean_website("javascript:alert(1)").is_err());
    }

    #[test]
    fn a_profile_change_names_every_bad_field() {
        let change = ProfileFields {
            display_name: Some("  ".into()),
            website: Some("ftp://x".into()),
            bio: Some("fine".into()),
            ..Default::default()
        };
        let Err(Error::Invalid(errors)) = clean_profile(change) else {
            panic!("two fields are bad");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["display_name", "website"]);
    }

    #[test]
    fn pictures_are_named_by_media_id_or_cleared_with_an_empty_string() {
        let id = ulid::Ulid::generate().to_string();
        let change = ProfileFields {
            avatar_id: Some(id.to_lowercase()),
            cover_id: Some(String::new()),
            ..Default::default()
        };
        let clean = clean_profile(change).unwrap();
        assert_eq!(clean.avatar_id, Some(id), "ids are canonical");
        assert_eq!(clean.cover_id, Some(String::new()));
        let bad = ProfileFields {
            avatar_id: Some("../etc/passwd".into()),
            ..Default::default()
        };
        assert!(matches!(clean_profile(bad), Err(Error::Invalid(e)) if e[0].field == "avatar_id"));
        use crate::media::events::Kind;
        assert!(profile_picture("avatar_id", Kind::Gif).is_ok());
        assert!(profile_picture("cover_id", Kind::Video).is_err());
    }
}
