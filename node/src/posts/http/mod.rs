//! The HTTP API of posts, by resource: [`posts`] (posts, timelines, shares), [`comments`],
//! [`reactions`]. Privacy is applied on every read ([`super::domain::readable`]): what a
//! reader may not read is 404, as if it did not exist.

mod comments;
mod posts;
mod reactions;

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::{get, patch, put};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{path_id, rfc3339};
use crate::platform::tokens::MaybeUser;

use super::PostsState;
use super::domain::{self, Audience, Post, ReactionKind, Visibility};
use super::error::Error;
use super::storage;

pub fn routes(state: PostsState) -> Router {
    Router::new()
        .route(
            "/api/v1/posts",
            get(posts::list_posts).post(posts::create_post),
        )
        .route(
            "/api/v1/posts/{id}",
            get(posts::get_post)
                .patch(posts::edit_post)
                .delete(posts::delete_post),
        )
        .route("/api/v1/posts/{id}/history", get(posts::post_history))
        .route(
            "/api/v1/posts/{id}/comments",
            get(comments::list_comments).post(comments::add_comment),
        )
        .route(
            "/api/v1/posts/{id}/comments/{comment}",
            patch(comments::edit_comment).delete(comments::delete_comment),
        )
        .route(
            "/api/v1/posts/{id}/comments/{comment}/reactions",
            put(reactions::react_to_comment).delete(reactions::unreact_to_comment),
        )
        .route(
            "/api/v1/posts/{id}/reactions",
            get(reactions::get_reactions)
                .put(reactions::react_to_post)
                .delete(reactions::unreact_to_post),
        )
        .route(
            "/api/v1/posts/{id}/shares",
            axum::routing::post(posts::share_post),
        )
        .route("/api/v1/users/{id}/posts", get(posts::user_timeline))
        .with_state(state)
}

fn viewer_of(user: &MaybeUser) -> Option<&str> {
    user.0.as_ref().map(|c| c.sub.as_str())
}

/// A post as one reader sees it.
#[derive(Serialize, ToSchema)]
pub struct PostView {
    id: String,
    author_id: String,
    /// The author's name and picture; absent for an author the platform no longer knows
    /// (an erased account).
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<crate::users::events::Author>,
    audience: Audience,
    text: String,
    /// Profile posts only: group and page posts follow their group or page (absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    visibility: Option<Visibility>,
    hashtags: Vec<String>,
    /// Ids of the users mentioned.
    mentions: Vec<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    edited_at: Option<String>,
    /// Counts per reaction kind.
    reactions: BTreeMap<ReactionKind, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    my_reaction: Option<ReactionKind>,
    comment_count: u64,
    share_count: u64,
    /// The shared post, when this is a share and the reader may read the original.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    shared: Option<Box<PostView>>,
    /// True when this is a share of a post the reader may not (or can no longer) read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    shared_unavailable: bool,
    /// The attached pictures and videos, their URLs signed for this reader.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    media: Vec<crate::media::events::Attachment>,
}

/// Whether the reader may read the post: the privacy rules (a suspended author's posts
/// included), and no moderator's removal.
fn readable(s: &PostsState, viewer: Option<&str>, post: &Post) -> ApiResult<bool> {
    Ok(
        domain::readable(post, &storage::standing(&s.store, viewer, post)?)
            && !storage::removed(&s.store, &post.id)?,
    )
}

/// The post, if the reader may read it; 404 otherwise (as if it did not exist).
fn readable_post(s: &PostsState, viewer: Option<&str>, id: &str) -> ApiResult<Post> {
    let post = storage::post(&s.store, &path_id(id, "post")?)?.ok_or(Error::PostNotFound)?;
    if !readable(s, viewer, &post)? {
        return Err(Error::PostNotFound.into());
    }
    Ok(post)
}

fn view(s: &PostsState, viewer: Option<&str>, post: Post, embed: bool) -> ApiResult<PostView> {
    let my_reaction = match viewer {
        Some(v) => storage::reaction(&s.store, &post.id, v)?,
        None => None,
    };
    let (mut shared, mut shared_unavailable) = (None, false);
    if let (Some(original), true) = (&post.shared_post, embed) {
        match storage::post(&s.store, original)? {
            Some(o) if readable(s, viewer, &o)? => {
                shared = Some(Box::new(view(s, viewer, o, false)?))
            }
            _ => shared_unavailable = true,
        }
    }
    let visibility = (post.audience == Audience::Profile).then_some(post.visibility);
    let now = crate::platform::unix_now();
    let media = storage::attachments(&s.store, &post.media)?
        .iter()
        .map(|m| m.attachment(&s.urls, now))
        .collect();
    let author = storage::byline(&s.store, &post.author_id)?
        .map(|b| b.author(&post.author_id, &s.urls, now));
    Ok(PostView {
        id: post.id,
        author_id: post.author_id,
        author,
        audience: post.audience,
        text: post.text,
        visibility,
        hashtags: post.hashtags,
        mentions: post.mentions,
        created_at: rfc3339(post.created_at),
        edited_at: post.edited_at.map(rfc3339),
        reactions: post.reactions,
        my_reaction,
        comment_count: post.comment_count,
        share_count: post.share_count,
        shared,
        shared_unavailable,
        media,
    })
}

/// The posts part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    posts::create_post,
    posts::get_post,
    posts::edit_post,
    posts::delete_post,
    posts::post_history,
    posts::user_timeline,
    posts::list_posts,
    posts::share_post,
    comments::list_comments,
    comments::add_comment,
    comments::edit_comment,
    comments::delete_comment,
    reactions::get_reactions,
    reactions::react_to_post,
    reactions::unreact_to_post,
    reactions::react_to_comment,
    reactions::unreact_to_comment
))]
pub struct PostsApi;
