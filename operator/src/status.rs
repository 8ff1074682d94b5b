//! What the operator makes of what it observed, as pure functions: the rollout plan (which
//! image each workload runs now) and the status conditions.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{ContextStatus, SocialPlatformStatus};
use crate::hibernation;
pub use crate::observed::Observed;

/// Which image each workload (`auth`, `users` or `node`, then `gateway`) should run now.
///
/// When the spec's image changes, the workloads move one at a time, in order: each waits
/// until the one before it runs the new image and is ready; the gateway goes last. A
/// workload that does not exist yet gets the new image at once. NATS is never touched.
pub fn rollout_plan(
    target: &str,
    workloads: &[String],
    observed: &BTreeMap<String, Observed>,
) -> BTreeMap<String, String> {
    let mut plan = BTreeMap::new();
    let mut earlier_done = true;
    for name in workloads.iter().map(String::as_str).chain(["gateway"]) {
        let image = match observed.get(name) {
            None => target.to_string(),
            Some(o) if o.image == target => target.to_string(),
            Some(_) if earlier_done => target.to_string(),
            Some(o) => o.image.clone(),
        };
        let done = observed
            .get(name)
            .is_none_or(|o| o.image == target && o.ready());
        earlier_done &= done;
        plan.insert(name.to_string(), image);
    }
    plan
}

/// What became of the PodMonitor and PrometheusRule (`spec.monitoring.enabled`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Monitoring {
    /// Not asked for.
    #[default]
    Disabled,
    /// Asked for, but the cluster has no Prometheus Operator CRDs.
    Missing,
    /// Applied.
    Applied,
}

/// Everything status is computed from.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub generation: Option<i64>,
    pub target_image: String,
    pub workloads: Vec<String>,
    /// Contexts served by each workload.
    pub contexts_of: BTreeMap<String, Vec<String>>,
    pub observed: BTreeMap<String, Observed>,
    /// `None` for an external bus (not observed by the operator).
    pub bus: Option<Observed>,
    pub endpoint: String,
    pub paused: bool,
    /// `spec.hibernate`.
    pub hibernate: bool,
    /// What became of the Prometheus Operator's objects.
    pub monitoring: Monitoring,
    /// The rebuild asked for with the annotation, as carried on by this reconcile.
    pub rebuild: Option<crate::crd::RebuildStatus>,
    /// An error of the last apply, shown as `Degraded`.
    pub error: Option<String>,
    /// `spec.backup`'s alert threshold in hours, when backups are asked for.
    pub backup_alert_hours: Option<u32>,
    /// What the backup CronJob says.
    pub backup: Option<crate::crd::BackupStatus>,
    /// The time of this look, which backup ages are measured against.
    pub now: k8s_openapi::jiff::Timestamp,
    /// Per replicated context, its writer and its pods, as they said.
    pub replicas: BTreeMap<String, (Option<String>, Vec<crate::crd::ReplicaPod>)>,
}

fn condition(
    kind: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: kind.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
    }
}

/// The new status. Conditions whose `status` did not change keep their
/// `lastTransitionTime` from `previous`.
pub fn status(facts: &Facts, previous: Option<&SocialPlatformStatus>) -> SocialPlatformStatus {
    let g = facts.generation;
    let (mut conditions, contexts) = context_conditions(facts);
    let ready_contexts = conditions.iter().filter(|c| c.status == "True").count();
    let total_contexts = conditions.len();
    let sleep = hibernation::state(facts.hibernate, &facts.observed, facts.bus.as_ref());
    let bus_ok = !facts.hibernate && facts.bus.as_ref().is_none_or(Observed::ready);
    let bus_message = match &facts.bus {
        None => "external bus, not managed by the operator".to_string(),
        Some(o) => format!("{}/{} NATS servers ready", o.ready_replicas, o.replicas),
    };
    let bus_reason = match (bus_ok, facts.hibernate) {
        (true, _) => "Ready",
        (false, true) => "Hibernated",
        (false, false) => "NotReady",
    };
    conditions.push(condition(
        "EventBusReady",
        bus_ok,
        bus_reason,
        bus_message,
        g,
    ));
    let gateway = facts.observed.get("gateway").cloned().unwrap_or_default();
    let gateway_ok = gateway.ready() && gateway.image == facts.target_image;
    let all_ready = !facts.hibernate && bus_ok && gateway_ok && ready_contexts == total_contexts;
    conditions.push(progressing(
        facts,
        &sleep,
        all_ready,
        ready_contexts,
        total_contexts,
    ));
    let (degraded_reason, degraded_message) = match &facts.error {
        Some(e) => ("ApplyFailed", e.clone()),
        None => ("AsExpected", "no errors".to_string()),
    };
    conditions.push(condition(
        "Degraded",
        facts.error.is_some(),
        degraded_reason,
        degraded_message,
        g,
    ));
    conditions.push(paused(facts));
    let (on, reason, message) = hibernation::condition_of(&sleep);
    conditions.push(condition("Hibernated", on, reason, message, g));
    conditions.push(monitoring(facts.monitoring, g));
    if let Some(hours) = facts.backup_alert_hours {
        let (ok, reason, message) =
            crate::backup::condition(facts.backup.as_ref(), hours, facts.now);
        conditions.push(condition("BackedUp", ok, reason, message, g));
    }
    conditions.push(ready(facts, all_ready));
    keep_transition_times(&mut conditions, previous);
    SocialPlatformStatus {
        observed_generation: g,
        conditions,
        contexts,
        contexts_ready: Some(format!("{ready_contexts}/{total_contexts}")),
        gateway_endpoint: Some(facts.endpoint.clone()),
        rebuild: facts.rebuild.clone(),
        backup: facts.backup.clone(),
    }
}

/// One `<Context>Ready` condition and one status entry per context.
fn context_conditions(facts: &Facts) -> (Vec<Condition>, BTreeMap<String, ContextStatus>) {
    let mut conditions = Vec::new();
    let mut contexts = BTreeMap::new();
    for w in &facts.workloads {
        let o = facts.observed.get(w).cloned().unwrap_or_default();
        for context in facts.contexts_of.get(w).into_iter().flatten() {
            let ok = !facts.hibernate && o.ready() && o.image == facts.target_image;
            let replicas = format!("{}/{} replicas ready", o.ready_replicas, o.replicas);
            let (reason, message) = if ok {
                ("Ready", replicas)
            } else if facts.hibernate {
                ("Hibernated", "no pods while the platform hibernates".into())
            } else if o.image != facts.target_image && !o.image.is_empty() {
                (
                    "RollingOut",
                    format!("running {}, moving to {}", o.image, facts.target_image),
                )
            } else {
                ("NotReady", replicas)
            };
            let kind = format!("{}Ready", capitalize(context));
            conditions.push(condition(&kind, ok, reason, message, facts.generation));
            contexts.insert(
                context.clone(),
                ContextStatus {
                    ready_replicas: o.ready_replicas,
                    replicas: o.replicas,
                    image: o.image.clone(),
                    writer: facts.replicas.get(context).and_then(|r| r.0.clone()),
                    replica_pods: facts
                        .replicas
                        .get(context)
                        .map(|r| r.1.clone())
                        .unwrap_or_default(),
                },
            );
        }
    }
    (conditions, contexts)
}

fn progressing(
    facts: &Facts,
    sleep: &hibernation::Sleep,
    all_ready: bool,
    ready: usize,
    total: usize,
) -> Condition {
    let (on, reason, message) = match sleep {
        hibernation::Sleep::Hibernating { .. } => (
            facts.error.is_none(),
            "Hibernating",
            hibernation::condition_of(sleep).2,
        ),
        hibernation::Sleep::Hibernated => (false, "Settled", "hibernated".to_string()),
        hibernation::Sleep::Awake if !all_ready && facts.error.is_none() => (
            true,
            "Reconciling",
            format!("{ready}/{total} contexts ready"),
        ),
        hibernation::Sleep::Awake => (false, "Settled", "nothing in progress".to_string()),
    };
    condition("Progressing", on, reason, message, facts.generation)
}

fn paused(facts: &Facts) -> Condition {
    let (reason, message) = if facts.paused {
        (
            "PausedByUser",
            "spec.paused or the agora.dev/paused annotation is set: nothing is changed",
        )
    } else {
        ("Reconciling", "not paused")
    };
    condition(
        "Paused",
        facts.paused,
        reason,
        message.into(),
        facts.generation,
    )
}

/// The `Monitoring` condition: never a reason for not being ready.
fn monitoring(state: Monitoring, generation: Option<i64>) -> Condition {
    let (on, reason, message) = match state {
        Monitoring::Applied => (true, "Applied", "PodMonitor and PrometheusRule applied"),
        Monitoring::Missing => (
            false,
            "PrometheusOperatorMissing",
            "the cluster has no monitoring.coreos.com/v1 PodMonitor and PrometheusRule CRDs: \
             none created; every part still serves /metrics",
        ),
        Monitoring::Disabled => (false, "Disabled", "spec.monitoring.enabled is false"),
    };
    condition("Monitoring", on, reason, message.into(), generation)
}

fn ready(facts: &Facts, all_ready: bool) -> Condition {
    let (reason, message) = if all_ready {
        ("Ready", format!("serving at {}", facts.endpoint))
    } else if facts.hibernate {
        (
            "Hibernated",
            "the platform hibernates: set spec.hibernate to false to wake it".to_string(),
        )
    } else {
        (
            "NotReady",
            "waiting for the bus, contexts and gateway".to_string(),
        )
    };
    condition("Ready", all_ready, reason, message, facts.generation)
}

fn keep_transition_times(conditions: &mut [Condition], previous: Option<&SocialPlatformStatus>) {
    let Some(previous) = previous else { return };
    for c in conditions {
        if let Some(old) = previous
            .conditions
            .iter()
            .find(|o| o.type_ == c.type_ && o.status == c.status)
        {
            c.last_transition_time = old.last_transition_time.clone();
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Whether two statuses differ in anything but the time stamps of conditions.
pub fn changed(a: &SocialPlatformStatus, b: Option<&SocialPlatformStatus>) -> bool {
    b != Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(image: &str, ready: bool) -> Observed {
        Observed {
            image: image.into(),
            replicas: 1,
            ready_replicas: i32::from(ready),
            pods: 1,
            rolled_out: ready,
        }
    }

    fn workloads() -> Vec<String> {
        vec!["auth".into(), "users".into()]
    }

    #[test]
    fn a_new_image_moves_one_workload_at_a_time_and_the_gateway_last() {
        let mut seen = BTreeMap::from([
            ("auth".into(), obs("v1", true)),
            ("users".into(), obs("v1", true)),
            ("gateway".into(), obs("v1", true)),
        ]);
        let plan = rollout_plan("v2", &workloads(), &seen);
        assert_eq!(
            (
                plan["auth"].as_str(),
                plan["users"].as_str(),
                plan["gateway"].as_str()
            ),
            ("v2", "v1", "v1")
        );
        // auth runs v2 but is not ready yet: users waits.
        seen.insert("auth".into(), obs("v2", false));
        assert_eq!(rollout_plan("v2", &workloads(), &seen)["users"], "v1");
        seen.insert("auth".into(), obs("v2", true));
        let plan = rollout_plan("v2", &workloads(), &seen);
        assert_eq!(
            (plan["users"].as_str(), plan["gateway"].as_str()),
            ("v2", "v1")
        );
        seen.insert("users".into(), obs("v2", true));
        assert_eq!(rollout_plan("v2", &workloads(), &seen)["gateway"], "v2");
    }

    #[test]
    fn a_first_deployment_gets_the_target_everywhere() {
        let plan = rollout_plan("v1", &workloads(), &BTreeMap::new());
        assert!(plan.values().all(|i| i == "v1"));
    }

    fn facts(ready: bool) -> Facts {
        Facts {
            generation: Some(3),
            target_image: "v1".into(),
            workloads: workloads(),
            contexts_of: BTreeMap::from([
                ("auth".into(), vec!["auth".into()]),
                ("users".into(), vec!["users".into()]),
            ]),
            observed: BTreeMap::from([
                ("auth".into(), obs("v1", true)),
                ("users".into(), obs("v1", ready)),
                ("gateway".into(), obs("v1", true)),
            ]),
            bus: Some(obs("nats", true)),
            endpoint: "http://demo-gateway.tenants.svc:8080".into(),
            paused: false,
            hibernate: false,
            monitoring: Monitoring::Applied,
            rebuild: None,
            error: None,
            backup_alert_hours: None,
            backup: None,
            now: k8s_openapi::jiff::Timestamp::now(),
            replicas: BTreeMap::new(),
        }
    }

    fn get<'a>(s: &'a SocialPlatformStatus, kind: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == kind).unwrap()
    }

    #[test]
    fn ready_when_everything_is_and_progressing_until_then() {
        let s = status(&facts(false), None);
        assert_eq!(get(&s, "Ready").status, "False");
        assert_eq!(get(&s, "Progressing").status, "True");
        assert_eq!(get(&s, "UsersReady").status, "False");
        assert_eq!(get(&s, "AuthReady").status, "True");
        assert_eq!(s.contexts_ready.as_deref(), Some("1/2"));
        assert_eq!(s.observed_generation, Some(3));
        assert!(
            s.conditions
                .iter()
                .all(|c| c.observed_generation == Some(3))
        );
        let s = status(&facts(true), None);
        assert_eq!(get(&s, "Ready").status, "True");
        assert_eq!(get(&s, "Progressing").status, "False");
    }

    #[test]
    fn transition_times_change_only_when_a_condition_flips() {
        let mut before = status(&facts(false), None);
        for c in &mut before.conditions {
            c.last_transition_time = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        }
        let after = status(&facts(true), Some(&before));
        assert_eq!(
            get(&after, "AuthReady").last_transition_time,
            get(&before, "AuthReady").last_transition_time
        );
        assert_ne!(
            get(&after, "UsersReady").last_transition_time,
            get(&before, "UsersReady").last_transition_time
        );
        assert!(!changed(&after, Some(&after.clone())));
    }

    #[test]
    fn an_apply_error_is_degraded_not_progressing() {
        let mut f = facts(false);
        f.error = Some("forbidden".into());
        let s = status(&f, None);
        assert_eq!(get(&s, "Degraded").status, "True");
        assert_eq!(get(&s, "Degraded").message, "forbidden");
        assert_eq!(get(&s, "Progressing").status, "False");
    }
}
