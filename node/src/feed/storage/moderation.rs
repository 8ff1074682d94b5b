//! Projections of moderation's decisions: a removed post is marked in its metadata
//! (`pm/`, so a read pays nothing for it), `su/<account>` suspended accounts (compared
//! with the clock at read time). Timelines keep their entries: a restore, or the end of a
//! suspension, shows the posts again where they were.

use crate::moderation::events::{
    AccountReinstated, AccountSuspended, ContentRemoved, ContentRestored, Suspension, TargetKind,
};
use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, key};

use super::bump;

pub fn content_removed(tx: &Tx, e: &Event<ContentRemoved>) -> TxResult<()> {
    if e.data.target.kind == TargetKind::Post {
        bump(tx, &e.data.target.id, |m| m.removed = true)?;
    }
    Ok(())
}

pub fn content_restored(tx: &Tx, e: &Event<ContentRestored>) -> TxResult<()> {
    if e.data.target.kind == TargetKind::Post {
        bump(tx, &e.data.target.id, |m| m.removed = false)?;
    }
    Ok(())
}

pub fn account_suspended(tx: &Tx, e: &Event<AccountSuspended>) -> TxResult<()> {
    tx.put(
        &key("su/", &[&e.data.account_id]),
        &Suspension::from(&e.data),
    )
}

pub fn account_reinstated(tx: &Tx, e: &Event<AccountReinstated>) -> TxResult<()> {
    let k = key("su/", &[&e.data.account_id]);
    if tx
        .get::<Suspension>(&k)?
        .is_some_and(|s| s.lifted_by(&e.data))
    {
        tx.remove(&k)?;
    }
    Ok(())
}

/// Whether `account` is suspended at `now`.
pub fn suspended(store: &Store, account: &str, now: i64) -> ApiResult<bool> {
    Ok(store
        .get::<Suspension>(&key("su/", &[account]))?
        .is_some_and(|s| s.holds(now)))
}
