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
    /// Which fields of `data` are personal, whose, and whether they are sealed (on the
    /// stream they are; see [`super::keyring`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal: Option<Personal>,
}

/// The personal fields of an event's `data` and the person they are about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Personal {
    pub subject: String,
    pub fields: Vec<String>,
    #[serde(default)]
    pub sealed: bool,
}

/// A payload type with a fixed publisher, name and version.
///
/// When a payload's shape changes, its `VERSION` goes up and [`DomainEvent::upcast`] turns
/// each older version's `data` into the current shape, so events written before an upgrade
/// still apply when the stream is replayed after it.
pub trait DomainEvent: Serialize {
    /// The publishing context (the subject's `<context>` part).
    const CONTEXT: &'static str;
    const TYPE: &'static str;
    const VERSION: u32 = 1;
    /// The fields of `data` that hold personal data (sealed on the stream with the key of
    /// the person `SUBJECT` names, so that erasing them shreds these fields everywhere).
    const PERSONAL: &'static [&'static str] = &[];
    /// The field of `data` holding the id of the person the `PERSONAL` fields are about.
    const SUBJECT: &'static str = "";

    /// The `data` of an older `version` in the current shape; `None` when that version
    /// cannot be read (the event is then acknowledged and logged, never applied).
    fn upcast(version: u32, data: serde_json::Value) -> Option<serde_json::Value> {
        let _ = (version, data);
        None
    }
}

impl Envelope {
    #[expect(
        clippy::expect_used,
        reason = "events are plain structs with string keys"
    )]
    pub fn new<E: DomainEvent>(actor: &str, aggregate_id: &str, event: &E) -> Self {
        let data = serde_json::to_value(event).expect("events serialize");
        let personal = data
            .get(E::SUBJECT)
            .and_then(|s| s.as_str())
            .filter(|_| !E::PERSONAL.is_empty())
            .map(|subject| Personal {
                subject: subject.to_string(),
                fields: E::PERSONAL.iter().map(|f| f.to_string()).collect(),
                sealed: false,
            });
        Envelope {
            id: crate::platform::new_id(),
            kind: E::TYPE.to_string(),
            version: E::VERSION,
            context: E::CONTEXT.to_string(),
            occurred_at: OffsetDateTime::now_utc(),
            actor: actor.to_string(),
            aggregate_id: aggregate_id.to_string(),
            data,
            personal,
        }
    }

    /// Seals the personal fields with the subject's key (`None`: the subject is erased,
    /// and the fields are left out). Each sealed value is bound to this event and field.
    pub fn seal(&mut self, key: Option<&super::keyring::Key>) {
        let Some(personal) = self.personal.as_mut().filter(|p| !p.sealed) else {
            return;
        };
        for field in &personal.fields {
            let Some(value) = self.data.get_mut(field) else {
                continue;
            };
            let context = format!("{}/{field}", self.id);
            *value = match key {
                Some(key) => serde_json::Value::String(
                    key.seal(value.to_string().as_bytes(), context.as_bytes()),
                ),
                None => serde_json::Value::Null,
            };
        }
        personal.sealed = true;
    }

    /// Opens sealed personal fields with the subject's key; false when they cannot be
    /// (the subject was erased, or the values were tampered with).
    pub fn open(&mut self, key: Option<&super::keyring::Key>) -> bool {
        let Some(personal) = self.personal.as_mut().filter(|p| p.sealed) else {
            return true;
        };
        let Some(key) = key else {
            return false;
        };
        for field in &personal.fields {
            let Some(value) = self.data.get_mut(field) else {
                continue;
            };
            let context = format!("{}/{field}", self.id);
            let opened = value
                .as_str()
                .and_then(|sealed| key.open(sealed, context.as_bytes()))
                .and_then(|plain| serde_json::from_slice(&plain).ok());
            match opened {
                Some(plain) => *value = plain,
                None => return false,
            }
        }
        personal.sealed = false;
        true
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

    /// The payload as `E`, if this envelope is an `E` of a version we understand: the
    /// current one, or an older one that [`DomainEvent::upcast`] can read.
    pub fn decode<E: DomainEvent + serde::de::DeserializeOwned>(
        &self,
    ) -> Option<Result<E, serde_json::Error>> {
        if self.context != E::CONTEXT || self.kind != E::TYPE {
            return None;
        }
        if self.version == E::VERSION {
            return Some(serde_json::from_value(self.data.clone()));
        }
        if self.version > E::VERSION {
            return None;
        }
        E::upcast(self.version, self.data.clone()).map(serde_json::from_value)
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
        const CONTEXT: &'static str = "users";
        const TYPE: &'static str = "ThingHappened";
        const VERSION: u32 = 2;
        /// Version 1 called the field `count`.
        fn upcast(version: u32, mut data: serde_json::Value) -> Option<serde_json::Value> {
            let count = data.as_object_mut()?.remove("count")?;
            (version == 1).then(|| serde_json::json!({ "n": count }))
        }
    }

    #[test]
    fn envelope_round_trips_and_names_its_subject() {
        let e = Envelope::new("a", "b", &Thing { n: 3 });
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""type":"ThingHappened""#));
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.subject("demo"), "demo.events.users.ThingHappened");
        assert_eq!(back.decode::<Thing>().unwrap().unwrap(), Thing { n: 3 });
    }

    #[test]
    fn older_versions_are_upcast_and_newer_ones_left_alone() {
        let mut e = Envelope::new("a", "b", &Thing { n: 3 });
        e.version = 1;
        e.data = serde_json::json!({ "count": 7 });
        assert_eq!(e.decode::<Thing>().unwrap().unwrap(), Thing { n: 7 });
        e.version = 3;
        assert!(e.decode::<Thing>().is_none());
        e.version = 2;
        e.context = "posts".into();
        assert!(
            e.decode::<Thing>().is_none(),
            "same type name from another context"
        );
    }
}
