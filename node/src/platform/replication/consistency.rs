//! Read your writes across replicas: a consistency token.
//!
//! Every write answered by a context's writer carries `Agora-Consistency: <context>=<lsn>`,
//! the LSN its store reached with that write. A client that sends the token back (the
//! last one it got; several, comma-separated, for several contexts) is served by any
//! replica only once that replica holds the LSN: a lagging follower waits for it, up to
//! [`WAIT`], and then answers 503 with `Retry-After` rather than with older data.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::platform::error::ApiError;
use crate::platform::storage::{Role, Store};

/// The header, in requests and in answers.
pub const HEADER: &str = "agora-consistency";

/// How long a follower waits to reach a client's token.
pub const WAIT: Duration = Duration::from_secs(2);

/// The LSN `header` asks of `context`, if it names it.
pub fn wanted(header: &str, context: &str) -> Option<u64> {
    header
        .split(',')
        .filter_map(|part| part.trim().split_once('='))
        .filter(|(name, _)| *name == context)
        .filter_map(|(_, lsn)| lsn.parse().ok())
        .max()
}

/// The middleware of a replicated context (state: its store and name).
pub async fn layer(
    State((store, context)): State<(Store, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let asked = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| wanted(v, context));
    if let Some(lsn) = asked
        && !reached(&store, lsn).await
    {
        return ApiError::Lagging(format!(
            "this replica of {context} has not reached the consistency token yet; retry"
        ))
        .into_response();
    }
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let mut response = next.run(request).await;
    if writes && store.role() == Role::Writer {
        let token = store.lsn().ok().map(|lsn| format!("{context}={lsn}"));
        if let Some(value) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
            response.headers_mut().insert(HEADER, value);
        }
    }
    response
}

/// Whether the store holds `lsn`, waiting up to [`WAIT`] for it.
async fn reached(store: &Store, lsn: u64) -> bool {
    if store.lsn().is_ok_and(|held| held >= lsn) {
        return true;
    }
    let mut held = store.stream_lsn.subscribe();
    tokio::time::timeout(WAIT, held.wait_for(|l| *l >= lsn))
        .await
        .is_ok_and(|r| r.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_an_lsn_per_context() {
        assert_eq!(wanted("posts=12", "posts"), Some(12));
        assert_eq!(wanted("users=3, posts=12", "posts"), Some(12));
        assert_eq!(wanted("users=3,users=9", "users"), Some(9));
        assert_eq!(wanted("users=3", "posts"), None);
        assert_eq!(wanted("posts=x,garbage", "posts"), None);
    }
}
