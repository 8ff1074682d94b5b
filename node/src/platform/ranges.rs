//! Serving a stored file's content over HTTP with byte ranges (RFC 9110 §14): what lets a
//! video seek. The content is read through [`PlainFile`], so a sealed file is opened range
//! by range without reading what comes before.
//!
//! One range at a time: a request for several (rare; no browser sends one for media) gets
//! the whole content, as §14.2 allows a server to ignore `Range`; so does a malformed one.
//! An `If-Range` that is not the current validator also gets the whole content. A range
//! that starts past the end is `416` with `Content-Range: bytes */<length>`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::sealed_files::PlainFile;

/// The response for `file`'s content to a request with `headers`, whose validator is `etag`.
pub fn respond(
    file: PlainFile,
    headers: &HeaderMap,
    etag: &HeaderValue,
) -> Result<Response, ApiError> {
    let len = file.len();
    let (status, from, count) = match wanted(headers, etag, len) {
        Wanted::Whole => (StatusCode::OK, 0, len),
        Wanted::Range(from, last) => (StatusCode::PARTIAL_CONTENT, from, last - from + 1),
        Wanted::Unsatisfiable => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_RANGE, value(format!("bytes */{len}"))?);
            return Ok(response);
        }
    };
    let chunks = file.chunks(from, count).map_err(ApiError::internal)?;
    let mut response = (status, Body::from_stream(chunks)).into_response();
    let out = response.headers_mut();
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        let last = from + count - 1;
        out.insert(
            header::CONTENT_RANGE,
            value(format!("bytes {from}-{last}/{len}"))?,
        );
    }
    Ok(response)
}

fn value(text: String) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&text).map_err(ApiError::internal)
}

#[derive(Debug, PartialEq)]
enum Wanted {
    Whole,
    /// First and last byte, inclusive.
    Range(u64, u64),
    Unsatisfiable,
}

fn wanted(headers: &HeaderMap, etag: &HeaderValue, len: u64) -> Wanted {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Wanted::Whole;
    };
    if len == 0 {
        return Wanted::Whole;
    }
    if headers.get(header::IF_RANGE).is_some_and(|v| v != etag) {
        return Wanted::Whole;
    }
    let Ok(parsed) = http_range_header::parse_range_header(range) else {
        return Wanted::Whole;
    };
    match parsed.validate(len).as_deref() {
        Ok([one]) => Wanted::Range(*one.start(), *one.end()),
        Ok(_) => Wanted::Whole,
        Err(_) => Wanted::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(range: &str, if_range: Option<&str>) -> Wanted {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(range).unwrap());
        if let Some(v) = if_range {
            headers.insert(header::IF_RANGE, HeaderValue::from_str(v).unwrap());
        }
        wanted(&headers, &HeaderValue::from_static("\"v1\""), 1000)
    }

    #[test]
    fn one_range_is_served_and_others_get_the_whole() {
        assert_eq!(ask("bytes=100-199", None), Wanted::Range(100, 199));
        assert_eq!(ask("bytes=900-", None), Wanted::Range(900, 999));
        assert_eq!(ask("bytes=-10", None), Wanted::Range(990, 999));
        assert_eq!(ask("bytes=990-5000", None), Wanted::Range(990, 999));
        assert_eq!(ask("bytes=5000-", None), Wanted::Unsatisfiable);
        assert_eq!(ask("bytes=0-1,5-6", None), Wanted::Whole);
        assert_eq!(ask("lines=1-2", None), Wanted::Whole);
        assert_eq!(ask("bytes=1-2", Some("\"v1\"")), Wanted::Range(1, 2));
        assert_eq!(ask("bytes=1-2", Some("\"v0\"")), Wanted::Whole);
        assert_eq!(
            wanted(&HeaderMap::new(), &HeaderValue::from_static("x"), 5),
            Wanted::Whole
        );
    }
}
