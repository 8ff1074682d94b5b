//! `rebuild`: a context's projections dropped and rebuilt by replaying the stream.
//!
//! The replay goes into a shadow store beside the live one (same sled database, trees
//! under `_rebuild/`), seeded with a copy of the context's own records so that handlers see
//! the same world they see live. A temporary consumer delivers every subscribed event from
//! the stream's first, in order. Meanwhile the live store keeps serving reads and applying
//! new events. When the shadow has caught up, the live consumer is paused (its apply gate),
//! the shadow catches up with the last few events, and one atomic sled transaction turns
//! the live projections into the shadow's (writing only the records that differ) and
//! raises the applied floor to the last replayed sequence, so the live consumer skips what
//! the replay already applied. The same steps run against a stopped data directory
//! (`agora-node rebuild` without `--node-url`).

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, DeliverPolicy};
use futures::StreamExt;
use serde::Serialize;

use super::Running;
use super::bus::{Bus, ConsumerSpec, apply_message, open_message};
use super::changes::Change;
use super::control::{Job, Started};
use super::error::ApiError;
use super::keyring::Keyring;
use super::storage::{APPLIED_FLOOR, Store, to_json};

/// What a rebuild did.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Report {
    pub context: String,
    /// Events replayed from the stream (every subscribed event, applied or not).
    pub events: u64,
    /// The stream sequence of the last replayed event: the new applied floor.
    pub last_sequence: u64,
    /// Projection records after the switch-over.
    pub records: u64,
    /// Projection records the switch-over wrote or removed: those the replay found
    /// different (zero when the projections were right).
    #[serde(default)]
    pub changed: u64,
    pub seconds: f64,
    /// `events / seconds`.
    pub events_per_second: f64,
    /// Why nothing was replayed here, when this replica follows another: the writer's
    /// rebuild reaches it through the change stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Rebuilds the projections of `context` from the stream of `bus`. Reads are served from the
/// old projections until the switch-over; consumed events are paused only for the last
/// catch-up.
pub async fn rebuild(context: &Running, bus: &Bus) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = Report {
        context: context.name.to_string(),
        ..Report::default()
    };
    if context.projections.is_empty() || context.subscriptions.is_empty() {
        tracing::info!(context = context.name, "no projections to rebuild");
        return Ok(report);
    }
    if context.store.role() != super::storage::Role::Writer {
        tracing::info!(
            context = context.name,
            "a follower: the writer's rebuild reaches it"
        );
        report.skipped = Some(
            "this replica follows the writer: the writer's rebuild reaches it through the change stream"
                .into(),
        );
        return Ok(report);
    }
    let live = &context.store;
    let shadow = live.shadow()?;
    copy_own_records(live, &shadow, context.projections)?;
    let spec = ConsumerSpec {
        context: context.name,
        subscriptions: context.subscriptions.clone(),
    };
    let stream = bus.ensure_stream().await?;
    let replay = stream
        .create_consumer(consumer::pull::Config {
            name: Some(format!("{}-rebuild-{}", context.name, super::new_id())),
            filter_subjects: spec.subscriptions.subjects(&bus.settings.prefix),
            deliver_policy: DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await?;
    catch_up(&replay, &spec, &shadow, &bus.keys, &mut report).await?;
    {
        // The live consumer waits while the last events are replayed and the switch made.
        let _paused = live.apply_gate.lock().await;
        catch_up(&replay, &spec, &shadow, &bus.keys, &mut report).await?;
        let switched = switch_over(live, &shadow, context.projections, report.last_sequence)?;
        (report.records, report.changed) = (switched.records, switched.changed);
        live.durable().await?;
    }
    let _ = stream.delete_consumer(&replay.cached_info().name).await;
    live.drop_shadow()?;
    report.seconds = started.elapsed().as_secs_f64();
    report.events_per_second = report.events as f64 / report.seconds.max(1e-9);
    tracing::info!(
        context = context.name,
        events = report.events,
        seconds = report.seconds,
        "projections rebuilt"
    );
    Ok(report)
}

fn is_projection(key: &[u8], projections: &[&str]) -> bool {
    projections.iter().any(|p| key.starts_with(p.as_bytes()))
}

/// The context's own records, copied into the shadow (handlers may read them), a batch of
/// at most [`COPIED_AT_ONCE`] at a time: no one reads the shadow yet, so the copy needs no
/// single batch, and a context owning millions of records is not held in memory at once.
fn copy_own_records(live: &Store, shadow: &Store, projections: &[&str]) -> anyhow::Result<()> {
    let mut batch = sled::Batch::default();
    let mut held = 0;
    for item in live.data.iter() {
        let (k, v) = item?;
        if !is_projection(&k, projections) && !k.starts_with(b"_/") {
            batch.insert(k, v);
            held += 1;
        }
        if held == COPIED_AT_ONCE {
            shadow.data.apply_batch(std::mem::take(&mut batch))?;
            held = 0;
        }
    }
    shadow.data.apply_batch(batch)?;
    Ok(())
}

/// Records copied into the shadow per batch.
const COPIED_AT_ONCE: usize = 10_000;

/// Replays until the temporary consumer has nothing pending.
async fn catch_up(
    replay: &consumer::Consumer<consumer::pull::Config>,
    spec: &ConsumerSpec,
    shadow: &Store,
    keys: &Keyring,
    report: &mut Report,
) -> anyhow::Result<()> {
    loop {
        let mut batch = replay
            .fetch()
            .max_messages(1_000)
            .expires(Duration::from_millis(250))
            .messages()
            .await?;
        let mut pending = 0;
        let mut got = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| anyhow::anyhow!("replay: {e}"))?;
            let info = message
                .info()
                .map_err(|e| anyhow::anyhow!("message info: {e}"))?;
            let seq = info.stream_sequence;
            pending = info.pending;
            let opened =
                open_message(keys, spec.context, &message.subject, &message.payload).await?;
            apply_message(spec, shadow, opened, seq)?;
            report.events += 1;
            report.last_sequence = report.last_sequence.max(seq);
            got += 1;
        }
        if got == 0 || pending == 0 {
            return Ok(());
        }
    }
}

/// Replaces the live projections with the shadow's and raises the applied floor, in one
/// atomic transaction that writes only what differs: a record the replay did not produce
/// is removed, one it produced differently (compared opened: sealed values differ by
/// nonce) or anew is written, an equal one is left alone. A rebuild of projections that
/// were right therefore writes almost nothing, and what watches the store (search's
/// indexer, a follower) receives only the repairs. Only the differences are held in
/// memory, not the projections (every record once was: a rebuild of search's 540,000
/// took the node to 4.3 GB resident, docs/benchmarks.md).
fn switch_over(
    live: &Store,
    shadow: &Store,
    projections: &[&str],
    last_sequence: u64,
) -> anyhow::Result<Switched> {
    let mut changes = Vec::new();
    let mut records = 0;
    for prefix in projections {
        records += differences(live, shadow, prefix.as_bytes(), &mut changes)?;
    }
    let changed = changes.len() as u64;
    let floor = live.applied_floor()?.max(last_sequence);
    changes.push(Change::data(APPLIED_FLOOR.to_vec(), Some(to_json(&floor))));
    live.write_now(|tx| changes.iter().try_for_each(|c| tx.apply(c)))?;
    live.raise_applied_floor(floor)?;
    Ok(Switched { records, changed })
}

/// What a switch-over left live.
#[derive(Debug, PartialEq)]
struct Switched {
    /// Projection records live after it.
    records: u64,
    /// Records it wrote or removed.
    changed: u64,
}

/// Appends to `changes` what turns `live`'s records under `prefix` into `shadow`'s, walking
/// both in key order at once; returns how many records `shadow` holds under it.
fn differences(
    live: &Store,
    shadow: &Store,
    prefix: &[u8],
    changes: &mut Vec<Change>,
) -> anyhow::Result<u64> {
    let (mut old, mut new) = (
        live.data.scan_prefix(prefix),
        shadow.data.scan_prefix(prefix),
    );
    let (mut o, mut n) = (old.next().transpose()?, new.next().transpose()?);
    let mut records = 0;
    loop {
        let order = match (&o, &n) {
            (None, None) => return Ok(records),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((ok, _)), Some((nk, _))) => ok.cmp(nk),
        };
        match order {
            Ordering::Less => {
                // Gone from the replay: removed.
                if let Some((key, _)) = o.take() {
                    changes.push(Change::data(key.to_vec(), None));
                }
                o = old.next().transpose()?;
            }
            Ordering::Greater => {
                // New in the replay: written.
                if let Some((key, value)) = n.take() {
                    records += 1;
                    changes.push(Change::data(key.to_vec(), Some(value.to_vec())));
                }
                n = new.next().transpose()?;
            }
            Ordering::Equal => {
                // In both: written again only if it differs.
                if let (Some((key, held)), Some((_, value))) = (o.take(), n.take()) {
                    records += 1;
                    if held != value
                        && live.opened(&key, held)? != shadow.opened(&key, value.clone())?
                    {
                        changes.push(Change::data(key.to_vec(), Some(value.to_vec())));
                    }
                }
                o = old.next().transpose()?;
                n = new.next().transpose()?;
            }
        }
    }
}

/// The rebuild routes of the control channel ([`super::control`]: loopback, or the
/// control token; the gateway never forwards `/ops/`):
/// - `POST /ops/rebuild/{context}` rebuilds a context of this process while it serves and
///   answers with the report when done (`agora-node rebuild --node-url`, inside the pod);
/// - `POST /ops/rebuilds/{context}` with `{"id"}` starts a rebuild as a job and answers 202
///   at once (the same id again: the same job); `GET /ops/rebuilds/{context}` shows the
///   last job (the operator's rebuilds, one pod at a time).
pub fn routes(platform: super::Platform) -> axum::Router {
    let guard = axum::middleware::from_fn_with_state(
        platform.control.clone(),
        super::control::Control::guard,
    );
    axum::Router::new()
        .route("/ops/rebuild/{context}", axum::routing::post(rebuild_now))
        .route(
            "/ops/rebuilds/{context}",
            axum::routing::post(start_job).get(show_job),
        )
        .route_layer(guard)
        .with_state(platform)
}

async fn run_job(
    platform: &super::Platform,
    running: &Running,
    id: &str,
) -> Result<Report, String> {
    let outcome = rebuild(running, &platform.bus)
        .await
        .map_err(|e| format!("rebuild of {} failed: {e}", running.name));
    let recorded = outcome
        .as_ref()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .map_err(Clone::clone);
    platform.control.finish(running.name, id, recorded);
    outcome
}

async fn rebuild_now(
    axum::extract::State(platform): axum::extract::State<super::Platform>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<axum::Json<Report>, ApiError> {
    let running = platform.running_named(&name)?;
    let id = super::new_id();
    platform.control.start(running.name, &id)?;
    let report = run_job(&platform, &running, &id)
        .await
        .map_err(ApiError::Internal)?;
    Ok(axum::Json(report))
}

#[derive(serde::Deserialize)]
struct JobRequest {
    id: String,
}

async fn start_job(
    axum::extract::State(platform): axum::extract::State<super::Platform>,
    axum::extract::Path(name): axum::extract::Path<String>,
    super::http::Json(request): super::http::Json<JobRequest>,
) -> Result<(axum::http::StatusCode, axum::Json<Job>), ApiError> {
    if request.id.is_empty() || request.id.len() > 200 {
        return Err(ApiError::BadRequest(
            "id must be 1 to 200 characters".into(),
        ));
    }
    let running = platform.running_named(&name)?;
    if let Started::New = platform.control.start(running.name, &request.id)? {
        let (platform, id) = (platform.clone(), request.id.clone());
        tokio::spawn(async move {
            if let Err(e) = run_job(&platform, &running, &id).await {
                tracing::warn!(context = running.name, job = %id, error = %e, "rebuild job failed");
            }
        });
    }
    let job = platform
        .control
        .job(&name)
        .ok_or_else(|| ApiError::Internal("a started job is gone".into()))?;
    Ok((axum::http::StatusCode::ACCEPTED, axum::Json(job)))
}

async fn show_job(
    axum::extract::State(platform): axum::extract::State<super::Platform>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<axum::Json<Job>, ApiError> {
    let running = platform.running_named(&name)?;
    platform
        .control
        .job(running.name)
        .map(axum::Json)
        .ok_or_else(|| ApiError::NotFound(format!("no rebuild of {name} was asked for")))
}

/// Asks the node at `node_url` to rebuild `context`, and returns its report.
pub async fn request(
    client: &reqwest::Client,
    node_url: &str,
    context: &str,
) -> anyhow::Result<Report> {
    let url = format!("{}/ops/rebuild/{context}", node_url.trim_end_matches('/'));
    let response = client.post(&url).send().await?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status.is_success(), "{url}: {status}: {body}");
    Ok(serde_json::from_str(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::keyring::PlatformKey;
    use crate::platform::storage::Sealer;

    fn put(store: &Store, rows: &[(&str, &str)]) {
        store
            .write_now(|tx| {
                rows.iter()
                    .try_for_each(|(k, v)| tx.put_raw(k.as_bytes(), v.as_bytes()))
            })
            .unwrap();
    }

    fn rows(store: &Store, prefix: &str) -> Vec<(String, String)> {
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        store
            .records_under(prefix.as_bytes())
            .map(|r| r.map(|(k, v)| (text(&k), text(&v))).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_switch_over_writes_only_what_the_replay_found_different() {
        let dir = tempfile::tempdir().unwrap();
        let key = PlatformKey::from_setting(&PlatformKey::generate()).unwrap();
        let live = Store::open(dir.path())
            .unwrap()
            .sealed_with(Some(Sealer::new(&key, "search")))
            .unwrap();
        let shadow = live.shadow().unwrap();
        put(
            &live,
            &[
                ("d/changed", "old"),
                ("d/same", "1"),
                ("d/stale", "x"),
                ("own", "mine"),
            ],
        );
        put(
            &shadow,
            &[("d/changed", "new"), ("d/new", "y"), ("d/same", "1")],
        );
        let mut watched = live.watch(b"d/");

        let switched = switch_over(&live, &shadow, &["d/"], 42).unwrap();

        assert_eq!(
            switched,
            Switched {
                records: 3,
                changed: 3
            }
        );
        let expected = [("d/changed", "new"), ("d/new", "y"), ("d/same", "1")];
        let expected: Vec<_> = expected.map(|(k, v)| (k.into(), v.into())).into();
        assert_eq!(rows(&live, "d/"), expected);
        assert_eq!(rows(&live, "own"), [("own".into(), "mine".into())]);
        assert_eq!(live.applied_floor().unwrap(), 42);
        // What watches the store sees the three repairs, not the record that was right
        // (sealed twice, its stored bytes differ all the same).
        put(&live, &[("d/zz", "marker")]);
        let mut seen = Vec::new();
        while let Some(event) = watched.next().await {
            match event.key().as_ref() {
                b"d/zz" => break,
                key => seen.push(String::from_utf8(key.to_vec()).unwrap()),
            }
        }
        seen.sort();
        assert_eq!(seen, ["d/changed", "d/new", "d/stale"]);
        // Projections that are right: nothing written.
        put(&shadow, &[("d/zz", "marker")]);
        let again = switch_over(&live, &shadow, &["d/"], 43).unwrap();
        assert_eq!(
            again,
            Switched {
                records: 4,
                changed: 0
            }
        );
    }
}
