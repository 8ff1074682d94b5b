//! The HTTP API of posts: posts, timelines, comments, reactions and shares. Privacy is
//! applied on every read ([`super::domain::readable`]).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, put};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::groups::events::{GroupPrivacy, GroupRole};
use crate::platform::error::{ApiError, ApiResult};
use crate::platform::http::{Json, Page, PageParams, Query, path_id, rfc3339};
use crate::platform::text::clean_text;
use crate::platform::tokens::{AuthUser, MaybeUser};
use crate::platform::unix_now;

use super::PostsState;
use super::domain::{
    self, Audience, COMMENT_MAX_CHARS, Comment, POST_MAX_CHARS, Post, ReactionKind, Revision,
    Visibility,
};
use super::storage;

pub fn routes(state: PostsState) -> Router {
    Router::new()
        .route("/api/v1/posts", get(list_posts).post(create_post))
        .route(
            "/api/v1/posts/{id}",
            get(get_post).patch(edit_post).delete(delete_post),
        )
        .route("/api/v1/posts/{id}/history", get(post_history))
        .route(
            "/api/v1/posts/{id}/comments",
            get(list_comments).post(add_comment),
        )
        .route(
            "/api/v1/posts/{id}/comments/{comment}",
            patch(edit_comment).delete(delete_comment),
        )
        .route(
            "/api/v1/posts/{id}/comments/{comment}/reactions",
            put(react_to_comment).delete(unreact_to_comment),
        )
        .route(
            "/api/v1/posts/{id}/reactions",
            get(get_reactions)
                .put(react_to_post)
                .delete(unreact_to_post),
        )
        .route("/api/v1/posts/{id}/shares", axum::routing::post(share_post))
        .route("/api/v1/users/{id}/posts", get(user_timeline))
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
    audience: Audience,
    text: String,
    visibility: Visibility,
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
}

fn readable(s: &PostsState, viewer: Option<&str>, post: &Post) -> ApiResult<bool> {
    Ok(domain::readable(
        post,
        &storage::standing(&s.store, viewer, post)?,
    ))
}

/// The post, if the reader may read it; 404 otherwise (as if it did not exist).
fn readable_post(s: &PostsState, viewer: Option<&str>, id: &str) -> ApiResult<Post> {
    let not_found = || ApiError::NotFound("no such post".into());
    let post = storage::post(&s.store, &path_id(id, "post")?)?.ok_or_else(not_found)?;
    if !readable(s, viewer, &post)? {
        return Err(not_found());
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
    Ok(PostView {
        id: post.id,
        author_id: post.author_id,
        audience: post.audience,
        text: post.text,
        visibility: post.visibility,
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
    })
}

fn clean_post_text(text: &str, allow_empty: bool) -> ApiResult<String> {
    let text = clean_text("text", text, POST_MAX_CHARS, true)
        .map_err(|e| ApiError::field(&e.field, e.message))?;
    if text.is_empty() && !allow_empty {
        return Err(ApiError::field("text", "must not be empty"));
    }
    Ok(text)
}

/// Hashtags, and the mentioned usernames that exist, as user ids.
fn tags(s: &PostsState, text: &str) -> ApiResult<(Vec<String>, Vec<String>)> {
    let (hashtags, usernames) = domain::tags_and_mentions(text);
    let mut mentions = Vec::new();
    for name in usernames {
        if let Some(id) = storage::user_by_username(&s.store, &name)? {
            mentions.push(id);
        }
    }
    Ok((hashtags, mentions))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// At most 5,000 characters.
    text: String,
    /// Profile posts only (default `public`); group and page posts follow the group or page.
    visibility: Option<Visibility>,
    /// Where to publish (default: the author's profile).
    #[serde(default)]
    audience: Audience,
}

/// Checks that the author may publish to the audience.
fn check_audience(s: &PostsState, author: &str, audience: &Audience) -> ApiResult<()> {
    match audience {
        Audience::Profile => Ok(()),
        Audience::Group { id } => {
            let id = path_id(id, "group")?;
            let privacy = storage::group_privacy(&s.store, &id)?
                .ok_or_else(|| ApiError::NotFound("no such group".into()))?;
            match (storage::group_role(&s.store, &id, author)?, privacy) {
                (Some(_), _) => Ok(()),
                (None, GroupPrivacy::Secret) => Err(ApiError::NotFound("no such group".into())),
                (None, _) => Err(ApiError::Forbidden(
                    "only members post in this group".into(),
                )),
            }
        }
        Audience::Page { id } => {
            let id = path_id(id, "page")?;
            if !storage::page_exists(&s.store, &id)? {
                return Err(ApiError::NotFound("no such page".into()));
            }
            if !storage::page_admin(&s.store, &id, author)? {
                return Err(ApiError::Forbidden(
                    "only the page's admins post as the page".into(),
                ));
            }
            Ok(())
        }
    }
}

fn new_post(
    author: &str,
    audience: Audience,
    text: String,
    visibility: Visibility,
    tags: (Vec<String>, Vec<String>),
    shared_post: Option<String>,
) -> Post {
    Post {
        id: crate::platform::new_id(),
        author_id: author.into(),
        audience,
        text,
        visibility,
        hashtags: tags.0,
        mentions: tags.1,
        shared_post,
        created_at: unix_now(),
        edited_at: None,
        history: Vec::new(),
        reactions: BTreeMap::new(),
        comment_count: 0,
        share_count: 0,
    }
}

/// Publishes a post on the author's profile, in a group they belong to, or as a page they
/// administer.
#[utoipa::path(post, path = "/api/v1/posts", tag = "posts", request_body = NewPost,
    responses((status = 201, body = PostView), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
async fn create_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Json(req): Json<NewPost>,
) -> ApiResult<impl IntoResponse> {
    let text = clean_post_text(&req.text, false)?;
    check_audience(&s, user.id(), &req.audience)?;
    let visibility = match req.audience {
        Audience::Profile => req.visibility.unwrap_or_default(),
        _ => Visibility::Public,
    };
    let post = new_post(
        user.id(),
        req.audience,
        text.clone(),
        visibility,
        tags(&s, &text)?,
        None,
    );
    storage::create_post(&s.store, &post).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&s, Some(user.id()), post, true)?),
    ))
}

/// A post, if the caller may read it.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = String, Path)), responses((status = 200, body = PostView), (status = 404)))]
async fn get_post(
    State(s): State<PostsState>,
    viewer: MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PostView>> {
    let v = viewer_of(&viewer);
    let post = readable_post(&s, v, &id)?;
    Ok(Json(view(&s, v, post, true)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostChange {
    text: Option<String>,
    visibility: Option<Visibility>,
}

/// Edits a post (its author). The earlier text is kept in `/posts/{id}/history`.
#[utoipa::path(patch, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = String, Path)), request_body = PostChange,
    responses((status = 200, body = PostView), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn edit_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<PostChange>,
) -> ApiResult<Json<PostView>> {
    let post = readable_post(&s, Some(user.id()), &id)?;
    if post.author_id != user.id() {
        return Err(ApiError::Forbidden("only the author edits a post".into()));
    }
    let text = req
        .text
        .as_deref()
        .map(|t| clean_post_text(t, post.shared_post.is_some()))
        .transpose()?;
    if req.visibility.is_some() && post.audience != Audience::Profile {
        return Err(ApiError::field(
            "visibility",
            "group and page posts follow their group or page",
        ));
    }
    let tags = tags(&s, text.as_deref().unwrap_or(&post.text))?;
    let post = storage::edit_post(
        &s.store,
        &post.id,
        text.as_deref(),
        req.visibility,
        tags,
        unix_now(),
    )
    .await?;
    Ok(Json(view(&s, Some(user.id()), post, true)?))
}

/// Deletes a post: its author, an admin of its page, or a moderator of its group.
#[utoipa::path(delete, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = String, Path)), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn delete_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let post = readable_post(&s, Some(user.id()), &id)?;
    let allowed = post.author_id == user.id()
        || match &post.audience {
            Audience::Profile => false,
            Audience::Page { id } => storage::page_admin(&s.store, id, user.id())?,
            Audience::Group { id } => storage::group_role(&s.store, id, user.id())?
                .is_some_and(|r| r >= GroupRole::Moderator),
        };
    if !allowed {
        return Err(ApiError::Forbidden("you may not delete this post".into()));
    }
    storage::delete_post(&s.store, user.id(), &post.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct History {
    /// Earlier texts, oldest first; the current text is the post's.
    revisions: Vec<Revision>,
}

/// The edit history of a post (for whoever may read it, as on Mastodon).
#[utoipa::path(get, path = "/api/v1/posts/{id}/history", tag = "posts", params(("id" = String, Path)), responses((status = 200, body = History), (status = 404)))]
async fn post_history(
    State(s): State<PostsState>,
    viewer: MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<History>> {
    let post = readable_post(&s, viewer_of(&viewer), &id)?;
    Ok(Json(History {
        revisions: post.history,
    }))
}

/// Readable posts of an index, newest first, after the cursor.
fn readable_page(
    s: &PostsState,
    viewer: Option<&str>,
    prefix: &str,
    owner: &str,
    page: &PageParams,
) -> ApiResult<Json<Page<PostView>>> {
    let limit = page.limit()?;
    let mut cursor = page.cursor_id()?;
    let mut items = Vec::new();
    let mut exhausted = false;
    // Posts of one source share an author or group: how the reader stands to them is
    // looked up once per request, not once per post.
    let mut standings: std::collections::HashMap<(String, Visibility), domain::Standing> =
        std::collections::HashMap::new();
    while items.len() < limit && !exhausted {
        let ids = storage::index_page(&s.store, prefix, owner, cursor.as_deref(), limit * 2)?;
        exhausted = ids.len() < limit * 2;
        for id in ids {
            cursor = Some(id.clone());
            let Some(post) = storage::post(&s.store, &id)? else {
                continue;
            };
            let memo_key = (post.author_id.clone(), post.visibility);
            let standing = match standings.get(&memo_key) {
                Some(st) => *st,
                None => {
                    let st = storage::standing(&s.store, viewer, &post)?;
                    standings.insert(memo_key, st);
                    st
                }
            };
            if domain::readable(&post, &standing) {
                items.push(view(s, viewer, post, true)?);
                if items.len() == limit {
                    break;
                }
            }
        }
    }
    let next_cursor = (items.len() == limit).then(|| items[limit - 1].id.clone());
    Ok(Json(Page { items, next_cursor }))
}

/// A user's timeline: their profile posts the caller may read, newest first.
#[utoipa::path(get, path = "/api/v1/users/{id}/posts", tag = "posts", params(("id" = String, Path), PageParams), responses((status = 200, body = Page<PostView>), (status = 404)))]
async fn user_timeline(
    State(s): State<PostsState>,
    viewer: MaybeUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<PostView>>> {
    let author = path_id(&id, "user")?;
    let v = viewer_of(&viewer);
    if let Some(v) = v
        && storage::blocked_either(&s.store, v, &author)?
    {
        return Err(ApiError::NotFound("no such user".into()));
    }
    readable_page(&s, v, "tl/", &author, &page)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AudienceQuery {
    /// Posts of this group.
    group: Option<String>,
    /// Posts of this page.
    page: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The posts of a group (`?group=`) or page (`?page=`), newest first.
#[utoipa::path(get, path = "/api/v1/posts", tag = "posts", params(AudienceQuery), responses((status = 200, body = Page<PostView>), (status = 404), (status = 422)))]
async fn list_posts(
    State(s): State<PostsState>,
    viewer: MaybeUser,
    Query(q): Query<AudienceQuery>,
) -> ApiResult<Json<Page<PostView>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let v = viewer_of(&viewer);
    match (q.group, q.page) {
        (Some(g), None) => {
            let g = path_id(&g, "group")?;
            let privacy = storage::group_privacy(&s.store, &g)?
                .ok_or_else(|| ApiError::NotFound("no such group".into()))?;
            let member = match v {
                Some(v) => storage::group_role(&s.store, &g, v)?.is_some(),
                None => false,
            };
            if privacy == GroupPrivacy::Secret && !member {
                return Err(ApiError::NotFound("no such group".into()));
            }
            readable_page(&s, v, "ga/", &g, &page)
        }
        (None, Some(p)) => {
            let p = path_id(&p, "page")?;
            if !storage::page_exists(&s.store, &p)? {
                return Err(ApiError::NotFound("no such page".into()));
            }
            readable_page(&s, v, "pg/", &p, &page)
        }
        _ => Err(ApiError::field(
            "group",
            "give exactly one of `group` or `page` (timelines: /users/{id}/posts, home: /feed)",
        )),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// What the sharer says about it (may be empty).
    #[serde(default)]
    text: String,
    /// Narrowed to the original's visibility when wider.
    visibility: Option<Visibility>,
}

/// Shares a post on the caller's profile. The share is never more visible than the original,
/// and readers see the original only if they may read it.
#[utoipa::path(post, path = "/api/v1/posts/{id}/shares", tag = "posts", params(("id" = String, Path)), request_body = NewShare,
    responses((status = 201, body = PostView), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn share_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<NewShare>,
) -> ApiResult<impl IntoResponse> {
    let mut original = readable_post(&s, Some(user.id()), &id)?;
    // Sharing a share shares what it shares.
    if let Some(root) = original.shared_post.clone() {
        original = readable_post(&s, Some(user.id()), &root)?;
    }
    let original_visibility = match &original.audience {
        Audience::Profile => original.visibility,
        Audience::Page { .. } => Visibility::Public,
        Audience::Group { id } => match storage::group_privacy(&s.store, id)? {
            Some(GroupPrivacy::Public) => Visibility::Public,
            _ => {
                return Err(ApiError::Forbidden(
                    "posts of private and secret groups cannot be shared".into(),
                ));
            }
        },
    };
    let text = clean_post_text(&req.text, true)?;
    let visibility = domain::share_visibility(
        req.visibility.unwrap_or(original_visibility),
        original_visibility,
    );
    let post = new_post(
        user.id(),
        Audience::Profile,
        text.clone(),
        visibility,
        tags(&s, &text)?,
        Some(original.id.clone()),
    );
    storage::create_post(&s.store, &post).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&s, Some(user.id()), post, true)?),
    ))
}

/// A comment as one reader sees it.
#[derive(Serialize, ToSchema)]
pub struct CommentView {
    id: String,
    post_id: String,
    author_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<String>,
    text: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    edited_at: Option<String>,
    reactions: BTreeMap<ReactionKind, u64>,
}

fn comment_view(c: Comment) -> CommentView {
    CommentView {
        id: c.id,
        post_id: c.post_id,
        author_id: c.author_id,
        parent_id: c.parent_id,
        text: c.text,
        created_at: rfc3339(c.created_at),
        edited_at: c.edited_at.map(rfc3339),
        reactions: c.reactions,
    }
}

/// Comments of a post in order (replies carry `parent_id`); comments of users the caller
/// blocked, or who blocked the caller, are left out.
#[utoipa::path(get, path = "/api/v1/posts/{id}/comments", tag = "posts", params(("id" = String, Path), PageParams), responses((status = 200, body = Page<CommentView>), (status = 404)))]
async fn list_comments(
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
            };
            Ok((!hidden).then(|| comment_view(c)))
        },
    )?;
    Ok(Json(page))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// At most 2,000 characters.
    text: String,
    /// Answer to a top-level comment (one level of replies).
    parent_id: Option<String>,
}

fn clean_comment_text(text: &str) -> ApiResult<String> {
    let text = clean_text("text", text, COMMENT_MAX_CHARS, true)
        .map_err(|e| ApiError::field(&e.field, e.message))?;
    if text.is_empty() {
        return Err(ApiError::field("text", "must not be empty"));
    }
    Ok(text)
}

/// Comments on a post the caller may read (not one whose author blocked them).
#[utoipa::path(post, path = "/api/v1/posts/{id}/comments", tag = "posts", params(("id" = String, Path)), request_body = NewComment,
    responses((status = 201, body = CommentView), (status = 404), (status = 422)), security(("bearer" = [])))]
async fn add_comment(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<NewComment>,
) -> ApiResult<impl IntoResponse> {
    let post = readable_post(&s, Some(user.id()), &id)?;
    let text = clean_comment_text(&req.text)?;
    let parent_id = req
        .parent_id
        .as_deref()
        .map(|p| {
            ulid::Ulid::from_string(p)
                .map(|u| u.to_string())
                .map_err(|_| ApiError::field("parent_id", "no such comment on this post"))
        })
        .transpose()?;
    let comment = Comment {
        id: crate::platform::new_id(),
        post_id: post.id.clone(),
        author_id: user.id().into(),
        parent_id,
        text,
        created_at: unix_now(),
        edited_at: None,
        reactions: BTreeMap::new(),
    };
    storage::add_comment(&s.store, &comment).await?;
    Ok((StatusCode::CREATED, Json(comment_view(comment))))
}

fn own_comment(
    s: &PostsState,
    user: &AuthUser,
    id: &str,
    comment: &str,
) -> ApiResult<(Post, Comment)> {
    let post = readable_post(s, Some(user.id()), id)?;
    let c = storage::comment(&s.store, &post.id, &path_id(comment, "comment")?)?
        .ok_or_else(|| ApiError::NotFound("no such comment".into()))?;
    Ok((post, c))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentChange {
    text: String,
}

/// Edits a comment (its author).
#[utoipa::path(patch, path = "/api/v1/posts/{id}/comments/{comment}", tag = "posts", params(("id" = String, Path), ("comment" = String, Path)), request_body = CommentChange,
    responses((status = 200, body = CommentView), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn edit_comment(
    State(s): State<PostsState>,
    user: AuthUser,
    Path((id, comment)): Path<(String, String)>,
    Json(req): Json<CommentChange>,
) -> ApiResult<Json<CommentView>> {
    let (post, c) = own_comment(&s, &user, &id, &comment)?;
    if c.author_id != user.id() {
        return Err(ApiError::Forbidden(
            "only the author edits a comment".into(),
        ));
    }
    let c = storage::edit_comment(
        &s.store,
        &post.id,
        &c.id,
        &clean_comment_text(&req.text)?,
        unix_now(),
    )
    .await?;
    Ok(Json(comment_view(c)))
}

/// Deletes a comment and its replies (its author, or the post's author).
#[utoipa::path(delete, path = "/api/v1/posts/{id}/comments/{comment}", tag = "posts", params(("id" = String, Path), ("comment" = String, Path)), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
async fn delete_comment(
    State(s): State<PostsState>,
    user: AuthUser,
    Path((id, comment)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (post, c) = own_comment(&s, &user, &id, &comment)?;
    if c.author_id != user.id() && post.author_id != user.id() {
        return Err(ApiError::Forbidden(
            "only the comment's or the post's author deletes a comment".into(),
        ));
    }
    storage::delete_comment(&s.store, user.id(), &post.id, &c.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
async fn get_reactions(
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

async fn react(
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
async fn react_to_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<ReactionRequest>,
) -> ApiResult<Json<Reactions>> {
    Ok(Json(react(&s, &user, &id, None, Some(req.kind)).await?))
}

/// Removes the caller's reaction to a post.
#[utoipa::path(delete, path = "/api/v1/posts/{id}/reactions", tag = "posts", params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
async fn unreact_to_post(
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
async fn react_to_comment(
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
async fn unreact_to_comment(
    State(s): State<PostsState>,
    user: AuthUser,
    Path((id, comment)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    react(&s, &user, &id, Some(&comment), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The posts part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_post,
    get_post,
    edit_post,
    delete_post,
    post_history,
    user_timeline,
    list_posts,
    share_post,
    list_comments,
    add_comment,
    edit_comment,
    delete_comment,
    get_reactions,
    react_to_post,
    unreact_to_post,
    react_to_comment,
    unreact_to_comment
))]
pub struct PostsApi;
