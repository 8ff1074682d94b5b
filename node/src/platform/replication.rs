//! Replicas of a context: one writer logs every transaction ([`super::changes`]) and
//! publishes the log to the context's change stream; followers apply that stream to their
//! own store, in order, and so hold the writer's trees byte for byte.
//!
//! - [`publish`]: the writer's change relay, fenced by JetStream's expected last sequence
//!   (a writer that is not at the stream's head cannot append);
//! - [`follow`]: a follower applying the change stream from where it stopped;
//! - [`lease`]: which replica should write, on a NATS key-value bucket;
//! - [`replica`]: one replica's life between following and writing;
//! - [`while_writer`]: the background tasks that only the writer runs ([`by_role`]:
//!   those that differ by role);
//! - [`consistency`]: read-your-writes on any replica, by a token naming an LSN;
//! - [`status`]: `GET /ops/replicas`, each replicated context's role and place, for the
//!   operator.
//!
//! One stream per context (`AGORA_<PREFIX>_CHANGES_<CONTEXT>`, subject
//! `<prefix>.changes.<context>`): only the writer of that context appends to it, so the
//! sequence the next append must find is known in advance and appends can be pipelined.

pub mod consistency;
pub mod follow;
pub mod lease;
pub mod publish;
pub mod replica;
pub mod status;

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::stream;
use tokio::sync::watch;

use super::bus::Bus;
use super::changes::ChangeSet;
use super::storage::{Role, Store};

/// Runs the task `make` builds whenever this process writes `store`: from the start until
/// `shutdown` for a store without replicas; else from each time the replica becomes the
/// writer until it stops being one. The task's receiver flips when it must stop, and a
/// task still running a second later is aborted (the outbox relay, the consumers and the
/// contexts' background writers all follow the role this way).
pub fn while_writer<F, Fut>(store: Store, shutdown: watch::Receiver<bool>, make: F)
where
    F: Fn(watch::Receiver<bool>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let make = std::sync::Arc::new(make);
    by_role(store, shutdown, move |role, stop| {
        let make = make.clone();
        async move {
            if role == Role::Writer {
                make(stop).await;
            }
        }
    });
}

/// Runs the task `make` builds for each stretch of this replica's life in one role,
/// writer or follower (a store without replicas is a writer from the start until
/// `shutdown`): for background work that differs by role (search's indexer follows the
/// queue on the writer and the documents' changes on a follower). The task's receiver
/// flips when the role changes or the process stops, and a task still running a second
/// later is aborted.
pub fn by_role<F, Fut>(store: Store, mut shutdown: watch::Receiver<bool>, make: F)
where
    F: Fn(Role, watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut role = store.watch_role();
        loop {
            role.borrow_and_update();
            let now = store.role();
            if now == Role::Stopped || *shutdown.borrow() {
                return;
            }
            let (stop, stopped) = watch::channel(false);
            let mut task = tokio::spawn(make(now, stopped));
            let stopping = loop {
                tokio::select! {
                    changed = role.changed() => match changed {
                        Err(_) => break true,
                        // The same role said again (a lease renewed): the task goes on.
                        Ok(()) if store.role() == now => continue,
                        Ok(()) => break false,
                    },
                    _ = shutdown.wait_for(|stop| *stop) => break true,
                }
            };
            stop.send_replace(true);
            if tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
            if stopping {
                return;
            }
        }
    });
}

/// The change stream of one context.
#[derive(Debug, Clone)]
pub struct ChangeStream {
    pub name: String,
    pub subject: String,
    /// The core NATS subject on which a follower that missed part of the stream asks the
    /// writer for a checkpoint to copy (outside the stream: never stored).
    pub copy_requests: String,
    replicas: usize,
    max_age: Duration,
}

impl ChangeStream {
    pub fn of(bus: &Bus, context: &str) -> Self {
        ChangeStream {
            name: format!(
                "{}_CHANGES_{}",
                bus.settings.stream_name(),
                context.to_ascii_uppercase()
            ),
            subject: format!("{}.changes.{context}", bus.settings.prefix),
            copy_requests: format!("{}.copy.{context}", bus.settings.prefix),
            replicas: bus.settings.replicas,
            max_age: bus.settings.max_age,
        }
    }

    /// Creates the stream, or updates it to these settings. Idempotent.
    pub async fn ensure(&self, bus: &Bus) -> anyhow::Result<stream::Stream> {
        bus.js
            .create_or_update_stream(stream::Config {
                name: self.name.clone(),
                subjects: vec![self.subject.clone()],
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                max_age: self.max_age,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await?;
        Ok(bus.js.get_stream(&self.name).await?)
    }

    /// Where the stream ends: its last sequence and the LSN and completeness of the
    /// change set part stored there (`None` for an empty stream).
    pub async fn head(&self, bus: &Bus) -> anyhow::Result<Head> {
        let mut stream = self.ensure(bus).await?;
        let sequence = stream.info().await?.state.last_sequence;
        if sequence == 0 {
            return Ok(Head {
                sequence,
                last: None,
                replica: None,
            });
        }
        let message = stream.get_raw_message(sequence).await?;
        let sets = ChangeSet::decode_batch(&message.payload)?;
        let last = sets.last().map(|set| (set.lsn, set.last));
        Ok(Head {
            sequence,
            last,
            replica: message
                .headers
                .get(REPLICA_HEADER)
                .map(|v| v.as_str().to_string()),
        })
    }
}

/// The header naming the replica that appended a change set (its store's
/// [`super::storage::Store::replica_id`]).
pub const REPLICA_HEADER: &str = "Agora-Replica";

/// The end of a change stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The stream sequence of the last message (0: empty).
    pub sequence: u64,
    /// The LSN of the last message, and whether it completed its change set.
    pub last: Option<(u64, bool)>,
    /// Which replica appended it.
    pub replica: Option<String>,
}
