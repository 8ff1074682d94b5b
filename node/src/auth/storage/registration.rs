//! Registration, confirming the address, expiring what nobody confirmed, and usernames
//! (`u/`, `pe/`, `uv/`, `ur/`, `v/`).

use super::invitations::use_invitation;
use super::*;

/// Checks that the username is free (outside a transaction). Addresses are not checked:
/// an unverified registration holds none, and answering "taken" would tell who is here.
pub fn check_free(store: &Store, username: &str) -> ApiResult<()> {
    if store.contains(&username_key(username))? || reserved_to_another(store, username, "")? {
        return Err(Error::UsernameTaken.into());
    }
    Ok(())
}

pub(super) fn reservation_key(username: &str) -> Vec<u8> {
    key("ur/", &[username])
}

pub(super) fn reserved_to_another(
    store: &Store,
    username: &str,
    account_id: &str,
) -> ApiResult<bool> {
    Ok(store
        .get::<Reservation>(&reservation_key(username))?
        .is_some_and(|r| r.account_id != account_id && r.until > now()))
}

/// Gives an account a new username: the old one is reserved to it for a while, the new one
/// must be free (or its own reservation). Refused within the cooldown of the last change.
pub async fn change_username(store: &Store, account_id: &str, new: &str) -> ApiResult<Account> {
    store
        .write(|tx| {
            let mut account = load(tx, account_id)?;
            if account.username == new {
                return Ok(account);
            }
            if let Some(next) = domain::username_cooldown(&account, now()) {
                return abort(Error::UsernameCooldown { next });
            }
            let taken = tx.contains(&username_key(new))?
                || tx
                    .get::<Reservation>(&reservation_key(new))?
                    .is_some_and(|r| r.account_id != account.id && r.until > now());
            if taken {
                return abort(Error::UsernameTaken);
            }
            let previous = std::mem::replace(&mut account.username, new.to_string());
            account.username_changed_at = Some(now());
            tx.remove(&username_key(&previous))?;
            tx.put_raw(&username_key(new), account.id.as_bytes())?;
            tx.remove(&reservation_key(new))?;
            let reservation = Reservation {
                account_id: account.id.clone(),
                until: now() + domain::USERNAME_RESERVED_SECS,
            };
            tx.put(&reservation_key(&previous), &reservation)?;
            tx.put(&account_key(&account.id), &account)?;
            let event = UsernameChanged {
                account_id: account.id.clone(),
                username: new.to_string(),
                previous,
            };
            tx.emit(&Envelope::new(&account.id, &account.id, &event))?;
            Ok(account)
        })
        .await
}

/// An unverified registration of `email` (NUL ends the address: one address is never a
/// prefix of another's entries).
pub(super) fn pending_key(by: &impl Blinds, email: &str, account_id: &str) -> Vec<u8> {
    key("pe/", &[&by.blind(email), "\0", account_id])
}

/// An unverified account by its deadline: 20 digits of unix seconds, then the id.
pub(super) fn unverified_key(expires_at: i64, account_id: &str) -> Vec<u8> {
    key("uv/", &[&deadline(expires_at), account_id])
}

pub(super) fn deadline(at: i64) -> String {
    format!("{:020}", at.max(0))
}

/// The account that holds `email` (a verified one), if any.
pub fn address_holder(store: &Store, email: &str) -> ApiResult<Option<String>> {
    Ok(store
        .get_raw(&email_key(store, email))?
        .map(|id| String::from_utf8_lossy(&id).into_owned()))
}

/// Creates an unverified account and its verification token (when the address is free to
/// confirm). The address is not held until it is verified; the account expires at
/// `expires_at` unless verified before. Other contexts learn of it only then.
pub async fn register(
    store: &Store,
    account: &Account,
    invitation: Option<&str>,
    verify_hash: Option<&str>,
    expires_at: i64,
) -> ApiResult<Account> {
    store
        .write(|tx| {
            let reserved = tx
                .get::<Reservation>(&reservation_key(&account.username))?
                .is_some_and(|r| r.until > now());
            if tx.contains(&username_key(&account.username))? || reserved {
                return abort(Error::UsernameTaken);
            }
            let mut account = account.clone();
            if let Some(code_hash) = invitation {
                account.invited_by = Some(use_invitation(tx, code_hash, &account.id)?);
            }
            let account = &account;
            tx.put(&account_key(&account.id), account)?;
            tx.put_raw(&username_key(&account.username), account.id.as_bytes())?;
            tx.put_raw(&pending_key(tx, &account.email, &account.id), &[])?;
            tx.put_raw(&unverified_key(expires_at, &account.id), &[])?;
            if let Some(hash) = verify_hash {
                let token = OneTimeToken {
                    account_id: account.id.clone(),
                    expires_at,
                };
                tx.put(&verify_key(hash), &token)?;
            }
            Ok(account.clone())
        })
        .await
}

/// Creates `accounts` verified, in one transaction, and tells the other contexts as
/// [`verify`] does (`AccountRegistered`, then `AccountVerified`): generated accounts of
/// `dev --bulk-seeding`, whose addresses receive no mail. A username taken refuses all.
pub async fn register_verified(store: &Store, accounts: &[Account]) -> ApiResult<()> {
    store
        .write(|tx| {
            for account in accounts {
                if tx.contains(&username_key(&account.username))? {
                    return abort(Error::UsernameTaken);
                }
                tx.put(&account_key(&account.id), account)?;
                tx.put_raw(&username_key(&account.username), account.id.as_bytes())?;
                tx.put_raw(&email_key(tx, &account.email), account.id.as_bytes())?;
                announce_verified(tx, account)?;
            }
            Ok(())
        })
        .await
}

/// Tells the other contexts that `account` exists and is verified (`AccountRegistered`,
/// then `AccountVerified`): they learn of an account only once it is.
fn announce_verified(tx: &Tx, account: &Account) -> TxResult<()> {
    let registered = AccountRegistered {
        account_id: account.id.clone(),
        username: account.username.clone(),
        roles: account.roles.clone(),
    };
    tx.emit(&Envelope::new(&account.id, &account.id, &registered))?;
    let verified = AccountVerified {
        account_id: account.id.clone(),
    };
    tx.emit(&Envelope::new(&account.id, &account.id, &verified))
}

/// Consumes a verification token (the caller checked the account's password): the
/// account is verified, holds its address from now on, and the other contexts learn it
/// exists (`AccountRegistered`, then `AccountVerified`).
pub async fn verify(store: &Store, hash: &str, account_id: &str) -> ApiResult<Account> {
    store
        .write(|tx| {
            let token = take_token(tx, &verify_key(hash))?;
            if token.account_id != account_id {
                return abort(Error::UnknownToken);
            }
            let mut account = load(tx, &token.account_id)?;
            if account.verified {
                return Ok(account);
            }
            if tx
                .get_raw(&email_key(tx, &account.email))?
                .is_some_and(|holder| holder != account.id.as_bytes())
            {
                return abort(Error::AddressHeld);
            }
            account.verified = true;
            tx.put(&account_key(&account.id), &account)?;
            tx.put_raw(&email_key(tx, &account.email), account.id.as_bytes())?;
            tx.remove(&pending_key(tx, &account.email, &account.id))?;
            announce_verified(tx, &account)?;
            Ok(account)
        })
        .await
}

/// The unverified accounts registered with `email`, at most `limit`.
pub fn unverified_with_address(
    store: &Store,
    email: &str,
    limit: usize,
) -> ApiResult<Vec<Account>> {
    let mut out = Vec::new();
    let under = key("pe/", &[&store.blind(email), "\0"]);
    for (id, _) in store.scan_after(&under, None, limit)? {
        let id = String::from_utf8_lossy(&id).into_owned();
        if let Some(account) = find_account(store, &id)?.filter(|a| !a.verified) {
            out.push(account);
        }
    }
    Ok(out)
}

/// Deletes the registrations that were not verified by their deadline (before `now`),
/// freeing their usernames; returns how many. Verified accounts only lose the index entry.
pub async fn expire_unverified(store: &Store, now: i64) -> ApiResult<usize> {
    let before = deadline(now);
    let due: Vec<(String, String)> = store
        .scan_after(b"uv/", None, 1_000)?
        .into_iter()
        .filter_map(|(k, _)| {
            let k = String::from_utf8_lossy(&k).into_owned();
            let (when, id) = (k.get(..20)?, k.get(20..)?);
            (when < before.as_str()).then(|| (when.to_string(), id.to_string()))
        })
        .collect();
    let mut expired = 0;
    for (when, id) in due {
        let gone = store
            .write(|tx| {
                tx.remove(&key("uv/", &[&when, &id]))?;
                match tx.get::<Account>(&account_key(&id))? {
                    Some(a) if !a.verified => {
                        tx.remove(&account_key(&id))?;
                        tx.remove(&username_key(&a.username))?;
                        tx.remove(&pending_key(tx, &a.email, &id))?;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            })
            .await?;
        expired += usize::from(gone);
    }
    Ok(expired)
}
