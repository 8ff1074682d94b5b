//! The audit log (admins): every moderation and admin action, newest first in pages, and
//! whole as a download (`/moderation/audit/export`, one JSON object per line, oldest
//! first) for keeping outside the platform.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::platform::ContextState;
use crate::platform::error::{ApiError, ApiResult};
use crate::platform::http::{Json, Page, PageParams, Query, rfc3339};
use crate::platform::tokens::{Admin, RequireRole};

use super::super::domain::{ActionKind, AuditEntry, AuditKind, Target};
use super::super::storage;

/// One line of the audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    pub at: String,
    pub actor_id: String,
    pub kind: AuditKind,
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The roles an account was given (`roles_changed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<crate::platform::tokens::Role>>,
}

fn audit_view(e: AuditEntry) -> AuditView {
    AuditView {
        id: e.id,
        at: rfc3339(e.at),
        actor_id: e.actor,
        kind: e.kind,
        target: e.target,
        report_id: e.report_id,
        action_id: e.action_id,
        action: e.action,
        reason: e.reason,
        roles: e.roles,
    }
}

/// Every moderation action, newest first (admins): who did what, to what, when and why.
#[utoipa::path(get, path = "/api/v1/moderation/audit", tag = "moderation", params(PageParams),
    responses((status = 200, body = Page<AuditView>), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn audit_log(
    State(s): State<ContextState>,
    _admin: RequireRole<Admin>,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Page<AuditView>>> {
    let (limit, cursor) = (q.limit()?, q.cursor_id()?);
    let rows = storage::audit_log(&s.store, cursor.as_deref(), limit + 1)?;
    Ok(Json(Page::from_rows(
        rows,
        limit,
        |e| e.id.clone(),
        |e| Ok(Some(audit_view(e))),
    )?))
}

/// `?from=&to=` of the export: RFC 3339 times, each optional.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Entries at or after this time.
    pub from: Option<String>,
    /// Entries before this time.
    pub to: Option<String>,
}

/// The entries' time range, `[from, to)` in Unix seconds.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: i64,
    to: i64,
}

impl ExportParams {
    fn window(&self) -> ApiResult<Window> {
        let at = |value: &Option<String>, field: &str, default: i64| match value {
            None => Ok(default),
            Some(text) => {
                OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map(|t| t.unix_timestamp())
                    .map_err(|_| {
                        ApiError::field(
                            field,
                            "must be an RFC 3339 time, e.g. 2026-11-01T00:00:00Z",
                        )
                    })
            }
        };
        let window = Window {
            from: at(&self.from, "from", i64::MIN)?,
            to: at(&self.to, "to", i64::MAX)?,
        };
        if window.from >= window.to {
            return Err(ApiError::field("to", "must be after `from`"));
        }
        Ok(window)
    }
}

/// How many entries the export reads from the store at a time.
const CHUNK: usize = 500;

/// The whole audit log, or the entries in `[from, to)`, oldest first, as NDJSON (one
/// [`AuditView`] per line), streamed: a log of any length is never held whole in memory.
#[utoipa::path(get, path = "/api/v1/moderation/audit/export", tag = "moderation",
    params(ExportParams),
    responses((status = 200, description = "One audit entry (an `AuditView`) per line.",
        content_type = "application/x-ndjson", body = String),
        (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn export_audit_log(
    State(s): State<ContextState>,
    _admin: RequireRole<Admin>,
    Query(q): Query<ExportParams>,
) -> ApiResult<Response> {
    let window = q.window()?;
    let store = s.store.clone();
    // State: the id after which to read next; `None` once the log is read through.
    let chunks = futures::stream::unfold(Some(None::<String>), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            let rows = match storage::audit_log_after(&store, after.as_deref(), CHUNK) {
                Ok(rows) => rows,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            let next = (rows.len() == CHUNK)
                .then(|| rows.last().map(|e| Some(e.id.clone())))
                .flatten();
            Some((Ok(ndjson(rows, window)), next))
        }
    });
    let name = "attachment; filename=\"agora-audit.ndjson\"".to_string();
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// The entries of `rows` inside `window`, one JSON line each.
fn ndjson(rows: Vec<AuditEntry>, window: Window) -> bytes::Bytes {
    let mut out = Vec::new();
    for entry in rows
        .into_iter()
        .filter(|e| (window.from..window.to).contains(&e.at))
    {
        if serde_json::to_writer(&mut out, &audit_view(entry)).is_ok() {
            out.push(b'\n');
        }
    }
    out.into()
}
