//! The only code of analytics that touches sled; every key is a projection of other
//! contexts' events ([`PROJECTIONS`]).
//!
//! Keys: `c/<day>/<metric>` counts per day (`active` too); `la/<user>` when a user was last
//! active (day, week, month), which makes daily, weekly (`wa/<week>`) and monthly
//! (`ma/<month>`) active users exact counts; `cw/<user>` a user's cohort (the week they
//! registered), `cs/<week>` its size, `cr/<cohort>/<week>` how many of it were active that
//! week; `p/<post>` a post's figures and `r/<post>` its reach (a sketch of distinct readers,
//! [`distinct`]: nobody's id is kept); `e/<day>/<post>` and `ep/<day>/<page>` engagement
//! per day; `pa/<page><user>` page admins, `ga/<group><user>` group admins (who may read a
//! post's or page's figures). Days, weeks and months are zero-padded numbers
//! ([`super::domain`]).

pub mod distinct;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::events as auth;
use crate::feed::events as feed;
use crate::groups::events::{self as groups, GroupRole};
use crate::messages::events as messages;
use crate::platform::context::Event;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, from_json, key};
use crate::platform::views::View;
use crate::posts::events::{self as posts, Audience};

use super::domain::{self, Metric, PostStats};
use distinct::Distinct;

pub const PROJECTIONS: &[&str] = &[
    "c/", "la/", "wa/", "ma/", "cw/", "cs/", "cr/", "p/", "r/", "e/", "ep/", "pa/", "ga/",
];

fn n(v: i64) -> String {
    format!("{v:06}")
}

fn bump(tx: &Tx, k: &[u8], by: u64) -> TxResult<()> {
    let now: u64 = tx.get(k)?.unwrap_or(0);
    tx.put(k, &(now + by))
}

fn count(tx: &Tx, at: i64, metric: &str) -> TxResult<()> {
    bump(tx, &key("c/", &[&n(domain::day_of(at)), "/", metric]), 1)
}

/// When a user was last active.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Activity {
    day: i64,
    week: i64,
    month: i64,
}

/// Counts `user` active at `at`: once per day, week and month, and in their cohort's
/// retention for the week.
fn active(tx: &Tx, user: &str, at: i64) -> TxResult<()> {
    let k = key("la/", &[user]);
    let last: Activity = tx.get(&k)?.unwrap_or_default();
    let now = Activity {
        day: domain::day_of(at),
        week: domain::week_of(at),
        month: domain::month_of(at),
    };
    if now.day <= last.day {
        return Ok(());
    }
    bump(tx, &key("c/", &[&n(now.day), "/active"]), 1)?;
    if now.week > last.week {
        bump(tx, &key("wa/", &[&n(now.week)]), 1)?;
        if let Some(cohort) = tx.get::<i64>(&key("cw/", &[user]))? {
            bump(tx, &key("cr/", &[&n(cohort), "/", &n(now.week)]), 1)?;
        }
    }
    if now.month > last.month {
        bump(tx, &key("ma/", &[&n(now.month)]), 1)?;
    }
    tx.put(&k, &now)
}

fn at<E>(e: &Event<E>) -> i64 {
    e.occurred_at.unix_timestamp()
}

fn stats(tx: &Tx, post: &str) -> TxResult<Option<PostStats>> {
    tx.get(&key("p/", &[post]))
}

/// One more engagement with `post` on the day of `at`: the post's and its page's.
fn engage(tx: &Tx, post: &str, s: &PostStats, at: i64) -> TxResult<()> {
    let day = n(domain::day_of(at));
    bump(tx, &key("e/", &[&day, "/", post]), 1)?;
    if let Some(page) = &s.page {
        bump(tx, &key("ep/", &[&day, "/", page]), 1)?;
    }
    Ok(())
}

// ----- projections -----

pub fn account_registered(tx: &Tx, e: &Event<auth::AccountRegistered>) -> TxResult<()> {
    let user = &e.data.account_id;
    let cohort_key = key("cw/", &[user]);
    if tx.contains(&cohort_key)? {
        return Ok(());
    }
    let week = domain::week_of(at(e));
    tx.put(&cohort_key, &week)?;
    bump(tx, &key("cs/", &[&n(week)]), 1)?;
    count(tx, at(e), Metric::Registrations.name())?;
    active(tx, user, at(e))
}

pub fn post_created(tx: &Tx, e: &Event<posts::PostCreated>) -> TxResult<()> {
    let p = &e.data;
    let (page, group) = match &p.audience {
        Audience::Page { id } => (Some(id.clone()), None),
        Audience::Group { id } => (None, Some(id.clone())),
        Audience::Profile => (None, None),
    };
    let s = PostStats {
        author: p.author_id.clone(),
        page,
        group,
        created_at: p.created_at,
        ..Default::default()
    };
    tx.put(&key("p/", &[&p.post_id]), &s)?;
    match &p.shared_post {
        Some(original) => {
            count(tx, at(e), Metric::Shares.name())?;
            if let Some(mut o) = stats(tx, original)? {
                o.shares += 1;
                tx.put(&key("p/", &[original]), &o)?;
                engage(tx, original, &o, at(e))?;
            }
        }
        None => count(tx, at(e), Metric::Posts.name())?,
    }
    active(tx, &p.author_id, at(e))
}

pub fn post_deleted(tx: &Tx, e: &Event<posts::PostDeleted>) -> TxResult<()> {
    tx.remove(&key("p/", &[&e.data.post_id]))?;
    tx.remove(&key("r/", &[&e.data.post_id]))?;
    Ok(())
}

pub fn comment_added(tx: &Tx, e: &Event<posts::CommentAdded>) -> TxResult<()> {
    count(tx, at(e), Metric::Comments.name())?;
    if let Some(mut s) = stats(tx, &e.data.post_id)? {
        s.comments += 1;
        tx.put(&key("p/", &[&e.data.post_id]), &s)?;
        engage(tx, &e.data.post_id, &s, at(e))?;
    }
    active(tx, &e.data.author_id, at(e))
}

pub fn comment_deleted(tx: &Tx, e: &Event<posts::CommentDeleted>) -> TxResult<()> {
    if let Some(mut s) = stats(tx, &e.data.post_id)? {
        s.comments = s.comments.saturating_sub(1);
        tx.put(&key("p/", &[&e.data.post_id]), &s)?;
    }
    Ok(())
}

/// Reactions to a post count in its figures; every new reaction (to a comment too) in
/// the day's.
pub fn reaction_set(tx: &Tx, e: &Event<posts::ReactionSet>) -> TxResult<()> {
    let r = &e.data;
    if r.previous.is_none() {
        count(tx, at(e), Metric::Reactions.name())?;
    }
    if r.target_id == r.post_id
        && let Some(mut s) = stats(tx, &r.post_id)?
    {
        s.react(r.kind, r.previous);
        tx.put(&key("p/", &[&r.post_id]), &s)?;
        if r.previous.is_none() {
            engage(tx, &r.post_id, &s, at(e))?;
        }
    }
    active(tx, &r.user_id, at(e))
}

pub fn reaction_removed(tx: &Tx, e: &Event<posts::ReactionRemoved>) -> TxResult<()> {
    let r = &e.data;
    if let (true, Some(kind), Some(mut s)) =
        (r.target_id == r.post_id, r.kind, stats(tx, &r.post_id)?)
    {
        s.unreact(kind);
        tx.put(&key("p/", &[&r.post_id]), &s)?;
    }
    Ok(())
}

pub fn message_sent(tx: &Tx, e: &Event<messages::MessageSent>) -> TxResult<()> {
    count(tx, at(e), Metric::Messages.name())?;
    active(tx, &e.data.sender_id, at(e))
}

/// Views: an impression each, and the viewer in the post's reach (one read and write of
/// each post's sketch, and of each viewer's activity, per batch).
fn viewed(tx: &Tx, views: &[View], at: i64) -> TxResult<()> {
    let mut by_post: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut viewers = std::collections::BTreeSet::new();
    for v in views {
        viewers.insert(v.viewer.as_str());
        for p in &v.posts {
            by_post.entry(p).or_default().push(&v.viewer);
        }
    }
    for viewer in viewers {
        active(tx, viewer, at)?;
    }
    for (post, viewers) in by_post {
        let Some(mut s) = stats(tx, post)? else {
            continue;
        };
        s.impressions += viewers.len() as u64;
        tx.put(&key("p/", &[post]), &s)?;
        let reach_key = key("r/", &[post]);
        let mut reach: Distinct = tx
            .get(&reach_key)?
            .unwrap_or_else(|| Distinct::new(distinct::PER_POST));
        for v in viewers {
            reach.insert(v);
        }
        tx.put(&reach_key, &reach)?;
    }
    Ok(())
}

pub fn posts_seen(tx: &Tx, e: &Event<feed::PostsSeen>) -> TxResult<()> {
    viewed(tx, &e.data.views, at(e))
}

pub fn posts_opened(tx: &Tx, e: &Event<posts::PostsOpened>) -> TxResult<()> {
    viewed(tx, &e.data.views, at(e))
}

pub fn page_admin_added(tx: &Tx, e: &Event<groups::PageAdminAdded>) -> TxResult<()> {
    tx.put_raw(&key("pa/", &[&e.data.page_id, &e.data.user_id]), &[])
}

pub fn member_joined(tx: &Tx, e: &Event<groups::MemberJoined>) -> TxResult<()> {
    let k = key("ga/", &[&e.data.group_id, &e.data.user_id]);
    if e.data.role == GroupRole::Admin {
        tx.put_raw(&k, &[])
    } else {
        tx.remove(&k).map(|_| ())
    }
}

pub fn member_left(tx: &Tx, e: &Event<groups::MemberLeft>) -> TxResult<()> {
    tx.remove(&key("ga/", &[&e.data.group_id, &e.data.user_id]))
        .map(|_| ())
}

// ----- reads -----

/// The day's counts of every metric, and its active users.
pub fn day(store: &Store, day: i64) -> ApiResult<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for (metric, v) in store.scan_after(&key("c/", &[&n(day), "/"]), None, 64)? {
        out.insert(
            String::from_utf8_lossy(&metric).into_owned(),
            from_json(&v)?,
        );
    }
    Ok(out)
}

pub fn weekly_active(store: &Store, week: i64) -> ApiResult<u64> {
    Ok(store.get(&key("wa/", &[&n(week)]))?.unwrap_or(0))
}

pub fn monthly_active(store: &Store, month: i64) -> ApiResult<u64> {
    Ok(store.get(&key("ma/", &[&n(month)]))?.unwrap_or(0))
}

pub fn cohort_size(store: &Store, week: i64) -> ApiResult<u64> {
    Ok(store.get(&key("cs/", &[&n(week)]))?.unwrap_or(0))
}

pub fn retained(store: &Store, cohort: i64, week: i64) -> ApiResult<u64> {
    Ok(store
        .get(&key("cr/", &[&n(cohort), "/", &n(week)]))?
        .unwrap_or(0))
}

pub fn post(store: &Store, id: &str) -> ApiResult<Option<PostStats>> {
    store.get(&key("p/", &[id]))
}

/// Distinct readers of a post who had it in a feed or opened it.
pub fn reach(store: &Store, id: &str) -> ApiResult<u64> {
    Ok(store
        .get::<Distinct>(&key("r/", &[id]))?
        .map_or(0, |mut d| d.count()))
}

pub fn page_admin(store: &Store, page: &str, user: &str) -> ApiResult<bool> {
    store.contains(&key("pa/", &[page, user]))
}

pub fn group_admin(store: &Store, group: &str, user: &str) -> ApiResult<bool> {
    store.contains(&key("ga/", &[group, user]))
}

/// Engagement per post (`pages`: per page) summed over days `from..=to`.
pub fn engagement(
    store: &Store,
    from: i64,
    to: i64,
    pages: bool,
) -> ApiResult<BTreeMap<String, u64>> {
    let prefix = if pages { "ep/" } else { "e/" };
    let mut totals = BTreeMap::new();
    for day in from..=to {
        for (id, v) in store.scan_after(&key(prefix, &[&n(day), "/"]), None, usize::MAX)? {
            let by: u64 = from_json(&v)?;
            *totals
                .entry(String::from_utf8_lossy(&id).into_owned())
                .or_insert(0) += by;
        }
    }
    Ok(totals)
}

/// A page's engagement per day over `from..=to`.
pub fn page_engagement(store: &Store, page: &str, from: i64, to: i64) -> ApiResult<Vec<u64>> {
    (from..=to)
        .map(|day| Ok(store.get(&key("ep/", &[&n(day), "/", page]))?.unwrap_or(0)))
        .collect()
}
