//! One replica's life: it follows the change stream until it holds the context's lease and
//! has caught up with the stream's head, then writes until it loses the lease (or is
//! fenced, or stops), and follows again.
//!
//! The role lives in the store ([`Store::set_role`]): handlers' writes are refused on a
//! follower, and the tasks that write in the background follow it ([`super::while_writer`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::lease::{Holder, Lease};
use super::publish::Fenced;
use super::{ChangeStream, follow, publish};
use crate::platform::bus::Bus;
use crate::platform::storage::{Role, Store};
use crate::platform::telemetry::{ContextLabel, Metrics};

/// How often a follower tries to take a lease nobody renews.
const ACQUIRE_EVERY: Duration = Duration::from_millis(500);

/// How a replica of a context takes part.
#[derive(Clone)]
pub struct Replica {
    pub store: Store,
    pub bus: Bus,
    pub context: &'static str,
    /// How long the lease lasts without renewal: the bound on a failover.
    pub lease_ttl: Duration,
    /// Where this replica takes requests (`AGORA_ADVERTISE_URL`).
    pub url: Option<String>,
    pub metrics: Arc<Metrics>,
}

impl Replica {
    fn writer_gauge(&self) -> prometheus_client::metrics::gauge::Gauge {
        self.metrics
            .replica_writer
            .get_or_create(&ContextLabel::new(self.context))
            .clone()
    }
}

/// Runs the replica until `shutdown` flips; a writer then hands its lease over. The role
/// is `Stopped` once that is done (the process waits for it before it exits).
pub async fn run(replica: Replica, shutdown: watch::Receiver<bool>) {
    live(&replica, shutdown).await;
    if let Err(e) = replica.store.set_role(Role::Stopped) {
        tracing::warn!(context = replica.context, error = %e, "replica not marked stopped");
    }
}

async fn live(replica: &Replica, mut shutdown: watch::Receiver<bool>) {
    let Some(mut lease) = open_lease(replica, &mut shutdown).await else {
        return;
    };
    if let Err(e) = adopt_restored(replica).await {
        tracing::warn!(context = replica.context, error = %e, "restored store not checked against its change stream");
    }
    loop {
        let Some(follower) = follow_until_leader(replica, &mut lease, &mut shutdown).await else {
            return;
        };
        if let Err(e) = stop_following(replica, follower).await {
            tracing::warn!(context = replica.context, error = %e, "not caught up, giving the lease back");
            lease.release().await;
            continue;
        }
        tracing::info!(context = replica.context, "this replica writes");
        let stopping = write_while_leader(replica, &mut lease, &mut shutdown).await;
        if stopping {
            return;
        }
    }
}

async fn open_lease(replica: &Replica, shutdown: &mut watch::Receiver<bool>) -> Option<Lease> {
    let me = Holder {
        replica: replica.store.replica_id().ok()?,
        url: replica.url.clone(),
    };
    loop {
        match Lease::open(&replica.bus, replica.context, me.clone(), replica.lease_ttl).await {
            Ok(lease) => return Some(lease),
            Err(e) => {
                tracing::warn!(context = replica.context, error = %e, "lease bucket unavailable, retrying")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return None,
        }
    }
}

/// A store restored from a backup onto a change stream that does not reach what it holds
/// (the bus was made anew, or the stream cut past it) begins the stream's history again:
/// its contents go out as a checkpoint. Onto a stream that holds its place, it follows as
/// any replica does, up to the newest state.
async fn adopt_restored(replica: &Replica) -> anyhow::Result<()> {
    let Some(restored) = replica.store.restored()? else {
        return Ok(());
    };
    let head = ChangeStream::of(&replica.bus, replica.context)
        .head(&replica.bus)
        .await?;
    let stream = head.last.map_or(0, |(lsn, _)| lsn);
    let store = replica.store.clone();
    if stream >= store.lsn()? {
        return Ok(());
    }
    let lsn = tokio::task::spawn_blocking(move || store.begin_history()).await??;
    tracing::warn!(
        context = replica.context,
        backup = %restored.backup,
        stream_lsn = stream,
        checkpoint = lsn,
        "the change stream lacks the restored store's history: it begins again from this store"
    );
    Ok(())
}

/// A follower task and the sender that stops it.
struct Following {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Follows the stream, trying to take the lease every renewal period. Returns the running
/// follower once the lease is this replica's (`None` on shutdown).
async fn follow_until_leader(
    replica: &Replica,
    lease: &mut Lease,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Following> {
    if let Err(e) = replica.store.set_role(Role::Follower) {
        tracing::error!(context = replica.context, error = %e, "cannot become a follower");
    }
    let (stop, stopped) = watch::channel(false);
    replica.writer_gauge().set(0);
    let task = tokio::spawn(follow::run(
        replica.store.clone(),
        replica.bus.clone(),
        replica.context,
        replica.metrics.clone(),
        stopped,
    ));
    loop {
        if !task.is_finished() && !replica.store.needs_copy() {
            match lease.acquire().await {
                Ok(true) => return Some(Following { stop, task }),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(context = replica.context, error = %e, "lease unavailable")
                }
            }
        }
        // A follower that missed part of the stream keeps serving what it has, and never
        // writes until a checkpoint made it whole (docs/architecture.md, "Replicas"). Trying every
        // half second, a failover takes the lease's TTL and half a second at most.
        tokio::select! {
            _ = tokio::time::sleep(ACQUIRE_EVERY.min(lease.renew_every())) => {}
            _ = shutdown.changed() => {
                stop.send_replace(true);
                return None;
            }
        }
    }
}

/// Lets the follower apply what the stream holds up to its head, then stops it.
async fn stop_following(replica: &Replica, following: Following) -> anyhow::Result<()> {
    let head = ChangeStream::of(&replica.bus, replica.context)
        .head(&replica.bus)
        .await?;
    let target = head
        .last
        .map_or(0, |(lsn, whole)| if whole { lsn } else { lsn - 1 });
    let mut held = replica.store.stream_lsn.subscribe();
    let caught_up = tokio::time::timeout(replica.lease_ttl, held.wait_for(|l| *l >= target))
        .await
        .is_ok_and(|r| r.is_ok());
    following.stop.send_replace(true);
    let _ = following.task.await;
    match caught_up {
        true => Ok(()),
        false => anyhow::bail!(
            "the stream's head is LSN {target}, this replica holds {}",
            replica.store.lsn()?
        ),
    }
}

/// Writes while the lease is renewed. Returns true when the process is stopping.
async fn write_while_leader(
    replica: &Replica,
    lease: &mut Lease,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let store = &replica.store;
    if let Err(e) = store.set_role(Role::Writer) {
        tracing::error!(context = replica.context, error = %e, "cannot become the writer");
        lease.release().await;
        return false;
    }
    replica.writer_gauge().set(1);
    replica
        .metrics
        .replica_behind
        .get_or_create(&ContextLabel::new(replica.context))
        .set(0);
    let (stop, stopped) = watch::channel(false);
    let mut publisher = tokio::spawn(publish::run(
        store.clone(),
        replica.bus.clone(),
        replica.context,
        stopped,
    ));
    // What the publisher returned, once it stopped on its own.
    let mut ended = None;
    let stopping = loop {
        tokio::select! {
            _ = tokio::time::sleep(lease.renew_every()) => {}
            outcome = &mut publisher => {
                ended = Some(outcome);
                break false;
            }
            _ = shutdown.changed() => break true,
        }
        if !lease.renew().await {
            tracing::warn!(context = replica.context, "lease lost");
            break false;
        }
    };
    // Refuse writes at once; then let the relay publish what was committed, so the next
    // writer starts from everything this one acknowledged.
    if let Err(e) = store.set_role(Role::Follower) {
        tracing::error!(context = replica.context, error = %e, "cannot stop writing");
    }
    if ended.is_none() {
        let drained = drain(store, &publisher).await;
        stop.send_replace(true);
        if !drained {
            tracing::warn!(
                context = replica.context,
                "change log not fully published before stepping down"
            );
        }
    }
    let outcome = match ended {
        Some(outcome) => outcome,
        None => publisher.await,
    };
    if let Ok(Err(fenced)) = outcome {
        diverged(replica, &fenced);
    }
    lease.release().await;
    stopping
}

/// Waits (at most [`crate::platform::storage::REPLICATION_WAIT`]) until the change log is
/// empty or the publisher stopped.
async fn drain(store: &Store, publisher: &JoinHandle<Result<(), Fenced>>) -> bool {
    let deadline = tokio::time::Instant::now() + crate::platform::storage::REPLICATION_WAIT;
    let mut published = store.stream_lsn.subscribe();
    while !store.changes.is_empty() && !publisher.is_finished() {
        if tokio::time::timeout_at(deadline, published.changed())
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

fn diverged(replica: &Replica, fenced: &Fenced) {
    if let Fenced::Diverged { .. } = fenced {
        tracing::error!(
            context = replica.context,
            error = %fenced,
            "this replica holds writes the stream does not: it keeps following, and needs a new copy"
        );
    }
}
