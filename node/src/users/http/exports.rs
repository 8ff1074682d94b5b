//! `POST /users/me/export` and the archives: a person's copy of everything the platform
//! holds about them (GDPR articles 15 and 20).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::bus::Bus;
use crate::platform::error::{ApiError, ApiResult};
use crate::platform::export::archive_object;
use crate::platform::export::objects::bucket;
use crate::platform::http::{Json, path_id, rfc3339};
use crate::platform::storage::Store;
use crate::platform::tokens::{AuthUser, TokenVerifier};
use crate::platform::unix_now;

use super::super::error::Error;
use super::super::storage::exports::{self, Export};

/// What export handlers reach: the store, the bus (the object store holding archives), and
/// the assembler to wake.
#[derive(Clone)]
pub struct ExportsState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
    pub bus: Bus,
    pub assembler: Arc<tokio::sync::Notify>,
}

impl axum::extract::FromRef<ExportsState> for Arc<TokenVerifier> {
    fn from_ref(state: &ExportsState) -> Self {
        state.verifier.clone()
    }
}

#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    Preparing,
    Ready,
    Expired,
}

/// An export as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct ExportView {
    id: String,
    state: ExportState,
    requested_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ready_at: Option<String>,
    /// Until when the archive may be downloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// The archive's size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    /// Contexts whose part did not come in time.
    missing: Vec<String>,
    /// Where to download the archive, when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    archive_url: Option<String>,
}

fn state_of(e: &Export, now: i64) -> ExportState {
    match e.expires_at() {
        None => ExportState::Preparing,
        Some(at) if at > now => ExportState::Ready,
        Some(_) => ExportState::Expired,
    }
}

fn view(e: &Export) -> ExportView {
    let state = state_of(e, unix_now());
    ExportView {
        id: e.id.clone(),
        state,
        requested_at: rfc3339(e.requested_at),
        ready_at: e.ready_at.map(rfc3339),
        expires_at: e.expires_at().map(rfc3339),
        size: e.size,
        missing: e.missing.clone(),
        archive_url: (state == ExportState::Ready)
            .then(|| format!("/api/v1/users/me/exports/{}/archive", e.id)),
    }
}

/// Starts an export of everything the platform holds about the caller: every context
/// writes its part, and a zip archive (JSON per context, plus the uploaded files) is
/// assembled; a notification says when it is ready. One export at a time.
#[utoipa::path(post, path = "/api/v1/users/me/export", tag = "privacy",
    responses((status = 202, body = ExportView), (status = 409, description = "an export is being prepared")),
    security(("bearer" = [])))]
pub(super) async fn request_export(
    State(s): State<ExportsState>,
    user: AuthUser,
) -> ApiResult<(StatusCode, Json<ExportView>)> {
    let export = exports::request_export(&s.store, user.id(), unix_now()).await?;
    s.assembler.notify_one();
    Ok((StatusCode::ACCEPTED, Json(view(&export))))
}

/// The caller's exports, newest first.
#[utoipa::path(get, path = "/api/v1/users/me/exports", tag = "privacy",
    responses((status = 200, body = [ExportView])), security(("bearer" = [])))]
pub(super) async fn list_exports(
    State(s): State<ExportsState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<ExportView>>> {
    let list = exports::exports(&s.store, user.id())?;
    Ok(Json(list.iter().map(view).collect()))
}

/// One of the caller's exports.
#[utoipa::path(get, path = "/api/v1/users/me/exports/{id}", tag = "privacy",
    params(("id" = String, Path)),
    responses((status = 200, body = ExportView), (status = 404)), security(("bearer" = [])))]
pub(super) async fn get_export(
    State(s): State<ExportsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ExportView>> {
    Ok(Json(view(&own(&s, &user, &id)?)))
}

fn own(s: &ExportsState, user: &AuthUser, id: &str) -> ApiResult<Export> {
    let id = path_id(id, "export")?;
    exports::export(&s.store, user.id(), &id)?.ok_or_else(|| Error::ExportNotFound.into())
}

/// The archive of a ready export (`application/zip`), to its owner only, until it expires.
#[utoipa::path(get, path = "/api/v1/users/me/exports/{id}/archive", tag = "privacy",
    params(("id" = String, Path)),
    responses((status = 200, description = "the zip archive", content_type = "application/zip"),
        (status = 404), (status = 409, description = "not ready yet"), (status = 410, description = "expired")),
    security(("bearer" = [])))]
pub(super) async fn download_archive(
    State(s): State<ExportsState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let export = own(&s, &user, &id)?;
    match state_of(&export, unix_now()) {
        ExportState::Preparing => return Err(Error::ExportNotReady.into()),
        ExportState::Expired => return Err(Error::ExportExpired.into()),
        ExportState::Ready => {}
    }
    let objects = bucket(&s.bus).await.map_err(|e| {
        tracing::warn!(error = %e, "export bucket unreachable");
        ApiError::Unavailable
    })?;
    let object = objects
        .get(archive_object(&export.id))
        .await
        .map_err(|_| ApiError::from(Error::ExportExpired))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(object));
    let disposition = format!("attachment; filename=\"agora-export-{}.zip\"", export.id);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}
