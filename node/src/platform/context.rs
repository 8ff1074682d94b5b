//! The skeleton every bounded context fills in: the one list of contexts ([`Context`]), the
//! trait a context implements ([`BoundedContext`]) and its typed table of consumed events
//! ([`Subscriptions`]), from which both the consumer's subject filter and the dispatch of
//! each event come. The platform wraps every handler in apply-once; a context never
//! records what it applied itself.

use std::fmt;

use axum::Router;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::Platform;
use super::envelope::{DomainEvent, Envelope};
use super::error::ApiResult;
use super::storage::{Store, Tx, TxResult};

/// Every bounded context this build has, in start order. The CLI's `--context` values,
/// the gateway's routing table, the architecture test and the operator's list (checked
/// by a test) all come from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Auth,
    Users,
    Groups,
    Posts,
    Feed,
    Messages,
    Media,
    Search,
    Notifications,
    Moderation,
    Analytics,
}

impl Context {
    pub const ALL: [Context; 11] = [
        Context::Auth,
        Context::Users,
        Context::Groups,
        Context::Posts,
        Context::Feed,
        Context::Messages,
        Context::Media,
        Context::Search,
        Context::Notifications,
        Context::Moderation,
        Context::Analytics,
    ];

    /// The name: its data directory, its subjects' `<context>`, its consumer's name.
    pub const fn name(self) -> &'static str {
        match self {
            Context::Auth => "auth",
            Context::Users => "users",
            Context::Groups => "groups",
            Context::Posts => "posts",
            Context::Feed => "feed",
            Context::Messages => "messages",
            Context::Media => "media",
            Context::Search => "search",
            Context::Notifications => "notifications",
            Context::Moderation => "moderation",
            Context::Analytics => "analytics",
        }
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|c| c.name()).collect()
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Context {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown context {s:?}; known: {}", Self::names().join(", ")))
    }
}

/// What a bounded context is to the platform. Implementing it is all a new context needs:
/// `Platform::start` opens its store, starts its outbox relay and its consumer, and mounts
/// its routes; the gateway routes its `paths` to it; `rebuild` replays its subscriptions
/// into fresh `projections`.
pub trait BoundedContext: Send + Sync {
    /// Its name (for the built-in contexts, `Context::name`).
    fn name(&self) -> &'static str;

    /// What it serves under `/api/v1/`: the first path segment, or a pattern of segments
    /// where `*` matches any one (`users/*/posts`), each serving every path it starts; or
    /// one method on one whole path (`DELETE users/me`). The longest matching pattern
    /// wins, then one naming the method.
    fn paths(&self) -> &'static [&'static str];

    /// How it builds its part of a person's export (GDPR): by default every record of its
    /// store that names the person ([`super::export::records_naming`]).
    fn export(&self) -> super::export::Exporter {
        super::export::records_naming
    }

    /// The OpenAPI part of its routes.
    fn openapi(&self) -> utoipa::openapi::OpenApi;

    /// The events it consumes and how each is applied.
    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default()
    }

    /// Key prefixes of its data that are projections of other contexts' events: what
    /// `rebuild` drops and rebuilds from the stream. Everything else is its own truth.
    /// Handlers of [`BoundedContext::subscriptions`] write only under these prefixes.
    fn projections(&self) -> &'static [&'static str] {
        &[]
    }

    /// Key prefixes its hot read paths read, held in memory
    /// ([`super::storage::Resident`]): projections or its own records, looked up one key
    /// at a time or scanned as ranges. Read through [`Store::get`], [`Store::contains`],
    /// [`Store::shared`] and the scans as any other key.
    fn resident(&self) -> super::storage::Residence {
        super::storage::Residence::NONE
    }

    /// Its routes, over its opened store.
    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router>;
}

/// One consumed event, decoded, with the envelope's facts a handler may need.
pub struct Event<'a, E> {
    pub id: &'a str,
    pub actor: &'a str,
    pub aggregate_id: &'a str,
    pub occurred_at: OffsetDateTime,
    pub data: E,
}

impl<'a, E: DomainEvent + DeserializeOwned> Event<'a, E> {
    fn decode(envelope: &'a Envelope) -> Option<Self> {
        Some(Event {
            id: &envelope.id,
            actor: &envelope.actor,
            aggregate_id: &envelope.aggregate_id,
            occurred_at: envelope.occurred_at,
            data: envelope.decode_logged::<E>()?,
        })
    }
}

/// What a handler did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// Seen before: nothing changed.
    Duplicate,
    /// A type or version this context does not handle: acknowledged and logged.
    Ignored,
}

impl Applied {
    /// `Applied` when the transaction applied the event, `Duplicate` when it had been before.
    pub fn once(applied: bool) -> Self {
        if applied {
            Applied::Applied
        } else {
            Applied::Duplicate
        }
    }
}

type Dispatch = Box<dyn Fn(&Store, &Envelope, u64) -> ApiResult<Applied> + Send + Sync>;

struct Subscription {
    context: &'static str,
    kind: &'static str,
    apply: Dispatch,
}

/// A context's typed table of consumed events: each entry names its event type (so the
/// subject filter is derived, never written) and its handler. Handlers run inside the
/// transaction that records the event as applied.
#[derive(Default)]
pub struct Subscriptions {
    entries: Vec<Subscription>,
}

impl Subscriptions {
    /// Applies `E` with `apply`, inside the apply-once transaction.
    pub fn on<E>(self, apply: fn(&Tx, &Event<E>) -> TxResult<()>) -> Self
    where
        E: DomainEvent + DeserializeOwned + 'static,
    {
        self.entry::<E>(Box::new(move |store, envelope, seq| {
            let Some(event) = Event::<E>::decode(envelope) else {
                return Ok(Applied::Ignored);
            };
            store
                .apply_at(seq, |tx| apply(tx, &event))
                .map(Applied::once)
        }))
    }

    /// Applies `E` with `apply`, after `read` gathered what the transaction needs (sled
    /// transactions cannot scan a range): `read` runs outside, `apply` inside.
    pub fn on_read<E, R>(
        self,
        read: fn(&Store, &Event<E>) -> ApiResult<R>,
        apply: fn(&Tx, &Event<E>, &R) -> TxResult<()>,
    ) -> Self
    where
        E: DomainEvent + DeserializeOwned + 'static,
        R: 'static,
    {
        self.entry::<E>(Box::new(move |store, envelope, seq| {
            let Some(event) = Event::<E>::decode(envelope) else {
                return Ok(Applied::Ignored);
            };
            let read = read(store, &event)?;
            store
                .apply_at(seq, |tx| apply(tx, &event, &read))
                .map(Applied::once)
        }))
    }

    /// Erases the person an `E` names from this context's store, by `policy` (see
    /// [`super::erasure`]).
    pub fn on_erasure<E: super::erasure::ErasesPerson>(
        self,
        policy: super::erasure::Policy,
    ) -> Self {
        self.entry::<E>(Box::new(move |store, envelope, seq| {
            let Some(event) = Event::<E>::decode(envelope) else {
                return Ok(Applied::Ignored);
            };
            let found = erased_records(store, &event)?;
            store
                .apply_at(seq, |tx| {
                    super::erasure::apply(tx, event.data.person(), &found, policy)
                })
                .map(Applied::once)
        }))
    }

    /// One handler per event type: a second `on` for the same type replaces the first.
    fn entry<E: DomainEvent>(mut self, apply: Dispatch) -> Self {
        self.entries
            .retain(|s| !(s.context == E::CONTEXT && s.kind == E::TYPE));
        self.entries.push(Subscription {
            context: E::CONTEXT,
            kind: E::TYPE,
            apply,
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The consumer's subject filter: one subject per subscribed event type.
    pub fn subjects(&self, prefix: &str) -> Vec<String> {
        let mut subjects: Vec<String> = self
            .entries
            .iter()
            .map(|s| format!("{prefix}.events.{}.{}", s.context, s.kind))
            .collect();
        subjects.sort();
        subjects.dedup();
        subjects
    }

    /// Applies the event at stream sequence `seq` once, by the handler of its type. Events
    /// nobody subscribed to are `Ignored` (acknowledged, never a crash loop).
    pub fn apply(&self, store: &Store, envelope: &Envelope, seq: u64) -> ApiResult<Applied> {
        match self
            .entries
            .iter()
            .find(|s| s.context == envelope.context && s.kind == envelope.kind)
        {
            Some(s) => (s.apply)(store, envelope, seq),
            None => {
                tracing::debug!(kind = %envelope.kind, context = %envelope.context, "event not handled");
                Ok(Applied::Ignored)
            }
        }
    }
}

/// What names the person an erasing event names (read outside the transaction: a scan);
/// for contexts that do more than [`Subscriptions::on_erasure`] with it (`on_read`).
pub fn erased_records<E: super::erasure::ErasesPerson>(
    store: &Store,
    e: &Event<E>,
) -> ApiResult<Vec<super::erasure::Named>> {
    super::erasure::records_naming(store, e.data.person())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_say_what_is_known() {
        for c in Context::ALL {
            assert_eq!(c.name().parse::<Context>(), Ok(c));
        }
        let err = "nonsense".parse::<Context>().unwrap_err();
        assert!(err.contains("auth, users"), "{err}");
    }
}
