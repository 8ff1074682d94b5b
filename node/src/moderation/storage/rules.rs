//! Keyword rules (`kr/<rule>`, `kp/<phrase>` → rule id), moderation's own truth, published
//! as events for the contexts that screen text; and the queue of content those contexts
//! flagged (`fq/<event>`, a projection: a task turns each entry into a report whose id is
//! the event's, so a replay opens no second one).

use serde::{Deserialize, Serialize};

use crate::platform::context::Event;
use crate::platform::envelope::Envelope;
use crate::platform::error::ApiResult;
use crate::platform::storage::{Changes, Store, Tx, TxResult, abort, from_json, key};
use crate::posts::events::{CommentAdded, PostCreated, PostEdited};

use super::super::domain::{
    KeywordAction, KeywordRule, Reason, Report, ReportState, RuleSource, Subject, Target,
    TargetKind,
};
use super::super::error::Error;
use super::super::events::{KeywordRuleRemoved, KeywordRuleSet};
use super::reports::file_report;

/// Who files the reports keyword rules open.
pub const SYSTEM: &str = "system";

fn rule_key(id: &str) -> Vec<u8> {
    key("kr/", &[id])
}
fn phrase_key(phrase: &str) -> Vec<u8> {
    key("kp/", &[phrase])
}

fn publish_set(tx: &Tx, actor: &str, rule: &KeywordRule) -> TxResult<()> {
    let set = KeywordRuleSet {
        rule_id: rule.id.clone(),
        phrase: rule.phrase.clone(),
        action: rule.action,
    };
    tx.emit(&Envelope::new(actor, &rule.id, &set))
}

fn put_rule(tx: &Tx, actor: &str, rule: &KeywordRule) -> TxResult<()> {
    tx.put(&rule_key(&rule.id), rule)?;
    tx.put_raw(&phrase_key(&rule.phrase), rule.id.as_bytes())?;
    publish_set(tx, actor, rule)
}

fn drop_rule(tx: &Tx, actor: &str, rule: &KeywordRule) -> TxResult<()> {
    tx.remove(&rule_key(&rule.id))?;
    tx.remove(&phrase_key(&rule.phrase))?;
    let removed = KeywordRuleRemoved {
        rule_id: rule.id.clone(),
    };
    tx.emit(&Envelope::new(actor, &rule.id, &removed))
}

/// Adds a rule; one rule per phrase (409 for a second).
pub async fn add_rule(store: &Store, rule: &KeywordRule) -> ApiResult<KeywordRule> {
    let actor = rule.created_by.clone().unwrap_or_else(|| SYSTEM.into());
    store
        .write(|tx| {
            if tx.contains(&phrase_key(&rule.phrase))? {
                return abort(Error::RuleExists);
            }
            put_rule(tx, &actor, rule)?;
            Ok(rule.clone())
        })
        .await
}

/// Removes an admin's rule; the platform's are changed only by its configuration.
pub async fn remove_rule(store: &Store, id: &str, actor: &str) -> ApiResult<()> {
    store
        .write(|tx| {
            let Some(rule) = tx.get::<KeywordRule>(&rule_key(id))? else {
                return abort(Error::RuleNotFound);
            };
            if rule.source == RuleSource::Platform {
                return abort(Error::PlatformRule);
            }
            drop_rule(tx, actor, &rule)
        })
        .await
}

pub fn rules(store: &Store) -> ApiResult<Vec<KeywordRule>> {
    store
        .scan_after(b"kr/", None, usize::MAX)?
        .into_iter()
        .map(|(_, v)| Ok(from_json(&v)?))
        .collect()
}

/// Makes the platform's rules what its configuration says (`block` rules of source
/// `platform`): adds the missing, removes the dropped, takes over an admin's rule of the
/// same phrase. Run at start; changes nothing when they agree.
pub async fn reconcile_platform_rules(
    store: &Store,
    phrases: &[String],
    now: i64,
) -> ApiResult<usize> {
    let existing = rules(store)?;
    store
        .write(|tx| {
            let mut changes = 0;
            for rule in existing.iter().filter(|r| r.source == RuleSource::Platform) {
                if !phrases.contains(&rule.phrase) {
                    drop_rule(tx, SYSTEM, rule)?;
                    changes += 1;
                }
            }
            for phrase in phrases {
                let current = existing.iter().find(|r| &r.phrase == phrase);
                if current.is_some_and(|r| {
                    r.source == RuleSource::Platform && r.action == KeywordAction::Block
                }) {
                    continue;
                }
                let rule = KeywordRule {
                    id: current.map_or_else(crate::platform::new_id, |r| r.id.clone()),
                    phrase: phrase.clone(),
                    action: KeywordAction::Block,
                    source: RuleSource::Platform,
                    created_by: None,
                    created_at: now,
                };
                put_rule(tx, SYSTEM, &rule)?;
                changes += 1;
            }
            Ok(changes)
        })
        .await
}

// ----- content the screening contexts flagged -----

/// A flagged post or comment waiting to become a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flagged {
    pub target: Target,
    pub author: String,
    pub rules: Vec<String>,
}

pub const FLAGGED: &str = "fq/";

/// Queues `kind` `id` by `author` for a report when the screening context flagged it.
fn queue_flagged(
    tx: &Tx,
    event: &str,
    (kind, id): (TargetKind, &str),
    author: &str,
    rules: &[String],
) -> TxResult<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let flagged = Flagged {
        target: Target {
            kind,
            id: id.to_string(),
        },
        author: author.to_string(),
        rules: rules.to_vec(),
    };
    tx.put(&key(FLAGGED, &[event]), &flagged)
}

pub fn post_flagged(tx: &Tx, e: &Event<PostCreated>) -> TxResult<()> {
    let p = &e.data;
    queue_flagged(
        tx,
        e.id,
        (TargetKind::Post, &p.post_id),
        &p.author_id,
        &p.flagged,
    )
}

pub fn edit_flagged(tx: &Tx, e: &Event<PostEdited>) -> TxResult<()> {
    let p = &e.data;
    queue_flagged(
        tx,
        e.id,
        (TargetKind::Post, &p.post_id),
        &p.author_id,
        &p.flagged,
    )
}

pub fn comment_flagged(tx: &Tx, e: &Event<CommentAdded>) -> TxResult<()> {
    let c = &e.data;
    queue_flagged(
        tx,
        e.id,
        (TargetKind::Comment, &c.comment_id),
        &c.author_id,
        &c.flagged,
    )
}

/// The queued flags, oldest first: (event id, what was flagged).
pub fn flagged(store: &Store) -> ApiResult<Vec<(String, Flagged)>> {
    store
        .scan_after(FLAGGED.as_bytes(), None, usize::MAX)?
        .into_iter()
        .map(|(k, v)| Ok((String::from_utf8_lossy(&k).into_owned(), from_json(&v)?)))
        .collect()
}

/// Opens the report of a flag (once: its id is the event's) and dequeues it. A target
/// with an open system report already gets none.
pub async fn open_flag_report(
    store: &Store,
    event: &str,
    flagged: &Flagged,
    now: i64,
) -> ApiResult<()> {
    if super::report(store, event)?.is_none() {
        let subject = super::subject(store, &flagged.target)?.unwrap_or(Subject {
            account: Some(flagged.author.clone()),
            ..Default::default()
        });
        let phrases: Vec<String> = flagged
            .rules
            .iter()
            .filter_map(|id| store.get::<KeywordRule>(&rule_key(id)).ok().flatten())
            .map(|r| r.phrase)
            .collect();
        let report = Report {
            id: event.to_string(),
            reporter_id: SYSTEM.into(),
            target: flagged.target.clone(),
            reason: Reason::Other,
            comment: format!("matched keyword rule(s): {}", phrases.join(", ")),
            state: ReportState::Open,
            claimed_by: None,
            subject,
            created_at: now,
            resolution: None,
        };
        match file_report(store, &report).await {
            // Conflict: the target has an open system report already.
            Ok(_) | Err(crate::platform::error::ApiError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    store
        .write(|tx| tx.remove(&key(FLAGGED, &[event])).map(|_| ()))
        .await
}

/// Watches the flag queue.
pub fn watch_flagged(store: &Store) -> Changes {
    store.watch(FLAGGED.as_bytes())
}
