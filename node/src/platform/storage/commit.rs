//! Group commit: concurrent writers share one sled flush.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, watch};

pub(super) struct GroupCommit {
    /// Tickets handed out to writers.
    pub(super) requested: AtomicU64,
    /// Highest ticket known to be on disk.
    pub(super) flushed: watch::Sender<u64>,
    pub(super) wake: Notify,
}

/// How many flushes may wait on sled's IO pool at once, in the whole process.
const FLUSH_SLOTS: usize = 4;

/// sled's IO thread pool is process-wide; so is the limit on the flushes waiting on it.
/// (With `platform::new_id`'s generator, the one piece of global state: it mirrors sled's
/// own global pool.)
static FLUSHES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(FLUSH_SLOTS);

/// Flushes `db`, at most [`FLUSH_SLOTS`] stores at a time in the process.
///
/// **Trap:** `sled::Db::flush_async` runs the flush on sled's IO thread pool, which keeps 7
/// threads and grows only when more than 7 jobs queue; the flush then waits for log writes
/// that need a thread of that same pool. With a dozen stores in one process (a context
/// each), seven concurrent flushes took every thread and waited on writes nobody could run:
/// every write of the process hung (seen in `tests/feed.rs` once the eleventh store came).
/// Flushing on tokio's blocking pool instead avoids that but made writes 1.7 times slower
/// and feed reads under load ten times slower (docs/benchmarks.md): the flush then waits
/// for a pool thread to pick each write up. Limiting the flushes in flight keeps threads
/// free for the writes they wait on.
pub async fn flush(db: &sled::Db) -> Result<usize, sled::Error> {
    // The semaphore is never closed; were it, flushing unlimited is still correct.
    let _slot = FLUSHES.acquire().await.ok();
    db.flush_async().await
}

/// One flush at a time; every writer that asked before it started is covered by it.
pub(super) async fn flush_loop(db: sled::Db, commit: Arc<GroupCommit>) {
    loop {
        let target = commit.requested.load(Ordering::SeqCst);
        if target <= *commit.flushed.borrow() {
            commit.wake.notified().await;
            continue;
        }
        if let Err(e) = flush(&db).await {
            tracing::error!(error = %e, "sled flush failed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        }
        commit.flushed.send_replace(target);
        if commit.flushed.receiver_count() == 0 && Arc::strong_count(&commit) == 1 {
            return;
        }
    }
}
