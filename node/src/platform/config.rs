//! The configuration: one clap struct per concern, each flag with its `AGORA_*` variable.
//! Doc comments are the `--help` text. Everything is validated once, at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::bus::StreamSettings;
use super::tokens::KeyPair;

/// Where a process keeps its data and who it is.
#[derive(Debug, Clone, Args)]
pub struct PlatformArgs {
    /// Name of the platform (tenant): token issuer and default subject prefix.
    /// Lower-case letters, digits and `-`, at most 63 characters.
    #[arg(long, env = "AGORA_PLATFORM", default_value = "dev", value_parser = parse_platform_name)]
    pub platform: String,
    /// Directory holding one sled database per context.
    #[arg(long, env = "AGORA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Seconds between e-mail digests of unread notifications (the notifications context;
    /// only kinds a user turned `email` on are counted).
    #[arg(long, env = "AGORA_DIGEST_INTERVAL_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub digest_interval_secs: u64,
    /// Memory budget of the process, in MiB: sled's page caches get a quarter of it,
    /// shared by the stores. Default: the cgroup's memory limit (the container's), else
    /// 1024.
    #[arg(long, env = "AGORA_MEMORY_MIB", value_parser = clap::value_parser!(u64).range(64..))]
    pub memory_mib: Option<u64>,
    /// Words or phrases no post or comment may contain, comma-separated (the moderation
    /// context makes them `block` keyword rules that only this setting changes; from
    /// `spec.moderation.blockedKeywords`).
    #[arg(long, env = "AGORA_BLOCKED_KEYWORDS", value_delimiter = ',')]
    pub blocked_keywords: Vec<String>,
    /// Whether the feed and posts publish which posts signed-in readers were shown or
    /// opened (batched `PostsSeen`/`PostsOpened` events), from which analytics counts
    /// impressions and reach. Off: no view is recorded anywhere.
    #[arg(long, env = "AGORA_RECORD_VIEWS", default_value_t = true, action = clap::ArgAction::Set)]
    pub record_views: bool,
    /// Keep search's Tantivy index in memory only, built at start from search's (sealed)
    /// documents, so nothing of it reaches the disk, not even sealed; it costs the index's
    /// size in memory and a refill at every start. Off: the index lives in
    /// `<data-dir>/search-index/`, its files sealed with the platform's key.
    #[arg(long, env = "AGORA_SEARCH_INDEX_IN_MEMORY", default_value_t = false, action = clap::ArgAction::Set)]
    pub search_index_in_memory: bool,
    /// A secret that lets callers other than loopback use the operations routes (`/ops/`:
    /// rebuilds) as `Authorization: Bearer <token>`; the operator generates it once in the
    /// platform's `<p>-control` Secret. Without it, only loopback may.
    #[arg(long, env = "AGORA_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// The platform's key (base64 of 32 bytes, or a path to a file holding it), which wraps
    /// every person's key of sealed event fields in the bus's key bucket. The same in every
    /// process of a platform; the operator keeps it in the `<p>-encryption` Secret; `dev`
    /// makes one in its data directory (`encryption.key`).
    #[arg(long, env = "AGORA_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
}

/// The platform key: `given` (`AGORA_ENCRYPTION_KEY`), else the one in `data_dir`
/// (`encryption.key`, made there when `create`), else none.
pub fn platform_key(
    given: Option<&str>,
    data_dir: &std::path::Path,
    create: bool,
) -> anyhow::Result<Option<super::keyring::PlatformKey>> {
    use super::keyring::PlatformKey;
    match given {
        Some(value) => Ok(Some(PlatformKey::from_setting(value)?)),
        None if create || data_dir.join("encryption.key").exists() => {
            Ok(Some(PlatformKey::load_or_create(data_dir)?))
        }
        None => Ok(None),
    }
}

/// The event bus.
/// Replicas of the contexts a `serve` process runs (docs/architecture.md, "Replicas").
#[derive(Debug, Clone, Args)]
pub struct ReplicationArgs {
    /// Run each context as one of its replicas: a lease on the bus chooses the one that
    /// writes, the others apply its change stream and serve reads. Every replica of a
    /// context sets it (and none without it shares its data).
    #[arg(long, env = "AGORA_REPLICATED", default_value_t = false)]
    pub replicated: bool,
    /// How long a writer's lease lasts without renewal, in seconds: the bound on the time
    /// a context takes no writes after its writer died.
    #[arg(long, env = "AGORA_LEASE_TTL_SECS", default_value_t = DEFAULT_LEASE_TTL_SECS, value_parser = clap::value_parser!(u64).range(2..=60))]
    pub lease_ttl_secs: u64,
    /// This replica's base URL as others reach it (the pod's stable name): the lease
    /// carries it, so writes can be sent to the writer.
    #[arg(long, env = "AGORA_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
}

/// The default of `AGORA_LEASE_TTL_SECS`.
pub const DEFAULT_LEASE_TTL_SECS: u64 = 6;

/// What replicated contexts need of [`ReplicationArgs`].
#[derive(Debug, Clone)]
pub struct Replication {
    pub lease_ttl: std::time::Duration,
    pub url: Option<String>,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            lease_ttl: std::time::Duration::from_secs(DEFAULT_LEASE_TTL_SECS),
            url: None,
        }
    }
}

impl ReplicationArgs {
    /// `None` unless `--replicated`.
    pub fn settings(&self) -> Option<Replication> {
        self.replicated.then(|| Replication {
            lease_ttl: std::time::Duration::from_secs(self.lease_ttl_secs),
            url: self.advertise_url.clone(),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct BusArgs {
    /// NATS server URL (JetStream enabled).
    #[arg(long, env = "AGORA_NATS_URL")]
    pub nats_url: Option<String>,
    /// Path of a NATS credentials file.
    #[arg(long, env = "AGORA_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate (PEM file) a `tls://` NATS server is checked against, instead of the
    /// system's roots (the managed bus: the platform's CA).
    #[arg(long, env = "AGORA_NATS_CA")]
    pub nats_ca: Option<PathBuf>,
    /// Subject prefix of this platform's events (default: the platform name).
    #[arg(long, env = "AGORA_SUBJECT_PREFIX", value_parser = parse_subject_token)]
    pub subject_prefix: Option<String>,
    /// Replicas of the event stream: 1, 3 or 5 (the NATS cluster's size).
    #[arg(long, env = "AGORA_STREAM_REPLICAS", default_value_t = 1, value_parser = parse_replicas)]
    pub stream_replicas: usize,
    /// How long the stream keeps events, in days; 0 keeps them forever (the audit log).
    #[arg(long, env = "AGORA_STREAM_MAX_AGE_DAYS", default_value_t = 0)]
    pub stream_max_age_days: u64,
}

impl BusArgs {
    pub fn stream_settings(&self, platform: &str) -> StreamSettings {
        StreamSettings {
            prefix: self
                .subject_prefix
                .clone()
                .unwrap_or_else(|| platform.to_string()),
            replicas: self.stream_replicas,
            max_age: Duration::from_secs(self.stream_max_age_days * 86_400),
        }
    }
}

/// The signing keys of access tokens. A value is PEM text, or a path to a PEM file.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// Ed25519 public key (SPKI PEM) that verifies access tokens.
    #[arg(long, env = "AGORA_JWT_PUBLIC_KEY", hide_env_values = true)]
    pub jwt_public_key: Option<String>,
    /// Ed25519 private key (PKCS#8 PEM) that signs access tokens; auth only.
    #[arg(long, env = "AGORA_JWT_PRIVATE_KEY", hide_env_values = true)]
    pub jwt_private_key: Option<String>,
}

impl KeyArgs {
    /// The key pair when a private key is configured.
    pub fn key_pair(&self) -> anyhow::Result<Option<KeyPair>> {
        match &self.jwt_private_key {
            Some(value) => Ok(Some(KeyPair::from_private_pem(&pem_or_file(
                value,
                "AGORA_JWT_PRIVATE_KEY",
            )?)?)),
            None => Ok(None),
        }
    }

    /// The public key: configured, or derived from the private key.
    pub fn public_pem(&self) -> anyhow::Result<String> {
        if let Some(value) = &self.jwt_public_key {
            return pem_or_file(value, "AGORA_JWT_PUBLIC_KEY");
        }
        match self.key_pair()? {
            Some(pair) => Ok(pair.public_pem),
            None => anyhow::bail!("AGORA_JWT_PUBLIC_KEY is required to verify access tokens"),
        }
    }
}

fn pem_or_file(value: &str, name: &str) -> anyhow::Result<String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.to_string());
    }
    std::fs::read_to_string(value).map_err(|e| anyhow::anyhow!("{name}: cannot read {value}: {e}"))
}

/// Uploaded media: the limits (the media context) and the key that signs media URLs (the
/// media context, and every context that shows media).
#[derive(Debug, Clone, Args)]
pub struct MediaArgs {
    /// Largest upload, in MiB (`spec.media.maxUploadMiB`).
    #[arg(long, env = "AGORA_MEDIA_MAX_UPLOAD_MIB", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub media_max_upload_mib: u64,
    /// Bytes of media each user may keep, in MiB (`spec.media.quotaPerUserMiB`).
    #[arg(long, env = "AGORA_MEDIA_QUOTA_MIB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub media_quota_mib: u64,
    /// The key that signs media URLs: base64 of at least 32 random bytes, or a path to a
    /// file holding it. The same on every process of a platform; `dev` makes one in its data
    /// directory (`media-url.key`).
    #[arg(long, env = "AGORA_MEDIA_URL_KEY", hide_env_values = true)]
    pub media_url_key: Option<String>,
}

/// The limits of uploads, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLimits {
    pub max_upload_bytes: u64,
    pub quota_bytes: u64,
}

impl MediaLimits {
    /// Room for the multipart framing and the alt text around the file.
    pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;

    /// The largest request body an upload may send: the file and its multipart framing.
    pub fn upload_body_bytes(&self) -> u64 {
        self.max_upload_bytes + Self::MULTIPART_OVERHEAD
    }
}

impl MediaArgs {
    pub fn limits(&self) -> MediaLimits {
        MediaLimits {
            max_upload_bytes: self.media_max_upload_mib * 1024 * 1024,
            quota_bytes: self.media_quota_mib * 1024 * 1024,
        }
    }

    /// The URL key when one is configured.
    pub fn urls(&self) -> anyhow::Result<Option<super::media_urls::MediaUrls>> {
        self.media_url_key
            .as_deref()
            .map(super::media_urls::MediaUrls::from_setting)
            .transpose()
    }
}

/// Limits at the public edge.
#[derive(Debug, Clone, Args)]
pub struct EdgeArgs {
    /// Requests per second allowed from one client IP (burst: twice as many).
    #[arg(long, env = "AGORA_RATE_LIMIT_IP", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_ip: u32,
    /// Requests per second allowed for one authenticated user (burst: twice as many).
    #[arg(long, env = "AGORA_RATE_LIMIT_USER", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_user: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "AGORA_MAX_BODY_BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1024..=(64 * 1024 * 1024)))]
    pub max_body_bytes: u64,
    /// A second listener serving only `/metrics`, for Prometheus in a cluster. The public
    /// listener answers `/metrics` to loopback clients only.
    #[arg(long, env = "AGORA_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

/// The HTTP listener.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Address the HTTP server listens on.
    #[arg(long, env = "AGORA_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
}

pub fn parse_platform_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    ok.then(|| s.to_string()).ok_or_else(|| {
        "must be 1-63 lower-case letters, digits or '-', not starting or ending with '-'".into()
    })
}

fn parse_subject_token(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| s.to_string())
        .ok_or_else(|| "must be letters, digits, '-' or '_' (one NATS subject token)".into())
}

fn parse_replicas(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ (1 | 3 | 5)) => Ok(n),
        _ => Err("must be 1, 3 or 5".into()),
    }
}

impl AuthArgs {
    /// The SMTP mailer when `AGORA_SMTP_URL` is set, else `fallback`.
    pub fn mailer(&self, fallback: super::mail::Mailer) -> anyhow::Result<super::mail::Mailer> {
        match &self.smtp_url {
            Some(url) => super::mail::Mailer::smtp(url, &self.mail_from),
            None => Ok(fallback),
        }
    }
}

/// Who may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Registration {
    /// Anyone.
    Open,
    /// Whoever holds a valid invitation (`POST /auth/invitations`).
    Invite,
    /// Nobody.
    Closed,
}

/// Who may create invitations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InvitationsBy {
    /// Every verified account.
    Users,
    /// Admins only.
    Admins,
}

/// Settings of the auth context (see docs/configuration.md).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Lifetime of access tokens, in seconds (at most an hour: see `MAX_TOKEN_LIFETIME_SECS`).
    #[arg(long, env = "AGORA_ACCESS_TOKEN_TTL_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(30..=3_600))]
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, in seconds.
    #[arg(long, env = "AGORA_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 86_400, value_parser = clap::value_parser!(u64).range(60..=31_536_000))]
    pub refresh_token_ttl_secs: u64,
    /// Who may register: anyone (`open`), holders of an invitation (`invite`), nobody
    /// (`closed`).
    #[arg(long, env = "AGORA_REGISTRATION", value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,
    /// Who may create invitations: every account (`users`) or only admins (`admins`).
    #[arg(long, env = "AGORA_INVITATIONS_BY", value_enum, default_value_t = InvitationsBy::Users)]
    pub invitations_by: InvitationsBy,
    /// E-mail addresses whose accounts get the admin role at registration (comma list):
    /// how the first admin is made.
    #[arg(long, env = "AGORA_ADMIN_EMAILS", value_delimiter = ',')]
    pub admin_emails: Vec<String>,
    /// Attempts at one account's credentials from one client address per minute (new
    /// networks also share a per-account budget of three times this).
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
    /// Logins, MFA challenges, password resets and verification resends per client IP per
    /// minute.
    #[arg(long, env = "AGORA_LOGIN_ATTEMPTS_PER_IP", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_attempts_per_ip: u32,
    /// Hours between `DELETE /users/me` and the erasure, during which logging in cancels
    /// it (0: erased at once).
    #[arg(long, env = "AGORA_ERASURE_GRACE_HOURS", default_value_t = 720, value_parser = clap::value_parser!(u64).range(0..=8_760))]
    pub erasure_grace_hours: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(parse_platform_name("demo-1").is_ok());
        assert!(parse_platform_name("Demo").is_err());
        assert!(parse_platform_name("-x").is_err());
        assert!(parse_subject_token("a.b").is_err());
        assert_eq!(parse_replicas("3"), Ok(3));
        assert!(parse_replicas("2").is_err());
    }
}
