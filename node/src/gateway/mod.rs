//! # gateway
//!
//! The one public entry under `/api/v1`. Holds no data. In front of every request it
//! sets a request id, records the client address in `X-Forwarded-For`, limits rates per
//! IP and per user (429 with `Retry-After`), caps body sizes, and verifies the bearer token
//! (a bad token is refused here; a good one travels on as [`VerifiedClaims`]). Then it
//! routes by path: to the context routers in the same process (`dev`), or over HTTP to
//! `AGORA_UPSTREAM_<CONTEXT>` ([`proxy`]) in a cluster.

pub mod openapi;
pub mod proxy;
pub mod push;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::platform::config::EdgeArgs;
use crate::platform::context::{BoundedContext, Context};
use crate::platform::error::ApiError;
use crate::platform::http::{method_not_allowed, no_such_route, within_limit};
use crate::platform::telemetry::{Metrics, track_http};
use crate::platform::tokens::{TokenVerifier, VerifiedClaims, bearer};

/// Which built-in context serves a request, or `None` when no context does.
pub fn context_for(method: &Method, path: &str) -> Option<&'static str> {
    let builtin = Context::ALL.map(crate::bounded_context);
    route(&builtin, method, path)
}

/// One declared path pattern of a context (`users/*/posts`, or `DELETE users/me`).
struct Declared<'a> {
    method: Option<&'a str>,
    parts: Vec<&'a str>,
}

impl<'a> Declared<'a> {
    fn parse(declared: &'a str) -> Self {
        let (method, pattern) = match declared.split_once(' ') {
            Some((m, pattern)) => (Some(m), pattern),
            None => (None, declared),
        };
        Declared {
            method,
            parts: pattern.split('/').collect(),
        }
    }

    /// Whether it matches the path `segments` (after `/api/v1/`): a pattern names the start
    /// of a path; one for a single method, the whole path. `*` matches any one segment.
    fn matches(&self, segments: &[&str]) -> bool {
        let fits = match self.method {
            Some(_) => self.parts.len() == segments.len(),
            None => self.parts.len() <= segments.len(),
        };
        fits && self
            .parts
            .iter()
            .zip(segments)
            .all(|(p, s)| *p == "*" || p == s)
    }
}

/// Which of `contexts` serves a request: the most specific of their declared patterns
/// that matches (more segments win, then a pattern naming the method, like
/// `DELETE users/me`, over one that does not).
pub fn route(
    contexts: &[&dyn BoundedContext],
    method: &Method,
    path: &str,
) -> Option<&'static str> {
    let rest = path.strip_prefix("/api/v1/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let mut best: Option<((usize, bool), &'static str)> = None;
    for context in contexts {
        for declared in context.paths().iter().map(|d| Declared::parse(d)) {
            if declared.method.is_some_and(|m| m != method.as_str()) {
                continue;
            }
            let rank = (declared.parts.len(), declared.method.is_some());
            if declared.matches(&segments) && best.is_none_or(|(r, _)| rank > r) {
                best = Some((rank, context.name()));
            }
        }
    }
    best.map(|(_, name)| name)
}

/// The methods a built-in context serves on exactly `path` through a pattern naming the
/// method (`DELETE users/me`): a context answering 405 for the path does not know them.
pub fn methods_declared_for(path: &str) -> Vec<&'static str> {
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return Vec::new();
    };
    let segments: Vec<&str> = rest.split('/').collect();
    Context::ALL
        .map(crate::bounded_context)
        .iter()
        .flat_map(|c| c.paths().iter().map(|d| Declared::parse(d)))
        .filter(|d| d.matches(&segments))
        .filter_map(|d| d.method)
        .collect()
}

/// What the edge middleware needs.
#[derive(Clone)]
pub struct Edge {
    verifier: Arc<TokenVerifier>,
    per_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_user: Arc<DefaultKeyedRateLimiter<String>>,
    max_body: u64,
    max_upload: u64,
}

fn quota(per_second: u32) -> Quota {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    Quota::per_second(rate).allow_burst(burst)
}

impl Edge {
    /// `max_upload`: the largest body of a media upload (the file and its multipart
    /// framing), the one route whose bodies may pass `limits.max_body_bytes`.
    pub fn new(verifier: Arc<TokenVerifier>, limits: &EdgeArgs, max_upload: u64) -> Self {
        let edge = Edge {
            verifier,
            per_ip: Arc::new(RateLimiter::keyed(quota(limits.rate_limit_ip))),
            per_user: Arc::new(RateLimiter::keyed(quota(limits.rate_limit_user))),
            max_body: limits.max_body_bytes,
            max_upload,
        };
        // Forget idle keys now and then so the limiters do not grow without bound.
        let (ip, user) = (Arc::downgrade(&edge.per_ip), Arc::downgrade(&edge.per_user));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let (Some(ip), Some(user)) = (ip.upgrade(), user.upgrade()) else {
                    return;
                };
                ip.retain_recent();
                user.retain_recent();
            }
        });
        edge
    }
}

static FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The one route whose bodies may pass `AGORA_MAX_BODY_BYTES`: media uploads, up to
/// `AGORA_MEDIA_MAX_UPLOAD_MIB`.
pub const UPLOAD_PATH: &str = "/api/v1/media";

/// What the edge reads and drops of a refused body before it answers: answering while the
/// client still writes makes the kernel reset the connection, and a client that is reset
/// never reads the 413 (nginx's "lingering close" for the same reason). Past these bounds
/// the edge answers anyway rather than take in a huge body for nothing.
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// A 413 for a body whose declared length is past its route's limit, once the body has
/// been read and dropped (see [`DRAIN_BYTES`]). A body without a declared length that
/// grows past the limit is stopped where it passes it, by the route's own limit.
async fn refuse_too_large(edge: &Edge, req: Request) -> Result<Request, Response> {
    let limit = if req.uri().path() == UPLOAD_PATH {
        edge.max_upload
    } else {
        edge.max_body
    };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none_or(|n| n <= limit) {
        return Ok(req);
    }
    let drain = async {
        use futures::StreamExt as _;
        let mut body = req.into_body().into_data_stream();
        let mut read = 0u64;
        while let Some(Ok(chunk)) = body.next().await {
            read += chunk.len() as u64;
            if read > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    Err(ApiError::PayloadTooLarge.into_response())
}

/// Body limits, rate limits, client address and token verification, before any context
/// sees the request.
async fn edge(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    let mut req = match refuse_too_large(&edge, req).await {
        Ok(req) => req,
        Err(refused) => return refused,
    };
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = ip {
        if let Err(e) = within_limit(&edge.per_ip, &ip) {
            return e.into_response();
        }
        // The gateway is the edge: whatever the client claimed is replaced.
        if let Ok(value) = HeaderValue::from_str(&ip.to_string()) {
            req.headers_mut().insert(FORWARDED_FOR.clone(), value);
        }
    }
    if let Some(token) = bearer(req.headers()) {
        let claims = match edge.verifier.verify(token) {
            Ok(claims) => claims,
            Err(e) => return e.into_response(),
        };
        if let Err(e) = within_limit(&edge.per_user, &claims.sub) {
            return e.into_response();
        }
        req.extensions_mut().insert(VerifiedClaims(claims));
    }
    next.run(req).await
}

/// Request ids are ULIDs.
#[derive(Clone, Copy)]
struct UlidRequestId;

impl MakeRequestId for UlidRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::generate().to_string())
            .ok()
            .map(RequestId::new)
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the routes of the edge (`inner`) with every gateway layer.
pub fn wrap(inner: Router, edge_state: Edge, limits: &EdgeArgs, metrics: Arc<Metrics>) -> Router {
    use axum::http::header;
    let trace = TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
        let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    });
    inner
        .route("/api/v1/openapi.json", axum::routing::get(openapi::serve))
        .route_layer(middleware::from_fn_with_state(metrics, track_http))
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(edge_state, edge))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes as usize))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), UlidRequestId))
        // Headers every answer of the edge carries (OWASP's for a JSON API): no MIME
        // sniffing, no referrer, a CSP that lets a browser run and frame nothing from a
        // response, and no caching of what is personal unless a route says otherwise.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}
