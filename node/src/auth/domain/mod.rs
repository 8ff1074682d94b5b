//! Pure rules of auth: validation, the password policy, secrets and their hashes, the
//! records it keeps; the second factor in [`mfa`].

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::platform::error::FieldError;

use super::error::Error;
use crate::platform::tokens::Role;

mod erasure;
mod mfa;
pub use erasure::*;
pub use mfa::*;

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 128;
/// How long after a change of username the next one may come (30 days).
pub const USERNAME_COOLDOWN_SECS: i64 = 30 * 86_400;
/// How long an old username stays reserved to its account, so nobody can take it at once
/// to impersonate (90 days; the account itself may take it back, after the cooldown).
pub const USERNAME_RESERVED_SECS: i64 = 90 * 86_400;

/// A username an account left, reserved to it until `until`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reservation {
    pub account_id: String,
    pub until: i64,
}

/// When `account` may change its username again, if not now.
pub fn username_cooldown(account: &Account, now: i64) -> Option<i64> {
    account
        .username_changed_at
        .map(|at| at + USERNAME_COOLDOWN_SECS)
        .filter(|next| *next > now)
}

/// An account: the credentials and the roles of one person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub verified: bool,
    pub created_at: i64,
    pub mfa: Option<Mfa>,
    /// A TOTP secret enrolled but not yet confirmed.
    pub mfa_pending: Option<String>,
    /// Whether a login from a new device or network is mailed to the owner (on unless
    /// turned off).
    #[serde(default = "yes", skip_serializing_if = "is_on")]
    pub sign_in_alerts: bool,
    /// When the username last changed (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_changed_at: Option<i64>,
    /// Who invited this account (the creator of the invitation it registered with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<String>,
}

/// Second factor: a TOTP secret and the hashes of unused recovery codes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mfa {
    /// Base32 secret.
    pub secret: String,
    pub recovery_hashes: Vec<String>,
    /// Last accepted TOTP step: a code is accepted once (RFC 6238 §5.2).
    pub last_step: u64,
}

/// A login session: every refresh token of one login belongs to it (its "family").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub account_id: String,
    pub created_at: i64,
    pub revoked: bool,
    /// The device, as its `User-Agent` said at login (at most 200 characters).
    #[serde(default)]
    pub user_agent: String,
    /// The client's network at login, as the gateway saw it ([`approximate_ip`]).
    #[serde(default)]
    pub ip: String,
    /// The last login or refresh (unix seconds).
    #[serde(default)]
    pub last_used_at: i64,
}

/// An address made approximate for showing in a session list: the /24 of an IPv4
/// address, the /48 of an IPv6 one (enough to recognise "home" or "work", not a house).
pub fn approximate_ip(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let [a, b, c, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}::/48")
        }
        Err(_) => "unknown".into(),
    }
}

/// A `User-Agent` kept for a session: control characters out, at most 200 characters.
pub fn device(user_agent: &str) -> String {
    user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// A refresh token, stored under the hash of its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub session_id: String,
    pub account_id: String,
    pub expires_at: i64,
    pub used: bool,
}

/// A one-time token (verification, MFA challenge), stored under its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneTimeToken {
    pub account_id: String,
    pub expires_at: i64,
}

/// An invitation to register (registration `invite`): a code, shown once, stored by its
/// hash; it expires and counts its uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invitation {
    pub id: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: u32,
    /// The accounts registered with it, in order.
    pub used_by: Vec<String>,
    pub revoked: bool,
}

pub const INVITATION_MAX_USES: u32 = 100;
pub const INVITATION_MAX_DAYS: u32 = 30;

impl Invitation {
    /// Whether one more account may register with it now.
    pub fn admits(&self, now: i64) -> Result<(), Error> {
        let why = if self.revoked {
            "was revoked"
        } else if self.expires_at < now {
            "has expired"
        } else if self.used_by.len() >= self.max_uses as usize {
            "has been used up"
        } else {
            return Ok(());
        };
        Err(FieldError::new("invitation", why).into())
    }
}

/// A change of address waiting for the new address to confirm it. Stored under the hash of
/// the token mailed to the new address; the old address gets a second token that reports
/// the change (cancels it, or reverts it when already made, and ends every session).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailChange {
    pub account_id: String,
    pub old_email: String,
    pub new_email: String,
    /// Until when the new address may confirm.
    pub expires_at: i64,
    /// The hash of the confirmation token (kept in the report record to cancel it).
    pub confirm_hash: String,
}

/// A masked address for mail to the other one: `q***@example.org`.
pub fn masked(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

fn yes() -> bool {
    true
}

fn is_on(on: &bool) -> bool {
    *on
}

pub use crate::platform::unix_now as now;

/// A random opaque secret: 32 bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of an opaque secret. The secrets are 256-bit random, so a fast hash
/// suffices (no offline guessing), unlike passwords.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// The roles asked for, with `user` always first and no repeats.
pub fn roles_with_user(asked: Vec<Role>) -> Vec<Role> {
    let mut roles = vec![Role::User];
    for role in asked {
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    roles
}

/// `3-30` characters of `a-z`, `0-9` and `_`, case-insensitive.
pub fn validate_username(username: &str) -> Result<String, FieldError> {
    let lower = username.to_ascii_lowercase();
    if !(3..=30).contains(&lower.len()) {
        return Err(FieldError::new("username", "must be 3 to 30 characters"));
    }
    if !lower
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(FieldError::new(
            "username",
            "may contain only letters a-z, digits and '_'",
        ));
    }
    Ok(lower)
}

/// A plausible address: one `@`, no spaces or control characters, at most 254 bytes.
pub fn validate_email(email: &str) -> Result<String, FieldError> {
    let email = email.trim().to_lowercase();
    let bad = || FieldError::new("email", "must be an e-mail address like name@example.org");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain.contains('.') {
        return Err(bad());
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err(bad());
    }
    Ok(email)
}

/// The password policy: length bounds, then a strength estimate (zxcvbn score 3 of 4)
/// that also penalises the username and e-mail. The error says why.
pub fn check_password(
    password: &str,
    field: &str,
    username: &str,
    email: &str,
) -> Result<(), Error> {
    let invalid = |message: String| Err(FieldError::new(field, message).into());
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return invalid(format!("must be at least {PASSWORD_MIN_CHARS} characters"));
    }
    if chars > PASSWORD_MAX_CHARS {
        return invalid(format!("must be at most {PASSWORD_MAX_CHARS} characters"));
    }
    if password.chars().any(|c| c.is_control()) {
        return invalid("must not contain control characters".into());
    }
    let entropy = zxcvbn::zxcvbn(password, &[username, email]);
    if entropy.score() < zxcvbn::Score::Three {
        let why = entropy
            .feedback()
            .and_then(|f| {
                f.warning()
                    .map(|w| w.to_string())
                    .or_else(|| f.suggestions().first().map(|s| s.to_string()))
            })
            .unwrap_or_else(|| "it is too easy to guess".into());
        return invalid(format!("is too weak: {why}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_admits_until_it_expires_is_used_up_or_revoked() {
        let mut invitation = Invitation {
            id: "i".into(),
            created_by: "a".into(),
            created_at: 0,
            expires_at: 1_000,
            max_uses: 2,
            used_by: vec!["x".into()],
            revoked: false,
        };
        let why = |i: &Invitation, now| match i.admits(now) {
            Ok(()) => "admits".to_string(),
            Err(Error::Invalid(e)) => e[0].message.clone(),
            Err(e) => e.to_string(),
        };
        assert_eq!(why(&invitation, 999), "admits");
        assert_eq!(why(&invitation, 1_001), "has expired");
        invitation.used_by.push("y".into());
        assert_eq!(why(&invitation, 999), "has been used up");
        invitation.revoked = true;
        assert_eq!(why(&invitation, 999), "was revoked");
    }

    #[test]
    fn usernames_and_emails_are_normalised_or_refused() {
        assert_eq!(validate_username("Alice_1").unwrap(), "alice_1");
        assert!(validate_username("al").is_err());
        assert!(validate_username("ålice").is_err());
        assert!(validate_username("a b c").is_err());
        assert_eq!(
            validate_email(" Bob@Example.org ").unwrap(),
            "bob@example.org"
        );
        assert!(validate_email("bob").is_err());
        assert!(validate_email("bob@localhost").is_err());
        assert!(validate_email("b ob@x.org").is_err());
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for weak in ["password123", "short", "alicealice1", "qwertyuiop"] {
            let e = check_password(weak, "password", "alice", "alice@x.org").unwrap_err();
            assert!(e.to_string().starts_with("password: "), "{e}");
        }
        check_password(
            "correct horse battery staple",
            "password",
            "alice",
            "alice@x.org",
        )
        .unwrap();
    }

    #[test]
    fn a_totp_code_is_accepted_once() {
        let mfa = Mfa {
            secret: new_totp_secret(),
            recovery_hashes: vec![],
            last_step: 0,
        };
        let code = totp(&mfa.secret, "a", "agora")
            .unwrap()
            .generate_current()
            .to_string();
        let step = check_totp(&mfa, &code, "a", "agora").unwrap();
        let used = Mfa {
            last_step: step,
            ..mfa
        };
        assert!(check_totp(&used, &code, "a", "agora").is_err());
        assert!(check_totp(&used, "12345", "a", "agora").is_err());
    }

    #[test]
    fn recovery_codes_are_distinct() {
        let codes = recovery_codes();
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 14);
    }
}
