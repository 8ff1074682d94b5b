//! The moderators' side: the queue (`/moderation/reports`), claiming and resolving a
//! report, reverting an action.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::platform::error::{ApiError, ApiResult};
use crate::platform::http::{Json, Page, PageParams, Query, path_id, rfc3339};
use crate::platform::tokens::{AuthUser, Role};
use crate::platform::{ContextState, unix_now};

use super::super::domain::{
    self, Action, ActionKind, Authority, Reason, Report, ReportState, Target, TargetKind,
};
use super::super::error::Error;
use super::super::storage::{self, Decision, QueueFilter};
use super::{ReportView, authority, report_view};

/// A report as moderators see it: who filed it, who holds it, on whom it falls.
#[derive(Serialize, ToSchema)]
pub struct QueueItem {
    #[serde(flatten)]
    pub report: ReportView,
    pub reporter_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// The account an action would fall on (the author, the user reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The group the target belongs to (group moderators see these).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The action that resolved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
}

fn queue_item(r: &Report) -> QueueItem {
    QueueItem {
        report: report_view(r),
        reporter_id: r.reporter_id.clone(),
        claimed_by: r.claimed_by.clone(),
        account_id: r.subject.account.clone(),
        group_id: r.subject.group.clone(),
        action_id: r.resolution.as_ref().map(|x| x.action_id.clone()),
        resolved_by: r.resolution.as_ref().map(|x| x.by.clone()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// Only reports in this state.
    state: Option<ReportState>,
    /// Only reports for this reason.
    reason: Option<Reason>,
    /// Only reports about this kind of target.
    kind: Option<TargetKind>,
    /// Only reports about this group's content: what a group's moderators may list.
    #[param(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$")]
    group: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$")]
    cursor: Option<String>,
}

/// The queue, newest first: platform moderators and admins see every report; a group's
/// moderators list their group's (`group` required).
#[utoipa::path(get, path = "/api/v1/moderation/reports", tag = "moderation", params(QueueParams),
    responses((status = 200, body = Page<QueueItem>), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn list_queue(
    State(s): State<ContextState>,
    user: AuthUser,
    Query(q): Query<QueueParams>,
) -> ApiResult<Json<Page<QueueItem>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (limit, cursor) = (page.limit()?, page.cursor_id()?);
    let group = q
        .group
        .as_deref()
        .map(|g| {
            ulid::Ulid::from_string(g)
                .map(|u| u.to_string())
                .map_err(|_| ApiError::field("group", "must be a group id"))
        })
        .transpose()?;
    authority(&s.store, &user, group.as_deref())?;
    let filter = QueueFilter {
        state: q.state,
        reason: q.reason,
        kind: q.kind,
        group,
    };
    let rows = storage::queue(&s.store, &filter, cursor.as_deref(), limit + 1)?;
    Ok(Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        |r| Ok(Some(queue_item(&r))),
    )?))
}

/// A report and the authority the caller has over it (403 without any).
fn held_report(s: &ContextState, user: &AuthUser, id: &str) -> ApiResult<(Report, Authority)> {
    let id = path_id(id, "report")?;
    let Some(report) = storage::report(&s.store, &id)? else {
        return Err(if user.0.has_role(Role::Moderator) {
            Error::ReportNotFound.into()
        } else {
            Error::NotModerator.into()
        });
    };
    let authority = authority(&s.store, user, report.subject.group.as_deref())?;
    Ok((report, authority))
}

#[utoipa::path(get, path = "/api/v1/moderation/reports/{id}", tag = "moderation",
    params(("id" = String, Path)),
    responses((status = 200, body = QueueItem), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn get_report(
    State(s): State<ContextState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<QueueItem>> {
    let (report, _) = held_report(&s, &user, &id)?;
    Ok(Json(queue_item(&report)))
}

/// Takes a report, so two moderators do not work on it at once (409 when another holds
/// it; admins take it over).
#[utoipa::path(post, path = "/api/v1/moderation/reports/{id}/claim", tag = "moderation",
    params(("id" = String, Path)),
    responses((status = 200, body = QueueItem), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn claim_report(
    State(s): State<ContextState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<QueueItem>> {
    let (report, authority) = held_report(&s, &user, &id)?;
    let admin = authority == Authority::Admin;
    let report = storage::claim(&s.store, &report.id, user.id(), admin).await?;
    Ok(Json(queue_item(&report)))
}

/// A decision about a report.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"action": "suspend", "reason": "repeated spam after a warning", "duration_hours": 72}))]
pub struct ResolveRequest {
    pub action: ActionKind,
    /// Why: kept in the audit log and told to the affected user. 1 to 1,000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
    /// `suspend` only: how long, 1 to 8,760 hours.
    #[schema(minimum = 1, maximum = 8760)]
    pub duration_hours: Option<u32>,
}

/// An action as the queue and the audit log show it.
#[derive(Serialize, ToSchema)]
pub struct ActionView {
    pub id: String,
    pub action: ActionKind,
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub reason: String,
    pub by: String,
    pub at: String,
    /// Suspensions: when it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverted_at: Option<String>,
}

fn action_view(a: &Action) -> ActionView {
    ActionView {
        id: a.id.clone(),
        action: a.kind,
        target: a.target.clone(),
        account_id: a.account.clone(),
        reason: a.reason.clone(),
        by: a.by.clone(),
        at: rfc3339(a.at),
        until: a.until.map(rfc3339),
        reverted_at: a.reverted_at.map(rfc3339),
    }
}

#[derive(Serialize, ToSchema)]
pub struct Resolved {
    pub report: QueueItem,
    pub action: ActionView,
}

/// Decides a report, and with it every other open report about the same target; the
/// action takes effect through events (removed content leaves every read path, a
/// suspended account is logged out and hidden, the affected user is told why).
#[utoipa::path(post, path = "/api/v1/moderation/reports/{id}/resolve", tag = "moderation",
    params(("id" = String, Path)), request_body = ResolveRequest,
    responses((status = 200, body = Resolved), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn resolve_report(
    State(s): State<ContextState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<ResolveRequest>,
) -> ApiResult<Json<Resolved>> {
    let (report, authority) = held_report(&s, &user, &id)?;
    domain::may_take(authority, req.action)?;
    let reason = domain::action_reason(&req.reason)?;
    let now = unix_now();
    let until = domain::suspension_end(req.action, req.duration_hours, now)?;
    let decision = Decision {
        kind: req.action,
        reason,
        until,
        by: user.id().to_string(),
        now,
    };
    let (report, action) = storage::resolve(&s.store, &report.id, &decision).await?;
    Ok(Json(Resolved {
        report: queue_item(&report),
        action: action_view(&action),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "the appeal showed the post was satire"}))]
pub struct RevertRequest {
    /// Why, 1 to 1,000 characters (kept in the audit log).
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// Takes an action back: restores removed content, lifts a suspension or (admins) a ban.
/// Only the removal or suspension in force can be reverted (409 otherwise).
#[utoipa::path(post, path = "/api/v1/moderation/actions/{id}/revert", tag = "moderation",
    params(("id" = String, Path)), request_body = RevertRequest,
    responses((status = 200, body = ActionView), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn revert_action(
    State(s): State<ContextState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<RevertRequest>,
) -> ApiResult<Json<ActionView>> {
    let id = path_id(&id, "action")?;
    let Some(action) = storage::action(&s.store, &id)? else {
        return Err(if user.0.has_role(Role::Moderator) {
            Error::ActionNotFound.into()
        } else {
            Error::NotModerator.into()
        });
    };
    let authority = authority(&s.store, &user, action.group.as_deref())?;
    domain::may_take(authority, action.kind)?;
    let reason = domain::action_reason(&req.reason)?;
    let action = storage::revert(&s.store, &action.id, user.id(), &reason).await?;
    Ok(Json(action_view(&action)))
}
