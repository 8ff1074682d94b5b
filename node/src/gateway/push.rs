//! The push channel, `GET /api/v1/stream`: a WebSocket, or Server-Sent Events when the
//! client asks for `text/event-stream`. Both carry the same events (`{"id", "type",
//! "data"}`, [`PushEvent`]).
//!
//! Each connection subscribes to its user's core NATS subject only, so a sender on one
//! gateway reaches a recipient on another. A client that reconnects with the id of the
//! last event it saw (`?since=`, or SSE's `Last-Event-ID`) first gets what it missed: the
//! messages, read back through the messages context's `GET /conversations/updates`, and
//! the notifications with new activity, through `GET /notifications/updates` (over the
//! same routes every request takes: in process in `dev`, over HTTP in a cluster), then
//! live events, without repeats. Every push id is a ULID (a message's id, a notification's
//! latest activity), so one `since` serves both. Each connection has a bounded queue: a client that does
//! not read is disconnected (close code 4008), never allowed to grow the gateway's memory.
//! The connection ends when the access token expires (4002) and on shutdown (1001).

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

use crate::platform::error::ApiError;
use crate::platform::push::{PushEvent, subject};
use crate::platform::tokens::{Claims, TokenVerifier, VerifiedClaims, bearer};

/// Events queued per connection before a client that does not read is dropped.
pub const QUEUE: usize = 256;
/// Largest frame a client may send (it has nothing to say but pings and close).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The read buffer of a WebSocket (grown as needed up to [`MAX_FRAME_BYTES`]).
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How often a WebSocket is pinged, and an SSE stream gets a comment, to survive proxies.
const HEARTBEAT: Duration = Duration::from_secs(20);
/// A write that takes longer than this means the client stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a connected device is reported alive (presence; the messages context keeps
/// it alive for 75 s per report).
const PRESENCE_EVERY: Duration = Duration::from_secs(30);
/// Missed messages replayed on resume; beyond that the client is told to reload.
const RESUME_PAGES: usize = 5;

/// Close codes (also in docs/api.md).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const UNAVAILABLE: u16 = 1011;
    pub const TOKEN_EXPIRED: u16 = 4002;
    pub const TOO_SLOW: u16 = 4008;
}

/// The live push connections of a process, so that a shutdown can let them say goodbye
/// (close 1001) before the process exits.
#[derive(Clone, Default)]
pub struct Connections(Arc<(std::sync::atomic::AtomicUsize, tokio::sync::Notify)>);

/// Counts one connection while it lives.
struct Live(Connections);

impl Drop for Live {
    fn drop(&mut self) {
        let (count, ended) = &*self.0.0;
        count.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        ended.notify_waiters();
    }
}

impl Connections {
    fn live(&self) -> Live {
        self.0.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Live(self.clone())
    }

    /// Waits until every connection has ended, at most `within`.
    pub async fn drained(&self, within: Duration) {
        let (count, ended) = &*self.0;
        let _ = tokio::time::timeout(within, async {
            loop {
                // Registered before the check, so an end between the two is not missed.
                let next = ended.notified();
                tokio::pin!(next);
                next.as_mut().enable();
                if count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    return;
                }
                next.await;
            }
        })
        .await;
    }
}

/// What the push routes need.
pub struct Hub {
    /// `None`: this gateway has no NATS (`/stream` answers 503).
    pub nats: Option<async_nats::Client>,
    pub prefix: String,
    /// The routes every request takes to the contexts, to read back what a client missed.
    pub contexts: Router,
    pub verifier: Arc<TokenVerifier>,
    pub shutdown: watch::Receiver<bool>,
    /// Counted so that a shutdown waits for their close frames.
    pub connections: Connections,
}

pub fn routes(hub: Hub) -> Router {
    Router::new()
        .route("/api/v1/stream", axum::routing::get(stream))
        .with_state(Arc::new(hub))
}

#[derive(Deserialize)]
struct StreamQuery {
    /// For clients that cannot set headers (browsers' WebSocket and EventSource).
    access_token: Option<String>,
    /// Resume after this event id.
    since: Option<String>,
}

/// Why a connection ended, set once by whichever part ends it.
type Ending = Arc<OnceLock<(u16, &'static str)>>;

async fn stream(
    State(hub): State<Arc<Hub>>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
    verified: Option<Extension<VerifiedClaims>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match open(&hub, q, &headers, verified) {
        Ok((claims, token, since)) => {
            let Some(nats) = hub.nats.clone() else {
                return ApiError::Unavailable.into_response();
            };
            let sub = match nats.subscribe(subject(&hub.prefix, &claims.sub)).await {
                Ok(sub) => sub,
                Err(e) => {
                    tracing::warn!(error = %e, "push subscription failed");
                    return ApiError::Unavailable.into_response();
                }
            };
            // The subscription goes out to the server before the client hears it is
            // connected: the NATS client batches its writes, and under load a message
            // published right after the client connected reached the server first (and
            // was missed: a live signal is not stored).
            if let Err(e) = nats.flush().await {
                tracing::warn!(error = %e, "push subscription not confirmed");
                return ApiError::Unavailable.into_response();
            }
            let (tx, rx) = mpsc::channel(QUEUE);
            let live = hub.connections.live();
            let ending: Ending = Arc::default();
            let sse = accepts_sse(&headers);
            if !sse && ws.is_err() {
                return ApiError::BadRequest(
                    "connect with a WebSocket, or ask for text/event-stream".into(),
                )
                .into_response();
            }
            tokio::spawn(feed(
                hub.clone(),
                sub,
                claims,
                token,
                since,
                tx,
                ending.clone(),
            ));
            match ws {
                // Small buffers: tungstenite's defaults (128 KiB to read, allocated up front)
                // made an idle connection cost about 144 KB; events are small and written
                // one at a time.
                Ok(ws) if !sse => ws
                    .read_buffer_size(READ_BUFFER_BYTES)
                    .write_buffer_size(0)
                    .max_message_size(MAX_FRAME_BYTES)
                    .max_frame_size(MAX_FRAME_BYTES)
                    .on_upgrade(move |socket| async move {
                        websocket(socket, rx, ending).await;
                        drop(live);
                    }),
                _ => {
                    drop(live);
                    server_sent_events(rx).into_response()
                }
            }
        }
        Err(e) => e.into_response(),
    }
}

fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// The caller's claims, their token (to read back missed events as them) and where to
/// resume.
fn open(
    hub: &Hub,
    q: StreamQuery,
    headers: &HeaderMap,
    verified: Option<Extension<VerifiedClaims>>,
) -> Result<(Arc<Claims>, String, Option<String>), ApiError> {
    let token = bearer(headers)
        .map(str::to_string)
        .or(q.access_token)
        .ok_or_else(|| ApiError::Unauthorized("missing access token".into()))?;
    let claims = match verified {
        Some(Extension(VerifiedClaims(claims))) => claims,
        None => hub.verifier.verify(&token)?,
    };
    let since = q.since.or_else(|| {
        headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let since = since
        .map(|s| {
            ulid::Ulid::from_string(&s)
                .map(|u| u.to_string())
                .map_err(|_| {
                    ApiError::field("since", "must be the id of an event this stream sent")
                })
        })
        .transpose()?;
    Ok((claims, token, since))
}

/// Queues an event; a full queue means the client stopped reading.
fn offer(tx: &mpsc::Sender<PushEvent>, event: PushEvent, ending: &Ending) -> bool {
    match tx.try_send(event) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            let _ = ending.set((close::TOO_SLOW, "too slow: events were not read"));
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Reports this connection alive (or gone) to the messages context, as the user, over the
/// routes every request takes. Presence is best effort: a failure is only logged.
async fn presence(contexts: &Router, token: &str, connection: &str, alive: bool) {
    let request = if alive {
        Request::post("/api/v1/conversations/presence")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(
                serde_json::json!({ "connection": connection }).to_string(),
            ))
    } else {
        Request::delete(format!("/api/v1/conversations/presence/{connection}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
    };
    let Ok(request) = request else { return };
    match contexts.clone().oneshot(request).await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::debug!(status = %r.status(), "presence not recorded"),
        Err(e) => tracing::debug!(error = %e, "presence not recorded"),
    }
}

/// Feeds one connection, with its presence reported while it lasts.
async fn feed(
    hub: Arc<Hub>,
    sub: async_nats::Subscriber,
    claims: Arc<Claims>,
    token: String,
    since: Option<String>,
    tx: mpsc::Sender<PushEvent>,
    ending: Ending,
) {
    let connection = crate::platform::new_id();
    presence(&hub.contexts, &token, &connection, true).await;
    events(&hub, sub, &claims, &token, &connection, since, tx, ending).await;
    presence(&hub.contexts, &token, &connection, false).await;
}

/// What it missed, then its user's live signals, until the client leaves, the token
/// expires, the client is too slow or the gateway shuts down.
#[expect(
    clippy::too_many_arguments,
    reason = "one connection's whole state, used once"
)]
async fn events(
    hub: &Hub,
    mut sub: async_nats::Subscriber,
    claims: &Claims,
    token: &str,
    connection: &str,
    since: Option<String>,
    tx: mpsc::Sender<PushEvent>,
    ending: Ending,
) {
    let mut resumed_to: Option<String> = None;
    if let Some(since) = since {
        match missed(&hub.contexts, token, &since).await {
            Ok(events) => {
                for event in events {
                    if !event.id.is_empty() {
                        resumed_to = Some(event.id.clone());
                    }
                    if !offer(&tx, event, &ending) {
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "missed events not read back"),
        }
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let left = u64::try_from((claims.exp as i64).saturating_sub(now)).unwrap_or(0);
    let expiry = tokio::time::sleep(Duration::from_secs(left));
    tokio::pin!(expiry);
    let mut shutdown = hub.shutdown.clone();
    let mut alive = tokio::time::interval(PRESENCE_EVERY);
    alive.tick().await;
    loop {
        tokio::select! {
            _ = alive.tick() => presence(&hub.contexts, token, connection, true).await,
            msg = sub.next() => {
                let Some(msg) = msg else {
                    let _ = ending.set((close::UNAVAILABLE, "push is unavailable"));
                    return;
                };
                let Ok(event) = serde_json::from_slice::<PushEvent>(&msg.payload) else {
                    continue;
                };
                // Read back already (it arrived while the missed ones were read).
                let replayable = matches!(event.kind.as_str(), "message.created" | "notification");
                if replayable && resumed_to.as_ref().is_some_and(|r| event.id <= *r) {
                    continue;
                }
                if !offer(&tx, event, &ending) {
                    return;
                }
            }
            () = &mut expiry => {
                let _ = ending.set((close::TOKEN_EXPIRED, "the access token expired"));
                return;
            }
            _ = shutdown.changed() => {
                let _ = ending.set((close::GOING_AWAY, "the gateway is shutting down"));
                return;
            }
            () = tx.closed() => return,
        }
    }
}

/// A page of `GET /conversations/updates`.
#[derive(Deserialize)]
struct UpdatesPage {
    items: Vec<serde_json::Value>,
    has_more: bool,
}

/// A page of `GET /notifications/updates`.
#[derive(Deserialize)]
struct NotificationPage {
    items: Vec<serde_json::Value>,
    has_more: bool,
    unread_count: u64,
}

/// What happened after `since` that the client must not miss, oldest first: the messages
/// created in its conversations, and the notifications with new activity. (Every push id
/// is a ULID, so one `since` serves both.)
async fn missed(contexts: &Router, token: &str, since: &str) -> anyhow::Result<Vec<PushEvent>> {
    let mut events = missed_messages(contexts, token, since).await?;
    match missed_notifications(contexts, token, since).await {
        Ok(notifications) => events.extend(notifications),
        // A platform without the notifications context still resumes its messages.
        Err(e) => tracing::debug!(error = %e, "missed notifications not read back"),
    }
    // A `resync` (too much missed) goes last; the rest in the order it happened.
    events.sort_by(|a, b| (a.id.is_empty(), &a.id).cmp(&(b.id.is_empty(), &b.id)));
    Ok(events)
}

async fn get_json<T: serde::de::DeserializeOwned>(
    contexts: &Router,
    token: &str,
    uri: String,
) -> anyhow::Result<T> {
    let request = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())?;
    let response = contexts.clone().oneshot(request).await?;
    anyhow::ensure!(
        response.status() == StatusCode::OK,
        "updates answered {}",
        response.status()
    );
    let body = axum::body::to_bytes(response.into_body(), 16 << 20).await?;
    Ok(serde_json::from_slice(&body)?)
}

async fn missed_messages(
    contexts: &Router,
    token: &str,
    since: &str,
) -> anyhow::Result<Vec<PushEvent>> {
    let mut events = Vec::new();
    let mut after = since.to_string();
    for _ in 0..RESUME_PAGES {
        let uri = format!("/api/v1/conversations/updates?after={after}&limit=500");
        let page: UpdatesPage = get_json(contexts, token, uri).await?;
        for item in page.items {
            let id = item
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            after.clone_from(&id);
            events.push(PushEvent::new(id, "message.created", item));
        }
        if !page.has_more {
            return Ok(events);
        }
    }
    // More was missed than is worth replaying: the client reloads its lists.
    events.push(PushEvent::new("", "resync", serde_json::json!({})));
    Ok(events)
}

async fn missed_notifications(
    contexts: &Router,
    token: &str,
    since: &str,
) -> anyhow::Result<Vec<PushEvent>> {
    let uri = format!("/api/v1/notifications/updates?after={since}&limit=500");
    let page: NotificationPage = get_json(contexts, token, uri).await?;
    let mut events: Vec<PushEvent> = page
        .items
        .into_iter()
        .map(|item| {
            let id = item
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let data = serde_json::json!({
                "notification": item.get("notification"),
                "unread_count": page.unread_count,
            });
            PushEvent::new(id, "notification", data)
        })
        .collect();
    if page.has_more {
        events.push(PushEvent::new("", "resync", serde_json::json!({})));
    }
    Ok(events)
}

fn frame(event: &PushEvent) -> Message {
    Message::Text(serde_json::to_string(event).unwrap_or_default().into())
}

async fn websocket(socket: WebSocket, mut rx: mpsc::Receiver<PushEvent>, ending: Ending) {
    let (mut sink, mut incoming) = socket.split();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let (code, reason) = loop {
        tokio::select! {
            event = rx.recv() => {
                if let Some(end) = ending.get() {
                    break *end;
                }
                let Some(event) = event else {
                    break ending.get().copied().unwrap_or((close::NORMAL, ""));
                };
                match tokio::time::timeout(SEND_TIMEOUT, sink.send(frame(&event))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => break (close::TOO_SLOW, "too slow: events were not read"),
                }
            }
            frame = incoming.next() => match frame {
                // Clients have nothing to say but pings (answered by the library) and close.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    };
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(close)).await;
}

fn server_sent_events(rx: mpsc::Receiver<PushEvent>) -> impl IntoResponse {
    let events = futures::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        let mut sse = Event::default()
            .event(event.kind.clone())
            .data(serde_json::to_string(&event).unwrap_or_default());
        // Only events a reconnect can resume from carry an id (`Last-Event-ID`).
        if event.kind == "message.created" {
            sse = sse.id(event.id.clone());
        }
        Some((Ok::<_, Infallible>(sse), rx))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT))
}
