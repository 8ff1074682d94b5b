//! Comments on posts, with one level of replies.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Page, PageParams, Query, path_id, rfc3339};
use crate::platform::tokens::{AuthUser, MaybeUser};
use crate::platform::unix_now;

use super::super::PostsState;
use super::super::domain::{self, Comment, Post, ReactionKind};
use super::super::error::Error;
use super::super::storage;
use super::posts::attached_media;
use super::{readable_post, viewer_of};
use crate::media::events::Attachment;

/// A comment as one reader sees it.
#[derive(Serialize, ToSchema)]
pub struct CommentView {
    id: String,
    post_id: String,
    author_id: String,
    /// The author's name and picture; absent for an author the platform no longer knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<crate::users::events::Author>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<String>,
    text: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    edited_at: Option<String>,
    reactions: BTreeMap<ReactionKind, u64>,
    /// The reader's own reaction, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    my_reaction: Option<ReactionKind>,
    /// The attached picture or video that still exists, URLs signed for the reader.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    media: Vec<Attachment>,
}

fn comment_view(s: &PostsState, viewer: Option<&str>, c: Comment) -> ApiResult<CommentView> {
    let now = unix_now();
    let my_reaction = match viewer {
        Some(v) => storage::reaction(&s.store, &c.id, v)?,
        None => None,
    };
    let media = storage::attachments(&s.store, &c.media)?
        .iter()
        .map(|m| m.attachment(&s.urls, now))
        .collect();
    let author =
        storage::byline(&s.store, &c.author_id)?.map(|b| b.author(&c.author_id, &s.urls, now));
    Ok(CommentView {
        media,
        author,
        id: c.id,
        post_id: c.post_id,
        author_id: c.author_id,
        parent_id: c.parent_id,
        text: c.text,
        created_at: rfc3339(c.created_at),
        edited_at: c.edited_at.map(rfc3339),
        reactions: c.reactions,
        my_reaction,
    })
}

/// Comments of a post in order (replies carry `parent_id`); comments of users the caller
/// blocked, or who blocked the caller, are left out.
#[utoipa::path(get, path = "/api/v1/posts/{id}/comments", tag = "posts", params(("id" = String, Path), PageParams), responses((status = 200, body = Page<CommentView>), (status = 404)))]
pub(super) async fn list_comments(
    State(s): State<PostsState>,
    viewer: MaybeUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<CommentView>>> {
    let v = viewer_of(&viewer);
    let post = readable_post(&s, v, &id)?;
    let limit = page.limit()?;
    let rows = storage::comments(&s.store, &post.id, page.cursor_id()?.as_deref(), limit + 1)?;
    let page = Page::from_rows(
        rows,
        limit,
        |c| c.id.clone(),
        |c| {
            let hidden = match v {
                Some(v) => storage::blocked_either(&s.store, v, &c.author_id)?,
                None => false,
            } || storage::moderated(&s.store, &c.id, &c.author_id)?;
            (!hidden).then(|| comment_view(&s, v, c)).transpose()
        },
    )?;
    Ok(Json(page))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Which route did you take?"}))]
pub struct NewComment {
    /// At most 2,000 characters; may be empty when `media_ids` is not.
    #[serde(default)]
    text: String,
    /// Answer to a top-level comment (one level of replies).
    parent_id: Option<String>,
    /// One picture, GIF or video the author uploaded (`POST /media`).
    #[serde(default)]
    media_ids: Vec<String>,
}

/// Comments on a post the caller may read (not one whose author blocked them).
#[utoipa::path(post, path = "/api/v1/posts/{id}/comments", tag = "posts", params(("id" = String, Path)), request_body = NewComment,
    responses((status = 201, body = CommentView), (status = 404), (status = 422)), security(("bearer" = [])))]
pub(super) async fn add_comment(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<NewComment>,
) -> ApiResult<impl IntoResponse> {
    let post = readable_post(&s, Some(user.id()), &id)?;
    domain::comment_media_count(req.media_ids.len())?;
    let text = domain::comment_text(&req.text, !req.media_ids.is_empty())?;
    let flagged = domain::screen(&text, &storage::keyword_rules(&s.store)?)?;
    let parent_id = req
        .parent_id
        .as_deref()
        .map(|p| {
            ulid::Ulid::from_string(p)
                .map(|u| u.to_string())
                .map_err(|_| Error::invalid("parent_id", "no such comment on this post"))
        })
        .transpose()?;
    let media = attached_media(&s, user.id(), &req.media_ids).await?;
    let comment = Comment {
        id: crate::platform::new_id(),
        post_id: post.id.clone(),
        author_id: user.id().into(),
        parent_id,
        text,
        created_at: unix_now(),
        edited_at: None,
        reactions: BTreeMap::new(),
        media: media.into_iter().map(|m| m.media_id).collect(),
    };
    storage::add_comment(&s.store, &comment, &flagged).await?;
    Ok((
        StatusCode::CREATED,
        Json(comment_view(&s, Some(user.id()), comment)?),
    ))
}

fn own_comment(
    s: &PostsState,
    user: &AuthUser,
    id: &str,
    comment: &str,
) -> ApiResult<(Post, Comment)> {
    let post = readable_post(s, Some(user.id()), id)?;
    let c = storage::comment(&s.store, &post.id, &path_id(comment, "comment")?)?
        .ok_or(Error::CommentNotFound)?;
    if storage::moderated(&s.store, &c.id, &c.author_id)? {
        return Err(Error::CommentNotFound.into());
    }
    Ok((post, c))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Which route did you take, and how long was it?"}))]
pub struct CommentChange {
    text: String,
}

/// Edits a comment (its author).
#[utoipa::path(patch, path = "/api/v1/posts/{id}/comments/{comment}", tag = "posts", params(("id" = String, Path), ("comment" = String, Path)), request_body = CommentChange,
    responses((status = 200, body = CommentView), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn edit_comment(
    State(s): State<PostsState>,
    user: AuthUser,
    Path((id, comment)): Path<(String, String)>,
    Json(req): Json<CommentChange>,
) -> ApiResult<Json<CommentView>> {
    let (post, c) = own_comment(&s, &user, &id, &comment)?;
    domain::may_edit_comment(&c, user.id())?;
    let text = domain::comment_text(&req.text, !c.media.is_empty())?;
    domain::screen(&text, &storage::keyword_rules(&s.store)?)?;
    let c = storage::edit_comment(&s.store, &post.id, &c.id, &text, unix_now()).await?;
    Ok(Json(comment_view(&s, Some(user.id()), c)?))
}

/// Deletes a comment and its replies (its author, or the post's author).
#[utoipa::path(delete, path = "/api/v1/posts/{id}/comments/{comment}", tag = "posts", params(("id" = String, Path), ("comment" = String, Path)), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn delete_comment(
    State(s): State<PostsState>,
    user: AuthUser,
    Path((id, comment)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (post, c) = own_comment(&s, &user, &id, &comment)?;
    domain::may_delete_comment(&post, &c, user.id())?;
    storage::delete_comment(&s.store, user.id(), &post.id, &c.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
