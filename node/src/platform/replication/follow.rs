//! A follower: applies its context's change stream to its own store, from where it
//! stopped, each change set whole and in LSN order.
//!
//! A follower that finds a gap (the stream no longer holds sets it lacks: it was away
//! while the stream was cut past its place) cannot go on set by set. It says so (not
//! ready, [`Store::needs_copy`]; it never takes the lease meanwhile), asks the writer for
//! a checkpoint on [`ChangeStream::copy_requests`], and skips what it cannot apply until
//! that checkpoint comes: a checkpoint replaces the store whole, and the follower is whole
//! again, with nobody emptying its volume.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt;
use tokio::sync::watch;

use super::{ChangeStream, REPLICA_HEADER, publish};
use crate::platform::bus::Bus;
use crate::platform::changes::ChangeSet;
use crate::platform::storage::{Mirrored, Store};
use crate::platform::telemetry::{ContextLabel, Metrics};
use prometheus_client::metrics::gauge::Gauge;

/// How often a follower that needs a copy asks the writer again for a checkpoint.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(5);

/// Follows the change stream until `shutdown` flips; reconnects after any failure of NATS.
pub async fn run(
    store: Store,
    bus: Bus,
    context: &'static str,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let behind = metrics
        .replica_behind
        .get_or_create(&ContextLabel::new(context))
        .clone();
    let stream = ChangeStream::of(&bus, context);
    let mut attempt = 0u32;
    loop {
        tokio::select! {
            result = follow(&store, &bus, &stream, &behind) => match result {
                Err(Failure::Diverged(lsn)) => {
                    tracing::error!(context, lsn, "this replica's unpublished writes were replaced by another writer's: copying the store afresh from the stream");
                    if let Err(e) = store.reset() {
                        tracing::error!(context, error = %e, "cannot empty the store");
                        store.set_needs_copy(true);
                    }
                }
                Err(Failure::Transient(e)) => {
                    tracing::warn!(context, error = %e, "follower lost the change stream, retrying");
                }
                Ok(()) => {}
            },
            _ = shutdown.changed() => return,
        }
        attempt += 1;
        let pause = Duration::from_millis((100u64 << attempt.min(5)).min(3_000));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return,
        }
    }
}

enum Failure {
    /// This store holds writes of its own from this LSN that another writer replaced.
    Diverged(u64),
    Transient(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Transient(e.into())
    }
}

/// Applies change sets from the one after the last applied, as they arrive.
async fn follow(
    store: &Store,
    bus: &Bus,
    stream: &ChangeStream,
    behind: &Gauge,
) -> Result<(), Failure> {
    store.stream_lsn.send_replace(store.lsn()?);
    let consumer = stream
        .ensure(bus)
        .await?
        .create_consumer(pull::OrderedConfig {
            filter_subject: stream.subject.clone(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: store.changes_seq()? + 1,
            },
            // Pulls expire after 4 s with a heartbeat every 2 s: a consumer lost with the
            // NATS server that held it is noticed and made again within seconds (by
            // default, after 30).
            max_expires: Duration::from_secs(4),
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mine = store.replica_id()?;
    let mut parts: Vec<ChangeSet> = Vec::new();
    let mut asked: Option<Instant> = None;
    while let Some(message) = messages.next().await {
        let message = message?;
        let info = message.info().map_err(anyhow::Error::msg)?;
        let sequence = info.stream_sequence;
        behind.set(i64::try_from(info.pending).unwrap_or(i64::MAX));
        let sets = ChangeSet::decode_batch(&message.payload)?;
        let author = message.headers.as_ref().and_then(|h| h.get(REPLICA_HEADER));
        let own = author.is_some_and(|a| a.as_str() == mine);
        match apply_message(store, sets, sequence, own, &mut parts)? {
            Some(Mirrored::Gap { holds, got }) => {
                parts.clear();
                if !store.needs_copy() {
                    tracing::error!(
                        holds,
                        got,
                        "this replica missed part of its change stream: not ready, asking the writer for a checkpoint to copy"
                    );
                    store.set_needs_copy(true);
                }
                if asked.is_none_or(|at| at.elapsed() >= ASK_AGAIN_AFTER) {
                    bus.client
                        .publish(stream.copy_requests.clone(), store.replica_id()?.into())
                        .await?;
                    asked = Some(Instant::now());
                }
            }
            Some(Mirrored::Applied) if store.needs_copy() => {
                // Past a gap, only a checkpoint applies: the store is whole again.
                tracing::info!(
                    lsn = store.lsn()?,
                    "copied afresh from a checkpoint: ready again"
                );
                store.set_needs_copy(false);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Applies the change sets of the message at stream `sequence` (`own`: this replica
/// appended it), each once whole; `parts` holds a big change set's parts until its last.
/// Returns what became of the last whole set (a gap leaves the store as it was).
fn apply_message(
    store: &Store,
    sets: Vec<ChangeSet>,
    sequence: u64,
    own: bool,
    parts: &mut Vec<ChangeSet>,
) -> Result<Option<Mirrored>, Failure> {
    let count = sets.len();
    let mut outcome = None;
    for (i, part) in sets.into_iter().enumerate() {
        if part.part == 0 {
            // A writer that stopped partway through a change set left parts that a writer
            // (it, or another) appended again from the start.
            parts.clear();
        }
        let (last, lsn) = (part.last, part.lsn);
        parts.push(part);
        if !last {
            continue;
        }
        if let Some(first) = publish::first_logged(store)?
            && lsn >= first
        {
            // This replica wrote from `first` on as the writer, and had not seen all of
            // it published: its own appends settle it, another writer's mean it diverged.
            if !own {
                return Err(Failure::Diverged(first));
            }
            publish::clear_up_to(store, lsn)?;
        }
        // Until the message's last change set is applied, a restart reads it again.
        let resume_after = if i + 1 == count {
            sequence
        } else {
            sequence - 1
        };
        // Past a gap, the rest of the message still goes through: a checkpoint in it
        // applies whatever came before.
        outcome = Some(store.apply_mirrored(parts, resume_after)?);
        parts.clear();
    }
    Ok(outcome)
}
