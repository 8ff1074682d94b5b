//! The only code of groups that touches sled. Prefixes: `g/` groups, `gm/<g><u>` members,
//! `ug/<u><g>` a user's groups, `gr/<g><u>` join requests, `gi/<g><u>` invitations,
//! `gb/<g><u>` bans, `p/` pages, `pa/<p><u>` page admins, `pf/<p><u>` followers,
//! `up/<u><p>` pages a user follows, `a/<u>` known accounts (from auth's events).

use crate::platform::erasure::{Erase, Named};
use serde::{Deserialize, Serialize};

use crate::auth::events::AccountRegistered;
use crate::platform::context::Event;
use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, abort, from_json, key};
use crate::platform::unix_now;

use super::domain::{Group, GroupRole, Page};
use super::error::Error;
use super::events::{
    GroupDeleted, GroupInvitationSent, GroupUpdated, JoinRequested, MemberJoined, MemberLeft,
    PageAdminAdded, PageFollowed, PageUnfollowed, PageUpdated,
};

/// A membership: the role and since when.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Membership {
    pub role: GroupRole,
    pub since: i64,
}

/// When an edge (request, invitation, ban, follow) began.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Since {
    pub at: i64,
}

fn emit<E: DomainEvent>(tx: &Tx, actor: &str, aggregate: &str, event: &E) -> TxResult<()> {
    tx.emit(&Envelope::new(actor, aggregate, event))
}

fn group_key(g: &str) -> Vec<u8> {
    key("g/", &[g])
}
fn member_key(g: &str, u: &str) -> Vec<u8> {
    key("gm/", &[g, u])
}
fn user_group_key(u: &str, g: &str) -> Vec<u8> {
    key("ug/", &[u, g])
}
fn page_key(p: &str) -> Vec<u8> {
    key("p/", &[p])
}

/// Edges of a group or page kept as `prefix<owner><user>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Request,
    Invitation,
    Ban,
    PageAdmin,
    Follower,
}

impl Edge {
    fn prefix(self) -> &'static str {
        match self {
            Edge::Request => "gr/",
            Edge::Invitation => "gi/",
            Edge::Ban => "gb/",
            Edge::PageAdmin => "pa/",
            Edge::Follower => "pf/",
        }
    }
    fn key(self, owner: &str, user: &str) -> Vec<u8> {
        key(self.prefix(), &[owner, user])
    }
}

pub fn account_exists(store: &Store, user: &str) -> ApiResult<bool> {
    store.contains(&key("a/", &[user]))
}

/// The key prefixes that `rebuild` drops and rebuilds from the stream.
pub const PROJECTIONS: &[&str] = &["a/"];

/// Records an account (consumed from auth).
pub fn record_account(tx: &Tx, e: &Event<AccountRegistered>) -> TxResult<()> {
    tx.put_raw(&key("a/", &[&e.data.account_id]), &[])
}

pub fn group(store: &Store, g: &str) -> ApiResult<Option<Group>> {
    store.get(&group_key(g))
}

pub fn role(store: &Store, g: &str, u: &str) -> ApiResult<Option<GroupRole>> {
    Ok(store.get::<Membership>(&member_key(g, u))?.map(|m| m.role))
}

pub fn has(store: &Store, edge: Edge, owner: &str, user: &str) -> ApiResult<bool> {
    store.contains(&edge.key(owner, user))
}

fn load_group(tx: &Tx, g: &str) -> TxResult<Group> {
    match tx.get::<Group>(&group_key(g))? {
        Some(group) => Ok(group),
        None => abort(Error::GroupNotFound),
    }
}

fn group_event(g: &Group) -> GroupUpdated {
    GroupUpdated {
        group_id: g.id.clone(),
        name: g.name.clone(),
        privacy: g.privacy,
    }
}

/// Creates a group with its creator as admin.
pub async fn create_group(store: &Store, group: &Group) -> ApiResult<()> {
    store
        .write(|tx| {
            let creator = &group.created_by;
            tx.put(
                &group_key(&group.id),
                &Group {
                    member_count: 1,
                    ..group.clone()
                },
            )?;
            tx.put(
                &member_key(&group.id, creator),
                &Membership {
                    role: GroupRole::Admin,
                    since: group.created_at,
                },
            )?;
            tx.put_raw(&user_group_key(creator, &group.id), &[])?;
            emit(tx, creator, &group.id, &group_event(group))?;
            emit(
                tx,
                creator,
                &group.id,
                &MemberJoined {
                    group_id: group.id.clone(),
                    user_id: creator.clone(),
                    role: GroupRole::Admin,
                },
            )
        })
        .await
}

pub async fn update_group(
    store: &Store,
    actor: &str,
    g: &str,
    change: impl Fn(&mut Group),
) -> ApiResult<Group> {
    store
        .write(|tx| {
            let mut group = load_group(tx, g)?;
            change(&mut group);
            tx.put(&group_key(g), &group)?;
            emit(tx, actor, g, &group_event(&group))?;
            Ok(group)
        })
        .await
}

/// Adds a member (joining, an approved request or an accepted invitation).
pub async fn add_member(
    store: &Store,
    actor: &str,
    g: &str,
    u: &str,
    role: GroupRole,
) -> ApiResult<()> {
    store
        .write(|tx| {
            let mut group = load_group(tx, g)?;
            if tx.contains(&Edge::Ban.key(g, u))? {
                return abort(Error::UserBanned);
            }
            if tx.contains(&member_key(g, u))? {
                return abort(Error::AlreadyMember);
            }
            tx.remove(&Edge::Request.key(g, u))?;
            tx.remove(&Edge::Invitation.key(g, u))?;
            tx.put(
                &member_key(g, u),
                &Membership {
                    role,
                    since: unix_now(),
                },
            )?;
            tx.put_raw(&user_group_key(u, g), &[])?;
            group.member_count += 1;
            tx.put(&group_key(g), &group)?;
            emit(
                tx,
                actor,
                g,
                &MemberJoined {
                    group_id: g.into(),
                    user_id: u.into(),
                    role,
                },
            )
        })
        .await
}

/// Records a pending edge (a request or an invitation) unless the user is a member.
/// A pending request (`u` asked) or invitation (`actor` invited `u`), told to the others.
pub async fn add_pending(
    store: &Store,
    actor: &str,
    edge: Edge,
    g: &str,
    u: &str,
) -> ApiResult<()> {
    store
        .write(|tx| {
            load_group(tx, g)?;
            if tx.contains(&member_key(g, u))? {
                return abort(Error::AlreadyMember);
            }
            if tx.contains(&edge.key(g, u))? {
                return abort(Error::AlreadyPending);
            }
            tx.put(&edge.key(g, u), &Since { at: unix_now() })?;
            match edge {
                Edge::Invitation => {
                    let event = GroupInvitationSent {
                        group_id: g.into(),
                        user_id: u.into(),
                        invited_by: actor.into(),
                    };
                    emit(tx, actor, g, &event)
                }
                Edge::Request => {
                    let event = JoinRequested {
                        group_id: g.into(),
                        user_id: u.into(),
                    };
                    emit(tx, actor, g, &event)
                }
                _ => Ok(()),
            }
        })
        .await
}

/// Removes a pending edge; 404 when there is none.
pub async fn remove_edge(store: &Store, edge: Edge, owner: &str, u: &str) -> ApiResult<()> {
    store
        .write(|tx| {
            if !tx.remove(&edge.key(owner, u))? {
                return abort(Error::NothingPending);
            }
            Ok(())
        })
        .await
}

/// Removes a member (leaving, removal, ban). The last admin cannot leave while others stay.
pub async fn remove_member(
    store: &Store,
    actor: &str,
    g: &str,
    u: &str,
    ban: bool,
) -> ApiResult<()> {
    let admins = list(store, Roster::Members, g, None, usize::MAX)?
        .into_iter()
        .filter(|m| m.role == Some(GroupRole::Admin))
        .count();
    store
        .write(|tx| {
            let mut group = load_group(tx, g)?;
            let Some(membership) = tx.get::<Membership>(&member_key(g, u))? else {
                if ban {
                    return tx.put(&Edge::Ban.key(g, u), &Since { at: unix_now() });
                }
                return abort(Error::NotAMember);
            };
            if membership.role == GroupRole::Admin && admins <= 1 && group.member_count > 1 {
                return abort(Error::LastAdmin);
            }
            tx.remove(&member_key(g, u))?;
            tx.remove(&user_group_key(u, g))?;
            if ban {
                tx.put(&Edge::Ban.key(g, u), &Since { at: unix_now() })?;
            }
            group.member_count = group.member_count.saturating_sub(1);
            tx.put(&group_key(g), &group)?;
            emit(
                tx,
                actor,
                g,
                &MemberLeft {
                    group_id: g.into(),
                    user_id: u.into(),
                },
            )
        })
        .await
}

pub async fn set_role(
    store: &Store,
    actor: &str,
    g: &str,
    u: &str,
    role: GroupRole,
) -> ApiResult<()> {
    store
        .write(|tx| {
            let Some(mut membership) = tx.get::<Membership>(&member_key(g, u))? else {
                return abort(Error::NotAMember);
            };
            membership.role = role;
            tx.put(&member_key(g, u), &membership)?;
            emit(
                tx,
                actor,
                g,
                &MemberJoined {
                    group_id: g.into(),
                    user_id: u.into(),
                    role,
                },
            )
        })
        .await
}

/// Deletes a group with its members and pending edges.
pub async fn delete_group(store: &Store, actor: &str, g: &str) -> ApiResult<()> {
    let members: Vec<String> = list(store, Roster::Members, g, None, usize::MAX)?
        .into_iter()
        .map(|m| m.id)
        .collect();
    let pending: Vec<Vec<u8>> = [Edge::Request, Edge::Invitation, Edge::Ban]
        .into_iter()
        .map(|e| {
            list(store, Roster::Edge(e), g, None, usize::MAX)
                .map(|rows| rows.into_iter().map(move |row| e.key(g, &row.id)))
        })
        .collect::<ApiResult<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    store
        .write(|tx| {
            load_group(tx, g)?;
            tx.remove(&group_key(g))?;
            for u in &members {
                tx.remove(&member_key(g, u))?;
                tx.remove(&user_group_key(u, g))?;
            }
            for k in &pending {
                tx.remove(k)?;
            }
            emit(tx, actor, g, &GroupDeleted { group_id: g.into() })
        })
        .await
}

/// A list kept per group, page or user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roster {
    /// A group's members, with their roles.
    Members,
    /// The groups a user belongs to.
    GroupsOf,
    /// A group's requests, invitations or bans; a page's admins or followers.
    Edge(Edge),
}

/// One row of a roster: the id listed, the role (members), since when (unix seconds).
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub role: Option<GroupRole>,
    pub since: i64,
}

/// One page of a roster of `owner`, after the cursor.
pub fn list(
    store: &Store,
    roster: Roster,
    owner: &str,
    after: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<Listed>> {
    let prefix = match roster {
        Roster::Members => "gm/",
        Roster::GroupsOf => "ug/",
        Roster::Edge(edge) => edge.prefix(),
    };
    store
        .scan_after(&key(prefix, &[owner]), after.map(str::as_bytes), limit)?
        .into_iter()
        .map(|(k, v)| {
            let id = String::from_utf8_lossy(&k).into_owned();
            let (role, since) = match roster {
                Roster::Members => {
                    let m: Membership = from_json(&v)?;
                    (Some(m.role), m.since)
                }
                // The user's side of a membership holds nothing: the group's side does.
                Roster::GroupsOf => (None, 0),
                Roster::Edge(_) => (None, from_json::<Since>(&v)?.at),
            };
            Ok(Listed { id, role, since })
        })
        .collect()
}

pub fn page(store: &Store, p: &str) -> ApiResult<Option<Page>> {
    store.get(&page_key(p))
}

fn load_page(tx: &Tx, p: &str) -> TxResult<Page> {
    match tx.get::<Page>(&page_key(p))? {
        Some(page) => Ok(page),
        None => abort(Error::PageNotFound),
    }
}

pub async fn create_page(store: &Store, page: &Page) -> ApiResult<()> {
    store
        .write(|tx| {
            tx.put(&page_key(&page.id), page)?;
            tx.put(
                &Edge::PageAdmin.key(&page.id, &page.created_by),
                &Since {
                    at: page.created_at,
                },
            )?;
            emit(
                tx,
                &page.created_by,
                &page.id,
                &PageUpdated {
                    page_id: page.id.clone(),
                    name: page.name.clone(),
                },
            )?;
            emit(
                tx,
                &page.created_by,
                &page.id,
                &PageAdminAdded {
                    page_id: page.id.clone(),
                    user_id: page.created_by.clone(),
                },
            )
        })
        .await
}

pub async fn update_page(
    store: &Store,
    actor: &str,
    p: &str,
    change: impl Fn(&mut Page),
) -> ApiResult<Page> {
    store
        .write(|tx| {
            let mut page = load_page(tx, p)?;
            change(&mut page);
            tx.put(&page_key(p), &page)?;
            emit(
                tx,
                actor,
                p,
                &PageUpdated {
                    page_id: p.into(),
                    name: page.name.clone(),
                },
            )?;
            Ok(page)
        })
        .await
}

pub async fn add_page_admin(store: &Store, actor: &str, p: &str, u: &str) -> ApiResult<()> {
    store
        .write(|tx| {
            load_page(tx, p)?;
            if tx.contains(&Edge::PageAdmin.key(p, u))? {
                return abort(Error::AlreadyPageAdmin);
            }
            tx.put(&Edge::PageAdmin.key(p, u), &Since { at: unix_now() })?;
            emit(
                tx,
                actor,
                p,
                &PageAdminAdded {
                    page_id: p.into(),
                    user_id: u.into(),
                },
            )
        })
        .await
}

/// Follows (`true`) or unfollows a page.
pub async fn set_follow(store: &Store, p: &str, u: &str, follow: bool) -> ApiResult<()> {
    store
        .write(|tx| {
            let mut page = load_page(tx, p)?;
            let following = tx.contains(&Edge::Follower.key(p, u))?;
            match (follow, following) {
                (true, true) => {
                    return abort(Error::AlreadyFollowing);
                }
                (false, false) => {
                    return abort(Error::NotFollowing);
                }
                (true, false) => {
                    tx.put(&Edge::Follower.key(p, u), &Since { at: unix_now() })?;
                    tx.put_raw(&key("up/", &[u, p]), &[])?;
                    page.follower_count += 1;
                    emit(
                        tx,
                        u,
                        p,
                        &PageFollowed {
                            page_id: p.into(),
                            user_id: u.into(),
                        },
                    )?;
                }
                (false, true) => {
                    tx.remove(&Edge::Follower.key(p, u))?;
                    tx.remove(&key("up/", &[u, p]))?;
                    page.follower_count = page.follower_count.saturating_sub(1);
                    emit(
                        tx,
                        u,
                        p,
                        &PageUnfollowed {
                            page_id: p.into(),
                            user_id: u.into(),
                        },
                    )?;
                }
            }
            tx.put(&page_key(p), &page)
        })
        .await
}

/// Erasure: a group or page the person created stays for its members and followers,
/// without naming them; everything else naming them (memberships, roles, requests,
/// invitations, follows, the account) goes.
pub fn erasure(named: &Named, _: &str) -> Erase {
    match named.prefix() {
        b"g/" | b"p/" => Erase::Anonymize,
        _ => Erase::Remove,
    }
}
