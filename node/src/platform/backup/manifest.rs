//! A backup's `manifest.json`: what it holds, each part's size and checksum, and the event
//! stream it was taken against. Written last: a backup without one is incomplete, never
//! restored, and pruned after a day.

use serde::{Deserialize, Serialize};

use crate::platform::storage::snapshot::SnapshotInfo;

/// The manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

/// The manifest's object name inside a backup's folder.
pub const NAME: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The backup's folder name: its start time, `YYYYMMDDTHHMMSSZ`.
    pub id: String,
    pub platform: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// The agora-node version that took it.
    pub agora_version: String,
    /// One snapshot per context.
    pub parts: Vec<Part>,
    /// The event stream, taken after the snapshots (so it holds every event they had
    /// applied); `None` in backups of a platform whose stream held nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<StreamCopy>,
    /// The per-person keys that open the sealed fields of the events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<StreamCopy>,
}

/// Where a stream begins and ends, and when it was made (RFC 3339), which tells it from
/// a stream of the same name made later. All zero when there is no such stream yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    pub created: Option<String>,
    pub first_seq: u64,
    pub last_seq: u64,
    pub messages: u64,
}

/// A stream in a backup ([`super::stream`]): its extent when copied, and its chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCopy {
    pub extent: Extent,
    pub chunks: Vec<Chunk>,
}

/// A range of a stream's sequence numbers, as one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The object's name from the target's root (a full chunk of the event stream is
    /// shared by the backups that name it: `events/<stream>/<first>.jsonl.gz`).
    pub object: String,
    /// The sequence numbers it covers, both included.
    pub first: u64,
    pub last: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// One context's snapshot in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub context: String,
    /// Its object's name inside the backup's folder.
    pub object: String,
    /// Size and SHA-256 (lowercase hex) of the object, checked before a restore uses it.
    pub bytes: u64,
    pub sha256: String,
    pub snapshot: SnapshotInfo,
    /// The event stream the snapshot's applied floor counts in, told apart by its creation
    /// time: restored against another stream (the bus was lost and made anew), the
    /// context replays that stream from its start instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_created: Option<String>,
    /// Its content-addressed files ([`super::files`]), stored once in the target's
    /// `files/` for every backup that names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<super::files::FileRef>,
}

impl Manifest {
    pub fn part(&self, context: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.context == context)
    }

    /// The backup's size in bytes: its snapshots and the files they name (which the
    /// target stores once for every backup naming them).
    pub fn bytes(&self) -> u64 {
        let files: u64 = self
            .parts
            .iter()
            .flat_map(|p| &p.files)
            .map(|f| f.bytes)
            .sum();
        let streams: u64 = [&self.events, &self.keys]
            .into_iter()
            .flatten()
            .flat_map(|s| &s.chunks)
            .map(|c| c.bytes)
            .sum();
        self.parts.iter().map(|p| p.bytes).sum::<u64>() + files + streams
    }

    /// The objects it names outside its own folder: media's files and the shared chunks
    /// of the event stream.
    pub fn shared_objects(&self) -> impl Iterator<Item = String> + '_ {
        let files = self
            .parts
            .iter()
            .flat_map(|p| &p.files)
            .map(super::files::FileRef::object);
        let chunks = self
            .events
            .iter()
            .flat_map(|s| &s.chunks)
            .filter(|c| !c.object.starts_with(&format!("{}/", self.id)))
            .map(|c| c.object.clone());
        files.chain(chunks)
    }
}

/// A backup id for `now`, which sorts as time does.
pub fn id_for(now: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    now.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Which of `backups` (complete ones, any order) retention removes: beyond the newest
/// `keep`, and older than `keep_days` before `now`; the newest is always kept.
pub fn expired(
    backups: &[Manifest],
    keep: Option<usize>,
    keep_days: Option<u32>,
    now: time::OffsetDateTime,
) -> Vec<String> {
    let mut newest_first: Vec<&Manifest> = backups.iter().collect();
    newest_first.sort_by_key(|m| std::cmp::Reverse(m.created_at));
    newest_first
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(rank, m)| {
            keep.is_some_and(|k| *rank >= k)
                || keep_days.is_some_and(|d| now - m.created_at > time::Duration::days(d.into()))
        })
        .map(|(_, m)| m.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(days_ago: i64, now: time::OffsetDateTime) -> Manifest {
        let created_at = now - time::Duration::days(days_ago);
        Manifest {
            format: FORMAT,
            id: id_for(created_at),
            platform: "demo".into(),
            created_at,
            agora_version: "test".into(),
            parts: Vec::new(),
            events: None,
            keys: None,
        }
    }

    #[test]
    fn retention_keeps_the_newest_n_and_those_young_enough_and_always_one() {
        let now = time::macros::datetime!(2026-11-26 12:00 UTC);
        let backups: Vec<_> = [0, 1, 2, 3, 10].map(|d| taken(d, now)).into();
        let ids = |days: &[i64]| -> Vec<String> {
            days.iter()
                .map(|d| id_for(now - time::Duration::days(*d)))
                .collect()
        };
        assert_eq!(expired(&backups, Some(3), None, now), ids(&[3, 10]));
        assert_eq!(expired(&backups, None, Some(2), now), ids(&[3, 10]));
        assert_eq!(expired(&backups, Some(2), Some(7), now), ids(&[2, 3, 10]));
        assert!(expired(&backups, None, None, now).is_empty());
        // Everything too old: the newest stays all the same.
        let old: Vec<_> = [30, 40].map(|d| taken(d, now)).into();
        assert_eq!(expired(&old, Some(0), Some(1), now), ids(&[40]));
    }

    #[test]
    fn ids_sort_as_time_does() {
        let a = id_for(time::macros::datetime!(2026-01-02 03:04:05 UTC));
        let b = id_for(time::macros::datetime!(2026-11-26 00:00:00 UTC));
        assert_eq!(a, "20260102T030405Z");
        assert!(a < b);
    }
}
