//! The only code of auth that touches sled. One key space, a prefix per record kind:
//! `a/` accounts, `u/` usernames, `e/` e-mails of verified accounts, `pe/` e-mails of
//! unverified ones, `uv/` unverified accounts by deadline, `v/` verification tokens, `c/` MFA
//! challenges, `pr/` password-reset tokens, `ec/` and `er/` address changes by their
//! confirmation and report tokens, `s/` sessions, `sa/` sessions by account, `r/` refresh
//! tokens, `ur/` usernames left and reserved to their account, `in/` invitations, `ih/`
//! invitations by code hash, `ib/` by creator, `mq/` digests waiting to be mailed.

use crate::platform::envelope::Envelope;
use crate::platform::error::{ApiResult, FieldError};
use crate::platform::storage::{Store, Tx, TxResult, abort, key};
use crate::platform::tokens::Role;

use super::domain::{
    self, Account, EmailChange, Invitation, OneTimeToken, RefreshRecord, Reservation, Session, now,
};
use super::error::Error;
use super::events::{
    AccountRegistered, AccountVerified, RolesChanged, SessionsRevoked, UsernameChanged,
};

pub fn account_key(id: &str) -> Vec<u8> {
    key("a/", &[id])
}

fn username_key(username: &str) -> Vec<u8> {
    key("u/", &[username])
}

fn email_key(email: &str) -> Vec<u8> {
    key("e/", &[email])
}

fn verify_key(hash: &str) -> Vec<u8> {
    key("v/", &[hash])
}

fn challenge_key(hash: &str) -> Vec<u8> {
    key("c/", &[hash])
}

fn session_key(id: &str) -> Vec<u8> {
    key("s/", &[id])
}

fn refresh_key(hash: &str) -> Vec<u8> {
    key("r/", &[hash])
}

/// Checks that the username is free (outside a transaction). Addresses are not checked:
/// an unverified registration holds none, and answering "taken" would tell who is here.
pub fn check_free(store: &Store, username: &str) -> ApiResult<()> {
    if store.contains(&username_key(username))? || reserved_to_another(store, username, "")? {
        return Err(Error::UsernameTaken.into());
    }
    Ok(())
}

fn reservation_key(username: &str) -> Vec<u8> {
    key("ur/", &[username])
}

fn reserved_to_another(store: &Store, username: &str, account_id: &str) -> ApiResult<bool> {
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
fn pending_key(email: &str, account_id: &str) -> Vec<u8> {
    key("pe/", &[email, "\0", account_id])
}

/// An unverified account by its deadline: 20 digits of unix seconds, then the id.
fn unverified_key(expires_at: i64, account_id: &str) -> Vec<u8> {
    key("uv/", &[&deadline(expires_at), account_id])
}

fn deadline(at: i64) -> String {
    format!("{:020}", at.max(0))
}

/// The account that holds `email` (a verified one), if any.
pub fn address_holder(store: &Store, email: &str) -> ApiResult<Option<String>> {
    Ok(store
        .data
        .get(email_key(email))?
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
            tx.put_raw(&pending_key(&account.email, &account.id), &[])?;
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

/// Counts one use of the invitation whose code hashes to `code_hash`; its creator.
fn use_invitation(tx: &Tx, code_hash: &str, account_id: &str) -> TxResult<String> {
    let Some(id) = tx.get_raw(&key("ih/", &[code_hash]))? else {
        return abort(Error::from(FieldError::new("invitation", "is unknown")));
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    let Some(mut invitation) = tx.get::<Invitation>(&key("in/", &[&id]))? else {
        return abort(Error::from(FieldError::new("invitation", "is unknown")));
    };
    invitation.admits(now()).or_else(abort)?;
    invitation.used_by.push(account_id.to_string());
    tx.put(&key("in/", &[&id]), &invitation)?;
    Ok(invitation.created_by)
}

/// Stores a new invitation, findable by its code's hash and listed under its creator.
pub async fn create_invitation(
    store: &Store,
    invitation: &Invitation,
    code_hash: &str,
) -> ApiResult<()> {
    store
        .write(|tx| {
            tx.put(&key("in/", &[&invitation.id]), invitation)?;
            tx.put_raw(&key("ih/", &[code_hash]), invitation.id.as_bytes())?;
            tx.put_raw(&key("ib/", &[&invitation.created_by, &invitation.id]), &[])
        })
        .await
}

/// Invitations newest first after `cursor`: `by` one creator, or everyone's.
pub fn invitations(
    store: &Store,
    by: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<Invitation>> {
    let ids: Vec<String> = match by {
        Some(creator) => {
            store.scan_before(&key("ib/", &[creator]), cursor.map(str::as_bytes), limit)?
        }
        None => store.scan_before(b"in/", cursor.map(str::as_bytes), limit)?,
    }
    .into_iter()
    .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
    .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(store.get::<Invitation>(&key("in/", &[&id]))?);
    }
    Ok(out)
}

pub fn find_invitation(store: &Store, id: &str) -> ApiResult<Option<Invitation>> {
    store.get(&key("in/", &[id]))
}

/// Marks an invitation revoked (its code admits nobody from now on).
pub async fn revoke_invitation(store: &Store, id: &str) -> ApiResult<Invitation> {
    store
        .write(|tx| {
            let Some(mut invitation) = tx.get::<Invitation>(&key("in/", &[id]))? else {
                return abort(Error::InvitationNotFound);
            };
            invitation.revoked = true;
            tx.put(&key("in/", &[id]), &invitation)?;
            Ok(invitation)
        })
        .await
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
                .get_raw(&email_key(&account.email))?
                .is_some_and(|holder| holder != account.id.as_bytes())
            {
                return abort(Error::AddressHeld);
            }
            account.verified = true;
            tx.put(&account_key(&account.id), &account)?;
            tx.put_raw(&email_key(&account.email), account.id.as_bytes())?;
            tx.remove(&pending_key(&account.email, &account.id))?;
            let registered = AccountRegistered {
                account_id: account.id.clone(),
                username: account.username.clone(),
                roles: account.roles.clone(),
            };
            tx.emit(&Envelope::new(&account.id, &account.id, &registered))?;
            let verified = AccountVerified {
                account_id: account.id.clone(),
            };
            tx.emit(&Envelope::new(&account.id, &account.id, &verified))?;
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
    for (id, _) in store.scan_after(&key("pe/", &[email, "\0"]), None, limit)? {
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
                        tx.remove(&pending_key(&a.email, &id))?;
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

/// Removes a one-time token and returns it, if it exists and has not expired.
fn take_token(tx: &Tx, key: &[u8]) -> TxResult<OneTimeToken> {
    let Some(token) = tx.get::<OneTimeToken>(key)? else {
        return abort(Error::UnknownToken);
    };
    tx.remove(key)?;
    if token.expires_at < now() {
        return abort(Error::TokenExpired);
    }
    Ok(token)
}

pub fn load(tx: &Tx, id: &str) -> TxResult<Account> {
    match tx.get::<Account>(&account_key(id))? {
        Some(account) => Ok(account),
        None => abort(Error::AccountNotFound),
    }
}

pub fn find_account(store: &Store, id: &str) -> ApiResult<Option<Account>> {
    store.get(&account_key(id))
}

/// The account a username or an e-mail names.
pub fn find_by_login(store: &Store, login: &str) -> ApiResult<Option<Account>> {
    let login = login.trim().to_lowercase();
    let index = if login.contains('@') {
        email_key(&login)
    } else {
        username_key(&login)
    };
    match store.data.get(index)? {
        Some(id) => find_account(store, &String::from_utf8_lossy(&id)),
        None => Ok(None),
    }
}

/// The verified account holding `email`.
pub fn find_by_email(store: &Store, email: &str) -> ApiResult<Option<Account>> {
    match store.data.get(email_key(email))? {
        Some(id) => find_account(store, &String::from_utf8_lossy(&id)),
        None => Ok(None),
    }
}

/// Reads, changes and writes one account in a transaction; `change` may emit events.
pub async fn update_account<T>(
    store: &Store,
    id: &str,
    change: impl Fn(&Tx, &mut Account) -> TxResult<T>,
) -> ApiResult<(Account, T)> {
    store
        .write(|tx| {
            let mut account = load(tx, id)?;
            let out = change(tx, &mut account)?;
            tx.put(&account_key(id), &account)?;
            Ok((account, out))
        })
        .await
}

/// What a one-time token is for: confirming an address, completing a login with MFA, or
/// setting a new password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Verification,
    Challenge,
    PasswordReset,
}

fn token_key(purpose: Purpose, hash: &str) -> Vec<u8> {
    match purpose {
        Purpose::Verification => verify_key(hash),
        Purpose::Challenge => challenge_key(hash),
        Purpose::PasswordReset => key("pr/", &[hash]),
    }
}

/// Stores a one-time token by the hash of its secret.
pub async fn put_token(
    store: &Store,
    purpose: Purpose,
    hash: &str,
    token: &OneTimeToken,
) -> ApiResult<()> {
    store
        .write(|tx| tx.put(&token_key(purpose, hash), token))
        .await
}

/// A live one-time token, without spending it.
pub fn peek_token(store: &Store, purpose: Purpose, hash: &str) -> ApiResult<Option<OneTimeToken>> {
    Ok(store
        .get::<OneTimeToken>(&token_key(purpose, hash))?
        .filter(|t| t.expires_at >= now()))
}

/// Spends a one-time token in a transaction.
pub fn spend_token(tx: &Tx, purpose: Purpose, hash: &str) -> TxResult<OneTimeToken> {
    take_token(tx, &token_key(purpose, hash))
}

/// A digest the notifications context asked to mail, queued until it is sent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QueuedDigest {
    pub account_id: String,
    pub counts: std::collections::BTreeMap<String, u32>,
}

/// Digests older than this when applied (a replay, a long outage) are not mailed.
const DIGEST_FRESH_SECS: i64 = 3_600;

/// Queues a digest (`mq/<event id>`) in the transaction that applies the event; the mail
/// goes out from the queue ([`queued_digests`]), so a retried transaction never mails twice.
pub fn queue_digest(
    tx: &Tx,
    e: &crate::platform::context::Event<crate::notifications::events::DigestDue>,
) -> TxResult<()> {
    if e.occurred_at.unix_timestamp() < now() - DIGEST_FRESH_SECS {
        return Ok(());
    }
    let queued = QueuedDigest {
        account_id: e.data.user_id.clone(),
        counts: e.data.counts.clone(),
    };
    tx.put(&key("mq/", &[e.id]), &queued)
}

/// The queued digests, oldest first, with their queue keys.
pub fn queued_digests(store: &Store) -> ApiResult<Vec<(Vec<u8>, QueuedDigest)>> {
    let mut out = Vec::new();
    for (id, value) in store.scan_after(b"mq/", None, 256)? {
        let digest: QueuedDigest = crate::platform::storage::from_json(&value)?;
        out.push((key("mq/", &[&String::from_utf8_lossy(&id)]), digest));
    }
    Ok(out)
}

pub async fn unqueue(store: &Store, queue_key: &[u8]) -> ApiResult<()> {
    store.write(|tx| tx.remove(queue_key).map(|_| ())).await
}

pub fn watch_queue(store: &Store) -> sled::Subscriber {
    store.data.watch_prefix(b"mq/")
}

/// How many accounts hold the admin role besides `except`, counting up to `enough`. (A
/// scan of the accounts: role changes are rare, and it stops early.)
pub fn other_admins(store: &Store, except: &str, enough: usize) -> ApiResult<usize> {
    let mut found = 0;
    for item in store.data.scan_prefix(b"a/") {
        let (_, value) = item?;
        let account: Account = crate::platform::storage::from_json(&value)?;
        if account.id != except && account.roles.contains(&Role::Admin) {
            found += 1;
            if found >= enough {
                break;
            }
        }
    }
    Ok(found)
}

/// Sets an account's roles and tells the other contexts.
pub async fn set_roles(store: &Store, actor: &str, id: &str, roles: &[Role]) -> ApiResult<Account> {
    let (account, ()) = update_account(store, id, |tx, a| {
        a.roles = roles.to_vec();
        let event = RolesChanged {
            account_id: a.id.clone(),
            roles: roles.to_vec(),
        };
        tx.emit(&Envelope::new(actor, &a.id, &event))
    })
    .await?;
    Ok(account)
}

/// Starts a session with its first refresh token.
pub async fn start_session(
    store: &Store,
    session: &Session,
    refresh_hash: &str,
    expires_at: i64,
) -> ApiResult<()> {
    store
        .write(|tx| {
            tx.put(&session_key(&session.id), session)?;
            tx.put_raw(&key("sa/", &[&session.account_id, &session.id]), &[])?;
            let record = RefreshRecord {
                session_id: session.id.clone(),
                account_id: session.account_id.clone(),
                expires_at,
                used: false,
            };
            tx.put(&refresh_key(refresh_hash), &record)
        })
        .await
}

/// What presenting a refresh token did.
pub enum Rotation {
    /// A fresh token replaced it.
    Rotated {
        account_id: String,
        session_id: String,
    },
    /// It had been used before: the whole session is now revoked.
    Reused(SessionsRevoked),
}

/// Rotates a refresh token: marks it used and stores its successor, in one transaction.
pub async fn rotate_refresh(
    store: &Store,
    old_hash: &str,
    new_hash: &str,
    expires_at: i64,
) -> ApiResult<Rotation> {
    store
        .write(|tx| {
            let Some(mut record) = tx.get::<RefreshRecord>(&refresh_key(old_hash))? else {
                return abort(Error::UnknownRefreshToken);
            };
            let Some(mut session) = tx.get::<Session>(&session_key(&record.session_id))? else {
                return abort(Error::UnknownSession);
            };
            if record.used {
                revoke(tx, &session.id)?;
                let revoked = SessionsRevoked::now(&session.account_id, vec![session.id.clone()]);
                tx.emit(&Envelope::new("system", &session.account_id, &revoked))?;
                return Ok(Rotation::Reused(revoked));
            }
            if session.revoked {
                return abort(Error::SessionEnded);
            }
            if record.expires_at < now() {
                return abort(Error::RefreshTokenExpired);
            }
            record.used = true;
            tx.put(&refresh_key(old_hash), &record)?;
            session.last_used_at = now();
            tx.put(&session_key(&session.id), &session)?;
            let next = RefreshRecord {
                used: false,
                expires_at,
                ..record.clone()
            };
            tx.put(&refresh_key(new_hash), &next)?;
            Ok(Rotation::Rotated {
                account_id: record.account_id.clone(),
                session_id: record.session_id.clone(),
            })
        })
        .await
}

/// Ends the session a refresh token belongs to. Unknown tokens are not an error.
pub async fn revoke_by_refresh(store: &Store, hash: &str) -> ApiResult<Option<SessionsRevoked>> {
    store
        .write(|tx| match tx.get::<RefreshRecord>(&refresh_key(hash))? {
            Some(record) => end_sessions(tx, &record.account_id, [record.session_id]),
            None => Ok(None),
        })
        .await
}

/// Marks a session revoked; false when it was unknown or had already ended.
fn revoke(tx: &Tx, session_id: &str) -> TxResult<bool> {
    match tx.get::<Session>(&session_key(session_id))? {
        Some(mut session) if !session.revoked => {
            session.revoked = true;
            tx.put(&session_key(session_id), &session)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Ends the live ones of `sessions` and tells every process to refuse their tokens at once.
fn end_sessions(
    tx: &Tx,
    account_id: &str,
    sessions: impl IntoIterator<Item = String>,
) -> TxResult<Option<SessionsRevoked>> {
    let mut ended = Vec::new();
    for sid in sessions {
        if revoke(tx, &sid)? {
            ended.push(sid);
        }
    }
    if ended.is_empty() {
        return Ok(None);
    }
    let revoked = SessionsRevoked::now(account_id, ended);
    tx.emit(&Envelope::new(account_id, account_id, &revoked))?;
    Ok(Some(revoked))
}

/// Ends every session of an account except `keep`.
pub async fn revoke_other_sessions(
    store: &Store,
    account_id: &str,
    keep: Option<&str>,
) -> ApiResult<Option<SessionsRevoked>> {
    let sessions: Vec<String> = session_ids(store, account_id)?
        .into_iter()
        .filter(|sid| Some(sid.as_str()) != keep)
        .collect();
    store
        .write(|tx| end_sessions(tx, account_id, sessions.iter().cloned()))
        .await
}

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
fn move_address(tx: &Tx, account: &mut Account, to: &str) -> TxResult<()> {
    if tx
        .get_raw(&email_key(to))?
        .is_some_and(|holder| holder != account.id.as_bytes())
    {
        return abort(Error::AddressHeld);
    }
    tx.remove(&email_key(&account.email))?;
    tx.put_raw(&email_key(to), account.id.as_bytes())?;
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

/// Spends a password-reset token: sets the new password hash and ends every session of
/// the account (whoever knew the old password is out).
pub async fn reset_password(
    store: &Store,
    token_hash: &str,
    account_id: &str,
    password_hash: &str,
) -> ApiResult<Option<SessionsRevoked>> {
    let sessions = session_ids(store, account_id)?;
    store
        .write(|tx| {
            let token = spend_token(tx, Purpose::PasswordReset, token_hash)?;
            let mut account = load(tx, &token.account_id)?;
            if account.id != account_id {
                return abort(Error::UnknownToken);
            }
            account.password_hash = password_hash.to_string();
            tx.put(&account_key(&account.id), &account)?;
            end_sessions(tx, account_id, sessions.iter().cloned())
        })
        .await
}

fn session_ids(store: &Store, account_id: &str) -> ApiResult<Vec<String>> {
    Ok(store
        .scan_after(&key("sa/", &[account_id]), None, usize::MAX)?
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect())
}

/// The live sessions of an account, newest first.
pub fn sessions_of(store: &Store, account_id: &str) -> ApiResult<Vec<Session>> {
    let mut out = Vec::new();
    for (sid, _) in store.scan_before(&key("sa/", &[account_id]), None, usize::MAX)? {
        let sid = String::from_utf8_lossy(&sid).into_owned();
        if let Some(session) = store.get::<Session>(&session_key(&sid))?
            && !session.revoked
        {
            out.push(session);
        }
    }
    Ok(out)
}

/// Ends one session of an account; `None` when it has no such live session.
pub async fn revoke_session(
    store: &Store,
    account_id: &str,
    session_id: &str,
) -> ApiResult<Option<SessionsRevoked>> {
    store
        .write(|tx| match tx.get::<Session>(&session_key(session_id))? {
            Some(s) if s.account_id == account_id => {
                end_sessions(tx, account_id, [session_id.to_string()])
            }
            _ => Ok(None),
        })
        .await
}

/// Whether the account logged in before, and whether from this device (same `User-Agent`
/// and approximate network) among its newest sessions.
pub fn seen_device(
    store: &Store,
    account_id: &str,
    device: &str,
    network: &str,
) -> ApiResult<(bool, bool)> {
    let sessions = store.scan_before(&key("sa/", &[account_id]), None, KNOWN_NETWORK_SESSIONS)?;
    let any = !sessions.is_empty();
    for (sid, _) in sessions {
        let sid = String::from_utf8_lossy(&sid).into_owned();
        if let Some(session) = store.get::<Session>(&session_key(&sid))?
            && session.user_agent == device
            && session.ip == network
        {
            return Ok((any, true));
        }
    }
    Ok((any, false))
}

/// How many of an account's newest sessions tell which networks it logs in from.
const KNOWN_NETWORK_SESSIONS: usize = 50;

/// Whether the account had a session (live or ended) from `network` among its newest.
pub fn known_network(store: &Store, account_id: &str, network: &str) -> ApiResult<bool> {
    if network == "unknown" {
        return Ok(false);
    }
    let sessions = store.scan_before(&key("sa/", &[account_id]), None, KNOWN_NETWORK_SESSIONS)?;
    for (sid, _) in sessions {
        let sid = String::from_utf8_lossy(&sid).into_owned();
        if let Some(session) = store.get::<Session>(&session_key(&sid))?
            && session.ip == network
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> Account {
        Account {
            id: id.into(),
            username: id.into(),
            email: format!("{id}@example.org"),
            password_hash: "old".into(),
            roles: vec![Role::User],
            verified: true,
            created_at: now(),
            mfa: None,
            mfa_pending: None,
            invited_by: None,
            username_changed_at: None,
            sign_in_alerts: true,
        }
    }

    #[tokio::test]
    async fn unverified_registrations_expire_and_free_their_username() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut late = account("late");
        late.verified = false;
        register(&store, &late, None, Some("t"), now() + 100)
            .await
            .unwrap();
        let mut kept = account("kept");
        kept.verified = false;
        register(&store, &kept, None, Some("t2"), now() + 100)
            .await
            .unwrap();
        // Not due yet.
        assert_eq!(expire_unverified(&store, now()).await.unwrap(), 0);
        // "kept" is verified in time; "late" is not.
        verify(&store, "t2", "kept").await.unwrap();
        assert_eq!(expire_unverified(&store, now() + 101).await.unwrap(), 1);
        assert!(find_account(&store, "late").unwrap().is_none());
        assert!(
            check_free(&store, "late").is_ok(),
            "the username is free again"
        );
        assert!(
            unverified_with_address(&store, "late@example.org", 3)
                .unwrap()
                .is_empty()
        );
        assert!(find_account(&store, "kept").unwrap().unwrap().verified);
        assert_eq!(
            address_holder(&store, "kept@example.org")
                .unwrap()
                .as_deref(),
            Some("kept")
        );
    }

    #[tokio::test]
    async fn an_expired_reset_token_changes_nothing_and_a_live_one_works_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|tx| tx.put(&account_key("a1"), &account("a1")))
            .await
            .unwrap();
        let expired = OneTimeToken {
            account_id: "a1".into(),
            expires_at: now() - 1,
        };
        put_token(&store, Purpose::PasswordReset, "h", &expired)
            .await
            .unwrap();
        assert!(
            peek_token(&store, Purpose::PasswordReset, "h")
                .unwrap()
                .is_none()
        );
        let refused = reset_password(&store, "h", "a1", "new").await;
        assert!(refused.is_err());
        assert_eq!(
            find_account(&store, "a1").unwrap().unwrap().password_hash,
            "old"
        );
        // A live token works once.
        let live = OneTimeToken {
            expires_at: now() + 60,
            ..expired
        };
        put_token(&store, Purpose::PasswordReset, "h2", &live)
            .await
            .unwrap();
        reset_password(&store, "h2", "a1", "new").await.unwrap();
        assert_eq!(
            find_account(&store, "a1").unwrap().unwrap().password_hash,
            "new"
        );
        assert!(reset_password(&store, "h2", "a1", "newer").await.is_err());
    }
}
