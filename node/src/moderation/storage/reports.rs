//! Moderation's own truth: `r/<report>` reports, `ro/<reporter><target>` a reporter's open
//! report of a target, `rr/<reporter><report>` and `rt/<target><report>` indexes,
//! `a/<action>` actions, `ar/<target>` the removal in force, `ac/<account>` the suspension
//! in force, `au/<entry>` the audit log (appended, never changed). `<target>` is
//! [`Target::key`].

use crate::platform::envelope::{DomainEvent, Envelope};
use crate::platform::error::ApiResult;
use crate::platform::new_id;
use crate::platform::storage::{Store, Tx, TxResult, abort, from_json, key};

use super::super::domain::{
    self, Action, ActionKind, AuditEntry, AuditKind, Reason, Report, ReportState, Resolution,
    Target, TargetKind,
};
use super::super::error::Error;
use super::super::events::{
    AccountReinstated, AccountSuspended, ContentRemoved, ContentRestored, ReportFiled, UserWarned,
};

fn report_key(id: &str) -> Vec<u8> {
    key("r/", &[id])
}
fn action_key(id: &str) -> Vec<u8> {
    key("a/", &[id])
}
fn open_key(reporter: &str, target: &Target) -> Vec<u8> {
    key("ro/", &[reporter, &target.key()])
}

fn emit<E: DomainEvent>(tx: &Tx, actor: &str, aggregate: &str, event: &E) -> TxResult<()> {
    tx.emit(&Envelope::new(actor, aggregate, event))
}

fn load_report(tx: &Tx, id: &str) -> TxResult<Report> {
    match tx.get::<Report>(&report_key(id))? {
        Some(r) => Ok(r),
        None => abort(Error::ReportNotFound),
    }
}

fn audit(tx: &Tx, entry: AuditEntry) -> TxResult<()> {
    tx.put(&key("au/", &[&entry.id]), &entry)
}

/// Files a report; one open report per reporter and target.
pub async fn file_report(store: &Store, report: &Report) -> ApiResult<Report> {
    store
        .write(|tx| {
            let open = open_key(&report.reporter_id, &report.target);
            if tx.contains(&open)? {
                return abort(Error::AlreadyReported);
            }
            tx.put(&report_key(&report.id), report)?;
            tx.put_raw(&open, report.id.as_bytes())?;
            tx.put_raw(&key("rr/", &[&report.reporter_id, &report.id]), &[])?;
            tx.put_raw(&key("rt/", &[&report.target.key(), &report.id]), &[])?;
            let filed = ReportFiled {
                report_id: report.id.clone(),
                reporter_id: report.reporter_id.clone(),
                target: report.target.clone(),
                reason: report.reason,
            };
            emit(tx, &report.reporter_id, &report.id, &filed)?;
            Ok(report.clone())
        })
        .await
}

pub fn report(store: &Store, id: &str) -> ApiResult<Option<Report>> {
    store.get(&report_key(id))
}

/// A reporter's reports, newest first, before `cursor`.
pub fn reporter_reports(
    store: &Store,
    reporter: &str,
    cursor: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<Report>> {
    let rows = store.scan_before(&key("rr/", &[reporter]), cursor.map(str::as_bytes), limit)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, _) in rows {
        if let Some(r) = report(store, &String::from_utf8_lossy(&id))? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Which reports the queue shows.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub state: Option<ReportState>,
    pub reason: Option<Reason>,
    pub kind: Option<TargetKind>,
    /// Only reports about this group's content (what a group moderator sees).
    pub group: Option<String>,
}

impl QueueFilter {
    fn admits(&self, r: &Report) -> bool {
        self.state.is_none_or(|s| s == r.state)
            && self.reason.is_none_or(|x| x == r.reason)
            && self.kind.is_none_or(|k| k == r.target.kind)
            && self
                .group
                .as_ref()
                .is_none_or(|g| r.subject.group.as_ref() == Some(g))
    }
}

/// Reports the filter admits, newest first, before `cursor`: up to `limit`.
pub fn queue(
    store: &Store,
    filter: &QueueFilter,
    cursor: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<Report>> {
    const CHUNK: usize = 256;
    let mut out = Vec::new();
    let mut before = cursor.map(str::to_string);
    loop {
        let rows = store.scan_before(b"r/", before.as_deref().map(str::as_bytes), CHUNK)?;
        let exhausted = rows.len() < CHUNK;
        for (id, value) in rows {
            before = Some(String::from_utf8_lossy(&id).into_owned());
            let r: Report = from_json(&value)?;
            if filter.admits(&r) {
                out.push(r);
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
        if exhausted {
            return Ok(out);
        }
    }
}

/// A moderator takes a report.
pub async fn claim(store: &Store, id: &str, by: &str, admin: bool) -> ApiResult<Report> {
    store
        .write(|tx| {
            let mut r = load_report(tx, id)?;
            domain::claim(&r, by, admin).or_else(abort)?;
            r.state = ReportState::Claimed;
            r.claimed_by = Some(by.to_string());
            tx.put(&report_key(id), &r)?;
            audit(
                tx,
                AuditEntry {
                    id: new_id(),
                    at: crate::platform::unix_now(),
                    actor: by.to_string(),
                    kind: AuditKind::Claimed,
                    target: r.target.clone(),
                    report_id: Some(r.id.clone()),
                    action_id: None,
                    action: None,
                    reason: None,
                    roles: None,
                },
            )?;
            Ok(r)
        })
        .await
}

/// What a moderator decided about a report.
#[derive(Debug, Clone)]
pub struct Decision {
    pub kind: ActionKind,
    pub reason: String,
    pub until: Option<i64>,
    pub by: String,
    pub now: i64,
}

/// Decides a report and every other open report of the same target, and carries the
/// action out through events.
pub async fn resolve(store: &Store, id: &str, decision: &Decision) -> ApiResult<(Report, Action)> {
    let Some(first) = report(store, id)? else {
        return Err(Error::ReportNotFound.into());
    };
    let siblings: Vec<String> = store
        .scan_after(&key("rt/", &[&first.target.key()]), None, usize::MAX)?
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect();
    store
        .write(|tx| {
            let mut r = load_report(tx, id)?;
            if r.state == ReportState::Resolved {
                return abort(Error::AlreadyResolved);
            }
            domain::applies(decision.kind, &r.target, &r.subject).or_else(abort)?;
            let action = Action {
                id: new_id(),
                kind: decision.kind,
                target: r.target.clone(),
                account: r.subject.account.clone(),
                group: r.subject.group.clone(),
                reason: decision.reason.clone(),
                by: decision.by.clone(),
                at: decision.now,
                until: decision.until,
                reverted_at: None,
            };
            carry_out(tx, &action)?;
            tx.put(&action_key(&action.id), &action)?;
            let resolution = Resolution {
                action: action.kind,
                action_id: action.id.clone(),
                by: decision.by.clone(),
                at: decision.now,
            };
            for sibling in &siblings {
                let mut s = load_report(tx, sibling)?;
                if s.state != ReportState::Resolved {
                    s.state = ReportState::Resolved;
                    s.resolution = Some(resolution.clone());
                    tx.remove(&open_key(&s.reporter_id, &s.target))?;
                    tx.put(&report_key(sibling), &s)?;
                }
            }
            r = load_report(tx, id)?;
            audit(
                tx,
                AuditEntry {
                    id: new_id(),
                    at: decision.now,
                    actor: decision.by.clone(),
                    kind: AuditKind::Resolved,
                    target: r.target.clone(),
                    report_id: Some(r.id.clone()),
                    action_id: Some(action.id.clone()),
                    action: Some(action.kind),
                    reason: Some(decision.reason.clone()),
                    roles: None,
                },
            )?;
            Ok((r, action))
        })
        .await
}

/// Publishes what the action means for the other contexts, and records what is in force.
fn carry_out(tx: &Tx, a: &Action) -> TxResult<()> {
    let account = a.account.clone().unwrap_or_default();
    match a.kind {
        ActionKind::Dismiss => Ok(()),
        ActionKind::Remove => {
            tx.put_raw(&key("ar/", &[&a.target.key()]), a.id.as_bytes())?;
            let removed = ContentRemoved {
                action_id: a.id.clone(),
                target: a.target.clone(),
                author_id: a.account.clone(),
                reason: a.reason.clone(),
            };
            emit(tx, &a.by, &a.target.id, &removed)
        }
        ActionKind::Warn => {
            let warned = UserWarned {
                action_id: a.id.clone(),
                account_id: account.clone(),
                target: a.target.clone(),
                reason: a.reason.clone(),
            };
            emit(tx, &a.by, &account, &warned)
        }
        ActionKind::Suspend | ActionKind::Ban => {
            tx.put_raw(&key("ac/", &[&account]), a.id.as_bytes())?;
            let suspended = AccountSuspended {
                action_id: a.id.clone(),
                account_id: account.clone(),
                until: a.until,
                reason: a.reason.clone(),
            };
            emit(tx, &a.by, &account, &suspended)
        }
    }
}

pub fn action(store: &Store, id: &str) -> ApiResult<Option<Action>> {
    store.get(&action_key(id))
}

/// Takes an action back: restores the removed content, lifts the suspension. Only the
/// removal or suspension in force can be taken back (a later one supersedes it).
pub async fn revert(store: &Store, id: &str, by: &str, reason: &str) -> ApiResult<Action> {
    let now = crate::platform::unix_now();
    store
        .write(|tx| {
            let Some(mut a) = tx.get::<Action>(&action_key(id))? else {
                return abort(Error::ActionNotFound);
            };
            domain::revertible(&a).or_else(abort)?;
            let in_force = match a.kind {
                ActionKind::Remove => key("ar/", &[&a.target.key()]),
                _ => key("ac/", &[a.account.as_deref().unwrap_or_default()]),
            };
            if tx.get_raw(&in_force)?.as_deref() != Some(a.id.as_bytes()) {
                return abort(Error::Superseded);
            }
            tx.remove(&in_force)?;
            if a.kind == ActionKind::Remove {
                let restored = ContentRestored {
                    action_id: a.id.clone(),
                    target: a.target.clone(),
                    author_id: a.account.clone(),
                };
                emit(tx, by, &a.target.id, &restored)?;
            } else {
                let account = a.account.clone().unwrap_or_default();
                let lifted = AccountReinstated {
                    action_id: a.id.clone(),
                    account_id: account.clone(),
                };
                emit(tx, by, &account, &lifted)?;
            }
            a.reverted_at = Some(now);
            tx.put(&action_key(id), &a)?;
            audit(
                tx,
                AuditEntry {
                    id: new_id(),
                    at: now,
                    actor: by.to_string(),
                    kind: AuditKind::Reverted,
                    target: a.target.clone(),
                    report_id: None,
                    action_id: Some(a.id.clone()),
                    action: Some(a.kind),
                    reason: Some(reason.to_string()),
                    roles: None,
                },
            )?;
            Ok(a)
        })
        .await
}

/// The audit log, oldest first, after the entry `after` (the export).
pub fn audit_log_after(
    store: &Store,
    after: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<AuditEntry>> {
    store
        .scan_after(b"au/", after.map(str::as_bytes), limit)?
        .into_iter()
        .map(|(_, v)| Ok(from_json(&v)?))
        .collect()
}

/// The audit log, newest first, before `cursor`.
pub fn audit_log(store: &Store, cursor: Option<&str>, limit: usize) -> ApiResult<Vec<AuditEntry>> {
    store
        .scan_before(b"au/", cursor.map(str::as_bytes), limit)?
        .into_iter()
        .map(|(_, v)| Ok(from_json(&v)?))
        .collect()
}

/// An admin changed an account's roles (auth's `RolesChanged`): an admin action, in the
/// audit log like moderators' (its id is the event's, so a redelivery adds nothing).
pub fn roles_changed(
    tx: &Tx,
    e: &crate::platform::context::Event<crate::auth::events::RolesChanged>,
) -> TxResult<()> {
    audit(
        tx,
        AuditEntry {
            id: e.id.to_string(),
            at: e.occurred_at.unix_timestamp(),
            actor: e.actor.to_string(),
            kind: AuditKind::RolesChanged,
            target: crate::moderation::events::Target {
                kind: crate::moderation::events::TargetKind::User,
                id: e.data.account_id.clone(),
            },
            report_id: None,
            action_id: None,
            action: None,
            reason: None,
            roles: Some(e.data.roles.clone()),
        },
    )
}
