//! The published language of moderation: the decisions other contexts carry out. Auth
//! refuses suspended accounts and ends their sessions; posts, feed and search hide removed
//! content and the content of suspended accounts; notifications tells the affected user.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::envelope::DomainEvent;

pub const CONTEXT: &str = "moderation";

/// Why something is reported (the list Mastodon and the large networks offer, in short).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Spam,
    Harassment,
    HateSpeech,
    Violence,
    Nudity,
    SelfHarm,
    Misinformation,
    IntellectualProperty,
    Illegal,
    Other,
}

/// What can be reported and acted on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Post,
    Comment,
    /// A message, reported by a member of its conversation.
    Message,
    User,
    Group,
    Page,
}

impl TargetKind {
    pub const fn name(self) -> &'static str {
        match self {
            TargetKind::Post => "post",
            TargetKind::Comment => "comment",
            TargetKind::Message => "message",
            TargetKind::User => "user",
            TargetKind::Group => "group",
            TargetKind::Page => "page",
        }
    }
}

/// A reported or moderated thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = ReportTarget)]
pub struct Target {
    pub kind: TargetKind,
    /// The post's, comment's, user's, group's or page's id.
    pub id: String,
}

impl Target {
    /// `<kind>:<id>`: how storage keys name a target.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.name(), self.id)
    }
}

/// What a moderator decided.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Nothing wrong: the report is closed.
    Dismiss,
    /// The post or comment disappears from every read path (restorable).
    Remove,
    /// The account's owner is told, nothing else happens.
    Warn,
    /// The account cannot log in and its content is hidden, for a period.
    Suspend,
    /// A suspension without end (admins only; an admin may lift it).
    Ban,
}

/// A post, comment or message was removed by a moderator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContentRemoved {
    pub action_id: String,
    pub target: Target,
    /// Its author, who is told why.
    pub author_id: Option<String>,
    pub reason: String,
}
impl DomainEvent for ContentRemoved {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "ContentRemoved";
}

/// A removal was taken back: the content is shown again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContentRestored {
    pub action_id: String,
    pub target: Target,
    pub author_id: Option<String>,
}
impl DomainEvent for ContentRestored {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "ContentRestored";
}

/// An account is suspended until `until` (unix seconds), or banned (`until` absent).
/// Readers compare `until` with their clock: a suspension ends without another event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountSuspended {
    pub action_id: String,
    pub account_id: String,
    pub until: Option<i64>,
    pub reason: String,
}
impl DomainEvent for AccountSuspended {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "AccountSuspended";
}

impl AccountSuspended {
    /// Whether the suspension holds at `now`.
    pub fn holds(until: Option<i64>, now: i64) -> bool {
        until.is_none_or(|end| now < end)
    }
}

/// What a consumer keeps of the suspension in force for an account (`su/<account>` in
/// each context that hides a suspended account's content).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Suspension {
    pub action_id: String,
    pub until: Option<i64>,
}

impl From<&AccountSuspended> for Suspension {
    fn from(e: &AccountSuspended) -> Self {
        Suspension {
            action_id: e.action_id.clone(),
            until: e.until,
        }
    }
}

impl Suspension {
    pub fn holds(&self, now: i64) -> bool {
        AccountSuspended::holds(self.until, now)
    }

    /// Whether `lifted` ends this suspension (not an older one, superseded by this).
    pub fn lifted_by(&self, lifted: &AccountReinstated) -> bool {
        self.action_id == lifted.action_id
    }
}

/// A suspension or ban was lifted before its end.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountReinstated {
    pub action_id: String,
    pub account_id: String,
}
impl DomainEvent for AccountReinstated {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "AccountReinstated";
}

/// An account's owner was warned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserWarned {
    pub action_id: String,
    pub account_id: String,
    pub target: Target,
    pub reason: String,
}
impl DomainEvent for UserWarned {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "UserWarned";
}

/// Someone reported something (analytics counts these; the reporter's export lists them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportFiled {
    pub report_id: String,
    pub reporter_id: String,
    pub target: Target,
    pub reason: Reason,
}
impl DomainEvent for ReportFiled {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "ReportFiled";
}

/// What a keyword rule does to text that matches it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KeywordAction {
    /// The post or comment is refused (422 naming the rule).
    Block,
    /// It goes out, and a report is opened for moderators.
    Flag,
}

/// A keyword rule exists (or changed). `phrase` is normalized
/// ([`crate::platform::keywords::normalize`]); contexts that check text keep the rules and
/// match with [`crate::platform::keywords`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeywordRuleSet {
    pub rule_id: String,
    pub phrase: String,
    pub action: KeywordAction,
}
impl DomainEvent for KeywordRuleSet {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "KeywordRuleSet";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeywordRuleRemoved {
    pub rule_id: String,
}
impl DomainEvent for KeywordRuleRemoved {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "KeywordRuleRemoved";
}
