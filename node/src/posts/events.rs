//! The published language of posts: events other contexts (feed, search, notifications)
//! consume.

use serde::{Deserialize, Serialize};

use crate::platform::envelope::DomainEvent;
use utoipa::ToSchema;

pub const CONTEXT: &str = "posts";

/// Who may read a post on a profile. Group and page posts follow the group or page.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Narrowest first: the order is "how few people".
    OnlyMe,
    Friends,
    FriendsOfFriends,
    #[default]
    Public,
}

/// Where a post was published.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Audience {
    /// The author's own profile.
    #[default]
    Profile,
    Group {
        id: String,
    },
    /// Posted as the page (by one of its admins).
    Page {
        id: String,
    },
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReactionKind {
    Like,
    Love,
    Haha,
    Wow,
    Sad,
    Angry,
}

/// `Audience` in storage as `p`, `g:<id>` or `a:<id>`: decoding the API's internally tagged
/// form buffers every value first, and timelines decode many posts per read.
pub mod stored_audience {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Audience;

    pub fn serialize<S: Serializer>(audience: &Audience, s: S) -> Result<S::Ok, S::Error> {
        match audience {
            Audience::Profile => s.serialize_str("p"),
            Audience::Group { id } => s.serialize_str(&format!("g:{id}")),
            Audience::Page { id } => s.serialize_str(&format!("a:{id}")),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Audience, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        match s.split_once(':') {
            None if s == "p" => Ok(Audience::Profile),
            Some(("g", id)) => Ok(Audience::Group { id: id.to_string() }),
            Some(("a", id)) => Ok(Audience::Page { id: id.to_string() }),
            _ => Err(serde::de::Error::custom(format!(
                "not a stored audience: {s:?}"
            ))),
        }
    }
}

/// A post (or a share: `shared_post` set) was published.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostCreated {
    pub post_id: String,
    pub author_id: String,
    pub audience: Audience,
    pub visibility: Visibility,
    pub text: String,
    /// Unix seconds.
    pub created_at: i64,
    pub hashtags: Vec<String>,
    /// Mentioned user ids.
    pub mentions: Vec<String>,
    pub shared_post: Option<String>,
    /// The attached media, as media published them (absent in events of before media).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<crate::media::events::MediaUploaded>,
    /// Keyword rules of `flag` action the text matched (moderation opens a report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flagged: Vec<String>,
}
impl DomainEvent for PostCreated {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "PostCreated";
    const PERSONAL: &'static [&'static str] = &["text", "hashtags", "mentions", "media"];
    const SUBJECT: &'static str = "author_id";
}

/// A post's text or visibility changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostEdited {
    pub post_id: String,
    pub author_id: String,
    pub visibility: Visibility,
    pub text: String,
    pub hashtags: Vec<String>,
    pub mentions: Vec<String>,
    /// Keyword rules of `flag` action the new text matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flagged: Vec<String>,
}
impl DomainEvent for PostEdited {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "PostEdited";
    const PERSONAL: &'static [&'static str] = &["text", "hashtags", "mentions"];
    const SUBJECT: &'static str = "author_id";
}

/// A post was deleted (by its author, a page admin or a group moderator).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostDeleted {
    pub post_id: String,
    pub author_id: String,
}
impl DomainEvent for PostDeleted {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "PostDeleted";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommentAdded {
    pub post_id: String,
    pub comment_id: String,
    pub author_id: String,
    pub post_author_id: String,
    pub parent_id: Option<String>,
    /// Keyword rules of `flag` action the comment matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flagged: Vec<String>,
    /// The author's media the comment shows (media keeps them while it does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_ids: Vec<String>,
}
impl DomainEvent for CommentAdded {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "CommentAdded";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommentDeleted {
    pub post_id: String,
    pub comment_id: String,
}
impl DomainEvent for CommentDeleted {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "CommentDeleted";
}

/// A user's reaction to a post or comment (`target_id`) was set or changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReactionSet {
    pub post_id: String,
    pub target_id: String,
    pub user_id: String,
    pub post_author_id: String,
    pub kind: ReactionKind,
    /// The reaction it replaced (counts move from it), absent for a first reaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ReactionKind>,
}
impl DomainEvent for ReactionSet {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "ReactionSet";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReactionRemoved {
    pub post_id: String,
    pub target_id: String,
    pub user_id: String,
    /// The reaction taken back (absent in events written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ReactionKind>,
}
impl DomainEvent for ReactionRemoved {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "ReactionRemoved";
}

/// Posts signed-in readers opened (`GET /posts/{id}`) over about a second.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostsOpened {
    pub views: Vec<crate::platform::views::View>,
}
impl DomainEvent for PostsOpened {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "PostsOpened";
}

impl From<crate::platform::views::ViewBatch> for PostsOpened {
    fn from(b: crate::platform::views::ViewBatch) -> Self {
        PostsOpened { views: b.views }
    }
}
