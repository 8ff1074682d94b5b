//! The HTTP API of search: `GET /search`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::SearchState;
use super::domain::{self, Kind};
use super::error::Error;
use super::storage::{self, index};
use crate::platform::error::{ApiError, ApiResult};
use crate::platform::http::{Json, Query, rfc3339};
use crate::platform::tokens::AuthUser;

pub fn routes(state: SearchState) -> Router {
    Router::new()
        .route("/api/v1/search", get(search))
        .route("/api/v1/trending", get(trending))
        .with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(search),
    components(schemas(SearchPage, SearchHit, Snippet, Kind))
)]
pub struct SearchApi;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words, and `#tags`; at most 256 characters and 16 words. Anything else (quotes,
    /// `field:value`, `*`) is punctuation.
    #[param(min_length = 1, max_length = 256)]
    q: String,
    /// What to search.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Kind,
    /// Results per page, 1 to 50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 128)]
    cursor: Option<String>,
}

/// The best passage of a text, and where the query matched in it.
#[derive(Serialize, ToSchema)]
pub struct Snippet {
    pub text: String,
    /// Byte ranges `[start, end)` of `text` that matched.
    pub highlights: Vec<[usize; 2]>,
}

/// One result; which fields are present depends on the type.
#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    pub id: String,
    /// People.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// People.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// People: their avatar's small thumbnail, signed; absent without an avatar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// Groups and pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Posts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    /// Posts: the author's card (name and avatar), as feed items carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<crate::users::events::Author>,
    /// Posts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashtags: Option<Vec<String>>,
    /// Posts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Posts (their text) and people (their bio), when it matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<Snippet>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<SearchHit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The window of `GET /trending`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// The last hour, against the hours of the week before.
    Hour,
    /// The last 24 hours, against the days of the week before.
    #[default]
    Day,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TrendingParams {
    /// `hour` or `day` (default).
    window: Option<Window>,
    /// How many tags, 1 to 20 (default 10).
    #[param(minimum = 1, maximum = 20)]
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Trending {
    pub window: Window,
    /// Best first.
    pub items: Vec<domain::Trend>,
}

/// Hashtags trending now: those used in public posts (profile posts of visibility
/// `public`, page posts) by more distinct authors in the window than usual for them over
/// the week before, at least three authors. One account alone never makes a trend;
/// a deleted post, or one made non-public, stops counting.
#[utoipa::path(get, path = "/api/v1/trending", tag = "search", params(TrendingParams),
    responses((status = 200, body = Trending)))]
async fn trending(
    State(s): State<SearchState>,
    Query(params): Query<TrendingParams>,
) -> ApiResult<Json<Trending>> {
    let window = params.window.unwrap_or_default();
    let limit = match params.limit {
        None => 10,
        Some(n @ 1..=20) => n as usize,
        Some(_) => return Err(ApiError::field("limit", "must be between 1 and 20")),
    };
    let secs = match window {
        Window::Hour => 3_600,
        Window::Day => 86_400,
    };
    let now = crate::platform::unix_now();
    let suspended = storage::suspended(&s.store, now)?;
    let items = storage::trending::trending(&s.store, now, secs, limit, &suspended)?;
    Ok(Json(Trending { window, items }))
}

const CURSOR_TAG: &str = "s2";

/// Where the next page starts: results shown so far, the time scores are measured from,
/// and the last result's score and id.
#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    offset: usize,
    now: i64,
    score: f32,
    id: String,
}

fn encode_cursor(c: &Cursor) -> String {
    let text = format!(
        "{CURSOR_TAG}:{}:{}:{}:{}",
        c.offset,
        c.now,
        c.score.to_bits(),
        c.id
    );
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str) -> Result<Cursor, Error> {
    let bad = || Error::field("cursor", "is not a cursor this search returned");
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let mut parts = text.splitn(5, ':');
    if parts.next() != Some(CURSOR_TAG) {
        return Err(bad());
    }
    let mut next = || parts.next().ok_or_else(bad);
    let offset: usize = next()?.parse().map_err(|_| bad())?;
    let now: i64 = next()?.parse().map_err(|_| bad())?;
    let score = f32::from_bits(next()?.parse().map_err(|_| bad())?);
    let id = next()?.to_string();
    if offset >= domain::WINDOW_MAX || !score.is_finite() || id.is_empty() {
        return Err(bad());
    }
    Ok(Cursor {
        offset,
        now,
        score,
        id,
    })
}

/// Searches people, posts, groups or pages, best first.
///
/// Only what the caller may read is found: posts by their visibility, audience and
/// group, people who are searchable (or friends), groups that are not secret (or whose
/// member the caller is), nobody and nothing across a block. Words match with typos
/// (one in words of 4 letters, two from 8, never in the first letter) and, in names, as
/// prefixes; `#tag` matches the hashtag exactly. Posts rank by relevance (BM25) weighed by
/// age (half-life 14 days, never below half). Results page by `cursor` up to the 1,000th;
/// a page starts after the previous page's last result, so what is indexed meanwhile
/// never repeats a result.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchPage)),
    security(("bearer" = [])))]
async fn search(
    State(s): State<SearchState>,
    user: AuthUser,
    Query(params): Query<SearchParams>,
) -> ApiResult<Json<SearchPage>> {
    let words = domain::parse_query(&params.q)?;
    let limit = match params.limit {
        None => 20,
        Some(n @ 1..=50) => n as usize,
        Some(_) => return Err(ApiError::field("limit", "must be between 1 and 50")),
    };
    let cursor = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let offset = cursor.as_ref().map_or(0, |c| c.offset);
    let now = cursor
        .as_ref()
        .map_or_else(crate::platform::unix_now, |c| c.now);
    let after = cursor.map(|c| (c.score, c.id));
    let limit = limit.min(domain::WINDOW_MAX - offset);
    let (holds, blocked) = storage::viewer_access(&s.store, user.id())?;
    let index = s.index.clone();
    let kind = params.kind;
    let (hits, more) = tokio::task::spawn_blocking(move || {
        index.search(&index::Request {
            kind,
            words: &words,
            holds: &holds,
            blocked: &blocked,
            offset,
            after,
            limit,
            now,
        })
    })
    .await
    .map_err(ApiError::internal)??;
    let next = offset + hits.len();
    let next_cursor = match hits.last() {
        Some(last) if more && next < domain::WINDOW_MAX => Some(encode_cursor(&Cursor {
            offset: next,
            now,
            score: last.score,
            id: last.id.clone(),
        })),
        _ => None,
    };
    let now = crate::platform::unix_now();
    let items = hits
        .into_iter()
        .map(|h| hit(&s, kind, h, now))
        .collect::<ApiResult<_>>()?;
    Ok(Json(SearchPage { items, next_cursor }))
}

fn hit(s: &SearchState, kind: Kind, h: index::Hit, now: i64) -> ApiResult<SearchHit> {
    let snippet = h.snippet.map(|(text, ranges)| Snippet {
        text,
        highlights: ranges.into_iter().map(|r| [r.start, r.end]).collect(),
    });
    let (people, posts, named) = (
        kind == Kind::People,
        kind == Kind::Posts,
        matches!(kind, Kind::Groups | Kind::Pages),
    );
    // A person's own hit and a post's author both show the byline.
    let card = match (people || posts).then_some(&h.owner) {
        Some(owner) => storage::byline(&s.store, owner)?.map(|b| b.author(owner, &s.urls, now)),
        None => None,
    };
    let (avatar_url, author) = match card {
        Some(card) if people => (card.avatar_url, None),
        card => (None, card),
    };
    Ok(SearchHit {
        id: h.id,
        username: people.then_some(h.username),
        display_name: people.then_some(h.display_name),
        avatar_url,
        name: named.then_some(h.title),
        author_id: posts.then_some(h.owner),
        author,
        hashtags: posts.then_some(h.tags),
        created_at: posts.then(|| rfc3339(h.created_at)),
        snippet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let c = Cursor {
            offset: 40,
            now: 1_800_000_000,
            score: 1.25,
            id: "01M8B0HC5QHAY2YJHDM3A8D6SG".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), c);
        assert!(decode_cursor("40").is_err());
        let far = Cursor {
            offset: domain::WINDOW_MAX,
            ..c.clone()
        };
        assert!(decode_cursor(&encode_cursor(&far)).is_err());
        let nan = Cursor {
            score: f32::NAN,
            ..c
        };
        assert!(decode_cursor(&encode_cursor(&nan)).is_err());
        assert!(decode_cursor("!!").is_err());
    }
}
