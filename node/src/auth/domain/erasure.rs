//! Deleting an account (GDPR article 17): asked for with the password and, where enrolled,
//! the second factor; carried out when a grace period has passed, during which logging in
//! cancels it (as the large platforms do, so a stolen session cannot erase anyone at once
//! and a change of heart costs nothing).

use serde::{Deserialize, Serialize};

/// A deletion waiting for its grace period to end.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Deletion {
    pub requested_at: i64,
    /// Unix seconds from which the account is erased.
    pub erase_at: i64,
}

impl Deletion {
    pub fn new(now: i64, grace_hours: u64) -> Self {
        let grace = i64::try_from(grace_hours.saturating_mul(3_600)).unwrap_or(i64::MAX);
        Deletion {
            requested_at: now,
            erase_at: now.saturating_add(grace),
        }
    }

    pub fn due(&self, now: i64) -> bool {
        self.erase_at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_period_decides_when_it_is_due() {
        let d = Deletion::new(1_000, 2);
        assert_eq!(d.erase_at, 1_000 + 7_200);
        assert!(!d.due(1_000 + 7_199));
        assert!(d.due(1_000 + 7_200));
        assert!(Deletion::new(1_000, 0).due(1_000), "no grace: due at once");
        assert_eq!(Deletion::new(1_000, u64::MAX).erase_at, i64::MAX);
    }
}
