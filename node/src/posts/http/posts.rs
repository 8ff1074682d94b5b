//! Posts: publish, read, edit, delete, the edit history, timelines and shares.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::groups::events::GroupPrivacy;
use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Page, PageParams, Query, path_id};
use crate::platform::tokens::{AuthUser, MaybeUser};
use crate::platform::unix_now;

use super::super::PostsState;
use super::super::domain::{self, Audience, Post, Revision, Visibility};
use super::super::error::Error;
use super::super::storage::{self, Listing};
use super::{PostView, readable_post, view, viewer_of};

/// Hashtags, and the mentioned usernames that exist, as user ids. Someone who blocked the
/// author, or whom the author blocked, is not mentioned (the text keeps the name; nobody
/// is notified or linked).
fn tags(s: &PostsState, author: &str, text: &str) -> ApiResult<(Vec<String>, Vec<String>)> {
    let (hashtags, usernames) = domain::tags_and_mentions(text);
    let mut mentions = Vec::new();
    for name in usernames {
        if let Some(id) = storage::user_by_username(&s.store, &name)?
            && !storage::blocked_either(&s.store, author, &id)?
        {
            mentions.push(id);
        }
    }
    Ok((hashtags, mentions))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "First climb of the season #climbing", "visibility": "friends", "audience": {"type": "profile"}}))]
pub struct NewPost {
    /// At most 5,000 characters.
    text: String,
    /// Profile posts only (default `public`); group and page posts follow the group or page.
    visibility: Option<Visibility>,
    /// Where to publish (default: the author's profile).
    #[serde(default)]
    audience: Audience,
    /// Media the author uploaded (`POST /media`), up to 4; a video goes alone. With media,
    /// the text may be empty.
    #[serde(default)]
    #[schema(max_items = 4)]
    media_ids: Vec<String>,
}

/// How long a post waits for media it names that this context has not heard of yet (an
/// upload answered a moment ago).
const MEDIA_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The author's media named by `ids`, checked: known ids of theirs, each once, a set that
/// may go together. An id they do not own is as unknown as one that does not exist.
pub(super) async fn attached_media(
    s: &PostsState,
    author: &str,
    ids: &[String],
) -> ApiResult<Vec<crate::media::events::MediaUploaded>> {
    // Counted first: no wait for media of a post that could not take them anyway.
    domain::media_count(ids.len())?;
    let mut found: Vec<crate::media::events::MediaUploaded> = Vec::with_capacity(ids.len());
    // One wait for the whole list, not one per id.
    let until = tokio::time::Instant::now() + MEDIA_WAIT;
    for id in ids {
        let unknown = || Error::invalid("media_ids", format!("no media {id} of yours"));
        let id = ulid::Ulid::from_string(id)
            .map_err(|_| unknown())?
            .to_string();
        if found.iter().any(|m| m.media_id == id) {
            return Err(Error::invalid("media_ids", format!("{id} is named twice")).into());
        }
        let media = storage::owned_media(&s.store, &id, author, until).await?;
        found.push(media.ok_or_else(unknown)?);
    }
    domain::media_together(&found.iter().map(|m| m.kind).collect::<Vec<_>>())?;
    Ok(found)
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
        media: Vec::new(),
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
pub(super) async fn create_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Json(req): Json<NewPost>,
) -> ApiResult<impl IntoResponse> {
    let text = domain::post_text(&req.text, !req.media_ids.is_empty())?;
    let flagged = domain::screen(&text, &storage::keyword_rules(&s.store)?)?;
    // Ids are read as ULIDs in any case, stored canonical; a malformed one is no such thing.
    let audience = match req.audience {
        Audience::Profile => Audience::Profile,
        Audience::Group { id } => Audience::Group {
            id: path_id(&id, "group")?,
        },
        Audience::Page { id } => Audience::Page {
            id: path_id(&id, "page")?,
        },
    };
    domain::may_publish(storage::authority(&s.store, &audience, user.id())?)?;
    let visibility = domain::visibility_for(&audience, req.visibility)?;
    let attached = attached_media(&s, user.id(), &req.media_ids).await?;
    let mut post = new_post(
        user.id(),
        audience,
        text.clone(),
        visibility,
        tags(&s, user.id(), &text)?,
        None,
    );
    post.media = attached.iter().map(|m| m.media_id.clone()).collect();
    storage::create_post(&s.store, &post, &attached, &flagged).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&s, Some(user.id()), post, true)?),
    ))
}

/// A post, if the caller may read it.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = String, Path)), responses((status = 200, body = PostView), (status = 404)))]
pub(super) async fn get_post(
    State(s): State<PostsState>,
    viewer: MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PostView>> {
    let v = viewer_of(&viewer);
    let post = readable_post(&s, v, &id)?;
    if let Some(reader) = v {
        s.views.record(reader, vec![post.id.clone()]);
    }
    Ok(Json(view(&s, v, post, true)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "First climb of the season, with photos #climbing"}))]
pub struct PostChange {
    text: Option<String>,
    visibility: Option<Visibility>,
}

/// Edits a post (its author). The earlier text is kept in `/posts/{id}/history`.
#[utoipa::path(patch, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = String, Path)), request_body = PostChange,
    responses((status = 200, body = PostView), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn edit_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<PostChange>,
) -> ApiResult<Json<PostView>> {
    let post = readable_post(&s, Some(user.id()), &id)?;
    domain::may_edit_post(&post, user.id())?;
    let text = req
        .text
        .as_deref()
        .map(|t| domain::post_text(t, post.shared_post.is_some()))
        .transpose()?;
    if req.visibility.is_some() {
        domain::visibility_for(&post.audience, req.visibility)?;
    }
    let flagged = match &text {
        Some(text) => domain::screen(text, &storage::keyword_rules(&s.store)?)?,
        None => Vec::new(),
    };
    let tags = tags(&s, user.id(), text.as_deref().unwrap_or(&post.text))?;
    let post = storage::edit_post(
        &s.store,
        &post.id,
        text.as_deref(),
        req.visibility,
        tags,
        &flagged,
        unix_now(),
    )
    .await?;
    Ok(Json(view(&s, Some(user.id()), post, true)?))
}

/// Deletes a post: its author, an admin of its page, or a moderator of its group.
#[utoipa::path(delete, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = String, Path)), responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn delete_post(
    State(s): State<PostsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let post = readable_post(&s, Some(user.id()), &id)?;
    let authority = storage::authority(&s.store, &post.audience, user.id())?;
    domain::may_delete_post(&post, user.id(), authority)?;
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
pub(super) async fn post_history(
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
    listing: Listing,
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
        let ids = storage::index_page(&s.store, listing, cursor.as_deref(), limit * 2)?;
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
            // The standing (the author's suspension with it) is memoized per author: only
            // the removal is looked up per post.
            if domain::readable(&post, &standing) && !storage::removed(&s.store, &post.id)? {
                items.push(view(s, viewer, post, true)?);
                if items.len() == limit {
                    break;
                }
            }
        }
    }
    let next_cursor = match items.last() {
        Some(last) if items.len() == limit => Some(last.id.clone()),
        _ => None,
    };
    Ok(Json(Page { items, next_cursor }))
}

/// A user's timeline: their profile posts the caller may read, newest first.
#[utoipa::path(get, path = "/api/v1/users/{id}/posts", tag = "posts", params(("id" = String, Path), PageParams), responses((status = 200, body = Page<PostView>), (status = 404)))]
pub(super) async fn user_timeline(
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
        return Err(Error::UserNotFound.into());
    }
    readable_page(&s, v, Listing::Timeline(&author), &page)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AudienceQuery {
    /// Posts of this group.
    group: Option<String>,
    /// Posts of this page.
    page: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$")]
    cursor: Option<String>,
}

/// The posts of a group (`?group=`) or page (`?page=`), newest first: exactly one of the
/// two is required (422 otherwise).
#[utoipa::path(get, path = "/api/v1/posts", tag = "posts", params(AudienceQuery), responses((status = 200, body = Page<PostView>), (status = 404), (status = 422)))]
pub(super) async fn list_posts(
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
            let privacy = storage::group_privacy(&s.store, &g)?.ok_or(Error::GroupNotFound)?;
            let member = match v {
                Some(v) => storage::group_role(&s.store, &g, v)?.is_some(),
                None => false,
            };
            if privacy == GroupPrivacy::Secret && !member {
                return Err(Error::GroupNotFound.into());
            }
            readable_page(&s, v, Listing::Group(&g), &page)
        }
        (None, Some(p)) => {
            let p = path_id(&p, "page")?;
            if !storage::page_exists(&s.store, &p)? {
                return Err(Error::PageNotFound.into());
            }
            readable_page(&s, v, Listing::Page(&p), &page)
        }
        _ => Err(Error::invalid(
            "group",
            "give exactly one of `group` or `page` (timelines: /users/{id}/posts, home: /feed)",
        )
        .into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Worth reading", "visibility": "public"}))]
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
pub(super) async fn share_post(
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
    let group_privacy = match &original.audience {
        Audience::Group { id } => storage::group_privacy(&s.store, id)?,
        _ => None,
    };
    let original_visibility = domain::shareable_visibility(&original, group_privacy)?;
    let text = domain::post_text(&req.text, true)?;
    let flagged = domain::screen(&text, &storage::keyword_rules(&s.store)?)?;
    let visibility = domain::share_visibility(
        req.visibility.unwrap_or(original_visibility),
        original_visibility,
    );
    let post = new_post(
        user.id(),
        Audience::Profile,
        text.clone(),
        visibility,
        tags(&s, user.id(), &text)?,
        Some(original.id.clone()),
    );
    storage::create_post(&s.store, &post, &[], &flagged).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&s, Some(user.id()), post, true)?),
    ))
}
