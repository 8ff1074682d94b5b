//! The event bus: one JetStream stream per platform, the outbox relay that publishes to it
//! and the durable pull consumers that apply its events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::watch;

use super::context::{Applied, Subscriptions};
use super::envelope::Envelope;
use super::keyring::Keyring;
use super::storage::{Store, from_json};
use super::telemetry::{ContextLabel, Metrics};

/// How the platform's stream is created.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Subject prefix, by default the platform's name.
    pub prefix: String,
    /// Replicas of the stream (the NATS cluster's size).
    pub replicas: usize,
    /// How long events are kept; zero keeps them forever.
    pub max_age: Duration,
}

impl StreamSettings {
    /// `AGORA_<PREFIX>`, upper-cased, with anything but letters and digits as `_`.
    pub fn stream_name(&self) -> String {
        let name: String = self
            .prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("AGORA_{name}")
    }

    fn config(&self) -> stream::Config {
        stream::Config {
            name: self.stream_name(),
            subjects: vec![format!("{}.events.>", self.prefix)],
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            max_age: self.max_age,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        }
    }
}

/// A connection to NATS and the platform's stream.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub settings: StreamSettings,
    /// The keys that seal personal fields on the stream.
    pub keys: Arc<Keyring>,
}

impl Bus {
    /// Connects in the background: a NATS that is down at start is retried, never fatal.
    /// `ca`: the CA a `tls://` server is checked against, instead of the system's roots.
    pub async fn connect(
        url: &str,
        creds: Option<&std::path::Path>,
        ca: Option<&std::path::Path>,
        settings: StreamSettings,
    ) -> anyhow::Result<Bus> {
        let mut options = async_nats::ConnectOptions::new()
            .name("agora-node")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(3));
        if let Some(ca) = ca {
            options = options.add_root_certificates(ca.to_path_buf());
        }
        if let Some(path) = creds {
            options = options.credentials_file(path).await?;
        }
        let client = options.connect(url).await?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(Duration::from_secs(5));
        let keys = Arc::new(Keyring::new(
            js.clone(),
            &settings.prefix,
            settings.replicas,
            None,
        ));
        Ok(Bus {
            client,
            js,
            settings,
            keys,
        })
    }

    /// The same bus, its keyring wrapping people's keys with the platform's `key` (and, for
    /// a restore, opening a backup's keys wrapped by another platform's `source`).
    pub fn with_platform_key(
        mut self,
        key: Option<super::keyring::PlatformKey>,
        source: Option<super::keyring::PlatformKey>,
    ) -> Bus {
        let keyring = Keyring::new(
            self.js.clone(),
            &self.settings.prefix,
            self.settings.replicas,
            key,
        );
        self.keys = Arc::new(keyring.restoring_from(source));
        self
    }

    /// Creates the stream, or updates it to the configured settings. Idempotent.
    pub async fn ensure_stream(&self) -> anyhow::Result<stream::Stream> {
        self.js
            .create_or_update_stream(self.settings.config())
            .await?;
        Ok(self.js.get_stream(self.settings.stream_name()).await?)
    }

    /// The creation time of the platform's event stream (RFC 3339), which tells one
    /// stream from another of the same name made later (a bus made anew); `None` when
    /// NATS does not answer within 2 s.
    pub async fn stream_created(&self) -> Option<String> {
        let lookup = async {
            let mut stream = self.js.get_stream(self.settings.stream_name()).await.ok()?;
            let created = stream.info().await.ok()?.created;
            created
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        };
        tokio::time::timeout(Duration::from_secs(2), lookup)
            .await
            .ok()
            .flatten()
    }

    pub fn subject(&self, context: &str, event_type: &str) -> String {
        format!("{}.events.{context}.{event_type}", self.settings.prefix)
    }
}

/// How long JetStream waits for an ack before redelivering, within a running consumer
/// (one that starts again takes up where the acknowledged events end, at once:
/// [`resume_in_order`]). Handlers take milliseconds.
pub const ACK_WAIT: Duration = Duration::from_secs(5);

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

/// Publishes the outbox of `store` in order, clearing each event only after JetStream
/// acknowledged it. Runs until `shutdown` flips.
pub async fn run_relay(
    store: Store,
    bus: Bus,
    context: &'static str,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let label = ContextLabel::new(context);
    let mut attempt = 0u32;
    let mut stream_ready = false;
    // sled counts a tree by walking it: while the outbox is deep (the last batch was full:
    // a bulk import, a relay back from an outage) counting before every batch cost more
    // than publishing it, so it is counted at most every few seconds then; otherwise the
    // outbox is small and counted before every batch.
    let (mut deep, mut measured) = (false, None::<Instant>);
    loop {
        if *shutdown.borrow() {
            return;
        }
        if !deep || measured.is_none_or(|at| at.elapsed() >= DEPTH_EVERY) {
            let depth = store.outbox.len() as i64;
            metrics.outbox_depth.get_or_create(&label).set(depth);
            measured = Some(Instant::now());
        }
        let result = if stream_ready {
            publish_batch(&store, &bus).await
        } else {
            bus.ensure_stream().await.map(|_| 0)
        };
        match result {
            Ok(0) if stream_ready => {
                attempt = 0;
                deep = false;
                tokio::select! {
                    _ = store.outbox_written.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Ok(n) => {
                stream_ready = true;
                attempt = 0;
                deep = n == RELAY_BATCH;
                metrics
                    .events_published
                    .get_or_create(&label)
                    .inc_by(n as u64);
            }
            Err(e) => {
                tracing::warn!(context, error = %e, "outbox relay cannot publish, retrying");
                attempt += 1;
                stream_ready = false;
                tokio::select! {
                    _ = tokio::time::sleep(backoff(attempt)) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// How often the relay counts its outbox for `agora_outbox_depth`.
const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// The most events the relay publishes before awaiting their acks.
const RELAY_BATCH: usize = 256;

/// Publishes up to [`RELAY_BATCH`] events pipelined, then awaits their acks in order.
async fn publish_batch(store: &Store, bus: &Bus) -> anyhow::Result<usize> {
    let mut batch = Vec::new();
    for item in store.outbox_records().take(RELAY_BATCH) {
        let (key, value) = item?;
        let envelope: Envelope = from_json(&value)?;
        batch.push((key, value, envelope));
    }
    let keys = sealing_keys(bus, &batch).await?;
    let mut pending = Vec::with_capacity(batch.len());
    for (key, value, mut envelope) in batch {
        let payload = match envelope.personal.as_ref().map(|p| p.subject.clone()) {
            Some(subject) => {
                envelope.seal(keys.get(&subject).and_then(Option::as_ref));
                serde_json::to_vec(&envelope)?.into()
            }
            None => value.to_vec().into(),
        };
        let message = jetstream::message::PublishMessage::build()
            .payload(payload)
            .message_id(&envelope.id);
        let ack = bus
            .js
            .send_publish(envelope.subject(&bus.settings.prefix), message)
            .await?;
        pending.push((key, ack));
    }
    let mut published = Vec::with_capacity(pending.len());
    for (key, ack) in pending {
        ack.await?;
        published.push(key);
    }
    store.clear_outbox(&published)?;
    Ok(published.len())
}

/// The keys that seal the personal fields of a batch's events, one per person, fetched
/// together: a deep outbox (a bulk import, a relay back from an outage) names thousands of
/// people whose keys are not cached, and one bucket round trip after another held the
/// relay to about a hundred events a second.
async fn sealing_keys(
    bus: &Bus,
    batch: &[(sled::IVec, sled::IVec, Envelope)],
) -> anyhow::Result<HashMap<String, Option<super::keyring::Key>>> {
    let people: HashSet<String> = batch
        .iter()
        .filter_map(|(_, _, e)| e.personal.as_ref().map(|p| p.subject.clone()))
        .collect();
    futures::stream::iter(people)
        .map(|person| async move {
            let key = bus.keys.for_sealing(&person).await?;
            Ok::<_, anyhow::Error>((person, key))
        })
        .buffer_unordered(32)
        .try_collect()
        .await
}

/// One durable pull consumer of a context.
pub struct ConsumerSpec {
    pub context: &'static str,
    /// What it consumes and how each event is applied.
    pub subscriptions: Arc<Subscriptions>,
}

/// Consumes forever: reconnects and recreates the consumer after any failure.
pub async fn run_consumer(
    spec: ConsumerSpec,
    store: Store,
    bus: Bus,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut attempt = 0u32;
    loop {
        tokio::select! {
            result = consume(&spec, &store, &bus, &metrics) => {
                if let Err(e) = result {
                    tracing::warn!(context = spec.context, error = %e, "consumer failed, restarting");
                }
            }
            _ = shutdown.changed() => return,
        }
        attempt += 1;
        tokio::select! {
            _ = tokio::time::sleep(backoff(attempt)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// How often the applied floor follows JetStream's ack floor (events applied in between).
const FLOOR_EVERY: u64 = 512;

/// Most events applied under one flush.
const BATCH: usize = 256;

async fn consume(
    spec: &ConsumerSpec,
    store: &Store,
    bus: &Bus,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    let stream = bus.ensure_stream().await?;
    let mut config = consumer::pull::Config {
        durable_name: Some(spec.context.to_string()),
        filter_subjects: spec.subscriptions.subjects(&bus.settings.prefix),
        ack_policy: consumer::AckPolicy::Explicit,
        // Events delivered to a process that died come back after this long.
        ack_wait: ACK_WAIT,
        max_ack_pending: 1_000,
        ..Default::default()
    };
    let restored = store.restored()?;
    config.deliver_policy = match &restored {
        Some(restored) => replay_restored(spec.context, store, bus, &stream, restored).await?,
        None => resume_in_order(spec.context, store, &stream).await?,
    };
    // Creates the durable consumer (anew, from where `deliver_policy` says).
    let consumer = stream.create_consumer(config).await?;
    if restored.is_some() {
        store.forget_restored()?;
    }
    // Acknowledged means applied (the ack follows the commit): everything at or below the
    // ack floor needs no dedup record.
    let label = ContextLabel::new(spec.context);
    let info = consumer.get_info().await?;
    store.raise_applied_floor(info.ack_floor.stream_sequence)?;
    let lag = |pending: u64| i64::try_from(pending).unwrap_or(i64::MAX);
    let pending = metrics.consumer_pending.get_or_create(&label).clone();
    pending.set(lag(info.num_pending));
    // What has arrived is applied as one batch under one flush, then acknowledged: one
    // event alone costs what it did (its own flush), a backlog costs a flush per batch
    // instead of one per event (a burst of composes is fanned out at the pace of the
    // applies, not of the disk's round trips).
    let mut batches = consumer.messages().await?.ready_chunks(BATCH);
    tracing::info!(context = spec.context, "consuming events");
    let mut since_floor = 0u64;
    while let Some(batch) = batches.next().await {
        let mut opened = Vec::with_capacity(batch.len());
        for message in batch {
            let message = message?;
            let info = message
                .info()
                .map_err(|e| anyhow::anyhow!("message info: {e}"))?;
            let (seq, delivered, behind) = (info.stream_sequence, info.delivered, info.pending);
            if delivered > 1 {
                metrics.redeliveries.get_or_create(&label).inc();
            }
            let envelope =
                open_message(&bus.keys, spec.context, &message.subject, &message.payload).await?;
            opened.push((message, envelope, seq, behind));
        }
        let mut applied = Vec::with_capacity(opened.len());
        {
            let _gate = store.apply_gate.lock().await;
            for (message, envelope, seq, behind) in opened {
                let outcome = apply_message(spec, store, envelope, seq)?;
                applied.push((message, outcome, behind));
            }
            if applied.iter().any(|(_, o, _)| *o == Applied::Applied) {
                store.durable().await?;
                // A handler may have emitted (users publishes the profiles it creates).
                store.outbox_written.notify_one();
            }
        }
        // With replicas, the ack also waits for the change stream to hold what was
        // applied (not under the gate: the relay that publishes it never takes it), and
        // so does the ack of a duplicate: its first apply, by this replica, may not be in
        // the stream yet (the wait that should have covered it timed out), and a writer
        // whose unpublished changes are replaced loses them.
        if !applied.is_empty() {
            store.replicated_so_far().await?;
        }
        for (message, outcome, behind) in applied {
            let _ = match outcome {
                Applied::Applied => metrics.events_applied.get_or_create(&label).inc(),
                Applied::Duplicate | Applied::Ignored => {
                    metrics.events_skipped.get_or_create(&label).inc()
                }
            };
            message
                .ack()
                .await
                .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
            pending.set(lag(behind));
            since_floor += 1;
        }
        if since_floor >= FLOOR_EVERY {
            since_floor = 0;
            store.raise_applied_floor(consumer.get_info().await?.ack_floor.stream_sequence)?;
        }
    }
    Ok(())
}

/// Where a consumer starts again: right after everything acknowledged, in stream order.
/// A durable consumer resumed as it was would deliver new events at once and the ones
/// its last holder (a process that died, or a consumer that failed) had taken and not
/// acknowledged only when their ack wait ran out: later events applied before earlier
/// ones (a reaction before its post, which analytics then cannot count; seen after a
/// writer's SIGKILL in `replicated_topology.rs`). So the durable consumer is made anew
/// from the applied floor, raised first to what it had acknowledged; what this store
/// applied above the floor is in its dedup set, and skipped.
async fn resume_in_order(
    context: &str,
    store: &Store,
    stream: &jetstream::stream::Stream,
) -> anyhow::Result<consumer::DeliverPolicy> {
    let existing = stream.get_consumer::<consumer::pull::Config>(context).await;
    let Ok(mut existing) = existing else {
        // None yet: the first start delivers the stream whole.
        return Ok(consumer::DeliverPolicy::All);
    };
    let acknowledged = existing.info().await?.ack_floor.stream_sequence;
    store.raise_applied_floor(acknowledged)?;
    stream.delete_consumer(context).await?;
    Ok(match store.applied_floor()? {
        0 => consumer::DeliverPolicy::All,
        floor => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: floor + 1,
        },
    })
}

/// Where the consumer of a store a backup was restored into starts: after the snapshot's
/// applied floor (events it had applied above it are in its dedup set), or at the
/// stream's start when the stream is not the one the floor counts in. The durable
/// consumer, whose place is past what the snapshot holds, is removed first.
async fn replay_restored(
    context: &str,
    store: &Store,
    bus: &Bus,
    stream: &jetstream::stream::Stream,
    restored: &crate::platform::storage::snapshot::Restored,
) -> anyhow::Result<consumer::DeliverPolicy> {
    let now = bus.stream_created().await;
    if restored.stream_created.is_some() && now.is_some() && restored.stream_created != now {
        tracing::warn!(
            context,
            "restored against a new event stream: replaying it whole"
        );
        store.forget_applied()?;
    }
    if let Err(e) = stream.delete_consumer(context).await {
        // None yet (a new bus): nothing to remove.
        tracing::debug!(context, error = %e, "no consumer removed");
    }
    let floor = store.applied_floor()?;
    tracing::info!(context, backup = %restored.backup, from = floor + 1, "replaying the stream after a restore");
    Ok(match floor {
        0 => consumer::DeliverPolicy::All,
        floor => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: floor + 1,
        },
    })
}

/// Decodes and applies one consumed message; an undecodable one is logged and skipped.
pub(crate) fn apply_message(
    spec: &ConsumerSpec,
    store: &Store,
    envelope: Option<Envelope>,
    seq: u64,
) -> anyhow::Result<Applied> {
    match envelope {
        Some(envelope) => spec
            .subscriptions
            .apply(store, &envelope, seq)
            .map_err(|e| anyhow::anyhow!("applying {}: {e}", envelope.kind)),
        None => Ok(Applied::Ignored),
    }
}

/// Decodes a consumed message and opens its sealed personal fields. `None` when it is not
/// to be applied: undecodable (logged), or about a person who was erased (their key is
/// gone: the event can only say what erasure removed).
pub(crate) async fn open_message(
    keys: &Keyring,
    context: &str,
    subject: &str,
    payload: &[u8],
) -> anyhow::Result<Option<Envelope>> {
    let mut envelope = match serde_json::from_slice::<Envelope>(payload) {
        Ok(envelope) => envelope,
        Err(e) => {
            tracing::warn!(context, %subject, error = %e, "undecodable event acknowledged");
            return Ok(None);
        }
    };
    let Some(person) = envelope
        .personal
        .as_ref()
        .filter(|p| p.sealed)
        .map(|p| p.subject.clone())
    else {
        return Ok(Some(envelope));
    };
    let key = keys.for_opening(&person).await?;
    if envelope.open(key.as_ref()) {
        Ok(Some(envelope))
    } else {
        tracing::debug!(context, %subject, "event about an erased person skipped");
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_name_is_a_valid_nats_name() {
        let s = StreamSettings {
            prefix: "demo-1.x".into(),
            replicas: 1,
            max_age: Duration::ZERO,
        };
        assert_eq!(s.stream_name(), "AGORA_DEMO_1_X");
        assert_eq!(s.config().subjects, vec!["demo-1.x.events.>".to_string()]);
    }
}
