//! GDPR export (articles 15 and 20): every context contributes its part of a person's
//! data. Users records the request and publishes [`ExportRequested`]; each context's export
//! worker (a durable consumer of that one event type, apart from the context's projection
//! consumer, since building a part reads and uploads rather than applies) writes its part,
//! JSON and files, into the platform's JetStream object store (`<prefix>-exports`), never
//! inside a NATS message; users assembles the parts into one zip archive there.
//!
//! A context's part is, unless it says otherwise ([`super::context::BoundedContext::export`]),
//! every record of its store that names the person ([`records_naming`]), by record kind:
//! complete by construction, as erasure is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{consumer, object_store};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::bus::Bus;
use super::envelope::{DomainEvent, Envelope};
use super::error::ApiResult;
use super::storage::Store;

/// A person asked for a copy of their data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExportRequested {
    pub export_id: String,
    pub user_id: String,
}
impl DomainEvent for ExportRequested {
    const CONTEXT: &'static str = "users";
    const TYPE: &'static str = "ExportRequested";
}

/// One context's part of an export.
#[derive(Debug, Default)]
pub struct Part {
    pub data: serde_json::Value,
    /// Files that go into the archive as they are, under `<context>/<name>`.
    pub files: Vec<PartFile>,
}

#[derive(Debug)]
pub struct PartFile {
    pub name: String,
    pub path: PathBuf,
}

/// How a context builds its part, for a person, from its store (and files under the
/// data directory).
pub type Exporter = fn(&Store, &Path, &str) -> ApiResult<Part>;

/// The default part: every record naming the person, grouped by record kind (the key
/// prefix; each context's storage documents its kinds), with its key and value.
pub fn records_naming(store: &Store, _data_dir: &Path, user: &str) -> ApiResult<Part> {
    let mut kinds: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for named in super::erasure::records_naming(store, user)? {
        let prefix = String::from_utf8_lossy(named.prefix()).into_owned();
        let rest = String::from_utf8_lossy(named.key.get(prefix.len()..).unwrap_or_default());
        kinds.entry(prefix).or_default().push(serde_json::json!({
            "key": rest,
            "value": named.value,
        }));
    }
    Ok(Part {
        data: serde_json::to_value(kinds).unwrap_or_default(),
        files: Vec::new(),
    })
}

/// How long exports are kept in the object store (the archive is downloadable for
/// [`ARCHIVE_DAYS`]; the bucket forgets everything a day later).
pub const ARCHIVE_DAYS: i64 = 7;

/// The platform's export bucket, created on first use.
pub async fn bucket(bus: &Bus) -> anyhow::Result<object_store::ObjectStore> {
    let name = format!("{}-exports", bus.settings.prefix);
    if let Ok(store) = bus.js.get_object_store(&name).await {
        return Ok(store);
    }
    let config = object_store::Config {
        bucket: name,
        description: Some("GDPR exports: parts and archives".into()),
        max_age: Duration::from_secs((ARCHIVE_DAYS as u64 + 1) * 86_400),
        num_replicas: bus.settings.replicas,
        ..Default::default()
    };
    Ok(bus.js.create_object_store(config).await?)
}

/// The object holding `context`'s part of an export.
pub fn part_object(export_id: &str, context: &str) -> String {
    format!("{export_id}/{context}.json")
}

/// The object holding a file of `context`'s part.
pub fn file_object(export_id: &str, context: &str, name: &str) -> String {
    format!("{export_id}/{context}/{name}")
}

/// The object holding the assembled archive.
pub fn archive_object(export_id: &str) -> String {
    format!("{export_id}/archive.zip")
}

/// Runs `context`'s export worker until shutdown: builds and uploads its part of every
/// export asked for from now on (an export asked for before the worker first ran is not
/// this context's to answer: users assembles what came, after a while).
pub async fn run_worker(
    context: &'static str,
    store: Store,
    data_dir: PathBuf,
    bus: Bus,
    exporter: Exporter,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            result = work(context, &store, &data_dir, &bus, exporter) => {
                if let Err(e) = result {
                    tracing::warn!(context, error = %e, "export worker failed, restarting");
                }
            }
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn work(
    context: &'static str,
    store: &Store,
    data_dir: &Path,
    bus: &Bus,
    exporter: Exporter,
) -> anyhow::Result<()> {
    let stream = bus.ensure_stream().await?;
    let config = consumer::pull::Config {
        durable_name: Some(format!("{context}-export")),
        filter_subject: bus.subject(ExportRequested::CONTEXT, ExportRequested::TYPE),
        deliver_policy: consumer::DeliverPolicy::New,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(600),
        ..Default::default()
    };
    let consumer = stream.create_consumer(config).await?;
    let objects = bucket(bus).await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        let request = serde_json::from_slice::<Envelope>(&message.payload)
            .ok()
            .and_then(|e| e.decode_logged::<ExportRequested>());
        if let Some(request) = request {
            let (s, dir) = (store.clone(), data_dir.to_path_buf());
            let user = request.user_id.clone();
            let part = tokio::task::spawn_blocking(move || exporter(&s, &dir, &user)).await??;
            upload(&objects, context, &request.export_id, part).await?;
            tracing::info!(context, export = %request.export_id, "export part written");
        }
        message
            .ack()
            .await
            .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
    }
    Ok(())
}

/// Uploads the files first, then the JSON: the JSON's presence says the part is whole.
async fn upload(
    objects: &object_store::ObjectStore,
    context: &str,
    export_id: &str,
    part: Part,
) -> anyhow::Result<()> {
    for file in &part.files {
        let mut f = tokio::fs::File::open(&file.path).await?;
        objects
            .put(file_object(export_id, context, &file.name).as_str(), &mut f)
            .await?;
    }
    let json = serde_json::to_vec_pretty(&part.data)?;
    objects
        .put(
            part_object(export_id, context).as_str(),
            &mut json.as_slice(),
        )
        .await?;
    Ok(())
}
