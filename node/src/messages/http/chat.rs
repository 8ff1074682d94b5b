//! Messages in a conversation: read, send (idempotently), edit, delete for everyone,
//! react, and mark read.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Page, PageParams, Query, ResumeParams, path_id};
use crate::platform::push::PushEvent;
use crate::platform::tokens::AuthUser;
use crate::platform::unix_now;
use crate::posts::events::ReactionKind;

use super::super::MessagesState;
use super::super::domain::{self, Conversation, ConversationKind, Message};
use super::super::error::Error;
use super::super::storage;
use super::{MessageView, member_of, message_view};

/// Messages of a conversation, newest first. New messages never shift later pages.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "messages", params(("id" = String, Path), PageParams),
    responses((status = 200, body = Page<MessageView>), (status = 404)), security(("bearer" = [])))]
pub(super) async fn list_messages(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<MessageView>>> {
    let c = member_of(&s, &id, user.id())?;
    let limit = page.limit()?;
    let rows = storage::messages(&s.store, &c.id, page.cursor_id()?.as_deref(), limit + 1)?;
    let page = Page::from_rows(
        rows,
        limit,
        |m| m.id.clone(),
        |m| message_view(&s, m, user.id()).map(Some),
    )?;
    Ok(Json(page))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "See you at eight?"}))]
pub struct NewMessage {
    /// At most 4,000 characters; may be empty when `media_ids` is not.
    #[serde(default)]
    text: String,
    /// A message of this conversation this one answers.
    reply_to: Option<String>,
    /// Up to 10 of the sender's uploads (`POST /media`), shown in this order.
    #[serde(default)]
    media_ids: Vec<String>,
}

/// In a direct conversation, every send is checked again: a block or a privacy change
/// since it began stops new messages (the history stays readable).
fn may_send(s: &MessagesState, c: &Conversation, sender: &str) -> ApiResult<()> {
    if c.kind == ConversationKind::Direct {
        for other in c.others(sender) {
            domain::may_message(storage::standing(&s.store, sender, &other)?)?;
        }
    }
    Ok(())
}

/// How long a send waits for media it names that this context has not heard of yet (an
/// upload answered a moment ago).
const MEDIA_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The sender's media named by `ids`, checked: at most [`domain::MEDIA_MAX`], each once,
/// each an upload of theirs (another's is as unknown as one that does not exist).
async fn attached_media(
    s: &MessagesState,
    sender: &str,
    ids: Vec<String>,
) -> ApiResult<Vec<String>> {
    if ids.len() > domain::MEDIA_MAX {
        return Err(Error::invalid("media_ids", format!("at most {}", domain::MEDIA_MAX)).into());
    }
    let mut found: Vec<String> = Vec::with_capacity(ids.len());
    // One wait for the whole list, not one per id.
    let until = tokio::time::Instant::now() + MEDIA_WAIT;
    for id in ids {
        let unknown = || Error::invalid("media_ids", format!("no media {id} of yours"));
        let id = ulid::Ulid::from_string(&id)
            .map_err(|_| unknown())?
            .to_string();
        if found.contains(&id) {
            return Err(Error::invalid("media_ids", format!("{id} is named twice")).into());
        }
        storage::media::owned_media(&s.store, &id, sender, until)
            .await?
            .ok_or_else(unknown)?;
        found.push(id);
    }
    Ok(found)
}

/// Sends a message. With an `Idempotency-Key` header, a retried send returns the first
/// message (200) instead of sending it twice.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "messages",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "1-64 visible ASCII characters; a retry with the same key returns the first message")),
    request_body = NewMessage,
    responses((status = 201, body = MessageView), (status = 200, description = "a retry: the message its key already sent", body = MessageView),
        (status = 403, description = "a block or their privacy"), (status = 404), (status = 422)), security(("bearer" = [])))]
pub(super) async fn send_message(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(req): Json<NewMessage>,
) -> ApiResult<impl IntoResponse> {
    let c = member_of(&s, &id, user.id())?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(domain::idempotency_key(v.to_str().unwrap_or(""))?),
        None => None,
    };
    let text = domain::message_text(&req.text, !req.media_ids.is_empty())?;
    let reply_to = req
        .reply_to
        .as_deref()
        .map(|r| {
            ulid::Ulid::from_string(r)
                .map(|u| u.to_string())
                .map_err(|_| Error::invalid("reply_to", "no such message in this conversation"))
        })
        .transpose()?;
    let media_ids = attached_media(&s, user.id(), req.media_ids).await?;
    may_send(&s, &c, user.id())?;
    let message = Message {
        id: crate::platform::new_id(),
        conversation_id: c.id.clone(),
        sender_id: user.id().into(),
        text,
        reply_to,
        media_ids,
        created_at: unix_now(),
        edited_at: None,
        deleted: false,
        reactions: BTreeMap::new(),
        removed: false,
    };
    let (message, created) = storage::send(&s.store, &message, key.as_deref()).await?;
    let status = if created {
        let event = PushEvent::new(
            &message.id,
            "message.created",
            message_view(&s, message.clone(), "")?,
        );
        s.push
            .send(&c.members.keys().cloned().collect::<Vec<_>>(), &event);
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message_view(&s, message, user.id())?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "See you at eight, not seven."}))]
pub struct MessageChange {
    text: String,
}

/// Edits a message (its sender, within 15 minutes of sending).
#[utoipa::path(patch, path = "/api/v1/conversations/{id}/messages/{message}", tag = "messages", params(("id" = String, Path), ("message" = String, Path)),
    request_body = MessageChange,
    responses((status = 200, body = MessageView), (status = 403, description = "not the sender, or the window is over"), (status = 404), (status = 409, description = "deleted")), security(("bearer" = [])))]
pub(super) async fn edit_message(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path((id, message)): Path<(String, String)>,
    Json(req): Json<MessageChange>,
) -> ApiResult<Json<MessageView>> {
    let c = member_of(&s, &id, user.id())?;
    let message = path_id(&message, "message")?;
    let current = storage::message(&s.store, &c.id, &message)?.ok_or(Error::MessageNotFound)?;
    let text = domain::message_text(&req.text, !current.media_ids.is_empty())?;
    let m = storage::edit(&s.store, user.id(), &c.id, &message, &text, unix_now()).await?;
    updated(&s, &c, &m)?;
    Ok(Json(message_view(&s, m, user.id())?))
}

/// Deletes a message for everyone (its sender, within 48 hours of sending). A tombstone
/// stays in its place.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/messages/{message}", tag = "messages", params(("id" = String, Path), ("message" = String, Path)),
    responses((status = 204), (status = 403, description = "not the sender, or the window is over"), (status = 404)), security(("bearer" = [])))]
pub(super) async fn delete_message(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path((id, message)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let c = member_of(&s, &id, user.id())?;
    let message = path_id(&message, "message")?;
    storage::delete(&s.store, user.id(), &c.id, &message, unix_now()).await?;
    let gone = serde_json::json!({"conversation_id": c.id, "message_id": message});
    s.push.send(
        &members(&c),
        &PushEvent::new(crate::platform::new_id(), "message.deleted", gone),
    );
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "love"}))]
pub struct MessageReaction {
    kind: ReactionKind,
}

/// Sets or changes the caller's reaction to a message (one per member).
#[utoipa::path(put, path = "/api/v1/conversations/{id}/messages/{message}/reactions", tag = "messages", params(("id" = String, Path), ("message" = String, Path)),
    request_body = MessageReaction, responses((status = 200, body = MessageView), (status = 404), (status = 409, description = "deleted")), security(("bearer" = [])))]
pub(super) async fn react(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path((id, message)): Path<(String, String)>,
    Json(req): Json<MessageReaction>,
) -> ApiResult<Json<MessageView>> {
    let c = member_of(&s, &id, user.id())?;
    let message = path_id(&message, "message")?;
    let m = storage::react(&s.store, user.id(), &c.id, &message, Some(req.kind)).await?;
    updated(&s, &c, &m)?;
    Ok(Json(message_view(&s, m, user.id())?))
}

/// Removes the caller's reaction to a message.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/messages/{message}/reactions", tag = "messages", params(("id" = String, Path), ("message" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub(super) async fn unreact(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path((id, message)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let c = member_of(&s, &id, user.id())?;
    let message = path_id(&message, "message")?;
    let m = storage::react(&s.store, user.id(), &c.id, &message, None).await?;
    updated(&s, &c, &m)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message_id": "01JB8ZK3Q5W7X9Y2A4C6E8G0HJ"}))]
pub struct ReadUpTo {
    /// The newest message the caller has read; reading never goes backwards.
    message_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReadState {
    /// Messages of others still unread in this conversation.
    unread_count: u64,
}

/// Marks the conversation read up to a message.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", tag = "messages", params(("id" = String, Path)), request_body = ReadUpTo,
    responses((status = 200, body = ReadState), (status = 404)), security(("bearer" = [])))]
pub(super) async fn mark_read(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<ReadUpTo>,
) -> ApiResult<Json<ReadState>> {
    let c = member_of(&s, &id, user.id())?;
    let up_to = path_id(&req.message_id, "message")?;
    let unread_count = storage::mark_read(&s.store, user.id(), &c.id, &up_to).await?;
    // The reader's own devices, and the members who see the reader's receipts.
    let shares = storage::preferences(&s.store, user.id())?.read_receipts;
    let mut to = vec![user.id().to_string()];
    for other in c.others(user.id()) {
        if domain::sees_receipt(
            storage::preferences(&s.store, &other)?.read_receipts,
            shares,
        ) {
            to.push(other);
        }
    }
    let read = serde_json::json!({"conversation_id": c.id, "user_id": user.id(), "up_to": up_to});
    s.push.send(
        &to,
        &PushEvent::new(crate::platform::new_id(), "conversation.read", read),
    );
    Ok(Json(ReadState { unread_count }))
}

fn members(c: &Conversation) -> Vec<String> {
    c.members.keys().cloned().collect()
}

/// Tells the members a message changed (edit, reaction). `my_reaction` is left out: the
/// signal is the same for everyone.
fn updated(s: &MessagesState, c: &Conversation, m: &Message) -> ApiResult<()> {
    let event = PushEvent::new(
        crate::platform::new_id(),
        "message.updated",
        message_view(s, m.clone(), "")?,
    );
    s.push.send(&members(c), &event);
    Ok(())
}

/// Tells the other members that the caller is typing. Never stored; clients show it for
/// about 5 seconds unless it is repeated.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/typing", tag = "messages", params(("id" = String, Path)),
    responses((status = 204), (status = 403, description = "a block or their privacy"), (status = 404)), security(("bearer" = [])))]
pub(super) async fn typing(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let c = member_of(&s, &id, user.id())?;
    may_send(&s, &c, user.id())?;
    let typing = serde_json::json!({"conversation_id": c.id, "user_id": user.id()});
    s.push.send(
        &c.others(user.id()),
        &PushEvent::new(crate::platform::new_id(), "typing", typing),
    );
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Updates {
    /// New messages in any of the caller's conversations, oldest first.
    items: Vec<MessageView>,
    /// More than `limit` arrived: ask again after the last one.
    has_more: bool,
}

/// New messages since `after`, over all the caller's conversations: what a client that was
/// away (or whose push connection dropped) missed. The push channel resumes through it.
#[utoipa::path(get, path = "/api/v1/conversations/updates", tag = "messages", params(ResumeParams),
    responses((status = 200, body = Updates), (status = 422)), security(("bearer" = [])))]
pub(super) async fn updates(
    State(s): State<MessagesState>,
    user: AuthUser,
    Query(q): Query<ResumeParams>,
) -> ApiResult<Json<Updates>> {
    let (after, limit) = (q.after()?, q.limit()?);
    let mut items = storage::updates(&s.store, user.id(), &after, limit + 1)?;
    let has_more = items.len() > limit;
    items.truncate(limit);
    Ok(Json(Updates {
        items: items
            .into_iter()
            .map(|m| message_view(&s, m, user.id()))
            .collect::<ApiResult<_>>()?,
        has_more,
    }))
}
