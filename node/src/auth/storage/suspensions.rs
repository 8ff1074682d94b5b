//! Suspensions, a projection of moderation's decisions (`su/<account>`): a suspended
//! account cannot log in or refresh, and its sessions end when the suspension arrives.

use super::*;
use crate::moderation::events::{AccountReinstated, AccountSuspended};
use crate::platform::context::Event;

/// A suspension in force (until its end: readers compare it with their clock).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Suspension {
    pub action_id: String,
    /// Unix seconds; absent for a ban.
    pub until: Option<i64>,
    pub reason: String,
}

fn suspension_key(account_id: &str) -> Vec<u8> {
    key("su/", &[account_id])
}

/// The sessions to end, read before the transaction (which cannot scan).
pub fn read_sessions(store: &Store, e: &Event<AccountSuspended>) -> ApiResult<Vec<String>> {
    session_ids(store, &e.data.account_id)
}

/// Records the suspension and ends every session of the account: their refresh tokens
/// stop working and every process refuses their access tokens (`SessionsRevoked`).
#[expect(
    clippy::ptr_arg,
    reason = "`on_read` hands over what it read by reference"
)]
pub fn suspend(tx: &Tx, e: &Event<AccountSuspended>, sessions: &Vec<String>) -> TxResult<()> {
    let s = &e.data;
    let suspension = Suspension {
        action_id: s.action_id.clone(),
        until: s.until,
        reason: s.reason.clone(),
    };
    tx.put(&suspension_key(&s.account_id), &suspension)?;
    end_sessions(tx, &s.account_id, sessions.iter().cloned()).map(|_| ())
}

/// Lifts the suspension the event names (a newer one stays).
pub fn reinstate(tx: &Tx, e: &Event<AccountReinstated>) -> TxResult<()> {
    let k = suspension_key(&e.data.account_id);
    if tx
        .get::<Suspension>(&k)?
        .is_some_and(|s| s.action_id == e.data.action_id)
    {
        tx.remove(&k)?;
    }
    Ok(())
}

/// The suspension in force for `account_id` at `now`, if any.
pub fn suspension(store: &Store, account_id: &str, now: i64) -> ApiResult<Option<Suspension>> {
    Ok(store
        .get::<Suspension>(&suspension_key(account_id))?
        .filter(|s| AccountSuspended::holds(s.until, now)))
}

/// Inside a transaction: refuses a suspended account.
pub fn refuse_suspended(tx: &Tx, account_id: &str, now: i64) -> TxResult<()> {
    match tx.get::<Suspension>(&suspension_key(account_id))? {
        Some(s) if AccountSuspended::holds(s.until, now) => abort(suspended(&s)),
        _ => Ok(()),
    }
}

/// The error a suspended account gets, with the end and the reason.
pub fn suspended(s: &Suspension) -> Error {
    Error::Suspended {
        until: s.until,
        reason: s.reason.clone(),
    }
}
