//! Reactions to posts and comments: one per user and target.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, path_id};
use crate::platform::tokens::{AuthUser, MaybeUser};

use super::super::PostsState;
use super::super::domain::ReactionKind;
use super::super::storage;
use super::{readable_post, viewer_of};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "love"}))]
pub struct ReactionRequest {
    kind: ReactionKind,
}

#[derive(Serialize, ToSchema)]
pub struct Reactions {
    counts: BTreeMap<ReactionKind, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mine: Option<ReactionKind>,
}

/// Reaction counts of a post and the caller's own.
#[utoipa::path(get, path = "/api/v1/posts/{id}/reactions", tag = "posts", params(("id" = String, Path)), responses((status = 200, body = Reactions), (status = 404)))]
pub(super) async fn get_reactions(
    State(s): State<PostsState>,
    viewer: MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Reactions>> {
    let v = viewer_of(&viewer);
    let post = readable_post(&s, v, &id)?;
    let mine = match v {
        Some(v) => storage::reaction(&s.store, &post.id, v)?,
        None => None,
    };
    Ok(Json(Reactions {
        counts: post.reactions,
        mine,
    }))
}

pub(super) async fn react(
    s: &PostsState,
    user: &AuthUser,
    id: &str,
    comment: Option<&str>,
    kind: Option<ReactionKind>,
) -> ApiResult<Reactions> {
    let post = readable_post(s, Some(user.id()), id)?;
    let comment = comment.map(|c| path_id(c, "comment")).transpose()?;
    let counts = storage::react(&s.store, &post.id, comment.as_deref(), user.id(), kind).await?;
    Ok(Reactions { counts, mine: kind })
}

/// Sets or changes the caller's reaction to a post (one per user).
#[utoipa::path(put, path = "/api/v1/posts/{id}/reactions", tag = "posts", params(("id" = String, Path)), request_body = ReactionRequest, responses((status = 200, body = Reactions), (status = 404)), security(("bearer" = [])))]
pub(super) async fn react_to_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<ReactionRequest>,
) -> ApiResult<Json<Reactions>> {
    Ok(Json(react(&s, &user, &id, None, Some(req.kind)).await?))
}

/// Removes the caller's reaction to a post.
#[utoipa::path(delete, path = "/api/v1/posts/{id}/reactions", tag = "posts", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub(super) async fn unreact_to_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    react(&s, &user, &id, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets or changes the caller's reaction to a comment.
#[utoipa::path(put, path = "/api/v1/posts/{id}/comments/{comment}/reactions", tag = "posts", params(("id" = String, Path), ("comment" = String, Path)), request_body = ReactionRequest,
    responses((status = 200, body = Reactions), (status = 404)), security(("bearer" = [])))]
pub(super) async fn react_to_comment(
    State(s): State<PostsState>,
    user: AuthUser,
    Path((id, comment)): Path<(String, String)>,
    Json(req): Json<ReactionRequest>,
) -> ApiResult<Json<Reactions>> {
    Ok(Json(
        react(&s, &user, &id, Some(&comment), Some(req.kind)).await?,
    ))
}

/// Removes the caller's reaction to a comment.
#[utoipa::path(delete, path = "/api/v1/posts/{id}/comments/{comment}/reactions", tag = "posts", params(("id" = String, Path), ("comment" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub(super) async fn unreact_to_comment(
    State(s): State<PostsState>,
    user: AuthUser,
    Path((id, comment)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    react(&s, &user, &id, Some(&comment), None).await?;
    Ok(StatusCode::NO_CONTENT)
}
