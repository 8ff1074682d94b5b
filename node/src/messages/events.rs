//! The published language of messages: events other contexts may consume. Message text is
//! not in any event: the stream is the audit log, kept long, and private messages stay in
//! the messages context's store (see docs/architecture.md, "Rebuilding from the stream").

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::envelope::DomainEvent;

pub const CONTEXT: &str = "messages";

/// Direct (two people) or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}

/// A conversation began with these members.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConversationCreated {
    pub conversation_id: String,
    pub kind: ConversationKind,
    pub members: Vec<String>,
}
impl DomainEvent for ConversationCreated {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "ConversationCreated";
}

/// Members were added to a group conversation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MembersAdded {
    pub conversation_id: String,
    pub user_ids: Vec<String>,
    pub added_by: String,
}
impl DomainEvent for MembersAdded {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MembersAdded";
}

/// A member left a group conversation, or was removed (`removed_by` another member).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberLeft {
    pub conversation_id: String,
    pub user_id: String,
    pub removed_by: Option<String>,
}
impl DomainEvent for MemberLeft {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MemberLeft";
}

/// A message was sent; `recipients` are the other members at that moment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageSent {
    pub conversation_id: String,
    pub message_id: String,
    pub sender_id: String,
    pub recipients: Vec<String>,
    pub reply_to: Option<String>,
    /// The recipients with no live connection when it was sent (no push reached them):
    /// the ones to notify. Absent in events written before it existed.
    #[serde(default)]
    pub unreached: Vec<String>,
    /// The sender's media the message shows (media keeps them while it does). Absent in
    /// events written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_ids: Vec<String>,
}
impl DomainEvent for MessageSent {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MessageSent";
}

/// A message's text changed (by its sender, within the edit window).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageEdited {
    pub conversation_id: String,
    pub message_id: String,
}
impl DomainEvent for MessageEdited {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MessageEdited";
}

/// A message was deleted for everyone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageDeleted {
    pub conversation_id: String,
    pub message_id: String,
}
impl DomainEvent for MessageDeleted {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MessageDeleted";
}

/// A member read a conversation up to a message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConversationRead {
    pub conversation_id: String,
    pub user_id: String,
    pub up_to: String,
}
impl DomainEvent for ConversationRead {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "ConversationRead";
}
