//! Hashtag counts for trending, a projection of posts' events: `th/<tag>/<bucket>/<author>`
//! how many public posts an author tagged in a ten-minute bucket, `tw/<bucket>/<tag>` which
//! tags were used in a bucket, and `tc/<post>` what a post contributed (taken back when it
//! is deleted, edited out of public, or re-tagged). Only public profile posts and page posts
//! count: trending tells everyone what is said in public. Removed posts take back what they
//! added; suspended accounts' uses are left out while the suspension holds.

use serde::{Deserialize, Serialize};

use super::super::domain::{self, Trend};
use crate::platform::error::ApiResult;
use crate::platform::storage::{Store, Tx, TxResult, key};
use crate::posts::events::{Audience, Visibility};

/// What one post adds to the counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Contribution {
    author: String,
    bucket: i64,
    tags: Vec<String>,
}

fn bucket_key(bucket: i64) -> String {
    format!("{bucket:012}")
}

fn count_key(tag: &str, bucket: i64, author: &str) -> Vec<u8> {
    key("th/", &[tag, "/", &bucket_key(bucket), "/", author])
}

/// Whether a post counts: public, on a profile or a page.
pub fn counts(audience: &Audience, visibility: Visibility) -> bool {
    match audience {
        Audience::Page { .. } => true,
        Audience::Profile => visibility == Visibility::Public,
        Audience::Group { .. } => false,
    }
}

/// Sets what `post` contributes: takes back what it did before, adds `now` (if any).
pub fn contribute(tx: &Tx, post: &str, now: Option<(&str, i64, &[String])>) -> TxResult<()> {
    let contribution_key = key("tc/", &[post]);
    if let Some(old) = tx.get::<Contribution>(&contribution_key)? {
        for tag in &old.tags {
            let k = count_key(tag, old.bucket, &old.author);
            match tx.get::<u32>(&k)? {
                Some(n) if n > 1 => tx.put(&k, &(n - 1))?,
                _ => {
                    tx.remove(&k)?;
                }
            }
        }
        tx.remove(&contribution_key)?;
    }
    let Some((author, created_at, tags)) = now else {
        return Ok(());
    };
    if tags.is_empty() {
        return Ok(());
    }
    let bucket = domain::bucket_of(created_at);
    let mut tags: Vec<String> = tags.iter().map(|t| t.to_lowercase()).collect();
    tags.sort();
    tags.dedup();
    for tag in &tags {
        let k = count_key(tag, bucket, author);
        let n = tx.get::<u32>(&k)?.unwrap_or(0);
        tx.put(&k, &(n + 1))?;
        tx.put_raw(&key("tw/", &[&bucket_key(bucket), "/", tag]), &[])?;
    }
    tx.put(
        &contribution_key,
        &Contribution {
            author: author.to_string(),
            bucket,
            tags,
        },
    )
}

/// The tags trending over the last `window` seconds at `now`, best first, leaving out
/// the uses of `suspended` accounts.
pub fn trending(
    store: &Store,
    now: i64,
    window: i64,
    limit: usize,
    suspended: &std::collections::BTreeSet<String>,
) -> ApiResult<Vec<Trend>> {
    let last = domain::bucket_of(now);
    let first = domain::bucket_of(now - window + 1);
    let mut tags = std::collections::BTreeSet::new();
    for bucket in first..=last {
        for (rest, _) in
            store.scan_after(&key("tw/", &[&bucket_key(bucket), "/"]), None, usize::MAX)?
        {
            tags.insert(String::from_utf8_lossy(&rest).into_owned());
        }
    }
    let baseline_from = domain::bucket_of(now - window - domain::BASELINE_SECS + 1);
    let mut trends = Vec::new();
    for tag in tags {
        let mut uses = authors_by_bucket(store, &tag, baseline_from, last)?;
        uses.retain(|(_, author)| !suspended.contains(author));
        if let Some(trend) = domain::trend(&tag, &uses, first, window) {
            trends.push(trend);
        }
    }
    trends.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.tag.cmp(&b.tag)));
    trends.truncate(limit);
    Ok(trends)
}

/// (bucket, author) of every use of `tag` in buckets `from..=to`.
fn authors_by_bucket(
    store: &Store,
    tag: &str,
    from: i64,
    to: i64,
) -> ApiResult<Vec<(i64, String)>> {
    let prefix = key("th/", &[tag, "/"]);
    let mut out = Vec::new();
    // Past every key of the bucket before `from` (authors are ULIDs: `~` sorts after them).
    let before_first = format!("{}/~", bucket_key(from - 1));
    for (rest, _) in store.scan_after(&prefix, Some(before_first.as_bytes()), usize::MAX)? {
        let rest = String::from_utf8_lossy(&rest).into_owned();
        let Some((bucket, author)) = rest.split_once('/') else {
            continue;
        };
        let Ok(bucket) = bucket.parse::<i64>() else {
            continue;
        };
        if bucket > to {
            break;
        }
        out.push((bucket, author.to_string()));
    }
    Ok(out)
}
