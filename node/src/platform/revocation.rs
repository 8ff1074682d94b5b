//! Instant revocation: every process that verifies tokens follows auth's
//! `SessionsRevoked` events into its [`TokenVerifier`], so a session that ends is refused
//! everywhere within about a second, not when its access token expires.
//!
//! An ordered (ephemeral, unacknowledged) consumer reads the one subject from one token
//! lifetime back: older revocations concern only tokens that have expired anyway. A process
//! that starts therefore learns every revocation that still matters before long; one that
//! loses NATS keeps what it knew and catches up when the consumer is recreated.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;
use tokio::sync::watch;

use super::bus::Bus;
use super::envelope::{DomainEvent, Envelope};
use super::tokens::{LEEWAY_SECS, MAX_TOKEN_LIFETIME_SECS, SessionsRevoked, TokenVerifier};

/// Follows revocations until `shutdown` flips; recreates the consumer after any failure
/// (the stream not created yet, NATS down).
pub async fn follow(bus: Bus, verifier: Arc<TokenVerifier>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            result = consume(&bus, &verifier) => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "revocation follower restarting");
                }
            }
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn consume(bus: &Bus, verifier: &TokenVerifier) -> anyhow::Result<()> {
    // The contexts create the stream; the gateway only waits for it.
    let stream = bus.js.get_stream(bus.settings.stream_name()).await?;
    let back = Duration::from_secs(MAX_TOKEN_LIFETIME_SECS + LEEWAY_SECS);
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: bus.subject(SessionsRevoked::CONTEXT, SessionsRevoked::TYPE),
            deliver_policy: DeliverPolicy::ByStartTime {
                start_time: time::OffsetDateTime::now_utc() - back,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        match revoked(&message.payload) {
            Some(revoked) => verifier.revoke(&revoked),
            None => tracing::warn!(subject = %message.subject, "undecodable revocation skipped"),
        }
    }
    Ok(())
}

fn revoked(payload: &[u8]) -> Option<SessionsRevoked> {
    let envelope: Envelope = serde_json::from_slice(payload).ok()?;
    serde_json::from_value(envelope.data).ok()
}
