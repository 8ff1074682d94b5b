//! GDPR export (articles 15 and 20): every context contributes its part of a person's
//! data. Users records the request and publishes [`ExportRequested`]; each context's export
//! worker (a durable consumer of that one event type, apart from the context's projection
//! consumer, since building a part reads and uploads rather than applies) writes its part,
//! JSON and files, into the platform's JetStream object store (`<prefix>-exports`), never
//! inside a NATS message; users assembles the parts into one zip archive there.
//!
//! The object store side (the bucket, the worker) is in [`objects`].
//!
//! A context's part is, unless it says otherwise ([`super::context::BoundedContext::export`]),
//! every record of its store that names the person ([`records_naming`]), by record kind:
//! complete by construction, as erasure is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::envelope::DomainEvent;
use super::error::ApiResult;
use super::storage::Store;

pub mod objects;

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
