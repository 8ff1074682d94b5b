//! Projections of moderation's decisions: `rm/<post>` removed posts (their documents stay,
//! with no access token, so nobody finds them, and they count for no trend), `su/<account>`
//! suspended accounts (left out of every query and every trend while the suspension holds,
//! compared with the clock at query time).

use std::collections::BTreeSet;

use crate::moderation::events::{
    AccountReinstated, AccountSuspended, ContentRemoved, ContentRestored, Suspension, TargetKind,
};
use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, from_json, key};

use super::super::domain::{Doc, Kind};
use super::{PostMeta, doc_key, post_doc, put_doc, trend, trending};

pub fn removed(tx: &Tx, post: &str) -> TxResult<bool> {
    tx.contains(&key("rm/", &[post]))
}

pub fn content_removed(tx: &Tx, e: &Event<ContentRemoved>) -> TxResult<()> {
    let post = &e.data.target.id;
    if e.data.target.kind != TargetKind::Post {
        return Ok(());
    }
    tx.put_raw(&key("rm/", &[post]), e.data.action_id.as_bytes())?;
    trending::contribute(tx, post, None)?;
    reindex(tx, e.id, post)
}

pub fn content_restored(tx: &Tx, e: &Event<ContentRestored>) -> TxResult<()> {
    let post = &e.data.target.id;
    let k = key("rm/", &[post]);
    if tx.get_raw(&k)?.as_deref() != Some(e.data.action_id.as_bytes()) {
        return Ok(());
    }
    tx.remove(&k)?;
    reindex(tx, e.id, post)
}

/// Recomputes a post's document (and what it adds to trending) from what search keeps.
fn reindex(tx: &Tx, event: &str, post: &str) -> TxResult<()> {
    let (Some(meta), Some(old)) = (
        tx.get::<PostMeta>(&key("pm/", &[post]))?,
        tx.get::<Doc>(&doc_key(Kind::Posts, post))?,
    ) else {
        return Ok(());
    };
    let doc = post_doc(tx, post, &meta, &old.body, &old.tags, old.created_at)?;
    trend(tx, post, &meta, old.created_at, &old.tags)?;
    put_doc(tx, event, &doc)
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

/// The accounts suspended at `now`.
pub fn suspended(store: &Store, now: i64) -> ApiResult<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for (account, value) in store.scan_after(b"su/", None, usize::MAX)? {
        let s: Suspension = from_json(&value)?;
        if s.holds(now) {
            out.insert(String::from_utf8_lossy(&account).into_owned());
        }
    }
    Ok(out)
}
