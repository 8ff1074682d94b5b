//! Monitoring for the Prometheus Operator: a PodMonitor scraping every part of the
//! platform, and a PrometheusRule of alerts, each with what to do when it fires (also in
//! docs/operator.md). Rendered only when the cluster has the `monitoring.coreos.com/v1`
//! CRDs (the controller checks); the Grafana dashboard is [`super::dashboard`].

use serde_json::{Value, json};

use super::{Child, Platform, image_tag};

pub const API_VERSION: &str = "monitoring.coreos.com/v1";
/// The resource names the controller looks for in the API group's discovery document.
pub const KINDS: &[(&str, &str)] = &[
    ("PodMonitor", "podmonitors"),
    ("PrometheusRule", "prometheusrules"),
];

/// The PodMonitor and the PrometheusRule, when monitoring is on and the cluster has the
/// Prometheus Operator's CRDs.
pub fn objects(p: &Platform, prometheus_operator: bool) -> Vec<Child> {
    if !p.sp.spec.monitoring.enabled || !prometheus_operator {
        return Vec::new();
    }
    vec![pod_monitor(p), rules(p)]
}

/// Every child's metadata, plus `spec.monitoring.labels`.
fn meta(p: &Platform) -> Value {
    let mut meta = p.meta(p.name.clone(), "monitoring", image_tag(&p.sp.spec.image));
    if let Some(labels) = meta.labels.as_mut() {
        labels.extend(p.sp.spec.monitoring.labels.clone());
    }
    serde_json::to_value(meta).unwrap_or_default()
}

/// Adds `platform` and `component` to every series, from the pod's labels.
fn relabelings(drop_component: Option<&str>) -> Value {
    let label = |name: &str| format!("__meta_kubernetes_pod_label_app_kubernetes_io_{name}");
    let mut rules = vec![
        json!({"sourceLabels": [label("instance")], "targetLabel": "platform", "action": "replace"}),
        json!({"sourceLabels": [label("component")], "targetLabel": "component", "action": "replace"}),
    ];
    if let Some(component) = drop_component {
        rules.insert(
            0,
            json!({"sourceLabels": [label("component")], "regex": component, "action": "drop"}),
        );
    }
    Value::Array(rules)
}

/// Contexts answer `/metrics` on their HTTP port (8080); the gateway on its scrape port
/// (9090) only, its public port refusing `/metrics` to all but loopback. The bus is not
/// scraped (NATS speaks JSON on its monitor port, not Prometheus). With `spec.tls`, the
/// contexts' port is HTTPS, checked against the platform's CA (every pod has the same
/// certificate, which names `localhost`).
fn pod_monitor(p: &Platform) -> Child {
    let selector = json!({"app.kubernetes.io/name": "agora", "app.kubernetes.io/instance": p.name});
    let mut contexts = json!({"port": "http", "path": "/metrics", "interval": "30s", "relabelings": relabelings(Some(super::gateway::COMPONENT))});
    if let (true, Some(fields)) = (super::tls::enabled(p), contexts.as_object_mut()) {
        fields.insert("scheme".into(), "https".into());
        fields.insert(
            "tlsConfig".into(),
            json!({
                "ca": {"secret": {"name": super::tls::secret_name(p), "key": "ca.crt"}},
                "serverName": "localhost",
            }),
        );
    }
    let object = json!({
        "metadata": meta(p),
        "spec": {
            "selector": {
                "matchLabels": selector,
                "matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "NotIn", "values": [super::nats::COMPONENT]}],
            },
            "podMetricsEndpoints": [
                contexts,
                {"port": "metrics", "path": "/metrics", "interval": "30s", "relabelings": relabelings(None)},
            ],
        },
    });
    Child::custom(API_VERSION, "PodMonitor", p.name.clone(), object)
}

/// One alert: its name, PromQL, how long it must hold, severity, and what to do.
pub struct Alert {
    pub name: &'static str,
    pub expr: String,
    pub hold: &'static str,
    pub severity: &'static str,
    pub summary: &'static str,
    pub action: &'static str,
}

/// Every alert of a platform, its series narrowed to the platform's namespace and name.
pub fn alerts(p: &Platform) -> Vec<Alert> {
    let t = &p.sp.spec.monitoring.alerts;
    let this = format!(r#"namespace="{}",platform="{}""#, p.namespace, p.name);
    let platform = format!(
        r#"platform_namespace="{}",platform="{}""#,
        p.namespace, p.name
    );
    vec![
        Alert {
            name: "AgoraPlatformNotReady",
            expr: format!(
                r#"agora_operator_platform_condition{{{platform},type="Ready"}} == 0 unless on(platform_namespace, platform) agora_operator_platform_condition{{{platform},type="Hibernated"}} == 1"#
            ),
            hold: "15m",
            severity: "critical",
            summary: "the platform has not been Ready for 15 minutes",
            action: "kubectl describe sp <name>: the <Context>Ready, EventBusReady and Degraded conditions say which part is missing; then the pods' events and logs",
        },
        Alert {
            name: "AgoraTargetDown",
            expr: format!(r#"up{{{this}}} == 0"#),
            hold: "5m",
            severity: "warning",
            summary: "a pod of the platform does not answer its metrics scrape",
            action: "kubectl get pods -l app.kubernetes.io/instance=<name>: look for restarts or OOM kills (raise the memory limit) and at the NetworkPolicy's scrapeNamespaceLabels",
        },
        Alert {
            name: "AgoraOutboxGrowing",
            expr: format!(
                r#"max by (namespace, platform, pod, context) (agora_outbox_depth{{{this}}}) > {}"#,
                t.outbox_events
            ),
            hold: "10m",
            severity: "warning",
            summary: "events wait in a context's outbox: the bus does not take them",
            action: "check EventBusReady and the NATS pods (storage full? quorum lost?); nothing is lost, the outbox is durable and drains once the bus is back",
        },
        Alert {
            name: "AgoraConsumerLagging",
            expr: format!(
                r#"max by (namespace, platform, context) (agora_consumer_pending_events{{{this}}}) > {}"#,
                t.consumer_lag_events
            ),
            hold: "10m",
            severity: "warning",
            summary: "a context applies events slower than they arrive: its views fall behind",
            action: "look at the context's CPU and logs (a handler failing and retrying shows as consumer_redeliveries); give it more CPU, or rebuild its projections if they are damaged",
        },
        Alert {
            name: "AgoraReplicaLagging",
            expr: format!(
                r#"max by (namespace, platform, context, pod) (agora_replica_behind_messages{{{this}}}) > {}"#,
                t.consumer_lag_events
            ),
            hold: "10m",
            severity: "warning",
            summary: "a follower replica applies its writer's changes slower than they come: its reads are stale",
            action: "look at the follower pod's CPU and logs; clients that send Agora-Consistency get 503 replica-lagging from it. A follower that missed part of the change stream is not ready (its /readyz says so) until the checkpoint it asks the writer for comes, within seconds while a writer runs",
        },
        Alert {
            name: "AgoraNoWriter",
            expr: format!(
                r#"sum by (namespace, platform, context) (agora_replica_writer{{{this}}}) == 0"#
            ),
            hold: "2m",
            severity: "critical",
            summary: "no replica of a replicated context holds its lease: its writes fail with 503",
            action: "the followers' logs say why none takes the lease (the bus unreachable? a follower that missed part of the change stream writes only once a checkpoint made it whole); check EventBusReady and the NATS pods",
        },
        Alert {
            name: "AgoraBackupTooOld",
            expr: format!(
                r#"agora_operator_platform_condition{{{platform},type="BackedUp"}} == 0"#
            ),
            hold: "15m",
            severity: "warning",
            summary: "no backup of the platform succeeded within spec.backup.alertAfterHours",
            action: "kubectl describe sp <name>: the BackedUp condition says why (Failed: kubectl logs -l app.kubernetes.io/component=backup names the context or the target that failed; TooOld: is the CronJob suspended, or the platform hibernating?); kubectl agora backup <name> takes one now",
        },
        Alert {
            name: "AgoraErrorsHigh",
            expr: format!(
                r#"sum by (namespace, platform, component) (rate(agora_http_requests_total{{{this},status=~"5.."}}[5m])) / sum by (namespace, platform, component) (rate(agora_http_requests_total{{{this}}}[5m])) > {}"#,
                f64::from(t.error_per_mille) / 1000.0
            ),
            hold: "5m",
            severity: "critical",
            summary: "a part of the platform answers too many requests with 5xx",
            action: "the part's logs name every 5xx cause; a 503 from the gateway means a context is unreachable (see AgoraTargetDown)",
        },
        Alert {
            name: "AgoraLatencyHigh",
            expr: format!(
                r#"histogram_quantile(0.99, sum by (namespace, platform, le) (rate(agora_http_request_duration_seconds_bucket{{{this},component="gateway"}}[5m]))) > {}"#,
                f64::from(t.p99_latency_ms) / 1000.0
            ),
            hold: "10m",
            severity: "warning",
            summary: "the gateway's p99 latency is over its target",
            action: "find the slow route in agora_http_request_duration_seconds by route; a saturated context needs CPU or replicas, a saturated gateway more replicas or autoscaling",
        },
        Alert {
            name: "AgoraVolumeFilling",
            expr: format!(
                r#"kubelet_volume_stats_used_bytes{{namespace="{ns}",persistentvolumeclaim=~"data-{name}-.+"}} / kubelet_volume_stats_capacity_bytes{{namespace="{ns}",persistentvolumeclaim=~"data-{name}-.+"}} > {}"#,
                f64::from(t.volume_full_percent) / 100.0,
                ns = p.namespace,
                name = p.name,
            ),
            hold: "10m",
            severity: "warning",
            summary: "a volume of the platform is filling up",
            action: "grow the claim (storage.size, if the StorageClass allows expansion) or, for the bus, shorten eventBus.streamMaxAgeDays; a full bus refuses events (AgoraOutboxGrowing follows)",
        },
    ]
}

fn rules(p: &Platform) -> Child {
    let rules: Vec<Value> = alerts(p)
        .into_iter()
        .map(|a| {
            json!({
                "alert": a.name,
                "expr": a.expr,
                "for": a.hold,
                "labels": {"severity": a.severity},
                "annotations": {
                    "summary": format!("{}/{}: {}", p.namespace, p.name, a.summary),
                    "description": a.action,
                },
            })
        })
        .collect();
    let object = json!({
        "metadata": meta(p),
        "spec": {"groups": [{"name": format!("agora.{}.{}", p.namespace, p.name), "rules": rules}]},
    });
    Child::custom(API_VERSION, "PrometheusRule", p.name.clone(), object)
}
