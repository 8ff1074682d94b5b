//! The event envelope every context publishes and consumes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One domain event on the bus. `data` is the payload of `type` at `version`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// ULID; also the `Nats-Msg-Id` used for dedup.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u32,
    /// The publishing context.
    pub context: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Who caused it (account id), or `system`.
    pub actor: String,
    pub aggregate_id: String,
    pub data: serde_json::Value,
}

/// A payload type with a fixed name and version.
pub trait DomainEvent: Serialize {
    const TYPE: &'static str;
    const VERSION: u32 = 1;
}

impl Envelope {
    pub fn new<E: DomainEvent>(context: &str, actor: &str, aggregate_id: &str, event: &E) -> Self {
        Envelope {
            id: crate::platform::new_id(),
            kind: E::TYPE.to_string(),
            version: E::VERSION,
            context: context.to_string(),
            occurred_at: OffsetDateTime::now_utc(),
            actor: actor.to_string(),
            aggregate_id: aggregate_id.to_string(),
            data: serde_json::to_value(event).expect("events serialize"),
        }
    }

    /// The subject it is published on: `<prefix>.events.<context>.<type>`.
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}.events.{}.{}", self.context, self.kind)
    }

    /// The payload as `E` when this envelope is one; an undecodable payload is logged and
    /// skipped (a poison message must not block the stream).
    pub fn decode_logged<E: DomainEvent + serde::de::DeserializeOwned>(&self) -> Option<E> {
        match self.decode::<E>()? {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::error!(event_id = %self.id, kind = %self.kind, error = %e, "undecodable event skipped");
                None
            }
        }
    }

    /// The payload as `E`, if this envelope is an `E` of a version we understand.
    pub fn decode<E: DomainEvent + serde::de::DeserializeOwned>(
        &self,
    ) -> Option<Result<E, serde_json::Error>> {
        (self.kind == E::TYPE && self.version == E::VERSION)
            .then(|| serde_json::from_value(self.data.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Thing {
        n: u32,
    }
    impl DomainEvent for Thing {
        const TYPE: &'static str = "ThingHappened";
    }

    #[test]
    fn envelope_round_trips_and_names_its_subject() {
        let e = Envelope::new("users", "a", "b", &Thing { n: 3 });
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""type":"ThingHappened""#));
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.subject("demo"), "demo.events.users.ThingHappened");
        assert_eq!(back.decode::<Thing>().unwrap().unwrap(), Thing { n: 3 });
    }
}
