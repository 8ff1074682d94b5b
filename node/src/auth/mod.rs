//! # auth
//!
//! Owns credentials (argon2id), sessions and refresh tokens, MFA (TOTP and recovery
//! codes), account verification and roles.
//!
//! Publishes: `AccountRegistered`, `AccountVerified`, `RolesChanged` ([`events`]).
//! Consumes: nothing yet.

pub mod domain;
pub mod events;
pub mod hashing;
pub mod http;
pub mod mail;
pub mod storage;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::platform::Platform;
use crate::platform::storage::Store;
use crate::platform::tokens::{KeyPair, TokenIssuer, TokenVerifier};

pub use mail::Mailer;

impl AuthArgs {
    /// The SMTP mailer when `AGORA_SMTP_URL` is set, else `fallback`.
    pub fn mailer(&self, fallback: Mailer) -> anyhow::Result<Mailer> {
        match &self.smtp_url {
            Some(url) => Mailer::smtp(url, &self.mail_from),
            None => Ok(fallback),
        }
    }
}

/// Who may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Registration {
    Open,
    Closed,
}

/// Settings of the auth context (see docs/configuration.md).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "AGORA_ACCESS_TOKEN_TTL_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(30..=86_400))]
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, in seconds.
    #[arg(long, env = "AGORA_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 86_400, value_parser = clap::value_parser!(u64).range(60..=31_536_000))]
    pub refresh_token_ttl_secs: u64,
    /// Whether anyone may register (`open`) or nobody (`closed`).
    #[arg(long, env = "AGORA_REGISTRATION", value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,
    /// E-mail addresses whose accounts get the admin role at registration (comma list):
    /// how the first admin is made.
    #[arg(long, env = "AGORA_ADMIN_EMAILS", value_delimiter = ',')]
    pub admin_emails: Vec<String>,
    /// Login attempts allowed per account per minute.
    #[arg(long, env = "AGORA_LOGIN_ATTEMPTS_PER_ACCOUNT", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_attempts_per_account: u32,
    /// SMTP server for outgoing mail, e.g. `smtp://user:pass@mail.example.org:587?tls=required`
    /// or `smtps://mail.example.org`. Without it mail is logged (`dev`: kept in the dev mailbox).
    #[arg(long, env = "AGORA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of outgoing mail.
    #[arg(
        long,
        env = "AGORA_MAIL_FROM",
        default_value = "Agora <no-reply@agora.invalid>"
    )]
    pub mail_from: String,
    /// Require a second factor: accounts without one get tokens that only allow enrolling.
    #[arg(long, env = "AGORA_MFA_REQUIRED")]
    pub mfa_required: bool,
    /// Login attempts allowed per client IP per minute.
    #[arg(long, env = "AGORA_LOGIN_ATTEMPTS_PER_IP", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_attempts_per_ip: u32,
}

/// What every auth handler can reach.
#[derive(Clone)]
pub struct AuthState {
    pub store: Store,
    pub issuer: Arc<TokenIssuer>,
    pub verifier: Arc<TokenVerifier>,
    pub hasher: hashing::Hasher,
    pub mailer: Mailer,
    pub settings: Arc<AuthArgs>,
    pub platform: String,
    pub per_account: Arc<DefaultKeyedRateLimiter<String>>,
    pub per_ip: Arc<DefaultKeyedRateLimiter<String>>,
}

impl FromRef<AuthState> for Arc<TokenVerifier> {
    fn from_ref(state: &AuthState) -> Self {
        state.verifier.clone()
    }
}

fn per_minute(n: u32) -> Arc<DefaultKeyedRateLimiter<String>> {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Arc::new(RateLimiter::keyed(Quota::per_minute(n)))
}

/// Opens the context's store and returns its routes.
pub fn start(
    platform: &Platform,
    keys: &KeyPair,
    settings: AuthArgs,
    mailer: Mailer,
) -> anyhow::Result<Router> {
    let store = platform.open_store(events::CONTEXT)?;
    let state = AuthState {
        store,
        issuer: Arc::new(TokenIssuer::new(
            keys,
            &platform.name,
            settings.access_token_ttl_secs,
        )?),
        verifier: platform.verifier.clone(),
        hasher: hashing::Hasher::new(),
        mailer,
        per_account: per_minute(settings.login_attempts_per_account),
        per_ip: per_minute(settings.login_attempts_per_ip),
        settings: Arc::new(settings),
        platform: platform.name.clone(),
    };
    Ok(http::routes(state))
}
