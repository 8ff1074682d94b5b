//! The writer's change relay: publishes the change log in LSN order, each part appended
//! only where the stream is expected to end, and clears what the stream holds whole.
//!
//! The expected last sequence is the fence: a replica that lost the writing to another
//! (or never caught up) finds the stream longer than it believes, and every append it
//! tries is refused by JetStream itself, so two writers never both extend the log.

use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use tokio::sync::watch;

use super::{ChangeStream, Head, REPLICA_HEADER};
use crate::platform::bus::Bus;
use crate::platform::changes::ChangeSet;
use crate::platform::storage::{Store, seq_key};

/// The most change sets one message carries.
pub const SETS_PER_MESSAGE: usize = 256;

/// How often the relay asks whether a checkpoint is due.
const CHECKPOINT_CHECK_EVERY: Duration = Duration::from_secs(60);

/// The fewest seconds between two checkpoints logged because followers asked for a copy
/// (several asking at once get one).
const COPY_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// Followers' requests for a checkpoint to copy ([`ChangeStream::copy_requests`]).
#[derive(Default)]
struct CopyRequests {
    subscriber: Option<async_nats::Subscriber>,
    wanted: bool,
    last: Option<tokio::time::Instant>,
}

impl CopyRequests {
    /// Subscribes, once NATS lets it.
    async fn listen(&mut self, bus: &Bus, context: &str) {
        if self.subscriber.is_none() {
            let subject = ChangeStream::of(bus, context).copy_requests;
            self.subscriber = bus.client.subscribe(subject).await.ok();
        }
    }

    /// A request came (or, without a subscription, never).
    async fn asked(&mut self) {
        use futures::StreamExt as _;
        let Some(subscriber) = self.subscriber.as_mut() else {
            return std::future::pending().await;
        };
        match subscriber.next().await {
            Some(_) => self.wanted = true,
            // The subscription ended (the connection was replaced): subscribe again.
            None => self.subscriber = None,
        }
    }

    /// Whether a checkpoint is owed to a follower now.
    fn due(&self) -> bool {
        self.wanted && self.last.is_none_or(|t| t.elapsed() >= COPY_AT_MOST_EVERY)
    }

    fn answered(&mut self) {
        if self.wanted {
            (self.wanted, self.last) = (false, Some(tokio::time::Instant::now()));
        }
    }
}

/// How many change stream messages make a checkpoint due.
pub const CHECKPOINT_EVERY: u64 = 10_000;

/// How old the change stream's first message may get before a checkpoint is due: the
/// bound on how long something erased stays in the stream.
pub const CHECKPOINT_AGE: time::Duration = time::Duration::days(1);

/// Why this store may not append to its change stream.
#[derive(Debug, thiserror::Error)]
pub enum Fenced {
    /// Another replica appended after this one's last change: it must follow the stream
    /// before it may write.
    #[error(
        "the change stream is at LSN {stream}, past this store's {store}: another replica wrote"
    )]
    Behind { stream: u64, store: u64 },
    /// As `Behind`, and this store holds changes of its own the stream does not: they were
    /// never acknowledged, and the store must be copied afresh from the stream.
    #[error(
        "this store logged LSN {first_unpublished} and later, which another replica wrote differently: it must be re-copied"
    )]
    Diverged { first_unpublished: u64 },
    /// The stream lacks changes this store made (a stream made anew, or cut by its age
    /// limit): followers could not copy this store from it.
    #[error("the change stream ends at LSN {stream} but this store's log continues from {store}")]
    Gap { stream: u64, store: u64 },
}

/// Why publishing stopped.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Fenced(#[from] Fenced),
    /// NATS or the store failed: worth trying again.
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
}

/// Appends one store's change log to its change stream.
pub struct Publisher {
    store: Store,
    bus: Bus,
    stream: ChangeStream,
    replica: String,
    /// The stream sequence the next append must find last.
    expected: u64,
    /// The largest part in bytes.
    max_part: usize,
    /// The stream sequence of the first part of the checkpoint being published.
    checkpoint_from: Option<u64>,
}

impl Publisher {
    /// Checks that the change stream ends where this store's unpublished log begins (or
    /// partway through its first change set, which this replica appended before it
    /// stopped), clears what the stream already holds whole, and appends from there.
    pub async fn start(store: Store, bus: Bus, context: &str) -> Result<Self, PublishError> {
        let stream = ChangeStream::of(&bus, context);
        let head = stream.head(&bus).await?;
        let replica = store.replica_id().map_err(anyhow::Error::from)?;
        let first_unpublished = first_logged(&store)?;
        let first_is_base = first_logged_is_base(&store)?;
        let held_whole = position(
            &head,
            &replica,
            first_unpublished,
            first_is_base,
            store_lsn(&store)?,
        )?;
        clear_up_to(&store, held_whole)?;
        store.stream_lsn.send_replace(held_whole);
        // A message of at most the server's limit, less room for the headers.
        let max_payload = bus.client.server_info().max_payload.max(64 << 10);
        Ok(Publisher {
            store,
            bus,
            stream,
            replica,
            expected: head.sequence,
            max_part: max_payload - (4 << 10),
            checkpoint_from: None,
        })
    }

    /// Publishes everything logged so far, pipelined, and clears each change set once
    /// every part of it is stored. Small change sets share messages (up to a message's
    /// size, or [`SETS_PER_MESSAGE`]); a big one goes in parts, a message each. Returns how
    /// many change sets went out.
    pub async fn publish_pending(&mut self) -> Result<usize, PublishError> {
        let mut acks = Vec::new();
        for message in self.messages()? {
            let Some(last) = message.last() else {
                continue;
            };
            let (lsn, whole, base) = (last.lsn, last.last, last.base);
            if base && last.part == 0 {
                self.checkpoint_from = Some(self.expected + 1);
            }
            let sets = message.iter().filter(|s| s.last).count();
            // No message id: the expected sequence already refuses a second append of the
            // same message (and JetStream's dedup would swallow a part that a restarted
            // writer appends again after a partial change set).
            let publish = PublishMessage::build()
                .payload(ChangeSet::encode_batch(&message).into())
                .expected_last_sequence(self.expected)
                .header(REPLICA_HEADER, self.replica.as_str());
            self.expected += 1;
            let ack = self
                .bus
                .js
                .send_publish(self.stream.subject.clone(), publish)
                .await
                .map_err(anyhow::Error::from)?;
            acks.push((lsn, sets, base && whole, whole, ack));
        }
        let mut sets = 0;
        for (lsn, in_message, checkpoint, last, ack) in acks {
            match ack.await {
                Ok(_) if last => {
                    clear_up_to(&self.store, lsn)?;
                    self.store.stream_lsn.send_replace(lsn);
                    sets += in_message;
                    if checkpoint {
                        self.drop_before_checkpoint().await?;
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    // Someone else appended: what the stream holds decides what we are.
                    let head = self.stream.head(&self.bus).await?;
                    let local = store_lsn(&self.store)?;
                    let base = first_logged_is_base(&self.store)?;
                    position(
                        &head,
                        &self.replica,
                        first_logged(&self.store)?,
                        base,
                        local,
                    )?;
                    return Err(anyhow::anyhow!("append refused: {e}").into());
                }
                Err(e) => return Err(anyhow::Error::from(e).into()),
            }
        }
        Ok(sets)
    }
}

impl Publisher {
    /// The next messages to append: the logged change sets, small ones together.
    fn messages(&self) -> anyhow::Result<Vec<Vec<ChangeSet>>> {
        let mut messages = Vec::new();
        let mut batch: Vec<ChangeSet> = Vec::new();
        let mut size = 0;
        for item in self.store.changes.iter().take(4 * SETS_PER_MESSAGE) {
            let set = ChangeSet::decode(&item?.1)?;
            let cost = set.size_hint();
            let full = size + cost > self.max_part || batch.len() == SETS_PER_MESSAGE;
            if (set.base || cost > self.max_part || full) && !batch.is_empty() {
                messages.push(std::mem::take(&mut batch));
                size = 0;
            }
            if set.base || cost > self.max_part {
                messages.extend(set.into_parts(self.max_part).into_iter().map(|p| vec![p]));
                continue;
            }
            size += cost;
            batch.push(set);
        }
        if !batch.is_empty() {
            messages.push(batch);
        }
        Ok(messages)
    }

    /// Whether a checkpoint is due: the stream holds more than [`CHECKPOINT_EVERY`]
    /// messages, or its oldest is older than [`CHECKPOINT_AGE`].
    async fn checkpoint_due(&self) -> anyhow::Result<bool> {
        let mut stream = self.bus.js.get_stream(&self.stream.name).await?;
        let state = &stream.info().await?.state;
        let age = time::OffsetDateTime::now_utc() - state.first_timestamp;
        Ok(state.messages > CHECKPOINT_EVERY || (state.messages > 1 && age > CHECKPOINT_AGE))
    }

    /// Logs a checkpoint now (off the async workers: it reads the whole store); the relay
    /// publishes it next and then drops the stream before it.
    pub async fn checkpoint(&self) -> anyhow::Result<u64> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || store.log_checkpoint()).await??)
    }

    /// Drops the stream's messages before the checkpoint just published.
    async fn drop_before_checkpoint(&mut self) -> anyhow::Result<()> {
        if let Some(first) = self.checkpoint_from.take() {
            let stream = self.bus.js.get_stream(&self.stream.name).await?;
            let purged = stream.purge().sequence(first).await?;
            tracing::info!(stream = %self.stream.name, purged = purged.purged, "change stream compacted at a checkpoint");
        }
        Ok(())
    }
}

/// Where this store stands against the stream's head: the LSN the stream holds whole that
/// this store's log continues from, or why it may not append.
fn position(
    head: &Head,
    replica: &str,
    first_unpublished: Option<u64>,
    first_is_base: bool,
    store: u64,
) -> Result<u64, Fenced> {
    let continues_from = first_unpublished.map_or(store, |u| u - 1);
    let Some((lsn, whole)) = head.last else {
        return match (continues_from, first_is_base) {
            (0, _) => Ok(0),
            // A checkpoint holds the whole store: an empty stream may begin with it.
            (from, true) => Ok(from),
            _ => Err(Fenced::Gap { stream: 0, store }),
        };
    };
    let ours = head.replica.as_deref() == Some(replica);
    match first_unpublished {
        // The stream ends in (or at the end of) what this replica still holds as
        // unpublished: it appended that much before it stopped.
        Some(u) if ours && lsn >= u && lsn <= store => Ok(if whole { lsn } else { lsn - 1 }),
        Some(u) if lsn >= u => Err(Fenced::Diverged {
            first_unpublished: u,
        }),
        _ if lsn == continues_from && whole => Ok(lsn),
        _ if lsn >= continues_from => Err(Fenced::Behind { stream: lsn, store }),
        _ => Err(Fenced::Gap { stream: lsn, store }),
    }
}

fn store_lsn(store: &Store) -> anyhow::Result<u64> {
    Ok(store.lsn()?)
}

/// The LSN of the oldest change set still to publish.
pub(super) fn first_logged(store: &Store) -> anyhow::Result<Option<u64>> {
    Ok(store
        .changes
        .first()?
        .and_then(|(k, _)| k.as_ref().try_into().ok().map(u64::from_be_bytes)))
}

/// Whether the oldest change set still to publish is a checkpoint.
fn first_logged_is_base(store: &Store) -> anyhow::Result<bool> {
    match store.changes.first()? {
        Some((_, set)) => Ok(ChangeSet::decode(&set)?.base),
        None => Ok(false),
    }
}

/// Forgets the change sets up to `lsn`: the stream holds them.
pub(super) fn clear_up_to(store: &Store, lsn: u64) -> anyhow::Result<()> {
    let mut batch = sled::Batch::default();
    for key in store.changes.range(..=seq_key(lsn)).keys() {
        batch.remove(key?);
    }
    store.changes.apply_batch(batch)?;
    Ok(())
}

/// When to ask again whether a checkpoint is due: [`CHECKPOINT_CHECK_EVERY`], give or
/// take half of it at random, so the contexts of a process (whose relays start together
/// and whose streams fill together under one load) do not checkpoint in the same second.
fn next_checkpoint_check() -> Duration {
    CHECKPOINT_CHECK_EVERY.mul_f64(0.5 + rand::random::<f64>())
}

/// Publishes the change log of `store` until `shutdown` flips or the store is fenced
/// (returned: the replica must follow, or be re-copied, before it writes again).
pub async fn run(
    store: Store,
    bus: Bus,
    context: &'static str,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Fenced> {
    let mut attempt = 0u32;
    let mut publisher = None;
    // Whether a checkpoint is due is asked of the server at most once a minute, not at
    // every idle wake-up.
    let mut next_check = tokio::time::Instant::now();
    let mut copies = CopyRequests::default();
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let result = match publisher.as_mut() {
            Some(p) => Publisher::publish_pending(p).await,
            None => Publisher::start(store.clone(), bus.clone(), context)
                .await
                .map(|p| {
                    publisher = Some(p);
                    1
                }),
        };
        match result {
            Ok(0) => {
                attempt = 0;
                copies.listen(&bus, context).await;
                let wanted = copies.due();
                let due = publisher.is_some() && tokio::time::Instant::now() >= next_check;
                if due {
                    next_check = tokio::time::Instant::now() + next_checkpoint_check();
                }
                if let Some(p) = publisher.as_ref()
                    && (wanted || (due && p.checkpoint_due().await.unwrap_or(false)))
                {
                    match p.checkpoint().await {
                        Ok(lsn) => {
                            tracing::info!(context, lsn, for_a_copy = wanted, "checkpoint logged");
                            copies.answered();
                        }
                        Err(e) => tracing::warn!(context, error = %e, "checkpoint not logged"),
                    }
                    continue;
                }
                tokio::select! {
                    _ = store.changes_written.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = copies.asked() => {}
                    _ = shutdown.changed() => {}
                }
            }
            Ok(_) => attempt = 0,
            Err(PublishError::Fenced(fenced)) => {
                tracing::error!(context, error = %fenced, "change relay fenced, this replica stops writing");
                return Err(fenced);
            }
            Err(PublishError::Transient(e)) => {
                tracing::warn!(context, error = %e, "change relay cannot publish, retrying");
                publisher = None;
                attempt += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis((100u64 << attempt.min(5)).min(3_000))) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(lsn: u64, whole: bool, replica: &str) -> Head {
        Head {
            sequence: 40,
            last: Some((lsn, whole)),
            replica: Some(replica.into()),
        }
    }

    const EMPTY: Head = Head {
        sequence: 0,
        last: None,
        replica: None,
    };

    #[test]
    fn a_writer_appends_only_where_its_log_continues_the_stream() {
        // An empty stream and an empty store; a store whose log starts at 1.
        assert_eq!(position(&EMPTY, "me", None, false, 0).unwrap(), 0);
        assert_eq!(position(&EMPTY, "me", Some(1), false, 3).unwrap(), 0);
        // Everything published, or the rest still to go.
        assert_eq!(
            position(&head(5, true, "x"), "me", None, false, 5).unwrap(),
            5
        );
        assert_eq!(
            position(&head(5, true, "x"), "me", Some(6), false, 8).unwrap(),
            5
        );
        // It stopped after appending 6 whole, or part of 6: it resumes after 6, or at 6.
        assert_eq!(
            position(&head(6, true, "me"), "me", Some(6), false, 8).unwrap(),
            6
        );
        assert_eq!(
            position(&head(6, false, "me"), "me", Some(6), false, 8).unwrap(),
            5
        );
    }

    #[test]
    fn a_replica_another_wrote_past_is_fenced() {
        assert!(matches!(
            position(&head(7, true, "x"), "me", None, false, 5),
            Err(Fenced::Behind {
                stream: 7,
                store: 5
            })
        ));
        assert!(matches!(
            position(&head(6, true, "x"), "me", Some(6), false, 8),
            Err(Fenced::Diverged {
                first_unpublished: 6
            })
        ));
        // The stream was made anew, or lost its start: followers could not copy us.
        assert!(matches!(
            position(&EMPTY, "me", None, false, 5),
            Err(Fenced::Gap { .. })
        ));
        assert!(matches!(
            position(&head(3, true, "x"), "me", Some(6), false, 8),
            Err(Fenced::Gap { .. })
        ));
        // Unless its log begins with a checkpoint (a store restored onto a new bus).
        assert_eq!(position(&EMPTY, "me", Some(6), true, 6).unwrap(), 5);
    }
}
