//! Presence: online, or when last seen. A connection reports itself alive (the push
//! channel does it for every connected device); members of a conversation see each
//! other's presence when both share it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::Json;
use crate::platform::push::PushEvent;
use crate::platform::tokens::AuthUser;
use crate::platform::unix_now;

use super::super::MessagesState;
use super::super::domain::{self, PRESENCE_TTL_SECS};
use super::super::error::Error;
use super::super::storage;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"connection": "phone-7f3a"}))]
pub struct Heartbeat {
    /// The device's connection: 1 to 64 visible ASCII characters, stable while connected.
    connection: String,
}

/// Tells the contacts who may see it that the caller's presence changed.
fn announce(s: &MessagesState, user: &str, online: bool, now: i64) -> ApiResult<()> {
    if !storage::preferences(&s.store, user)?.presence {
        return Ok(());
    }
    let mut to = Vec::new();
    for contact in storage::contacts(&s.store, user)? {
        if storage::preferences(&s.store, &contact)?.presence {
            to.push(contact);
        }
    }
    let data = serde_json::json!({
        "user_id": user,
        "online": online,
        "last_seen": crate::platform::http::rfc3339(now),
    });
    s.push.send(
        &to,
        &PushEvent::new(crate::platform::new_id(), "presence", data),
    );
    Ok(())
}

/// Reports a connection of the caller alive for the next 75 seconds (repeat every 30).
/// The push channel does this for each connected device.
#[utoipa::path(post, path = "/api/v1/conversations/presence", tag = "messages", request_body = Heartbeat,
    responses((status = 204), (status = 422)), security(("bearer" = [])))]
pub(super) async fn heartbeat(
    State(s): State<MessagesState>,
    user: AuthUser,
    Json(req): Json<Heartbeat>,
) -> ApiResult<StatusCode> {
    let conn = domain::connection_id(&req.connection)?;
    let now = unix_now();
    if storage::heartbeat(&s.store, user.id(), &conn, now + PRESENCE_TTL_SECS, now).await? {
        announce(&s, user.id(), true, now)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Ends a connection of the caller (the push channel does it when a device disconnects).
#[utoipa::path(delete, path = "/api/v1/conversations/presence/{connection}", tag = "messages", params(("connection" = String, Path)),
    responses((status = 204), (status = 422)), security(("bearer" = [])))]
pub(super) async fn disconnect(
    State(s): State<MessagesState>,
    user: AuthUser,
    Path(connection): Path<String>,
) -> ApiResult<StatusCode> {
    let conn = domain::connection_id(&connection)
        .map_err(|_| Error::invalid("connection", "not a connection"))?;
    let now = unix_now();
    if storage::disconnect(&s.store, user.id(), &conn, now).await? {
        announce(&s, user.id(), false, now)?;
    }
    Ok(StatusCode::NO_CONTENT)
}
