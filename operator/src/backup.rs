//! What the scheduled backups' CronJob says, as `status.backup` and the `BackedUp`
//! condition (pure: observed in, status out).

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Deserialize;

use crate::crd::BackupStatus;

/// What a backup pod wrote as its termination message (`AGORA_BACKUP_REPORT`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Report {
    pub id: String,
    pub bytes: u64,
}

/// The report of the newest backup pod that succeeded, among `pods` (the platform's pods
/// of component `backup`, scheduled or asked for).
pub fn last_report(pods: &[Pod]) -> Option<Report> {
    pods.iter()
        .filter_map(|pod| {
            let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
            let done = statuses
                .iter()
                .find(|c| c.name == "backup")?
                .state
                .as_ref()?
                .terminated
                .as_ref()?;
            let report: Report = serde_json::from_str(done.message.as_deref()?).ok()?;
            (done.exit_code == 0).then(|| (done.finished_at.clone().map(|t| t.0), report))
        })
        .max_by_key(|(finished, _)| *finished)
        .map(|(_, report)| report)
}

/// `status.backup` from the CronJob (`None`: it does not exist yet) and the backup pods.
pub fn status(cron_job: Option<&CronJob>, pods: &[Pod]) -> Option<BackupStatus> {
    let cron_job = cron_job?;
    let suspended = cron_job
        .spec
        .as_ref()
        .and_then(|s| s.suspend)
        .unwrap_or(false);
    let st = cron_job.status.clone().unwrap_or_default();
    let running = st.active.as_ref().is_some_and(|a| !a.is_empty());
    let phase = match (&st.last_schedule_time, &st.last_successful_time) {
        _ if running => "Running",
        (None, _) if suspended => "Suspended",
        (None, _) => "Scheduled",
        (Some(scheduled), Some(succeeded)) if succeeded.0 >= scheduled.0 => "Succeeded",
        (Some(_), _) => "Failed",
    };
    Some(BackupStatus {
        phase: phase.into(),
        request: None,
        last_backup: last_report(pods).map(|r| r.id),
        last_backup_bytes: last_report(pods).map(|r| r.bytes),
        scheduled_since: cron_job.metadata.creation_timestamp.clone(),
        last_schedule_time: st.last_schedule_time,
        last_successful_time: st.last_successful_time,
    })
}

/// The `BackedUp` condition: true while the last successful backup is younger than
/// `alert_after_hours` at `now`. Returns (true?, reason, message).
pub fn condition(
    status: Option<&BackupStatus>,
    alert_after_hours: u32,
    now: k8s_openapi::jiff::Timestamp,
) -> (bool, &'static str, String) {
    let Some(status) = status else {
        return (
            false,
            "Pending",
            "the backup CronJob is not there yet".into(),
        );
    };
    let young = |t: Option<&Time>| {
        t.is_some_and(|t| now.duration_since(t.0).as_secs() < i64::from(alert_after_hours) * 3600)
    };
    let last = status.last_successful_time.as_ref().map(|t: &Time| t.0);
    let fresh = young(status.last_successful_time.as_ref());
    let logs = "kubectl logs -l app.kubernetes.io/component=backup";
    match (status.phase.as_str(), last) {
        ("Failed", _) => (
            fresh,
            "Failed",
            format!("the last scheduled backup did not succeed; see {logs}"),
        ),
        (_, Some(t)) if fresh => (true, "Succeeded", format!("last successful backup at {t}")),
        (_, Some(t)) => (
            false,
            "TooOld",
            format!("no successful backup since {t}, over {alert_after_hours} hours"),
        ),
        ("Suspended", None) => (
            false,
            "Suspended",
            "backups are suspended; none was taken".into(),
        ),
        (_, None) if young(status.scheduled_since.as_ref()) => (
            true,
            "FirstBackupDue",
            format!("no backup yet; the first is due within {alert_after_hours} hours"),
        ),
        (_, None) => (false, "NoBackupYet", "no backup has succeeded yet".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{CronJobSpec, CronJobStatus};
    use k8s_openapi::api::core::v1::ObjectReference;

    fn at(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn cron_job(
        suspend: bool,
        active: bool,
        scheduled: Option<&str>,
        succeeded: Option<&str>,
    ) -> CronJob {
        CronJob {
            spec: Some(CronJobSpec {
                suspend: Some(suspend),
                ..Default::default()
            }),
            status: Some(CronJobStatus {
                active: active.then(|| vec![ObjectReference::default()]),
                last_schedule_time: scheduled.map(at),
                last_successful_time: succeeded.map(at),
            }),
            ..Default::default()
        }
    }

    fn status_of(c: &CronJob) -> Option<BackupStatus> {
        status(Some(c), &[])
    }

    fn phase(c: CronJob) -> String {
        status(Some(&c), &[]).unwrap().phase
    }

    #[test]
    fn the_phase_follows_the_cron_jobs_times() {
        let (t1, t2) = (Some("2026-11-25T03:00:00Z"), Some("2026-11-26T03:00:00Z"));
        assert_eq!(phase(cron_job(false, false, None, None)), "Scheduled");
        assert_eq!(phase(cron_job(true, false, None, None)), "Suspended");
        assert_eq!(phase(cron_job(false, true, t2, t1)), "Running");
        assert_eq!(
            phase(cron_job(false, false, t2, Some("2026-11-26T03:01:10Z"))),
            "Succeeded"
        );
        assert_eq!(phase(cron_job(false, false, t2, t1)), "Failed");
        assert_eq!(phase(cron_job(false, false, t2, None)), "Failed");
        assert!(status(None, &[]).is_none());
    }

    #[test]
    fn backed_up_until_the_last_success_is_too_old() {
        let now: k8s_openapi::jiff::Timestamp = "2026-11-26T12:00:00Z".parse().unwrap();
        let done = status_of(&cron_job(
            false,
            false,
            Some("2026-11-26T03:00:00Z"),
            Some("2026-11-26T03:02:00Z"),
        ));
        assert_eq!(condition(done.as_ref(), 25, now).1, "Succeeded");
        assert!(condition(done.as_ref(), 25, now).0);
        let (ok, reason, _) = condition(done.as_ref(), 6, now);
        assert_eq!((ok, reason), (false, "TooOld"));
        let failed = status_of(&cron_job(
            false,
            false,
            Some("2026-11-26T03:00:00Z"),
            Some("2026-11-25T03:02:00Z"),
        ));
        let (ok, reason, message) = condition(failed.as_ref(), 48, now);
        assert_eq!(
            (ok, reason),
            (true, "Failed"),
            "the one before is still fresh"
        );
        assert!(message.contains("kubectl logs"));
        assert!(!condition(failed.as_ref(), 25, now).0, "and now too old");
        let mut never = cron_job(false, false, None, None);
        never.metadata.creation_timestamp = Some(at("2026-11-26T10:00:00Z"));
        let (ok, reason, _) = condition(status(Some(&never), &[]).as_ref(), 25, now);
        assert_eq!((ok, reason), (true, "FirstBackupDue"));
        never.metadata.creation_timestamp = Some(at("2026-11-20T10:00:00Z"));
        let (ok, reason, _) = condition(status(Some(&never), &[]).as_ref(), 25, now);
        assert_eq!((ok, reason), (false, "NoBackupYet"));
    }

    fn backup_pod(finished: &str, exit_code: i32, message: &str) -> Pod {
        use k8s_openapi::api::core::v1::{
            ContainerState, ContainerStateTerminated, ContainerStatus, PodStatus,
        };
        Pod {
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: "backup".into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code,
                            finished_at: Some(at(finished)),
                            message: Some(message.into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_newest_successful_backup_pod_says_what_was_written() {
        let pods = [
            backup_pod(
                "2026-11-25T03:01:00Z",
                0,
                r#"{"id":"20261125T030000Z","bytes":100,"parts":11}"#,
            ),
            backup_pod(
                "2026-11-26T03:01:00Z",
                0,
                r#"{"id":"20261126T030000Z","bytes":120,"parts":11}"#,
            ),
            backup_pod("2026-11-26T09:00:00Z", 1, "error: the target refused"),
        ];
        let report = last_report(&pods).unwrap();
        assert_eq!(
            (report.id.as_str(), report.bytes),
            ("20261126T030000Z", 120)
        );
        assert!(last_report(&pods[2..]).is_none());
    }
}
