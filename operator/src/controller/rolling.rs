//! Rolls the pods of contexts that run several replicas, followers first and the writer
//! last ([`crate::rolling`]): one pod deleted per reconcile, the next once it is back
//! and ready (their StatefulSets are `OnDelete`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::events::EventType;

use super::{Context, event};
use crate::crd::ReplicaPod;
use crate::resources::{Platform, node};
use crate::rolling;

/// The label a StatefulSet's pod carries with the revision it was made from.
const REVISION: &str = "controller-revision-hash";

/// Deletes the next pod of each rolling workload; `replicas`: each context's writer, as
/// its pods said (`status.contexts[*].writer`).
pub async fn drive(
    p: &Platform<'_>,
    ctx: &Context,
    replicas: &BTreeMap<String, (Option<String>, Vec<ReplicaPod>)>,
) {
    for w in p
        .workloads()
        .into_iter()
        .filter(|w| node::rolls_by_operator(p, w))
    {
        let writers: Vec<String> = w
            .contexts
            .iter()
            .filter_map(|c| replicas.get(c).and_then(|(writer, _)| writer.clone()))
            .collect();
        let name = p.object_name(&w.component);
        if let Err(e) = roll(p, ctx, &name, &writers).await {
            tracing::warn!(workload = %name, error = %e, "rolling update not driven");
        }
    }
}

async fn roll(p: &Platform<'_>, ctx: &Context, set: &str, writers: &[String]) -> kube::Result<()> {
    let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &p.namespace);
    let Some(set) = sets.get_opt(set).await? else {
        return Ok(());
    };
    let Some(update_revision) = set.status.as_ref().and_then(|s| s.update_revision.clone()) else {
        return Ok(());
    };
    let spec = set.spec.unwrap_or_default();
    let selector = spec
        .selector
        .match_labels
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &p.namespace);
    let pods: Vec<rolling::Pod> = api
        .list(&ListParams::default().labels(&selector))
        .await?
        .into_iter()
        .map(|pod| rolling::Pod {
            revision: pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REVISION).cloned()),
            ready: pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            name: pod.metadata.name.unwrap_or_default(),
        })
        .collect();
    let replicas = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
    let Some(pod) = rolling::next(&pods, &update_revision, replicas, writers) else {
        return Ok(());
    };
    api.delete(&pod, &DeleteParams::default()).await?;
    // Two reasons: Kubernetes folds repeats of one into a count.
    let (reason, role) = match writers.contains(&pod) {
        true => (
            "WriterRolled",
            "the writer, last: it hands its lease to an updated follower as it stops",
        ),
        false => ("PodRolled", "a follower"),
    };
    let note = format!("replacing {pod} ({role}) to run revision {update_revision}");
    event(p, ctx, EventType::Normal, reason, "Rollout", note).await;
    Ok(())
}
