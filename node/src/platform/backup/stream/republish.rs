//! Puts a backup's copy of the event stream and of the keys back on a bus.
//!
//! The events go back at the sequence numbers they had, so the applied floors of the
//! restored snapshots count in the restored stream: each message is published with
//! `Nats-Expected-Last-Sequence` set to the one before it, a hole in the copy (a message
//! deleted by hand) becomes a filler no context consumes, and a stream whose oldest
//! events had aged out begins where the copy does. That makes a restore safe to run
//! again, and two restores of the same backup at once (every pod's init container)
//! share the work: each goes on from whatever the stream holds, as long as what it
//! holds is the backup's.
//!
//! Which stream the restored stores then count in ([`events`]'s answer):
//! - the backup's own stream, still there (same creation time): nothing is published;
//! - a stream that is missing, empty, or holds a beginning of the backup: it is filled;
//! - any other stream (with a history of its own) is left alone, and the restored
//!   contexts replay it from its start instead.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;

use super::{Message, Which, extent, read};
use crate::platform::backup::manifest::{Extent, StreamCopy};
use crate::platform::backup::target::Target;
use crate::platform::bus::Bus;

/// The header marking a filler: a sequence number the backup holds no message at.
pub const FILLER_HEADER: &str = "Agora-Filler";

/// Messages published before their acks are awaited.
const PIPELINE: usize = 256;

/// Downloads the chunks of `copy` into `dir`, each checked against the manifest; returns
/// the files in order.
pub async fn stage(target: &Target, copy: &StreamCopy, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    for (n, chunk) in copy.chunks.iter().enumerate() {
        let file = dir.join(format!("{n:06}.jsonl.gz"));
        let got = target
            .download(&chunk.object, &file)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", chunk.object))?;
        anyhow::ensure!(
            got.bytes == chunk.bytes && got.sha256 == chunk.sha256,
            "{} is damaged: {} bytes with SHA-256 {}, the manifest says {} bytes with {}; nothing was restored",
            chunk.object,
            got.bytes,
            got.sha256,
            chunk.bytes,
            chunk.sha256
        );
        files.push(file);
    }
    Ok(files)
}

/// Puts the keys of the staged chunks `files` into the platform's bucket (a merge: see
/// [`crate::platform::keyring::Keyring::restore`]).
pub async fn keys(bus: &Bus, files: &[PathBuf]) -> anyhow::Result<usize> {
    let mut entries = Vec::new();
    for file in files {
        for message in read(std::fs::File::open(file)?) {
            let message = message?;
            let value = message.payload()?;
            entries.extend(bus.keys.entry_of(
                &message.subject,
                message.header("KV-Operation"),
                &value,
            ));
        }
    }
    let changed = bus.keys.restore(entries).await?;
    tracing::info!(changed, "keys restored");
    Ok(changed)
}

/// Restores the event stream from the staged chunks `files` of `copy` (see the module's
/// doc); returns the creation time of the stream the restored snapshots count in, or
/// `None` when the bus holds another stream, left alone.
pub async fn events(
    bus: &Bus,
    copy: &StreamCopy,
    files: &[PathBuf],
) -> anyhow::Result<Option<String>> {
    let backup = &copy.extent;
    let mut fillers = HashSet::new();
    for _ in 0..1_000 {
        let now = extent(bus, Which::Events).await?;
        if now.created.is_some() && now.created == backup.created {
            tracing::info!("the backup's event stream is still there: nothing to restore");
            return Ok(now.created);
        }
        if now.created.is_none() {
            bus.ensure_stream().await?;
            continue;
        }
        if !holds_a_beginning(bus, &now, backup, files).await? {
            tracing::warn!(
                stream = %bus.settings.stream_name(),
                last = now.last_seq,
                "the bus holds another event stream: left alone, the restored contexts replay it"
            );
            return Ok(None);
        }
        if now.last_seq >= backup.last_seq {
            tracing::info!(last = now.last_seq, "event stream restored");
            return Ok(now.created);
        }
        if now.messages == 0 && now.last_seq + 1 < backup.first_seq {
            // The oldest events had aged out: the stream begins where the copy does.
            let stream = bus.js.get_stream(bus.settings.stream_name()).await?;
            stream.purge().sequence(backup.first_seq).await?;
            continue;
        }
        if let Some(duplicate) = publish_after(bus, backup, files, now.last_seq, &fillers).await? {
            // JetStream took the message for one it already had (same id within its
            // window): its place gets a filler.
            fillers.insert(duplicate);
        }
    }
    anyhow::bail!("the event stream kept changing under the restore")
}

/// Whether the stream `now` is empty or holds a beginning of the backup: the message at
/// its last sequence is the backup's one there, or a restore's filler.
async fn holds_a_beginning(
    bus: &Bus,
    now: &Extent,
    backup: &Extent,
    files: &[PathBuf],
) -> anyhow::Result<bool> {
    if now.messages == 0 {
        return Ok(now.last_seq < backup.first_seq);
    }
    if now.last_seq > backup.last_seq || now.first_seq < backup.first_seq {
        return Ok(false);
    }
    let stream = bus.js.get_stream(bus.settings.stream_name()).await?;
    let Ok(held) = stream.get_raw_message(now.last_seq).await else {
        return Ok(false);
    };
    let filler = held
        .headers
        .get(FILLER_HEADER)
        .is_some_and(|v| v.as_str() == now.last_seq.to_string());
    // A filler is only ever written by a restore: in a hole of the backup, or where
    // JetStream took the backup's message for a duplicate (which another restore running
    // at the same time may have met and filled).
    if filler {
        return Ok(true);
    }
    Ok(match message_at(files, now.last_seq)? {
        Some(ours) => held.subject.as_str() == ours.subject && held.payload == ours.payload()?,
        None => false,
    })
}

/// The backup's message at `seq`, if it holds one.
fn message_at(files: &[PathBuf], seq: u64) -> anyhow::Result<Option<Message>> {
    for file in files {
        for message in read(std::fs::File::open(file)?) {
            let message = message?;
            if message.seq >= seq {
                return Ok((message.seq == seq).then_some(message));
            }
        }
    }
    Ok(None)
}

/// Publishes the backup's messages after `last` (fillers in its holes and at `fillers`),
/// each expecting the one before it. Returns early with the sequence of a message taken
/// for a duplicate; any other refusal (another restore got there first) ends it too, and
/// the caller looks again at what the stream holds.
async fn publish_after(
    bus: &Bus,
    backup: &Extent,
    files: &[PathBuf],
    last: u64,
    fillers: &HashSet<u64>,
) -> anyhow::Result<Option<u64>> {
    let mut next = last + 1;
    let mut pending = Vec::with_capacity(PIPELINE);
    for file in files {
        for message in read(std::fs::File::open(file)?) {
            let message = message?;
            if message.seq < next {
                continue;
            }
            while next < message.seq {
                pending.push((next, send_filler(bus, next).await?));
                next += 1;
            }
            let sent = match fillers.contains(&next) {
                true => send_filler(bus, next).await?,
                false => send(bus, &message).await?,
            };
            pending.push((next, sent));
            next += 1;
            if pending.len() >= PIPELINE {
                match settle(&mut pending).await {
                    Settled::Done => {}
                    Settled::Duplicate(seq) => return Ok(Some(seq)),
                    Settled::Refused => return Ok(None),
                }
            }
        }
    }
    while next <= backup.last_seq {
        pending.push((next, send_filler(bus, next).await?));
        next += 1;
    }
    Ok(match settle(&mut pending).await {
        Settled::Duplicate(seq) => Some(seq),
        Settled::Done | Settled::Refused => None,
    })
}

enum Settled {
    Done,
    Duplicate(u64),
    Refused,
}

/// Awaits the acks of `pending`, in order.
async fn settle(pending: &mut Vec<(u64, PublishAckFuture)>) -> Settled {
    for (seq, ack) in pending.drain(..) {
        match ack.await {
            Ok(ack) if ack.duplicate => return Settled::Duplicate(seq),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(seq, error = %e, "a republished event was refused");
                return Settled::Refused;
            }
        }
    }
    Settled::Done
}

async fn send(bus: &Bus, message: &Message) -> anyhow::Result<PublishAckFuture> {
    let mut headers = async_nats::HeaderMap::new();
    for (name, value) in &message.headers {
        headers.append(name.as_str(), value.as_str());
    }
    let publish = PublishMessage::build()
        .payload(message.payload()?.into())
        .headers(headers)
        .expected_last_sequence(message.seq - 1);
    Ok(bus
        .js
        .send_publish(message.subject.clone(), publish)
        .await?)
}

async fn send_filler(bus: &Bus, seq: u64) -> anyhow::Result<PublishAckFuture> {
    let publish = PublishMessage::build()
        .header(FILLER_HEADER, seq.to_string())
        .expected_last_sequence(seq - 1);
    Ok(bus
        .js
        .send_publish(format!("{}.events._.filler", bus.settings.prefix), publish)
        .await?)
}
