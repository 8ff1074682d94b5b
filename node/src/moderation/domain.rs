//! Pure rules of moderation: what may be reported and why, a report's life (open →
//! claimed → resolved), which action fits which target, and who may take it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::text::clean_text;

use super::error::{Error, Result};
pub use super::events::{ActionKind, KeywordAction, Reason, Target, TargetKind};

/// Longest free text of a report, and of a moderator's reason.
pub const TEXT_MAX_CHARS: usize = 1_000;
/// Longest suspension, in hours (a year); longer is a ban.
pub const MAX_SUSPENSION_HOURS: u32 = 24 * 365;

/// Where a report stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Waiting for a moderator.
    Open,
    /// A moderator is on it.
    Claimed,
    /// Decided (the outcome says how).
    Resolved,
}

/// What moderation knows about a target, from the events of the context that owns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// The account an action on the target falls on: a post's or comment's author, the
    /// user reported; none for groups and pages.
    pub account: Option<String>,
    /// The group the target belongs to (a group post or comment), or is.
    pub group: Option<String>,
    /// A message's conversation members when it was sent: who may report it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<String>,
}

/// How a report was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub action: ActionKind,
    /// The action taken (every resolution but a dismissal records one).
    pub action_id: String,
    pub by: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    pub reporter_id: String,
    pub target: Target,
    pub reason: Reason,
    pub comment: String,
    pub state: ReportState,
    /// Who claimed it (cleared by nothing: a resolved report keeps who had it).
    pub claimed_by: Option<String>,
    pub subject: Subject,
    pub created_at: i64,
    pub resolution: Option<Resolution>,
}

/// An action a moderator took: the record the audit log and `revert` go by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub id: String,
    pub kind: ActionKind,
    pub target: Target,
    /// The account it falls on (warn, suspend, ban; a removal's author).
    pub account: Option<String>,
    /// The group the target belongs to, whose moderators may act on it too.
    pub group: Option<String>,
    pub reason: String,
    pub by: String,
    pub at: i64,
    /// Suspensions: unix seconds when it ends.
    pub until: Option<i64>,
    /// Set when the action was taken back (a restore, a lifted suspension).
    pub reverted_at: Option<i64>,
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A moderator took a report.
    Claimed,
    /// A report was decided: `action` says how.
    Resolved,
    /// An action was taken back.
    Reverted,
    /// An admin changed an account's platform roles (`roles` says to what).
    RolesChanged,
}

/// One line of the append-only audit log: who did what, to what, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub kind: AuditKind,
    pub target: Target,
    pub report_id: Option<String>,
    pub action_id: Option<String>,
    pub action: Option<ActionKind>,
    pub reason: Option<String>,
    /// The roles an account was given (`RolesChanged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<crate::platform::tokens::Role>>,
}

/// Shortest and longest keyword phrase, in characters (after normalizing).
pub const PHRASE_CHARS: std::ops::RangeInclusive<usize> = 2..=100;

/// Where a keyword rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// Made by an admin through the API.
    Admin,
    /// `spec.moderation.blockedKeywords` (`AGORA_BLOCKED_KEYWORDS`): changed only there.
    Platform,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordRule {
    pub id: String,
    /// Normalized ([`crate::platform::keywords::normalize`]).
    pub phrase: String,
    pub action: KeywordAction,
    pub source: RuleSource,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// A phrase as a rule keeps it: normalized, 2 to 100 characters.
pub fn keyword_phrase(raw: &str) -> Result<String> {
    let phrase = crate::platform::keywords::normalize(&clean_text("phrase", raw, 200, false)?);
    if !PHRASE_CHARS.contains(&phrase.chars().count()) {
        return Err(Error::field(
            "phrase",
            "must be 2 to 100 characters once look-alikes and spacing are folded",
        ));
    }
    Ok(phrase)
}

/// On whose authority a moderator acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// A platform moderator.
    Moderator,
    /// A platform admin: everything a moderator may, and bans.
    Admin,
    /// A moderator or admin of the group the target belongs to: dismiss and remove only.
    GroupModerator,
}

/// The report's free text, checked and trimmed.
pub fn report_comment(text: Option<&str>) -> Result<String> {
    Ok(clean_text(
        "comment",
        text.unwrap_or(""),
        TEXT_MAX_CHARS,
        true,
    )?)
}

/// A moderator's reason: required, so the audit log and the affected user learn why.
pub fn action_reason(text: &str) -> Result<String> {
    let reason = clean_text("reason", text, TEXT_MAX_CHARS, true)?;
    if reason.is_empty() {
        return Err(Error::field("reason", "is required: say why"));
    }
    Ok(reason)
}

/// No one reports themselves or their own content; a message only its conversation's
/// members (to anyone else it does not exist).
pub fn may_report(reporter: &str, target: &Target, subject: &Subject) -> Result<()> {
    if target.kind == TargetKind::Message && !subject.participants.iter().any(|p| p == reporter) {
        return Err(Error::TargetNotFound("message"));
    }
    if subject.account.as_deref() == Some(reporter) {
        return Err(Error::field(
            "target",
            "is yours: delete it instead of reporting it",
        ));
    }
    Ok(())
}

/// Whether `kind` can be taken on `target`, and on which account it then falls.
pub fn applies(kind: ActionKind, target: &Target, subject: &Subject) -> Result<()> {
    match kind {
        ActionKind::Dismiss => Ok(()),
        ActionKind::Remove => match target.kind {
            TargetKind::Post | TargetKind::Comment | TargetKind::Message => Ok(()),
            _ => Err(Error::field(
                "action",
                "remove applies to posts, comments and messages; act on the account instead",
            )),
        },
        ActionKind::Warn | ActionKind::Suspend | ActionKind::Ban => match subject.account {
            Some(_) => Ok(()),
            None => Err(Error::field(
                "action",
                "groups and pages have no single account to warn, suspend or ban",
            )),
        },
    }
}

/// Whether `authority` may take `kind`.
pub fn may_take(authority: Authority, kind: ActionKind) -> Result<()> {
    match (authority, kind) {
        (Authority::Admin, _) => Ok(()),
        (_, ActionKind::Ban) => Err(Error::AdminsOnly("ban")),
        (Authority::Moderator, _) => Ok(()),
        (Authority::GroupModerator, ActionKind::Dismiss | ActionKind::Remove) => Ok(()),
        (Authority::GroupModerator, _) => Err(Error::GroupScope),
    }
}

/// When a suspension of `hours` from `now` ends: required for `suspend`, refused otherwise.
pub fn suspension_end(kind: ActionKind, hours: Option<u32>, now: i64) -> Result<Option<i64>> {
    match (kind, hours) {
        (ActionKind::Suspend, Some(h @ 1..=MAX_SUSPENSION_HOURS)) => {
            Ok(Some(now + i64::from(h) * 3600))
        }
        (ActionKind::Suspend, _) => Err(Error::field(
            "duration_hours",
            format!("is required for suspend: 1 to {MAX_SUSPENSION_HOURS}"),
        )),
        (_, Some(_)) => Err(Error::field("duration_hours", "applies to suspend only")),
        (_, None) => Ok(None),
    }
}

/// A claim: an open report, or one the same moderator holds (admins take any over).
pub fn claim(report: &Report, by: &str, admin: bool) -> Result<()> {
    match report.state {
        ReportState::Resolved => Err(Error::AlreadyResolved),
        ReportState::Claimed if report.claimed_by.as_deref() != Some(by) && !admin => {
            Err(Error::ClaimedByOther)
        }
        _ => Ok(()),
    }
}

/// Whether an action can still be taken back, and what that undoes.
pub fn revertible(action: &Action) -> Result<()> {
    if action.reverted_at.is_some() {
        return Err(Error::AlreadyReverted);
    }
    match action.kind {
        ActionKind::Remove | ActionKind::Suspend | ActionKind::Ban => Ok(()),
        ActionKind::Dismiss | ActionKind::Warn => Err(Error::NothingToRevert),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: TargetKind) -> Target {
        Target {
            kind,
            id: "01J00000000000000000000000".into(),
        }
    }

    fn authored(by: &str) -> Subject {
        Subject {
            account: Some(by.into()),
            ..Default::default()
        }
    }

    #[test]
    fn actions_fit_their_targets() {
        let post = target(TargetKind::Post);
        let group = target(TargetKind::Group);
        assert!(applies(ActionKind::Remove, &post, &authored("a")).is_ok());
        assert!(applies(ActionKind::Suspend, &post, &authored("a")).is_ok());
        assert!(
            applies(
                ActionKind::Remove,
                &target(TargetKind::User),
                &authored("a")
            )
            .is_err()
        );
        assert!(applies(ActionKind::Ban, &group, &Subject::default()).is_err());
        assert!(applies(ActionKind::Dismiss, &group, &Subject::default()).is_ok());
    }

    #[test]
    fn group_moderators_dismiss_and_remove_and_only_admins_ban() {
        use ActionKind::*;
        for kind in [Dismiss, Remove] {
            assert!(may_take(Authority::GroupModerator, kind).is_ok());
        }
        for kind in [Warn, Suspend, Ban] {
            assert!(may_take(Authority::GroupModerator, kind).is_err());
        }
        assert!(may_take(Authority::Moderator, Suspend).is_ok());
        assert!(may_take(Authority::Moderator, Ban).is_err());
        assert!(may_take(Authority::Admin, Ban).is_ok());
    }

    #[test]
    fn suspensions_need_a_bounded_duration() {
        assert_eq!(
            suspension_end(ActionKind::Suspend, Some(2), 100).ok(),
            Some(Some(7300))
        );
        assert!(suspension_end(ActionKind::Suspend, None, 0).is_err());
        assert!(suspension_end(ActionKind::Suspend, Some(0), 0).is_err());
        assert!(suspension_end(ActionKind::Suspend, Some(MAX_SUSPENSION_HOURS + 1), 0).is_err());
        assert!(suspension_end(ActionKind::Warn, Some(2), 0).is_err());
        assert_eq!(suspension_end(ActionKind::Ban, None, 0).ok(), Some(None));
    }

    #[test]
    fn phrases_are_normalized_and_bounded() {
        assert_eq!(
            keyword_phrase("  Cheap   WATCHES ").ok().as_deref(),
            Some("cheap watches")
        );
        assert!(keyword_phrase("x").is_err());
        assert!(keyword_phrase(&"x".repeat(101)).is_err());
        assert!(keyword_phrase("bad\u{202e}").is_err());
    }

    #[test]
    fn nobody_reports_themselves_and_reasons_are_required() {
        let post = target(TargetKind::Post);
        assert!(may_report("a", &post, &authored("a")).is_err());
        assert!(may_report("b", &post, &authored("a")).is_ok());
        let message = target(TargetKind::Message);
        let mut sent = authored("a");
        sent.participants = vec!["a".into(), "b".into()];
        assert!(may_report("b", &message, &sent).is_ok());
        assert!(matches!(
            may_report("c", &message, &sent),
            Err(Error::TargetNotFound(_))
        ));
        assert!(action_reason("  ").is_err());
        assert!(action_reason(&"x".repeat(TEXT_MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn claims_respect_who_holds_the_report() {
        let mut report = Report {
            id: "r".into(),
            reporter_id: "x".into(),
            target: target(TargetKind::Post),
            reason: Reason::Spam,
            comment: String::new(),
            state: ReportState::Open,
            claimed_by: None,
            subject: Subject::default(),
            created_at: 0,
            resolution: None,
        };
        assert!(claim(&report, "m1", false).is_ok());
        report.state = ReportState::Claimed;
        report.claimed_by = Some("m1".into());
        assert!(claim(&report, "m1", false).is_ok());
        assert!(claim(&report, "m2", false).is_err());
        assert!(claim(&report, "m2", true).is_ok());
        report.state = ReportState::Resolved;
        assert!(claim(&report, "m1", true).is_err());
    }
}
