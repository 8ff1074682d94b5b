//! Reports by users: `POST /reports`, `GET /reports` (one's own, with their outcome).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::platform::error::{ApiError, ApiResult};
use crate::platform::http::{Json, Page, PageParams, Query};
use crate::platform::tokens::AuthUser;
use crate::platform::{ContextState, new_id, unix_now};

use super::super::domain::{self, Reason, Report, ReportState, Target};
use super::super::error::Error;
use super::super::storage;
use super::{ReportView, report_view};

/// What a user reports, and why.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"target": {"kind": "post", "id": "01JD7Z5Q5V0K8Y9B2C3D4E5F6G"}, "reason": "spam", "comment": "the same link in every group"}))]
pub struct NewReport {
    pub target: Target,
    pub reason: Reason,
    /// What moderators should know, at most 1,000 characters.
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

/// Files a report. One open report per reporter and target (409 for a second); a target
/// the platform does not know is 404.
#[utoipa::path(post, path = "/api/v1/reports", tag = "moderation", request_body = NewReport,
    responses((status = 201, body = ReportView), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn file_report(
    State(s): State<ContextState>,
    user: AuthUser,
    Json(req): Json<NewReport>,
) -> ApiResult<(StatusCode, Json<ReportView>)> {
    let target = Target {
        kind: req.target.kind,
        id: ulid::Ulid::from_string(&req.target.id)
            .map_err(|_| ApiError::field("target.id", "must be an id"))?
            .to_string(),
    };
    let comment = domain::report_comment(req.comment.as_deref())?;
    let subject =
        storage::subject(&s.store, &target)?.ok_or(Error::TargetNotFound(target.kind.name()))?;
    domain::may_report(user.id(), &target, &subject)?;
    let subject = domain::Subject {
        participants: Vec::new(),
        ..subject
    };
    let report = Report {
        id: new_id(),
        reporter_id: user.id().to_string(),
        target,
        reason: req.reason,
        comment,
        state: ReportState::Open,
        claimed_by: None,
        subject,
        created_at: unix_now(),
        resolution: None,
    };
    let report = storage::file_report(&s.store, &report).await?;
    Ok((StatusCode::CREATED, Json(report_view(&report))))
}

/// The caller's reports, newest first, with where each stands.
#[utoipa::path(get, path = "/api/v1/reports", tag = "moderation", params(PageParams),
    responses((status = 200, body = Page<ReportView>), (status = 422)), security(("bearer" = [])))]
pub(super) async fn my_reports(
    State(s): State<ContextState>,
    user: AuthUser,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Page<ReportView>>> {
    let (limit, cursor) = (q.limit()?, q.cursor_id()?);
    let rows = storage::reporter_reports(&s.store, user.id(), cursor.as_deref(), limit + 1)?;
    Ok(Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        |r| Ok(Some(report_view(&r))),
    )?))
}
