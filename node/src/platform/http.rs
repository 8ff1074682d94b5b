//! HTTP plumbing shared by every context: the JSON and query extractors whose rejections
//! are problems, pagination, the health routes, and serving with graceful shutdown.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, FieldError};

/// Bodies are capped at this size unless a route says otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// A JSON body or response. Its rejection is a problem+json naming the bad field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "request body must be JSON (Content-Type: application/json)".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedBody(rejection.body_text())
            }
        })?;
        // Every body of this API is an object; serde would also read a struct from an
        // array (`[null, null]`, field by field), which no client means.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::field("body", "must be a JSON object"));
        }
        parse_json(&bytes).map(Json)
    }
}

/// Deserializes a body, reporting the path of the field that failed.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end()
        .map_err(|e| ApiError::MalformedBody(format!("invalid JSON: {e}")))?;
    Ok(value)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = strip_position(&inner.to_string());
            let field = if path == "." {
                missing_field(&message).unwrap_or_default()
            } else {
                path
            };
            let field = if field.is_empty() {
                "body".to_string()
            } else {
                field
            };
            ApiError::Validation {
                detail: format!("{field}: {message}"),
                errors: vec![FieldError::new(field, message)],
            }
        }
        _ => ApiError::MalformedBody(format!("invalid JSON: {inner}")),
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// serde reports a missing field at the parent path; name the field itself.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string. Its rejection is a problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let field = e.path().to_string();
                let message = e.into_inner().to_string();
                ApiError::Validation {
                    detail: format!("query {field}: {message}"),
                    errors: vec![FieldError::new(field, message)],
                }
            })
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$")]
    pub cursor: Option<String>,
}

/// `?limit=&cursor=` of a list ordered by activity (conversations, notifications), whose
/// cursor is an activity and an id: two ULIDs.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ActivityPageParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9A-HJKMNP-TV-Z]{52}$")]
    pub cursor: Option<String>,
}

impl ActivityPageParams {
    pub fn limit(&self) -> Result<usize, ApiError> {
        PageParams {
            limit: self.limit,
            cursor: None,
        }
        .limit()
    }
}

impl PageParams {
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(20),
            Some(n @ 1..=100) => Ok(n as usize),
            Some(_) => Err(ApiError::field("limit", "must be between 1 and 100")),
        }
    }
}

impl PageParams {
    /// The cursor, which is always an id (a ULID) this API returned; anything else is a 422.
    pub fn cursor_id(&self) -> Result<Option<String>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| {
                ulid::Ulid::from_string(c)
                    .map(|u| u.to_string())
                    .map_err(|_| ApiError::field("cursor", "is not a cursor this API returned"))
            })
            .transpose()
    }
}

/// A unix time as RFC 3339 (UTC), as every response shows times.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An id from a path: a ULID, else 404 (an id that cannot exist is not found, not malformed).
pub fn path_id(id: &str, what: &str) -> Result<String, ApiError> {
    ulid::Ulid::from_string(id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound(format!("no such {what}")))
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` rows fetched after the cursor: the extra row only says
    /// that there is a next page, whose cursor is the id of the last row on this one.
    /// `item` turns a row into an item, or `None` to leave it out (hidden, gone).
    pub fn from_rows<R>(
        rows: Vec<R>,
        limit: usize,
        cursor_of: impl Fn(&R) -> String,
        mut item: impl FnMut(R) -> Result<Option<T>, ApiError>,
    ) -> Result<Page<T>, ApiError> {
        // The row before the first one left out; none when nothing is left out (or the
        // limit is 0, which the extractors refuse, so a page of nothing has no next).
        let next_cursor = match limit.checked_sub(1).and_then(|last| rows.get(last)) {
            Some(last) if rows.len() > limit => Some(cursor_of(last)),
            _ => None,
        };
        let mut items = Vec::with_capacity(limit.min(rows.len()));
        for row in rows.into_iter().take(limit) {
            items.extend(item(row)?);
        }
        Ok(Page { items, next_cursor })
    }
}

/// `?after=&limit=` of the resume lists (what a reconnecting device missed).
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResumeParams {
    /// The id of the last push event the client saw (a ULID).
    #[param(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$")]
    pub after: String,
    /// 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl ResumeParams {
    /// The `after` id, or a 422 naming it.
    pub fn after(&self) -> Result<String, ApiError> {
        ulid::Ulid::from_string(&self.after)
            .map(|u| u.to_string())
            .map_err(|_| ApiError::field("after", "must be the id of a push event"))
    }

    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(n @ 1..=500) => Ok(n as usize),
            Some(_) => Err(ApiError::field("limit", "must be between 1 and 500")),
        }
    }
}

/// One request against a keyed rate limiter: a 429 with `Retry-After` when it is over.
pub fn within_limit<K: std::hash::Hash + Eq + Clone>(
    limiter: &governor::DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), ApiError> {
    use governor::clock::{Clock, DefaultClock};
    limiter
        .check_key(key)
        .map_err(|not_until| ApiError::RateLimited {
            retry_after_secs: not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1),
        })
}

/// The answer of the fallback route.
/// The largest JSON body a context reads whole before routing ([`read_json_whole`]).
pub const WHOLE_JSON_BYTES: usize = 1 << 20;

/// Reads a JSON request body (of at most [`WHOLE_JSON_BYTES`]) whole before routing. A
/// route that answers without reading its body (a 405, a 404 on the path) would make
/// the server close the connection while a client, or the gateway in front, may still be
/// sending it: the sender then sees a reset instead of the answer (it turned the
/// gateway's forwarded 405s into 503s, now and then). Uploads (not JSON) stay streamed.
pub async fn read_json_whole(request: Request, next: axum::middleware::Next) -> Response {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|n| n > 0 && n <= WHOLE_JSON_BYTES);
    if !(json && small) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, WHOLE_JSON_BYTES).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(_) => ApiError::BadRequest("the request body could not be read".into()).into_response(),
    }
}

pub async fn no_such_route() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// A 405 with the problem shape.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        age: u8,
    }

    #[test]
    fn pages_cut_at_the_limit_and_a_zero_limit_is_an_empty_last_page() {
        let page = |limit| {
            Page::from_rows(
                vec![1, 2, 3],
                limit,
                |n: &i32| n.to_string(),
                |n| Ok(Some(n)),
            )
            .unwrap()
        };
        let two = page(2);
        assert_eq!((two.items, two.next_cursor), (vec![1, 2], Some("2".into())));
        let all = page(3);
        assert_eq!((all.items, all.next_cursor), (vec![1, 2, 3], None));
        let none = page(0);
        assert_eq!((none.items, none.next_cursor), (vec![], None));
    }

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::Validation { errors, .. } => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"name":"a","age":"x"}"#).unwrap_err()),
            "age"
        );
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"name":"a"}"#).unwrap_err()),
            "age"
        );
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"name":"a","age":1,"x":1}"#).unwrap_err()),
            "x"
        );
        assert!(matches!(
            parse_json::<Body>(b"{\"name\":"),
            Err(ApiError::MalformedBody(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"name":"a","age":1} x"#),
            Err(ApiError::MalformedBody(_))
        ));
    }
}
