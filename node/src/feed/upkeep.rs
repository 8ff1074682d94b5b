//! The routine upkeep of readers' timelines, off the read path: when each reader last
//! read (`ls/`, which decides who a new post fans out to) and the trimming of their
//! timeline, once a minute per reader, gathered and written by one task in one
//! transaction per batch.
//!
//! A feed read does not write: a transaction on the read path waits for sled's
//! transaction lock, which every reader of the store shares (benchmarks.md),
//! and one read in five did it (a reader reading every ~11 s, a touch a minute). Only a
//! reader coming back after [`super::domain::ACTIVE_SECS`] is recorded at once, with the
//! rebuild of their timeline ([`super::storage::refresh`]): from then on, posts fan out to
//! them. A reader whose upkeep is late or lost (a full queue, a crash) is still active
//! for thirty days; the next read asks again.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::platform::storage::Store;

use super::storage;

/// How long requests for upkeep are gathered before one transaction records them.
const GATHER: Duration = Duration::from_millis(200);
/// Readers waiting at most; more are dropped (they ask again at their next read).
const QUEUE: usize = 10_000;

/// Where a read asks for its reader's upkeep.
#[derive(Clone)]
pub struct Upkeep {
    queue: mpsc::Sender<String>,
}

impl Upkeep {
    /// Starts the task that keeps readers' timelines for `store`.
    pub fn start(store: Store) -> Self {
        let (queue, readers) = mpsc::channel(QUEUE);
        tokio::spawn(keep(store, readers));
        Upkeep { queue }
    }

    /// Asks for `reader`'s upkeep (dropped when the queue is full).
    pub fn ask(&self, reader: &str) {
        let _ = self.queue.try_send(reader.to_string());
    }
}

async fn keep(store: Store, mut readers: mpsc::Receiver<String>) {
    while let Some(first) = readers.recv().await {
        tokio::time::sleep(GATHER).await;
        let mut batch = BTreeSet::from([first]);
        while let Ok(reader) = readers.try_recv() {
            batch.insert(reader);
        }
        let now = crate::platform::unix_now();
        if let Err(e) = storage::touch(&store, batch.iter().map(String::as_str), now) {
            // Not the writer any more, or the store is closing: the next reads ask again.
            tracing::debug!(error = %e, readers = batch.len(), "reads not recorded");
            continue;
        }
        for reader in &batch {
            if let Err(e) = storage::trim(&store, reader) {
                tracing::debug!(error = %e, %reader, "timeline not trimmed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readers asking for upkeep are recorded as having read, in a batch, without the read
    /// waiting for it.
    #[tokio::test]
    async fn asked_upkeep_records_the_readers_soon() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let upkeep = Upkeep::start(store.clone());
        let before = crate::platform::unix_now();
        for reader in ["ann", "bob", "ann"] {
            upkeep.ask(reader);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for reader in ["ann", "bob"] {
            loop {
                if storage::last_seen(&store, reader)
                    .unwrap()
                    .is_some_and(|t| t >= before)
                {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{reader} not recorded"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
