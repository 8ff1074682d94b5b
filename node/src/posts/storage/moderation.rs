//! Projections of moderation's decisions: `rm/<post or comment>` removed content,
//! `su/<account>` suspended accounts (with the end, compared with the clock at read time),
//! `kr/<rule>` the keyword rules text is screened against.
//! Both hide content on every read path; neither touches the content itself, so a
//! restore or the end of a suspension shows it again as it was.

use crate::moderation::events::{
    AccountReinstated, AccountSuspended, ContentRemoved, ContentRestored, KeywordRuleRemoved,
    KeywordRuleSet, Suspension, TargetKind,
};
use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, from_json, key};

use super::super::domain::KeywordRule;

fn removable(kind: TargetKind) -> bool {
    matches!(kind, TargetKind::Post | TargetKind::Comment)
}

pub fn content_removed(tx: &Tx, e: &Event<ContentRemoved>) -> TxResult<()> {
    if removable(e.data.target.kind) {
        tx.put_raw(
            &key("rm/", &[&e.data.target.id]),
            e.data.action_id.as_bytes(),
        )?;
    }
    Ok(())
}

pub fn content_restored(tx: &Tx, e: &Event<ContentRestored>) -> TxResult<()> {
    let k = key("rm/", &[&e.data.target.id]);
    if tx.get_raw(&k)?.as_deref() == Some(e.data.action_id.as_bytes()) {
        tx.remove(&k)?;
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

/// Whether a moderator removed this post or comment.
pub fn removed(store: &Store, id: &str) -> ApiResult<bool> {
    store.contains(&key("rm/", &[id]))
}

/// Whether `account` is suspended now (its content is hidden meanwhile).
pub fn suspended(store: &Store, account: &str) -> ApiResult<bool> {
    Ok(store
        .get::<Suspension>(&key("su/", &[account]))?
        .is_some_and(|s| s.holds(crate::platform::unix_now())))
}

/// Whether moderation hides this content: removed, or by a suspended author.
pub fn moderated(store: &Store, id: &str, author: &str) -> ApiResult<bool> {
    Ok(removed(store, id)? || suspended(store, author)?)
}

pub fn keyword_rule_set(tx: &Tx, e: &Event<KeywordRuleSet>) -> TxResult<()> {
    let rule = KeywordRule {
        id: e.data.rule_id.clone(),
        phrase: e.data.phrase.clone(),
        action: e.data.action,
    };
    tx.put(&key("kr/", &[&rule.id]), &rule)
}

pub fn keyword_rule_removed(tx: &Tx, e: &Event<KeywordRuleRemoved>) -> TxResult<()> {
    tx.remove(&key("kr/", &[&e.data.rule_id])).map(|_| ())
}

/// The keyword rules in force.
pub fn keyword_rules(store: &Store) -> ApiResult<Vec<KeywordRule>> {
    store
        .scan_after(b"kr/", None, usize::MAX)?
        .into_iter()
        .map(|(_, v)| Ok(from_json(&v)?))
        .collect()
}
