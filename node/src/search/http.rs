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
    #[param(max_length = 64)]
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
    /// Groups and pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Posts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
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
    let items = storage::trending::trending(&s.store, crate::platform::unix_now(), secs, limit)?;
    Ok(Json(Trending { window, items }))
}

const CURSOR_TAG: &str = "s1:";

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_TAG}{offset}"))
}

fn decode_cursor(cursor: &str) -> Result<usize, Error> {
    let bad = || Error::field("cursor", "is not a cursor this search returned");
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let offset: usize = text
        .strip_prefix(CURSOR_TAG)
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    if offset >= domain::WINDOW_MAX {
        return Err(bad());
    }
    Ok(offset)
}

/// Searches people, posts, groups or pages, best first.
///
/// Only what the caller may read is found: posts by their visibility, audience and
/// group, people who are searchable (or friends), groups that are not secret (or whose
/// member the caller is), nobody and nothing across a block. Words match with typos
/// (one in words of 4 letters, two from 8) and, in names, as prefixes; `#tag` matches the
/// hashtag exactly. Posts rank by relevance (BM25) weighed by age (half-life 14 days,
/// never below half). Results page by `cursor` up to the 1,000th.
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
    let offset = match &params.cursor {
        Some(c) => decode_cursor(c)?,
        None => 0,
    };
    let limit = limit.min(domain::WINDOW_MAX - offset);
    let (holds, blocked) = storage::viewer_access(&s.store, user.id())?;
    let index = s.index.clone();
    let kind = params.kind;
    let now = crate::platform::unix_now();
    let (hits, more) = tokio::task::spawn_blocking(move || {
        index.search(&index::Request {
            kind,
            words: &words,
            holds: &holds,
            blocked: &blocked,
            offset,
            limit,
            now,
        })
    })
    .await
    .map_err(ApiError::internal)??;
    let next = offset + hits.len();
    let items = hits.into_iter().map(|h| hit(kind, h)).collect();
    Ok(Json(SearchPage {
        items,
        next_cursor: (more && next < domain::WINDOW_MAX).then(|| encode_cursor(next)),
    }))
}

fn hit(kind: Kind, h: index::Hit) -> SearchHit {
    let snippet = h.snippet.map(|(text, ranges)| Snippet {
        text,
        highlights: ranges.into_iter().map(|r| [r.start, r.end]).collect(),
    });
    let (people, posts, named) = (
        kind == Kind::People,
        kind == Kind::Posts,
        matches!(kind, Kind::Groups | Kind::Pages),
    );
    SearchHit {
        id: h.id,
        username: people.then_some(h.username),
        display_name: people.then_some(h.display_name),
        name: named.then_some(h.title),
        author_id: posts.then_some(h.owner),
        hashtags: posts.then_some(h.tags),
        created_at: posts.then(|| rfc3339(h.created_at)),
        snippet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor(40)).unwrap(), 40);
        assert!(decode_cursor("40").is_err());
        assert!(decode_cursor(&encode_cursor(domain::WINDOW_MAX)).is_err());
        assert!(decode_cursor("!!").is_err());
    }
}
