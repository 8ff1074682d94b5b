//! The event stream and the platform's keys in a backup.
//!
//! The stream is the platform's history: what `rebuild` replays, and what contexts
//! restored from older snapshots catch up from. A backup copies it in chunks of
//! [`CHUNK`] sequence numbers, each a gzip file of JSON lines ([`Message`]). A full
//! chunk never changes (the stream only grows at its end), so it is stored once per
//! target under `events/<stream>/` and named by every later backup's manifest, as media's
//! files are; the chunk still growing is stored in the backup's own folder. The
//! keys that seal personal fields on the stream ([`crate::platform::keyring`]) are copied
//! whole with every backup (they change: erasure shreds them).
//!
//! A restore ([`republish`]) puts the messages back into an empty stream at the sequence
//! numbers they had, so the applied floors of the restored snapshots stay true.

pub mod republish;

use std::io::Write as _;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::context::GetStreamErrorKind;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::manifest::{Chunk, Extent, Manifest, StreamCopy};
use super::{Plan, Source, control_get, fetch_into};
use crate::platform::bus::Bus;
use crate::platform::error::ApiError;

/// Sequence numbers per chunk of the event stream.
pub const CHUNK: u64 = 10_000;

/// The streams a backup copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    /// The platform's event stream.
    Events,
    /// The bucket of per-person keys.
    Keys,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Events => "events",
            Which::Keys => "keys",
        }
    }

    /// The JetStream stream's name.
    pub fn stream(self, bus: &Bus) -> String {
        match self {
            Which::Events => bus.settings.stream_name(),
            Which::Keys => bus.keys.stream_name(),
        }
    }
}

/// One message of a stream, as a backup keeps it: a line of JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub seq: u64,
    pub subject: String,
    /// Its headers (`Nats-Msg-Id`, `KV-Operation`, ...), sorted.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Its payload, base64.
    pub payload: String,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn payload(&self) -> anyhow::Result<Vec<u8>> {
        Ok(base64::engine::general_purpose::STANDARD.decode(&self.payload)?)
    }
}

/// The extent of `which` on `bus`.
pub async fn extent(bus: &Bus, which: Which) -> anyhow::Result<Extent> {
    let mut stream = match bus.js.get_stream(which.stream(bus)).await {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND
            ) =>
        {
            return Ok(Extent::default());
        }
        Err(e) => return Err(e.into()),
    };
    let info = stream.info().await?;
    Ok(Extent {
        created: Some(
            info.created
                .format(&time::format_description::well_known::Rfc3339)?,
        ),
        first_seq: info.state.first_sequence,
        last_seq: info.state.last_sequence,
        messages: info.state.messages,
    })
}

/// Writes the messages of `which` from `from` to `to` (both included, and at most its
/// last) into `out` as gzip JSON lines; returns how many.
pub async fn export(
    bus: &Bus,
    which: Which,
    from: u64,
    to: u64,
    out: impl std::io::Write,
) -> anyhow::Result<u64> {
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let extent = extent(bus, which).await?;
    let to = to.min(extent.last_seq);
    let mut count = 0;
    if extent.messages > 0 && from <= to {
        let stream = bus.js.get_stream(which.stream(bus)).await?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        loop {
            let next = tokio::time::timeout(std::time::Duration::from_secs(10), messages.next());
            let Some(message) = next
                .await
                .map_err(|_| anyhow::anyhow!("the stream sent nothing for 10 s"))?
            else {
                break;
            };
            let message = message?;
            let info = message.info().map_err(anyhow::Error::msg)?;
            let (seq, pending) = (info.stream_sequence, info.pending);
            if seq > to {
                break;
            }
            let line = Message {
                seq,
                subject: message.subject.to_string(),
                headers: kept_headers(message.headers.as_ref()),
                payload: base64::engine::general_purpose::STANDARD.encode(&message.payload),
            };
            serde_json::to_writer(&mut gz, &line)?;
            gz.write_all(b"\n")?;
            count += 1;
            if seq >= to || pending == 0 {
                break;
            }
        }
    }
    gz.finish()?.flush()?;
    Ok(count)
}

/// A message's headers as a backup keeps them, sorted: all but the publish-time
/// conditions (`Nats-Expected-*`), which a restore sets anew.
fn kept_headers(headers: Option<&async_nats::HeaderMap>) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = headers
        .iter()
        .flat_map(|h| h.iter())
        .filter(|(name, _)| {
            !name
                .to_string()
                .to_ascii_lowercase()
                .starts_with("nats-expected")
        })
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |v| (name.to_string(), v.as_str().to_string()))
        })
        .collect();
    kept.sort();
    kept
}

/// Reads the messages of a chunk written by [`export`].
pub fn read(input: impl std::io::Read) -> impl Iterator<Item = anyhow::Result<Message>> {
    use std::io::BufRead as _;
    std::io::BufReader::new(flate2::read::GzDecoder::new(input))
        .lines()
        .map(|line| Ok(serde_json::from_str(&line?)?))
}

/// The chunks a backup of a stream with `extent` copies: `(first, last, full)` for each
/// range of [`CHUNK`] sequence numbers it holds messages in (`last` cut at the stream's
/// end for the one still growing, which is not `full`).
pub fn chunks(extent: &Extent) -> Vec<(u64, u64, bool)> {
    if extent.messages == 0 {
        return Vec::new();
    }
    let index = |seq: u64| (seq.max(1) - 1) / CHUNK;
    (index(extent.first_seq)..=index(extent.last_seq))
        .map(|k| {
            let (first, end) = (k * CHUNK + 1, (k + 1) * CHUNK);
            (first, end.min(extent.last_seq), end <= extent.last_seq)
        })
        .collect()
}

#[derive(Deserialize)]
pub(super) struct Range {
    from: u64,
    to: u64,
}

/// `GET /ops/streams/{which}`: the stream's [`Extent`].
pub(super) async fn stream_extent(
    State(platform): State<crate::platform::Platform>,
    Path(which): Path<Which>,
) -> Result<axum::Json<Extent>, ApiError> {
    Ok(axum::Json(
        extent(&platform.bus, which)
            .await
            .map_err(ApiError::internal)?,
    ))
}

/// `GET /ops/streams/{which}/messages?from=&to=`: the messages, as [`export`] writes
/// them, from a file beside the stores (a broken stream fails the request, never cuts
/// the answer short).
pub(super) async fn stream_messages(
    State(platform): State<crate::platform::Platform>,
    Path(which): Path<Which>,
    Query(range): Query<Range>,
) -> Result<Response, ApiError> {
    let dir = platform.data_dir.join(".snapshots");
    std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
    let path = dir.join(format!(
        "{}-{}.jsonl.gz",
        which.name(),
        crate::platform::new_id()
    ));
    let written = async {
        let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let count = export(&platform.bus, which, range.from, range.to, file).await?;
        anyhow::Ok((std::fs::File::open(&path)?, count))
    }
    .await;
    let _ = std::fs::remove_file(&path);
    let (file, count) = written.map_err(ApiError::internal)?;
    tracing::debug!(
        stream = which.name(),
        from = range.from,
        to = range.to,
        count,
        "stream copied"
    );
    Ok(Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ))
    .into_response())
}

/// Copies `which` from the process at `source` into the backup `id`: full chunks of the
/// event stream that an earlier backup (`earlier`) stored are named again, not copied.
/// `None` when the stream holds nothing.
pub(super) async fn take(
    plan: &Plan,
    client: &reqwest::Client,
    id: &str,
    source: &Source,
    which: Which,
    earlier: &[Manifest],
) -> anyhow::Result<Option<StreamCopy>> {
    let base = format!(
        "{}/ops/streams/{}",
        source.url.trim_end_matches('/'),
        which.name()
    );
    let extent: Extent = control_get(plan, client, &base)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let created = match &extent.created {
        Some(created) if extent.messages > 0 => created.replace(':', ""),
        _ => return Ok(None),
    };
    let stored: Vec<&Chunk> = earlier
        .iter()
        .flat_map(|m| m.events.iter().flat_map(|c| &c.chunks))
        .collect();
    let mut copied = Vec::new();
    for (first, last, full) in chunks(&extent) {
        let shared = full && which == Which::Events;
        let object = match shared {
            true => format!("events/{created}/{first:020}.jsonl.gz"),
            false => format!("{id}/{}-{first:020}.jsonl.gz", which.name()),
        };
        if shared
            && let Some(known) = stored.iter().find(|c| c.object == object)
            && plan.target.size(&object).await? == Some(known.bytes)
        {
            copied.push((*known).clone());
            continue;
        }
        let from = first.max(extent.first_seq);
        let url = format!("{base}/messages?from={from}&to={last}");
        let written = fetch_into(plan, client, &url, &object).await?;
        copied.push(Chunk {
            object,
            first,
            last,
            bytes: written.bytes,
            sha256: written.sha256,
        });
    }
    tracing::info!(
        stream = which.name(),
        last = extent.last_seq,
        chunks = copied.len(),
        "stream stored"
    );
    Ok(Some(StreamCopy {
        extent,
        chunks: copied,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(first_seq: u64, last_seq: u64) -> Extent {
        Extent {
            created: Some("2026-11-26T12:00:00Z".into()),
            first_seq,
            last_seq,
            messages: last_seq + 1 - first_seq,
        }
    }

    #[test]
    fn a_stream_is_copied_in_fixed_chunks_the_last_one_growing() {
        assert_eq!(
            chunks(&extent(1, 25_000)),
            vec![
                (1, 10_000, true),
                (10_001, 20_000, true),
                (20_001, 25_000, false)
            ]
        );
        assert_eq!(
            chunks(&extent(1, 20_000)).last(),
            Some(&(10_001, 20_000, true))
        );
        // Events that aged out leave chunks off; the first one holds what is left.
        assert_eq!(
            chunks(&extent(15_000, 15_002)),
            vec![(10_001, 15_002, false)]
        );
        assert!(chunks(&Extent::default()).is_empty());
    }

    #[test]
    fn a_chunk_reads_back_line_by_line_and_a_cut_one_fails() {
        let message = Message {
            seq: 7,
            subject: "demo.events.posts.PostCreated".into(),
            headers: vec![("Nats-Msg-Id".into(), "01J".into())],
            payload: base64::engine::general_purpose::STANDARD.encode(b"{}"),
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for _ in 0..3 {
            serde_json::to_writer(&mut gz, &message).unwrap();
            gz.write_all(b"\n").unwrap();
        }
        let bytes = gz.finish().unwrap();
        let back: Vec<Message> = read(bytes.as_slice())
            .collect::<anyhow::Result<_>>()
            .unwrap();
        assert_eq!(back, vec![message.clone(); 3]);
        assert_eq!(back[0].header("nats-msg-id"), Some("01J"));
        assert_eq!(back[0].payload().unwrap(), b"{}");
        let cut = &bytes[..bytes.len() - 10];
        assert!(read(cut).any(|m| m.is_err()), "a cut chunk reads whole");
    }
}
