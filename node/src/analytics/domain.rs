//! Pure rules of analytics: days and weeks, the daily metrics, how a page of figures is
//! built from counts, weekly retention, and the engagement that ranks top posts and pages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::posts::events::ReactionKind;

pub const DAY_SECS: i64 = 86_400;
pub const WEEK_SECS: i64 = 7 * DAY_SECS;
/// Longest series, in days.
pub const MAX_DAYS: u32 = 366;
/// Most weekly cohorts shown.
pub const MAX_WEEKS: u32 = 52;

/// A day: days since the Unix epoch (UTC).
pub fn day_of(unix: i64) -> i64 {
    unix.div_euclid(DAY_SECS)
}

/// A week: weeks since the Monday before the Unix epoch (UTC), so weeks start on Monday.
pub fn week_of(unix: i64) -> i64 {
    // 1970-01-01 was a Thursday: shift by three days so weeks start on Monday.
    (unix + 3 * DAY_SECS).div_euclid(WEEK_SECS)
}

/// A month: months since January 1970 (UTC).
pub fn month_of(unix: i64) -> i64 {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => i64::from(t.year() - 1970) * 12 + i64::from(u8::from(t.month())) - 1,
        Err(_) => 0,
    }
}

/// A month as `YYYY-MM`.
pub fn month_name(month: i64) -> String {
    format!(
        "{:04}-{:02}",
        1970 + month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

/// The first day (Monday) of `week`, as a date.
pub fn week_start(week: i64) -> String {
    date(week * 7 - 3)
}

/// A day as `YYYY-MM-DD`.
pub fn date(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * DAY_SECS)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// What is counted per day.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Registrations,
    Posts,
    Comments,
    Reactions,
    Shares,
    Messages,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::Registrations,
        Metric::Posts,
        Metric::Comments,
        Metric::Reactions,
        Metric::Shares,
        Metric::Messages,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Metric::Registrations => "registrations",
            Metric::Posts => "posts",
            Metric::Comments => "comments",
            Metric::Reactions => "reactions",
            Metric::Shares => "shares",
            Metric::Messages => "messages",
        }
    }
}

/// What analytics keeps of a post: who may see its figures, and the figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostStats {
    pub author: String,
    pub page: Option<String>,
    pub group: Option<String>,
    pub created_at: i64,
    pub reactions: BTreeMap<ReactionKind, u64>,
    pub comments: u64,
    pub shares: u64,
    /// Times it was shown in a feed or opened.
    pub impressions: u64,
}

impl PostStats {
    /// Reactions, comments and shares: what ranks top posts and pages.
    pub fn engagement(&self) -> u64 {
        self.reactions.values().sum::<u64>() + self.comments + self.shares
    }

    pub fn react(&mut self, kind: ReactionKind, previous: Option<ReactionKind>) {
        if let Some(p) = previous {
            self.unreact(p);
        }
        *self.reactions.entry(kind).or_default() += 1;
    }

    pub fn unreact(&mut self, kind: ReactionKind) {
        if let Some(n) = self.reactions.get_mut(&kind) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.reactions.remove(&kind);
            }
        }
    }
}

/// A window of `days` days ending today (`today` included): first and last day.
pub fn window(today: i64, days: u32) -> (i64, i64) {
    (today - i64::from(days) + 1, today)
}

/// The share of a cohort active in a week, in percent with one decimal.
pub fn percent(active: u64, size: u64) -> f64 {
    if size == 0 {
        return 0.0;
    }
    ((active.min(size) as f64) * 1000.0 / size as f64).round() / 10.0
}

/// The `limit` best of `totals`, highest first (ties by id).
pub fn top(totals: BTreeMap<String, u64>, limit: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = totals.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_weeks_are_utc_and_weeks_start_on_monday() {
        // 2026-11-26 is a Thursday.
        let thursday = 1_795_651_200 + 12 * 3600;
        assert_eq!(date(day_of(thursday)), "2026-11-26");
        assert_eq!(week_start(week_of(thursday)), "2026-11-23");
        let monday = thursday - 3 * DAY_SECS;
        let sunday_night = thursday + 3 * DAY_SECS + 11 * 3600;
        assert_eq!(week_of(monday), week_of(thursday));
        assert_eq!(week_of(sunday_night), week_of(thursday));
        assert_eq!(week_of(sunday_night + 3600), week_of(thursday) + 1);
        assert_eq!(month_name(month_of(thursday)), "2026-11");
    }

    #[test]
    fn a_changed_reaction_moves_its_count() {
        let mut s = PostStats::default();
        s.react(ReactionKind::Like, None);
        s.react(ReactionKind::Love, Some(ReactionKind::Like));
        s.react(ReactionKind::Love, None);
        assert_eq!(s.reactions, BTreeMap::from([(ReactionKind::Love, 2)]));
        s.comments = 1;
        assert_eq!(s.engagement(), 3);
        s.unreact(ReactionKind::Love);
        s.unreact(ReactionKind::Love);
        s.unreact(ReactionKind::Love);
        assert!(s.reactions.is_empty());
    }

    #[test]
    fn top_ranks_by_engagement_then_id_and_leaves_out_zeros() {
        let totals = BTreeMap::from([
            ("b".to_string(), 3),
            ("a".to_string(), 3),
            ("c".to_string(), 5),
            ("d".to_string(), 0),
        ]);
        let got = top(totals, 10);
        assert_eq!(got, [("c".into(), 5), ("a".into(), 3), ("b".into(), 3)]);
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(0, 0), 0.0);
    }
}
