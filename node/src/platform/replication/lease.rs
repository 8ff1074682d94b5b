//! Which replica of a context writes: a lease on a NATS key-value bucket the platform
//! already runs (`AGORA_<PREFIX>_LEASES`, one key per context), never a consensus
//! protocol of our own.
//!
//! The bucket keeps each value for the lease's time to live: a holder renews by updating
//! the key at the revision it last wrote (every third of the TTL), a candidate takes it
//! with `create`, which only succeeds once the key is gone (released, or expired because
//! its holder stopped renewing). The lease says who *should* write; the change stream's
//! expected sequence ([`super::publish`]) is what stops an old holder that does not know
//! yet that it lost it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use futures::StreamExt;
use tokio::sync::watch;

use crate::platform::bus::Bus;

/// What a lease key holds: who writes, and where it takes requests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// The replica's [`crate::platform::storage::Store::replica_id`].
    pub replica: String,
    /// Its base URL (`AGORA_ADVERTISE_URL`), for whoever routes writes to it.
    pub url: Option<String>,
}

/// One replica's view of its context's lease.
pub struct Lease {
    kv: kv::Store,
    key: String,
    me: Holder,
    ttl: Duration,
    /// The revision this replica last wrote, while it holds the lease.
    revision: Option<u64>,
    /// When the last successful take or renewal was sent: the lease is surely ours until
    /// a TTL after it, whatever the server's clock says.
    renewed_at: Option<Instant>,
}

impl Lease {
    /// The bucket of `bus`'s platform (created on first use) and the key of `context`.
    pub async fn open(bus: &Bus, context: &str, me: Holder, ttl: Duration) -> anyhow::Result<Self> {
        let kv = bus
            .js
            .create_or_update_key_value(kv::Config {
                bucket: bucket(bus),
                history: 1,
                max_age: ttl,
                storage: async_nats::jetstream::stream::StorageType::File,
                num_replicas: bus.settings.replicas,
                ..Default::default()
            })
            .await?;
        Ok(Lease {
            kv,
            key: context.to_string(),
            me,
            ttl,
            revision: None,
            renewed_at: None,
        })
    }

    /// How often a holder renews.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// Takes the lease if nobody holds it. True when this replica holds it now.
    pub async fn acquire(&mut self) -> anyhow::Result<bool> {
        let sent = Instant::now();
        match self.kv.create(&self.key, self.value()).await {
            Ok(revision) => {
                self.revision = Some(revision);
                self.renewed_at = Some(sent);
                Ok(true)
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Renews the lease this replica holds. False when it is lost: someone else wrote the
    /// key, or renewing failed for longer than the lease lasts (the key may have expired
    /// and been taken meanwhile).
    pub async fn renew(&mut self) -> bool {
        let Some(revision) = self.revision else {
            return false;
        };
        let sent = Instant::now();
        match self.kv.update(&self.key, self.value(), revision).await {
            Ok(revision) => {
                self.revision = Some(revision);
                self.renewed_at = Some(sent);
                true
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => self.lost(),
            Err(e) => {
                tracing::warn!(key = %self.key, error = %e, "lease not renewed, retrying");
                if self.still_valid() {
                    true
                } else {
                    self.lost()
                }
            }
        }
    }

    /// Whether the lease is surely still this replica's: held, and renewed less than a
    /// TTL ago (less a margin for the two clocks' rates).
    pub fn still_valid(&self) -> bool {
        self.renewed_at
            .is_some_and(|at| at.elapsed() < self.ttl.mul_f64(0.8))
    }

    /// Gives the lease up at once (a graceful stop), so a follower takes over without
    /// waiting for it to expire.
    pub async fn release(&mut self) {
        if let Some(revision) = self.revision.take() {
            let _ = self
                .kv
                .delete_expect_revision(&self.key, Some(revision))
                .await;
        }
        self.renewed_at = None;
    }

    /// Who holds the lease now, if anyone.
    pub async fn holder(&self) -> anyhow::Result<Option<Holder>> {
        Ok(match self.kv.get(&self.key).await? {
            Some(bytes) if !bytes.is_empty() => serde_json::from_slice(&bytes).ok(),
            _ => None,
        })
    }

    fn lost(&mut self) -> bool {
        self.revision = None;
        self.renewed_at = None;
        false
    }

    fn value(&self) -> bytes::Bytes {
        serde_json::to_vec(&self.me).unwrap_or_default().into()
    }
}

/// The lease bucket of `bus`'s platform.
fn bucket(bus: &Bus) -> String {
    format!("{}_LEASES", bus.settings.stream_name())
}

/// The writer's base URL of each replicated context, as the leases say.
pub type Writers = Arc<RwLock<HashMap<String, String>>>;

/// Keeps `writers` current from the lease bucket until `shutdown` (the gateway routes
/// writes with it). A lease that expires leaves no trace in the bucket: its entry stays
/// until the next writer takes the lease, and writes sent to the dead writer meanwhile
/// fail with a retryable 503.
pub async fn follow_writers(bus: Bus, writers: Writers, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = watch_writers(&bus, &writers).await {
            tracing::debug!(error = %e, "lease bucket not followed (no replicated context yet?)");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn watch_writers(bus: &Bus, writers: &Writers) -> anyhow::Result<()> {
    let kv = bus.js.get_key_value(bucket(bus)).await?;
    let mut changes = kv.watch_with_history(">").await?;
    while let Some(entry) = changes.next().await {
        let entry = entry?;
        let url = match entry.operation {
            kv::Operation::Put => serde_json::from_slice::<Holder>(&entry.value)
                .ok()
                .and_then(|h| h.url),
            kv::Operation::Delete | kv::Operation::Purge => None,
        };
        let mut map = writers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match url {
            Some(url) => map.insert(entry.key, url.trim_end_matches('/').to_string()),
            None => map.remove(&entry.key),
        };
    }
    Ok(())
}
