//! Friend requests, friends, mutual friends and blocks.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Page, PageParams, Query};
use crate::platform::tokens::AuthUser;

use super::super::UsersState;
use super::super::domain::{self, Relationship, parse_user_id};
use super::super::error::Error;
use super::super::storage::{self, List, RequestOutcome};
use super::{ListedUser, UserCard, card, page_of, visible_profile};

#[derive(Serialize, ToSchema)]
pub struct FriendRequestResult {
    /// `request_sent`, or `friends` when the other had already asked.
    relationship: Relationship,
}

/// Asks a user for friendship. If they had already asked the caller, both become friends.
#[utoipa::path(post, path = "/api/v1/users/{id}/friend-request", tag = "users", params(("id" = String, Path)),
    responses((status = 201, body = FriendRequestResult), (status = 400, description = "asking oneself"), (status = 403, description = "their privacy forbids it"), (status = 404), (status = 409, description = "already friends or already asked")),
    security(("bearer" = [])))]
pub(super) async fn send_friend_request(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let to = parse_user_id(&id)?;
    if to == user.id() {
        return Err(Error::BefriendYourself.into());
    }
    let target = storage::profile(&s.store, &to)?.ok_or(Error::UserNotFound)?;
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
pub(super) async fn cancel_friend_request(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::cancel_request(&s.store, user.id(), &parse_user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts the pending request from user `id`.
#[utoipa::path(post, path = "/api/v1/friend-requests/{id}/accept", tag = "users", params(("id" = String, Path, description = "the requester's user id")), responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub(super) async fn accept_request(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::answer_request(&s.store, user.id(), &parse_user_id(&id)?, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Declines the pending request from user `id` (the requester is not told).
#[utoipa::path(post, path = "/api/v1/friend-requests/{id}/decline", tag = "users", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub(super) async fn decline_request(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::answer_request(&s.store, user.id(), &parse_user_id(&id)?, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pending requests to the caller.
#[utoipa::path(get, path = "/api/v1/friend-requests/incoming", tag = "users", params(PageParams), responses((status = 200, body = Page<ListedUser>)), security(("bearer" = [])))]
pub(super) async fn incoming_requests(
    State(s): State<UsersState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<ListedUser>>> {
    page_of(&s, user.id(), List::Incoming, page)
}

/// The caller's pending requests to others.
#[utoipa::path(get, path = "/api/v1/friend-requests/outgoing", tag = "users", params(PageParams), responses((status = 200, body = Page<ListedUser>)), security(("bearer" = [])))]
pub(super) async fn outgoing_requests(
    State(s): State<UsersState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<ListedUser>>> {
    page_of(&s, user.id(), List::Outgoing, page)
}

/// The caller's friends, in id order.
#[utoipa::path(get, path = "/api/v1/users/me/friends", tag = "users", params(PageParams), responses((status = 200, body = Page<ListedUser>)), security(("bearer" = [])))]
pub(super) async fn list_friends(
    State(s): State<UsersState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<ListedUser>>> {
    page_of(&s, user.id(), List::Friends, page)
}

/// Users the caller has blocked.
#[utoipa::path(get, path = "/api/v1/users/me/blocks", tag = "users", params(PageParams), responses((status = 200, body = Page<ListedUser>)), security(("bearer" = [])))]
pub(super) async fn list_blocks(
    State(s): State<UsersState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<ListedUser>>> {
    page_of(&s, user.id(), List::Blocks, page)
}

/// Ends a friendship.
#[utoipa::path(delete, path = "/api/v1/users/me/friends/{id}", tag = "users", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub(super) async fn unfriend(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::unfriend(&s.store, user.id(), &parse_user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Friends the caller and user `id` have in common.
#[utoipa::path(get, path = "/api/v1/users/{id}/mutual-friends", tag = "users", params(("id" = String, Path), PageParams), responses((status = 200, body = Page<UserCard>)), security(("bearer" = [])))]
pub(super) async fn mutual_friends(
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
#[utoipa::path(post, path = "/api/v1/users/{id}/block", tag = "users", params(("id" = String, Path)), responses((status = 204), (status = 400, description = "blocking oneself"), (status = 404)), security(("bearer" = [])))]
pub(super) async fn block_user(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let other = parse_user_id(&id)?;
    if other == user.id() {
        return Err(Error::BlockYourself.into());
    }
    storage::block(&s.store, user.id(), &other).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a block.
#[utoipa::path(delete, path = "/api/v1/users/{id}/block", tag = "users", params(("id" = String, Path)), responses((status = 204), (status = 400, description = "blocking oneself"), (status = 404)), security(("bearer" = [])))]
pub(super) async fn unblock_user(
    State(s): State<UsersState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::unblock(&s.store, user.id(), &parse_user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
