//! The HTTP API of moderation: reports by users ([`reports`]), the moderators' queue and
//! decisions ([`queue`]), the audit log and its export ([`audit`]), and keyword rules
//! ([`rules`]).

mod audit;
mod queue;
mod reports;
mod rules;

use axum::Router;
use axum::routing::{delete, get, post};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::ContextState;
use crate::platform::error::ApiResult;
use crate::platform::http::rfc3339;
use crate::platform::storage::Store;
use crate::platform::tokens::{AuthUser, Role};

use super::domain::{
    ActionKind, AuditKind, Authority, Reason, Report, ReportState, Resolution, Target, TargetKind,
};
use super::error::Error;
use super::storage;

pub fn routes(state: ContextState) -> Router {
    Router::new()
        .route(
            "/api/v1/reports",
            post(reports::file_report).get(reports::my_reports),
        )
        .route("/api/v1/moderation/reports", get(queue::list_queue))
        .route("/api/v1/moderation/reports/{id}", get(queue::get_report))
        .route(
            "/api/v1/moderation/reports/{id}/claim",
            post(queue::claim_report),
        )
        .route(
            "/api/v1/moderation/reports/{id}/resolve",
            post(queue::resolve_report),
        )
        .route(
            "/api/v1/moderation/actions/{id}/revert",
            post(queue::revert_action),
        )
        .route("/api/v1/moderation/audit", get(audit::audit_log))
        .route(
            "/api/v1/moderation/audit/export",
            get(audit::export_audit_log),
        )
        .route(
            "/api/v1/moderation/rules",
            get(rules::list_rules).post(rules::add_rule),
        )
        .route("/api/v1/moderation/rules/{id}", delete(rules::delete_rule))
        .with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        reports::file_report,
        reports::my_reports,
        queue::list_queue,
        queue::get_report,
        queue::claim_report,
        queue::resolve_report,
        queue::revert_action,
        audit::audit_log,
        audit::export_audit_log,
        rules::list_rules,
        rules::add_rule,
        rules::delete_rule
    ),
    components(schemas(
        reports::NewReport,
        ReportView,
        Outcome,
        queue::QueueItem,
        queue::ResolveRequest,
        queue::RevertRequest,
        queue::ActionView,
        queue::Resolved,
        audit::AuditView,
        Target,
        TargetKind,
        Reason,
        ReportState,
        ActionKind,
        AuditKind,
        rules::RuleView,
        rules::RuleList,
        rules::NewRule,
        super::domain::KeywordAction,
        super::domain::RuleSource
    ))
)]
pub struct ModerationApi;

/// How a report was decided, as its reporter sees it.
#[derive(Serialize, ToSchema)]
pub struct Outcome {
    pub action: ActionKind,
    pub resolved_at: String,
}

/// A report as its reporter sees it: what, why, and where it stands.
#[derive(Serialize, ToSchema)]
pub struct ReportView {
    pub id: String,
    pub target: Target,
    pub reason: Reason,
    pub comment: String,
    pub state: ReportState,
    pub created_at: String,
    /// Present once resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

fn outcome(r: &Resolution) -> Outcome {
    Outcome {
        action: r.action,
        resolved_at: rfc3339(r.at),
    }
}

pub fn report_view(r: &Report) -> ReportView {
    ReportView {
        id: r.id.clone(),
        target: r.target.clone(),
        reason: r.reason,
        comment: r.comment.clone(),
        state: r.state,
        created_at: rfc3339(r.created_at),
        outcome: r.resolution.as_ref().map(outcome),
    }
}

/// On whose authority `user` acts on something of `group`: the platform's roles first,
/// then the group's. Anyone else is refused (403) on every moderation route.
fn authority(store: &Store, user: &AuthUser, group: Option<&str>) -> ApiResult<Authority> {
    if user.0.has_role(Role::Admin) {
        return Ok(Authority::Admin);
    }
    if user.0.has_role(Role::Moderator) {
        return Ok(Authority::Moderator);
    }
    match group {
        Some(g) if storage::group_moderator(store, g, user.id())? => Ok(Authority::GroupModerator),
        _ => Err(Error::NotModerator.into()),
    }
}
