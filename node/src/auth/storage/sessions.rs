//! Sessions, refresh-token families and their revocation (`s/`, `sa/`, `r/`).

use super::*;

/// Starts a session with its first refresh token.
pub async fn start_session(
    store: &Store,
    session: &Session,
    refresh_hash: &str,
    expires_at: i64,
) -> ApiResult<()> {
    store
        .write(|tx| {
            refuse_suspended(tx, &session.account_id, now())?;
            // Logging in during the grace period keeps the account.
            cancel_deletion(tx, &session.account_id)?;
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
            refuse_suspended(tx, &session.account_id, now())?;
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

/// How many of an account's newest sessions tell which devices and networks it logs in
/// from.
pub(super) const RECENT_SESSIONS: usize = 50;

/// The account's newest sessions, live or ended.
fn recent_sessions(store: &Store, account_id: &str) -> ApiResult<Vec<Session>> {
    let mut out = Vec::new();
    for (sid, _) in store.scan_before(&key("sa/", &[account_id]), None, RECENT_SESSIONS)? {
        let sid = String::from_utf8_lossy(&sid).into_owned();
        out.extend(store.get::<Session>(&session_key(&sid))?);
    }
    Ok(out)
}

/// Whether the account logged in before, and whether from this device (same `User-Agent`
/// and approximate network) among its newest sessions.
pub fn seen_device(
    store: &Store,
    account_id: &str,
    device: &str,
    network: &str,
) -> ApiResult<(bool, bool)> {
    let sessions = recent_sessions(store, account_id)?;
    let seen = sessions
        .iter()
        .any(|s| s.user_agent == device && s.ip == network);
    Ok((!sessions.is_empty(), seen))
}

/// Whether the account had a session (live or ended) from `network` among its newest.
pub fn known_network(store: &Store, account_id: &str, network: &str) -> ApiResult<bool> {
    if network == "unknown" {
        return Ok(false);
    }
    Ok(recent_sessions(store, account_id)?
        .iter()
        .any(|s| s.ip == network))
}
