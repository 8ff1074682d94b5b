//! The HTTP API of groups and pages.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::{Json, Page as ListPage, PageParams, Query, path_id, rfc3339};
use crate::platform::text::clean_text;
use crate::platform::tokens::{AuthUser, MaybeUser};
use crate::platform::unix_now;

use super::GroupsState;
use super::domain::{self, Group, GroupPrivacy, GroupRole, JoinOutcome, Page};
use super::storage::{self, Edge, Membership, Since};

pub fn routes(state: GroupsState) -> Router {
    Router::new()
        .route("/api/v1/groups", post(create_group))
        .route("/api/v1/groups/mine", get(my_groups))
        .route(
            "/api/v1/groups/{id}",
            get(get_group).patch(update_group).delete(delete_group),
        )
        .route("/api/v1/groups/{id}/join", post(join_group))
        .route("/api/v1/groups/{id}/leave", post(leave_group))
        .route("/api/v1/groups/{id}/members", get(list_members))
        .route("/api/v1/groups/{id}/members/{user}", delete(remove_member))
        .route("/api/v1/groups/{id}/members/{user}/role", put(set_role))
        .route("/api/v1/groups/{id}/requests", get(list_requests))
        .route(
            "/api/v1/groups/{id}/requests/{user}/approve",
            post(approve_request),
        )
        .route(
            "/api/v1/groups/{id}/requests/{user}/deny",
            post(deny_request),
        )
        .route("/api/v1/groups/{id}/invitations", post(invite))
        .route("/api/v1/groups/{id}/bans/{user}", post(ban).delete(unban))
        .route("/api/v1/pages", post(create_page))
        .route("/api/v1/pages/{id}", get(get_page).patch(update_page))
        .route("/api/v1/pages/{id}/admins", post(add_page_admin))
        .route(
            "/api/v1/pages/{id}/follow",
            post(follow_page).delete(unfollow_page),
        )
        .route("/api/v1/pages/{id}/followers", get(list_followers))
        .with_state(state)
}

fn validation(errors: Vec<FieldError>) -> ApiError {
    let detail = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::Validation { detail, errors }
}

/// A name (1-100 characters) and description (at most 2,000) of a group or page.
fn clean_name_and_description(
    name: Option<&str>,
    description: Option<&str>,
) -> ApiResult<(Option<String>, Option<String>)> {
    let mut errors = Vec::new();
    let name = name.and_then(|n| match clean_text("name", n, 100, false) {
        Ok(n) if n.is_empty() => {
            errors.push(FieldError::new("name", "must not be empty"));
            None
        }
        Ok(n) => Some(n),
        Err(e) => {
            errors.push(e);
            None
        }
    });
    let description = description.and_then(|d| {
        clean_text("description", d, 2_000, true)
            .map_err(|e| errors.push(e))
            .ok()
    });
    if errors.is_empty() {
        Ok((name, description))
    } else {
        Err(validation(errors))
    }
}

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
    let not_found = || ApiError::NotFound("no such group".into());
    let g = path_id(id, "group")?;
    let group = storage::group(&s.store, &g)?.ok_or_else(not_found)?;
    let (role, standing) = membership(s, &g, viewer)?;
    if !domain::group_visible(group.privacy, role, standing == "invited") {
        return Err(not_found());
    }
    Ok((group, role, standing))
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
pub struct NewGroup {
    /// 1 to 100 characters.
    name: String,
    #[serde(default)]
    description: String,
    privacy: GroupPrivacy,
}

/// Creates a group; the caller becomes its admin.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup, responses((status = 201, body = GroupView), (status = 422)), security(("bearer" = [])))]
async fn create_group(
    State(s): State<GroupsState>,
    user: AuthUser,
    Json(req): Json<NewGroup>,
) -> ApiResult<impl IntoResponse> {
    let (name, description) = clean_name_and_description(Some(&req.name), Some(&req.description))?;
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
async fn get_group(
    State(s): State<GroupsState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<GroupView>> {
    let (group, _, standing) = visible_group(&s, &id, viewer.as_ref().map(|c| c.sub.as_str()))?;
    Ok(Json(view(group, standing)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    name: Option<String>,
    description: Option<String>,
    privacy: Option<GroupPrivacy>,
}

/// Changes a group (admins).
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = String, Path)), request_body = GroupChange, responses((status = 200, body = GroupView), (status = 403)), security(("bearer" = [])))]
async fn update_group(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<GroupChange>,
) -> ApiResult<Json<GroupView>> {
    let (group, role, standing) = visible_group(&s, &id, Some(user.id()))?;
    domain::require(role, GroupRole::Admin)?;
    let (name, description) =
        clean_name_and_description(req.name.as_deref(), req.description.as_deref())?;
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
async fn delete_group(
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
async fn join_group(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<JoinResult>> {
    let (group, role, standing) = visible_group(&s, &id, Some(user.id()))?;
    if role.is_some() {
        return Err(ApiError::Conflict("you are already a member".into()));
    }
    let banned = storage::has(&s.store, Edge::Ban, &group.id, user.id())?;
    let status = match domain::join(group.privacy, standing == "invited", banned)? {
        JoinOutcome::Joined => {
            storage::add_member(&s.store, user.id(), &group.id, user.id(), GroupRole::Member)
                .await?;
            "joined"
        }
        JoinOutcome::Requested => {
            storage::add_pending(&s.store, Edge::Request, &group.id, user.id()).await?;
            "requested"
        }
    };
    Ok(Json(JoinResult { status }))
}

/// Leaves a group (or withdraws a pending request).
#[utoipa::path(post, path = "/api/v1/groups/{id}/leave", tag = "groups", params(("id" = String, Path)), responses((status = 204), (status = 404), (status = 409, description = "the last admin")), security(("bearer" = [])))]
async fn leave_group(
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
            return Err(ApiError::NotFound(
                "you are not a member of this group".into(),
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A member, request, invitation, ban or follower in a list.
#[derive(Serialize, ToSchema)]
pub struct ListedMember {
    user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<GroupRole>,
    since: String,
}

fn listed(
    prefix: &str,
    owner: &str,
    s: &GroupsState,
    page: &PageParams,
) -> ApiResult<Json<ListPage<ListedMember>>> {
    let limit = page.limit()?;
    let rows = storage::list(
        &s.store,
        prefix,
        owner,
        page.cursor_id()?.as_deref(),
        limit + 1,
    )?;
    let page = ListPage::from_rows(
        rows,
        limit,
        |(id, _)| id.clone(),
        |(user_id, value)| {
            let (role, since) = match serde_json::from_slice::<Membership>(&value) {
                Ok(m) => (Some(m.role), m.since),
                Err(_) => (
                    None,
                    serde_json::from_slice::<Since>(&value)
                        .map(|s| s.at)
                        .unwrap_or_default(),
                ),
            };
            Ok(Some(ListedMember {
                user_id,
                role,
                since: rfc3339(since),
            }))
        },
    )?;
    Ok(Json(page))
}

/// Members of a group: anyone for a public group, members otherwise.
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "groups", params(("id" = String, Path), PageParams), responses((status = 200, body = ListPage<ListedMember>), (status = 403)))]
async fn list_members(
    State(s): State<GroupsState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<ListPage<ListedMember>>> {
    let (group, role, _) = visible_group(&s, &id, viewer.as_ref().map(|c| c.sub.as_str()))?;
    if !domain::content_visible(group.privacy, role) {
        return Err(ApiError::Forbidden(
            "only members see who is in this group".into(),
        ));
    }
    listed("gm/", &group.id, &s, &page)
}

/// The groups the caller belongs to.
#[utoipa::path(get, path = "/api/v1/groups/mine", tag = "groups", params(PageParams), responses((status = 200, body = ListPage<GroupView>)), security(("bearer" = [])))]
async fn my_groups(
    State(s): State<GroupsState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<ListPage<GroupView>>> {
    let limit = page.limit()?;
    let rows = storage::list(
        &s.store,
        "ug/",
        user.id(),
        page.cursor_id()?.as_deref(),
        limit + 1,
    )?;
    let page = ListPage::from_rows(
        rows,
        limit,
        |(g, _)| g.clone(),
        |(g, _)| {
            let Some(group) = storage::group(&s.store, &g)? else {
                return Ok(None);
            };
            let (_, standing) = membership(&s, &g, Some(user.id()))?;
            Ok(Some(view(group, standing)))
        },
    )?;
    Ok(Json(page))
}

fn moderated(s: &GroupsState, user: &AuthUser, id: &str) -> ApiResult<(Group, GroupRole)> {
    let (group, role, _) = visible_group(s, id, Some(user.id()))?;
    domain::require(role, GroupRole::Moderator)?;
    Ok((group, role.unwrap_or(GroupRole::Moderator)))
}

/// Pending join requests (moderators and admins).
#[utoipa::path(get, path = "/api/v1/groups/{id}/requests", tag = "groups", params(("id" = String, Path), PageParams), responses((status = 200, body = ListPage<ListedMember>), (status = 403)), security(("bearer" = [])))]
async fn list_requests(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<ListPage<ListedMember>>> {
    let (group, _) = moderated(&s, &user, &id)?;
    listed("gr/", &group.id, &s, &page)
}

/// Approves a join request (moderators and admins).
#[utoipa::path(post, path = "/api/v1/groups/{id}/requests/{user}/approve", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn approve_request(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (group, _) = moderated(&s, &user, &id)?;
    let who = path_id(&who, "user")?;
    if !storage::has(&s.store, Edge::Request, &group.id, &who)? {
        return Err(ApiError::NotFound(
            "no pending request from this user".into(),
        ));
    }
    storage::add_member(&s.store, user.id(), &group.id, &who, GroupRole::Member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Denies a join request (moderators and admins).
#[utoipa::path(post, path = "/api/v1/groups/{id}/requests/{user}/deny", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn deny_request(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    drop_edge(&s, &user, &id, &who, Edge::Request).await
}

/// Drops a pending request or a ban (moderators and admins).
async fn drop_edge(
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    user_id: String,
}

/// Invites a user: any member of a public or private group; moderators and admins of a
/// secret one. The invitee joins with `POST /groups/{id}/join`.
#[utoipa::path(post, path = "/api/v1/groups/{id}/invitations", tag = "groups", params(("id" = String, Path)), request_body = Invitation, responses((status = 201), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
async fn invite(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<Invitation>,
) -> ApiResult<StatusCode> {
    let (group, role, _) = visible_group(&s, &id, Some(user.id()))?;
    let needed = if group.privacy == GroupPrivacy::Secret {
        GroupRole::Moderator
    } else {
        GroupRole::Member
    };
    domain::require(role, needed)?;
    let invitee = path_id(&req.user_id, "user")?;
    if !storage::account_exists(&s.store, &invitee)? {
        return Err(ApiError::NotFound("no such user".into()));
    }
    storage::add_pending(&s.store, Edge::Invitation, &group.id, &invitee).await?;
    Ok(StatusCode::CREATED)
}

/// Removes a member (moderators and admins; only admins remove admins or moderators).
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user}", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn remove_member(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (group, role) = moderated(&s, &user, &id)?;
    let who = path_id(&who, "user")?;
    outranks(role, storage::role(&s.store, &group.id, &who)?)?;
    storage::remove_member(&s.store, user.id(), &group.id, &who, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn outranks(actor: GroupRole, target: Option<GroupRole>) -> ApiResult<()> {
    match target {
        Some(t) if t >= actor && actor != GroupRole::Admin => Err(ApiError::Forbidden(
            "you cannot act on a member of your rank or above".into(),
        )),
        _ => Ok(()),
    }
}

/// Bans a user (removing them if a member) (moderators and admins).
#[utoipa::path(post, path = "/api/v1/groups/{id}/bans/{user}", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 403)), security(("bearer" = [])))]
async fn ban(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (group, role) = moderated(&s, &user, &id)?;
    let who = path_id(&who, "user")?;
    if who == user.id() {
        return Err(ApiError::BadRequest("you cannot ban yourself".into()));
    }
    outranks(role, storage::role(&s.store, &group.id, &who)?)?;
    storage::remove_member(&s.store, user.id(), &group.id, &who, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a ban (moderators and admins).
#[utoipa::path(delete, path = "/api/v1/groups/{id}/bans/{user}", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn unban(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path((id, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    drop_edge(&s, &user, &id, &who, Edge::Ban).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: GroupRole,
}

/// Sets a member's role (admins).
#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{user}/role", tag = "groups", params(("id" = String, Path), ("user" = String, Path)), request_body = RoleChange, responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn set_role(
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

/// A page as anyone sees it.
#[derive(Serialize, ToSchema)]
pub struct PageView {
    id: String,
    name: String,
    description: String,
    follower_count: u64,
    created_at: String,
    /// Whether the caller follows it / administers it.
    following: bool,
    admin: bool,
}

fn page_view(s: &GroupsState, page: Page, viewer: Option<&str>) -> ApiResult<PageView> {
    let (following, admin) = match viewer {
        Some(v) => (
            storage::has(&s.store, Edge::Follower, &page.id, v)?,
            storage::has(&s.store, Edge::PageAdmin, &page.id, v)?,
        ),
        None => (false, false),
    };
    Ok(PageView {
        id: page.id,
        name: page.name,
        description: page.description,
        follower_count: page.follower_count,
        created_at: rfc3339(page.created_at),
        following,
        admin,
    })
}

fn find_page(s: &GroupsState, id: &str) -> ApiResult<Page> {
    storage::page(&s.store, &path_id(id, "page")?)?
        .ok_or_else(|| ApiError::NotFound("no such page".into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPage {
    name: String,
    #[serde(default)]
    description: String,
}

/// Creates a page; the caller becomes its admin (and may post as it).
#[utoipa::path(post, path = "/api/v1/pages", tag = "pages", request_body = NewPage, responses((status = 201, body = PageView), (status = 422)), security(("bearer" = [])))]
async fn create_page(
    State(s): State<GroupsState>,
    user: AuthUser,
    Json(req): Json<NewPage>,
) -> ApiResult<impl IntoResponse> {
    let (name, description) = clean_name_and_description(Some(&req.name), Some(&req.description))?;
    let page = Page {
        id: crate::platform::new_id(),
        name: name.unwrap_or_default(),
        description: description.unwrap_or_default(),
        created_by: user.id().into(),
        created_at: unix_now(),
        follower_count: 0,
    };
    storage::create_page(&s.store, &page).await?;
    Ok((
        StatusCode::CREATED,
        Json(page_view(&s, page, Some(user.id()))?),
    ))
}

/// A page (public).
#[utoipa::path(get, path = "/api/v1/pages/{id}", tag = "pages", params(("id" = String, Path)), responses((status = 200, body = PageView), (status = 404)))]
async fn get_page(
    State(s): State<GroupsState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PageView>> {
    let page = find_page(&s, &id)?;
    Ok(Json(page_view(
        &s,
        page,
        viewer.as_ref().map(|c| c.sub.as_str()),
    )?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageChange {
    name: Option<String>,
    description: Option<String>,
}

fn page_admin(s: &GroupsState, user: &AuthUser, id: &str) -> ApiResult<Page> {
    let page = find_page(s, id)?;
    if !storage::has(&s.store, Edge::PageAdmin, &page.id, user.id())? {
        return Err(ApiError::Forbidden(
            "only the page's admins may do this".into(),
        ));
    }
    Ok(page)
}

/// Changes a page (its admins).
#[utoipa::path(patch, path = "/api/v1/pages/{id}", tag = "pages", params(("id" = String, Path)), request_body = PageChange, responses((status = 200, body = PageView), (status = 403)), security(("bearer" = [])))]
async fn update_page(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<PageChange>,
) -> ApiResult<Json<PageView>> {
    let page = page_admin(&s, &user, &id)?;
    let (name, description) =
        clean_name_and_description(req.name.as_deref(), req.description.as_deref())?;
    let page = storage::update_page(&s.store, user.id(), &page.id, |p| {
        p.name = name.clone().unwrap_or_else(|| p.name.clone());
        p.description = description.clone().unwrap_or_else(|| p.description.clone());
    })
    .await?;
    Ok(Json(page_view(&s, page, Some(user.id()))?))
}

/// Makes another user an admin of the page (its admins).
#[utoipa::path(post, path = "/api/v1/pages/{id}/admins", tag = "pages", params(("id" = String, Path)), request_body = Invitation, responses((status = 204), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
async fn add_page_admin(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<Invitation>,
) -> ApiResult<StatusCode> {
    let page = page_admin(&s, &user, &id)?;
    let who = path_id(&req.user_id, "user")?;
    if !storage::account_exists(&s.store, &who)? {
        return Err(ApiError::NotFound("no such user".into()));
    }
    storage::add_page_admin(&s.store, user.id(), &page.id, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Follows a page.
#[utoipa::path(post, path = "/api/v1/pages/{id}/follow", tag = "pages", params(("id" = String, Path)), responses((status = 204), (status = 404), (status = 409)), security(("bearer" = [])))]
async fn follow_page(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::set_follow(&s.store, &path_id(&id, "page")?, user.id(), true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unfollows a page.
#[utoipa::path(delete, path = "/api/v1/pages/{id}/follow", tag = "pages", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn unfollow_page(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::set_follow(&s.store, &path_id(&id, "page")?, user.id(), false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page's followers (public).
#[utoipa::path(get, path = "/api/v1/pages/{id}/followers", tag = "pages", params(("id" = String, Path), PageParams), responses((status = 200, body = ListPage<ListedMember>), (status = 404)))]
async fn list_followers(
    State(s): State<GroupsState>,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<ListPage<ListedMember>>> {
    let p = find_page(&s, &id)?;
    listed("pf/", &p.id, &s, &page)
}

/// The groups and pages part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_group,
    get_group,
    update_group,
    delete_group,
    join_group,
    leave_group,
    list_members,
    my_groups,
    list_requests,
    approve_request,
    deny_request,
    invite,
    remove_member,
    ban,
    unban,
    set_role,
    create_page,
    get_page,
    update_page,
    add_page_admin,
    follow_page,
    unfollow_page,
    list_followers
))]
pub struct GroupsApi;
