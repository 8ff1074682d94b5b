//! The HTTP API of media: uploading (a raw body or `multipart/form-data`), an owner's
//! media and usage, alt text, deleting, and serving the stored files and thumbnails (with
//! `ETag`, `Cache-Control` and `Range`).

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::MediaState;
use super::domain::{self, Thumbnail};
use super::error::Error;
use super::events::Attachment;
use super::storage::{self, Media, blobs::Received};
use crate::platform::error::{ApiError, ApiResult};
use crate::platform::http::{Json, Query, path_id, rfc3339};
use crate::platform::tokens::{AuthUser, MaybeUser};
use crate::platform::unix_now;

pub fn routes(state: MediaState) -> Router {
    let upload_limit = state.limits.upload_body_bytes() as usize;
    Router::new()
        .route(
            "/api/v1/media",
            post(upload_media).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/v1/media/usage", get(media_usage))
        .route(
            "/api/v1/media/{id}",
            get(get_media).patch(describe_media).delete(delete_media),
        )
        .route("/api/v1/media/{id}/file", get(media_file))
        .route("/api/v1/media/{id}/thumbnails/{size}", get(media_thumbnail))
        .with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        upload_media,
        media_usage,
        get_media,
        describe_media,
        delete_media,
        media_file,
        media_thumbnail
    ),
    components(schemas(MediaView, Usage, DescribeRequest, Attachment, UploadForm))
)]
pub struct MediaApi;

/// A media item as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct MediaView {
    #[serde(flatten)]
    pub attachment: Attachment,
    /// Bytes of every rendition together: what counts against the quota.
    pub size_bytes: u64,
    pub created_at: String,
}

fn view(state: &MediaState, media: &Media) -> MediaView {
    MediaView {
        attachment: media.uploaded().attachment(&state.urls, unix_now()),
        size_bytes: media.stored_bytes(),
        created_at: rfc3339(media.created_at),
    }
}

/// The parts of a multipart upload.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "documents the form; the parts are read as they stream"
)]
#[schema(example = json!({"file": "the file's bytes", "alt": "A red kite over the hills at dusk"}))]
pub struct UploadForm {
    /// The file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Alt text (at most 1,500 characters).
    alt: Option<String>,
}

/// `?alt=` of a raw-body upload.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// Alt text: what the picture shows, for people who cannot see it (at most 1,500
    /// characters). A multipart upload sends it as the `alt` part instead.
    alt: Option<String>,
}

/// Uploads a picture or video.
///
/// Send the file as the raw body (any `Content-Type`), or as `multipart/form-data` with a
/// `file` part and an optional `alt` part. The type is decided by the content, not by
/// the header or a file name: JPEG, PNG, WebP, GIF (animations kept), MP4 and WebM.
/// Pictures are re-encoded without their metadata (EXIF, GPS), turned upright by their
/// EXIF orientation, and get `small` (320 px) and `medium` (1280 px) thumbnails and a
/// blurhash; videos are stored as uploaded.
#[utoipa::path(post, path = "/api/v1/media", tag = "media",
    params(UploadParams),
    request_body(description = "the file as the body, or a form with `file` and `alt`",
        content((Vec<u8> = "application/octet-stream"), (UploadForm = "multipart/form-data"))),
    responses(
        (status = 201, body = MediaView),
        (status = 403, description = "Over the storage quota: `quota_bytes` and `used_bytes` say by how much"),
        (status = 413, description = "Larger than the platform's upload limit (`GET /media/usage` says it)"),
        (status = 415, description = "Not an accepted type (JPEG, PNG, WebP, GIF, MP4, WebM), whatever the header says"),
        (status = 422, description = "Empty, undecodable, or a picture over the pixel limits")),
    security(("bearer" = [])))]
async fn upload_media(
    State(state): State<MediaState>,
    user: AuthUser,
    Query(params): Query<UploadParams>,
    request: Request,
) -> ApiResult<(StatusCode, Json<MediaView>)> {
    let owner = user.id().to_string();
    let used = storage::usage(&state.store, &owner)?;
    domain::check_quota(used, state.limits.quota_bytes, 0)?;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (received, alt) = if multipart {
        receive_multipart(&state, request).await?
    } else {
        let body = request.into_body().into_data_stream();
        (state.receive(body).await?, params.alt)
    };
    let alt = match alt {
        Some(alt) => domain::alt_text(&alt),
        None => Ok(String::new()),
    };
    let alt = match alt {
        Ok(alt) => alt,
        Err(e) => {
            let _ = tokio::fs::remove_file(&received.path).await;
            return Err(e.into());
        }
    };
    let media = state.store_upload(&owner, received, alt).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &media))))
}

/// The `file` and `alt` parts of a multipart upload; other parts are refused.
async fn receive_multipart(
    state: &MediaState,
    request: Request,
) -> ApiResult<(Received, Option<String>)> {
    let bad = |e: axum::extract::multipart::MultipartError| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::MalformedBody(format!("multipart: {}", e.body_text())),
    };
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::MalformedBody(format!("multipart: {}", e.body_text())))?;
    let mut file = None;
    let mut alt = None;
    let result = async {
        while let Some(field) = multipart.next_field().await.map_err(bad)? {
            match field.name() {
                Some("file") if file.is_none() => file = Some(state.receive(field).await?),
                Some("alt") if alt.is_none() => alt = Some(field.text().await.map_err(bad)?),
                other => {
                    let name = other.unwrap_or("").to_string();
                    return Err(ApiError::field(
                        &name,
                        "an upload takes one `file` part and one `alt` part",
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    match (result, file) {
        (Ok(()), Some(file)) => Ok((file, alt)),
        (Ok(()), None) => Err(Error::NoFilePart.into()),
        (Err(e), file) => {
            if let Some(file) = file {
                let _ = tokio::fs::remove_file(&file.path).await;
            }
            Err(e)
        }
    }
}

/// What the caller's media take, against their quota.
#[derive(Serialize, ToSchema)]
pub struct Usage {
    pub used_bytes: u64,
    pub quota_bytes: u64,
    /// The largest upload accepted.
    pub max_upload_bytes: u64,
}

/// The caller's storage use and limits.
#[utoipa::path(get, path = "/api/v1/media/usage", tag = "media",
    responses((status = 200, body = Usage)),
    security(("bearer" = [])))]
async fn media_usage(State(state): State<MediaState>, user: AuthUser) -> ApiResult<Json<Usage>> {
    Ok(Json(Usage {
        used_bytes: storage::usage(&state.store, user.id())?,
        quota_bytes: state.limits.quota_bytes,
        max_upload_bytes: state.limits.max_upload_bytes,
    }))
}

/// One of the caller's media items, with URLs signed for them.
#[utoipa::path(get, path = "/api/v1/media/{id}", tag = "media",
    params(("id" = String, Path, description = "media id")),
    responses((status = 200, body = MediaView), (status = 404, description = "no such media of the caller")),
    security(("bearer" = [])))]
async fn get_media(
    State(state): State<MediaState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<MediaView>> {
    let id = path_id(&id, "media")?;
    let media = storage::owned(&state.store, &id, user.id())?;
    Ok(Json(view(&state, &media)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"alt": "A red kite over the hills at dusk"}))]
pub struct DescribeRequest {
    /// What the picture shows (at most 1,500 characters; empty removes it).
    #[schema(max_length = 1500)]
    alt: String,
}

/// Sets the alt text of one of the caller's media items.
#[utoipa::path(patch, path = "/api/v1/media/{id}", tag = "media",
    params(("id" = String, Path, description = "media id")),
    request_body = DescribeRequest,
    responses((status = 200, body = MediaView), (status = 404, description = "no such media of the caller")),
    security(("bearer" = [])))]
async fn describe_media(
    State(state): State<MediaState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<DescribeRequest>,
) -> ApiResult<Json<MediaView>> {
    let id = path_id(&id, "media")?;
    let alt = domain::alt_text(&req.alt)?;
    let media = storage::describe(&state.store, &id, user.id(), &alt).await?;
    Ok(Json(view(&state, &media)))
}

/// Deletes one of the caller's media items; its bytes leave the quota at once.
#[utoipa::path(delete, path = "/api/v1/media/{id}", tag = "media",
    params(("id" = String, Path, description = "media id")),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such media of the caller")),
    security(("bearer" = [])))]
async fn delete_media(
    State(state): State<MediaState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "media")?;
    storage::delete(&state.store, &id, user.id()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The grant of a signed URL.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Expiry of the signature (unix seconds), as the URL was given.
    exp: Option<i64>,
    /// The signature, as the URL was given.
    sig: Option<String>,
}

/// The stored file (the re-encoded picture, or the video as uploaded).
///
/// Its owner fetches it with their token; anyone else through a signed URL, which the
/// context that showed them the post, message or profile gave them. Everything else is 404.
/// Supports `Range` (video seeking), `If-None-Match` and `If-Modified-Since`.
#[utoipa::path(get, path = "/api/v1/media/{id}/file", tag = "media",
    params(("id" = String, Path, description = "media id"), Grant),
    responses(
        (status = 200, description = "the file, in the type its content was found to be", content(
            (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"),
            (Vec<u8> = "image/gif"), (Vec<u8> = "video/mp4"), (Vec<u8> = "video/webm"))),
        (status = 206, description = "the requested range", content(
            (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"),
            (Vec<u8> = "image/gif"), (Vec<u8> = "video/mp4"), (Vec<u8> = "video/webm"))),
        (status = 304, description = "not modified"),
        (status = 404, description = "no such media, or not the caller's and not signed"),
        (status = 416, description = "a range outside the file")),
    security((), ("bearer" = [])))]
async fn media_file(
    State(state): State<MediaState>,
    viewer: MaybeUser,
    Path(id): Path<String>,
    Query(grant): Query<Grant>,
    request: Request,
) -> ApiResult<Response> {
    serve(&state, &viewer, &id, &grant, None, request).await
}

/// A thumbnail (`small`: fits 320 × 320; `medium`: fits 1280 × 1280), JPEG or (with
/// transparency) PNG. Pictures and GIFs have them; videos do not (404).
#[utoipa::path(get, path = "/api/v1/media/{id}/thumbnails/{size}", tag = "media",
    params(("id" = String, Path, description = "media id"), ("size" = Thumbnail, Path, description = "thumbnail size"), Grant),
    responses(
        (status = 200, description = "the thumbnail", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"))),
        (status = 304, description = "not modified"),
        (status = 404, description = "no such media or thumbnail, or not the caller's and not signed")),
    security((), ("bearer" = [])))]
async fn media_thumbnail(
    State(state): State<MediaState>,
    viewer: MaybeUser,
    Path((id, size)): Path<(String, String)>,
    Query(grant): Query<Grant>,
    request: Request,
) -> ApiResult<Response> {
    let size = Thumbnail::parse(&size).ok_or(Error::NotFound)?;
    serve(&state, &viewer, &id, &grant, Some(size), request).await
}

async fn serve(
    state: &MediaState,
    viewer: &MaybeUser,
    id: &str,
    grant: &Grant,
    thumbnail: Option<Thumbnail>,
    request: Request,
) -> ApiResult<Response> {
    let id = path_id(id, "media")?;
    let media = storage::media(&state.store, &id)?.ok_or(Error::NotFound)?;
    let owner = viewer.0.as_ref().is_some_and(|c| c.sub == media.owner);
    let signed = match (grant.exp, &grant.sig) {
        (Some(exp), Some(sig)) => state.urls.verify(&id, exp, sig, unix_now()),
        _ => false,
    };
    if !(owner || signed) {
        return Err(Error::NotFound.into());
    }
    let rendition = media.rendition(thumbnail).ok_or(Error::NotFound)?;
    let etag =
        HeaderValue::from_str(&format!("\"{}\"", rendition.sha256)).map_err(ApiError::internal)?;
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == etag || v == "*");
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let file = state.open_file(&rendition.sha256).await?;
        crate::platform::ranges::respond(file, request.headers(), &etag)?
    };
    let served = matches!(
        response.status(),
        StatusCode::OK | StatusCode::PARTIAL_CONTENT
    );
    let headers = response.headers_mut();
    if served {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(rendition.format.content_type()),
        );
    }
    headers.insert(header::ETAG, etag);
    // Content-addressed: what a URL names never changes. `private`: the URL is a
    // viewer's capability, not for shared caches.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600, immutable"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    Ok(response)
}
