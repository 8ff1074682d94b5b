//! Views (posts shown in a feed, a post opened) recorded from read paths without a write
//! on the request: handed to a bounded channel, gathered for up to a second, and published
//! as one event per batch through the outbox. Views are analytics, not data anyone relies
//! on: a batch a crash interrupts is lost, and a full channel drops views rather than slow
//! a read.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::envelope::{DomainEvent, Envelope};
use super::storage::Store;

/// How long views are gathered before they go out.
const GATHER: Duration = Duration::from_secs(1);
/// Views waiting at most; more are dropped.
const QUEUE: usize = 10_000;
/// Post ids per event at most, so an event stays far below NATS's 1 MB.
const POSTS_PER_BATCH: usize = 20_000;

/// Someone saw these posts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct View {
    pub viewer: String,
    pub posts: Vec<String>,
}

/// Views gathered over about a second.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ViewBatch {
    pub views: Vec<View>,
}

/// Where a read path records views.
#[derive(Clone)]
pub struct ViewRecorder {
    /// `None` when views are not recorded (`AGORA_RECORD_VIEWS=false`).
    queue: Option<mpsc::Sender<View>>,
}

impl ViewRecorder {
    /// Starts the task that publishes batches as `E` from `store`'s outbox, when
    /// `enabled`; else a recorder that records nothing.
    pub fn start<E>(store: Store, actor: &'static str, enabled: bool) -> Self
    where
        E: DomainEvent + From<ViewBatch> + Send + Sync + 'static,
    {
        if !enabled {
            return ViewRecorder { queue: None };
        }
        let (queue, views) = mpsc::channel(QUEUE);
        tokio::spawn(publish_batches::<E>(store, actor, views));
        ViewRecorder { queue: Some(queue) }
    }

    /// Records that `viewer` saw `posts` (dropped when the queue is full).
    pub fn record(&self, viewer: &str, posts: Vec<String>) {
        let Some(queue) = &self.queue else { return };
        if posts.is_empty() {
            return;
        }
        let view = View {
            viewer: viewer.to_string(),
            posts,
        };
        if queue.try_send(view).is_err() {
            tracing::debug!("view queue full, views dropped");
        }
    }
}

async fn publish_batches<E>(store: Store, actor: &'static str, mut views: mpsc::Receiver<View>)
where
    E: DomainEvent + From<ViewBatch>,
{
    while let Some(first) = views.recv().await {
        let mut batch = ViewBatch { views: vec![first] };
        let mut posts = batch.views.iter().map(|v| v.posts.len()).sum::<usize>();
        let deadline = tokio::time::sleep(GATHER);
        tokio::pin!(deadline);
        while posts < POSTS_PER_BATCH {
            tokio::select! {
                next = views.recv() => match next {
                    Some(v) => {
                        posts += v.posts.len();
                        batch.views.push(v);
                    }
                    None => break,
                },
                _ = &mut deadline => break,
            }
        }
        if store.role() != super::storage::Role::Writer {
            // A follower records no views of its own (docs/architecture.md, "Replicas").
            continue;
        }
        let event = E::from(batch);
        let id = super::new_id();
        if let Err(e) = store
            .write(|tx| tx.emit(&Envelope::new(actor, &id, &event)))
            .await
        {
            tracing::warn!(error = %e, "views not recorded");
        }
    }
}
