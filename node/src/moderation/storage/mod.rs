//! The only code of moderation that touches sled. Projections ([`PROJECTIONS`]): what
//! moderation knows of the things that can be reported, `tp/<post>`, `tc/<comment>`,
//! `tm/<message>` (with who was in the conversation),
//! `tu/<account>`, `tg/<group>`, `ta/<page>` (each a [`Subject`]), and `gr/<group><user>`
//! the moderators and admins of each group, `fq/<event>` content the screening contexts
//! flagged ([`rules`]). Its own truth: reports, actions, the current removals and
//! suspensions, and the audit log ([`reports`]); keyword rules ([`rules`]).

mod reports;
mod rules;

pub use reports::{
    Decision, QueueFilter, action, audit_log, audit_log_after, claim, file_report, queue, report,
    reporter_reports, resolve, revert, roles_changed,
};
pub use rules::{
    Flagged, add_rule, edit_flagged, flagged, open_flag_report, reconcile_platform_rules,
    remove_rule, rules, watch_flagged,
};

use crate::auth::events as auth;
use crate::groups::events::{self as groups, GroupRole};
use crate::messages::events as messages;
use crate::platform::context::Event;
use crate::platform::erasure::{Erase, Named};
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, key};
use crate::posts::events::{self as posts, Audience};

use super::domain::{Subject, Target, TargetKind};

/// The key prefixes that `rebuild` drops and rebuilds from the stream.
pub const PROJECTIONS: &[&str] = &["tp/", "tc/", "tm/", "tu/", "tg/", "ta/", "gr/", "fq/"];

fn subject_key(target: &Target) -> Vec<u8> {
    let prefix = match target.kind {
        TargetKind::Post => "tp/",
        TargetKind::Comment => "tc/",
        TargetKind::Message => "tm/",
        TargetKind::User => "tu/",
        TargetKind::Group => "tg/",
        TargetKind::Page => "ta/",
    };
    key(prefix, &[&target.id])
}

fn put_subject(tx: &Tx, kind: TargetKind, id: &str, subject: &Subject) -> TxResult<()> {
    let target = Target {
        kind,
        id: id.to_string(),
    };
    tx.put(&subject_key(&target), subject)
}

fn forget(tx: &Tx, kind: TargetKind, id: &str) -> TxResult<()> {
    let target = Target {
        kind,
        id: id.to_string(),
    };
    tx.remove(&subject_key(&target)).map(|_| ())
}

pub fn post_created(tx: &Tx, e: &Event<posts::PostCreated>) -> TxResult<()> {
    let group = match &e.data.audience {
        Audience::Group { id } => Some(id.clone()),
        _ => None,
    };
    let subject = Subject {
        account: Some(e.data.author_id.clone()),
        group,
        participants: Vec::new(),
    };
    put_subject(tx, TargetKind::Post, &e.data.post_id, &subject)?;
    rules::post_flagged(tx, e)
}

pub fn post_deleted(tx: &Tx, e: &Event<posts::PostDeleted>) -> TxResult<()> {
    forget(tx, TargetKind::Post, &e.data.post_id)
}

/// A comment belongs to its post's group. A flagged one is queued for a report, as a
/// flagged post is.
pub fn comment_added(tx: &Tx, e: &Event<posts::CommentAdded>) -> TxResult<()> {
    let post = Target {
        kind: TargetKind::Post,
        id: e.data.post_id.clone(),
    };
    let group = tx
        .get::<Subject>(&subject_key(&post))?
        .and_then(|s| s.group);
    let subject = Subject {
        account: Some(e.data.author_id.clone()),
        group,
        participants: Vec::new(),
    };
    put_subject(tx, TargetKind::Comment, &e.data.comment_id, &subject)?;
    rules::comment_flagged(tx, e)
}

pub fn comment_deleted(tx: &Tx, e: &Event<posts::CommentDeleted>) -> TxResult<()> {
    forget(tx, TargetKind::Comment, &e.data.comment_id)
}

pub fn account_registered(tx: &Tx, e: &Event<auth::AccountRegistered>) -> TxResult<()> {
    let subject = Subject {
        account: Some(e.data.account_id.clone()),
        ..Default::default()
    };
    put_subject(tx, TargetKind::User, &e.data.account_id, &subject)
}

pub fn group_updated(tx: &Tx, e: &Event<groups::GroupUpdated>) -> TxResult<()> {
    let subject = Subject {
        group: Some(e.data.group_id.clone()),
        ..Default::default()
    };
    put_subject(tx, TargetKind::Group, &e.data.group_id, &subject)
}

pub fn group_deleted(tx: &Tx, e: &Event<groups::GroupDeleted>) -> TxResult<()> {
    forget(tx, TargetKind::Group, &e.data.group_id)
}

pub fn page_updated(tx: &Tx, e: &Event<groups::PageUpdated>) -> TxResult<()> {
    put_subject(tx, TargetKind::Page, &e.data.page_id, &Subject::default())
}

/// A message: its sender, and who could read it (sender and recipients when it was sent).
pub fn message_sent(tx: &Tx, e: &Event<messages::MessageSent>) -> TxResult<()> {
    let m = &e.data;
    let mut participants = m.recipients.clone();
    participants.push(m.sender_id.clone());
    let subject = Subject {
        account: Some(m.sender_id.clone()),
        group: None,
        participants,
    };
    put_subject(tx, TargetKind::Message, &m.message_id, &subject)
}

/// Keeps the group's moderators and admins; a member's demotion drops them.
pub fn member_joined(tx: &Tx, e: &Event<groups::MemberJoined>) -> TxResult<()> {
    let k = key("gr/", &[&e.data.group_id, &e.data.user_id]);
    if e.data.role >= GroupRole::Moderator {
        tx.put_raw(&k, &[])
    } else {
        tx.remove(&k).map(|_| ())
    }
}

pub fn member_left(tx: &Tx, e: &Event<groups::MemberLeft>) -> TxResult<()> {
    tx.remove(&key("gr/", &[&e.data.group_id, &e.data.user_id]))
        .map(|_| ())
}

/// What moderation knows of `target`; `None` when it has not heard of it (or it is gone).
pub fn subject(store: &Store, target: &Target) -> ApiResult<Option<Subject>> {
    store.get(&subject_key(target))
}

/// Whether `user` moderates (or administers) `group`.
pub fn group_moderator(store: &Store, group: &str, user: &str) -> ApiResult<bool> {
    store.contains(&key("gr/", &[group, user]))
}

/// Erasure: reports, actions and the audit log keep what was done and why, without naming
/// the person (reporter, target or moderator); what moderation knew of their content and
/// roles goes.
pub fn erasure(named: &Named, _: &str) -> Erase {
    match named.prefix() {
        b"tp/" | b"tc/" | b"tm/" | b"tu/" | b"tg/" | b"ta/" | b"gr/" | b"fq/" => Erase::Remove,
        _ => Erase::Anonymize,
    }
}
