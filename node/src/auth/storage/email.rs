//! Changes of address waiting for confirmation, and their reports (`ec/`, `er/`).

use super::*;

/// Records a change of address waiting for confirmation (`ec/` by the confirmation
/// token's hash) and its report token for the old address (`er/`, kept longer).
pub async fn start_email_change(
    store: &Store,
    change: &EmailChange,
    report_hash: &str,
    report_until: i64,
) -> ApiResult<()> {
    let report = EmailChange {
        expires_at: report_until,
        ..change.clone()
    };
    store
        .write(|tx| {
            tx.put(&key("ec/", &[&change.confirm_hash]), change)?;
            tx.put(&key("er/", &[report_hash]), &report)
        })
        .await
}

/// Spends a confirmation token: the account's address becomes the new one (unless a
/// verified account took it meanwhile).
pub async fn confirm_email_change(store: &Store, confirm_hash: &str) -> ApiResult<Account> {
    store
        .write(|tx| {
            let entry = key("ec/", &[confirm_hash]);
            let Some(change) = tx.get::<EmailChange>(&entry)? else {
                return abort(Error::UnknownToken);
            };
            tx.remove(&entry)?;
            if change.expires_at < now() {
                return abort(Error::TokenExpired);
            }
            let mut account = load(tx, &change.account_id)?;
            if account.email != change.old_email {
                return abort(Error::UnknownToken); // changed otherwise meanwhile
            }
            move_address(tx, &mut account, &change.new_email)?;
            Ok(account)
        })
        .await
}

/// Moves an account's address index entry to `to`; 409 when another account holds it.
pub(super) fn move_address(tx: &Tx, account: &mut Account, to: &str) -> TxResult<()> {
    if tx
        .get_raw(&email_key(tx, to))?
        .is_some_and(|holder| holder != account.id.as_bytes())
    {
        return abort(Error::AddressHeld);
    }
    tx.remove(&email_key(tx, &account.email))?;
    tx.put_raw(&email_key(tx, to), account.id.as_bytes())?;
    account.email = to.to_string();
    tx.put(&account_key(&account.id), account)
}

/// Spends a report token from the old address: the pending change is cancelled, or, when
/// it was already confirmed, the old address comes back; every session ends.
pub async fn report_email_change(
    store: &Store,
    report_hash: &str,
) -> ApiResult<(Account, Option<SessionsRevoked>)> {
    let Some(report) = store.get::<EmailChange>(&key("er/", &[report_hash]))? else {
        return Err(Error::UnknownToken.into());
    };
    let sessions = session_ids(store, &report.account_id)?;
    store
        .write(|tx| {
            let entry = key("er/", &[report_hash]);
            if !tx.remove(&entry)? {
                return abort(Error::UnknownToken);
            }
            if report.expires_at < now() {
                return abort(Error::TokenExpired);
            }
            tx.remove(&key("ec/", &[&report.confirm_hash]))?;
            let mut account = load(tx, &report.account_id)?;
            if account.email == report.new_email {
                move_address(tx, &mut account, &report.old_email)?;
            }
            let revoked = end_sessions(tx, &account.id, sessions.iter().cloned())?;
            Ok((account, revoked))
        })
        .await
}
