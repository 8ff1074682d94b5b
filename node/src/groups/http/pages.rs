//! Pages: create, read, change, their admins and followers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Page as ListPage, PageParams, Query, path_id, rfc3339};
use crate::platform::tokens::{AuthUser, MaybeUser};
use crate::platform::unix_now;

use super::super::GroupsState;
use super::super::domain::{self, Page};
use super::super::error::Error;
use super::super::storage::{self, Edge, Roster};
use super::{Invitation, ListedMember, listed};

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
    storage::page(&s.store, &path_id(id, "page")?)?.ok_or(Error::PageNotFound.into())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Riverside Bakery", "description": "Bread at dawn, cakes by noon."}))]
pub struct NewPage {
    name: String,
    #[serde(default)]
    description: String,
}

/// Creates a page; the caller becomes its admin (and may post as it).
#[utoipa::path(post, path = "/api/v1/pages", tag = "pages", request_body = NewPage, responses((status = 201, body = PageView), (status = 422)), security(("bearer" = [])))]
pub(super) async fn create_page(
    State(s): State<GroupsState>,
    user: AuthUser,
    Json(req): Json<NewPage>,
) -> ApiResult<impl IntoResponse> {
    let (name, description) =
        domain::name_and_description(Some(&req.name), Some(&req.description))?;
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
pub(super) async fn get_page(
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
#[schema(example = json!({"description": "Now open on Sundays too."}))]
pub struct PageChange {
    name: Option<String>,
    description: Option<String>,
}

fn page_admin(s: &GroupsState, user: &AuthUser, id: &str) -> ApiResult<Page> {
    let page = find_page(s, id)?;
    if !storage::has(&s.store, Edge::PageAdmin, &page.id, user.id())? {
        return Err(Error::PageAdminsOnly.into());
    }
    Ok(page)
}

/// Changes a page (its admins).
#[utoipa::path(patch, path = "/api/v1/pages/{id}", tag = "pages", params(("id" = String, Path)), request_body = PageChange, responses((status = 200, body = PageView), (status = 403)), security(("bearer" = [])))]
pub(super) async fn update_page(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<PageChange>,
) -> ApiResult<Json<PageView>> {
    let page = page_admin(&s, &user, &id)?;
    let (name, description) =
        domain::name_and_description(req.name.as_deref(), req.description.as_deref())?;
    let page = storage::update_page(&s.store, user.id(), &page.id, |p| {
        p.name = name.clone().unwrap_or_else(|| p.name.clone());
        p.description = description.clone().unwrap_or_else(|| p.description.clone());
    })
    .await?;
    Ok(Json(page_view(&s, page, Some(user.id()))?))
}

/// Makes another user an admin of the page (its admins).
#[utoipa::path(post, path = "/api/v1/pages/{id}/admins", tag = "pages", params(("id" = String, Path)), request_body = Invitation, responses((status = 204), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub(super) async fn add_page_admin(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<Invitation>,
) -> ApiResult<StatusCode> {
    let page = page_admin(&s, &user, &id)?;
    let who = path_id(&req.user_id, "user")?;
    if !storage::account_exists(&s.store, &who)? {
        return Err(Error::UserNotFound.into());
    }
    storage::add_page_admin(&s.store, user.id(), &page.id, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Follows a page.
#[utoipa::path(post, path = "/api/v1/pages/{id}/follow", tag = "pages", params(("id" = String, Path)), responses((status = 204), (status = 404), (status = 409)), security(("bearer" = [])))]
pub(super) async fn follow_page(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::set_follow(&s.store, &path_id(&id, "page")?, user.id(), true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unfollows a page.
#[utoipa::path(delete, path = "/api/v1/pages/{id}/follow", tag = "pages", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub(super) async fn unfollow_page(
    State(s): State<GroupsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    storage::set_follow(&s.store, &path_id(&id, "page")?, user.id(), false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page's followers (public).
#[utoipa::path(get, path = "/api/v1/pages/{id}/followers", tag = "pages", params(("id" = String, Path), PageParams), responses((status = 200, body = ListPage<ListedMember>), (status = 404)))]
pub(super) async fn list_followers(
    State(s): State<GroupsState>,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<ListPage<ListedMember>>> {
    let p = find_page(&s, &id)?;
    listed(Roster::Edge(Edge::Follower), &p.id, &s, &page)
}
