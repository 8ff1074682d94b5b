//! The HTTP API of users: profiles, privacy, friend requests, friends and blocks.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::{Json, Page, PageParams, Query, rfc3339};
use crate::platform::tokens::{AuthUser, MaybeUser};

use super::UsersState;
use super::domain::{
    self, MessagePolicy, Privacy, Profile, ProfileVisibility, Relationship, RequestPolicy,
    parse_user_id,
};
use super::storage::{self, List, RequestOutcome};

pub fn routes(state: UsersState) -> Router {
    Router::new()
        .route("/api/v1/users", get(find_user))
        .route("/api/v1/users/me", get(my_profile).patch(update_my_profile))
        .route(
            "/api/v1/users/me/privacy",
            get(my_privacy).patch(update_my_privacy),
        )
        .route("/api/v1/users/me/friends", get(list_friends))
        .route("/api/v1/users/me/friends/{id}", delete(unfriend))
        .route("/api/v1/users/me/blocks", get(list_blocks))
        .route("/api/v1/users/{id}", get(user_profile))
        .route(
            "/api/v1/users/{id}/friend-request",
            post(send_friend_request).delete(cancel_friend_request),
        )
        .route("/api/v1/users/{id}/mutual-friends", get(mutual_friends))
        .route(
            "/api/v1/users/{id}/block",
            post(block_user).delete(unblock_user),
        )
        .route("/api/v1/friend-requests/incoming", get(incoming_requests))
        .route("/api/v1/friend-requests/outgoing", get(outgoing_requests))
        .route("/api/v1/friend-requests/{id}/accept", post(accept_request))
        .route(
            "/api/v1/friend-requests/{id}/decline",
            post(decline_request),
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
}

fn view(profile: Profile, relationship: Relationship) -> ProfileView {
    let full = domain::sees_full_profile(&profile.privacy, relationship);
    let show = |s: String| full.then_some(s);
    ProfileView {
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
    }
}

/// The name card of a user in lists.
#[derive(Serialize, ToSchema)]
pub struct UserCard {
    id: String,
    username: String,
    display_name: String,
}

/// A user in a list, with when the friendship, request or block began.
#[derive(Serialize, ToSchema)]
pub struct ListedUser {
    user: UserCard,
    since: String,
}

fn own_profile(s: &UsersState, user: &AuthUser) -> ApiResult<Profile> {
    storage::profile(&s.store, user.id())?.ok_or_else(|| {
        ApiError::NotFound(
            "your profile does not exist yet; it is created moments after registration".into(),
        )
    })
}

/// The caller's own profile, privacy settings included.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", responses((status = 200, body = ProfileView)), security(("bearer" = [])))]
async fn my_profile(State(s): State<UsersState>, user: AuthUser) -> ApiResult<Json<ProfileView>> {
    Ok(Json(view(own_profile(&s, &user)?, Relationship::Me)))
}

/// Fields to change; absent fields stay, an empty string clears.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    /// 1 to 64 characters.
    display_name: Option<String>,
    /// At most 500 characters; newlines allowed.
    bio: Option<String>,
    /// At most 100 characters.
    location: Option<String>,
    /// An http(s) URL of at most 200 characters.
    website: Option<String>,
}

impl ProfileChange {
    fn clean(self) -> ApiResult<ProfileChange> {
        let mut errors = Vec::<FieldError>::new();
        let mut check = |r: Result<String, FieldError>| match r {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let display_name = self.display_name.and_then(|v| {
            check(
                domain::clean_text("display_name", &v, 64, false).and_then(|v| {
                    if v.is_empty() {
                        Err(FieldError::new("display_name", "must not be empty"))
                    } else {
                        Ok(v)
                    }
                }),
            )
        });
        let bio = self
            .bio
            .and_then(|v| check(domain::clean_text("bio", &v, 500, true)));
        let location = self
            .location
            .and_then(|v| check(domain::clean_text("location", &v, 100, false)));
        let website = self.website.and_then(|v| check(domain::clean_website(&v)));
        if !errors.is_empty() {
            let detail = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(ApiError::Validation { detail, errors });
        }
        Ok(ProfileChange {
            display_name,
            bio,
            location,
            website,
        })
    }
}

/// Changes the caller's profile.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", request_body = ProfileChange,
    responses((status = 200, body = ProfileView), (status = 422, description = "invalid field")), security(("bearer" = [])))]
async fn update_my_profile(
    State(s): State<UsersState>,
    user: AuthUser,
    Json(change): Json<ProfileChange>,
) -> ApiResult<Json<ProfileView>> {
    let change = change.clean()?;
    let profile = storage::update_profile(&s.store, user.id(), |p| {
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                field.clone_from(v);
            }
        };
        set(&mut p.display_name, &change.display_name);
        set(&mut p.bio, &change.bio);
        set(&mut p.location, &change.location);
        set(&mut p.website, &change.website);
    })
    .await?;
    Ok(Json(view(profile, Relationship::Me)))
}

/// The caller's privacy settings.
#[utoipa::path(get, path = "/api/v1/users/me/privacy", tag = "users", responses((status = 200, body = Privacy)), security(("bearer" = [])))]
async fn my_privacy(State(s): State<UsersState>, user: AuthUser) -> ApiResult<Json<Privacy>> {
    Ok(Json(own_profile(&s, &user)?.privacy))
}

/// Privacy settings to change; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyChange {
    profile: Option<ProfileVisibility>,
    friend_requests: Option<RequestPolicy>,
    messages: Option<MessagePolicy>,
    searchable: Option<bool>,
}

/// Changes the caller's privacy settings.
#[utoipa::path(patch, path = "/api/v1/users/me/privacy", tag = "users", request_body = PrivacyChange, responses((status = 200, body = Privacy)), security(("bearer" = [])))]
async fn update_my_privacy(
    State(s): State<UsersState>,
    user: AuthUser,
    Json(change): Json<PrivacyChange>,
) -> ApiResult<Json<Privacy>> {
    let profile = storage::update_profile(&s.store, user.id(), |p| {
        let privacy = &mut p.privacy;
        privacy.profile = change.profile.unwrap_or(privacy.profile);
        privacy.friend_requests = change.friend_requests.unwrap_or(privacy.friend_requests);
        privacy.messages = change.messages.unwrap_or(privacy.messages);
        privacy.searchable = change.searchable.unwrap_or(privacy.searchable);
    })
    .await?;
    Ok(Json(profile.privacy))
}

/// A profile, as the caller may see it. Blocked either way: 404.
fn visible_profile(s: &UsersState, viewer: Option<&str>, id: &str) -> ApiResult<ProfileView> {
    let not_found = || ApiError::NotFound("no such user".into());
    let profile = storage::profile(&s.store, id)?.ok_or_else(not_found)?;
    if let Some(viewer) = viewer
        && storage::blocked_either(&s.store, viewer, id)?
    {
        return Err(not_found());
    }
    Ok(view(profile, storage::relationship(&s.store, viewer, id)?))
}

/// A user's profile with the caller's view of it.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "user id (ULID)")),
    responses((status = 200, body = ProfileView), (status = 404, description = "no such user, or blocked")))]
async fn user_profile(
    State(s): State<UsersState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ProfileView>> {
    let id = parse_user_id(&id)?;
    Ok(Json(visible_profile(
        &s,
        viewer.as_ref().map(|c| c.sub.as_str()),
        &id,
    )?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FindUser {
    /// The exact username.
    username: String,
}

/// Finds a user by exact username. Profiles that are not searchable are found only by friends.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(FindUser), responses((status = 200, body = ProfileView), (status = 404)))]
async fn find_user(
    State(s): State<UsersState>,
    MaybeUser(viewer): MaybeUser,
    Query(q): Query<FindUser>,
) -> ApiResult<Json<ProfileView>> {
    let not_found = || ApiError::NotFound("no user with this username".into());
    let id = storage::id_by_username(&s.store, q.username.trim())?.ok_or_else(not_found)?;
    let profile = visible_profile(&s, viewer.as_ref().map(|c| c.sub.as_str()), &id)?;
    let searchable = storage::profile(&s.store, &id)?.is_some_and(|p| p.privacy.searchable);
    if !searchable
        && !matches!(
            profile.relationship,
            Relationship::Me | Relationship::Friends
        )
    {
        return Err(not_found());
    }
    Ok(Json(profile))
}

#[derive(Serialize, ToSchema)]
pub struct FriendRequestResult {
    /// `request_sent`, or `friends` when the other had already asked.
    relationship: Relationship,
}

/// Asks a user for friendship. If they had already asked the caller, both become friends.
#[utoipa::path(post, path = "/api/v1/users/{id}/friend-request", tag = "users", params(("id" = String, Path)),
    responses((status = 201, body = FriendRequestResult), (status = 403, description = "their privacy forbids it"), (status = 404), (status = 409, description = "already friends or already asked")),
    security(("bearer" = [])))]
async fn send_friend_request(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let to = parse_user_id(&id)?;
    if to == user.id() {
        return Err(ApiError::BadRequest("you cannot befriend yourself".into()));
    }
    let target = storage::profile(&s.store, &to)?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    if storage::relationship(&s.store, Some(user.id()), &to)? == Relationship::None {
        let mutual = storage::mutual_friends(&s.store, user.id(), &to, None, 1)?.len();
        if !storage::blocked_either(&s.store, user.id(), &to)? {
            domain::may_request(target.privacy.friend_requests, mutual)?;
        }
    }
    let outcome = storage::send_request(&s.store, user.id(), &to).await?;
    let relationship = match outcome {
        RequestOutcome::Sent => Relationship::RequestSent,
        RequestOutcome::BecameFriends => Relationship::Friends,
    };
    Ok((
        StatusCode::CREATED,
        Json(FriendRequestResult { relationship }),
    ))
}

/// Withdraws the caller's pending request to a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/friend-request", tag = "users", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn cancel_friend_request(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::cancel_request(&s.store, user.id(), &parse_user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts the pending request from user `id`.
#[utoipa::path(post, path = "/api/v1/friend-requests/{id}/accept", tag = "users", params(("id" = String, Path, description = "the requester's user id")), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn accept_request(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::answer_request(&s.store, user.id(), &parse_user_id(&id)?, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Declines the pending request from user `id` (the requester is not told).
#[utoipa::path(post, path = "/api/v1/friend-requests/{id}/decline", tag = "users", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn decline_request(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::answer_request(&s.store, user.id(), &parse_user_id(&id)?, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn card(s: &UsersState, id: &str) -> ApiResult<UserCard> {
    let p = storage::profile(&s.store, id)?;
    Ok(match p {
        Some(p) => UserCard {
            id: p.id,
            username: p.username,
            display_name: p.display_name,
        },
        None => UserCard {
            id: id.into(),
            username: String::new(),
            display_name: String::new(),
        },
    })
}

fn page_of(
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

/// Pending requests to the caller.
#[utoipa::path(get, path = "/api/v1/friend-requests/incoming", tag = "users", params(PageParams), responses((status = 200, body = Page<ListedUser>)), security(("bearer" = [])))]
async fn incoming_requests(
    State(s): State<UsersState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<ListedUser>>> {
    page_of(&s, user.id(), List::Incoming, page)
}

/// The caller's pending requests to others.
#[utoipa::path(get, path = "/api/v1/friend-requests/outgoing", tag = "users", params(PageParams), responses((status = 200, body = Page<ListedUser>)), security(("bearer" = [])))]
async fn outgoing_requests(
    State(s): State<UsersState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<ListedUser>>> {
    page_of(&s, user.id(), List::Outgoing, page)
}

/// The caller's friends, in id order.
#[utoipa::path(get, path = "/api/v1/users/me/friends", tag = "users", params(PageParams), responses((status = 200, body = Page<ListedUser>)), security(("bearer" = [])))]
async fn list_friends(
    State(s): State<UsersState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<ListedUser>>> {
    page_of(&s, user.id(), List::Friends, page)
}

/// Users the caller has blocked.
#[utoipa::path(get, path = "/api/v1/users/me/blocks", tag = "users", params(PageParams), responses((status = 200, body = Page<ListedUser>)), security(("bearer" = [])))]
async fn list_blocks(
    State(s): State<UsersState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<ListedUser>>> {
    page_of(&s, user.id(), List::Blocks, page)
}

/// Ends a friendship.
#[utoipa::path(delete, path = "/api/v1/users/me/friends/{id}", tag = "users", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn unfriend(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::unfriend(&s.store, user.id(), &parse_user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Friends the caller and user `id` have in common.
#[utoipa::path(get, path = "/api/v1/users/{id}/mutual-friends", tag = "users", params(("id" = String, Path), PageParams), responses((status = 200, body = Page<UserCard>)), security(("bearer" = [])))]
async fn mutual_friends(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<UserCard>>> {
    let other = parse_user_id(&id)?;
    visible_profile(&s, Some(user.id()), &other)?;
    let limit = page.limit()?;
    let ids = storage::mutual_friends(
        &s.store,
        user.id(),
        &other,
        page.cursor_id()?.as_deref(),
        limit + 1,
    )?;
    Ok(Json(Page::from_rows(ids, limit, Clone::clone, |id| {
        card(&s, &id).map(Some)
    })?))
}

/// Blocks a user: ends the friendship and pending requests; each is hidden from the other.
#[utoipa::path(post, path = "/api/v1/users/{id}/block", tag = "users", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn block_user(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let other = parse_user_id(&id)?;
    if other == user.id() {
        return Err(ApiError::BadRequest("you cannot block yourself".into()));
    }
    storage::block(&s.store, user.id(), &other).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a block.
#[utoipa::path(delete, path = "/api/v1/users/{id}/block", tag = "users", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn unblock_user(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::unblock(&s.store, user.id(), &parse_user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The users part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    my_profile,
    update_my_profile,
    my_privacy,
    update_my_privacy,
    user_profile,
    find_user,
    send_friend_request,
    cancel_friend_request,
    accept_request,
    decline_request,
    incoming_requests,
    outgoing_requests,
    list_friends,
    list_blocks,
    unfriend,
    mutual_friends,
    block_user,
    unblock_user
))]
pub struct UsersApi;
