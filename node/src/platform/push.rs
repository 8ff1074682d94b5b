//! Real-time signals to users: core NATS subjects `<prefix>.rt.user.<user_id>`, one
//! [`PushEvent`] per message. Ephemeral by design: a signal nobody listens to is gone. What
//! must survive a reconnect (new messages) is read back from the owning context's store,
//! by the record's id (see docs/api.md, "Push").

use serde::{Deserialize, Serialize};

/// What the push channel carries, the same over WebSocket and Server-Sent Events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushEvent {
    /// For resumable events, the id of the record (a ULID) a reconnect may start after.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: serde_json::Value,
}

impl PushEvent {
    pub fn new(id: impl Into<String>, kind: &str, data: impl Serialize) -> Self {
        PushEvent {
            id: id.into(),
            kind: kind.to_string(),
            data: serde_json::to_value(data).unwrap_or_default(),
        }
    }
}

/// The subject of one user's signals.
pub fn subject(prefix: &str, user: &str) -> String {
    format!("{prefix}.rt.user.{user}")
}

/// Publishes signals; a context gets one from [`super::Platform::push`].
#[derive(Clone)]
pub struct Push {
    client: async_nats::Client,
    prefix: String,
}

impl Push {
    pub fn new(client: async_nats::Client, prefix: String) -> Self {
        Push { client, prefix }
    }

    /// Sends `event` to each of `users`, after the write it reports was committed. Never
    /// fails the request: with NATS down the signal is lost and the store still has it.
    pub fn send(&self, users: &[String], event: &PushEvent) {
        let Ok(payload) = serde_json::to_vec(event) else {
            return;
        };
        let payload = bytes::Bytes::from(payload);
        let subjects: Vec<String> = users.iter().map(|u| subject(&self.prefix, u)).collect();
        let client = self.client.clone();
        tokio::spawn(async move {
            for subject in subjects {
                if let Err(e) = client.publish(subject, payload.clone()).await {
                    tracing::debug!(error = %e, "push signal not sent");
                }
            }
        });
    }
}
