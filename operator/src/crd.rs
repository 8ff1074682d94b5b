//! The `SocialPlatform` resource (`agora.dev/v1alpha1`): the Rust types are the source of
//! the CRD in `crds/` (`agora-operator crd` prints it; a test fails when they differ).
//! Doc comments become the schema's descriptions, so `kubectl explain` shows them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

mod backup;
mod monitoring;
mod tls;

pub use backup::{
    BackupSpec, BackupStatus, BackupTarget, RestoreSpec, Retention, S3Target, VolumeTarget,
};
pub use monitoring::{AlertThresholds, MonitoringSpec};
pub use tls::TlsSpec;

/// The bounded contexts an `agora-node` image of this version can run, in rollout order.
pub const CONTEXTS: &[&str] = &[
    "auth",
    "users",
    "groups",
    "posts",
    "feed",
    "messages",
    "media",
    "search",
    "notifications",
    "moderation",
    "analytics",
];

/// A complete, isolated social network for one tenant.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "agora.dev",
    version = "v1alpha1",
    kind = "SocialPlatform",
    plural = "socialplatforms",
    shortname = "sp",
    category = "agora",
    namespaced,
    status = "SocialPlatformStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Contexts","type":"string","description":"contexts ready of total","jsonPath":".status.contextsReady"}"#,
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".status.gatewayEndpoint"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.restoreFrom) || (has(oldSelf.restoreFrom) && self.restoreFrom == oldSelf.restoreFrom)").message("restoreFrom is set when a platform is created and cannot change: restore into a new platform"))]
pub struct SocialPlatformSpec {
    /// Container image of `agora-node` (every context and the gateway run it).
    #[serde(default = "default_image")]
    #[x_kube(validation = Rule::new("self != ''").message("image must not be empty"))]
    pub image: String,
    /// `Distributed`: a StatefulSet per context (the default). `Compact`: one StatefulSet
    /// running every context, for small tenants.
    #[serde(default)]
    pub topology: Topology,
    /// Replicas, resources and storage of the contexts.
    #[serde(default)]
    pub contexts: ContextsSpec,
    /// The public edge.
    #[serde(default)]
    pub gateway: GatewaySpec,
    /// The NATS JetStream bus carrying every domain event.
    #[serde(default)]
    pub event_bus: EventBusSpec,
    /// Accounts and sign-in.
    #[serde(default)]
    pub auth: AuthPolicy,
    /// Uploaded media limits.
    #[serde(default)]
    pub media: MediaSpec,
    /// Search's index.
    #[serde(default)]
    pub search: SearchSpec,
    /// Platform-wide moderation rules.
    #[serde(default)]
    pub moderation: ModerationSpec,
    /// Prometheus Operator monitors and alerts, a Grafana dashboard, scrape access.
    #[serde(default)]
    pub monitoring: MonitoringSpec,
    /// TLS between the platform's parts, with certificates the operator issues.
    #[serde(default)]
    pub tls: TlsSpec,
    /// What happens to the platform's data (volume claims) when the resource is deleted.
    #[serde(default)]
    pub data_policy: DataPolicy,
    /// Stops reconciling: the operator changes nothing while true (shown as the
    /// `Paused` condition). The annotation `agora.dev/paused: "true"` does the same.
    #[serde(default)]
    pub paused: bool,
    /// Scales every context, the gateway and the managed bus to zero pods and keeps every
    /// volume; `false` wakes the platform with all its data (the `Hibernated` condition
    /// says when it sleeps). The bus goes last, once no context runs.
    #[serde(default)]
    pub hibernate: bool,
    /// Scheduled backups of every context to a volume or S3-compatible storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSpec>,
    /// Creates this platform from a backup (of this platform or another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<RestoreSpec>,
}

fn default_image() -> String {
    "ghcr.io/agora-dev/agora-node:0.1.0".into()
}

#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum Topology {
    #[default]
    Distributed,
    Compact,
}

#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DataPolicy {
    /// Volume claims stay after the platform is deleted (the default): data is never lost
    /// by accident.
    #[default]
    Retain,
    /// Volume claims are deleted with the platform.
    Delete,
}

/// Size and class of a volume.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Requested size, a Kubernetes quantity (`1Gi`, `500Mi`).
    #[serde(default = "default_storage_size")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(\\\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$')").message("size must be a quantity such as 1Gi"))]
    pub size: String,
    /// StorageClass; the cluster default when absent. Cannot change once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
}

fn default_storage_size() -> String {
    "1Gi".into()
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            size: default_storage_size(),
            class_name: None,
        }
    }
}

/// Settings of every context, with per-context overrides.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.overrides.all(k, k in ['auth', 'users', 'groups', 'posts', 'feed', 'messages', 'media', 'search', 'notifications', 'moderation', 'analytics'])").message("overrides may name only known contexts: auth, users, groups, posts, feed, messages, media, search, notifications, moderation, analytics"))]
pub struct ContextsSpec {
    /// Applied to every context unless overridden.
    #[serde(default)]
    pub defaults: ContextSettings,
    /// Per context (`auth`, `users`, `groups`, `posts`, `feed`, `messages`, `media`, `search`, `notifications`, `moderation`, `analytics`): fields set here win over `defaults`.
    #[serde(default)]
    pub overrides: BTreeMap<String, ContextOverride>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextSettings {
    /// Pods per context (each has its own volume).
    #[serde(default = "one")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 20").message("replicas must be between 1 and 20"))]
    pub replicas: i32,
    /// CPU and memory requests and limits.
    #[serde(default = "default_context_resources")]
    pub resources: ResourceRequirements,
    /// The volume of each pod.
    #[serde(default)]
    pub storage: StorageSpec,
}

fn one() -> i32 {
    1
}

fn quantities(
    pairs: &[(&str, &str)],
) -> BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                k8s_openapi::apimachinery::pkg::api::resource::Quantity(v.to_string()),
            )
        })
        .collect()
}

fn default_context_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantities(&[("cpu", "100m"), ("memory", "128Mi")])),
        limits: Some(quantities(&[("memory", "512Mi")])),
        ..Default::default()
    }
}

impl Default for ContextSettings {
    fn default() -> Self {
        ContextSettings {
            replicas: 1,
            resources: default_context_resources(),
            storage: StorageSpec::default(),
        }
    }
}

/// Overrides of one context; absent fields come from `defaults`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 20").message("replicas must be between 1 and 20"))]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
}

#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    #[serde(default = "two")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 50").message("replicas must be between 1 and 50"))]
    pub replicas: i32,
    /// Type of the gateway's Service.
    #[serde(default)]
    pub service_type: ServiceType,
    /// An Ingress for the gateway, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// A HorizontalPodAutoscaler on CPU, when set (`replicas` is then its minimum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
    /// Requests per second from one client IP.
    #[serde(default = "default_rate_ip")]
    #[x_kube(validation = Rule::new("self >= 1").message("rateLimitPerIp must be at least 1"))]
    pub rate_limit_per_ip: i32,
    /// Requests per second for one signed-in user.
    #[serde(default = "default_rate_user")]
    #[x_kube(validation = Rule::new("self >= 1").message("rateLimitPerUser must be at least 1"))]
    pub rate_limit_per_user: i32,
    #[serde(default = "default_gateway_resources")]
    pub resources: ResourceRequirements,
}

fn two() -> i32 {
    2
}
fn default_rate_ip() -> i32 {
    200
}
fn default_rate_user() -> i32 {
    100
}
fn default_gateway_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantities(&[("cpu", "100m"), ("memory", "64Mi")])),
        limits: Some(quantities(&[("memory", "256Mi")])),
        ..Default::default()
    }
}

impl Default for GatewaySpec {
    fn default() -> Self {
        GatewaySpec {
            replicas: 2,
            service_type: ServiceType::ClusterIP,
            ingress: None,
            autoscaling: None,
            rate_limit_per_ip: default_rate_ip(),
            rate_limit_per_user: default_rate_user(),
            resources: default_gateway_resources(),
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host name the Ingress serves.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("host must be a DNS name"))]
    pub host: String,
    /// IngressClass; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Secret holding the TLS certificate for `host`; no TLS when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.maxReplicas >= self.minReplicas").message("maxReplicas must be at least minReplicas"))]
pub struct AutoscalingSpec {
    #[serde(default = "two")]
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// Average CPU utilisation to aim at, in percent of the request.
    #[serde(default = "default_cpu_target")]
    #[x_kube(validation = Rule::new("self >= 10 && self <= 100").message("targetCpuPercent must be 10 to 100"))]
    pub target_cpu_percent: i32,
}

fn default_cpu_target() -> i32 {
    70
}

/// The event bus: a NATS JetStream cluster the operator runs (`managed`, the default) or an
/// existing one (`external`). Exactly one of them.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.managed) && has(self.external))").message("eventBus takes either managed or external, not both"))]
pub struct EventBusSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedNats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalNats>,
    /// How long the stream keeps events, in days; 0 keeps them forever (the audit log).
    #[serde(default)]
    #[x_kube(validation = Rule::new("self >= 0").message("streamMaxAgeDays must not be negative"))]
    pub stream_max_age_days: i32,
}

impl Default for EventBusSpec {
    fn default() -> Self {
        EventBusSpec {
            managed: Some(ManagedNats::default()),
            external: None,
            stream_max_age_days: 0,
        }
    }
}

impl EventBusSpec {
    /// The managed bus, unless an external one is configured.
    pub fn managed(&self) -> Option<ManagedNats> {
        match (&self.managed, &self.external) {
            (_, Some(_)) => None,
            (Some(m), None) => Some(m.clone()),
            (None, None) => Some(ManagedNats::default()),
        }
    }
}

/// A NATS JetStream StatefulSet run by the operator. One replica survives a process crash
/// (JetStream acknowledges before fsync); three or five survive the loss of a node.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.replicas in [1, 3, 5]").message("NATS replicas must be 1, 3 or 5 (a Raft quorum)"))]
pub struct ManagedNats {
    #[serde(default = "one")]
    pub replicas: i32,
    /// The official `nats` image; 2.12 or newer.
    #[serde(default = "default_nats_image")]
    pub image: String,
    /// The JetStream file store of each server: the event and change streams, exports,
    /// and, when media has replicas or point-in-time backups, every media file. The class
    /// cannot change once set.
    #[serde(default)]
    #[x_kube(validation = Rule::new("!has(oldSelf.className) || (has(self.className) && self.className == oldSelf.className)").message("the storage class of the bus cannot change"))]
    pub storage: StorageSpec,
    #[serde(default = "default_nats_resources")]
    pub resources: ResourceRequirements,
}

fn default_nats_image() -> String {
    "nats:2.12-alpine".into()
}
fn default_nats_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantities(&[("cpu", "100m"), ("memory", "128Mi")])),
        limits: Some(quantities(&[("memory", "1Gi")])),
        ..Default::default()
    }
}

impl Default for ManagedNats {
    fn default() -> Self {
        ManagedNats {
            replicas: 1,
            image: default_nats_image(),
            storage: StorageSpec::default(),
            resources: default_nats_resources(),
        }
    }
}

/// An existing NATS server or cluster (JetStream enabled, 2.12 or newer).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalNats {
    /// `nats://host:4222` (several comma-separated).
    #[x_kube(validation = Rule::new("self.startsWith('nats://') || self.startsWith('tls://')").message("url must start with nats:// or tls://"))]
    pub url: String,
    /// Secret with a `nats.creds` key holding the credentials file, if the server needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// Stream replicas: the external cluster's size.
    #[serde(default = "one")]
    #[x_kube(validation = Rule::new("self in [1, 3, 5]").message("streamReplicas must be 1, 3 or 5"))]
    pub stream_replicas: i32,
}

#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum RegistrationMode {
    #[default]
    Open,
    Invite,
    Closed,
}

/// Who may create invitations where registration is `Invite`.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum InvitationsBy {
    /// Every account.
    #[default]
    Users,
    /// Admins only.
    Admins,
}

#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum MfaPolicy {
    #[default]
    Optional,
    Required,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthPolicy {
    #[serde(default = "default_access_ttl")]
    #[x_kube(validation = Rule::new("self >= 30 && self <= 3600").message("accessTokenTtlSeconds must be 30 to 3600"))]
    pub access_token_ttl_seconds: i32,
    #[serde(default = "default_refresh_ttl")]
    #[x_kube(validation = Rule::new("self >= 60 && self <= 31536000").message("refreshTokenTtlSeconds must be 60 to 31536000"))]
    pub refresh_token_ttl_seconds: i32,
    /// Who may register: anyone (`Open`), holders of a valid invitation (`Invite`; the
    /// `adminEmails` register without one), nobody (`Closed`).
    #[serde(default)]
    pub registration: RegistrationMode,
    /// Who may create invitations: every account (`Users`) or admins only (`Admins`).
    #[serde(default)]
    pub invitations_by: InvitationsBy,
    /// Whether every account must enrol TOTP (`Required`: accounts without it get tokens
    /// that only allow enrolling).
    #[serde(default)]
    pub mfa: MfaPolicy,
    /// E-mail addresses whose accounts become admins when they register.
    #[serde(default)]
    pub admin_emails: Vec<String>,
    /// Secret with keys `url` (`smtp://…`/`smtps://…`) and optionally `from`; mail is only
    /// logged without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_secret: Option<String>,
    /// Days between an account's deletion (`DELETE /users/me`) and its erasure, during
    /// which logging in cancels it (0: erased at once).
    #[serde(default = "default_erasure_grace_days")]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 365").message("erasureGraceDays must be 0 to 365"))]
    pub erasure_grace_days: i32,
}

fn default_erasure_grace_days() -> i32 {
    30
}

fn default_access_ttl() -> i32 {
    900
}
fn default_refresh_ttl() -> i32 {
    2_592_000
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            access_token_ttl_seconds: default_access_ttl(),
            refresh_token_ttl_seconds: default_refresh_ttl(),
            registration: RegistrationMode::Open,
            invitations_by: InvitationsBy::Users,
            mfa: MfaPolicy::Optional,
            admin_emails: Vec::new(),
            smtp_secret: None,
            erasure_grace_days: default_erasure_grace_days(),
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchSpec {
    /// Keep the Tantivy index in memory only, filled from search's sealed documents at
    /// every start, so nothing of it reaches the volume, not even sealed with the
    /// platform's key as its files are by default (`AGORA_SEARCH_INDEX_IN_MEMORY`). Costs the index's size in the search pod's memory
    /// (give it room in `contexts.overrides`' resources) and a refill at each start.
    #[serde(default)]
    pub index_in_memory: bool,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaSpec {
    /// Largest upload, in MiB.
    #[serde(default = "default_upload_mib")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 1024").message("maxUploadMiB must be 1 to 1024"))]
    pub max_upload_mib: i32,
    /// Storage quota per user, in MiB.
    #[serde(default = "default_quota_mib")]
    #[x_kube(validation = Rule::new("self >= 1").message("quotaPerUserMiB must be at least 1"))]
    pub quota_per_user_mib: i32,
}

fn default_upload_mib() -> i32 {
    10
}
fn default_quota_mib() -> i32 {
    1024
}

impl Default for MediaSpec {
    fn default() -> Self {
        MediaSpec {
            max_upload_mib: default_upload_mib(),
            quota_per_user_mib: default_quota_mib(),
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.blockedKeywords.all(k, size(k) >= 2 && size(k) <= 100 && !k.contains(','))").message("each blocked keyword is 2 to 100 characters, without commas"))]
pub struct ModerationSpec {
    /// Words or phrases no post or comment may contain (refused with a 422 naming the
    /// rule), matched whatever their case, accents, look-alike letters, leetspeak or
    /// separators. Admins add more, and `flag` rules, through the API. At most 1,000.
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub blocked_keywords: Vec<String>,
}

/// What the operator observed. Written only when it changed.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocialPlatformStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing`, `Degraded`, `EventBusReady`, `Paused` and one
    /// `<Context>Ready` per context.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Per context: ready replicas and the image they run.
    #[serde(default)]
    pub contexts: BTreeMap<String, ContextStatus>,
    /// Contexts ready of total, e.g. `2/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contexts_ready: Option<String>,
    /// Where clients reach the API (`https://host` with an Ingress, else the Service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_endpoint: Option<String>,
    /// The last rebuild asked for with the `agora.dev/rebuild` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<RebuildStatus>,
    /// The scheduled backups, when `spec.backup` asks for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupStatus>,
}

/// Progress of a rebuild of contexts' projections, one pod at a time.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebuildStatus {
    /// The annotation's value this is about.
    pub request: String,
    /// `Running`, `Succeeded` or `Failed`.
    pub phase: String,
    /// What is happening, or why it failed.
    pub message: String,
    /// The pods done so far, in order.
    #[serde(default)]
    pub pods: Vec<RebuiltPod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

/// One context rebuilt in one pod.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebuiltPod {
    pub pod: String,
    pub context: String,
    /// Events the pod replayed.
    pub events: i64,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextStatus {
    pub ready_replicas: i32,
    pub replicas: i32,
    pub image: String,
    /// The pod that writes, for a replicated context (as its pods say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// Each pod of a replicated context: its role and how far it is behind the writer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replica_pods: Vec<ReplicaPod>,
}

/// One pod of a replicated context, as it said over the control channel.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaPod {
    pub pod: String,
    /// `writer`, `follower` or `stopped`.
    pub role: String,
    /// The last change (LSN) it holds.
    pub lsn: u64,
    /// Changes it lacks of what the writer holds.
    pub behind: u64,
    /// It missed part of the change stream: not ready until its volume is emptied.
    #[serde(default)]
    pub needs_copy: bool,
}

impl SocialPlatformSpec {
    /// The effective settings of one context: its overrides over the defaults.
    pub fn context(&self, name: &str) -> ContextSettings {
        let d = &self.contexts.defaults;
        match self.contexts.overrides.get(name) {
            None => d.clone(),
            Some(o) => ContextSettings {
                replicas: o.replicas.unwrap_or(d.replicas),
                resources: o.resources.clone().unwrap_or_else(|| d.resources.clone()),
                storage: o.storage.clone().unwrap_or_else(|| d.storage.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;

    use super::*;

    /// `crds/` holds the generated CRD; this fails when it drifts from the types.
    /// Regenerate: `cargo run -p agora-operator -- crd > crds/socialplatforms.agora.dev.yaml`.
    #[test]
    fn committed_crd_matches_the_types() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crds/socialplatforms.agora.dev.yaml"
        );
        let generated = crate::crd_yaml();
        if std::env::var_os("AGORA_WRITE_CRD").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "crds/ is stale: run AGORA_WRITE_CRD=1 cargo test -p agora-operator crd"
        );
    }

    #[test]
    fn crd_names_and_columns() {
        let crd = SocialPlatform::crd();
        assert_eq!(crd.spec.names.short_names, Some(vec!["sp".to_string()]));
        assert_eq!(crd.spec.names.categories, Some(vec!["agora".to_string()]));
        let columns = crd.spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap();
        let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Ready", "Contexts", "Endpoint", "Age"]);
        let yaml = crate::crd_yaml();
        assert!(yaml.contains("self.replicas in [1, 3, 5]"));
        assert!(yaml.contains("oldSelf"));
    }

    /// The operator deploys exactly the contexts the node can run.
    #[test]
    fn contexts_match_the_node() {
        // The node's one list: `Context::name` in node/src/platform/context.rs.
        let source = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../node/src/platform/context.rs"
        ))
        .unwrap();
        let node: Vec<&str> = source
            .lines()
            .filter(|l| l.trim_start().starts_with("Context::") && l.contains("=> \""))
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        assert_eq!(node, CONTEXTS);
        let yaml = crate::crd_yaml();
        for c in CONTEXTS {
            assert!(
                yaml.contains(&format!("'{c}'")),
                "the overrides rule must allow {c}"
            );
        }
    }

    #[test]
    fn an_empty_spec_gets_every_default() {
        let spec: SocialPlatformSpec = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(spec.topology, Topology::Distributed);
        assert_eq!(spec.event_bus.managed().unwrap().replicas, 1);
        assert_eq!(spec.gateway.replicas, 2);
        assert_eq!(spec.data_policy, DataPolicy::Retain);
        assert_eq!(spec.context("users").replicas, 1);
    }

    #[test]
    fn overrides_win_over_defaults() {
        let spec: SocialPlatformSpec = serde_json::from_value(serde_json::json!({
            "contexts": {"defaults": {"replicas": 2}, "overrides": {"auth": {"replicas": 3}}}
        }))
        .unwrap();
        assert_eq!(spec.context("auth").replicas, 3);
        assert_eq!(spec.context("users").replicas, 2);
        assert_eq!(spec.context("auth").storage.size, "1Gi");
    }
}
