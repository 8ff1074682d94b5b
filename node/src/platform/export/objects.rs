//! The export bucket in JetStream's object store, and the worker every context runs to
//! write its parts there.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{consumer, object_store};
use futures::StreamExt as _;

use super::super::bus::Bus;
use super::super::envelope::{DomainEvent, Envelope};
use super::super::sealed_files::{FileSealer, PlainFile};
use super::super::storage::Store;
use super::{ARCHIVE_DAYS, ExportRequested, Exporter, Part, file_object, part_object};

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

/// Runs `context`'s export worker until shutdown: builds and uploads its part of every
/// export asked for from now on (an export asked for before the worker first ran is not
/// this context's to answer: users assembles what came, after a while).
pub async fn run_worker(
    context: &'static str,
    store: Store,
    data_dir: PathBuf,
    bus: Bus,
    exporter: Exporter,
    files: Option<FileSealer>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let worker = Worker {
        context,
        store,
        data_dir,
        bus,
        exporter,
        files,
    };
    loop {
        tokio::select! {
            result = worker.work() => {
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

/// One context's export worker.
struct Worker {
    context: &'static str,
    store: Store,
    data_dir: PathBuf,
    bus: Bus,
    exporter: Exporter,
    /// Opens the context's sealed files.
    files: Option<FileSealer>,
}

impl Worker {
    async fn work(&self) -> anyhow::Result<()> {
        let Worker {
            context,
            store,
            data_dir,
            bus,
            exporter,
            ..
        } = self;
        let (context, exporter) = (*context, *exporter);
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
                self.upload(&objects, &request.export_id, part).await?;
                tracing::info!(context, export = %request.export_id, "export part written");
            }
            message
                .ack()
                .await
                .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        Ok(())
    }

    /// Uploads the files first (their content: opened when sealed), then the JSON: the
    /// JSON's presence says the part is whole.
    async fn upload(
        &self,
        objects: &object_store::ObjectStore,
        export_id: &str,
        part: Part,
    ) -> anyhow::Result<()> {
        let context = self.context;
        for file in &part.files {
            let (path, sealer) = (file.path.clone(), self.files.clone());
            let content =
                tokio::task::spawn_blocking(move || PlainFile::open(&path, sealer.as_ref()))
                    .await??;
            let len = content.len();
            let mut f = tokio_util::io::StreamReader::new(content.chunks(0, len)?);
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
}
