//! The only code of notifications that touches sled. Projections ([`PROJECTIONS`], rebuilt
//! from the stream): `n/<user><id>` notifications, `nl/<user><activity><id>` each user's list
//! by newest activity, `ng/<user><group key>` the notification a grouped kind adds to,
//! `b/<blocker><blocked>` blocks, `f/<a><b>` friendships, `gv/<group>` group privacy,
//! `gm/<group><user>` memberships, `pv/<post>` who may read a post, `ca/<comment>` comment
//! authors, `rm/<post>` removed posts (whose notifications only the removal notice
//! names). Own truth (kept by rebuild): `rd/<user><id>` read marks (the activity read),
//! `ra/<user>` "all read up to", `hd/<user><id>` deleted by the user, `pr/<user>`
//! preferences, `mu/<user><post>` muted posts, `dg/<user>` where the last e-mail digest
//! ended.

use crate::groups::events::{self as groups, GroupPrivacy};
use crate::messages::events as messages;
use crate::platform::context::Event;
use crate::platform::erasure::{Erase, Named};
use crate::platform::error::ApiResult;
use crate::platform::storage::{Changes, Store, Tx, TxResult, key};
use crate::posts::events::{self as posts, Audience};
use crate::users::events as users;

mod exports;
mod moderation;

pub use exports::export_ready;
pub use moderation::{
    account_reinstated, account_suspended, content_removed, content_restored, user_warned,
};

use super::domain::{self, Kind, Notification, PostAccess, Preferences, Standing, Target};

/// The key prefixes that `rebuild` drops and rebuilds from the stream.
pub const PROJECTIONS: &[&str] = &[
    "n/", "nl/", "ng/", "b/", "f/", "gv/", "gm/", "pv/", "ca/", "cv/", "rm/",
];

/// The list entries' prefix, watched to push new activity.
pub const LIST: &str = "nl/";

pub(super) fn notification_key(user: &str, id: &str) -> Vec<u8> {
    key("n/", &[user, id])
}

// ----- projections, and the notifications they make -----

fn blocked_either(tx: &Tx, a: &str, b: &str) -> TxResult<bool> {
    Ok(tx.contains(&key("b/", &[a, b]))? || tx.contains(&key("b/", &[b, a]))?)
}

/// Tells `recipient` that `actor` did something (`kind`, about `target`), unless it is
/// their own doing, a block stands between them, they muted the post or turned the kind
/// off. Grouped kinds add the actor to the one notification per target.
fn notify(
    tx: &Tx,
    event_id: &str,
    at: i64,
    recipient: &str,
    kind: Kind,
    actor: &str,
    target: Target,
) -> TxResult<()> {
    if !domain::worth_telling(recipient, actor) || blocked_either(tx, recipient, actor)? {
        return Ok(());
    }
    for muted in [&target.post_id, &target.conversation_id]
        .into_iter()
        .flatten()
    {
        if tx.contains(&key("mu/", &[recipient, muted]))? {
            return Ok(());
        }
    }
    let prefs: Preferences = tx.get(&key("pr/", &[recipient]))?.unwrap_or_default();
    if !prefs.of(kind).in_app {
        return Ok(());
    }
    let group = kind.grouped().then(|| {
        let about = (target.comment_id.as_deref())
            .or(target.post_id.as_deref())
            .or(target.conversation_id.as_deref());
        key(
            "ng/",
            &[recipient, &format!("{kind:?}"), about.unwrap_or_default()],
        )
    });
    let existing = match &group {
        Some(g) => tx.get::<String>(g)?,
        None => None,
    };
    let notification = match existing {
        Some(id) => match tx.get::<Notification>(&notification_key(recipient, &id))? {
            Some(mut n) => {
                tx.remove(&key("nl/", &[recipient, &n.activity, &n.id]))?;
                n.add_actor(actor, event_id, at);
                n
            }
            None => fresh(event_id, at, recipient, kind, actor, target),
        },
        None => fresh(event_id, at, recipient, kind, actor, target),
    };
    if let Some(g) = &group {
        tx.put(g, &notification.id)?;
    }
    tx.put(
        &notification_key(recipient, &notification.id),
        &notification,
    )?;
    tx.put_raw(
        &key(
            "nl/",
            &[recipient, &notification.activity, &notification.id],
        ),
        &[],
    )
}

pub(super) fn fresh(
    event_id: &str,
    at: i64,
    user: &str,
    kind: Kind,
    actor: &str,
    target: Target,
) -> Notification {
    Notification {
        id: event_id.to_string(),
        user_id: user.to_string(),
        kind,
        actors: vec![actor.to_string()],
        actor_count: 1,
        target,
        created_at: at,
        activity: event_id.to_string(),
        updated_at: at,
        moderation: None,
    }
}

pub(super) fn at<E>(e: &Event<E>) -> i64 {
    e.occurred_at.unix_timestamp()
}

pub fn friend_request(tx: &Tx, e: &Event<users::FriendRequestSent>) -> TxResult<()> {
    let d = &e.data;
    notify(
        tx,
        e.id,
        at(e),
        &d.to,
        Kind::FriendRequest,
        &d.from,
        Target::default(),
    )
}

pub fn befriend(tx: &Tx, e: &Event<users::FriendshipCreated>) -> TxResult<()> {
    let d = &e.data;
    tx.set_pair("f/", &d.user_a, &d.user_b, true, true)?;
    // `user_b` accepted `user_a`'s request.
    notify(
        tx,
        e.id,
        at(e),
        &d.user_a,
        Kind::FriendAccepted,
        &d.user_b,
        Target::default(),
    )
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

pub fn set_group(tx: &Tx, e: &Event<groups::GroupUpdated>) -> TxResult<()> {
    tx.put(&key("gv/", &[&e.data.group_id]), &e.data.privacy)
}

pub fn drop_group(tx: &Tx, e: &Event<groups::GroupDeleted>) -> TxResult<()> {
    tx.remove(&key("gv/", &[&e.data.group_id])).map(|_| ())
}

/// A membership and its role (a role change comes as another `MemberJoined`).
pub fn join(tx: &Tx, e: &Event<groups::MemberJoined>) -> TxResult<()> {
    tx.put(
        &key("gm/", &[&e.data.group_id, &e.data.user_id]),
        &e.data.role,
    )
}

pub fn group_invitation(tx: &Tx, e: &Event<groups::GroupInvitationSent>) -> TxResult<()> {
    let d = &e.data;
    let target = Target {
        group_id: Some(d.group_id.clone()),
        ..Target::default()
    };
    notify(
        tx,
        e.id,
        at(e),
        &d.user_id,
        Kind::GroupInvitation,
        &d.invited_by,
        target,
    )
}

/// The group's moderators and admins, read before a join request is applied.
pub fn read_moderators(store: &Store, e: &Event<groups::JoinRequested>) -> ApiResult<Vec<String>> {
    store
        .scan_after(&key("gm/", &[&e.data.group_id]), None, usize::MAX)?
        .into_iter()
        .filter_map(|(k, v)| {
            let role: Option<groups::GroupRole> = serde_json::from_slice(&v).ok();
            role.filter(|r| *r >= groups::GroupRole::Moderator)
                .map(|_| Ok(String::from_utf8_lossy(&k).into_owned()))
        })
        .collect()
}

pub fn join_request(
    tx: &Tx,
    e: &Event<groups::JoinRequested>,
    moderators: &Vec<String>,
) -> TxResult<()> {
    let d = &e.data;
    for m in moderators {
        let target = Target {
            group_id: Some(d.group_id.clone()),
            ..Target::default()
        };
        notify(tx, e.id, at(e), m, Kind::GroupRequest, &d.user_id, target)?;
    }
    Ok(())
}

pub fn leave(tx: &Tx, e: &Event<groups::MemberLeft>) -> TxResult<()> {
    tx.remove(&key("gm/", &[&e.data.group_id, &e.data.user_id]))
        .map(|_| ())
}

fn standing(store: &Store, reader: &str, author: &str, group: Option<&str>) -> ApiResult<Standing> {
    let friends = store.contains(&key("f/", &[reader, author]))?;
    let friend_of_friend = !friends
        && store
            .scan_after(&key("f/", &[reader]), None, usize::MAX)?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .map(|f| store.contains(&key("f/", &[&f, author])))
            .collect::<ApiResult<Vec<bool>>>()?
            .into_iter()
            .any(|b| b);
    let (group_privacy, group_member) = match group {
        Some(g) => (
            store.get::<GroupPrivacy>(&key("gv/", &[g]))?,
            store.contains(&key("gm/", &[g, reader]))?,
        ),
        None => (None, false),
    };
    Ok(Standing {
        friends,
        friend_of_friend,
        group_privacy,
        group_member,
    })
}

/// A new post: who may read it; mentions and shares notify. A mention is kept for every
/// mentioned user and shown only to those who may read the post, checked on each read
/// ([`shown`]).
pub fn add_post(tx: &Tx, e: &Event<posts::PostCreated>) -> TxResult<()> {
    let d = &e.data;
    let access = PostAccess {
        author_id: d.author_id.clone(),
        visibility: d.visibility,
        group: match &d.audience {
            Audience::Group { id } => Some(id.clone()),
            _ => None,
        },
        page: matches!(d.audience, Audience::Page { .. }),
    };
    tx.put(&key("pv/", &[&d.post_id]), &access)?;
    let about = Target {
        post_id: Some(d.post_id.clone()),
        comment_id: None,
        group_id: None,
        conversation_id: None,
        export_id: None,
    };
    for user in &d.mentions {
        let about = about.clone();
        notify(tx, e.id, at(e), user, Kind::Mention, &d.author_id, about)?;
    }
    if let Some(original) = &d.shared_post
        && let Some(o) = tx.get::<PostAccess>(&key("pv/", &[original]))?
    {
        let shared = Target {
            post_id: Some(original.clone()),
            comment_id: None,
            group_id: None,
            conversation_id: None,
            export_id: None,
        };
        notify(
            tx,
            e.id,
            at(e),
            &o.author_id,
            Kind::Share,
            &d.author_id,
            shared,
        )?;
    }
    Ok(())
}

pub fn edit_post(tx: &Tx, e: &Event<posts::PostEdited>) -> TxResult<()> {
    let k = key("pv/", &[&e.data.post_id]);
    if let Some(mut access) = tx.get::<PostAccess>(&k)? {
        access.visibility = e.data.visibility;
        tx.put(&k, &access)?;
    }
    Ok(())
}

/// A deleted post: what notified about it is no longer shown (checked on read).
pub fn delete_post(tx: &Tx, e: &Event<posts::PostDeleted>) -> TxResult<()> {
    tx.remove(&key("pv/", &[&e.data.post_id])).map(|_| ())
}

pub fn comment_added(tx: &Tx, e: &Event<posts::CommentAdded>) -> TxResult<()> {
    let d = &e.data;
    tx.put(&key("ca/", &[&d.comment_id]), &d.author_id)?;
    let parent_author = match &d.parent_id {
        Some(p) => tx.get::<String>(&key("ca/", &[p]))?,
        None => None,
    };
    if let (Some(parent), Some(parent_author)) = (&d.parent_id, &parent_author) {
        let target = Target {
            post_id: Some(d.post_id.clone()),
            comment_id: Some(parent.clone()),
            group_id: None,
            conversation_id: None,
            export_id: None,
        };
        notify(
            tx,
            e.id,
            at(e),
            parent_author,
            Kind::Reply,
            &d.author_id,
            target,
        )?;
    }
    // The post's author hears of it once: as a reply when it answers their own comment.
    if parent_author.as_deref() != Some(d.post_author_id.as_str()) {
        let target = Target {
            post_id: Some(d.post_id.clone()),
            comment_id: None,
            group_id: None,
            conversation_id: None,
            export_id: None,
        };
        notify(
            tx,
            e.id,
            at(e),
            &d.post_author_id,
            Kind::Comment,
            &d.author_id,
            target,
        )?;
    }
    Ok(())
}

pub fn comment_deleted(tx: &Tx, e: &Event<posts::CommentDeleted>) -> TxResult<()> {
    tx.remove(&key("ca/", &[&e.data.comment_id])).map(|_| ())
}

pub fn reaction_set(tx: &Tx, e: &Event<posts::ReactionSet>) -> TxResult<()> {
    let d = &e.data;
    let on_post = d.target_id == d.post_id;
    let author = if on_post {
        Some(d.post_author_id.clone())
    } else {
        tx.get::<String>(&key("ca/", &[&d.target_id]))?
    };
    let Some(author) = author else {
        return Ok(());
    };
    let target = Target {
        post_id: Some(d.post_id.clone()),
        comment_id: (!on_post).then(|| d.target_id.clone()),
        group_id: None,
        conversation_id: None,
        export_id: None,
    };
    notify(tx, e.id, at(e), &author, Kind::Reaction, &d.user_id, target)
}

pub fn conversation_started(tx: &Tx, e: &Event<messages::ConversationCreated>) -> TxResult<()> {
    for m in &e.data.members {
        tx.put_raw(&key("cv/", &[&e.data.conversation_id, m]), &[])?;
    }
    Ok(())
}

pub fn members_added(tx: &Tx, e: &Event<messages::MembersAdded>) -> TxResult<()> {
    for m in &e.data.user_ids {
        tx.put_raw(&key("cv/", &[&e.data.conversation_id, m]), &[])?;
    }
    Ok(())
}

pub fn member_left(tx: &Tx, e: &Event<messages::MemberLeft>) -> TxResult<()> {
    tx.remove(&key("cv/", &[&e.data.conversation_id, &e.data.user_id]))
        .map(|_| ())
}

/// Messages no push reached: one notification per conversation ("3 new messages").
pub fn message_sent(tx: &Tx, e: &Event<messages::MessageSent>) -> TxResult<()> {
    let d = &e.data;
    for user in &d.unreached {
        let target = Target {
            conversation_id: Some(d.conversation_id.clone()),
            ..Target::default()
        };
        notify(tx, e.id, at(e), user, Kind::Message, &d.sender_id, target)?;
    }
    Ok(())
}

/// Reading a conversation settles its message notification: it goes, and the next
/// message starts a new one.
pub fn conversation_read(tx: &Tx, e: &Event<messages::ConversationRead>) -> TxResult<()> {
    let d = &e.data;
    let group = key(
        "ng/",
        &[
            &d.user_id,
            &format!("{:?}", Kind::Message),
            &d.conversation_id,
        ],
    );
    let Some(id) = tx.get::<String>(&group)? else {
        return Ok(());
    };
    tx.remove(&group)?;
    if let Some(n) = tx.get::<Notification>(&notification_key(&d.user_id, &id))? {
        tx.remove(&key("nl/", &[&d.user_id, &n.activity, &n.id]))?;
        tx.remove(&notification_key(&d.user_id, &id))?;
    }
    Ok(())
}

// ----- reads -----

pub fn notification(store: &Store, user: &str, id: &str) -> ApiResult<Option<Notification>> {
    store.get(&notification_key(user, id))
}

/// A position in a user's list: the activity and the notification id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub activity: String,
    pub id: String,
}

/// Whether a notification is still shown to its user: not deleted by them, no block with
/// its actors, and its post still there.
pub fn shown(store: &Store, n: &Notification) -> ApiResult<bool> {
    if store.contains(&key("hd/", &[&n.user_id, &n.id]))? {
        return Ok(false);
    }
    for actor in &n.actors {
        if store.contains(&key("b/", &[&n.user_id, actor]))?
            || store.contains(&key("b/", &[actor, &n.user_id]))?
        {
            return Ok(false);
        }
    }
    if let Some(group) = &n.target.group_id
        && !store.contains(&key("gv/", &[group]))?
    {
        return Ok(false);
    }
    if let Some(conv) = &n.target.conversation_id
        && !store.contains(&key("cv/", &[conv, &n.user_id]))?
    {
        return Ok(false);
    }
    let Some(post) = &n.target.post_id else {
        return Ok(true);
    };
    if n.kind == Kind::Moderation {
        return Ok(true);
    }
    if store.contains(&key("rm/", &[post]))? {
        return Ok(false);
    }
    let Some(access) = store.get::<PostAccess>(&key("pv/", &[post]))? else {
        return Ok(false);
    };
    // Who may read the post is checked on every read, not only when the notification was
    // made: the friendship that makes a mention readable may arrive after the post (two
    // contexts' events are not ordered), and one that ends hides it again.
    if n.kind == Kind::Mention {
        let standing = standing(
            store,
            &n.user_id,
            &access.author_id,
            access.group.as_deref(),
        )?;
        return Ok(domain::may_read(&access, &n.user_id, standing));
    }
    Ok(true)
}

/// Whether the user read the notification since its last activity.
pub fn read(store: &Store, n: &Notification) -> ApiResult<bool> {
    let all: Option<String> = store.get(&key("ra/", &[&n.user_id]))?;
    let one: Option<String> = store.get(&key("rd/", &[&n.user_id, &n.id]))?;
    Ok(all.as_deref() >= Some(n.activity.as_str()) || one.as_deref() >= Some(n.activity.as_str()))
}

/// A user's notifications, newest activity first, after `before`.
pub fn list(
    store: &Store,
    user: &str,
    before: Option<&Position>,
    limit: usize,
) -> ApiResult<Vec<(Position, Notification)>> {
    let before = before.map(|p| key("", &[&p.activity, &p.id]));
    let rows = store.scan_before(&key("nl/", &[user]), before.as_deref(), limit)?;
    listed(store, user, rows)
}

/// A user's notifications with activity after `after` (a ULID), oldest activity first, at
/// most `limit` list entries read: what a reconnecting device missed.
pub fn updates(
    store: &Store,
    user: &str,
    after: &str,
    limit: usize,
) -> ApiResult<Vec<(Position, Notification)>> {
    // Past every entry of the `after` activity: ids are ULIDs, and '~' sorts above them.
    let past = format!("{after}~");
    let rows = store.scan_after(&key("nl/", &[user]), Some(past.as_bytes()), limit)?;
    listed(store, user, rows)
}

/// The notifications of list entries (`<activity><id>`, the prefix cut off).
fn listed(
    store: &Store,
    user: &str,
    rows: Vec<(Vec<u8>, sled::IVec)>,
) -> ApiResult<Vec<(Position, Notification)>> {
    let mut out = Vec::new();
    for (k, _) in rows {
        let k = String::from_utf8_lossy(&k).into_owned();
        let Some((activity, id)) = k.split_at_checked(26) else {
            continue;
        };
        if let Some(n) = notification(store, user, id)? {
            let position = Position {
                activity: activity.into(),
                id: id.into(),
            };
            out.push((position, n));
        }
    }
    Ok(out)
}

/// Unread notifications still shown, counted up to [`domain::UNREAD_CAP`].
pub fn unread(store: &Store, user: &str) -> ApiResult<usize> {
    let all: Option<String> = store.get(&key("ra/", &[user]))?;
    let mut count = 0;
    for entry in store.keys_newest_first(&key("nl/", &[user])) {
        let entry = entry?;
        let Some((activity, id)) = entry.split_at_checked(26) else {
            continue;
        };
        if all.as_deref().is_some_and(|a| a.as_bytes() >= activity) || count >= domain::UNREAD_CAP {
            break;
        }
        let id = String::from_utf8_lossy(id);
        if let Some(n) = notification(store, user, &id)?
            && !read(store, &n)?
            && shown(store, &n)?
        {
            count += 1;
        }
    }
    Ok(count)
}

pub fn preferences(store: &Store, user: &str) -> ApiResult<Preferences> {
    Ok(store.get(&key("pr/", &[user]))?.unwrap_or_default())
}

pub fn muted(store: &Store, user: &str, post: &str) -> ApiResult<bool> {
    store.contains(&key("mu/", &[user, post]))
}

/// Whether `user` may mute `id`: a post that exists, or a conversation they belong to.
pub fn mutable(store: &Store, user: &str, id: &str) -> ApiResult<bool> {
    Ok(store.contains(&key("pv/", &[id]))? || store.contains(&key("cv/", &[id, user]))?)
}

/// The user and notification of a list entry's key (`nl/<user><activity><id>`).
pub fn list_entry(raw: &[u8]) -> Option<(String, String, String)> {
    let rest = raw.strip_prefix(LIST.as_bytes())?;
    let rest = std::str::from_utf8(rest).ok()?;
    let (user, rest) = rest.split_at_checked(26)?;
    let (activity, id) = rest.split_at_checked(26)?;
    Some((user.into(), activity.into(), id.into()))
}

// ----- the user's own writes -----

pub async fn mark_read(store: &Store, n: &Notification) -> ApiResult<()> {
    store
        .write(|tx| tx.put(&key("rd/", &[&n.user_id, &n.id]), &n.activity))
        .await
}

/// Marks everything up to the newest activity read.
pub async fn mark_all_read(store: &Store, user: &str) -> ApiResult<()> {
    let newest = store
        .keys_newest_first(&key("nl/", &[user]))
        .next()
        .transpose()?;
    let Some(newest) = newest else {
        return Ok(());
    };
    let activity = String::from_utf8_lossy(newest.get(..26).unwrap_or_default()).into_owned();
    store
        .write(|tx| tx.put(&key("ra/", &[user]), &activity))
        .await
}

pub async fn hide(store: &Store, user: &str, id: &str) -> ApiResult<()> {
    store
        .write(|tx| tx.put_raw(&key("hd/", &[user, id]), &[]))
        .await
}

pub async fn set_preferences(store: &Store, user: &str, prefs: &Preferences) -> ApiResult<()> {
    store.write(|tx| tx.put(&key("pr/", &[user]), prefs)).await
}

pub async fn set_mute(store: &Store, user: &str, post: &str, on: bool) -> ApiResult<bool> {
    store
        .write(|tx| {
            let k = key("mu/", &[user, post]);
            let was = tx.contains(&k)?;
            if on {
                tx.put_raw(&k, &[])?;
            } else {
                tx.remove(&k)?;
            }
            Ok(was)
        })
        .await
}

/// For the push watcher: the raw data tree.
pub fn watch_list(store: &Store) -> Changes {
    store.watch(LIST.as_bytes())
}

// ----- the e-mail digest -----

/// How many list entries one digest looks at, newest first.
const DIGEST_SCAN: usize = 1_000;

/// The users who want some kind by e-mail (only those who changed their preferences can).
pub fn digest_subscribers(store: &Store) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for (user, value) in store.scan_after(b"pr/", None, usize::MAX)? {
        let prefs: Preferences = crate::platform::storage::from_json(&value)?;
        if prefs.kinds.values().any(|k| k.email) {
            out.push(String::from_utf8_lossy(&user).into_owned());
        }
    }
    Ok(out)
}

/// Unread notifications still shown, of kinds the user wants by e-mail, with activity
/// after `since` (a ULID boundary), counted by kind.
pub fn digest_counts(
    store: &Store,
    user: &str,
    since: Option<&str>,
) -> ApiResult<std::collections::BTreeMap<Kind, u32>> {
    let prefs = preferences(store, user)?;
    let mut counts = std::collections::BTreeMap::new();
    for entry in store
        .keys_newest_first(&key("nl/", &[user]))
        .take(DIGEST_SCAN)
    {
        let entry = entry?;
        let Some((activity, id)) = entry.split_at_checked(26) else {
            continue;
        };
        if since.is_some_and(|s| s.as_bytes() >= activity) {
            break;
        }
        let id = String::from_utf8_lossy(id);
        if let Some(n) = notification(store, user, &id)?
            && prefs.of(n.kind).email
            && !read(store, &n)?
            && shown(store, &n)?
        {
            *counts.entry(n.kind).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// Where the user's last digest ended (a ULID boundary), if any.
pub fn last_digest(store: &Store, user: &str) -> ApiResult<Option<String>> {
    store.get(&key("dg/", &[user]))
}

/// Records that a digest up to `until` went out, and publishes it, in one transaction.
pub async fn record_digest(
    store: &Store,
    user: &str,
    until: &str,
    digest: Option<&super::events::DigestDue>,
) -> ApiResult<()> {
    store
        .write(|tx| {
            tx.put(&key("dg/", &[user]), &until)?;
            match digest {
                Some(d) => tx.emit(&crate::platform::envelope::Envelope::new("system", user, d)),
                None => Ok(()),
            }
        })
        .await
}

/// Erasure: the person's notifications go; another's notification that the person acted
/// in stays, from an erased account.
pub fn erasure(named: &Named, _: &str) -> Erase {
    match named.prefix() {
        b"n/" => Erase::Anonymize,
        _ => Erase::Remove,
    }
}
