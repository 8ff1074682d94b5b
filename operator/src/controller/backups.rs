//! Carries out the `agora.dev/backup` annotation (`kubectl agora backup`): one Job per
//! value of it, made from the CronJob's template.

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, PostParams};
use kube::runtime::events::EventType;

use super::{Context, event};
use crate::crd::BackupStatus;
use crate::resources::{Platform, backup};

/// `status.backup` after this reconcile: what the CronJob says, and the last request a
/// Job was made for (one is made now when the annotation names a new one).
pub async fn drive(
    p: &Platform<'_>,
    ctx: &Context,
    observed: Option<BackupStatus>,
) -> Option<BackupStatus> {
    let mut status = observed?;
    let previous = p.sp.status.as_ref().and_then(|s| s.backup.as_ref());
    status.request = previous.and_then(|b| b.request.clone());
    let Some(value) = backup::request(p) else {
        return Some(status);
    };
    let Some(job) = backup::requested_job(p).filter(|_| status.request.as_ref() != Some(&value))
    else {
        return Some(status);
    };
    let name = job.metadata.name.clone().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &p.namespace);
    match jobs.create(&PostParams::default(), &job).await {
        Ok(_) => {
            let note = format!("backup job {name} started (kubectl logs job/{name})");
            event(p, ctx, EventType::Normal, "BackupRequested", "Backup", note).await;
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => {
            let note = format!("backup job {name} could not be made: {e}");
            event(
                p,
                ctx,
                EventType::Warning,
                "BackupRequestFailed",
                "Backup",
                note,
            )
            .await;
            return Some(status);
        }
    }
    status.request = Some(value);
    Some(status)
}
