//! Assembling exports: once every context's part is in the object store (or a while has
//! passed), the parts and their files become one zip archive there, with a manifest; the
//! parts are deleted and the person is told (`ExportReady`).

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::object_store::ObjectStore;
use futures::StreamExt as _;

use crate::platform::bus::Bus;
use crate::platform::context::Context;
use crate::platform::export::objects::bucket;
use crate::platform::export::{archive_object, part_object};
use crate::platform::storage::Store;
use crate::platform::unix_now;

use super::storage::exports::{self, Export};

/// How long an export waits for parts that do not come (a context not deployed, or down)
/// before it is assembled without them.
const WAIT_FOR_PARTS_SECS: i64 = 600;

/// Runs until shutdown: assembles each export being prepared when its parts are in.
pub async fn assemble_exports(
    store: Store,
    bus: Bus,
    scratch: PathBuf,
    wake: Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut objects: Option<ObjectStore> = None;
    let mut discards = exports::watch_discards(&store);
    loop {
        let pending = exports::preparing(&store).unwrap_or_default();
        let discard = exports::to_discard(&store).unwrap_or_default();
        if !pending.is_empty() || !discard.is_empty() {
            if objects.is_none() {
                objects = bucket(&bus).await.ok();
            }
            if let Some(objects) = &objects {
                for id in &discard {
                    if let Err(err) = discard_objects(&store, objects, id).await {
                        tracing::warn!(export = %id, error = %err, "erased export not deleted; retried");
                    }
                }
                for e in &pending {
                    if let Err(err) = assemble(&store, objects, &scratch, e).await {
                        tracing::warn!(export = %e.id, error = %err, "export not assembled; retried");
                    }
                }
            }
        }
        let idle = if pending.is_empty() { 60_000 } else { 250 };
        tokio::select! {
            _ = wake.notified() => {}
            true = discards.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(idle)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Assembles `e` if its parts are in (or it waited long enough).
async fn assemble(
    store: &Store,
    objects: &ObjectStore,
    scratch: &Path,
    e: &Export,
) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for context in Context::ALL.map(|c| c.name()) {
        if objects.info(part_object(&e.id, context)).await.is_err() {
            missing.push(context.to_string());
        }
    }
    if !missing.is_empty() && unix_now() - e.requested_at < WAIT_FOR_PARTS_SECS {
        return Ok(());
    }
    let dir = scratch.join(&e.id);
    let names = fetch_parts(objects, &e.id, &dir).await?;
    let manifest = serde_json::json!({
        "export_id": e.id,
        "user_id": e.user_id,
        "requested_at": crate::platform::http::rfc3339(e.requested_at),
        "parts": Context::ALL.map(|c| c.name()).iter().filter(|c| !missing.iter().any(|m| m == *c)).collect::<Vec<_>>(),
        "missing": missing,
        "about": "One JSON file per context: every record it holds that names you, by record kind (see docs/api.md, \"Exporting your data\"); media/ holds your uploaded files as stored.",
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    let zip_path = scratch.join(format!("{}.zip", e.id));
    let (from, to) = (dir.clone(), zip_path.clone());
    tokio::task::spawn_blocking(move || zip_dir(&from, &to)).await??;
    let size = std::fs::metadata(&zip_path)?.len();
    let mut file = tokio::fs::File::open(&zip_path).await?;
    objects
        .put(archive_object(&e.id).as_str(), &mut file)
        .await?;
    for name in names {
        let _ = objects.delete(&name).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&zip_path);
    exports::export_ready(store, e, size, missing, unix_now()).await?;
    tracing::info!(export = %e.id, size, "export ready");
    Ok(())
}

/// Deletes every object of an erased person's export, then forgets it.
async fn discard_objects(
    store: &Store,
    objects: &ObjectStore,
    export_id: &str,
) -> anyhow::Result<()> {
    for name in object_names(objects, export_id, true).await? {
        objects.delete(&name).await?;
    }
    exports::discarded(store, export_id).await?;
    Ok(())
}

/// The names of an export's objects (the archive too, when `archive`).
async fn object_names(
    objects: &ObjectStore,
    export_id: &str,
    archive: bool,
) -> anyhow::Result<Vec<String>> {
    let prefix = format!("{export_id}/");
    let mut names = Vec::new();
    let mut list = objects.list().await?;
    while let Some(info) = list.next().await {
        let info = info?;
        let wanted = archive || info.name != archive_object(export_id);
        if info.name.starts_with(&prefix) && !info.deleted && wanted {
            names.push(info.name);
        }
    }
    Ok(names)
}

/// Downloads every object of the export into `dir`; returns their names.
async fn fetch_parts(
    objects: &ObjectStore,
    export_id: &str,
    dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let prefix = format!("{export_id}/");
    let names = object_names(objects, export_id, false).await?;
    for name in &names {
        let relative = Path::new(name.strip_prefix(&prefix).unwrap_or(name));
        // Names are ours, but a path never leaves the scratch directory.
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            anyhow::bail!("refusing object name {name:?}");
        }
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let mut object = objects.get(name).await?;
        let mut file = tokio::fs::File::create(&path).await?;
        tokio::io::copy(&mut object, &mut file).await?;
    }
    Ok(names)
}

/// Zips every file under `dir` (JSON compressed, media stored as is).
fn zip_dir(dir: &Path, to: &Path) -> anyhow::Result<()> {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(to)?);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
            let method = if name.ends_with(".json") {
                zip::CompressionMethod::Deflated
            } else {
                zip::CompressionMethod::Stored
            };
            let options = zip::write::SimpleFileOptions::default().compression_method(method);
            zip.start_file(name, options)?;
            std::io::copy(&mut std::fs::File::open(&path)?, &mut zip)?;
        }
    }
    zip.finish()?.flush()?;
    Ok(())
}
