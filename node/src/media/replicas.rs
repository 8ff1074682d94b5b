//! Media's files across replicas. Records follow the change stream like every context's;
//! files go through the bus's object store ([`storage::copies`]):
//!
//! - the writer puts an upload's files there before its record commits
//!   ([`super::MediaState`]), and removes from there what its sweep and erasures remove
//!   from its volume ([`forget_copy`], [`sweep_copies`]);
//! - a follower copies each file as a record naming it arrives, and removes its copy once
//!   no record names it ([`follow_files`]);
//! - a replica asked for a file it lacks fetches it at once ([`super::http`]), and each
//!   replica, on taking a role, fetches what its records name and its volume lacks
//!   ([`fetch_missing`]); the writer also puts in the shared copy what it holds and the
//!   bucket lacks ([`share_missing`]: files from before the context had replicas).

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::watch;

use super::storage::{self, blobs::Blobs, copies::Copies};
use crate::platform::error::ApiResult;
use crate::platform::storage::Store;

/// Fetches every blob the records name that this volume lacks; returns those it could
/// not fetch.
pub async fn fetch_missing(store: &Store, blobs: &Blobs, copies: &Copies) -> BTreeSet<String> {
    let named = match storage::all_referenced(store) {
        Ok(named) => named,
        Err(e) => {
            tracing::warn!(error = %e, "media files not checked against the records");
            return BTreeSet::new();
        }
    };
    let missing = named.into_iter().filter(|sha| !blobs.holds(sha)).collect();
    fetch_all(store, blobs, copies, missing).await
}

/// Puts in the shared copy every file the records name that this volume holds and the
/// bucket lacks: the writer's, on taking the role, so files from before the context had
/// replicas (or whose put was cut short) reach the followers too.
pub async fn share_missing(store: &Store, blobs: &Blobs, copies: &Copies) {
    let shared: BTreeSet<String> = match copies.names().await {
        Ok(names) => names.into_iter().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "media files not shared (tried again at the next role)");
            return;
        }
    };
    let named = storage::all_referenced(store).unwrap_or_default();
    let mut put = 0;
    for sha256 in named {
        if shared.contains(&sha256) || !blobs.holds(&sha256) {
            continue;
        }
        match copies.put(blobs, &sha256).await {
            Ok(()) => put += 1,
            Err(e) => tracing::warn!(sha256 = %sha256, error = %e, "media file not shared"),
        }
    }
    if put > 0 {
        tracing::info!(files = put, "media files put in the shared copy");
    }
}

/// Fetches each of `missing`; returns those still missing and still named.
async fn fetch_all(
    store: &Store,
    blobs: &Blobs,
    copies: &Copies,
    missing: BTreeSet<String>,
) -> BTreeSet<String> {
    let mut left = BTreeSet::new();
    for sha256 in missing {
        match copies.fetch(blobs, &sha256).await {
            Ok(true) => {}
            // Not in the bucket: removed since (the writer puts a file there before its
            // record commits), unless a record still names it.
            Ok(false) if !storage::referenced(store, &sha256).unwrap_or(true) => {}
            Ok(false) => {
                tracing::warn!(sha256 = %sha256, "a named media file is in no shared copy");
                left.insert(sha256);
            }
            Err(e) => {
                tracing::warn!(sha256 = %sha256, error = %e, "media file not copied yet");
                left.insert(sha256);
            }
        }
    }
    left
}

/// A follower's side: copies the files records come to name, removes those no record
/// names any more, until `stop`. Files it could not copy are tried again every second.
pub async fn follow_files(
    store: Store,
    blobs: Blobs,
    copies: Copies,
    mut stop: watch::Receiver<bool>,
) {
    // Subscribed before the first look, so no change falls between the two.
    let mut names = storage::watch_blob_names(&store);
    let mut missing = fetch_missing(&store, &blobs, &copies).await;
    remove_unnamed(&store, &blobs).await;
    loop {
        let retry = !missing.is_empty();
        let change = tokio::select! {
            change = names.next() => match change {
                Some(change) => Some(change),
                None => return,
            },
            _ = tokio::time::sleep(Duration::from_secs(1)), if retry => None,
            _ = stop.changed() => return,
        };
        let mut changes: Vec<sled::Event> = change.into_iter().collect();
        while let Some(change) = names.try_next() {
            changes.push(change);
        }
        for change in changes {
            let Some(sha256) = storage::changed_blob(change.key()) else {
                continue;
            };
            match change {
                sled::Event::Insert { .. } if !blobs.holds(&sha256) => {
                    missing.insert(sha256);
                }
                sled::Event::Insert { .. } => {}
                sled::Event::Remove { .. } => {
                    if let Err(e) = blobs
                        .remove_unreferenced(&sha256, |sha| storage::referenced(&store, sha))
                        .await
                    {
                        tracing::warn!(error = %e, "media file no record names left in place");
                    }
                }
            }
        }
        missing = fetch_all(&store, &blobs, &copies, missing).await;
    }
}

/// Removes the files of this volume no record names (a follower's: it uploads nothing,
/// so no file of its is waiting for its record).
async fn remove_unnamed(store: &Store, blobs: &Blobs) {
    let all = {
        let blobs = blobs.clone();
        tokio::task::spawn_blocking(move || blobs.all()).await
    };
    let Ok(Ok(all)) = all else {
        tracing::warn!("media files not listed");
        return;
    };
    for sha256 in all {
        let removed = blobs
            .remove_unreferenced(&sha256, |sha| storage::referenced(store, sha))
            .await;
        if let Err(e) = removed {
            tracing::warn!(error = %e, "media file no record names left in place");
        }
    }
}

/// Removes the shared copy of `sha256` if no record names it (the writer's, after its
/// own copy went).
pub async fn forget_copy(
    store: &Store,
    blobs: &Blobs,
    copies: &Copies,
    sha256: &str,
) -> ApiResult<()> {
    let _alone = blobs.deciding().await;
    if storage::referenced(store, sha256)? {
        return Ok(());
    }
    copies.delete(sha256).await
}

/// Removes the shared copies no record names (the writer's sweep); returns how many.
pub async fn sweep_copies(store: &Store, blobs: &Blobs, copies: &Copies) -> ApiResult<usize> {
    let mut removed = 0;
    for sha256 in copies.names().await? {
        if !storage::referenced(store, &sha256)? {
            forget_copy(store, blobs, copies, &sha256).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
