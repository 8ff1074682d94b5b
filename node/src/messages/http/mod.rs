//! The HTTP API of messages, by resource: [`conversations`] (starting, listing, members,
//! preferences) and [`chat`] (messages, reactions, read state). A conversation is 404 to
//! whoever is not a member.

mod chat;
mod conversations;
mod presence;

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::{delete, get, patch, post, put};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{path_id, rfc3339};
use crate::posts::events::ReactionKind;

use super::MessagesState;
use super::domain::{self, Conversation, ConversationKind, MemberRole, Message};
use super::error::Error;
use super::storage;

pub fn routes(state: MessagesState) -> Router {
    Router::new()
        .route(
            "/api/v1/conversations",
            get(conversations::list_conversations).post(conversations::start_conversation),
        )
        .route("/api/v1/conversations/unread", get(conversations::unread))
        .route("/api/v1/conversations/updates", get(chat::updates))
        .route("/api/v1/conversations/presence", post(presence::heartbeat))
        .route(
            "/api/v1/conversations/presence/{connection}",
            delete(presence::disconnect),
        )
        .route(
            "/api/v1/conversations/preferences",
            get(conversations::get_preferences).put(conversations::set_preferences),
        )
        .route(
            "/api/v1/conversations/{id}",
            get(conversations::get_conversation).patch(conversations::rename_conversation),
        )
        .route(
            "/api/v1/conversations/{id}/members",
            post(conversations::add_members),
        )
        .route(
            "/api/v1/conversations/{id}/members/{user}",
            delete(conversations::remove_member),
        )
        .route(
            "/api/v1/conversations/{id}/messages",
            get(chat::list_messages).post(chat::send_message),
        )
        .route(
            "/api/v1/conversations/{id}/messages/{message}",
            patch(chat::edit_message).delete(chat::delete_message),
        )
        .route(
            "/api/v1/conversations/{id}/messages/{message}/reactions",
            put(chat::react).delete(chat::unreact),
        )
        .route("/api/v1/conversations/{id}/read", post(chat::mark_read))
        .route("/api/v1/conversations/{id}/typing", post(chat::typing))
        .with_state(state)
}

/// A member as another member sees them.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    user_id: String,
    /// Group conversations only.
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<MemberRole>,
    /// The newest message they read: present when both they and the viewer share read
    /// receipts (and always for the viewer's own entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_read: Option<String>,
    /// Online, or when last seen: present when both they and the viewer share presence.
    #[serde(skip_serializing_if = "Option::is_none")]
    presence: Option<PresenceView>,
}

#[derive(Serialize, ToSchema)]
pub struct PresenceView {
    online: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen: Option<String>,
}

/// A conversation as one member sees it.
#[derive(Serialize, ToSchema)]
pub struct ConversationView {
    id: String,
    kind: ConversationKind,
    /// Group conversations only.
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    members: Vec<MemberView>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_message: Option<MessageView>,
    /// Messages of others after the viewer's last read one.
    unread_count: u64,
}

/// A message as one member sees it.
#[derive(Serialize, ToSchema)]
pub struct MessageView {
    id: String,
    conversation_id: String,
    sender_id: String,
    /// Empty when deleted.
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    media_ids: Vec<String>,
    /// The attached media that still exists, drawn for the members: URLs signed for them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    media: Vec<crate::media::events::Attachment>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    edited_at: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
    /// Removed by a moderator: blank for everyone while the removal holds.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    removed: bool,
    /// Counts per reaction kind.
    reactions: BTreeMap<ReactionKind, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    my_reaction: Option<ReactionKind>,
}

fn message_view(s: &MessagesState, m: Message, viewer: &str) -> ApiResult<MessageView> {
    let mut reactions = BTreeMap::new();
    for kind in m.reactions.values() {
        *reactions.entry(*kind).or_insert(0) += 1;
    }
    let now = crate::platform::unix_now();
    let media = storage::media::attachments(&s.store, &m.media_ids)?
        .iter()
        .map(|a| a.attachment(&s.urls, now))
        .collect();
    Ok(MessageView {
        media,
        my_reaction: m.reactions.get(viewer).copied(),
        id: m.id,
        conversation_id: m.conversation_id,
        sender_id: m.sender_id,
        text: m.text,
        reply_to: m.reply_to,
        media_ids: m.media_ids,
        created_at: rfc3339(m.created_at),
        edited_at: m.edited_at.map(rfc3339),
        deleted: m.deleted,
        removed: m.removed,
        reactions,
    })
}

fn conversation_view(
    s: &MessagesState,
    c: Conversation,
    viewer: &str,
) -> ApiResult<ConversationView> {
    let mine = storage::preferences(&s.store, viewer)?;
    let now = crate::platform::unix_now();
    let mut members = Vec::new();
    for (user_id, m) in &c.members {
        let theirs = storage::preferences(&s.store, user_id)?;
        let visible =
            user_id == viewer || domain::sees_receipt(mine.read_receipts, theirs.read_receipts);
        let presence = if mine.presence && theirs.presence {
            Some(PresenceView {
                online: storage::online(&s.store, user_id, now)?,
                last_seen: storage::last_seen(&s.store, user_id)?.map(rfc3339),
            })
        } else {
            None
        };
        members.push(MemberView {
            user_id: user_id.clone(),
            role: (c.kind == ConversationKind::Group).then_some(m.role),
            last_read: m.last_read.clone().filter(|_| visible),
            presence,
        });
    }
    let last_message = match &c.last_message {
        Some(id) => storage::message(&s.store, &c.id, id)?
            .map(|m| message_view(s, m, viewer))
            .transpose()?,
        None => None,
    };
    Ok(ConversationView {
        unread_count: storage::unread(&s.store, viewer, &c.id)?,
        id: c.id,
        kind: c.kind,
        title: c.title,
        members,
        created_at: rfc3339(c.created_at),
        last_message,
    })
}

/// The conversation, if `viewer` is a member; 404 otherwise (as if it did not exist).
fn member_of(s: &MessagesState, id: &str, viewer: &str) -> ApiResult<Conversation> {
    let c = storage::conversation(&s.store, &path_id(id, "conversation")?)?
        .filter(|c| c.is_member(viewer))
        .ok_or(Error::ConversationNotFound)?;
    Ok(c)
}

/// The messages part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    conversations::start_conversation,
    conversations::list_conversations,
    conversations::unread,
    conversations::get_preferences,
    conversations::set_preferences,
    conversations::get_conversation,
    conversations::rename_conversation,
    conversations::add_members,
    conversations::remove_member,
    chat::list_messages,
    chat::send_message,
    chat::edit_message,
    chat::delete_message,
    chat::react,
    chat::unreact,
    chat::mark_read,
    chat::typing,
    chat::updates,
    presence::heartbeat,
    presence::disconnect
))]
pub struct MessagesApi;
