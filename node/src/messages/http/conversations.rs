//! Conversations: starting one (direct or group), listing them by last activity, unread
//! counts, members, and the read-receipt preference.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{ActivityPageParams, Json, Page, Query, path_id};
use crate::platform::tokens::AuthUser;
use crate::platform::unix_now;

use super::super::MessagesState;
use super::super::domain::{self, Conversation, ConversationKind, Member, MemberRole};
use super::super::error::Error;
use super::super::storage::{self, Activity, Preferences, Started};
use super::{ConversationView, conversation_view, member_of};

/// What to start: a direct conversation with one user, or a group.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[schema(example = json!({"kind": "group", "title": "Weekend hikers", "member_ids": ["01JB8ZK3Q5W7X9Y2A4C6E8G0HJ"]}))]
pub enum NewConversation {
    /// The pair's one direct conversation (an existing one is returned with 200).
    Direct { user_id: String },
    /// A group with a title; the caller is its admin. At most 249 others.
    Group {
        title: String,
        #[serde(default)]
        member_ids: Vec<String>,
    },
}

/// A user the caller may message: exists, no block either way, their privacy allows it.
fn reachable(s: &MessagesState, caller: &str, field: &str, id: &str) -> ApiResult<String> {
    let user = path_id(id, "user")?;
    if user == caller {
        return Err(Error::WithYourself.into());
    }
    if !storage::account_exists(&s.store, &user)? {
        return Err(Error::invalid(field, format!("no such user: {id}")).into());
    }
    domain::may_message(storage::standing(&s.store, caller, &user)?)?;
    Ok(user)
}

fn member(role: MemberRole, now: i64) -> Member {
    Member {
        role,
        joined_at: now,
        last_read: None,
    }
}

/// Starts a conversation. Who may be messaged follows their `messages` privacy
/// (everyone, friends, nobody) and blocks in either direction.
#[utoipa::path(post, path = "/api/v1/conversations", tag = "messages", request_body = NewConversation,
    responses((status = 201, body = ConversationView), (status = 200, description = "the pair's existing direct conversation", body = ConversationView),
        (status = 403, description = "their privacy or a block forbids it"), (status = 404, description = "no such user"), (status = 422)), security(("bearer" = [])))]
pub(super) async fn start_conversation(
    State(s): State<MessagesState>,
    user: AuthUser,
    Json(req): Json<NewConversation>,
) -> ApiResult<impl IntoResponse> {
    let now = unix_now();
    let me = user.id();
    let mut members = BTreeMap::from([(me.to_string(), member(MemberRole::Admin, now))]);
    let (kind, title) = match req {
        NewConversation::Direct { user_id } => {
            let other = reachable(&s, me, "user_id", &user_id)?;
            members.insert(other, member(MemberRole::Admin, now));
            (ConversationKind::Direct, String::new())
        }
        NewConversation::Group { title, member_ids } => {
            let title = domain::title(&title)?;
            if member_ids.len() >= domain::GROUP_MAX_MEMBERS {
                return Err(Error::TooManyMembers(domain::GROUP_MAX_MEMBERS).into());
            }
            for id in &member_ids {
                let id = reachable(&s, me, "member_ids", id)?;
                members.insert(id, member(MemberRole::Member, now));
            }
            (ConversationKind::Group, title)
        }
    };
    let conversation = Conversation {
        id: crate::platform::new_id(),
        kind,
        title,
        created_by: me.into(),
        created_at: now,
        members,
        last_message: None,
    };
    let (status, c) = match storage::start(&s.store, &conversation).await? {
        Started::Created(c) => (StatusCode::CREATED, c),
        Started::Existing(c) => (StatusCode::OK, c),
    };
    Ok((status, Json(conversation_view(&s, c, me)?)))
}

/// A list cursor: the activity and the conversation id, as one opaque string.
fn decode_cursor(cursor: &str) -> ApiResult<Activity> {
    let bad = || Error::invalid("cursor", "is not a cursor this list returned");
    let (at, conversation) = cursor.split_at_checked(26).ok_or_else(bad)?;
    let ulid = |s: &str| {
        ulid::Ulid::from_string(s)
            .map(|u| u.to_string())
            .map_err(|_| bad())
    };
    Ok(Activity {
        at: ulid(at)?,
        conversation: ulid(conversation)?,
    })
}

/// The caller's conversations, most recently active first. A conversation that gets a
/// new message moves to the top: pages already served never shift or repeat.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "messages", params(ActivityPageParams),
    responses((status = 200, body = Page<ConversationView>), (status = 422)), security(("bearer" = [])))]
pub(super) async fn list_conversations(
    State(s): State<MessagesState>,
    user: AuthUser,
    Query(page): Query<ActivityPageParams>,
) -> ApiResult<Json<Page<ConversationView>>> {
    let limit = page.limit()?;
    let before = page.cursor.as_deref().map(decode_cursor).transpose()?;
    let rows = storage::conversations_of(&s.store, user.id(), before.as_ref(), limit + 1)?;
    let more = rows.len() > limit;
    let mut items = Vec::new();
    let mut last = None;
    for row in rows.into_iter().take(limit) {
        if let Some(c) = storage::conversation(&s.store, &row.conversation)? {
            items.push(conversation_view(&s, c, user.id())?);
        }
        last = Some(row);
    }
    let next_cursor = last
        .filter(|_| more)
        .map(|a| format!("{}{}", a.at, a.conversation));
    Ok(Json(Page { items, next_cursor }))
}

/// Unread messages over all the caller's conversations.
#[derive(Serialize, ToSchema)]
pub struct Unread {
    total: u64,
}

/// The caller's unread count, over all conversations.
#[utoipa::path(get, path = "/api/v1/conversations/unread", tag = "messages", responses((status = 200, body = Unread)), security(("bearer" = [])))]
pub(super) async fn unread(
    State(s): State<MessagesState>,
    user: AuthUser,
) -> ApiResult<Json<Unread>> {
    Ok(Json(Unread {
        total: storage::unread_total(&s.store, user.id())?,
    }))
}

/// The caller's messaging preferences.
#[utoipa::path(get, path = "/api/v1/conversations/preferences", tag = "messages", responses((status = 200, body = Preferences)), security(("bearer" = [])))]
pub(super) async fn get_preferences(
    State(s): State<MessagesState>,
    user: AuthUser,
) -> ApiResult<Json<Preferences>> {
    Ok(Json(storage::preferences(&s.store, user.id())?))
}

/// Sets the caller's messaging preferences. Hiding read receipts hides the caller's from
/// others and others' from the caller.
#[utoipa::path(put, path = "/api/v1/conversations/preferences", tag = "messages", request_body = Preferences, responses((status = 200, body = Preferences), (status = 422)), security(("bearer" = [])))]
pub(super) async fn set_preferences(
    State(s): State<MessagesState>,
    user: AuthUser,
    Json(prefs): Json<Preferences>,
) -> ApiResult<Json<Preferences>> {
    storage::set_preferences(&s.store, user.id(), prefs).await?;
    Ok(Json(prefs))
}

/// A conversation the caller is a member of.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = ConversationView), (status = 404)), security(("bearer" = [])))]
pub(super) async fn get_conversation(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationView>> {
    let c = member_of(&s, &id, user.id())?;
    Ok(Json(conversation_view(&s, c, user.id())?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Weekend hikers"}))]
pub struct ConversationChange {
    /// 1 to 100 characters.
    title: String,
}

/// Renames a group conversation (its admins).
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", tag = "messages", params(("id" = String, Path)), request_body = ConversationChange,
    responses((status = 200, body = ConversationView), (status = 403), (status = 404), (status = 409, description = "a direct conversation")), security(("bearer" = [])))]
pub(super) async fn rename_conversation(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<ConversationChange>,
) -> ApiResult<Json<ConversationView>> {
    let c = member_of(&s, &id, user.id())?;
    let title = domain::title(&req.title)?;
    let c = storage::rename(&s.store, user.id(), &c.id, &title).await?;
    Ok(Json(conversation_view(&s, c, user.id())?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_ids": ["01JB8ZK3Q5W7X9Y2A4C6E8G0HJ"]}))]
pub struct NewMembers {
    user_ids: Vec<String>,
}

/// Adds members to a group conversation (its admins), each one the caller may message.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/members", tag = "messages", params(("id" = String, Path)), request_body = NewMembers,
    responses((status = 200, body = ConversationView), (status = 403), (status = 404), (status = 409), (status = 422)), security(("bearer" = [])))]
pub(super) async fn add_members(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<NewMembers>,
) -> ApiResult<Json<ConversationView>> {
    let c = member_of(&s, &id, user.id())?;
    if req.user_ids.is_empty() {
        return Err(Error::invalid("user_ids", "name at least one user").into());
    }
    let mut users = Vec::new();
    for id in &req.user_ids {
        let u = reachable(&s, user.id(), "user_ids", id)?;
        if !users.contains(&u) {
            users.push(u);
        }
    }
    let c = storage::add_members(&s.store, user.id(), &c.id, &users, unix_now()).await?;
    Ok(Json(conversation_view(&s, c, user.id())?))
}

/// Leaves a group conversation (your own id) or removes a member (its admins). When the
/// last admin leaves, the longest-standing member becomes admin.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/members/{user}", tag = "messages", params(("id" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409, description = "a direct conversation")), security(("bearer" = [])))]
pub(super) async fn remove_member(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let c = member_of(&s, &id, user.id())?;
    let who = path_id(&who, "user")?;
    storage::remove_member(&s.store, user.id(), &c.id, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}
