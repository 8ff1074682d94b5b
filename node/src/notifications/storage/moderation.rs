//! The affected user learns what a moderator did and why (`moderation` notifications,
//! never grouped, with no actor: who moderated is not told); `rm/<post>` keeps removed
//! posts out of every other notification.

use crate::moderation::events::{
    AccountReinstated, AccountSuspended, ContentRemoved, ContentRestored, Target as Moderated,
    TargetKind, UserWarned,
};
use crate::platform::context::Event;
use crate::platform::http::rfc3339;
use crate::platform::storage::{Tx, TxResult, key};

use super::super::domain::{Kind, ModerationNote, ModerationOutcome, Target};
use super::{at, fresh, notification_key};

fn target(moderated: &Moderated) -> Target {
    match moderated.kind {
        TargetKind::Post => Target {
            post_id: Some(moderated.id.clone()),
            ..Default::default()
        },
        TargetKind::Comment => Target {
            comment_id: Some(moderated.id.clone()),
            ..Default::default()
        },
        TargetKind::Group => Target {
            group_id: Some(moderated.id.clone()),
            ..Default::default()
        },
        TargetKind::Message | TargetKind::User | TargetKind::Page => Target::default(),
    }
}

/// Tells `recipient` (always: the preferences cannot turn this kind off).
fn tell<E>(
    tx: &Tx,
    e: &Event<E>,
    recipient: &str,
    target: Target,
    note: ModerationNote,
) -> TxResult<()> {
    let mut n = fresh(e.id, at(e), recipient, Kind::Moderation, "", target);
    n.actors.clear();
    n.actor_count = 0;
    n.moderation = Some(note);
    tx.put(&notification_key(recipient, &n.id), &n)?;
    tx.put_raw(&key("nl/", &[recipient, &n.activity, &n.id]), &[])
}

pub fn content_removed(tx: &Tx, e: &Event<ContentRemoved>) -> TxResult<()> {
    let d = &e.data;
    if d.target.kind == TargetKind::Post {
        tx.put_raw(&key("rm/", &[&d.target.id]), d.action_id.as_bytes())?;
    }
    let Some(author) = &d.author_id else {
        return Ok(());
    };
    let note = ModerationNote {
        outcome: ModerationOutcome::Removed,
        reason: Some(d.reason.clone()),
        until: None,
    };
    tell(tx, e, author, target(&d.target), note)
}

pub fn content_restored(tx: &Tx, e: &Event<ContentRestored>) -> TxResult<()> {
    let d = &e.data;
    tx.remove(&key("rm/", &[&d.target.id]))?;
    let Some(author) = &d.author_id else {
        return Ok(());
    };
    let note = ModerationNote {
        outcome: ModerationOutcome::Restored,
        reason: None,
        until: None,
    };
    tell(tx, e, author, target(&d.target), note)
}

pub fn user_warned(tx: &Tx, e: &Event<UserWarned>) -> TxResult<()> {
    let d = &e.data;
    let note = ModerationNote {
        outcome: ModerationOutcome::Warned,
        reason: Some(d.reason.clone()),
        until: None,
    };
    tell(tx, e, &d.account_id, target(&d.target), note)
}

pub fn account_suspended(tx: &Tx, e: &Event<AccountSuspended>) -> TxResult<()> {
    let d = &e.data;
    let note = ModerationNote {
        outcome: match d.until {
            Some(_) => ModerationOutcome::Suspended,
            None => ModerationOutcome::Banned,
        },
        reason: Some(d.reason.clone()),
        until: d.until.map(rfc3339),
    };
    tell(tx, e, &d.account_id, Target::default(), note)
}

pub fn account_reinstated(tx: &Tx, e: &Event<AccountReinstated>) -> TxResult<()> {
    let note = ModerationNote {
        outcome: ModerationOutcome::Reinstated,
        reason: None,
        until: None,
    };
    tell(tx, e, &e.data.account_id, Target::default(), note)
}
