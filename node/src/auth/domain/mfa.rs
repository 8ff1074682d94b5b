//! The second factor: TOTP codes (RFC 6238, each accepted once) and recovery codes.

use super::*;

pub const RECOVERY_CODES: usize = 10;

/// Recovery codes as shown to the user: `xxxx-xxxx-xxxx`, lower-case base32.
pub fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 12];
            rand::fill(&mut bytes);
            let s = base32_lower(&bytes);
            format!("{}-{}-{}", &s[0..4], &s[4..8], &s[8..12])
        })
        .collect()
}

#[expect(
    clippy::indexing_slicing,
    reason = "masked to 0..32, the alphabet's length"
)]
fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    bytes
        .iter()
        .map(|b| ALPHABET[(*b & 31) as usize] as char)
        .collect()
}

pub fn normalize_recovery_code(code: &str) -> String {
    code.trim().to_ascii_lowercase()
}

/// The second factor a request presents.
pub enum Factor {
    Totp(String),
    Recovery(String),
}

impl Factor {
    /// Exactly one of a TOTP code or a recovery code.
    pub fn from_request(code: Option<String>, recovery: Option<String>) -> Result<Factor, Error> {
        match (code, recovery) {
            (Some(code), None) => Ok(Factor::Totp(code)),
            (None, Some(recovery)) => Ok(Factor::Recovery(recovery)),
            _ => Err(FieldError::new("code", "give either `code` or `recovery_code`").into()),
        }
    }
}

/// Checks a factor against the account's MFA and records its use (the TOTP step, or the
/// recovery code spent).
pub fn use_second_factor(
    account: &mut Account,
    factor: &Factor,
    issuer: &str,
) -> Result<(), Error> {
    let username = account.username.clone();
    let Some(mfa) = account.mfa.as_mut() else {
        return Err(Error::MfaNotEnabled);
    };
    match factor {
        Factor::Totp(code) => mfa.last_step = check_totp(mfa, code, &username, issuer)?,
        Factor::Recovery(code) => {
            let hash = token_hash(&normalize_recovery_code(code));
            let before = mfa.recovery_hashes.len();
            mfa.recovery_hashes.retain(|h| *h != hash);
            if mfa.recovery_hashes.len() == before {
                return Err(Error::UnknownRecoveryCode);
            }
        }
    }
    Ok(())
}

/// A TOTP for `secret` (base32), SHA-1, 6 digits, 30 s, one step of skew.
pub fn totp(secret_b32: &str, account: &str, issuer: &str) -> Result<totp_rs::Totp, Error> {
    let secret =
        totp_rs::Secret::try_from_base32(secret_b32).map_err(|e| Error::Totp(e.to_string()))?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some(issuer))
        .build()
        .map_err(|e| Error::Totp(e.to_string()))
}

pub fn new_totp_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes);
    totp_rs::Secret::from(bytes).to_base32()
}

/// Checks a TOTP code, refusing a step that was already used. Returns the new last step.
pub fn check_totp(mfa: &Mfa, code: &str, account: &str, issuer: &str) -> Result<u64, Error> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            FieldError::new("code", "must be the 6 digits of the authenticator app").into(),
        );
    }
    let step = totp(&mfa.secret, account, issuer)?.check_current(code);
    match step {
        Some(step) if step > mfa.last_step => Ok(step),
        Some(_) => Err(Error::CodeReused),
        None => Err(Error::WrongCode),
    }
}
