//! Backups of a running platform and restores into stopped data directories.
//!
//! A backup is one folder per run on a [`target::Target`] (`<target>/<id>/`): one
//! compressed snapshot per context ([`crate::platform::storage::snapshot`]) and a
//! [`manifest::Manifest`] written last, with each part's size and SHA-256. Each context's
//! process writes its own snapshot (it alone may open its store) and hands it over its
//! control channel (`GET /ops/snapshot/{context}`); `agora-node backup` fetches them one
//! after the other and writes them to the target, so only the backup job holds the
//! target's credentials. Writes to a context wait while its store is read, and fail none.
//!
//! A restore ([`restore`]) checks every part before it touches a data directory, then
//! puts the snapshots in place of the contexts' stores. Each restored context then
//! replays the event stream from its snapshot's applied floor (its consumer is made
//! anew from there), and a replicated context follows its change stream from the
//! snapshot's place: the platform comes back to the newest state the streams hold.
//! The event stream and the per-person keys are copied too, after the snapshots
//! ([`stream`]), and a restore puts them back on the bus first. Search's Tantivy index is
//! not in a backup: it is made from search's documents, which are, when search starts on
//! a restored store.

pub mod files;
pub mod manifest;
pub mod restore;
pub mod stream;
pub mod target;

use std::io::Write as _;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use self::manifest::{Manifest, Part};
use self::stream::Which;
use self::target::Target;
use super::error::ApiError;
use super::storage::snapshot::SnapshotInfo;

/// The header carrying a snapshot's [`SnapshotInfo`] (JSON).
pub const SNAPSHOT_HEADER: &str = "agora-snapshot";
/// The header carrying the creation time of the event stream the snapshot counts in.
pub const STREAM_HEADER: &str = "agora-stream-created";

/// The control routes of backups: `GET /ops/snapshot/{context}` answers with a snapshot
/// of the context's store, `GET /ops/files/{context}` lists its content-addressed files
/// ([`files`]) and `GET /ops/files/{context}/{sha256}` sends one; `GET /ops/contexts`
/// names the contexts this process runs.
pub fn routes(platform: super::Platform) -> axum::Router {
    let guard = axum::middleware::from_fn_with_state(
        platform.control.clone(),
        super::control::Control::guard,
    );
    axum::Router::new()
        .route("/ops/contexts", axum::routing::get(contexts))
        .route("/ops/snapshot/{context}", axum::routing::get(snapshot))
        .route("/ops/files/{context}", axum::routing::get(list_files))
        .route("/ops/files/{context}/{sha256}", axum::routing::get(file))
        .route(
            "/ops/streams/{which}",
            axum::routing::get(stream::stream_extent),
        )
        .route(
            "/ops/streams/{which}/messages",
            axum::routing::get(stream::stream_messages),
        )
        .route_layer(guard)
        .with_state(platform)
}

/// The names of the contexts this process runs.
async fn contexts(State(platform): State<super::Platform>) -> axum::Json<Vec<&'static str>> {
    axum::Json(platform.running().iter().map(|r| r.name).collect())
}

/// Writes the snapshot to a file beside the stores (so the store is held only while it
/// is read, not while a slow client takes it), then sends the file.
async fn snapshot(
    State(platform): State<super::Platform>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let running = platform.running_named(&name)?;
    let dir = platform.data_dir.join(".snapshots");
    let path = dir.join(format!("{name}-{}.gz", super::new_id()));
    let store = running.store.clone();
    let written = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
        let file = std::fs::File::create(&path).map_err(ApiError::internal)?;
        let mut out = std::io::BufWriter::new(file);
        let info = store.write_snapshot(&dir, &mut out);
        let flushed = out.flush();
        // Opened before it is unlinked: the file lives as long as the answer reads it.
        let reopened = std::fs::File::open(&path);
        let _ = std::fs::remove_file(&path);
        flushed.map_err(ApiError::internal)?;
        Ok((reopened.map_err(ApiError::internal)?, info?))
    })
    .await
    .map_err(ApiError::internal)?;
    let (file, info) = written?;
    let stream_created = platform.bus.stream_created().await;
    tracing::info!(
        context = running.name,
        keys = info.keys,
        lsn = info.lsn,
        "snapshot taken"
    );
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let value = |v: String| axum::http::HeaderValue::try_from(v).map_err(ApiError::internal);
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/gzip"),
    );
    let info = serde_json::to_string(&info).map_err(ApiError::internal)?;
    headers.insert(SNAPSHOT_HEADER, value(info)?);
    if let Some(created) = stream_created {
        headers.insert(STREAM_HEADER, value(created)?);
    }
    Ok(response)
}

async fn list_files(
    State(platform): State<super::Platform>,
    Path(name): Path<String>,
) -> Result<axum::Json<Vec<files::FileRef>>, ApiError> {
    let running = platform.running_named(&name)?;
    let dir = files::dir(&platform.data_dir, running.name);
    let listed = tokio::task::spawn_blocking(move || files::list(&dir))
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(listed.map_err(ApiError::internal)?))
}

async fn file(
    State(platform): State<super::Platform>,
    Path((name, sha256)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let running = platform.running_named(&name)?;
    if !files::is_sha256(&sha256) {
        return Err(ApiError::NotFound(format!("no file {sha256}")));
    }
    let path = files::path(&files::dir(&platform.data_dir, running.name), &sha256);
    // As stored (sealed ones stay sealed), checked against its name as it goes: the
    // backup cannot check a sealed file, having no key.
    let sealer = platform.file_sealer(running.name);
    let name = sha256.clone();
    let opened = tokio::task::spawn_blocking(move || {
        crate::platform::sealed_files::stored_chunks_checked(&path, sealer.as_ref(), &name)
    })
    .await
    .map_err(ApiError::internal)?;
    match opened {
        Ok(chunks) => Ok(Body::from_stream(chunks).into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ApiError::NotFound(format!("no file {sha256}")))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Where `agora-node backup` takes each context's snapshot from: its name and the base
/// URL of a process running it.
#[derive(Debug, Clone)]
pub struct Source {
    pub context: &'static str,
    pub url: String,
}

impl Source {
    /// The control route `/ops/<what>/<context>` of the process.
    fn ops(&self, what: &str) -> String {
        format!(
            "{}/ops/{what}/{}",
            self.url.trim_end_matches('/'),
            self.context
        )
    }
}

/// What `agora-node backup` is asked for.
pub struct Plan {
    pub platform: String,
    pub sources: Vec<Source>,
    pub target: Target,
    /// The control token, for processes that are not on loopback.
    pub token: Option<String>,
    /// Retention: keep the newest N, keep those younger than D days (the newest always).
    pub keep: Option<usize>,
    pub keep_days: Option<u32>,
    /// Reaches the sources (trusting the platform's CA).
    pub client: reqwest::Client,
}

/// Takes a backup: each source's snapshot to the target, then the manifest; then removes
/// what retention lets go. Returns the manifest written.
pub async fn take(plan: &Plan) -> anyhow::Result<Manifest> {
    let created_at = time::OffsetDateTime::now_utc();
    let id = manifest::id_for(created_at);
    anyhow::ensure!(
        plan.target
            .get(&format!("{id}/{}", manifest::NAME))
            .await?
            .is_none(),
        "a backup {id} already exists in {}",
        plan.target.url
    );
    let client = plan.client.clone();
    let mut parts = Vec::new();
    for source in &plan.sources {
        parts.push(take_part(plan, &client, &id, source).await?);
    }
    // After the snapshots: the stream holds every event they had applied.
    let (events, keys) = match plan.sources.first() {
        Some(source) => {
            let earlier = list(&plan.target).await?.0;
            let take = |which| stream::take(plan, &client, &id, source, which, &earlier);
            (take(Which::Events).await?, take(Which::Keys).await?)
        }
        None => (None, None),
    };
    let manifest = Manifest {
        format: manifest::FORMAT,
        id: id.clone(),
        platform: plan.platform.clone(),
        created_at,
        agora_version: env!("CARGO_PKG_VERSION").to_string(),
        parts,
        events,
        keys,
    };
    plan.target
        .put(
            &format!("{id}/{}", manifest::NAME),
            serde_json::to_vec_pretty(&manifest)?,
        )
        .await?;
    prune(plan, created_at).await?;
    Ok(manifest)
}

async fn take_part(
    plan: &Plan,
    client: &reqwest::Client,
    id: &str,
    source: &Source,
) -> anyhow::Result<Part> {
    let url = source.ops("snapshot");
    let response = control_get(plan, client, &url).send().await?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("{url}: {status}: {body}");
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let info: SnapshotInfo = serde_json::from_str(
        &header(SNAPSHOT_HEADER).ok_or_else(|| anyhow::anyhow!("{url}: no {SNAPSHOT_HEADER}"))?,
    )?;
    let stream_created = header(STREAM_HEADER);
    let object = format!("{}.snapshot.gz", source.context);
    let written = plan
        .target
        .put_stream(&format!("{id}/{object}"), response.bytes_stream())
        .await?;
    tracing::info!(
        context = source.context,
        bytes = written.bytes,
        keys = info.keys,
        "snapshot stored"
    );
    // Listed after the snapshot: every file it names is there (files go only once no
    // record has named them for a grace period).
    let files = take_files(plan, client, source).await?;
    Ok(Part {
        files,
        context: source.context.to_string(),
        object,
        bytes: written.bytes,
        sha256: written.sha256,
        snapshot: info,
        stream_created,
    })
}

/// Copies what a control route answers into the target's object `name`.
async fn fetch_into(
    plan: &Plan,
    client: &reqwest::Client,
    url: &str,
    name: &str,
) -> anyhow::Result<target::Written> {
    let response = control_get(plan, client, url)
        .send()
        .await?
        .error_for_status()?;
    plan.target.put_stream(name, response.bytes_stream()).await
}

fn control_get(plan: &Plan, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
    let request = client.get(url);
    match &plan.token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// Stores the source's content-addressed files the target does not hold yet, and returns
/// them all.
async fn take_files(
    plan: &Plan,
    client: &reqwest::Client,
    source: &Source,
) -> anyhow::Result<Vec<files::FileRef>> {
    let base = source.ops("files");
    let listed: Vec<files::FileRef> = control_get(plan, client, &base)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut stored = 0;
    for file in &listed {
        let object = file.object();
        if plan.target.size(&object).await? == Some(file.bytes) {
            continue;
        }
        let url = format!("{base}/{}", file.sha256);
        let written = fetch_into(plan, client, &url, &object)
            .await
            .map_err(|e| anyhow::anyhow!("{}: file {}: {e:#}", source.context, file.sha256))?;
        // A sealed file's hash is its content's: the node checked it as it sent the file
        // (a damaged one ends the body in an error), and the restore checks it again
        // once it has opened it; here its size is what can be checked.
        let whole = match &file.sealed {
            None => written.sha256 == file.sha256,
            Some(_) => written.bytes == file.bytes,
        };
        if !whole {
            plan.target.remove(&object).await?;
            anyhow::bail!(
                "{}: file {} is not what was listed (its hash or size differs)",
                source.context,
                file.sha256
            );
        }
        stored += 1;
    }
    if !listed.is_empty() {
        tracing::info!(
            context = source.context,
            files = listed.len(),
            new = stored,
            "files stored"
        );
    }
    Ok(listed)
}

/// The target's folders that hold what backups share (media's files, full chunks of the
/// event stream): no backup's.
const SHARED: [&str; 2] = ["files", "events"];

/// The complete backups in the target (those with a manifest this build reads), and the
/// folders without one.
pub async fn list(target: &Target) -> anyhow::Result<(Vec<Manifest>, Vec<String>)> {
    let (mut complete, mut incomplete) = (Vec::new(), Vec::new());
    for folder in target
        .folders()
        .await?
        .into_iter()
        .filter(|f| !SHARED.contains(&f.as_str()))
    {
        match target.get(&format!("{folder}/{}", manifest::NAME)).await? {
            Some(bytes) => match serde_json::from_slice::<Manifest>(&bytes) {
                Ok(m) if m.id == folder => complete.push(m),
                _ => {
                    tracing::warn!(backup = %folder, "a manifest this build cannot read: left alone")
                }
            },
            None => incomplete.push(folder),
        }
    }
    complete.sort_by_key(|m| m.created_at);
    Ok((complete, incomplete))
}

/// Removes the backups retention lets go, and folders without a manifest (a backup that
/// failed midway) once they are a day old.
async fn prune(plan: &Plan, now: time::OffsetDateTime) -> anyhow::Result<()> {
    let (complete, incomplete) = list(&plan.target).await?;
    let expired = manifest::expired(&complete, plan.keep, plan.keep_days, now);
    for id in &expired {
        tracing::info!(backup = %id, "removing a backup retention lets go");
        plan.target.remove_folder(id).await?;
    }
    let named: std::collections::HashSet<String> = complete
        .iter()
        .filter(|m| !expired.contains(&m.id))
        .flat_map(Manifest::shared_objects)
        .collect();
    for folder in SHARED {
        for object in plan.target.objects_under(folder).await? {
            if !named.contains(&object) {
                plan.target.remove(&object).await?;
            }
        }
    }
    let a_day_ago = manifest::id_for(now - time::Duration::days(1));
    for folder in incomplete.into_iter().filter(|f| *f < a_day_ago) {
        tracing::info!(backup = %folder, "removing an incomplete backup");
        plan.target.remove_folder(&folder).await?;
    }
    Ok(())
}
