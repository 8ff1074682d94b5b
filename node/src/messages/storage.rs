//! The only code of messages that touches sled. Prefixes: `c/<conv>` conversations,
//! `dm/<a><b>` the direct conversation of a pair (both orders), `m/<conv><msg>` messages,
//! `ik/<conv><sender><key>` idempotency keys (the message each created),
//! `ua/<user><activity><conv>` a user's conversations by last activity (`activity` is the
//! newest message id, or the conversation id before any), `ul/<user><conv>` the activity of
//! that entry (to move it), `un/<user><conv>` unread counts, `pr/<user>` preferences;
//! projections ([`PROJECTIONS`]): `a/<user>` accounts, `f/<a><b>` friendships,
//! `b/<blocker><blocked>` blocks, `mp/<user>` who may message the user, `rm/<msg>`
//! messages a moderator removed (shown blank; the message itself is untouched, so a
//! restore shows it again), [`media`]'s `md/<media>` uploads.

pub mod media;

use crate::platform::erasure::{Erase, Named};
use serde::{Deserialize, Serialize};

use crate::auth::events::AccountRegistered;
use crate::moderation::events::{ContentRemoved, ContentRestored, TargetKind};
use crate::platform::context::Event;
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, abort, from_json, key};
use crate::posts::events::ReactionKind;
use crate::users::events::{self as users, MessagePolicy};

use super::domain::{self, Conversation, ConversationKind, Member, MemberRole, Message, Standing};
use super::error::Error;
use super::events::{
    ConversationCreated, ConversationRead, MemberLeft, MembersAdded, MessageDeleted, MessageEdited,
    MessageSent,
};

/// The key prefixes that `rebuild` drops and rebuilds from the stream.
pub const PROJECTIONS: &[&str] = &["a/", "f/", "b/", "mp/", "rm/", media::PROJECTION];

/// A member's messaging preferences.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = MessagingPreferences)]
#[schema(example = json!({"read_receipts": false, "presence": true}))]
pub struct Preferences {
    /// Whether others see how far you have read (and you see theirs): off means neither.
    pub read_receipts: bool,
    /// Whether the members of your conversations see when you are online or were last seen
    /// (and you see theirs): off means neither.
    #[serde(default = "on")]
    pub presence: bool,
}

fn on() -> bool {
    true
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            read_receipts: true,
            presence: true,
        }
    }
}

fn emit<E: DomainEvent>(tx: &Tx, actor: &str, aggregate: &str, event: &E) -> TxResult<()> {
    tx.emit(&Envelope::new(actor, aggregate, event))
}

fn conversation_key(id: &str) -> Vec<u8> {
    key("c/", &[id])
}
fn message_key(conv: &str, id: &str) -> Vec<u8> {
    key("m/", &[conv, id])
}
fn unread_key(user: &str, conv: &str) -> Vec<u8> {
    key("un/", &[user, conv])
}

// ----- projections of other contexts' events (applied once each by the platform) -----

pub fn record_account(tx: &Tx, e: &Event<AccountRegistered>) -> TxResult<()> {
    tx.put_raw(&key("a/", &[&e.data.account_id]), &[])
}
pub fn befriend(tx: &Tx, e: &Event<users::FriendshipCreated>) -> TxResult<()> {
    tx.set_pair("f/", &e.data.user_a, &e.data.user_b, true, true)
}
pub fn unfriend(tx: &Tx, e: &Event<users::FriendshipEnded>) -> TxResult<()> {
    tx.set_pair("f/", &e.data.user_a, &e.data.user_b, false, true)
}
pub fn block(tx: &Tx, e: &Event<users::UserBlocked>) -> TxResult<()> {
    tx.set_pair("b/", &e.data.blocker, &e.data.blocked, true, false)
}
pub fn unblock(tx: &Tx, e: &Event<users::UserUnblocked>) -> TxResult<()> {
    tx.set_pair("b/", &e.data.blocker, &e.data.blocked, false, false)
}
pub fn set_policy(tx: &Tx, e: &Event<users::ProfileUpdated>) -> TxResult<()> {
    tx.put(&key("mp/", &[&e.data.user_id]), &e.data.privacy.messages)
}

// ----- reads -----

pub fn account_exists(store: &Store, user: &str) -> ApiResult<bool> {
    store.contains(&key("a/", &[user]))
}

/// How `recipient` stands to `sender`: their policy, friendship, a block either way.
pub fn standing(store: &Store, sender: &str, recipient: &str) -> ApiResult<Standing> {
    Ok(Standing {
        policy: store
            .get::<MessagePolicy>(&key("mp/", &[recipient]))?
            .unwrap_or_default(),
        friends: store.contains(&key("f/", &[sender, recipient]))?,
        blocked: store.contains(&key("b/", &[sender, recipient]))?
            || store.contains(&key("b/", &[recipient, sender]))?,
    })
}

pub fn conversation(store: &Store, id: &str) -> ApiResult<Option<Conversation>> {
    store.get(&conversation_key(id))
}

pub fn message(store: &Store, conv: &str, id: &str) -> ApiResult<Option<Message>> {
    store
        .get::<Message>(&message_key(conv, id))?
        .map(|m| moderated(store, m))
        .transpose()
}

/// The message as everyone may see it: blank when a moderator removed it.
fn moderated(store: &Store, m: Message) -> ApiResult<Message> {
    Ok(if store.contains(&key("rm/", &[&m.id]))? {
        m.hide_removed()
    } else {
        m
    })
}

pub fn content_removed(tx: &Tx, e: &Event<ContentRemoved>) -> TxResult<()> {
    if e.data.target.kind == TargetKind::Message {
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

/// Messages of a conversation, newest first, older than `before`.
pub fn messages(
    store: &Store,
    conv: &str,
    before: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<Message>> {
    store
        .scan_before(&key("m/", &[conv]), before.map(str::as_bytes), limit)?
        .into_iter()
        .map(|(_, v)| moderated(store, from_json(&v)?))
        .collect()
}

/// A position in a user's list of conversations: the activity and the conversation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub at: String,
    pub conversation: String,
}

/// A user's conversations, most recently active first, after `before`.
pub fn conversations_of(
    store: &Store,
    user: &str,
    before: Option<&Activity>,
    limit: usize,
) -> ApiResult<Vec<Activity>> {
    let before = before.map(|a| key("", &[&a.at, &a.conversation]));
    Ok(store
        .scan_before(&key("ua/", &[user]), before.as_deref(), limit)?
        .into_iter()
        .filter_map(|(k, _)| {
            let k = String::from_utf8_lossy(&k).into_owned();
            let (at, conversation) = k.split_at_checked(26)?;
            Some(Activity {
                at: at.into(),
                conversation: conversation.into(),
            })
        })
        .collect())
}

/// Messages newer than `after` in any of `user`'s conversations, oldest first: what a
/// client that was away missed. Reads only the conversations active since then.
pub fn updates(store: &Store, user: &str, after: &str, limit: usize) -> ApiResult<Vec<Message>> {
    let mut out = Vec::new();
    for entry in store.keys_newest_first(&key("ua/", &[user])) {
        let entry = entry?;
        let Some((activity, conv)) = entry.split_at_checked(26) else {
            continue;
        };
        if activity <= after.as_bytes() {
            break;
        }
        let conv = String::from_utf8_lossy(conv);
        for (_, v) in store.scan_after(&key("m/", &[&conv]), Some(after.as_bytes()), limit)? {
            out.push(from_json::<Message>(&v)?);
        }
    }
    out.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    out.truncate(limit);
    Ok(out)
}

pub fn unread(store: &Store, user: &str, conv: &str) -> ApiResult<u64> {
    Ok(store.get(&unread_key(user, conv))?.unwrap_or(0))
}

/// Unread messages over all of a user's conversations.
pub fn unread_total(store: &Store, user: &str) -> ApiResult<u64> {
    store
        .scan_after(&key("un/", &[user]), None, usize::MAX)?
        .into_iter()
        .map(|(_, v)| Ok(from_json::<u64>(&v)?))
        .sum()
}

pub fn preferences(store: &Store, user: &str) -> ApiResult<Preferences> {
    Ok(store.get(&key("pr/", &[user]))?.unwrap_or_default())
}

pub async fn set_preferences(store: &Store, user: &str, prefs: Preferences) -> ApiResult<()> {
    store.write(|tx| tx.put(&key("pr/", &[user]), &prefs)).await
}

// ----- presence: `pc/<user><connection>` online until, `pl/<user>` last seen -----

/// Whether any of the user's connections is live at `now`.
pub fn online(store: &Store, user: &str, now: i64) -> ApiResult<bool> {
    Ok(store
        .scan_after(&key("pc/", &[user]), None, usize::MAX)?
        .into_iter()
        .any(|(_, v)| from_json::<i64>(&v).is_ok_and(|until| until > now)))
}

pub fn last_seen(store: &Store, user: &str) -> ApiResult<Option<i64>> {
    store.get(&key("pl/", &[user]))
}

/// A connection of `user` is alive until `until`; returns whether the user just came
/// online. Connections that lapsed (a gateway that died) are swept here.
pub async fn heartbeat(
    store: &Store,
    user: &str,
    conn: &str,
    until: i64,
    now: i64,
) -> ApiResult<bool> {
    let was = online(store, user, now)?;
    let lapsed: Vec<Vec<u8>> = store
        .scan_after(&key("pc/", &[user]), None, usize::MAX)?
        .into_iter()
        .filter(|(_, v)| from_json::<i64>(v).map_or(true, |u| u <= now))
        .map(|(k, _)| [key("pc/", &[user]), k].concat())
        .collect();
    store
        .write(|tx| {
            for k in &lapsed {
                tx.remove(k)?;
            }
            tx.put(&key("pc/", &[user, conn]), &until)?;
            tx.put(&key("pl/", &[user]), &now)
        })
        .await?;
    Ok(!was)
}

/// A connection of `user` ended; returns whether the user is now offline.
pub async fn disconnect(store: &Store, user: &str, conn: &str, now: i64) -> ApiResult<bool> {
    store
        .write(|tx| {
            tx.remove(&key("pc/", &[user, conn]))?;
            tx.put(&key("pl/", &[user]), &now)
        })
        .await?;
    Ok(!online(store, user, now)?)
}

/// Everyone `user` shares a conversation with.
pub fn contacts(store: &Store, user: &str) -> ApiResult<Vec<String>> {
    let mut out = std::collections::BTreeSet::new();
    for entry in store.keys_newest_first(&key("ua/", &[user])) {
        let entry = entry?;
        let Some(conv) = entry.get(26..) else {
            continue;
        };
        if let Some(c) = conversation(store, &String::from_utf8_lossy(conv))? {
            out.extend(c.others(user));
        }
    }
    Ok(out.into_iter().collect())
}

// ----- writes -----

fn load(tx: &Tx, id: &str) -> TxResult<Conversation> {
    match tx.get::<Conversation>(&conversation_key(id))? {
        Some(c) => Ok(c),
        None => abort(Error::ConversationNotFound),
    }
}

/// The conversation, if `user` is a member (else it does not exist for them).
fn load_for(tx: &Tx, id: &str, user: &str) -> TxResult<Conversation> {
    let c = load(tx, id)?;
    if !c.is_member(user) {
        return abort(Error::ConversationNotFound);
    }
    Ok(c)
}

/// A message to change; one a moderator removed is no longer changed (409, as deleted).
fn load_message(tx: &Tx, conv: &str, id: &str) -> TxResult<Message> {
    match tx.get::<Message>(&message_key(conv, id))? {
        Some(_) if tx.contains(&key("rm/", &[id]))? => abort(Error::Deleted),
        Some(m) => Ok(m),
        None => abort(Error::MessageNotFound),
    }
}

/// Moves `user`'s entry of `conv` to `activity` in their list.
fn touch(tx: &Tx, user: &str, conv: &str, activity: &str) -> TxResult<()> {
    let last = key("ul/", &[user, conv]);
    if let Some(old) = tx.get::<String>(&last)? {
        tx.remove(&key("ua/", &[user, &old, conv]))?;
    }
    tx.put_raw(&key("ua/", &[user, activity, conv]), &[])?;
    tx.put(&last, &activity)
}

/// Takes `user`'s entry of `conv` out of their list.
fn forget(tx: &Tx, user: &str, conv: &str) -> TxResult<()> {
    let last = key("ul/", &[user, conv]);
    if let Some(old) = tx.get::<String>(&last)? {
        tx.remove(&key("ua/", &[user, &old, conv]))?;
    }
    tx.remove(&last)?;
    tx.remove(&unread_key(user, conv))?;
    Ok(())
}

/// What starting a conversation did.
pub enum Started {
    Created(Conversation),
    /// A direct conversation of the pair already existed: it is returned.
    Existing(Conversation),
}

/// Starts a conversation; a second direct conversation of the same pair is the first.
pub async fn start(store: &Store, conv: &Conversation) -> ApiResult<Started> {
    store
        .write(|tx| {
            let pair: Vec<&String> = conv.members.keys().collect();
            let direct = match (conv.kind, pair.as_slice()) {
                (ConversationKind::Direct, [a, b]) => {
                    Some((key("dm/", &[a, b]), key("dm/", &[b, a])))
                }
                _ => None,
            };
            if let Some((ab, _)) = &direct
                && let Some(existing) = tx.get::<String>(ab)?
            {
                return Ok(Started::Existing(load(tx, &existing)?));
            }
            if let Some((ab, ba)) = &direct {
                tx.put(ab, &conv.id)?;
                tx.put(ba, &conv.id)?;
            }
            tx.put(&conversation_key(&conv.id), conv)?;
            for user in conv.members.keys() {
                touch(tx, user, &conv.id, &conv.id)?;
            }
            emit(
                tx,
                &conv.created_by,
                &conv.id,
                &ConversationCreated {
                    conversation_id: conv.id.clone(),
                    kind: conv.kind,
                    members: conv.members.keys().cloned().collect(),
                },
            )?;
            Ok(Started::Created(conv.clone()))
        })
        .await
}

/// Sends a message. With an idempotency key that this sender already used in this
/// conversation, nothing is written and the first message is returned (`false`).
pub async fn send(
    store: &Store,
    msg: &Message,
    idempotency: Option<&str>,
) -> ApiResult<(Message, bool)> {
    let conv_id = &msg.conversation_id;
    // Who has no live connection (no push will reach them): notifications tells them.
    let now = crate::platform::unix_now();
    let mut unreached = Vec::new();
    if let Some(c) = conversation(store, conv_id)? {
        for u in c.others(&msg.sender_id) {
            if !online(store, &u, now)? {
                unreached.push(u);
            }
        }
    }
    store
        .write(|tx| {
            let mut conv = load_for(tx, conv_id, &msg.sender_id)?;
            let ik = idempotency.map(|k| key("ik/", &[conv_id, &msg.sender_id, k]));
            if let Some(ik) = &ik
                && let Some(first) = tx.get::<String>(ik)?
            {
                return Ok((load_message(tx, conv_id, &first)?, false));
            }
            if let Some(reply) = &msg.reply_to
                && !tx.contains(&message_key(conv_id, reply))?
            {
                return abort(Error::invalid(
                    "reply_to",
                    "no such message in this conversation",
                ));
            }
            tx.put(&message_key(conv_id, &msg.id), msg)?;
            if let Some(ik) = &ik {
                tx.put(ik, &msg.id)?;
            }
            for (user, member) in conv.members.iter_mut() {
                touch(tx, user, conv_id, &msg.id)?;
                if *user == msg.sender_id {
                    member.last_read = Some(msg.id.clone());
                } else {
                    let unread: u64 = tx.get(&unread_key(user, conv_id))?.unwrap_or(0);
                    tx.put(&unread_key(user, conv_id), &(unread + 1))?;
                }
            }
            conv.last_message = Some(msg.id.clone());
            tx.put(&conversation_key(conv_id), &conv)?;
            emit(
                tx,
                &msg.sender_id,
                conv_id,
                &MessageSent {
                    conversation_id: conv_id.clone(),
                    message_id: msg.id.clone(),
                    sender_id: msg.sender_id.clone(),
                    recipients: conv.others(&msg.sender_id),
                    reply_to: msg.reply_to.clone(),
                    unreached: unreached
                        .iter()
                        .filter(|u| conv.is_member(u))
                        .cloned()
                        .collect(),
                    media_ids: msg.media_ids.clone(),
                },
            )?;
            Ok((msg.clone(), true))
        })
        .await
}

/// Changes a message's text (its sender, within the window).
pub async fn edit(
    store: &Store,
    actor: &str,
    conv: &str,
    id: &str,
    text: &str,
    now: i64,
) -> ApiResult<Message> {
    store
        .write(|tx| {
            load_for(tx, conv, actor)?;
            let mut m = load_message(tx, conv, id)?;
            domain::may_edit(&m, actor, now).or_else(abort)?;
            m.text = text.to_string();
            m.edited_at = Some(now);
            tx.put(&message_key(conv, id), &m)?;
            let event = MessageEdited {
                conversation_id: conv.into(),
                message_id: id.into(),
            };
            emit(tx, actor, conv, &event)?;
            Ok(m)
        })
        .await
}

/// Deletes a message for everyone (its sender, within the window): a tombstone stays, so
/// replies still point somewhere and lists do not shift.
pub async fn delete(store: &Store, actor: &str, conv: &str, id: &str, now: i64) -> ApiResult<()> {
    store
        .write(|tx| {
            load_for(tx, conv, actor)?;
            let mut m = load_message(tx, conv, id)?;
            domain::may_delete(&m, actor, now).or_else(abort)?;
            if m.deleted {
                return Ok(());
            }
            m.deleted = true;
            m.text.clear();
            m.media_ids.clear();
            m.reactions.clear();
            tx.put(&message_key(conv, id), &m)?;
            let event = MessageDeleted {
                conversation_id: conv.into(),
                message_id: id.into(),
            };
            emit(tx, actor, conv, &event)
        })
        .await
}

/// Sets (`Some`) or removes (`None`) a member's reaction to a message.
pub async fn react(
    store: &Store,
    actor: &str,
    conv: &str,
    id: &str,
    kind: Option<ReactionKind>,
) -> ApiResult<Message> {
    store
        .write(|tx| {
            load_for(tx, conv, actor)?;
            let mut m = load_message(tx, conv, id)?;
            if m.deleted {
                return abort(Error::Deleted);
            }
            match kind {
                Some(k) => {
                    m.reactions.insert(actor.into(), k);
                }
                None if m.reactions.remove(actor).is_none() => return abort(Error::NoReaction),
                None => {}
            }
            tx.put(&message_key(conv, id), &m)?;
            Ok(m)
        })
        .await
}

/// Marks `conv` read by `user` up to message `up_to` (never backwards). Returns the
/// unread count left.
pub async fn mark_read(store: &Store, user: &str, conv: &str, up_to: &str) -> ApiResult<u64> {
    for _ in 0..16 {
        // Count the messages of others after `up_to` outside (a transaction cannot scan),
        // then commit only if no message arrived meanwhile.
        let Some(seen) = conversation(store, conv)? else {
            return Err(Error::ConversationNotFound.into());
        };
        let after: Vec<Message> = store
            .scan_after(&key("m/", &[conv]), Some(up_to.as_bytes()), usize::MAX)?
            .into_iter()
            .map(|(_, v)| Ok(from_json(&v)?))
            .collect::<ApiResult<_>>()?;
        let left = after.iter().filter(|m| m.sender_id != user).count() as u64;
        let done = store
            .write(|tx| {
                let mut c = load_for(tx, conv, user)?;
                if c.last_message != seen.last_message {
                    return Ok(None);
                }
                load_message(tx, conv, up_to)?;
                let Some(member) = c.members.get_mut(user) else {
                    return abort(Error::ConversationNotFound);
                };
                if member.last_read.as_deref() >= Some(up_to) {
                    return Ok(Some(tx.get(&unread_key(user, conv))?.unwrap_or(0)));
                }
                member.last_read = Some(up_to.to_string());
                tx.put(&conversation_key(conv), &c)?;
                tx.put(&unread_key(user, conv), &left)?;
                let event = ConversationRead {
                    conversation_id: conv.into(),
                    user_id: user.into(),
                    up_to: up_to.into(),
                };
                emit(tx, user, conv, &event)?;
                Ok(Some(left))
            })
            .await?;
        if let Some(left) = done {
            return Ok(left);
        }
    }
    Err(Error::KeptArriving.into())
}

/// Renames a group conversation (its admins).
pub async fn rename(
    store: &Store,
    actor: &str,
    conv: &str,
    title: &str,
) -> ApiResult<Conversation> {
    store
        .write(|tx| {
            let mut c = load_for(tx, conv, actor)?;
            domain::may_manage(&c, actor).or_else(abort)?;
            c.title = title.to_string();
            tx.put(&conversation_key(conv), &c)?;
            Ok(c)
        })
        .await
}

/// Adds members to a group conversation (its admins), up to the size limit.
pub async fn add_members(
    store: &Store,
    actor: &str,
    conv: &str,
    users: &[String],
    now: i64,
) -> ApiResult<Conversation> {
    store
        .write(|tx| {
            let mut c = load_for(tx, conv, actor)?;
            domain::may_manage(&c, actor).or_else(abort)?;
            if users.iter().any(|u| c.is_member(u)) {
                return abort(Error::AlreadyMember);
            }
            if c.members.len() + users.len() > domain::GROUP_MAX_MEMBERS {
                return abort(Error::TooManyMembers(domain::GROUP_MAX_MEMBERS));
            }
            let activity = c.last_message.clone().unwrap_or_else(|| c.id.clone());
            for u in users {
                let member = Member {
                    role: MemberRole::Member,
                    joined_at: now,
                    // Joiners start with nothing unread: the history is theirs to scroll.
                    last_read: c.last_message.clone(),
                };
                c.members.insert(u.clone(), member);
                touch(tx, u, conv, &activity)?;
            }
            tx.put(&conversation_key(conv), &c)?;
            let event = MembersAdded {
                conversation_id: conv.into(),
                user_ids: users.to_vec(),
                added_by: actor.into(),
            };
            emit(tx, actor, conv, &event)?;
            Ok(c)
        })
        .await
}

/// `user` leaves a group conversation, or an admin (`actor`) removes them. When the last
/// admin leaves, the longest-standing member becomes admin.
pub async fn remove_member(store: &Store, actor: &str, conv: &str, user: &str) -> ApiResult<()> {
    store
        .write(|tx| {
            let mut c = load_for(tx, conv, actor)?;
            if actor != user {
                domain::may_manage(&c, actor).or_else(abort)?;
            } else if c.kind == ConversationKind::Direct {
                return abort(Error::DirectIsFixed);
            }
            if !c.is_member(user) {
                return abort(Error::UserNotFound);
            }
            if let Some(next) = domain::successor(&c, user)
                && let Some(m) = c.members.get_mut(&next)
            {
                m.role = MemberRole::Admin;
            }
            c.members.remove(user);
            forget(tx, user, conv)?;
            tx.put(&conversation_key(conv), &c)?;
            let event = MemberLeft {
                conversation_id: conv.into(),
                user_id: user.into(),
                removed_by: (actor != user).then(|| actor.to_string()),
            };
            emit(tx, actor, conv, &event)
        })
        .await
}

/// The person's part of an export: every record naming them, and every message of the
/// conversations they are in (what they read there), except what a moderator removed.
pub fn export(
    store: &Store,
    data_dir: &std::path::Path,
    user: &str,
) -> ApiResult<crate::platform::export::Part> {
    let mut part = crate::platform::export::records_naming(store, data_dir, user)?;
    let conversations: Vec<String> = part
        .data
        .get("c/")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("key")?.as_str().map(str::to_string))
        .collect();
    let mut messages = serde_json::Map::new();
    for conv in conversations {
        let mut kept = Vec::new();
        for (_, v) in store.scan_after(&key("m/", &[&conv]), None, usize::MAX)? {
            let m: serde_json::Value = crate::platform::storage::from_json(&v)?;
            let id = m.get("id").and_then(|i| i.as_str()).unwrap_or_default();
            if !store.contains(&key("rm/", &[id]))? {
                kept.push(m);
            }
        }
        messages.insert(conv, kept.into());
    }
    if let Some(kinds) = part.data.as_object_mut() {
        kinds.insert("conversation_messages".into(), messages.into());
    }
    Ok(part)
}

/// Erasure: what the person sent stays in the others' conversations, from an erased
/// account (as Signal and WhatsApp keep it on the recipients' side), and they leave every
/// conversation; everything keyed by them (their lists, unread counts, preferences, the
/// pair index of their direct conversations) goes.
pub fn erasure(named: &Named, _: &str) -> Erase {
    match named.prefix() {
        b"c/" | b"m/" => Erase::Anonymize,
        _ => Erase::Remove,
    }
}
