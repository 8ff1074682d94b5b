//! Routing to contexts in other processes: `AGORA_UPSTREAM_<CONTEXT>` base URLs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, header};
use axum::response::{IntoResponse, Response};

use super::{UPLOAD_PATH, context_for, methods_declared_for};
use crate::platform::error::{ApiError, NOT_WRITER_HEADER};
use crate::platform::replication::lease::Writers;

/// Where each context is reached, from `AGORA_UPSTREAM_<CONTEXT>`.
#[derive(Debug, Default)]
pub struct Upstreams(pub HashMap<&'static str, Upstream>);

/// One context's base URLs: one (a Service, which balances over the context's replicas
/// itself), or each replica's own (a comma list: the gateway balances over them in turn,
/// and reads again on the next one a read that found its replica gone).
#[derive(Debug)]
pub struct Upstream {
    urls: Vec<String>,
    next: AtomicUsize,
}

impl Upstream {
    /// Parses a comma list of http(s) base URLs (`name` is the variable, for errors).
    fn parse(name: &str, value: &str) -> anyhow::Result<Self> {
        let urls: Vec<String> = value
            .split(',')
            .map(|url| url.trim().trim_end_matches('/').to_string())
            .collect();
        for url in &urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                anyhow::bail!(
                    "{name} must be http:// or https:// URLs (comma-separated), got {url:?}"
                );
            }
        }
        Ok(Upstream {
            urls,
            next: AtomicUsize::new(0),
        })
    }

    /// The first base URL (where a backup asks for the context's snapshot).
    pub fn first(&self) -> &str {
        self.urls.first().map_or("", String::as_str)
    }

    /// Every base URL.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The next base URL in turn.
    fn pick(&self) -> String {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        self.urls
            .get(turn % self.urls.len().max(1))
            .cloned()
            .unwrap_or_default()
    }
}

impl Upstreams {
    /// Reads `AGORA_UPSTREAM_<CONTEXT>` for every known context: an http(s) URL, or a comma
    /// list of them (the replicas of the context).
    pub fn from_env(vars: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        for context in crate::platform::context::Context::ALL.map(|c| c.name()) {
            let name = format!("AGORA_UPSTREAM_{}", context.to_uppercase());
            if let Some(value) = vars(&name) {
                map.insert(context, Upstream::parse(&name, &value)?);
            }
        }
        if map.is_empty() {
            anyhow::bail!(
                "no upstream configured: set AGORA_UPSTREAM_<CONTEXT> (e.g. AGORA_UPSTREAM_AUTH=http://demo-auth:8080)"
            );
        }
        Ok(Upstreams(map))
    }
}

#[derive(Clone)]
struct ProxyState {
    upstreams: Arc<Upstreams>,
    /// Where each replicated context's writer takes requests
    /// ([`crate::platform::replication::lease::follow_writers`]).
    writers: Writers,
    client: reqwest::Client,
    max_body: u64,
    max_upload: u64,
}

/// A router that forwards every `/api/v1/<context>/...` request to its upstream: request
/// bodies up to `max_body` bytes are read whole and sent with their length, uploads (up to
/// `max_upload`) and every answer are streamed (an upload is never held whole in the
/// gateway's memory).
///
/// Writes to a replicated context go to its writer (as its lease names it), reads to the
/// context's Service, which balances them over every replica (or, given the replicas'
/// own URLs, to each in turn); a read whose replica cannot be reached is tried once more
/// (the Service picks again, or the next replica). `client` trusts the platform's
/// CA, for upstreams at `https://` URLs.
pub fn routes(
    client: reqwest::ClientBuilder,
    upstreams: Upstreams,
    writers: Writers,
    max_body: u64,
    max_upload: u64,
) -> anyhow::Result<Router> {
    let client = client
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()?;
    let state = ProxyState {
        upstreams: Arc::new(upstreams),
        writers,
        client,
        max_body,
        max_upload,
    };
    Ok(Router::new()
        .route("/api/v1/{*rest}", axum::routing::any(forward))
        .with_state(state))
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
    )
}

/// Adds `methods` to a 405's `Allow` (what other contexts serve on the same path).
fn allow_also(headers: &mut HeaderMap, methods: &[&str]) {
    if methods.is_empty() {
        return;
    }
    let mut allowed: Vec<String> = headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').map(|m| m.trim().to_string()).collect())
        .unwrap_or_default();
    for m in methods {
        if !allowed.iter().any(|a| a == m) {
            allowed.push(m.to_string());
        }
    }
    if let Ok(value) = axum::http::HeaderValue::from_str(&allowed.join(",")) {
        headers.insert(header::ALLOW, value);
    }
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !hop_by_hop(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

async fn forward(State(s): State<ProxyState>, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_owned();
    let path = path.as_str();
    let Some((context, upstream)) =
        context_for(req.method(), path).and_then(|c| s.upstreams.0.get(c).map(|u| (c, u)))
    else {
        return Err(ApiError::NotFound("no such route".into()));
    };
    let service = upstream.pick();
    let idempotent = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let writer = writer_of(&s.writers, context).filter(|_| !idempotent);
    let base = writer.clone().unwrap_or_else(|| service.clone());
    let target = req
        .uri()
        .path_and_query()
        .map_or(path, |p| p.as_str())
        .to_owned();
    let limit = if path == UPLOAD_PATH {
        s.max_upload
    } else {
        s.max_body
    };
    // A declared length past the limit was refused at the edge; this catches the rest.
    let (parts, body) = req.into_parts();
    let over = Arc::new(AtomicBool::new(false));
    let body = limited(body, limit, over.clone());
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let send = |base: &str, body: reqwest::Body| {
        s.client
            .request(parts.method.clone(), format!("{base}{target}"))
            .headers(headers.clone())
            .body(body)
            .send()
    };
    let sent = if path == UPLOAD_PATH {
        send(&base, reqwest::Body::wrap_stream(body)).await
    } else {
        // Small bodies (at most `max_body`) are read whole first, so the upstream gets them
        // with their length in one write: streamed, an upstream that answered before
        // reading them (a 405, a 404) and closed could reset the connection while the
        // gateway was still writing, and the client got a 503 instead of that answer.
        let whole = bytes::Bytes::from(whole(body, &over).await?);
        let mut sent = send(&base, whole.clone().into()).await;
        if idempotent && sent.is_err() {
            // A read that failed in any way is simply read again: on the next replica in
            // turn, or through the Service, which picks again.
            tracing::info!("read again: its replica did not answer");
            sent = send(&upstream.pick(), whole.into()).await;
        } else {
            // A write a replicated context did not take (its writer is handing the lease
            // over, or gone, or the replica it reached does not write) goes to whichever
            // replica the lease names, until one takes it or the wait is over.
            let deadline = tokio::time::Instant::now() + HANDOVER_WAIT;
            let mut replicated = writer.is_some();
            loop {
                let not_writer = sent
                    .as_ref()
                    .is_ok_and(|r| r.headers().contains_key(NOT_WRITER_HEADER));
                let unreachable = sent.as_ref().is_err_and(|e| e.is_connect());
                replicated |= not_writer;
                let again = not_writer || (replicated && unreachable);
                if !again || tokio::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                let url = writer_of(&s.writers, context).unwrap_or_else(|| upstream.pick());
                sent = send(&url, whole.clone().into()).await;
            }
        }
        sent
    };
    let upstream = sent.map_err(|e| {
        if over.load(Ordering::Relaxed) {
            return ApiError::PayloadTooLarge;
        }
        tracing::warn!(error = %e, "upstream unreachable");
        ApiError::Unavailable
    })?;
    let mut response = Response::builder().status(upstream.status());
    if let Some(h) = response.headers_mut() {
        copy_headers(upstream.headers(), h);
        if upstream.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED {
            allow_also(h, &methods_declared_for(path));
        }
    }
    Ok(response
        .body(Body::from_stream(upstream.bytes_stream()))
        .map_err(ApiError::internal)?
        .into_response())
}

/// How long the gateway keeps sending a write that no writer takes: a graceful
/// handover takes about half a second; a writer that died without handing over is
/// replaced only when its lease expires (6 s by default), and past this wait the client
/// gets the 503 with `Retry-After`.
const HANDOVER_WAIT: Duration = Duration::from_secs(3);

/// The base URL of `context`'s writer, when it is replicated and its lease names one.
fn writer_of(writers: &Writers, context: &str) -> Option<String> {
    writers
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(context)
        .cloned()
}

/// The body as a stream that fails (and sets `over`) once it passes `limit` bytes.
/// A (limited) body read whole: 413 past the limit, 400 when the client's body broke off.
async fn whole(
    body: impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>>,
    over: &AtomicBool,
) -> Result<Vec<u8>, ApiError> {
    use futures::TryStreamExt as _;
    body.try_fold(Vec::new(), |mut all, chunk| async move {
        all.extend_from_slice(&chunk);
        Ok(all)
    })
    .await
    .map_err(|_| match over.load(Ordering::Relaxed) {
        true => ApiError::PayloadTooLarge,
        false => ApiError::BadRequest("the request body could not be read".into()),
    })
}

fn limited(
    body: Body,
    limit: u64,
    over: Arc<AtomicBool>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    use futures::StreamExt as _;
    let mut seen = 0u64;
    body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > limit {
            over.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request body over the limit"));
        }
        Ok(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_come_from_the_environment_and_must_be_urls() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let u =
            Upstreams::from_env(env(&[("AGORA_UPSTREAM_AUTH", "http://demo-auth:8080/")])).unwrap();
        assert_eq!(u.0["auth"].urls(), ["http://demo-auth:8080"]);
        assert!(Upstreams::from_env(env(&[("AGORA_UPSTREAM_USERS", "demo-users:8080")])).is_err());
        let replicas = Upstreams::from_env(env(&[(
            "AGORA_UPSTREAM_POSTS",
            "http://demo-posts-0:8080, http://demo-posts-1:8080/",
        )]))
        .unwrap();
        let posts = &replicas.0["posts"];
        // Each in turn.
        let turns: Vec<String> = (0..4).map(|_| posts.pick()).collect();
        assert_eq!(
            turns,
            [0, 1, 0, 1].map(|i| format!("http://demo-posts-{i}:8080"))
        );
        assert!(Upstreams::from_env(env(&[("AGORA_UPSTREAM_POSTS", "http://a:1,b:2")])).is_err());
        assert!(Upstreams::from_env(env(&[])).is_err());
    }
}
