//! Changes under a key prefix, for the background loops that wait for work queued in a
//! store (the search indexer, pushes of new notifications, queued mail and releases).
//!
//! **Trap:** sled hands each change to a subscriber (`Tree::watch_prefix`) through a
//! channel of 1,024 entries, and a writer whose change finds that channel full waits for
//! room *inside its commit*, holding its database's transaction lock. Every other sled
//! call on that store then waits too (in every store, while the lock was one per process:
//! vendor/sled/AGORA.md). A subscriber read by a task
//! of the Tokio runtime deadlocks the process as soon as the runtime's threads are among
//! those waiting: the task that would make room never runs again. Seen under the social
//! benchmark: the notifications context's push loop read its store between two changes,
//! fell 1,024 behind, and `agora-node dev` stopped answering anything, `/healthz`
//! included, with no CPU used.
//!
//! So each watch has a thread of its own that does nothing but move sled's changes into
//! an unbounded channel: it never touches a store, so it always makes room, and the loop
//! reading the channel may take its time.

use tokio::sync::mpsc;

use super::Store;

/// The changes under one prefix of a store's data, oldest first.
pub struct Changes {
    rx: mpsc::UnboundedReceiver<sled::Event>,
}

impl Store {
    /// Watches the keys of the data tree starting with `prefix`. The watch ends when the
    /// store is closed; dropping it ends its thread at the next change.
    pub fn watch(&self, prefix: &[u8]) -> Changes {
        let subscriber = self.data.watch_prefix(prefix);
        let (tx, rx) = mpsc::unbounded_channel();
        let drain = move || {
            for event in subscriber {
                if tx.send(event).is_err() {
                    return;
                }
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("store-watch".into())
            .spawn(drain)
        {
            // Without its thread the watch ends at once (its sender is gone with the
            // closure): loops that also wait on a timer go on by it, the others stop.
            tracing::error!(error = %e, "store watch not started");
        }
        Changes { rx }
    }
}

impl Changes {
    /// The next change; `None` once the store is closed.
    pub async fn next(&mut self) -> Option<sled::Event> {
        self.rx.recv().await
    }

    /// The next change if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<sled::Event> {
        self.rx.try_recv().ok()
    }

    /// Waits for a change, then drops those already waiting behind it: for loops that read
    /// their whole queue again after any change. False once the store is closed.
    pub async fn changed(&mut self) -> bool {
        if self.rx.recv().await.is_none() {
            return false;
        }
        while self.rx.try_recv().is_ok() {}
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::storage::key;

    /// More changes than sled's channel holds.
    const CHANGES: usize = 3_000;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn writers_never_wait_for_a_watch_that_has_not_read_yet() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut changes = store.watch(b"q/");
        // Nobody reads the watch while these are written: with sled's subscriber read by a
        // task, the 1,025th write would wait forever.
        let writer = store.clone();
        let (done, written) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for n in 0..CHANGES {
                let k = key("q/", &[&format!("{n:05}")]);
                writer.write_now(|tx| tx.put_raw(&k, b"queued")).unwrap();
            }
            done.send(()).unwrap();
        });
        let wait = move || written.recv_timeout(std::time::Duration::from_secs(60));
        tokio::task::spawn_blocking(wait)
            .await
            .unwrap()
            .expect("the writes went through without anyone reading the watch");
        for n in 0..CHANGES {
            let event = changes.next().await.unwrap();
            assert_eq!(event.key().as_ref(), key("q/", &[&format!("{n:05}")]));
            // Reading the store between changes, as the loops do.
            assert!(store.contains(event.key()).unwrap());
        }
    }

    #[tokio::test]
    async fn changed_wakes_on_a_change_under_the_prefix_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut changes = store.watch(b"q/");
        store.write(|tx| tx.put_raw(b"other", b"")).await.unwrap();
        store.write(|tx| tx.put_raw(b"q/1", b"")).await.unwrap();
        assert!(changes.changed().await);
        assert_eq!(
            changes.rx.try_recv().ok(),
            None,
            "the other key was not reported"
        );
    }
}
