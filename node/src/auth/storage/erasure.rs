//! Deletions waiting for their grace period (`de/<account>`, queued by due time in
//! `dq/<erase_at>/<account>`), and the erasure itself.
//!
//! Every record auth keeps about an account names it, in its key or its value: erasure
//! finds them by that ([`crate::platform::erasure`], run by the sweeper off the request
//! path). Two kinds found that way belong to others and lose only the reference: an
//! account the erased one invited (`invited_by`), an invitation it registered with
//! (`used_by`, where the use still counts).

use super::*;
use crate::auth::domain::Deletion;
use crate::auth::events::AccountErased;
use crate::platform::erasure::{self, Erase, Named};

fn deletion_key(account_id: &str) -> Vec<u8> {
    key("de/", &[account_id])
}

fn queue_key(d: &Deletion, account_id: &str) -> Vec<u8> {
    key("dq/", &[&deadline(d.erase_at), account_id])
}

/// Records the deletion and ends every session of the account.
pub async fn schedule_deletion(
    store: &Store,
    account_id: &str,
    deletion: &Deletion,
) -> ApiResult<Option<SessionsRevoked>> {
    let sessions = session_ids(store, account_id)?;
    store
        .write(|tx| {
            if let Some(old) = tx.get::<Deletion>(&deletion_key(account_id))? {
                tx.remove(&queue_key(&old, account_id))?;
            }
            tx.put(&deletion_key(account_id), deletion)?;
            tx.put_raw(&queue_key(deletion, account_id), &[])?;
            end_sessions(tx, account_id, sessions.iter().cloned())
        })
        .await
}

/// Cancels a pending deletion (a login during the grace period); whether there was one.
pub fn cancel_deletion(tx: &Tx, account_id: &str) -> TxResult<bool> {
    let Some(d) = tx.get::<Deletion>(&deletion_key(account_id))? else {
        return Ok(false);
    };
    tx.remove(&deletion_key(account_id))?;
    tx.remove(&queue_key(&d, account_id))?;
    Ok(true)
}

pub fn pending_deletion(store: &Store, account_id: &str) -> ApiResult<Option<Deletion>> {
    store.get(&deletion_key(account_id))
}

/// The accounts whose grace period has ended by `now`, oldest first.
pub fn due_deletions(store: &Store, now: i64) -> ApiResult<Vec<String>> {
    let mut due = Vec::new();
    for item in store.data.scan_prefix(b"dq/") {
        let (k, _) = item?;
        // `dq/`, 20 digits of unix seconds, the account id.
        let rest = String::from_utf8_lossy(k.get(3..).unwrap_or_default()).into_owned();
        let (Some(at), Some(account)) = (rest.get(..20), rest.get(20..)) else {
            continue;
        };
        if at.parse::<i64>().is_ok_and(|at| at > now) {
            break;
        }
        due.push(account.to_string());
    }
    Ok(due)
}

/// Erases the account if its deletion is still pending and due: removes every record
/// about it, cuts the references others' records hold, and publishes `AccountErased`.
/// Returns false when a login cancelled it meanwhile.
pub async fn erase_account(store: &Store, account_id: &str, now: i64) -> ApiResult<bool> {
    let found = erasure::records_naming(store, account_id)?;
    store
        .write(|tx| {
            let pending = tx.get::<Deletion>(&deletion_key(account_id))?;
            if !pending.is_some_and(|d| d.due(now)) {
                return Ok(false);
            }
            erasure::apply(tx, account_id, &found, policy)?;
            tx.put_raw(&key(SHRED, &[account_id]), &[])?;
            let erased = AccountErased {
                account_id: account_id.to_string(),
            };
            tx.emit(&Envelope::new(account_id, account_id, &erased))?;
            Ok(true)
        })
        .await
}

/// Erased accounts whose key (crate::platform::keyring) is still to be destroyed.
const SHRED: &str = "sh/";

pub fn to_shred(store: &Store) -> ApiResult<Vec<String>> {
    store.queued_ids(SHRED)
}

pub async fn shredded(store: &Store, account_id: &str) -> ApiResult<()> {
    store.unqueue(SHRED, account_id).await
}

/// Another account, and another's invitation, only refer to the erased one.
fn policy(named: &Named, account_id: &str) -> Erase {
    match named.prefix() {
        b"a/" => Erase::Anonymize,
        b"in/" if named.field("created_by") != Some(account_id) => Erase::Anonymize,
        _ => Erase::Remove,
    }
}

/// The person's part of an export: their account (without the password hash, the TOTP
/// secret or recovery codes), sessions and devices, invitations, a pending deletion.
/// Records kept by token hash (refresh tokens, one-time tokens) are left out: a hash is
/// nobody's data and no use to anyone.
pub fn export(
    store: &Store,
    data_dir: &std::path::Path,
    user: &str,
) -> ApiResult<crate::platform::export::Part> {
    const SECRETS: [&str; 3] = ["password_hash", "mfa", "mfa_pending"];
    const BY_HASH: [&str; 7] = ["r/", "v/", "c/", "pr/", "ec/", "er/", "ih/"];
    let mut part = crate::platform::export::records_naming(store, data_dir, user)?;
    if let Some(kinds) = part.data.as_object_mut() {
        kinds.retain(|kind, _| !BY_HASH.contains(&kind.as_str()));
        for record in kinds
            .values_mut()
            .flat_map(|v| v.as_array_mut().into_iter().flatten())
        {
            if let Some(value) = record.get_mut("value").and_then(|v| v.as_object_mut()) {
                let mfa = value.get("mfa").is_some_and(|m| !m.is_null());
                for secret in SECRETS {
                    value.remove(secret);
                }
                if value.contains_key("username") {
                    value.insert("mfa_enabled".into(), mfa.into());
                }
            }
        }
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::super::tests::account;
    use super::*;

    const GONE: &str = "01KERASEDERASEDERASEDERASE";
    const STAYS: &str = "01KSTAYSSTAYSSTAYSSTAYSSTA";

    async fn put(store: &Store, k: Vec<u8>, v: impl serde::Serialize) {
        store.write(|tx| tx.put(&k, &v)).await.unwrap();
    }

    async fn session(store: &Store, account_id: &str, id: &str) {
        let s = Session {
            id: id.into(),
            account_id: account_id.into(),
            created_at: now(),
            revoked: false,
            user_agent: "test".into(),
            ip: "127.0.0.0".into(),
            last_used_at: now(),
        };
        start_session(store, &s, &format!("refresh-{id}"), now() + 60)
            .await
            .unwrap();
    }

    fn invitation(id: &str, by: &str, used_by: &[&str]) -> Invitation {
        Invitation {
            id: id.into(),
            created_by: by.into(),
            created_at: now(),
            expires_at: now() + 60,
            max_uses: 5,
            used_by: used_by.iter().map(|u| u.to_string()).collect(),
            revoked: false,
        }
    }

    #[tokio::test]
    async fn a_login_cancels_and_erasure_leaves_nothing_that_names_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut gone = account(GONE);
        gone.invited_by = Some(STAYS.into());
        let mut stays = account(STAYS);
        stays.invited_by = Some(GONE.into());
        for a in [&gone, &stays] {
            put(&store, account_key(&a.id), a).await;
            put(&store, username_key(&a.username), &a.id).await;
            put(&store, email_key(&store, &a.email), &a.id).await;
        }
        put(
            &store,
            key("in/", &["inv-by-gone"]),
            invitation("inv-by-gone", GONE, &[STAYS]),
        )
        .await;
        put(
            &store,
            key("in/", &["inv-by-stays"]),
            invitation("inv-by-stays", STAYS, &[GONE]),
        )
        .await;
        session(&store, GONE, "s-gone").await;
        session(&store, STAYS, "s-stays").await;

        // Asked for, then a login within the grace period: nothing happens.
        let later = Deletion::new(now(), 1);
        assert!(
            schedule_deletion(&store, GONE, &later)
                .await
                .unwrap()
                .is_some()
        );
        session(&store, GONE, "s-again").await;
        assert!(pending_deletion(&store, GONE).unwrap().is_none());
        assert!(due_deletions(&store, later.erase_at).unwrap().is_empty());
        assert!(!erase_account(&store, GONE, later.erase_at).await.unwrap());

        // Not due yet: kept; due: erased.
        schedule_deletion(&store, GONE, &later).await.unwrap();
        assert!(due_deletions(&store, now()).unwrap().is_empty());
        assert!(!erase_account(&store, GONE, now()).await.unwrap());
        assert_eq!(due_deletions(&store, later.erase_at).unwrap(), [GONE]);
        assert!(erase_account(&store, GONE, later.erase_at).await.unwrap());
        // Its key is to be shredded; once it is, nothing names the account.
        assert_eq!(to_shred(&store).unwrap(), [GONE]);
        shredded(&store, GONE).await.unwrap();

        for item in store.data.iter() {
            let (k, v) = item.unwrap();
            let text = format!(
                "{}={}",
                String::from_utf8_lossy(&k),
                String::from_utf8_lossy(&v)
            );
            assert!(!text.contains(GONE), "left behind: {text}");
        }
        let stays = find_account(&store, STAYS).unwrap().unwrap();
        assert_eq!(
            stays.invited_by.as_deref(),
            Some(erasure::ERASED),
            "the reference is cut"
        );
        let used: Invitation = store.get(&key("in/", &["inv-by-stays"])).unwrap().unwrap();
        assert_eq!(used.used_by, [erasure::ERASED], "the use still counts");
        assert!(
            store
                .get::<Invitation>(&key("in/", &["inv-by-gone"]))
                .unwrap()
                .is_none()
        );
        assert_eq!(session_ids(&store, STAYS).unwrap(), ["s-stays"]);
    }
}
