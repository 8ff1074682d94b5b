//! Exports a person asked for (GDPR articles 15 and 20): `ex/<user><export>` each, `xp/<user>`
//! the one being prepared, `xd/<export>` archives an erasure left to delete. Users owns them; the archive itself lives in the platform's
//! object store ([`crate::platform::export`]).

use serde::{Deserialize, Serialize};

use crate::platform::envelope::Envelope;
use crate::platform::error::ApiResult;
use crate::platform::export::{ARCHIVE_DAYS, ExportRequested};
use crate::platform::storage::{Changes, Store, abort, key};
use crate::users::error::Error;
use crate::users::events::ExportReady;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Export {
    pub id: String,
    pub user_id: String,
    pub requested_at: i64,
    /// When the archive was assembled.
    pub ready_at: Option<i64>,
    /// The archive's size in bytes.
    pub size: Option<u64>,
    /// Contexts whose part did not come in time (the archive's manifest says so too).
    #[serde(default)]
    pub missing: Vec<String>,
}

impl Export {
    /// Until when the archive may be downloaded.
    pub fn expires_at(&self) -> Option<i64> {
        self.ready_at.map(|at| at + ARCHIVE_DAYS * 86_400)
    }
}

fn export_key(user: &str, id: &str) -> Vec<u8> {
    key("ex/", &[user, id])
}

fn preparing_key(user: &str) -> Vec<u8> {
    key("xp/", &[user])
}

/// Records a new export and publishes `ExportRequested`; one at a time per person.
pub async fn request_export(store: &Store, user: &str, now: i64) -> ApiResult<Export> {
    let export = Export {
        id: crate::platform::new_id(),
        user_id: user.to_string(),
        requested_at: now,
        ready_at: None,
        size: None,
        missing: Vec::new(),
    };
    store
        .write(|tx| {
            if tx.contains(&preparing_key(user))? {
                return abort(Error::ExportInProgress);
            }
            tx.put(&export_key(user, &export.id), &export)?;
            tx.put(&preparing_key(user), &export.id)?;
            let requested = ExportRequested {
                export_id: export.id.clone(),
                user_id: user.to_string(),
            };
            tx.emit(&Envelope::new(user, &export.id, &requested))
        })
        .await?;
    Ok(export)
}

/// A person's exports, newest first.
pub fn exports(store: &Store, user: &str) -> ApiResult<Vec<Export>> {
    store
        .scan_before(&key("ex/", &[user]), None, usize::MAX)?
        .into_iter()
        .map(|(_, v)| Ok(crate::platform::storage::from_json(&v)?))
        .collect()
}

pub fn export(store: &Store, user: &str, id: &str) -> ApiResult<Option<Export>> {
    store.get(&export_key(user, id))
}

/// The exports being prepared.
pub fn preparing(store: &Store) -> ApiResult<Vec<Export>> {
    let mut out = Vec::new();
    for item in store.records_under(b"xp/") {
        let (k, v) = item?;
        let user = String::from_utf8_lossy(k.get(3..).unwrap_or_default()).into_owned();
        let id: String = crate::platform::storage::from_json(&v)?;
        out.extend(export(store, &user, &id)?);
    }
    Ok(out)
}

/// Marks an export ready and publishes `ExportReady` (the person is notified).
pub async fn export_ready(
    store: &Store,
    export: &Export,
    size: u64,
    missing: Vec<String>,
    now: i64,
) -> ApiResult<Export> {
    let ready = Export {
        ready_at: Some(now),
        size: Some(size),
        missing,
        ..export.clone()
    };
    store
        .write(|tx| {
            tx.put(&export_key(&ready.user_id, &ready.id), &ready)?;
            tx.remove(&preparing_key(&ready.user_id))?;
            let event = ExportReady {
                export_id: ready.id.clone(),
                user_id: ready.user_id.clone(),
                expires_at: ready.expires_at().unwrap_or(now),
            };
            tx.emit(&Envelope::new(&ready.user_id, &ready.id, &event))
        })
        .await?;
    Ok(ready)
}

const DISCARD: &str = "xd/";

/// Erasure: every record naming the person goes, and their exports' archives are queued
/// for deletion from the object store.
#[expect(
    clippy::ptr_arg,
    reason = "`on_read` hands over what it read by reference"
)]
pub fn account_erased(
    tx: &crate::platform::storage::Tx,
    e: &crate::platform::context::Event<crate::auth::events::AccountErased>,
    found: &Vec<crate::platform::erasure::Named>,
) -> crate::platform::storage::TxResult<()> {
    for named in found.iter().filter(|n| n.prefix() == b"ex/") {
        if let Some(id) = named.field("id") {
            tx.put_raw(&key(DISCARD, &[id]), &[])?;
        }
    }
    crate::platform::erasure::apply(
        tx,
        &e.data.account_id,
        found,
        crate::platform::erasure::remove_all,
    )
}

/// Exports whose archives are to be deleted.
pub fn to_discard(store: &Store) -> ApiResult<Vec<String>> {
    store.queued_ids(DISCARD)
}

pub fn watch_discards(store: &Store) -> Changes {
    store.watch(DISCARD.as_bytes())
}

pub async fn discarded(store: &Store, id: &str) -> ApiResult<()> {
    store.unqueue(DISCARD, id).await
}
