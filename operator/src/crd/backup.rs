//! `spec.backup`, `spec.restoreFrom` and `status.backup`: scheduled backups of every
//! context's store (and media's files) to a volume or S3-compatible storage, and a new
//! platform made from one.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Scheduled backups: a CronJob runs `agora-node backup`, which takes each context's
/// snapshot from the pod running it (writes wait while a store is read; none fails) and
/// writes them with a checksum manifest to the target.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// When backups run, in cron syntax (the CronJob's schedule, in the controller
    /// manager's time zone unless it starts with `CRON_TZ=`), e.g. `0 3 * * *`.
    #[x_kube(validation = Rule::new("self.split(' ').filter(f, f != '').size() >= 5 || self.startsWith('@')").message("schedule must be a cron expression of five fields, e.g. '0 3 * * *', or a macro such as '@daily'"))]
    pub schedule: String,
    /// Where backups go.
    pub target: BackupTarget,
    /// Which backups are kept.
    #[serde(default)]
    pub retention: Retention,
    /// Every context keeps a change log on the bus (the replicas' mechanism, with one
    /// replica), so a restore comes back to the newest state the bus holds, not to the
    /// backup's. `false`: a restore brings the contexts' own records back as of the
    /// backup (their projections still catch up from the event stream). A log costs each
    /// write a round trip to the bus (docs/benchmarks.md, "Replicas").
    #[serde(default = "yes")]
    pub point_in_time: bool,
    /// Hours without a successful backup after which the `AgoraBackupTooOld` alert fires
    /// (and the `BackedUp` condition turns false); about the schedule's interval plus the
    /// time a backup takes.
    #[serde(default = "default_alert_hours")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 8760").message("alertAfterHours must be between 1 and 8760"))]
    pub alert_after_hours: u32,
    /// Stops scheduling backups (the CronJob's `suspend`); the backups made stay.
    #[serde(default)]
    pub suspend: bool,
}

fn yes() -> bool {
    true
}

fn default_alert_hours() -> u32 {
    25
}

/// A volume or an S3 bucket: exactly one.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.s3) != has(self.volume)").message("a backup target is either s3 or volume, exactly one"))]
pub struct BackupTarget {
    /// S3-compatible object storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Target>,
    /// An existing PersistentVolumeClaim in the platform's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeTarget>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Target {
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$')").message("bucket must be a valid S3 bucket name"))]
    pub bucket: String,
    /// A prefix in the bucket; the platform's name when absent, so platforms can share a
    /// bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The endpoint of a store other than AWS (MinIO, Ceph, R2...), e.g.
    /// `https://minio.storage:9000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("endpoint must be an http:// or https:// URL"))]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A Secret with the keys `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub credentials_secret: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeTarget {
    /// The claim's name. Backup jobs and (for `restoreFrom`) every context pod mount it:
    /// ReadWriteMany where they may run on different nodes.
    pub claim_name: String,
    /// A directory in the volume; the platform's name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!self.contains('..') && !self.startsWith('/')").message("subPath must be a relative path without '..'"))]
    pub sub_path: Option<String>,
}

/// Which backups are kept: a backup goes when either limit says so; the newest always
/// stays. Neither: all are kept.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Keep the newest N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("keep must be at least 1"))]
    pub keep: Option<u32>,
    /// Keep those younger than this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("keepDays must be at least 1"))]
    pub keep_days: Option<u32>,
}

/// Makes a new platform from a backup: every context pod restores its contexts' part
/// before it first starts (an init container, once per volume), then replays the streams
/// from it. Fixed at creation.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// Where the backup is (as `spec.backup.target` names it; the platform name in the
    /// default prefix is this platform's, so name the prefix or subPath of another's).
    pub target: BackupTarget,
    /// The backup's id (its folder, e.g. `20261126T030000Z`); the newest complete one when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// When the backup is another platform's: a Secret holding that platform's key
    /// (`key`, a copy of its `<platform>-encryption` Secret), with which the keys of its
    /// stream's sealed fields are opened and wrapped again with this platform's. Without
    /// it, a backup whose keys this platform's key does not open is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_secret: Option<String>,
}

/// What the operator saw of the scheduled backups.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// `Running`, `Succeeded`, `Failed`, `Suspended` or `Scheduled` (none ran yet), of
    /// the scheduled backups.
    pub phase: String,
    /// The last `agora.dev/backup` annotation a Job was made for (`kubectl agora backup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// When the backups' CronJob was made: the first backup is due within
    /// `alertAfterHours` of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_since: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// The id of the newest backup a backup pod reported (its folder in the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<String>,
    /// Its size in bytes: its snapshots and the media files they name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_bytes: Option<u64>,
}
