//! The HTTP API of groups and pages, by resource: [`groups`] (groups and joining),
//! [`members`] (moderating members, requests, invitations and bans), [`pages`].
//! A secret group is 404 to whoever is neither a member nor invited.

mod groups;
mod members;
mod pages;

use axum::Router;
use axum::routing::{delete, get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Page as ListPage, PageParams, path_id, rfc3339};

use super::GroupsState;
use super::domain::{self, Group, GroupRole};
use super::error::Error;
use super::storage::{self, Edge, Roster};

pub fn routes(state: GroupsState) -> Router {
    Router::new()
        .route("/api/v1/groups", post(groups::create_group))
        .route("/api/v1/groups/mine", get(groups::my_groups))
        .route(
            "/api/v1/groups/{id}",
            get(groups::get_group)
                .patch(groups::update_group)
                .delete(groups::delete_group),
        )
        .route("/api/v1/groups/{id}/join", post(groups::join_group))
        .route("/api/v1/groups/{id}/leave", post(groups::leave_group))
        .route("/api/v1/groups/{id}/members", get(groups::list_members))
        .route(
            "/api/v1/groups/{id}/members/{user}",
            delete(members::remove_member),
        )
        .route(
            "/api/v1/groups/{id}/members/{user}/role",
            put(members::set_role),
        )
        .route("/api/v1/groups/{id}/requests", get(members::list_requests))
        .route(
            "/api/v1/groups/{id}/requests/{user}/approve",
            post(members::approve_request),
        )
        .route(
            "/api/v1/groups/{id}/requests/{user}/deny",
            post(members::deny_request),
        )
        .route("/api/v1/groups/{id}/invitations", post(members::invite))
        .route(
            "/api/v1/groups/{id}/bans/{user}",
            post(members::ban).delete(members::unban),
        )
        .route("/api/v1/pages", post(pages::create_page))
        .route(
            "/api/v1/pages/{id}",
            get(pages::get_page).patch(pages::update_page),
        )
        .route("/api/v1/pages/{id}/admins", post(pages::add_page_admin))
        .route(
            "/api/v1/pages/{id}/follow",
            post(pages::follow_page).delete(pages::unfollow_page),
        )
        .route("/api/v1/pages/{id}/followers", get(pages::list_followers))
        .with_state(state)
}

fn membership(
    s: &GroupsState,
    g: &str,
    viewer: Option<&str>,
) -> ApiResult<(Option<GroupRole>, String)> {
    let Some(v) = viewer else {
        return Ok((None, "none".into()));
    };
    if let Some(role) = storage::role(&s.store, g, v)? {
        return Ok((Some(role), format!("{role:?}").to_lowercase()));
    }
    if storage::has(&s.store, Edge::Invitation, g, v)? {
        return Ok((None, "invited".into()));
    }
    if storage::has(&s.store, Edge::Request, g, v)? {
        return Ok((None, "requested".into()));
    }
    Ok((None, "none".into()))
}

/// The group if the viewer may see it (secret groups are 404 to outsiders), with their role.
fn visible_group(
    s: &GroupsState,
    id: &str,
    viewer: Option<&str>,
) -> ApiResult<(Group, Option<GroupRole>, String)> {
    let g = path_id(id, "group")?;
    let group = storage::group(&s.store, &g)?.ok_or(Error::GroupNotFound)?;
    let (role, standing) = membership(s, &g, viewer)?;
    if !domain::group_visible(group.privacy, role, standing == "invited") {
        return Err(Error::GroupNotFound.into());
    }
    Ok((group, role, standing))
}

/// A member, request, invitation, ban or follower in a list.
#[derive(Serialize, ToSchema)]
pub struct ListedMember {
    user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<GroupRole>,
    since: String,
}

/// One page of a roster of a group or page.
fn listed(
    roster: Roster,
    owner: &str,
    s: &GroupsState,
    page: &PageParams,
) -> ApiResult<Json<ListPage<ListedMember>>> {
    let limit = page.limit()?;
    let rows = storage::list(
        &s.store,
        roster,
        owner,
        page.cursor_id()?.as_deref(),
        limit + 1,
    )?;
    let page = ListPage::from_rows(
        rows,
        limit,
        |row| row.id.clone(),
        |row| {
            Ok(Some(ListedMember {
                user_id: row.id,
                role: row.role,
                since: rfc3339(row.since),
            }))
        },
    )?;
    Ok(Json(page))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "01JB8ZK3Q5W7X9Y2A4C6E8G0HJ"}))]
pub struct Invitation {
    user_id: String,
}

/// The groups and pages part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    groups::create_group,
    groups::get_group,
    groups::update_group,
    groups::delete_group,
    groups::join_group,
    groups::leave_group,
    groups::list_members,
    groups::my_groups,
    members::list_requests,
    members::approve_request,
    members::deny_request,
    members::invite,
    members::remove_member,
    members::ban,
    members::unban,
    members::set_role,
    pages::create_page,
    pages::get_page,
    pages::update_page,
    pages::add_page_admin,
    pages::follow_page,
    pages::unfollow_page,
    pages::list_followers
))]
pub struct GroupsApi;
