//! The reconcile loop: observe, plan the rollout, apply every child with server-side apply
//! (one field manager), prune children the spec no longer asks for, write status when it
//! changed, record Kubernetes Events. No finalizer: deletion is owner references plus the
//! StatefulSets' `persistentVolumeClaimRetentionPolicy` (the data policy).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::crd::{SocialPlatform, SocialPlatformStatus};
use crate::hibernation;
use crate::resources::{self, Child, MANAGER, Platform, nats};
use crate::status::{self, Facts, Monitoring, Observed};
use crate::telemetry::{ConditionLabels, Metrics};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The platform's CA or certificate could not be made or read.
    #[error("certificates: {0}")]
    Certificate(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

mod backups;
mod certificates;
mod rebuilds;
mod replicas;
mod rolling;

/// What every reconcile can reach.
pub struct Context {
    pub client: Client,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// Calls the nodes' control channel.
    pub http: reqwest::Client,
    /// Where the nodes' control channel is reached instead of each pod's address, `{pod}`
    /// standing for the pod's name (tests: `http://127.0.0.1:<port>/{pod}`).
    pub node_base: Option<String>,
    /// The namespace the operator's pods run in, when known.
    pub operator_namespace: Option<String>,
    /// Consecutive failures per platform, for the retry backoff.
    failures: Failures,
    /// Per platform (`namespace/name`), a client of its nodes that trusts its CA.
    trusted: std::sync::Mutex<BTreeMap<String, (String, reqwest::Client)>>,
}

/// Consecutive reconcile failures per platform (`namespace/name`): a failure counts up, a
/// success starts the count again, so an old bad patch does not slow every later retry.
#[derive(Default)]
pub struct Failures(std::sync::Mutex<BTreeMap<String, u32>>);

impl Failures {
    /// Counts a failure and returns how many in a row this platform has now. A poisoned
    /// lock is recovered: the map holds plain counters, valid whatever panicked.
    pub fn failed(&self, key: String) -> u32 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(key).or_default();
        *n += 1;
        *n
    }

    /// A success: the next failure waits the shortest delay again.
    pub fn succeeded(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>, recorder: Recorder) -> Self {
        Context {
            client,
            metrics,
            recorder,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            node_base: None,
            operator_namespace: None,
            failures: Default::default(),
            trusted: Default::default(),
        }
    }

    /// Remembers the CA of the platform `p`'s certificates (made once per CA).
    fn trust(&self, p: &Platform, ca_pem: &str) {
        let mut trusted = self.trusted.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{}/{}", p.namespace, p.name);
        if trusted.get(&key).is_some_and(|(pem, _)| pem == ca_pem) {
            return;
        }
        let client = reqwest::Certificate::from_pem(ca_pem.as_bytes())
            .and_then(|ca| {
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .add_root_certificate(ca)
                    .build()
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the platform's CA does not make a client");
                self.http.clone()
            });
        trusted.insert(key, (ca_pem.to_string(), client));
    }

    /// The client that calls `p`'s nodes (trusting its CA when its parts speak TLS).
    pub fn nodes(&self, p: &Platform) -> reqwest::Client {
        let trusted = self.trusted.lock().unwrap_or_else(|e| e.into_inner());
        trusted
            .get(&format!("{}/{}", p.namespace, p.name))
            .map(|(_, client)| client.clone())
            .unwrap_or_else(|| self.http.clone())
    }
}

fn key(sp: &SocialPlatform) -> String {
    format!("{}/{}", sp.namespace().unwrap_or_default(), sp.name_any())
}

/// Retry delay after `n` consecutive failures: 5 s, doubling, at most 5 minutes.
pub fn backoff(n: u32) -> Duration {
    Duration::from_secs((5u64 << n.saturating_sub(1).min(6)).min(300))
}

/// Whether the cluster serves the Prometheus Operator's PodMonitor and PrometheusRule
/// (the API group's discovery document names both).
async fn has_prometheus_operator(client: &Client) -> Result<bool> {
    match client
        .list_api_group_resources(resources::monitoring::API_VERSION)
        .await
    {
        Ok(list) => Ok(resources::monitoring::KINDS
            .iter()
            .all(|(_, plural)| list.resources.iter().any(|r| r.name == *plural))),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Kinds the operator applies and prunes (the JWT Secret is created once, never pruned).
const PRUNED_KINDS: &[(&str, &str, &str)] = &[
    ("apps", "v1", "StatefulSet"),
    ("apps", "v1", "Deployment"),
    ("", "v1", "Service"),
    ("", "v1", "ConfigMap"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("networking.k8s.io", "v1", "Ingress"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("batch", "v1", "CronJob"),
];

/// How often a settled platform is looked at again (drift repair).
const RESYNC: Duration = Duration::from_secs(300);
/// How soon a platform that is still rolling out is looked at again.
const PROGRESS_CHECK: Duration = Duration::from_secs(10);

/// Runs the controller until SIGTERM. `own_namespace`: where the operator's pods run (their
/// way into the contexts' control channel is let through the NetworkPolicies).
pub async fn run(
    client: Client,
    metrics: Arc<Metrics>,
    namespace: Option<String>,
    own_namespace: Option<String>,
) {
    let platforms: Api<SocialPlatform> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let reporter = Reporter {
        controller: MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let mut ctx = Context::new(
        client.clone(),
        metrics,
        Recorder::new(client.clone(), reporter),
    );
    ctx.operator_namespace = own_namespace;
    let ctx = Arc::new(ctx);
    let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=agora-operator");
    let (c, ns) = (client.clone(), namespace.clone());
    let controller = Controller::new(platforms, watcher::Config::default());
    tokio::spawn(forget_deleted(controller.store(), ctx.metrics.clone()));
    controller
        .owns(scoped::<StatefulSet>(&c, &ns), owned.clone())
        .owns(scoped::<Deployment>(&c, &ns), owned.clone())
        .owns(scoped::<Service>(&c, &ns), owned.clone())
        .owns(scoped::<ConfigMap>(&c, &ns), owned.clone())
        .owns(scoped::<ServiceAccount>(&c, &ns), owned.clone())
        .owns(scoped::<PodDisruptionBudget>(&c, &ns), owned.clone())
        .owns(scoped::<NetworkPolicy>(&c, &ns), owned.clone())
        .owns(scoped::<Ingress>(&c, &ns), owned.clone())
        .owns(scoped::<HorizontalPodAutoscaler>(&c, &ns), owned)
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile stream");
            }
        })
        .await;
}

/// Every minute, drops the condition series of platforms that no longer exist (reconcile
/// never runs for a deleted object, so nothing else would).
async fn forget_deleted(
    store: kube::runtime::reflector::Store<SocialPlatform>,
    metrics: Arc<Metrics>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let present = store
            .state()
            .iter()
            .map(|sp| (sp.namespace().unwrap_or_default(), sp.name_any()))
            .collect();
        metrics.forget_platforms_except(&present);
    }
}

fn scoped<K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>>(
    client: &Client,
    ns: &Option<String>,
) -> Api<K> {
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn error_policy(sp: Arc<SocialPlatform>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failures.inc();
    let n = ctx.failures.failed(key(&sp));
    let delay = backoff(n);
    tracing::warn!(platform = %sp.name_any(), %error, attempt = n, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Whether the platform is paused (field or annotation).
pub fn is_paused(sp: &SocialPlatform) -> bool {
    sp.spec.paused
        || sp
            .annotations()
            .get("agora.dev/paused")
            .is_some_and(|v| v == "true")
}

#[tracing::instrument(skip_all, fields(platform = %sp.name_any(), namespace = sp.namespace().unwrap_or_default()))]
pub async fn reconcile(sp: Arc<SocialPlatform>, ctx: Arc<Context>) -> Result<Action> {
    let started = std::time::Instant::now();
    ctx.metrics.reconciles.inc();
    let outcome = reconcile_platform(&sp, &ctx).await;
    if outcome.is_ok() {
        ctx.failures.succeeded(&key(&sp));
    }
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    outcome
}

async fn reconcile_platform(sp: &SocialPlatform, ctx: &Context) -> Result<Action> {
    let p = Platform::new(sp);
    let observed = observe(&p, &ctx.client).await?;
    if is_paused(sp) {
        let facts = facts(&p, observed, None, true);
        write_status(sp, ctx, &facts).await?;
        return Ok(Action::requeue(RESYNC));
    }
    ensure_secret(&p, ctx, &p.jwt_secret(), "the JWT key pair", || {
        resources::policy::jwt_secret(&p, resources::policy::generate_key_pair())
    })
    .await?;
    ensure_secret(
        &p,
        ctx,
        &p.encryption_secret(),
        "the platform's key",
        || resources::policy::encryption_secret(&p, resources::policy::generate_key()),
    )
    .await?;
    ensure_secret(&p, ctx, &p.media_url_secret(), "the media URL key", || {
        resources::policy::media_url_secret(&p, resources::policy::generate_key())
    })
    .await?;
    ensure_secret(&p, ctx, &p.control_secret(), "the control token", || {
        resources::policy::control_secret(&p, resources::policy::generate_key())
    })
    .await?;
    let certificates = certificates::ensure(&p, ctx).await?;
    // Looked up even when monitoring is off: turning it off prunes what was made.
    let prometheus_operator = has_prometheus_operator(&ctx.client).await?;
    let plan = resources::Plan {
        images: status::rollout_plan(&sp.spec.image, &workload_names(&p), &observed.workloads),
        bus_asleep: hibernation::bus_asleep(p.hibernating(), &observed.workloads),
        prometheus_operator,
        operator_namespace: ctx.operator_namespace.clone(),
        certificates,
    };
    announce_hibernation(&p, ctx).await;
    for (workload, image) in &plan.images {
        if let Some(running) = observed
            .workloads
            .get(workload)
            .filter(|o| &o.image != image)
        {
            let note = format!("moving {workload} from {} to {image}", running.image);
            event(&p, ctx, EventType::Normal, "RollingOut", "Rollout", note).await;
        }
    }
    let children = resources::desired(&p, &plan);
    let error = match apply_all(&p, ctx, &children).await {
        Ok(()) => prune(&p, ctx, &children, prometheus_operator).await.err(),
        Err(e) => Some(e),
    };
    let observed = observe(&p, &ctx.client).await?;
    let mut facts = facts(&p, observed, error.as_ref().map(ToString::to_string), false);
    facts.rebuild = rebuilds::drive(&p, ctx).await;
    facts.backup = backups::drive(&p, ctx, facts.backup.take()).await;
    facts.replicas = replicas::gather(&p, ctx).await;
    rolling::drive(&p, ctx, &facts.replicas).await;
    let rebuilding = facts
        .rebuild
        .as_ref()
        .is_some_and(|r| !crate::rebuild::finished(r));
    facts.monitoring = match (sp.spec.monitoring.enabled, prometheus_operator) {
        (false, _) => Monitoring::Disabled,
        (true, false) => Monitoring::Missing,
        (true, true) => Monitoring::Applied,
    };
    let ready = write_status(sp, ctx, &facts).await?;
    match error {
        Some(e) => Err(e),
        None if ready && !rebuilding => Ok(Action::requeue(RESYNC)),
        None => Ok(Action::requeue(PROGRESS_CHECK)),
    }
}

/// A Kubernetes Event when the platform starts going to sleep or waking (as the spec asks,
/// against what the last status said).
async fn announce_hibernation(p: &Platform<'_>, ctx: &Context) {
    let hibernated = p.sp.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Hibernated")
            .map(|c| c.status == "True" || c.reason == "Hibernating")
    });
    let (reason, note) = match (p.hibernating(), hibernated.unwrap_or(false)) {
        (true, false) => (
            "Hibernating",
            "scaling every context and the gateway to zero, then the bus; volumes are kept",
        ),
        (false, true) => ("Waking", "scaling every part back to its replicas"),
        _ => return,
    };
    event(p, ctx, EventType::Normal, reason, "Hibernate", note.into()).await;
}

fn workload_names(p: &Platform) -> Vec<String> {
    p.workloads().into_iter().map(|w| w.component).collect()
}

/// What runs now: every workload, the gateway and the managed bus.
pub struct Seen {
    pub workloads: BTreeMap<String, Observed>,
    pub bus: Option<Observed>,
    /// What the backup CronJob says, when backups are asked for.
    pub backup: Option<crate::crd::BackupStatus>,
}

async fn observe(p: &Platform<'_>, client: &Client) -> Result<Seen> {
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &p.namespace);
    let mut workloads = BTreeMap::new();
    for name in workload_names(p) {
        if let Some(set) = sets.get_opt(&p.object_name(&name)).await? {
            workloads.insert(name, observed_set(&set));
        }
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &p.namespace);
    if let Some(d) = deployments.get_opt(&p.object_name("gateway")).await? {
        workloads.insert("gateway".into(), observed_deployment(&d));
    }
    let bus = match p.sp.spec.event_bus.managed() {
        Some(_) => Some(
            sets.get_opt(&p.object_name(nats::COMPONENT))
                .await?
                .map(|s| observed_set(&s))
                .unwrap_or_default(),
        ),
        None => None,
    };
    let backup = match p.sp.spec.backup {
        Some(_) => {
            let jobs: Api<k8s_openapi::api::batch::v1::CronJob> =
                Api::namespaced(client.clone(), &p.namespace);
            let name = resources::backup::cron_job_name(p);
            let pods: Api<k8s_openapi::api::core::v1::Pod> =
                Api::namespaced(client.clone(), &p.namespace);
            let selector = format!(
                "app.kubernetes.io/instance={},app.kubernetes.io/component={}",
                p.name,
                resources::backup::COMPONENT
            );
            let backup_pods = pods.list(&ListParams::default().labels(&selector)).await?;
            crate::backup::status(jobs.get_opt(&name).await?.as_ref(), &backup_pods.items)
        }
        None => None,
    };
    Ok(Seen {
        workloads,
        bus,
        backup,
    })
}

fn first_image(spec: Option<&k8s_openapi::api::core::v1::PodSpec>) -> String {
    spec.and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

pub fn observed_set(set: &StatefulSet) -> Observed {
    let spec = set.spec.as_ref();
    let st = set.status.clone().unwrap_or_default();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let current = st.observed_generation >= set.metadata.generation;
    Observed {
        image: first_image(spec.and_then(|s| s.template.spec.as_ref())),
        replicas,
        ready_replicas: st.ready_replicas.unwrap_or(0),
        pods: st.replicas,
        // An `OnDelete` StatefulSet never moves its current revision on (Kubernetes
        // completes only rolling updates): every pod at the update revision is rolled out.
        rolled_out: current
            && st.updated_replicas.unwrap_or(0) >= replicas
            && (st.current_revision == st.update_revision || on_delete(set)),
    }
}

fn on_delete(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete")
}

pub fn observed_deployment(d: &Deployment) -> Observed {
    let spec = d.spec.as_ref();
    let st = d.status.clone().unwrap_or_default();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    Observed {
        image: first_image(spec.and_then(|s| s.template.spec.as_ref())),
        replicas,
        ready_replicas: st.ready_replicas.unwrap_or(0),
        pods: st.replicas.unwrap_or(0),
        rolled_out: st.observed_generation >= d.metadata.generation
            && st.updated_replicas.unwrap_or(0) >= replicas,
    }
}

fn facts(p: &Platform, seen: Seen, error: Option<String>, paused: bool) -> Facts {
    Facts {
        generation: p.sp.metadata.generation,
        target_image: p.sp.spec.image.clone(),
        workloads: workload_names(p),
        contexts_of: p
            .workloads()
            .into_iter()
            .map(|w| (w.component, w.contexts))
            .collect(),
        observed: seen.workloads,
        bus: seen.bus,
        endpoint: resources::gateway::endpoint(p),
        paused,
        hibernate: p.hibernating(),
        monitoring: Monitoring::Disabled,
        rebuild: p.sp.status.as_ref().and_then(|s| s.rebuild.clone()),
        error,
        backup_alert_hours: p.sp.spec.backup.as_ref().map(|b| b.alert_after_hours),
        backup: seen.backup,
        replicas: BTreeMap::new(),
        now: k8s_openapi::jiff::Timestamp::now(),
    }
}

/// Creates a Secret of generated keys (`what`) when it does not exist. Never updates it.
async fn ensure_secret(
    p: &Platform<'_>,
    ctx: &Context,
    name: &str,
    what: &str,
    make: impl FnOnce() -> Secret,
) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &p.namespace);
    if secrets.get_opt(name).await?.is_some() {
        return Ok(());
    }
    let secret = make();
    match secrets
        .create(
            &PostParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            },
            &secret,
        )
        .await
    {
        Ok(_) => {
            event(
                p,
                ctx,
                EventType::Normal,
                "KeysGenerated",
                "Create",
                format!("generated {what} in Secret {name}"),
            )
            .await;
            Ok(())
        }
        // Another reconcile won the race: its keys stand.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn api_for(client: &Client, namespace: &str, api_version: &str, kind: &str) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), namespace, &resource)
}

async fn apply_all(p: &Platform<'_>, ctx: &Context, children: &[Child]) -> Result<()> {
    let params = PatchParams::apply(MANAGER).force();
    for child in children {
        let api = api_for(&ctx.client, &p.namespace, &child.api_version, &child.kind);
        api.patch(&child.name, &params, &Patch::Apply(&child.object))
            .await?;
    }
    Ok(())
}

/// Deletes children this platform owns that the spec no longer asks for.
async fn prune(
    p: &Platform<'_>,
    ctx: &Context,
    children: &[Child],
    prometheus_operator: bool,
) -> Result<()> {
    let wanted: BTreeSet<(&str, &str)> = children
        .iter()
        .map(|c| (c.kind.as_str(), c.name.as_str()))
        .collect();
    let uid = p.sp.uid().unwrap_or_default();
    let selector = format!(
        "app.kubernetes.io/instance={},app.kubernetes.io/managed-by={MANAGER}",
        p.name
    );
    let monitoring = resources::monitoring::KINDS
        .iter()
        .filter(|_| prometheus_operator)
        .map(|(kind, _)| ("monitoring.coreos.com", "v1", *kind));
    for (group, version, kind) in PRUNED_KINDS.iter().copied().chain(monitoring) {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let api = api_for(&ctx.client, &p.namespace, &api_version, kind);
        for object in api.list(&ListParams::default().labels(&selector)).await? {
            let name = object.name_any();
            let ours = object.owner_references().iter().any(|o| o.uid == uid);
            if ours && !wanted.contains(&(kind, name.as_str())) {
                api.delete(&name, &DeleteParams::background()).await?;
                event(
                    p,
                    ctx,
                    EventType::Normal,
                    "Pruned",
                    "Delete",
                    format!("deleted {kind} {name}: the spec no longer asks for it"),
                )
                .await;
            }
        }
    }
    Ok(())
}

/// Writes status when it changed; returns whether the platform is ready.
async fn write_status(sp: &SocialPlatform, ctx: &Context, facts: &Facts) -> Result<bool> {
    let new = status::status(facts, sp.status.as_ref());
    for c in &new.conditions {
        let labels = ConditionLabels {
            platform_namespace: sp.namespace().unwrap_or_default(),
            platform: sp.name_any(),
            r#type: c.type_.clone(),
        };
        ctx.metrics.set_condition(labels, c.status == "True");
    }
    let ready = new
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if status::changed(&new, sp.status.as_ref()) {
        let was_ready = sp.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
        let api: Api<SocialPlatform> =
            Api::namespaced(ctx.client.clone(), &sp.namespace().unwrap_or_default());
        api.patch_status(
            &sp.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": new })),
        )
        .await?;
        if ready && !was_ready {
            let p = Platform::new(sp);
            event(
                &p,
                ctx,
                EventType::Normal,
                "Ready",
                "Reconcile",
                format!("serving at {}", facts.endpoint),
            )
            .await;
        }
    }
    Ok(ready)
}

async fn event(
    p: &Platform<'_>,
    ctx: &Context,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &p.sp.object_ref(&())).await {
        tracing::debug!(error = %e, "event not recorded");
    }
}

/// The status a platform would get from `seen`, for tests and `kubectl`-less debugging.
pub fn status_for(sp: &SocialPlatform, seen: Seen) -> SocialPlatformStatus {
    let p = Platform::new(sp);
    status::status(&facts(&p, seen, None, is_paused(sp)), sp.status.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_five_minutes() {
        let delays: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_success_resets_the_backoff() {
        let failures = Failures::default();
        for _ in 0..7 {
            failures.failed("ns/a".into());
        }
        assert_eq!(failures.failed("ns/b".into()), 1, "counted per platform");
        failures.succeeded("ns/a");
        assert_eq!(backoff(failures.failed("ns/a".into())), backoff(1));
    }

    #[test]
    fn an_on_delete_statefulset_is_rolled_out_once_every_pod_is_updated() {
        let set = |strategy: Option<&str>, updated: i32| -> StatefulSet {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "demo-posts", "generation": 2},
                "spec": {"replicas": 3, "selector": {}, "serviceName": "x", "template": {},
                    "updateStrategy": {"type": strategy}},
                "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3,
                    "updatedReplicas": updated, "currentRevision": "old", "updateRevision": "new"}
            }))
            .unwrap()
        };
        // Kubernetes never moves an OnDelete set's current revision on.
        assert!(observed_set(&set(Some("OnDelete"), 3)).rolled_out);
        assert!(!observed_set(&set(Some("OnDelete"), 2)).rolled_out);
        assert!(
            !observed_set(&set(None, 3)).rolled_out,
            "a rolling update completes by itself"
        );
    }
}
