//! Digests the notifications context asked auth to mail (`mq/`).

use super::*;

/// A digest the notifications context asked to mail, queued until it is sent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QueuedDigest {
    pub account_id: String,
    pub counts: std::collections::BTreeMap<String, u32>,
}

/// Digests older than this when applied (a replay, a long outage) are not mailed.
pub(super) const DIGEST_FRESH_SECS: i64 = 3_600;

/// Queues a digest (`mq/<event id>`) in the transaction that applies the event; the mail
/// goes out from the queue ([`queued_digests`]), so a retried transaction never mails twice.
pub fn queue_digest(
    tx: &Tx,
    e: &crate::platform::context::Event<crate::notifications::events::DigestDue>,
) -> TxResult<()> {
    if e.occurred_at.unix_timestamp() < now() - DIGEST_FRESH_SECS {
        return Ok(());
    }
    let queued = QueuedDigest {
        account_id: e.data.user_id.clone(),
        counts: e.data.counts.clone(),
    };
    tx.put(&key("mq/", &[e.id]), &queued)
}

/// The queued digests, oldest first, with their queue keys.
pub fn queued_digests(store: &Store) -> ApiResult<Vec<(Vec<u8>, QueuedDigest)>> {
    let mut out = Vec::new();
    for (id, value) in store.scan_after(b"mq/", None, 256)? {
        let digest: QueuedDigest = crate::platform::storage::from_json(&value)?;
        out.push((key("mq/", &[&String::from_utf8_lossy(&id)]), digest));
    }
    Ok(out)
}

pub async fn unqueue(store: &Store, queue_key: &[u8]) -> ApiResult<()> {
    store.write(|tx| tx.remove(queue_key).map(|_| ())).await
}

pub fn watch_queue(store: &Store) -> crate::platform::storage::Changes {
    store.watch(b"mq/")
}
