//! JWT access tokens (EdDSA over Ed25519): issued by auth, verified locally everywhere.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// The audience of every access token.
pub const AUDIENCE: &str = "agora";

/// The longest an access token may live (`exp - iat`); a token claiming more is refused.
/// It also bounds how long a revocation must be remembered and how far back a process
/// reads revocations when it starts ([`super::revocation`]).
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 3_600;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;

fn unix_now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as u64
}

/// Sessions that ended (logout, password change or reset, "log out everywhere", a reused
/// refresh token): their access tokens are refused by every process until `until`, when
/// they would have expired anyway.
///
/// Published by auth (`<prefix>.events.auth.SessionsRevoked`); defined here, beside the
/// claims, because every process that verifies tokens follows it. `auth::events`
/// re-exports it as part of auth's published language.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionsRevoked {
    pub account_id: String,
    pub session_ids: Vec<String>,
    /// Unix seconds after which no token of these sessions is valid anyway.
    pub until: u64,
}

impl super::envelope::DomainEvent for SessionsRevoked {
    const CONTEXT: &'static str = "auth";
    const TYPE: &'static str = "SessionsRevoked";
}

impl SessionsRevoked {
    /// Revokes `session_ids` now: `until` covers a token issued this second.
    pub fn now(account_id: &str, session_ids: Vec<String>) -> Self {
        SessionsRevoked {
            account_id: account_id.to_string(),
            session_ids,
            until: unix_now() + MAX_TOKEN_LIFETIME_SECS + LEEWAY_SECS,
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Moderator,
    Admin,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The account id.
    pub sub: String,
    /// The platform.
    pub iss: String,
    pub aud: String,
    pub roles: Vec<Role>,
    /// The session the token belongs to.
    pub sid: String,
    pub iat: u64,
    /// Not before: the issuing second (checked, with the leeway).
    #[serde(default)]
    pub nbf: u64,
    pub exp: u64,
    pub jti: String,
    /// The platform requires a second factor and this account has none yet: the token
    /// serves only to enrol one (`/auth/mfa/enroll`, `/auth/mfa/confirm`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enrol_mfa: bool,
}

impl Claims {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role) || (role == Role::Moderator && self.roles.contains(&Role::Admin))
    }
}

/// The Ed25519 key pair in PEM (PKCS#8 private key, SPKI public key).
#[derive(Clone)]
pub struct KeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

impl KeyPair {
    /// Startup (`dev` and tests): encoding a fresh Ed25519 key cannot fail.
    #[expect(clippy::expect_used, reason = "startup; encoding a valid key")]
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let private_pem = signing
            .to_pkcs8_pem(Default::default())
            .expect("pkcs8 encoding")
            .to_string();
        let public_pem = signing
            .verifying_key()
            .to_public_key_pem(Default::default())
            .expect("spki encoding");
        KeyPair {
            private_pem,
            public_pem,
        }
    }

    pub fn from_private_pem(private_pem: &str) -> anyhow::Result<Self> {
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(private_pem)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 private key: {e}"))?;
        let public_pem = signing
            .verifying_key()
            .to_public_key_pem(Default::default())?;
        Ok(KeyPair {
            private_pem: private_pem.to_string(),
            public_pem,
        })
    }

    /// Reads the key of `dir/jwt-ed25519.pem`, creating it on first use (dev only), readable
    /// by its owner only (0600; a key left readable by an older version is tightened).
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        Self::from_private_pem(&super::keyfile::load_or_create(
            dir,
            "jwt-ed25519.pem",
            || Self::generate().private_pem,
        )?)
    }
}

/// How many verified tokens each process remembers.
const VERIFIED_CACHE_TOKENS: usize = 4_096;

/// Verifies access tokens with the platform's public key.
pub struct TokenVerifier {
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens whose signature and claims were checked, by their exact text.
    verified: quick_cache::sync::Cache<String, Arc<Claims>>,
    /// Revoked sessions, each until its tokens expire anyway ([`SessionsRevoked`]).
    revoked: std::sync::RwLock<HashMap<String, u64>>,
    /// Whether `revoked` has entries: the common case (none) costs one atomic load.
    any_revoked: AtomicBool,
    /// The public key as a JWK `x` (base64url of the 32 raw bytes).
    pub jwk_x: String,
    pub kid: String,
}

impl TokenVerifier {
    pub fn new(public_pem: &str, issuer: &str) -> anyhow::Result<Self> {
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(public_pem)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 public key: {e}"))?;
        let jwk_x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.to_bytes());
        let decoding = DecodingKey::from_ed_components(&jwk_x)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[issuer]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        let kid = jwk_x.chars().take(16).collect();
        Ok(TokenVerifier {
            decoding,
            validation,
            verified: quick_cache::sync::Cache::new(VERIFIED_CACHE_TOKENS),
            revoked: Default::default(),
            any_revoked: AtomicBool::new(false),
            jwk_x,
            kid,
        })
    }

    /// Verifies a token. Tokens verified before are answered from a small cache (an
    /// Ed25519 verification is about half of the CPU of a cheap request); their expiry and
    /// their session's revocation are still checked on every use.
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>, ApiError> {
        let claims = match self.verified.get(token) {
            Some(claims) if unix_now() <= claims.exp + LEEWAY_SECS => claims,
            cached => {
                if cached.is_some() {
                    self.verified.remove(token);
                }
                let claims = Arc::new(self.verify_signature(token)?);
                self.verified.insert(token.to_string(), claims.clone());
                claims
            }
        };
        if self.is_revoked(&claims.sid) {
            return Err(ApiError::Unauthorized(
                "this session has ended; log in again".into(),
            ));
        }
        Ok(claims)
    }

    fn is_revoked(&self, sid: &str) -> bool {
        self.any_revoked.load(Ordering::Acquire)
            && self
                .revoked
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(sid)
    }

    /// Refuses the tokens of `revoked`'s sessions from now on, and forgets revocations
    /// whose tokens have all expired. (A poisoned lock is recovered: the map is only ever
    /// changed by whole inserts and removals.)
    pub fn revoke(&self, revoked: &SessionsRevoked) {
        let now = unix_now();
        let mut map = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, until| *until >= now);
        if revoked.until >= now {
            for sid in &revoked.session_ids {
                let until = map.entry(sid.clone()).or_insert(0);
                *until = (*until).max(revoked.until);
            }
        }
        self.any_revoked.store(!map.is_empty(), Ordering::Release);
    }

    /// How many sessions are remembered as revoked.
    pub fn revoked_sessions(&self) -> usize {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, ApiError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                let why = match e.kind() {
                    K::ExpiredSignature => "the access token has expired; use the refresh token",
                    K::InvalidSignature => "the access token's signature is invalid",
                    K::InvalidAudience | K::InvalidIssuer => {
                        "the access token was issued for another platform"
                    }
                    K::ImmatureSignature => "the access token is not valid yet",
                    K::MissingRequiredClaim(_) => "the access token lacks a required claim",
                    _ => "the access token is malformed",
                };
                ApiError::Unauthorized(why.into())
            })?;
        if claims.exp.saturating_sub(claims.iat) > MAX_TOKEN_LIFETIME_SECS
            || claims.iat > unix_now() + LEEWAY_SECS
        {
            return Err(ApiError::Unauthorized(
                "the access token claims a lifetime this platform does not issue".into(),
            ));
        }
        Ok(claims)
    }

    /// The JSON Web Key Set served at `/auth/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": self.jwk_x,
        }]})
    }
}

/// Signs access tokens (auth only).
pub struct TokenIssuer {
    encoding: EncodingKey,
    kid: String,
    pub issuer: String,
    pub ttl_secs: u64,
}

impl TokenIssuer {
    pub fn new(keys: &KeyPair, issuer: &str, ttl_secs: u64) -> anyhow::Result<Self> {
        let verifier = TokenVerifier::new(&keys.public_pem, issuer)?;
        Ok(TokenIssuer {
            encoding: EncodingKey::from_ed_pem(keys.private_pem.as_bytes())?,
            kid: verifier.kid,
            issuer: issuer.to_string(),
            ttl_secs,
        })
    }

    pub fn issue(
        &self,
        account_id: &str,
        roles: Vec<Role>,
        session_id: &str,
    ) -> Result<String, ApiError> {
        self.issue_with(account_id, roles, session_id, false)
    }

    /// Issues a token; with `enrol_mfa` it only allows enrolling a second factor.
    pub fn issue_with(
        &self,
        account_id: &str,
        roles: Vec<Role>,
        session_id: &str,
        enrol_mfa: bool,
    ) -> Result<String, ApiError> {
        let now = unix_now();
        let claims = Claims {
            sub: account_id.to_string(),
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_string(),
            roles,
            sid: session_id.to_string(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
            jti: crate::platform::new_id(),
            enrol_mfa,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(ApiError::internal)
    }
}

/// Claims already verified by the in-process gateway (dev): saves a second signature check.
#[derive(Clone)]
pub struct VerifiedClaims(pub Arc<Claims>);

/// The authenticated caller. Rejects with 401 when the token is missing or invalid.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Arc<Claims>);

impl AuthUser {
    pub fn id(&self) -> &str {
        &self.0.sub
    }
}

pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let claims = claims_of(parts, state)?;
        if claims.enrol_mfa {
            return Err(ApiError::Forbidden(
                "this platform requires a second factor: enrol one (POST /api/v1/auth/mfa/enroll, then /confirm) and log in again".into(),
            ));
        }
        Ok(AuthUser(claims))
    }
}

/// The verified claims of a request (checked by the gateway, or here).
fn claims_of<S>(parts: &mut Parts, state: &S) -> Result<Arc<Claims>, ApiError>
where
    Arc<TokenVerifier>: FromRef<S>,
{
    if let Some(VerifiedClaims(claims)) = parts.extensions.get::<VerifiedClaims>() {
        return Ok(claims.clone());
    }
    let token = bearer(&parts.headers)
        .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
    let claims = Arc::<TokenVerifier>::from_ref(state).verify(token)?;
    parts.extensions.insert(VerifiedClaims(claims.clone()));
    Ok(claims)
}

/// The caller, also when their token only allows enrolling a second factor.
#[derive(Debug, Clone)]
pub struct EnrollingUser(pub Arc<Claims>);

impl EnrollingUser {
    pub fn id(&self) -> &str {
        &self.0.sub
    }
}

impl<S> FromRequestParts<S> for EnrollingUser
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        claims_of(parts, state).map(EnrollingUser)
    }
}

/// The caller when there is one: anonymous requests are allowed, bad tokens are not.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<Arc<Claims>>);

impl<S> FromRequestParts<S> for MaybeUser
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if bearer(&parts.headers).is_none() && parts.extensions.get::<VerifiedClaims>().is_none() {
            return Ok(MaybeUser(None));
        }
        AuthUser::from_request_parts(parts, state)
            .await
            .map(|u| MaybeUser(Some(u.0)))
    }
}

/// A role an endpoint requires.
pub trait RequiredRole: Send + Sync {
    const ROLE: Role;
}

pub struct Admin;
impl RequiredRole for Admin {
    const ROLE: Role = Role::Admin;
}

pub struct Moderator;
impl RequiredRole for Moderator {
    const ROLE: Role = Role::Moderator;
}

/// The authenticated caller holding role `R`; 401 without a token, 403 without the role.
pub struct RequireRole<R: RequiredRole>(pub AuthUser, pub PhantomData<R>);

impl<S, R> FromRequestParts<S> for RequireRole<R>
where
    S: Send + Sync,
    R: RequiredRole,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if !user.0.has_role(R::ROLE) {
            return Err(ApiError::Forbidden(
                format!("this needs the {:?} role", R::ROLE).to_lowercase(),
            ));
        }
        Ok(RequireRole(user, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let keys = KeyPair::generate();
        let issuer = TokenIssuer::new(&keys, "demo", 900).unwrap();
        let verifier = TokenVerifier::new(&keys.public_pem, "demo").unwrap();
        let token = issuer.issue("acc", vec![Role::User], "sid").unwrap();
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(claims.sub, "acc");
        assert_eq!(claims.roles, vec![Role::User]);

        let mut tampered = token.clone().into_bytes();
        let i = tampered.len() - 5;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        assert!(
            verifier
                .verify(std::str::from_utf8(&tampered).unwrap())
                .is_err()
        );

        let other_platform = TokenVerifier::new(&keys.public_pem, "other").unwrap();
        assert!(other_platform.verify(&token).is_err());
        let other_keys = TokenVerifier::new(&KeyPair::generate().public_pem, "demo").unwrap();
        assert!(other_keys.verify(&token).is_err());
    }

    #[test]
    fn a_cached_token_still_expires() {
        let keys = KeyPair::generate();
        let verifier = TokenVerifier::new(&keys.public_pem, "demo").unwrap();
        let issuer = TokenIssuer::new(&keys, "demo", 900).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
        let expired = Claims {
            sub: "acc".into(),
            iss: "demo".into(),
            aud: AUDIENCE.into(),
            roles: vec![Role::User],
            sid: "sid".into(),
            iat: now - 1_000,
            nbf: now - 1_000,
            exp: now - 100,
            jti: "j".into(),
            enrol_mfa: false,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(issuer.kid.clone());
        let token = jsonwebtoken::encode(&header, &expired, &issuer.encoding).unwrap();
        // As if it had been verified while it was still valid.
        verifier.verified.insert(token.clone(), Arc::new(expired));
        assert!(verifier.verify(&token).is_err());
        assert!(
            verifier.verified.get(&token).is_none(),
            "the stale entry is dropped"
        );
    }

    #[test]
    fn a_revoked_session_is_refused_until_its_tokens_expire_anyway() {
        let keys = KeyPair::generate();
        let issuer = TokenIssuer::new(&keys, "demo", 900).unwrap();
        let verifier = TokenVerifier::new(&keys.public_pem, "demo").unwrap();
        let ended = issuer.issue("acc", vec![Role::User], "s1").unwrap();
        let other = issuer.issue("acc", vec![Role::User], "s2").unwrap();
        verifier.verify(&ended).unwrap(); // now in the cache
        verifier.revoke(&SessionsRevoked::now("acc", vec!["s1".into()]));
        assert!(
            verifier.verify(&ended).is_err(),
            "the cache does not bypass it"
        );
        verifier.verify(&other).unwrap();
        // A revocation whose tokens have all expired is forgotten at the next one.
        let mut stale = SessionsRevoked::now("acc", vec!["s3".into()]);
        stale.until = unix_now() - 1;
        verifier.revoke(&stale);
        assert_eq!(verifier.revoked_sessions(), 1);
    }

    #[test]
    fn the_dev_key_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let created = KeyPair::load_or_create(dir.path()).unwrap();
        let path = dir.path().join("jwt-ed25519.pem");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        // One written world-readable by an older version is tightened when read.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = KeyPair::load_or_create(dir.path()).unwrap();
        assert_eq!(again.public_pem, created.public_pem);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn private_pem_round_trips() {
        let keys = KeyPair::generate();
        let again = KeyPair::from_private_pem(&keys.private_pem).unwrap();
        assert_eq!(again.public_pem, keys.public_pem);
    }
}
