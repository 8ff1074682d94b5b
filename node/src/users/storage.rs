//! The only code of users that touches sled. One key space, a prefix per record kind:
//! `p/` profiles, `n/` usernames, `f/<a><b>` friendships (both directions),
//! `ri/<to><from>` incoming and `ro/<from><to>` outgoing friend requests,
//! `b/<blocker><blocked>` blocks; [`exports`]: `ex/` and `xp/`; the projection [`media`]:
//! `md/<media>` uploads. Ids are fixed-width ULIDs, so prefix scans are exact.

pub mod exports;
pub mod media;

use serde::{Deserialize, Serialize};

use crate::auth::events::{AccountRegistered, UsernameChanged};
use crate::platform::context::Event;
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, abort, key};
use crate::platform::unix_now;

use super::error::Error;

use super::domain::{Profile, Relationship};
use super::events::{
    FriendRequestSent, FriendshipCreated, FriendshipEnded, ProfileUpdated, UserBlocked,
    UserUnblocked,
};

/// When an edge (friendship, request, block) began.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Since {
    pub at: i64,
}

fn profile_key(id: &str) -> Vec<u8> {
    key("p/", &[id])
}
fn username_key(username: &str) -> Vec<u8> {
    key("n/", &[username])
}
fn friend_key(a: &str, b: &str) -> Vec<u8> {
    key("f/", &[a, b])
}
fn incoming_key(to: &str, from: &str) -> Vec<u8> {
    key("ri/", &[to, from])
}
fn outgoing_key(from: &str, to: &str) -> Vec<u8> {
    key("ro/", &[from, to])
}
fn block_key(blocker: &str, blocked: &str) -> Vec<u8> {
    key("b/", &[blocker, blocked])
}

/// The lists a user has, each a prefix scan.
#[derive(Debug, Clone, Copy)]
pub enum List {
    Friends,
    Incoming,
    Outgoing,
    Blocks,
}

impl List {
    fn prefix(self, owner: &str) -> Vec<u8> {
        match self {
            List::Friends => key("f/", &[owner]),
            List::Incoming => key("ri/", &[owner]),
            List::Outgoing => key("ro/", &[owner]),
            List::Blocks => key("b/", &[owner]),
        }
    }
}

fn emit<E: DomainEvent>(tx: &Tx, actor: &str, aggregate: &str, event: &E) -> TxResult<()> {
    tx.emit(&Envelope::new(actor, aggregate, event))
}

fn profile_event(p: &Profile) -> ProfileUpdated {
    ProfileUpdated {
        user_id: p.id.clone(),
        username: p.username.clone(),
        display_name: p.display_name.clone(),
        bio: p.bio.clone(),
        privacy: p.privacy,
        avatar_id: p.avatar_id.clone(),
        cover_id: p.cover_id.clone(),
    }
}

/// Creates the profile of a registered account (the platform applies each event once).
pub fn create_profile(tx: &Tx, e: &Event<AccountRegistered>) -> TxResult<()> {
    let account = &e.data;
    if tx.contains(&profile_key(&account.account_id))? {
        return Ok(());
    }
    let profile = Profile::new(
        &account.account_id,
        &account.username,
        e.occurred_at.unix_timestamp(),
    );
    tx.put(&profile_key(&profile.id), &profile)?;
    tx.put_raw(&username_key(&profile.username), profile.id.as_bytes())?;
    emit(tx, &profile.id, &profile.id, &profile_event(&profile))
}

/// Renames a profile. The old name keeps finding it (as Mastodon redirects a moved
/// account) until another account registers that name and its entry is overwritten.
pub fn rename(tx: &Tx, e: &Event<UsernameChanged>) -> TxResult<()> {
    let Some(mut profile) = tx.get::<Profile>(&profile_key(&e.data.account_id))? else {
        return Ok(());
    };
    profile.username = e.data.username.clone();
    tx.put(&profile_key(&profile.id), &profile)?;
    tx.put_raw(&username_key(&profile.username), profile.id.as_bytes())?;
    emit(tx, &profile.id, &profile.id, &profile_event(&profile))
}

pub fn profile(store: &Store, id: &str) -> ApiResult<Option<Profile>> {
    store.get(&profile_key(id))
}

pub fn id_by_username(store: &Store, username: &str) -> ApiResult<Option<String>> {
    Ok(store
        .get_raw(&username_key(&username.to_ascii_lowercase()))?
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// Changes one profile and publishes the result.
pub async fn update_profile(
    store: &Store,
    id: &str,
    change: impl Fn(&mut Profile),
) -> ApiResult<Profile> {
    store
        .write(|tx| {
            let Some(mut profile) = tx.get::<Profile>(&profile_key(id))? else {
                return abort(Error::ProfileNotYet);
            };
            change(&mut profile);
            tx.put(&profile_key(id), &profile)?;
            emit(tx, id, id, &profile_event(&profile))?;
            Ok(profile)
        })
        .await
}

/// True when either has blocked the other.
pub fn blocked_either(store: &Store, a: &str, b: &str) -> ApiResult<bool> {
    Ok(store.contains(&block_key(a, b))? || store.contains(&block_key(b, a))?)
}

pub fn relationship(store: &Store, viewer: Option<&str>, owner: &str) -> ApiResult<Relationship> {
    let Some(viewer) = viewer else {
        return Ok(Relationship::Anonymous);
    };
    Ok(if viewer == owner {
        Relationship::Me
    } else if store.contains(&friend_key(viewer, owner))? {
        Relationship::Friends
    } else if store.contains(&outgoing_key(viewer, owner))? {
        Relationship::RequestSent
    } else if store.contains(&incoming_key(viewer, owner))? {
        Relationship::RequestReceived
    } else {
        Relationship::None
    })
}

/// What sending a friend request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Sent,
    /// The other had already asked: the request is taken as acceptance.
    BecameFriends,
}

pub async fn send_request(store: &Store, from: &str, to: &str) -> ApiResult<RequestOutcome> {
    store
        .write(|tx| {
            if tx.contains(&block_key(from, to))?
                || tx.contains(&block_key(to, from))?
                || !tx.contains(&profile_key(to))?
            {
                return abort(Error::UserNotFound);
            }
            if tx.contains(&friend_key(from, to))? {
                return abort(Error::AlreadyFriends);
            }
            if tx.contains(&outgoing_key(from, to))? {
                return abort(Error::AlreadyAsked);
            }
            if tx.contains(&incoming_key(from, to))? {
                befriend(tx, from, to)?;
                return Ok(RequestOutcome::BecameFriends);
            }
            let since = Since { at: unix_now() };
            tx.put(&outgoing_key(from, to), &since)?;
            tx.put(&incoming_key(to, from), &since)?;
            let event = FriendRequestSent {
                from: from.into(),
                to: to.into(),
            };
            emit(tx, from, from, &event)?;
            Ok(RequestOutcome::Sent)
        })
        .await
}

/// Makes each pair friends as an accepted request would (`dev --bulk-seeding`), in one
/// transaction; returns how many were not friends yet. A user whose profile is not here
/// yet (auth's event still on its way) refuses the whole batch (`UserNotFound`: retry).
pub async fn befriend_seeded(store: &Store, pairs: &[(String, String)]) -> ApiResult<usize> {
    store
        .write(|tx| {
            let mut created = 0;
            for (a, b) in pairs {
                if !tx.contains(&profile_key(a))? || !tx.contains(&profile_key(b))? {
                    return abort(Error::UserNotFound);
                }
                if !tx.contains(&friend_key(a, b))? {
                    befriend(tx, b, a)?;
                    created += 1;
                }
            }
            Ok(created)
        })
        .await
}

/// Turns the request `requester` → `me` into a friendship.
fn befriend(tx: &Tx, me: &str, requester: &str) -> TxResult<()> {
    drop_requests(tx, me, requester)?;
    let since = Since { at: unix_now() };
    tx.put(&friend_key(me, requester), &since)?;
    tx.put(&friend_key(requester, me), &since)?;
    emit(
        tx,
        me,
        me,
        &FriendshipCreated {
            user_a: requester.into(),
            user_b: me.into(),
        },
    )
}

/// Removes pending requests in both directions; true when there was one.
fn drop_requests(tx: &Tx, a: &str, b: &str) -> TxResult<bool> {
    let mut any = false;
    for (x, y) in [(a, b), (b, a)] {
        any |= tx.remove(&outgoing_key(x, y))?;
        any |= tx.remove(&incoming_key(y, x))?;
    }
    Ok(any)
}

/// Withdraws `from`'s request to `to`.
pub async fn cancel_request(store: &Store, from: &str, to: &str) -> ApiResult<()> {
    store
        .write(|tx| {
            if !tx.contains(&outgoing_key(from, to))? {
                return abort(Error::NoRequestTo);
            }
            drop_requests(tx, from, to).map(|_| ())
        })
        .await
}

/// Accepts (or, with `accept = false`, declines) the request `requester` → `me`.
pub async fn answer_request(
    store: &Store,
    me: &str,
    requester: &str,
    accept: bool,
) -> ApiResult<()> {
    store
        .write(|tx| {
            if !tx.contains(&incoming_key(me, requester))? {
                return abort(Error::NoRequestFrom);
            }
            if accept {
                befriend(tx, me, requester)
            } else {
                drop_requests(tx, me, requester).map(|_| ())
            }
        })
        .await
}

/// Ends a friendship; true when there was one.
fn end_friendship(tx: &Tx, me: &str, other: &str) -> TxResult<bool> {
    let was = tx.remove(&friend_key(me, other))?;
    tx.remove(&friend_key(other, me))?;
    if was {
        emit(
            tx,
            me,
            me,
            &FriendshipEnded {
                user_a: me.into(),
                user_b: other.into(),
            },
        )?;
    }
    Ok(was)
}

pub async fn unfriend(store: &Store, me: &str, other: &str) -> ApiResult<()> {
    store
        .write(|tx| {
            if !end_friendship(tx, me, other)? {
                return abort(Error::NotFriends);
            }
            Ok(())
        })
        .await
}

/// Blocks `other`: ends the friendship and pending requests. Idempotent.
pub async fn block(store: &Store, me: &str, other: &str) -> ApiResult<()> {
    store
        .write(|tx| {
            if !tx.contains(&profile_key(other))? {
                return abort(Error::UserNotFound);
            }
            if tx.contains(&block_key(me, other))? {
                return Ok(());
            }
            end_friendship(tx, me, other)?;
            drop_requests(tx, me, other)?;
            tx.put(&block_key(me, other), &Since { at: unix_now() })?;
            emit(
                tx,
                me,
                me,
                &UserBlocked {
                    blocker: me.into(),
                    blocked: other.into(),
                },
            )
        })
        .await
}

pub async fn unblock(store: &Store, me: &str, other: &str) -> ApiResult<()> {
    store
        .write(|tx| {
            if !tx.remove(&block_key(me, other))? {
                return abort(Error::NotBlocked);
            }
            emit(
                tx,
                me,
                me,
                &UserUnblocked {
                    blocker: me.into(),
                    blocked: other.into(),
                },
            )
        })
        .await
}

/// One page of a list: the other users' ids and when each edge began.
pub fn list(
    store: &Store,
    owner: &str,
    list: List,
    after: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<(String, Since)>> {
    store
        .scan_after(&list.prefix(owner), after.map(str::as_bytes), limit)?
        .into_iter()
        .map(|(id, value)| {
            Ok((
                String::from_utf8_lossy(&id).into_owned(),
                crate::platform::storage::from_json(&value)?,
            ))
        })
        .collect()
}

/// Friends `a` and `b` have in common, in id order, after the cursor.
pub fn mutual_friends(
    store: &Store,
    a: &str,
    b: &str,
    after: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    let mut cursor = after.map(str::to_string);
    loop {
        let page = list(store, a, List::Friends, cursor.as_deref(), 256)?;
        let Some((last, _)) = page.last() else {
            return Ok(out);
        };
        cursor = Some(last.clone());
        for (id, _) in page {
            if store.contains(&friend_key(b, &id))? {
                out.push(id);
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
    }
}
