//! The only code of auth that touches sled. One key space, a prefix per record kind:
//! `a/` accounts, `u/` usernames, `e/` e-mails of verified accounts, `pe/` e-mails of
//! unverified ones, `uv/` unverified accounts by deadline, `v/` verification tokens, `c/` MFA
//! challenges, `pr/` password-reset tokens, `ec/` and `er/` address changes by their
//! confirmation and report tokens, `s/` sessions, `sa/` sessions by account, `r/` refresh
//! tokens, `ur/` usernames left and reserved to their account, `in/` invitations, `ih/`
//! invitations by code hash, `ib/` by creator, `mq/` digests waiting to be mailed, `de/`
//! deletions waiting for their grace period and `dq/` the same by due time, `sh/` erased
//! accounts whose key is still to be shredded.
//!
//! By concept: here accounts, one-time tokens and roles; [`registration`] (and usernames),
//! [`sessions`], [`email`] (address changes), [`invitations`], [`digests`], [`erasure`].

use crate::platform::envelope::Envelope;
use crate::platform::error::{ApiResult, FieldError};
use crate::platform::storage::{Blinds, Store, Tx, TxResult, abort, key};
use crate::platform::tokens::Role;

use super::domain::{
    self, Account, EmailChange, Invitation, OneTimeToken, RefreshRecord, Reservation, Session, now,
};
use super::error::Error;
use super::events::{
    AccountRegistered, AccountVerified, RolesChanged, SessionsRevoked, UsernameChanged,
};

mod digests;
mod email;
mod erasure;
mod invitations;
mod registration;
mod sessions;
mod suspensions;

pub use digests::*;
pub use email::*;
pub use erasure::*;
pub use invitations::*;
pub use registration::*;
pub use sessions::*;
pub use suspensions::*;

/// The key prefixes that `rebuild` drops and rebuilds from the stream: suspensions
/// ([`suspensions`]); everything else is auth's own truth.
pub const PROJECTIONS: &[&str] = &["su/"];

pub fn account_key(id: &str) -> Vec<u8> {
    key("a/", &[id])
}

fn username_key(username: &str) -> Vec<u8> {
    key("u/", &[username])
}

/// The verified account holding an address, keyed by the address's keyed hash.
fn email_key(by: &impl Blinds, email: &str) -> Vec<u8> {
    key("e/", &[&by.blind(email)])
}

/// Where the fingerprint of the key the address indexes are keyed with is kept.
const ADDRESS_INDEX: &[u8] = b"_/address-index";

/// Keys the address indexes (`e/`, `pe/`) anew from the accounts when a sealed store's
/// indexes were keyed otherwise: in the clear (written before the store was sealed), or
/// with another platform's key (restored from its backup). Returns how many accounts it
/// went through; 0 when the indexes were right. New entries go in before the stale ones
/// go, so lookups find every address throughout.
pub async fn rekey_address_indexes(store: &Store) -> ApiResult<usize> {
    if store.sealer().is_none() {
        return Ok(0);
    }
    let fingerprint = store.blind("\0address-index");
    if store.get::<String>(ADDRESS_INDEX)?.as_deref() == Some(&fingerprint) {
        return Ok(0);
    }
    let mut stale = Vec::new();
    for prefix in ["e/", "pe/"] {
        for k in store.keys_newest_first(prefix.as_bytes()) {
            stale.push([prefix.as_bytes(), &k?].concat());
        }
    }
    let accounts: Vec<String> = store
        .keys_newest_first(b"a/")
        .map(|k| k.map(|k| String::from_utf8_lossy(&k).into_owned()))
        .collect::<ApiResult<_>>()?;
    for chunk in accounts.chunks(500) {
        store
            .write(|tx| {
                for id in chunk {
                    match tx.get::<Account>(&account_key(id))? {
                        Some(a) if a.verified => {
                            tx.put_raw(&email_key(tx, &a.email), a.id.as_bytes())?
                        }
                        Some(a) => tx.put_raw(&registration::pending_key(tx, &a.email, id), &[])?,
                        None => {}
                    }
                }
                Ok(())
            })
            .await?;
    }
    for chunk in stale.chunks(500) {
        store
            .write(|tx| chunk.iter().try_for_each(|k| tx.remove(k).map(drop)))
            .await?;
    }
    store
        .write(|tx| tx.put(ADDRESS_INDEX, &fingerprint))
        .await?;
    Ok(accounts.len())
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
        email_key(store, &login)
    } else {
        username_key(&login)
    };
    match store.get_raw(&index)? {
        Some(id) => find_account(store, &String::from_utf8_lossy(&id)),
        None => Ok(None),
    }
}

/// The verified account holding `email`.
pub fn find_by_email(store: &Store, email: &str) -> ApiResult<Option<Account>> {
    match store.get_raw(&email_key(store, email))? {
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

/// How many accounts hold the admin role besides `except`, counting up to `enough`. (A
/// scan of the accounts: role changes are rare, and it stops early.)
pub fn other_admins(store: &Store, except: &str, enough: usize) -> ApiResult<usize> {
    let mut found = 0;
    for item in store.records_under(b"a/") {
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

fn session_ids(store: &Store, account_id: &str) -> ApiResult<Vec<String>> {
    Ok(store
        .scan_after(&key("sa/", &[account_id]), None, usize::MAX)?
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn account(id: &str) -> Account {
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
    async fn a_store_sealed_later_finds_every_address_by_its_keyed_hash() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Store::open(dir.path()).unwrap();
        let mut waiting = account("wait");
        waiting.verified = false;
        register(&plain, &waiting, None, Some("t1"), now() + 100)
            .await
            .unwrap();
        let kept = Account {
            verified: false,
            ..account("kept")
        };
        register(&plain, &kept, None, Some("t2"), now() + 100)
            .await
            .unwrap();
        verify(&plain, "t2", "kept").await.unwrap();
        let key = crate::platform::keyring::PlatformKey::from_setting(
            &crate::platform::keyring::PlatformKey::generate(),
        )
        .unwrap();
        let sealer = crate::platform::storage::Sealer::new(&key, "auth");
        let store = plain.clone().sealed_with(Some(sealer)).unwrap();

        assert_eq!(rekey_address_indexes(&store).await.unwrap(), 2);
        assert_eq!(rekey_address_indexes(&store).await.unwrap(), 0, "once");
        let keys: Vec<String> = store
            .records()
            .map(|r| String::from_utf8_lossy(&r.unwrap().0).into_owned())
            .collect();
        assert!(keys.iter().all(|k| !k.contains('@')), "{keys:?}");
        assert_eq!(
            address_holder(&store, "kept@example.org")
                .unwrap()
                .as_deref(),
            Some("kept")
        );
        let by_login = find_by_login(&store, " Kept@Example.org").unwrap();
        assert_eq!(by_login.unwrap().id, "kept");
        let pending = unverified_with_address(&store, "wait@example.org", 3).unwrap();
        assert_eq!(pending.len(), 1);
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
