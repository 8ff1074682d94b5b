//! `agora-node restore`: a backup back into a data directory no node runs on, and its
//! event stream and keys back on the platform's bus.
//!
//! Nothing in the data directory or on the bus changes until every part has been
//! downloaded and its size and SHA-256 checked against the manifest. Then the keys and
//! the event stream go back on the bus ([`super::stream::republish`]), each snapshot is
//! read whole into a new store beside the old ones (`<data-dir>/.restore-<id>/`), and
//! only then is each context's directory replaced by its restored one, the old one kept
//! aside until all are in place.

use std::path::{Path, PathBuf};

use super::files;
use super::manifest::{self, Manifest};
use super::stream::republish;
use super::target::Target;
use crate::platform::bus::Bus;
use crate::platform::keyring::PlatformKey;
use crate::platform::sealed_files::{self, FileSealer};
use crate::platform::storage::Sealer;
use crate::platform::storage::sealing::Resealing;
use crate::platform::storage::snapshot::{self, Restored};

/// What to restore, and where.
pub struct Request {
    pub target: Target,
    /// The backup's id; `None`: the newest complete one.
    pub backup: Option<String>,
    pub data_dir: PathBuf,
    /// The contexts to restore; `None`: every context the backup holds.
    pub contexts: Option<Vec<String>>,
    /// The platform's bus, to put the event stream and keys back on; `None`: the stores
    /// only (they then replay whatever stream they find).
    pub bus: Option<Bus>,
    /// The platform's key, which the stores are sealed with.
    pub encryption_key: Option<PlatformKey>,
    /// The key of the platform the backup was taken of, when it is another's: the stores'
    /// values are opened with it and sealed again with this platform's.
    pub source_encryption_key: Option<PlatformKey>,
}

/// Restores and returns the manifest of the backup restored.
pub async fn restore(request: &Request) -> anyhow::Result<Manifest> {
    let manifest = chosen(request).await?;
    let parts: Vec<_> = manifest
        .parts
        .iter()
        .filter(|p| {
            request
                .contexts
                .as_ref()
                .is_none_or(|c| c.contains(&p.context))
        })
        .cloned()
        .collect();
    if let Some(asked) = &request.contexts {
        for context in asked {
            anyhow::ensure!(
                parts.iter().any(|p| &p.context == context),
                "backup {} holds no {context}",
                manifest.id
            );
        }
    }
    std::fs::create_dir_all(&request.data_dir)?;
    refuse_live_stores(&request.data_dir, &parts)?;
    let staging = request.data_dir.join(format!(".restore-{}", manifest.id));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let staged = stage(request, &manifest, &parts, &staging).await;
    let outcome = match staged {
        Ok(()) => put_in_place(&request.data_dir, &staging, &parts),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_dir_all(&staging);
    outcome.map(|()| manifest)
}

/// The manifest of the backup asked for, or of the newest complete one.
async fn chosen(request: &Request) -> anyhow::Result<Manifest> {
    let target = &request.target;
    let manifest = match &request.backup {
        Some(id) => {
            let bytes = target
                .get(&format!("{id}/{}", manifest::NAME))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no complete backup {id} in {}", target.url))?;
            serde_json::from_slice::<Manifest>(&bytes)
                .map_err(|e| anyhow::anyhow!("backup {id}: its manifest cannot be read: {e}"))?
        }
        None => super::list(target)
            .await?
            .0
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no complete backup in {}", target.url))?,
    };
    anyhow::ensure!(
        manifest.format == manifest::FORMAT,
        "backup {}: manifest format {} is not {}, the one this build reads",
        manifest.id,
        manifest.format,
        manifest::FORMAT
    );
    Ok(manifest)
}

/// Downloads and checks every part, and reads each into a new store under `staging`.
async fn stage(
    request: &Request,
    manifest: &Manifest,
    parts: &[manifest::Part],
    staging: &Path,
) -> anyhow::Result<()> {
    for part in parts {
        let file = staging.join(&part.object);
        let got = request
            .target
            .download(&format!("{}/{}", manifest.id, part.object), &file)
            .await
            .map_err(|e| anyhow::anyhow!("backup {}: {}: {e}", manifest.id, part.object))?;
        anyhow::ensure!(
            got.bytes == part.bytes && got.sha256 == part.sha256,
            "backup {}: {} is damaged: {} bytes with SHA-256 {}, the manifest says {} bytes with {}; nothing was restored",
            manifest.id,
            part.object,
            got.bytes,
            got.sha256,
            part.bytes,
            part.sha256
        );
    }
    for part in parts {
        stage_files(request, part, staging).await?;
    }
    let stream_created = match &request.bus {
        Some(bus) => restore_streams(bus, &request.target, manifest, staging).await?,
        None => None,
    };
    for part in parts {
        let (file, store) = (staging.join(&part.object), staging.join(&part.context));
        let restored = Restored {
            backup: manifest.id.clone(),
            // The stream the restore filled, else the one the snapshot was taken against.
            stream_created: stream_created
                .clone()
                .or_else(|| part.stream_created.clone()),
        };
        let expected = part.snapshot.clone();
        let reseal = resealing(request, &part.context)?;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let input = std::fs::File::open(&file)?;
            let info = snapshot::restore(&store, input, Some(&restored), reseal.as_ref())?;
            anyhow::ensure!(
                info == expected,
                "the snapshot holds {info:?}, the manifest says {expected:?}"
            );
            std::fs::remove_file(&file)?;
            Ok(())
        })
        .await??;
    }
    Ok(())
}

/// How `context`'s values are sealed again, when the backup is of another platform.
fn resealing(request: &Request, context: &str) -> anyhow::Result<Option<Resealing>> {
    let Some(source) = &request.source_encryption_key else {
        return Ok(None);
    };
    let target = request.encryption_key.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "a source platform's key is given but not this platform's (AGORA_ENCRYPTION_KEY)"
        )
    })?;
    Ok(Some(Resealing {
        from: Sealer::new(source, context),
        to: Sealer::new(target, context),
    }))
}

/// Downloads and checks the backup's copies of the streams, then puts the keys and the
/// events back on the bus; returns the creation time of the event stream the restored
/// snapshots count in (`None`: the bus holds another stream, which they replay whole).
async fn restore_streams(
    bus: &Bus,
    target: &Target,
    manifest: &Manifest,
    staging: &Path,
) -> anyhow::Result<Option<String>> {
    let (Some(events), keys) = (&manifest.events, &manifest.keys) else {
        return Ok(None);
    };
    let event_files = republish::stage(target, events, &staging.join("stream-events")).await?;
    let key_files = match keys {
        Some(keys) => republish::stage(target, keys, &staging.join("stream-keys")).await?,
        None => Vec::new(),
    };
    // Keys first: a context that starts on the restored stream opens its events with them.
    republish::keys(bus, &key_files).await?;
    republish::events(bus, events, &event_files).await
}

/// What opens `context`'s sealed files from the backup (the source platform's key, else
/// this one's), and what seals them here (this platform's key; `None`: kept plain).
fn file_sealers(request: &Request, context: &str) -> (Option<FileSealer>, Option<FileSealer>) {
    let opens = request
        .source_encryption_key
        .as_ref()
        .or(request.encryption_key.as_ref())
        .map(|key| FileSealer::new(key, context));
    let seals = request
        .encryption_key
        .as_ref()
        .map(|key| FileSealer::new(key, context));
    (opens, seals)
}

/// Makes the staged file at `path` as this platform stores it (sealed with its key, or
/// plain without one), and returns the SHA-256 of its content. Blocking.
fn reform(
    path: &Path,
    sealed: bool,
    another_platform: bool,
    (opens, seals): &(Option<FileSealer>, Option<FileSealer>),
) -> anyhow::Result<String> {
    let rewritten = (sealed && another_platform) || sealed != seals.is_some();
    let sha256 = if rewritten {
        let scratch = path.with_extension("scratch");
        sealed_files::rewrite(path, &scratch, opens.as_ref(), seals.as_ref())
    } else {
        sealed_files::content_sha256(path, opens.as_ref())
    };
    // A block that does not open: changed, or sealed under a key not given.
    sha256.map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => anyhow::anyhow!(
            "{e}: the file is damaged, or was sealed by another platform whose key was not given as AGORA_RESTORE_SOURCE_ENCRYPTION_KEY; nothing was restored"
        ),
        _ => e.into(),
    })
}

/// Downloads the part's files into `staging`, each checked against its name once opened,
/// and sealed as this platform seals its files.
async fn stage_files(
    request: &Request,
    part: &manifest::Part,
    staging: &Path,
) -> anyhow::Result<()> {
    let dir = files::dir(staging, &part.context);
    for file in &part.files {
        anyhow::ensure!(
            files::is_sha256(&file.sha256),
            "{}: a file named {:?}",
            part.context,
            file.sha256
        );
        let to = files::path(&dir, &file.sha256);
        if let Some(shard) = to.parent() {
            std::fs::create_dir_all(shard)?;
        }
        let got = request.target.download(&file.object(), &to).await?;
        let (sealed, another) = (
            file.sealed.is_some(),
            request.source_encryption_key.is_some(),
        );
        let sealers = file_sealers(request, &part.context);
        let content = tokio::task::spawn_blocking(move || reform(&to, sealed, another, &sealers))
            .await?
            .map_err(|e| anyhow::anyhow!("{}: file {}: {e}", part.context, file.sha256))?;
        anyhow::ensure!(
            content == file.sha256 && got.bytes == file.bytes,
            "{}: file {} is damaged, or was sealed by another platform whose key was not given as AGORA_RESTORE_SOURCE_ENCRYPTION_KEY ({} bytes, its content with SHA-256 {content}); nothing was restored",
            part.context,
            file.sha256,
            got.bytes,
        );
    }
    Ok(())
}

/// Moves the staged files of `context` into the data directory (those already there
/// stay: same name, same bytes).
fn place_files(data_dir: &Path, staging: &Path, context: &str) -> anyhow::Result<()> {
    let (from, to) = (files::dir(staging, context), files::dir(data_dir, context));
    for file in files::list(&from)? {
        let target = files::path(&to, &file.sha256);
        if target.exists() {
            continue;
        }
        if let Some(shard) = target.parent() {
            std::fs::create_dir_all(shard)?;
        }
        std::fs::rename(files::path(&from, &file.sha256), target)?;
    }
    Ok(())
}

/// Refuses a store that a running node holds (sled locks its directory).
fn refuse_live_stores(data_dir: &Path, parts: &[manifest::Part]) -> anyhow::Result<()> {
    for part in parts {
        let live = data_dir.join(&part.context);
        if live.exists() {
            sled::Config::new().path(&live).open().map_err(|e| {
                anyhow::anyhow!("{} is in use (stop the node first): {e}", live.display())
            })?;
        }
    }
    Ok(())
}

/// Replaces each context's store by its staged one.
fn put_in_place(data_dir: &Path, staging: &Path, parts: &[manifest::Part]) -> anyhow::Result<()> {
    let aside = staging.join("replaced");
    std::fs::create_dir_all(&aside)?;
    for part in parts {
        let live = data_dir.join(&part.context);
        if live.exists() {
            std::fs::rename(&live, aside.join(&part.context))?;
        }
        std::fs::rename(staging.join(&part.context), &live)?;
        place_files(data_dir, staging, &part.context)?;
        // A context's index beside its store (search's Tantivy index) is derived from the
        // store: it goes, and is made anew from the restored documents at start.
        let index = data_dir.join(format!("{}-index", part.context));
        if index.exists() {
            std::fs::remove_dir_all(index)?;
        }
        tracing::info!(context = %part.context, "restored");
    }
    Ok(())
}
