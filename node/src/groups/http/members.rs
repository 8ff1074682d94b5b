//! Moderating a group's members: join requests, invitations, removals, bans and roles.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Page as ListPage, PageParams, Query, path_id};
use crate::platform::tokens::AuthUser;

use super::super::GroupsState;
use super::super::domain::{self, Group, GroupRole};
use super::super::error::Error;
use super::super::storage::{self, Edge, Roster};
use super::{Invitation, ListedMember, listed, visible_group};

fn moderated(s: &GroupsState, user: &AuthUser, id: &str) -> ApiResult<(Group, GroupRole)> {
    let (group, role, _) = visible_group(s, id, Some(user.id()))?;
    domain::require(role, GroupRole::Moderator)?;
    Ok((group, role.unwrap_or(GroupRole::Moderator)))
}

/// Pending join requests (moderators and admins).
#[utoipa::path(get, path = "/api/v1/groups/{id}/requests", tag = "groups", params(("id" = String, Path), PageParams), responses((status = 200, body = ListPage<ListedMember>), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list_requests(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<ListPage<ListedMember>>> {
    let (group, _) = moderated(&s, &user, &id)?;
    listed(Roster::Edge(Edge::Request), &group.id, &s, &page)
}

/// Approves a join request (moderators and admins).
#[utoipa::path(post, path = "/api/v1/groups/{id}/requests/{user}/approve", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 403, description = "not a moderator or admin of the group"), (status = 404)), security(("bearer" = [])))]
pub(super) async fn approve_request(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (group, _) = moderated(&s, &user, &id)?;
    let who = path_id(&who, "user")?;
    if !storage::has(&s.store, Edge::Request, &group.id, &who)? {
        return Err(Error::NoRequest.into());
    }
    storage::add_member(&s.store, user.id(), &group.id, &who, GroupRole::Member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Denies a join request (moderators and admins).
#[utoipa::path(post, path = "/api/v1/groups/{id}/requests/{user}/deny", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 403, description = "not a moderator or admin of the group"), (status = 404)), security(("bearer" = [])))]
pub(super) async fn deny_request(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    drop_edge(&s, &user, &id, &who, Edge::Request).await
}

/// Drops a pending request or a ban (moderators and admins).
pub(super) async fn drop_edge(
    s: &GroupsState,
    user: &AuthUser,
    id: &str,
    who: &str,
    edge: Edge,
) -> ApiResult<StatusCode> {
    let (group, _) = moderated(s, user, id)?;
    storage::remove_edge(&s.store, edge, &group.id, &path_id(who, "user")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Invites a user: any member of a public or private group; moderators and admins of a
/// secret one. The invitee joins with `POST /groups/{id}/join`.
#[utoipa::path(post, path = "/api/v1/groups/{id}/invitations", tag = "groups", params(("id" = String, Path)), request_body = Invitation, responses((status = 201), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub(super) async fn invite(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<Invitation>,
) -> ApiResult<StatusCode> {
    let (group, role, _) = visible_group(&s, &id, Some(user.id()))?;
    domain::may_invite(group.privacy, role)?;
    let invitee = path_id(&req.user_id, "user")?;
    if !storage::account_exists(&s.store, &invitee)? {
        return Err(Error::UserNotFound.into());
    }
    storage::add_pending(&s.store, user.id(), Edge::Invitation, &group.id, &invitee).await?;
    Ok(StatusCode::CREATED)
}

/// Removes a member (moderators and admins; only admins remove admins or moderators).
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user}", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn remove_member(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (group, role) = moderated(&s, &user, &id)?;
    let who = path_id(&who, "user")?;
    domain::outranks(role, storage::role(&s.store, &group.id, &who)?)?;
    storage::remove_member(&s.store, user.id(), &group.id, &who, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Bans a user (removing them if a member) (moderators and admins).
#[utoipa::path(post, path = "/api/v1/groups/{id}/bans/{user}", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 403)), security(("bearer" = [])))]
pub(super) async fn ban(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (group, role) = moderated(&s, &user, &id)?;
    let who = path_id(&who, "user")?;
    if who == user.id() {
        return Err(Error::BanYourself.into());
    }
    domain::outranks(role, storage::role(&s.store, &group.id, &who)?)?;
    storage::remove_member(&s.store, user.id(), &group.id, &who, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a ban (moderators and admins).
#[utoipa::path(delete, path = "/api/v1/groups/{id}/bans/{user}", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 403, description = "not a moderator or admin of the group"), (status = 404)), security(("bearer" = [])))]
pub(super) async fn unban(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    drop_edge(&s, &user, &id, &who, Edge::Ban).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "moderator"}))]
pub struct RoleChange {
    role: GroupRole,
}

/// Sets a member's role (admins).
#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{user}/role", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), request_body = RoleChange, responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn set_role(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
    Json(req): Json<RoleChange>,
) -> ApiResult<StatusCode> {
    let (group, role, _) = visible_group(&s, &id, Some(user.id()))?;
    domain::require(role, GroupRole::Admin)?;
    storage::set_role(
        &s.store,
        user.id(),
        &group.id,
        &path_id(&who, "user")?,
        req.role,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
