//! The published language of posts: events other contexts (feed, search, notifications)
//! consume.

use serde::{Deserialize, Serialize};

use super::domain::{Audience, ReactionKind, Visibility};
use crate::platform::envelope::DomainEvent;

pub const CONTEXT: &str = "posts";

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
}
impl DomainEvent for PostCreated {
    const TYPE: &'static str = "PostCreated";
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
}
impl DomainEvent for PostEdited {
    const TYPE: &'static str = "PostEdited";
}

/// A post was deleted (by its author, a page admin or a group moderator).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostDeleted {
    pub post_id: String,
    pub author_id: String,
}
impl DomainEvent for PostDeleted {
    const TYPE: &'static str = "PostDeleted";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommentAdded {
    pub post_id: String,
    pub comment_id: String,
    pub author_id: String,
    pub post_author_id: String,
    pub parent_id: Option<String>,
}
impl DomainEvent for CommentAdded {
    const TYPE: &'static str = "CommentAdded";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommentDeleted {
    pub post_id: String,
    pub comment_id: String,
}
impl DomainEvent for CommentDeleted {
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
}
impl DomainEvent for ReactionSet {
    const TYPE: &'static str = "ReactionSet";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReactionRemoved {
    pub post_id: String,
    pub target_id: String,
    pub user_id: String,
}
impl DomainEvent for ReactionRemoved {
    const TYPE: &'static str = "ReactionRemoved";
}
