//! The HTTP API of feed: `GET /api/v1/feed`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, Query, rfc3339};
use crate::platform::tokens::AuthUser;
use crate::posts::events::Audience;

use super::FeedState;
use super::domain::{self, CANDIDATES, Cursor, Order, PostMeta};
use super::error::Error;
use super::storage;

pub fn routes(state: FeedState) -> Router {
    Router::new()
        .route("/api/v1/feed", get(home_feed))
        .with_state(state)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// `ranked` (default) or `recent`.
    #[serde(default)]
    order: Order,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (of the same order).
    cursor: Option<String>,
}

/// One post in the feed.
#[derive(Serialize, ToSchema)]
pub struct FeedItem {
    id: String,
    author_id: String,
    /// The author's name and picture; absent for an author the platform no longer knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<crate::users::events::Author>,
    audience: Audience,
    text: String,
    /// The post this one shares, when the reader may see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_post: Option<String>,
    /// A share whose original the reader may not see (or that is gone): its id is not shown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    shared_unavailable: bool,
    created_at: String,
    reactions: u64,
    /// The reader's own reaction, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    my_reaction: Option<crate::posts::events::ReactionKind>,
    comments: u64,
    shares: u64,
    /// The ranking score (ranked order only).
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    /// The attached pictures and videos, their URLs signed for this reader.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    media: Vec<crate::media::events::Attachment>,
}

#[derive(Serialize, ToSchema)]
pub struct FeedPage {
    items: Vec<FeedItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn item(s: &FeedState, m: &PostMeta, score: Option<f64>) -> FeedItem {
    let now = crate::platform::unix_now();
    FeedItem {
        media: m.media.iter().map(|a| a.attachment(&s.urls, now)).collect(),
        id: m.id.clone(),
        author_id: m.author_id.clone(),
        audience: m.audience.clone(),
        text: m.text.clone(),
        shared_post: m.shared_post.clone(),
        shared_unavailable: false,
        created_at: rfc3339(m.created_at),
        reactions: m.reactions,
        comments: m.comments,
        shares: m.shares,
        score,
        author: None,
        my_reaction: None,
    }
}

/// Keeps the reader's timeline maintained ([`storage::refresh`], and the routine part
/// off the read path: [`super::upkeep`]). Only the writer does (a follower's store is the
/// writer's copy): a reader served by a follower sees the timeline as the writer last
/// kept it.
async fn refresh(s: &FeedState, reader: &str, now: i64) -> ApiResult<()> {
    if s.store.role() != crate::platform::storage::Role::Writer {
        return Ok(());
    }
    if storage::refresh(&s.store, reader, now).await? {
        s.upkeep.ask(reader);
    }
    Ok(())
}

/// The home feed: the caller's own posts, friends' posts they may read, posts of their
/// groups and of pages they follow. `ranked` orders by the score in docs/api.md;
/// `recent` newest first. Pages stay stable while new posts arrive.
#[utoipa::path(get, path = "/api/v1/feed", tag = "feed", params(FeedQuery), responses((status = 200, body = FeedPage), (status = 422)), security(("bearer" = [])))]
async fn home_feed(
    State(s): State<FeedState>,
    user: AuthUser,
    Query(q): Query<FeedQuery>,
) -> ApiResult<Json<FeedPage>> {
    let limit = match q.limit {
        None => 20,
        Some(n @ 1..=100) => n as usize,
        Some(_) => return Err(Error::BadLimit.into()),
    };
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, q.order))
        .transpose()?;
    let reader = user.id();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    refresh(&s, reader, now).await?;
    let mut before = match &cursor {
        Some(Cursor::Recent(id)) => Some(id.clone()),
        _ => None,
    };
    let mut posts = Vec::new();
    loop {
        let batch = storage::candidates(&s.store, reader, before.as_deref(), CANDIDATES)?;
        let full = batch.len() >= CANDIDATES;
        before = batch.last().cloned();
        let mut metas = Vec::with_capacity(batch.len());
        for id in batch {
            metas.extend(storage::meta(&s.store, &id)?);
        }
        posts.extend(in_feed(&s, reader, metas)?);
        // The ranked order ranks one window; the recent order reads on (older) until it has
        // a full page and one more, so entries it skipped (unfriended, deleted) never end
        // the paging early.
        if q.order == Order::Ranked || posts.len() > limit || !full {
            break;
        }
    }
    let mut page = match q.order {
        Order::Recent => recent(&s, posts, limit),
        Order::Ranked => ranked(&s, reader, posts, cursor, limit, now)?,
    };
    for item in &mut page.items {
        for_reader(&s, reader, item, now)?;
    }
    s.views
        .record(reader, page.items.iter().map(|i| i.id.clone()).collect());
    Ok(Json(page))
}

/// The posts among `metas` that belong in the reader's feed. Relations repeat (many posts
/// per friend or group): each is looked up once per read.
fn in_feed(
    s: &FeedState,
    reader: &str,
    metas: Vec<Arc<PostMeta>>,
) -> ApiResult<Vec<Arc<PostMeta>>> {
    let mut relations = HashMap::new();
    let mut keep = Vec::with_capacity(metas.len());
    for meta in &metas {
        let relation = match relations.entry((meta.author_id.as_str(), &meta.audience)) {
            Entry::Occupied(known) => *known.get(),
            Entry::Vacant(slot) => *slot.insert(storage::relation(&s.store, reader, meta)?),
        };
        keep.push(domain::in_feed(meta, &relation));
    }
    Ok(metas
        .into_iter()
        .zip(keep)
        .filter_map(|(m, kept)| kept.then_some(m))
        .collect())
}

/// What an item shows its reader: their own reaction, the author's card, and a share's
/// original only when the reader may see it (not even its id otherwise).
fn for_reader(s: &FeedState, reader: &str, item: &mut FeedItem, now: i64) -> ApiResult<()> {
    if let Some(original) = &item.shared_post
        && !storage::original_visible(&s.store, reader, original)?
    {
        item.shared_post = None;
        item.shared_unavailable = true;
    }
    item.my_reaction = storage::my_reaction(&s.store, &item.id, reader)?;
    item.author = storage::byline(&s.store, &item.author_id)?
        .map(|b| b.author(&item.author_id, &s.urls, now));
    Ok(())
}

fn recent(s: &FeedState, posts: Vec<Arc<PostMeta>>, limit: usize) -> FeedPage {
    let more = posts.len() > limit;
    let items: Vec<FeedItem> = posts.iter().take(limit).map(|m| item(s, m, None)).collect();
    let next_cursor = items
        .last()
        .filter(|_| more)
        .map(|last| Cursor::Recent(last.id.clone()).encode());
    FeedPage { items, next_cursor }
}

fn ranked(
    s: &FeedState,
    reader: &str,
    posts: Vec<Arc<PostMeta>>,
    cursor: Option<Cursor>,
    limit: usize,
    now: i64,
) -> ApiResult<FeedPage> {
    let (as_of, after) = match cursor {
        Some(Cursor::Ranked { as_of, score, id }) => (as_of, Some((score, id))),
        _ => (now, None),
    };
    let mut scored = Vec::with_capacity(posts.len());
    let mut affinity = HashMap::new();
    for m in posts.iter().filter(|m| m.created_at <= as_of) {
        let interactions = match affinity.entry(m.author_id.as_str()) {
            Entry::Occupied(known) => *known.get(),
            Entry::Vacant(slot) => {
                *slot.insert(storage::interactions(&s.store, reader, &m.author_id)?)
            }
        };
        let score = domain::score(m, interactions, m.author_id == reader, as_of);
        scored.push((score, m));
    }
    // Highest score first; the id breaks ties so the order is total.
    scored.sort_by(|(a, ma), (b, mb)| b.total_cmp(a).then_with(|| mb.id.cmp(&ma.id)));
    let rest: Vec<(f64, &Arc<PostMeta>)> = match after {
        None => scored,
        Some((score, id)) => scored
            .into_iter()
            .filter(|(sc, m)| *sc < score || (*sc == score && m.id < id))
            .collect(),
    };
    let more = rest.len() > limit;
    let items: Vec<FeedItem> = rest
        .into_iter()
        .take(limit)
        .map(|(sc, m)| item(s, m, Some(sc)))
        .collect();
    let next_cursor = items.last().filter(|_| more).map(|last| {
        Cursor::Ranked {
            as_of,
            score: last.score.unwrap_or_default(),
            id: last.id.clone(),
        }
        .encode()
    });
    Ok(FeedPage { items, next_cursor })
}

/// The feed part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(home_feed), components(schemas(domain::Order)))]
pub struct FeedApi;
