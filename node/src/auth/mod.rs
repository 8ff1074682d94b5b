//! # auth
//!
//! Owns credentials (argon2id), sessions and refresh tokens, MFA (TOTP and recovery
//! codes), account verification and roles.
//!
//! Publishes: `AccountRegistered`, `AccountVerified`, `RolesChanged`, `SessionsRevoked`,
//! `AccountErased` ([`events`]).
//! Consumes: `notifications.DigestDue` (queues the digest mail; auth keeps the addresses),
//! `moderation.AccountSuspended|AccountReinstated` (a suspended account cannot log in or
//! refresh, and its sessions end).

pub mod domain;
pub mod error;
pub mod events;
pub mod hashing;
pub mod http;
pub mod limits;
pub mod storage;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;

use anyhow::Context as _;

use crate::moderation::events as moderation;
use crate::platform::Platform;
use crate::platform::config::AuthArgs;
use crate::platform::context::{BoundedContext, Context};
use crate::platform::mail::Mailer;
use crate::platform::storage::Store;
use crate::platform::tokens::{TokenIssuer, TokenVerifier};

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
    pub limits: Arc<limits::Limits>,
    /// Wakes the erasure sweeper (a deletion was asked for).
    pub erasures: Arc<tokio::sync::Notify>,
    /// The keys sealing personal fields on the stream: erasure shreds the person's.
    pub keys: Arc<crate::platform::keyring::Keyring>,
}

impl FromRef<AuthState> for Arc<TokenVerifier> {
    fn from_ref(state: &AuthState) -> Self {
        state.verifier.clone()
    }
}

impl AuthState {
    /// Checks a password the caller gave against the account's (argon2, on the hashing
    /// pool); `wrong` when it does not match.
    pub async fn require_password(
        &self,
        account: &domain::Account,
        password: String,
        wrong: error::Error,
    ) -> crate::platform::error::ApiResult<()> {
        if self
            .hasher
            .verify(password, Some(account.password_hash.clone()))
            .await?
        {
            Ok(())
        } else {
            Err(wrong.into())
        }
    }

    /// Refuses the ended sessions' tokens in this process at once; the other processes
    /// learn it from the `SessionsRevoked` event within about a second.
    pub fn sessions_ended(&self, revoked: Option<&events::SessionsRevoked>) {
        if let Some(revoked) = revoked {
            self.verifier.revoke(revoked);
        }
    }
}

/// The auth context.
pub struct Auth;

impl BoundedContext for Auth {
    fn name(&self) -> &'static str {
        Context::Auth.name()
    }

    fn paths(&self) -> &'static [&'static str] {
        &["auth", "DELETE users/me"]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <http::AuthApi as utoipa::OpenApi>::openapi()
    }

    fn subscriptions(&self) -> crate::platform::context::Subscriptions {
        crate::platform::context::Subscriptions::default()
            .on::<crate::notifications::events::DigestDue>(storage::queue_digest)
            .on_read::<moderation::AccountSuspended, _>(storage::read_sessions, storage::suspend)
            .on::<moderation::AccountReinstated>(storage::reinstate)
    }

    fn export(&self) -> crate::platform::export::Exporter {
        storage::export
    }

    /// Suspensions are moderation's decisions.
    fn projections(&self) -> &'static [&'static str] {
        storage::PROJECTIONS
    }

    /// Needs the platform's signing key pair (`AGORA_JWT_PRIVATE_KEY`).
    fn routes(&self, platform: &Platform, store: Store) -> anyhow::Result<Router> {
        let keys = platform
            .keys
            .as_deref()
            .context("the auth context needs AGORA_JWT_PRIVATE_KEY")?;
        let settings = platform.auth.clone();
        let state = AuthState {
            store,
            issuer: Arc::new(TokenIssuer::new(
                keys,
                &platform.name,
                settings.access_token_ttl_secs,
            )?),
            verifier: platform.verifier.clone(),
            hasher: hashing::Hasher::new(),
            mailer: platform.mailer.clone(),
            limits: limits::Limits::new(&settings),
            settings,
            platform: platform.name.clone(),
            erasures: Arc::default(),
            keys: platform.bus.keys.clone(),
        };
        let s = state.clone();
        platform.while_writer(&state.store, move |stop| {
            expire_unverified(s.store.clone(), stop)
        });
        let s = state.clone();
        platform.while_writer(&state.store, move |stop| mail_digests(s.clone(), stop));
        let s = state.clone();
        platform.while_writer(&state.store, move |stop| erase_due(s.clone(), stop));
        let store = state.store.clone();
        platform.while_writer(&state.store, move |_| rekey_address_indexes(store.clone()));
        let keys = state.keys.clone();
        platform.while_writer(&state.store, move |_| wrap_raw_keys(keys.clone()));
        let mut routes = http::routes(state.clone());
        if platform.bulk_seeding {
            routes = routes.merge(http::seeding_routes(state));
        }
        Ok(routes)
    }
}

/// Keys the address indexes by this platform's keyed hashes when they were keyed otherwise
/// (once; see [`storage::rekey_address_indexes`]).
async fn rekey_address_indexes(store: Store) {
    match storage::rekey_address_indexes(&store).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(accounts = n, "address indexes keyed anew"),
        Err(e) => tracing::warn!(error = %e, "address indexes not keyed anew"),
    }
}

/// Wraps with the platform's key the people's keys stored before it wrapped them (once,
/// where auth writes; see [`crate::platform::keyring::Keyring::wrap_raw_keys`]).
async fn wrap_raw_keys(keys: Arc<crate::platform::keyring::Keyring>) {
    match keys.wrap_raw_keys().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(keys = n, "people's keys wrapped with the platform's key"),
        Err(e) => tracing::warn!(error = %e, "people's keys not wrapped"),
    }
}

/// Mails the digests the notifications context asked for, as they are queued. Runs until
/// shutdown.
async fn mail_digests(s: AuthState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut queued = storage::watch_queue(&s.store);
    loop {
        match storage::queued_digests(&s.store) {
            Ok(digests) => {
                for (queue_key, digest) in digests {
                    send_digest(&s, &digest);
                    if let Err(e) = storage::unqueue(&s.store, &queue_key).await {
                        tracing::warn!(error = ?e, "digest left in the queue");
                    }
                }
            }
            Err(e) => tracing::warn!(error = ?e, "reading the digest queue failed"),
        }
        tokio::select! {
            true = queued.changed() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn send_digest(s: &AuthState, digest: &storage::QueuedDigest) {
    let account = match storage::find_account(&s.store, &digest.account_id) {
        Ok(Some(a)) if a.verified => a,
        _ => return,
    };
    if !s.limits.may_mail(&account.email) {
        return;
    }
    let total: u32 = digest.counts.values().sum();
    let lines: String = digest
        .counts
        .iter()
        .map(|(kind, n)| format!("  {n} × {}\n", kind.replace('_', " ")))
        .collect();
    let body = format!(
        "Hello {username},\n\n\
         you have {total} unread notification(s) on {platform}:\n\n{lines}\n\
         (GET /api/v1/notifications to read them; choose what comes by mail with\n\
         PUT /api/v1/notifications/preferences.)\n",
        username = account.username,
        platform = s.platform,
    );
    s.mailer
        .send(&account.email, "Your Agora notifications", body);
}

/// Erases the accounts whose grace period has ended, as it ends (woken at once by a
/// deletion, otherwise once a minute). Runs until shutdown.
async fn erase_due(s: AuthState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = domain::now();
        match storage::due_deletions(&s.store, now) {
            Ok(due) => {
                for account in due {
                    match storage::erase_account(&s.store, &account, now).await {
                        Ok(true) => tracing::info!(account = %account, "account erased"),
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(account = %account, error = ?e, "erasure failed; retried")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = ?e, "reading the deletion queue failed"),
        }
        shred_erased(&s).await;
        tokio::select! {
            _ = s.erasures.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Destroys the keys of erased people (queued by the erasure's own transaction, so a crash
/// in between loses none), so what the stream holds of them cannot be read again.
async fn shred_erased(s: &AuthState) {
    for account in storage::to_shred(&s.store).unwrap_or_default() {
        let shredded = match s.keys.shred(&account).await {
            Ok(()) => storage::shredded(&s.store, &account)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = shredded {
            tracing::warn!(account = %account, error = %e, "shredding the key failed; retried");
        }
    }
}

/// How often registrations nobody verified in time are deleted.
const EXPIRY_SWEEP: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes registrations nobody verified within a day, freeing their usernames (their
/// addresses were never held). Runs until shutdown.
async fn expire_unverified(store: Store, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        match storage::expire_unverified(&store, domain::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "unverified registrations deleted"),
            Err(e) => tracing::warn!(error = ?e, "expiring unverified registrations failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EXPIRY_SWEEP) => {}
            _ = shutdown.changed() => return,
        }
    }
}
