//! Keeps the Tantivy index in step with search's documents, on every replica.
//!
//! - **The writer** (and a context without replicas) moves the queue its event handlers
//!   fill, in the transaction that changes a document, into the index
//!   ([`index_queue`]): a queued change leaves the queue only once the index has
//!   committed it, so a crash loses none.
//! - **A follower** writes nothing to its store, so it cannot take changes off the queue,
//!   and the writer takes them off as soon as its own index has them: a follower follows
//!   every change of a document instead ([`follow_documents`]), as its store takes them
//!   from the writer's change stream (checkpoints and resets included).
//! - **A replica that changes role** refills its index from the documents first: what
//!   the other role had seen but not yet committed to the index is nowhere else. A
//!   replicated context also refills when it starts, before it serves: a follower that
//!   crashed has no queue to tell what its index missed.
//!
//! Every replica's index is its own (nothing of it crosses the network), derived from
//! documents that are the same on every replica: they answer the same, each within the
//! commit delay of its store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::storage::{self, index::SearchIndex};
use super::{BATCH, COMMIT_EVERY, domain};
use crate::platform::Platform;
use crate::platform::error::{ApiError, ApiResult};
use crate::platform::storage::{Changes, Role, Store};

/// Fills the index before the context serves (a replicated context's always; else an
/// empty one: a first start, or an index that was lost), then starts the task that keeps
/// it, whatever this replica's role.
pub fn keep(platform: &Platform, store: Store, index: Arc<SearchIndex>) -> anyhow::Result<()> {
    let watching = match store.replicated() {
        // Subscribed before the refill, so no change falls between the two.
        true => Some(storage::watch_docs(&store)),
        false => None,
    };
    if watching.is_some() || index.is_empty() {
        let docs = refill(&store, &index)?;
        tracing::info!(documents = docs, "search index filled");
    }
    let stints = Arc::new(Stints {
        started: AtomicBool::new(false),
        watching: Mutex::new(watching),
    });
    platform.by_role(&store.clone(), move |role, stop| {
        let (store, index) = (store.clone(), index.clone());
        let first = !stints.started.swap(true, Ordering::SeqCst);
        let watching = stints
            .watching
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        async move {
            match role {
                Role::Writer => index_queue(store, index, !first, stop).await,
                Role::Follower => {
                    let watching = watching.filter(|_| first);
                    follow_documents(store, index, watching, stop).await
                }
                Role::Stopped => {}
            }
        }
    });
    Ok(())
}

/// What the first stretch in a role takes over from [`keep`].
struct Stints {
    started: AtomicBool,
    /// The watch subscribed before the start's refill, for a first stretch as follower.
    watching: Mutex<Option<Changes>>,
}

/// Replaces the index by every document; returns how many. Blocking.
fn refill(store: &Store, index: &SearchIndex) -> anyhow::Result<usize> {
    let docs: Vec<_> = storage::all_docs(store)?
        .into_iter()
        .map(|d| (storage::doc_id(d.kind, &d.id), d))
        .collect();
    index.refill(&docs)?;
    Ok(docs.len())
}

async fn refill_in_background(store: &Store, index: &Arc<SearchIndex>) {
    let (store, index) = (store.clone(), index.clone());
    let refilled = tokio::task::spawn_blocking(move || refill(&store, &index)).await;
    match refilled {
        Ok(Ok(docs)) => tracing::info!(documents = docs, "search index refilled"),
        Ok(Err(e)) => tracing::warn!(error = %e, "search index not refilled"),
        Err(e) => tracing::warn!(error = %e, "search index not refilled"),
    }
}

/// The writer's side: moves queued changes into the index until `stop`; first refills
/// the index when this replica followed before.
async fn index_queue(
    store: Store,
    index: Arc<SearchIndex>,
    refill_first: bool,
    mut stop: watch::Receiver<bool>,
) {
    if refill_first {
        refill_in_background(&store, &index).await;
    }
    let mut queued = storage::watch_queue(&store);
    loop {
        match index_batch(&store, &index).await {
            Ok(0) => {
                tokio::select! {
                    true = queued.changed() => {}
                    _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                    _ = stop.changed() => return,
                }
            }
            Ok(_) => tokio::time::sleep(COMMIT_EVERY).await,
            Err(e) => {
                tracing::warn!(error = %e, "search index not updated; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// Indexes up to [`BATCH`] queued changes in one commit; returns how many.
async fn index_batch(store: &Store, index: &Arc<SearchIndex>) -> ApiResult<usize> {
    let queued = storage::queued(store, BATCH)?;
    if queued.is_empty() {
        return Ok(0);
    }
    let mut docs: Vec<String> = Vec::with_capacity(queued.len());
    for q in &queued {
        if !docs.contains(&q.doc) {
            docs.push(q.doc.clone());
        }
    }
    apply(store, index, docs).await?;
    let keys: Vec<Vec<u8>> = queued.into_iter().map(|q| q.key).collect();
    storage::done(store, &keys).await?;
    // After an erasure, once its deletions are all indexed, its documents leave the files.
    if storage::purge_asked(store)?.is_some() && storage::queued(store, 1)?.is_empty() {
        purge(index).await?;
        storage::purged(store).await?;
    }
    Ok(keys.len())
}

/// A follower's side: indexes every changed document until `stop`, a batch per commit
/// at most every [`COMMIT_EVERY`]; first subscribes and refills, unless `watching` was
/// subscribed before the start's refill.
async fn follow_documents(
    store: Store,
    index: Arc<SearchIndex>,
    watching: Option<Changes>,
    mut stop: watch::Receiver<bool>,
) {
    let mut changes = match watching {
        Some(watching) => watching,
        None => {
            let watching = storage::watch_docs(&store);
            refill_in_background(&store, &index).await;
            watching
        }
    };
    let mut pending: Vec<String> = Vec::new();
    let mut purged: Option<Vec<u8>> = None;
    loop {
        if pending.is_empty() {
            let change = tokio::select! {
                change = changes.next() => change,
                _ = stop.changed() => return,
            };
            let Some(change) = change else { return };
            pending.extend(storage::changed_doc(change.key()));
        }
        while pending.len() < BATCH {
            let Some(change) = changes.try_next() else {
                break;
            };
            pending.extend(storage::changed_doc(change.key()));
        }
        pending.sort_unstable();
        pending.dedup();
        match follow_batch(&store, &index, &pending, &mut purged).await {
            Ok(()) => pending.clear(),
            Err(e) => tracing::warn!(error = %e, "search index not updated; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(COMMIT_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Indexes `docs` as the store holds them now; then, when an erasure asked for a purge
/// this replica has not made yet, purges.
async fn follow_batch(
    store: &Store,
    index: &Arc<SearchIndex>,
    docs: &[String],
    purged: &mut Option<Vec<u8>>,
) -> ApiResult<()> {
    apply(store, index, docs.to_vec()).await?;
    let asked = storage::purge_asked(store)?;
    if asked.is_some() && asked != *purged {
        purge(index).await?;
        *purged = asked;
    }
    Ok(())
}

/// Replaces each of `docs` in the index by its current version (gone: removed).
async fn apply(store: &Store, index: &Arc<SearchIndex>, docs: Vec<String>) -> ApiResult<()> {
    let mut changes: Vec<(String, Option<domain::Doc>)> = Vec::with_capacity(docs.len());
    for doc in docs {
        let current = storage::doc(store, &doc)?;
        changes.push((doc, current));
    }
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.apply(&changes))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// Rewrites the segments holding deleted documents without them.
async fn purge(index: &Arc<SearchIndex>) -> ApiResult<()> {
    let index = index.clone();
    let rewritten = tokio::task::spawn_blocking(move || index.purge_deleted())
        .await
        .map_err(ApiError::internal)??;
    tracing::info!(
        segments = rewritten,
        "deleted documents purged from the index"
    );
    Ok(())
}
