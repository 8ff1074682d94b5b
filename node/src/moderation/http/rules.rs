//! Keyword rules: `GET /moderation/rules` (moderators), `POST` and `DELETE` (admins).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::error::ApiResult;
use crate::platform::http::{Json, path_id, rfc3339};
use crate::platform::tokens::{Admin, Moderator, RequireRole};
use crate::platform::{ContextState, new_id, unix_now};

use super::super::domain::{self, KeywordAction, KeywordRule, RuleSource};
use super::super::storage;

/// A keyword rule as moderators see it.
#[derive(Serialize, ToSchema)]
pub struct RuleView {
    pub id: String,
    /// Normalized: lower-case, look-alikes and spacing folded.
    pub phrase: String,
    pub action: KeywordAction,
    pub source: RuleSource,
    pub created_at: String,
}

fn rule_view(r: KeywordRule) -> RuleView {
    RuleView {
        id: r.id,
        phrase: r.phrase,
        action: r.action,
        source: r.source,
        created_at: rfc3339(r.created_at),
    }
}

#[derive(Serialize, ToSchema)]
pub struct RuleList {
    pub items: Vec<RuleView>,
}

/// Every keyword rule: the platform's (from its configuration) and the admins'.
#[utoipa::path(get, path = "/api/v1/moderation/rules", tag = "moderation",
    responses((status = 200, body = RuleList), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list_rules(
    State(s): State<ContextState>,
    _moderator: RequireRole<Moderator>,
) -> ApiResult<Json<RuleList>> {
    let items = storage::rules(&s.store)?
        .into_iter()
        .map(rule_view)
        .collect();
    Ok(Json(RuleList { items }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phrase": "cheap watches", "action": "flag"}))]
pub struct NewRule {
    /// A word or phrase, matched as whole words whatever its case, accents, look-alike
    /// letters, leetspeak or separators. 2 to 100 characters.
    #[schema(min_length = 2, max_length = 200)]
    pub phrase: String,
    pub action: KeywordAction,
}

/// Adds a rule (one per phrase: 409 for a second). It applies to new posts, comments and
/// edits as soon as the posts context has the event.
#[utoipa::path(post, path = "/api/v1/moderation/rules", tag = "moderation", request_body = NewRule,
    responses((status = 201, body = RuleView), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn add_rule(
    State(s): State<ContextState>,
    RequireRole(admin, ..): RequireRole<Admin>,
    Json(req): Json<NewRule>,
) -> ApiResult<(StatusCode, Json<RuleView>)> {
    let rule = KeywordRule {
        id: new_id(),
        phrase: domain::keyword_phrase(&req.phrase)?,
        action: req.action,
        source: RuleSource::Admin,
        created_by: Some(admin.id().to_string()),
        created_at: unix_now(),
    };
    let rule = storage::add_rule(&s.store, &rule).await?;
    Ok((StatusCode::CREATED, Json(rule_view(rule))))
}

/// Deletes an admin's rule (the platform's are changed in its configuration: 409).
#[utoipa::path(delete, path = "/api/v1/moderation/rules/{id}", tag = "moderation",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn delete_rule(
    State(s): State<ContextState>,
    RequireRole(admin, ..): RequireRole<Admin>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "keyword rule")?;
    storage::remove_rule(&s.store, &id, admin.id()).await?;
    Ok(StatusCode::NO_CONTENT)
}
