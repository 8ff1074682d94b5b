//! The HTTP API of users, by resource: [`profiles`] (profiles, privacy, finding a user) and
//! [`friends`] (friend requests, friends, blocks), [`exports`] (a person's copy of their data). Two users of whom one blocked the other
//! are 404 to each other.

pub mod exports;
mod friends;
mod profiles;
mod seeding;

use axum::Router;
use axum::routing::{delete, get, post};
use serde::Serialize;
use utoipa::ToSchema;

use crate::media::events::Attachment;
use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Page, PageParams, rfc3339};

use super::UsersState;
use super::domain::{self, Privacy, Profile, Relationship};
use super::error::Error;
use super::storage::{self, List};

/// `dev --bulk-seeding`'s route: many friendships at once ([`seeding`]).
pub fn seeding_routes(state: UsersState) -> Router {
    Router::new()
        .route("/api/v1/dev/friendships", post(seeding::seed_friendships))
        .with_state(state)
}

pub fn routes(state: UsersState) -> Router {
    Router::new()
        .route("/api/v1/users", get(profiles::find_user))
        .route(
            "/api/v1/users/me",
            get(profiles::my_profile).patch(profiles::update_my_profile),
        )
        .route(
            "/api/v1/users/me/privacy",
            get(profiles::my_privacy).patch(profiles::update_my_privacy),
        )
        .route("/api/v1/users/me/friends", get(friends::list_friends))
        .route("/api/v1/users/me/friends/{id}", delete(friends::unfriend))
        .route("/api/v1/users/me/blocks", get(friends::list_blocks))
        .route("/api/v1/users/{id}", get(profiles::user_profile))
        .route(
            "/api/v1/users/{id}/friend-request",
            post(friends::send_friend_request).delete(friends::cancel_friend_request),
        )
        .route(
            "/api/v1/users/{id}/mutual-friends",
            get(friends::mutual_friends),
        )
        .route(
            "/api/v1/users/{id}/block",
            post(friends::block_user).delete(friends::unblock_user),
        )
        .route(
            "/api/v1/friend-requests/incoming",
            get(friends::incoming_requests),
        )
        .route(
            "/api/v1/friend-requests/outgoing",
            get(friends::outgoing_requests),
        )
        .route(
            "/api/v1/friend-requests/{id}/accept",
            post(friends::accept_request),
        )
        .route(
            "/api/v1/friend-requests/{id}/decline",
            post(friends::decline_request),
        )
        .with_state(state)
}

/// The export routes (their own state: they reach the object store).
pub fn export_routes(state: exports::ExportsState) -> Router {
    Router::new()
        .route("/api/v1/users/me/export", post(exports::request_export))
        .route("/api/v1/users/me/exports", get(exports::list_exports))
        .route("/api/v1/users/me/exports/{id}", get(exports::get_export))
        .route(
            "/api/v1/users/me/exports/{id}/archive",
            get(exports::download_archive),
        )
        .with_state(state)
}

/// A profile as one viewer may see it. Fields the viewer may not see are absent.
#[derive(Serialize, ToSchema)]
pub struct ProfileView {
    id: String,
    username: String,
    display_name: String,
    relationship: Relationship,
    /// True when privacy hides the rest of the profile from this viewer.
    restricted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    bio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    /// Only on the owner's own profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    privacy: Option<Privacy>,
    /// The picture beside their name. Public, like the name: shown whatever the privacy.
    #[serde(skip_serializing_if = "Option::is_none")]
    avatar: Option<Attachment>,
    /// The wide picture atop the profile. Public, like the avatar.
    #[serde(skip_serializing_if = "Option::is_none")]
    cover: Option<Attachment>,
}

/// A profile picture (avatar or cover) still uploaded, drawn with URLs anyone may fetch
/// for the next hour or two (profile pictures are public).
fn picture(s: &UsersState, id: Option<&String>) -> ApiResult<Option<Attachment>> {
    let Some(id) = id else { return Ok(None) };
    let media = storage::media::media(&s.store, id)?;
    Ok(media.map(|m| m.attachment(&s.urls, crate::platform::unix_now())))
}

pub(super) fn view(
    s: &UsersState,
    profile: Profile,
    relationship: Relationship,
) -> ApiResult<ProfileView> {
    let full = domain::sees_full_profile(&profile.privacy, relationship);
    let show = |s: String| full.then_some(s);
    Ok(ProfileView {
        avatar: picture(s, profile.avatar_id.as_ref())?,
        cover: picture(s, profile.cover_id.as_ref())?,
        relationship,
        restricted: !full,
        bio: show(profile.bio),
        location: show(profile.location),
        website: show(profile.website),
        created_at: full.then(|| rfc3339(profile.created_at)),
        privacy: (relationship == Relationship::Me).then_some(profile.privacy),
        id: profile.id,
        username: profile.username,
        display_name: profile.display_name,
    })
}

/// The name card of a user in lists.
#[derive(Serialize, ToSchema)]
pub struct UserCard {
    id: String,
    username: String,
    display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    avatar: Option<Attachment>,
}

/// A user in a list, with when the friendship, request or block began.
#[derive(Serialize, ToSchema)]
pub struct ListedUser {
    user: UserCard,
    since: String,
}

/// A profile, as the caller may see it. Blocked either way: 404.
pub(super) fn visible_profile(
    s: &UsersState,
    viewer: Option<&str>,
    id: &str,
) -> ApiResult<ProfileView> {
    let profile = storage::profile(&s.store, id)?.ok_or(Error::UserNotFound)?;
    if let Some(viewer) = viewer
        && storage::blocked_either(&s.store, viewer, id)?
    {
        return Err(Error::UserNotFound.into());
    }
    view(s, profile, storage::relationship(&s.store, viewer, id)?)
}

pub(super) fn card(s: &UsersState, id: &str) -> ApiResult<UserCard> {
    let p = storage::profile(&s.store, id)?;
    Ok(match p {
        Some(p) => UserCard {
            avatar: picture(s, p.avatar_id.as_ref())?,
            id: p.id,
            username: p.username,
            display_name: p.display_name,
        },
        None => UserCard {
            id: id.into(),
            username: String::new(),
            display_name: String::new(),
            avatar: None,
        },
    })
}

pub(super) fn page_of(
    s: &UsersState,
    owner: &str,
    list: List,
    page: PageParams,
) -> ApiResult<Json<Page<ListedUser>>> {
    let limit = page.limit()?;
    let rows = storage::list(
        &s.store,
        owner,
        list,
        page.cursor_id()?.as_deref(),
        limit + 1,
    )?;
    let page = Page::from_rows(
        rows,
        limit,
        |(id, _)| id.clone(),
        |(id, since)| {
            Ok(Some(ListedUser {
                user: card(s, &id)?,
                since: rfc3339(since.at),
            }))
        },
    )?;
    Ok(Json(page))
}

/// The users part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    profiles::my_profile,
    profiles::update_my_profile,
    profiles::my_privacy,
    profiles::update_my_privacy,
    profiles::user_profile,
    profiles::find_user,
    friends::send_friend_request,
    friends::cancel_friend_request,
    friends::accept_request,
    friends::decline_request,
    friends::incoming_requests,
    friends::outgoing_requests,
    friends::list_friends,
    friends::list_blocks,
    friends::unfriend,
    friends::mutual_friends,
    friends::block_user,
    friends::unblock_user,
    exports::request_export,
    exports::list_exports,
    exports::get_export,
    exports::download_archive
))]
pub struct UsersApi;
