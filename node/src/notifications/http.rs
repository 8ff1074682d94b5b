//! The HTTP API of notifications: the list, unread count, marking read, deleting,
//! preferences per kind, and muting a post.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::error::{ApiError, ApiResult};
use crate::platform::http::{
    ActivityPageParams, Json, Page, Query, ResumeParams, path_id, rfc3339,
};
use crate::platform::tokens::AuthUser;

use super::NotificationsState;
use super::domain::{Kind, Notification, Preferences, Target};
use super::error::Error;
use super::storage::{self, Position};

pub fn routes(state: NotificationsState) -> Router {
    Router::new()
        .route("/api/v1/notifications", get(list_notifications))
        .route("/api/v1/notifications/unread", get(unread))
        .route("/api/v1/notifications/updates", get(updates))
        .route("/api/v1/notifications/read-all", post(read_all))
        .route(
            "/api/v1/notifications/preferences",
            get(get_preferences).put(set_preferences),
        )
        .route(
            "/api/v1/notifications/mutes/{post}",
            put(mute_post).delete(unmute_post),
        )
        .route("/api/v1/notifications/{id}", delete(delete_notification))
        .route("/api/v1/notifications/{id}/read", post(read_one))
        .with_state(state)
}

/// A notification as its user sees it.
#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub kind: Kind,
    /// The newest actors first (at most 3).
    pub actors: Vec<String>,
    /// All actors: "A and 12 others" is `actors[0]` and `actor_count - 1`.
    pub actor_count: u64,
    pub target: Target,
    pub created_at: String,
    pub updated_at: String,
    pub read: bool,
    /// `moderation` notifications: what a moderator did and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<super::domain::ModerationNote>,
}

pub fn view(n: Notification, read: bool) -> NotificationView {
    NotificationView {
        id: n.id,
        kind: n.kind,
        actors: n.actors,
        actor_count: n.actor_count,
        target: n.target,
        created_at: rfc3339(n.created_at),
        updated_at: rfc3339(n.updated_at),
        read,
        moderation: n.moderation,
    }
}

fn decode_cursor(cursor: &str) -> ApiResult<Position> {
    let bad = || ApiError::field("cursor", "is not a cursor this list returned");
    let (activity, id) = cursor.split_at_checked(26).ok_or_else(bad)?;
    let ulid = |s: &str| {
        ulid::Ulid::from_string(s)
            .map(|u| u.to_string())
            .map_err(|_| bad())
    };
    Ok(Position {
        activity: ulid(activity)?,
        id: ulid(id)?,
    })
}

/// One notification with new activity, as the push channel sent it (`id`: the activity).
#[derive(Serialize, ToSchema)]
pub struct Activity {
    /// The activity: the id of the push event that announced it.
    id: String,
    notification: NotificationView,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationUpdates {
    /// Oldest activity first.
    items: Vec<Activity>,
    has_more: bool,
    unread_count: usize,
}

/// What a reconnecting device missed: notifications with activity after `after`, oldest
/// first (the push channel's resume reads it; so may a client).
#[utoipa::path(get, path = "/api/v1/notifications/updates", tag = "notifications", params(ResumeParams),
    responses((status = 200, body = NotificationUpdates), (status = 422)), security(("bearer" = [])))]
async fn updates(
    State(s): State<NotificationsState>,
    user: AuthUser,
    Query(q): Query<ResumeParams>,
) -> ApiResult<Json<NotificationUpdates>> {
    let (after, limit) = (q.after()?, q.limit()?);
    let rows = storage::updates(&s.store, user.id(), &after, limit + 1)?;
    let has_more = rows.len() > limit;
    let mut items = Vec::new();
    for (position, n) in rows.into_iter().take(limit) {
        if storage::shown(&s.store, &n)?
            && storage::preferences(&s.store, user.id())?.of(n.kind).push
        {
            let read = storage::read(&s.store, &n)?;
            items.push(Activity {
                id: position.activity,
                notification: view(n, read),
            });
        }
    }
    Ok(Json(NotificationUpdates {
        items,
        has_more,
        unread_count: storage::unread(&s.store, user.id())?,
    }))
}

/// The caller's notifications, newest activity first (a grouped one moves up when
/// someone new joins it).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(ActivityPageParams),
    responses((status = 200, body = Page<NotificationView>), (status = 422)), security(("bearer" = [])))]
async fn list_notifications(
    State(s): State<NotificationsState>,
    user: AuthUser,
    Query(page): Query<ActivityPageParams>,
) -> ApiResult<Json<Page<NotificationView>>> {
    let limit = page.limit()?;
    let mut before = page.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut items = Vec::new();
    let mut exhausted = false;
    // Hidden ones (deleted, blocked, their post gone) are skipped, so read on until the
    // page is full.
    while items.len() < limit && !exhausted {
        let rows = storage::list(&s.store, user.id(), before.as_ref(), limit * 2)?;
        exhausted = rows.len() < limit * 2;
        for (position, n) in rows {
            before = Some(position);
            if storage::shown(&s.store, &n)? {
                let read = storage::read(&s.store, &n)?;
                items.push(view(n, read));
                if items.len() == limit {
                    break;
                }
            }
        }
    }
    let next_cursor = before
        .filter(|_| items.len() == limit)
        .map(|p| format!("{}{}", p.activity, p.id));
    Ok(Json(Page { items, next_cursor }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = UnreadNotifications)]
pub struct Unread {
    /// Unread notifications, counted up to 1,000 (show "999+").
    count: usize,
}

/// The caller's unread count.
#[utoipa::path(get, path = "/api/v1/notifications/unread", tag = "notifications", responses((status = 200, body = Unread)), security(("bearer" = [])))]
async fn unread(State(s): State<NotificationsState>, user: AuthUser) -> ApiResult<Json<Unread>> {
    Ok(Json(Unread {
        count: storage::unread(&s.store, user.id())?,
    }))
}

fn own(s: &NotificationsState, user: &AuthUser, id: &str) -> ApiResult<Notification> {
    let id = path_id(id, "notification")?;
    Ok(storage::notification(&s.store, user.id(), &id)?.ok_or(Error::NotFound)?)
}

/// Marks one notification read (until someone new joins it).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn read_one(
    State(s): State<NotificationsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let n = own(&s, &user, &id)?;
    storage::mark_read(&s.store, &n).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks every notification read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", responses((status = 204)), security(("bearer" = [])))]
async fn read_all(State(s): State<NotificationsState>, user: AuthUser) -> ApiResult<StatusCode> {
    storage::mark_all_read(&s.store, user.id()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a notification from the caller's list.
#[utoipa::path(delete, path = "/api/v1/notifications/{id}", tag = "notifications", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn delete_notification(
    State(s): State<NotificationsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let n = own(&s, &user, &id)?;
    storage::hide(&s.store, user.id(), &n.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's preferences per kind (kinds not named are in the list and pushed, not mailed).
#[utoipa::path(get, path = "/api/v1/notifications/preferences", tag = "notifications", responses((status = 200, body = Preferences)), security(("bearer" = [])))]
async fn get_preferences(
    State(s): State<NotificationsState>,
    user: AuthUser,
) -> ApiResult<Json<Preferences>> {
    Ok(Json(storage::preferences(&s.store, user.id())?))
}

/// Sets the caller's preferences per kind: `in_app` off keeps a kind out of the list,
/// `push` off keeps it off the push channel, `email` on counts it in the e-mail digest
/// (every `AGORA_DIGEST_INTERVAL_SECS`, a day by default).
#[utoipa::path(put, path = "/api/v1/notifications/preferences", tag = "notifications", request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 422)), security(("bearer" = [])))]
async fn set_preferences(
    State(s): State<NotificationsState>,
    user: AuthUser,
    Json(prefs): Json<Preferences>,
) -> ApiResult<Json<Preferences>> {
    storage::set_preferences(&s.store, user.id(), &prefs).await?;
    Ok(Json(prefs))
}

/// Mutes a post or a conversation (of the caller's): nothing about it notifies them any more.
#[utoipa::path(put, path = "/api/v1/notifications/mutes/{post}", tag = "notifications", params(("post" = String, Path, description = "a post id or a conversation id")),
    responses((status = 204), (status = 404), (status = 409)), security(("bearer" = [])))]
async fn mute_post(
    State(s): State<NotificationsState>,
    user: AuthUser,
    Path(post): Path<String>,
) -> ApiResult<StatusCode> {
    let post = path_id(&post, "post")?;
    if !storage::mutable(&s.store, user.id(), &post)? {
        return Err(Error::PostNotFound.into());
    }
    if storage::set_mute(&s.store, user.id(), &post, true).await? {
        return Err(Error::AlreadyMuted.into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Unmutes a post or a conversation.
#[utoipa::path(delete, path = "/api/v1/notifications/mutes/{post}", tag = "notifications", params(("post" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn unmute_post(
    State(s): State<NotificationsState>,
    user: AuthUser,
    Path(post): Path<String>,
) -> ApiResult<StatusCode> {
    let post = path_id(&post, "post")?;
    if !storage::muted(&s.store, user.id(), &post)? {
        return Err(Error::NotMuted.into());
    }
    storage::set_mute(&s.store, user.id(), &post, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The notifications part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_notifications,
    unread,
    updates,
    read_one,
    read_all,
    delete_notification,
    get_preferences,
    set_preferences,
    mute_post,
    unmute_post
))]
pub struct NotificationsApi;
