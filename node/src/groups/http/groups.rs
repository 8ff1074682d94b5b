//! Groups: create, read, change, delete, join and leave, and who is in them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Page as ListPage, PageParams, Query, rfc3339};
use crate::platform::tokens::{AuthUser, MaybeUser};
use crate::platform::unix_now;

use super::super::GroupsState;
use super::super::domain::{self, Group, GroupPrivacy, GroupRole, JoinOutcome};
use super::super::error::Error;
use super::super::storage::{self, Edge, Roster};
use super::{ListedMember, listed, membership, visible_group};

/// A group as one viewer sees it.
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    id: String,
    name: String,
    description: String,
    privacy: GroupPrivacy,
    member_count: u64,
    created_at: String,
    /// The viewer's standing: `admin`, `moderator`, `member`, `requested`, `invited` or `none`.
    membership: String,
}

fn view(group: Group, membership: String) -> GroupView {
    GroupView {
        id: group.id,
        name: group.name,
        description: group.description,
        privacy: group.privacy,
        member_count: group.member_count,
        created_at: rfc3339(group.created_at),
        membership,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Climbers of Lyon", "description": "Weekend climbs around Lyon", "privacy": "private"}))]
pub struct NewGroup {
    /// 1 to 100 characters.
    name: String,
    #[serde(default)]
    description: String,
    privacy: GroupPrivacy,
}

/// Creates a group; the caller becomes its admin.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup, responses((status = 201, body = GroupView), (status = 422)), security(("bearer" = [])))]
pub(super) async fn create_group(
    State(s): State<GroupsState>,
    user: AuthUser,
    Json(req): Json<NewGroup>,
) -> ApiResult<impl IntoResponse> {
    let (name, description) =
        domain::name_and_description(Some(&req.name), Some(&req.description))?;
    let group = Group {
        id: crate::platform::new_id(),
        name: name.unwrap_or_default(),
        description: description.unwrap_or_default(),
        privacy: req.privacy,
        created_by: user.id().into(),
        created_at: unix_now(),
        member_count: 1,
    };
    storage::create_group(&s.store, &group).await?;
    Ok((StatusCode::CREATED, Json(view(group, "admin".into()))))
}

/// A group. Secret groups are 404 to non-members who were not invited.
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = String, Path)), responses((status = 200, body = GroupView), (status = 404)))]
pub(super) async fn get_group(
    State(s): State<GroupsState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<GroupView>> {
    let (group, _, standing) = visible_group(&s, &id, viewer.as_ref().map(|c| c.sub.as_str()))?;
    Ok(Json(view(group, standing)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Walks every Sunday, whatever the weather.", "privacy": "private"}))]
pub struct GroupChange {
    name: Option<String>,
    description: Option<String>,
    privacy: Option<GroupPrivacy>,
}

/// Changes a group (admins).
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = String, Path)), request_body = GroupChange, responses((status = 200, body = GroupView), (status = 403)), security(("bearer" = [])))]
pub(super) async fn update_group(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<GroupChange>,
) -> ApiResult<Json<GroupView>> {
    let (group, role, standing) = visible_group(&s, &id, Some(user.id()))?;
    domain::require(role, GroupRole::Admin)?;
    let (name, description) =
        domain::name_and_description(req.name.as_deref(), req.description.as_deref())?;
    let group = storage::update_group(&s.store, user.id(), &group.id, |g| {
        g.name = name.clone().unwrap_or_else(|| g.name.clone());
        g.description = description.clone().unwrap_or_else(|| g.description.clone());
        g.privacy = req.privacy.unwrap_or(g.privacy);
    })
    .await?;
    Ok(Json(view(group, standing)))
}

/// Deletes a group and its memberships (admins).
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = String, Path)), responses((status = 204), (status = 403)), security(("bearer" = [])))]
pub(super) async fn delete_group(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (group, role, _) = visible_group(&s, &id, Some(user.id()))?;
    domain::require(role, GroupRole::Admin)?;
    storage::delete_group(&s.store, user.id(), &group.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct JoinResult {
    /// `joined`, or `requested` for a private group (an admin or moderator approves).
    status: &'static str,
}

/// Joins a public group, asks to join a private one, or accepts an invitation.
#[utoipa::path(post, path = "/api/v1/groups/{id}/join", tag = "groups", params(("id" = String, Path)), responses((status = 200, body = JoinResult), (status = 403, description = "banned"), (status = 404), (status = 409)), security(("bearer" = [])))]
pub(super) async fn join_group(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<JoinResult>> {
    let (group, role, standing) = visible_group(&s, &id, Some(user.id()))?;
    if role.is_some() {
        return Err(Error::AlreadyMember.into());
    }
    let banned = storage::has(&s.store, Edge::Ban, &group.id, user.id())?;
    let status = match domain::join(group.privacy, standing == "invited", banned)? {
        JoinOutcome::Joined => {
            storage::add_member(&s.store, user.id(), &group.id, user.id(), GroupRole::Member)
                .await?;
            "joined"
        }
        JoinOutcome::Requested => {
            storage::add_pending(&s.store, user.id(), Edge::Request, &group.id, user.id()).await?;
            "requested"
        }
    };
    Ok(Json(JoinResult { status }))
}

/// Leaves a group (or withdraws a pending request).
#[utoipa::path(post, path = "/api/v1/groups/{id}/leave", tag = "groups", params(("id" = String, Path)), responses((status = 204), (status = 404), (status = 409, description = "the last admin")), security(("bearer" = [])))]
pub(super) async fn leave_group(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (group, role, standing) = visible_group(&s, &id, Some(user.id()))?;
    match (role, standing.as_str()) {
        (Some(_), _) => {
            storage::remove_member(&s.store, user.id(), &group.id, user.id(), false).await?
        }
        (None, "requested") => {
            storage::remove_edge(&s.store, Edge::Request, &group.id, user.id()).await?
        }
        _ => {
            return Err(Error::NotAMember.into());
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Members of a group: anyone for a public group, members otherwise.
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "groups", params(("id" = String, Path), PageParams), responses((status = 200, body = ListPage<ListedMember>), (status = 403)))]
pub(super) async fn list_members(
    State(s): State<GroupsState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<ListPage<ListedMember>>> {
    let (group, role, _) = visible_group(&s, &id, viewer.as_ref().map(|c| c.sub.as_str()))?;
    if !domain::content_visible(group.privacy, role) {
        return Err(Error::MembersOnly.into());
    }
    listed(Roster::Members, &group.id, &s, &page)
}

/// The groups the caller belongs to.
#[utoipa::path(get, path = "/api/v1/groups/mine", tag = "groups", params(PageParams), responses((status = 200, body = ListPage<GroupView>)), security(("bearer" = [])))]
pub(super) async fn my_groups(
    State(s): State<GroupsState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<ListPage<GroupView>>> {
    let limit = page.limit()?;
    let rows = storage::list(
        &s.store,
        Roster::GroupsOf,
        user.id(),
        page.cursor_id()?.as_deref(),
        limit + 1,
    )?;
    let page = ListPage::from_rows(
        rows,
        limit,
        |row| row.id.clone(),
        |row| {
            let Some(group) = storage::group(&s.store, &row.id)? else {
                return Ok(None);
            };
            let (_, standing) = membership(&s, &row.id, Some(user.id()))?;
            Ok(Some(view(group, standing)))
        },
    )?;
    Ok(Json(page))
}
