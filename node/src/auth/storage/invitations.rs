//! Invitations (`in/`, `ih/` by code hash, `ib/` by creator).

use super::*;

/// Counts one use of the invitation whose code hashes to `code_hash`; its creator.
pub(super) fn use_invitation(tx: &Tx, code_hash: &str, account_id: &str) -> TxResult<String> {
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
