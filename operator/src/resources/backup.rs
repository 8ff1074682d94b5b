//! Backups and restores as objects: the CronJob of `spec.backup`, and the init container
//! `spec.restoreFrom` puts before every context pod (docs/operator.md, "Day 2: backups").

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    Child, NODE_USER, Platform, env, env_from_secret, hardened_container, hardened_pod, image_tag,
};
use crate::crd::{BackupSpec, BackupTarget};

/// The component label of backup jobs (the contexts' NetworkPolicies let it in).
pub const COMPONENT: &str = "backup";
/// Where a volume target is mounted.
const MOUNT: &str = "/backup";
/// The volume's name in pod specs.
const VOLUME: &str = "backup-target";

/// The annotation that asks for a backup now (`kubectl agora backup`): its value names
/// the request, and a Job `<platform>-backup-<value>` runs it once.
pub const ANNOTATION: &str = "agora.dev/backup";

/// The CronJob, when `spec.backup` asks for backups.
pub fn objects(p: &Platform) -> Vec<Child> {
    p.sp.spec
        .backup
        .as_ref()
        .map(|backup| Child::new(cron_job(p, backup)))
        .into_iter()
        .collect()
}

/// The annotation's value, when it asks for a backup now.
pub fn request(p: &Platform) -> Option<String> {
    p.sp.spec.backup.as_ref()?;
    p.sp.metadata.annotations.as_ref()?.get(ANNOTATION).cloned()
}

/// The Job of the backup the annotation asks for, if any: created once by the controller
/// (a Job's template cannot change), and gone a week after it finished.
pub fn requested_job(p: &Platform) -> Option<Job> {
    let backup = p.sp.spec.backup.as_ref()?;
    let value = request(p)?;
    let request: String = value
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let base = format!("{}-", cron_job_name(p));
    let request: String = request.chars().take(63 - base.len().min(62)).collect();
    let request = request.trim_matches('-');
    if request.is_empty() {
        return None;
    }
    let version = image_tag(&p.sp.spec.image);
    Some(Job {
        metadata: p.meta(format!("{base}{request}"), COMPONENT, version),
        spec: Some(JobSpec {
            ttl_seconds_after_finished: Some(7 * 24 * 3600),
            ..job_spec(p, backup)
        }),
        ..Default::default()
    })
}

/// The name of the CronJob (and the prefix of its Jobs).
pub fn cron_job_name(p: &Platform) -> String {
    p.object_name(COMPONENT)
}

fn cron_job(p: &Platform, backup: &BackupSpec) -> CronJob {
    let version = image_tag(&p.sp.spec.image);
    CronJob {
        metadata: p.meta(cron_job_name(p), COMPONENT, version),
        spec: Some(CronJobSpec {
            schedule: backup.schedule.clone(),
            // A hibernating platform has no pod to take a snapshot from.
            suspend: Some(backup.suspend || p.hibernating()),
            concurrency_policy: Some("Forbid".into()),
            starting_deadline_seconds: Some(3600),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(p.labels(COMPONENT, version)),
                    ..Default::default()
                }),
                spec: Some(job_spec(p, backup)),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One backup run: the CronJob's template, and a backup asked for now.
fn job_spec(p: &Platform, backup: &BackupSpec) -> JobSpec {
    JobSpec {
        backoff_limit: Some(2),
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(p.labels(COMPONENT, image_tag(&p.sp.spec.image))),
                ..Default::default()
            }),
            spec: Some(job_pod(p, backup)),
        },
        ..Default::default()
    }
}

fn job_pod(p: &Platform, backup: &BackupSpec) -> PodSpec {
    let mut vars = vec![
        env("AGORA_PLATFORM", p.name.clone()),
        env("AGORA_LOG_FORMAT", "json"),
        env_from_secret("AGORA_CONTROL_TOKEN", &p.control_secret(), "token", false),
    ];
    vars.extend(super::upstreams(p));
    vars.extend(super::tls::environment(p, false));
    // Kubernetes keeps the pod's termination message; the operator reads it into status.
    vars.push(env("AGORA_BACKUP_REPORT", "/dev/termination-log"));
    vars.extend(target_env(p, &backup.target, "AGORA_BACKUP_TARGET"));
    if let Some(keep) = backup.retention.keep {
        vars.push(env("AGORA_BACKUP_KEEP", keep.to_string()));
    }
    if let Some(days) = backup.retention.keep_days {
        vars.push(env("AGORA_BACKUP_KEEP_DAYS", days.to_string()));
    }
    let container = hardened_container(Container {
        name: COMPONENT.into(),
        image: Some(p.sp.spec.image.clone()),
        args: Some(vec!["backup".into()]),
        env: Some(vars),
        resources: Some(ResourceRequirements {
            requests: Some(
                [("cpu", "50m"), ("memory", "64Mi")]
                    .map(|(k, v)| (k.to_string(), Quantity(v.into())))
                    .into(),
            ),
            limits: Some([("memory".to_string(), Quantity("256Mi".into()))].into()),
            ..Default::default()
        }),
        volume_mounts: Some(
            target_mount(&backup.target)
                .into_iter()
                .chain(super::tls::mount(p))
                .collect(),
        ),
        ..Default::default()
    });
    PodSpec {
        containers: vec![container],
        restart_policy: Some("Never".into()),
        service_account_name: Some(p.service_account()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(hardened_pod(NODE_USER)),
        volumes: Some(
            target_volume(&backup.target)
                .into_iter()
                .chain(super::tls::volume(p, false))
                .collect(),
        ),
        ..Default::default()
    }
}

/// The variables that name `target` to `agora-node` as `variable`, and its S3 settings.
pub fn target_env(p: &Platform, target: &BackupTarget, variable: &str) -> Vec<EnvVar> {
    if let Some(s3) = &target.s3 {
        let prefix = s3.prefix.clone().unwrap_or_else(|| p.name.clone());
        let mut vars = vec![
            env(
                variable,
                format!("s3://{}/{}", s3.bucket, prefix.trim_matches('/')),
            ),
            env_from_secret(
                "AWS_ACCESS_KEY_ID",
                &s3.credentials_secret,
                "AWS_ACCESS_KEY_ID",
                false,
            ),
            env_from_secret(
                "AWS_SECRET_ACCESS_KEY",
                &s3.credentials_secret,
                "AWS_SECRET_ACCESS_KEY",
                false,
            ),
        ];
        if let Some(endpoint) = &s3.endpoint {
            vars.push(env("AWS_ENDPOINT", endpoint.clone()));
            if endpoint.starts_with("http://") {
                vars.push(env("AWS_ALLOW_HTTP", "true"));
            }
        }
        if let Some(region) = &s3.region {
            vars.push(env("AWS_REGION", region.clone()));
        }
        return vars;
    }
    let sub = target
        .volume
        .as_ref()
        .and_then(|v| v.sub_path.clone())
        .unwrap_or_else(|| p.name.clone());
    vec![env(variable, format!("{MOUNT}/{}", sub.trim_matches('/')))]
}

/// The mount of a volume target.
pub fn target_mount(target: &BackupTarget) -> Option<VolumeMount> {
    target.volume.as_ref().map(|_| VolumeMount {
        name: VOLUME.into(),
        mount_path: MOUNT.into(),
        ..Default::default()
    })
}

/// The volume of a volume target.
pub fn target_volume(target: &BackupTarget) -> Option<Volume> {
    target.volume.as_ref().map(|v| Volume {
        name: VOLUME.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: v.claim_name.clone(),
            read_only: None,
        }),
        ..Default::default()
    })
}

/// With `spec.restoreFrom`: the init container that restores the pod's contexts into its
/// volume before the node first starts (`--once`: a restarted pod keeps its data).
pub fn restore_container(p: &Platform, contexts: &[String], image: &str) -> Option<Container> {
    let restore = p.sp.spec.restore_from.as_ref()?;
    let mut vars = vec![
        env("AGORA_DATA_DIR", "/data"),
        env("AGORA_CONTEXTS", contexts.join(",")),
        env("AGORA_LOG_FORMAT", "json"),
        env("AGORA_PLATFORM", p.name.clone()),
    ];
    // The backup's event stream and keys go back on the bus (every pod's restore puts
    // them; they share the work and agree).
    vars.extend(super::bus::environment(p));
    vars.extend(super::bus::creds_env(p));
    // The keys put back are wrapped with this platform's key (opened, for another
    // platform's backup, with that one's).
    vars.push(env_from_secret(
        "AGORA_ENCRYPTION_KEY",
        &p.encryption_secret(),
        "key",
        false,
    ));
    if let Some(secret) = &restore.encryption_key_secret {
        vars.push(env_from_secret(
            "AGORA_RESTORE_SOURCE_ENCRYPTION_KEY",
            secret,
            "key",
            false,
        ));
    }
    vars.extend(target_env(p, &restore.target, "AGORA_RESTORE_FROM"));
    if let Some(id) = &restore.backup {
        vars.push(env("AGORA_RESTORE_BACKUP", id.clone()));
    }
    let mut mounts = vec![VolumeMount {
        name: "data".into(),
        mount_path: "/data".into(),
        ..Default::default()
    }];
    mounts.extend(super::bus::creds_mount(p));
    mounts.extend(super::tls::mount(p));
    mounts.extend(target_mount(&restore.target).map(|m| VolumeMount {
        read_only: Some(true),
        ..m
    }));
    Some(hardened_container(Container {
        name: "restore".into(),
        image: Some(image.into()),
        args: Some(vec!["restore".into(), "--once".into()]),
        env: Some(vars),
        volume_mounts: Some(mounts),
        ..Default::default()
    }))
}

/// The volume `restore_container` mounts, if any.
pub fn restore_volume(p: &Platform) -> Option<Volume> {
    target_volume(&p.sp.spec.restore_from.as_ref()?.target)
}
