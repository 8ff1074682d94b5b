//! How often credentials may be tried and mail may be sent.
//!
//! A wall per account alone lets anyone lock the owner out (ten wrong passwords and the
//! right one gets 429), so, as the big providers do, the limits are layered:
//! - **per account and source** (hard, `AGORA_LOGIN_ATTEMPTS_PER_ACCOUNT` a minute): what
//!   one attacker on one address gets against one account;
//! - **per source** (hard, `AGORA_LOGIN_ATTEMPTS_PER_IP` a minute): what one address gets
//!   over all accounts;
//! - **per account from new networks** (soft, three times the per-account-and-source rate,
//!   so that one guesser meets its own wall first): attempts from networks
//!   the account never had a session on wait their turn (up to [`MAX_DELAY`]) rather than
//!   being refused; past that they get 429. Attempts from a network the account used
//!   before skip this limit, so a distributed guesser cannot lock the owner out of home.
//!
//! Checks of the password or the second factor made inside a session (password change,
//! MFA disable, new recovery codes) share the per-account-and-source limit: a stolen
//! access token does not buy unlimited guesses.
//!
//! Mail to one address (verification, password reset) is limited to
//! [`MAILS_PER_ADDRESS_PER_HOUR`]; past that the request is still answered 202 and the
//! mail is not sent, so an inbox cannot be flooded and the answer reveals nothing.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::platform::config::AuthArgs;
use crate::platform::error::ApiError;
use crate::platform::http::within_limit;

/// The longest an attempt from a new network waits for the account's soft limit.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// Mails one address may receive in an hour.
pub const MAILS_PER_ADDRESS_PER_HOUR: u32 = 5;

/// The auth context's rate limiters (see the module documentation).
pub struct Limits {
    per_account_source: DefaultKeyedRateLimiter<String>,
    per_source: DefaultKeyedRateLimiter<String>,
    per_account_new_network: DefaultKeyedRateLimiter<String>,
    mail_per_address: DefaultKeyedRateLimiter<String>,
}

fn per_minute(n: u32) -> DefaultKeyedRateLimiter<String> {
    RateLimiter::keyed(Quota::per_minute(
        NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN),
    ))
}

impl Limits {
    pub fn new(settings: &AuthArgs) -> Arc<Self> {
        let mails = NonZeroU32::new(MAILS_PER_ADDRESS_PER_HOUR).unwrap_or(NonZeroU32::MIN);
        let limits = Arc::new(Limits {
            per_account_source: per_minute(settings.login_attempts_per_account),
            per_source: per_minute(settings.login_attempts_per_ip),
            per_account_new_network: per_minute(
                settings.login_attempts_per_account.saturating_mul(3),
            ),
            mail_per_address: RateLimiter::keyed(Quota::per_hour(mails)),
        });
        // Forget idle keys now and then so the limiters do not grow without bound.
        let weak = Arc::downgrade(&limits);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(limits) = weak.upgrade() else { return };
                limits.per_account_source.retain_recent();
                limits.per_source.retain_recent();
                limits.per_account_new_network.retain_recent();
                limits.mail_per_address.retain_recent();
            }
        });
        limits
    }

    /// Any request that costs a password hash or sends mail, from `source`.
    pub fn source(&self, source: &str) -> Result<(), ApiError> {
        within_limit(&self.per_source, &source.to_string())
    }

    /// One attempt at `account`'s credentials from `source` (hard).
    pub fn attempt(&self, account: &str, source: &str) -> Result<(), ApiError> {
        within_limit(&self.per_account_source, &format!("{account}\u{0}{source}"))
    }

    /// A login attempt: the hard limits, then, from a network the account never used,
    /// a wait for the account's soft limit.
    pub async fn login(&self, account: &str, source: &str, known: bool) -> Result<(), ApiError> {
        self.source(source)?;
        self.attempt(account, source)?;
        if known {
            return Ok(());
        }
        let key = account.to_string();
        tokio::time::timeout(
            MAX_DELAY,
            self.per_account_new_network.until_key_ready(&key),
        )
        .await
        .map_err(|_| ApiError::RateLimited {
            retry_after_secs: MAX_DELAY.as_secs(),
        })
    }

    /// Whether another mail may go to `address` now.
    pub fn may_mail(&self, address: &str) -> bool {
        self.mail_per_address
            .check_key(&address.to_lowercase())
            .is_ok()
    }
}
