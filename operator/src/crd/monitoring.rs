//! `spec.monitoring`: what the operator gives a Prometheus and a Grafana.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Monitoring of the platform: a PodMonitor and alerting rules for the Prometheus
/// Operator, a Grafana dashboard, and the network access a scraper needs.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// A PodMonitor for every part's `/metrics` and a PrometheusRule of alerts, created
    /// when the Prometheus Operator's CRDs (`monitoring.coreos.com/v1`) exist in the
    /// cluster, which the operator checks at every reconcile (the `Monitoring` condition
    /// says what it found). `false`: neither, and no scrape access in the NetworkPolicies.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Labels added to the PodMonitor and the PrometheusRule, for a Prometheus that
    /// selects them by label (kube-prometheus-stack: `release: <its release name>`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Labels of the namespaces whose pods may scrape the platform's metrics (the contexts'
    /// port 8080 and the gateway's 9090), let in by the NetworkPolicies.
    #[serde(default = "default_scrapers")]
    #[x_kube(validation = Rule::new("size(self) >= 1").message("scrapeNamespaceLabels needs at least one label (an empty selector would admit every namespace)"))]
    pub scrape_namespace_labels: BTreeMap<String, String>,
    /// A Grafana dashboard in the ConfigMap `<platform>-dashboard`, labelled
    /// `grafana_dashboard: "1"` for the Grafana sidecar (kube-prometheus-stack's
    /// convention), whether or not the Prometheus Operator is installed.
    #[serde(default = "yes")]
    pub dashboard: bool,
    /// When the alerts fire.
    #[serde(default)]
    pub alerts: AlertThresholds,
}

fn yes() -> bool {
    true
}

fn default_scrapers() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "kubernetes.io/metadata.name".to_string(),
        "monitoring".to_string(),
    )])
}

impl Default for MonitoringSpec {
    fn default() -> Self {
        MonitoringSpec {
            enabled: true,
            labels: BTreeMap::new(),
            scrape_namespace_labels: default_scrapers(),
            dashboard: true,
            alerts: AlertThresholds::default(),
        }
    }
}

/// Thresholds of the alerts in the PrometheusRule.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertThresholds {
    /// `AgoraLatencyHigh`: the gateway's p99 over this many milliseconds for 10 minutes
    /// (the product's target is 200).
    #[serde(default = "default_p99_ms")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 60000").message("p99LatencyMs must be 1 to 60000"))]
    pub p99_latency_ms: i32,
    /// `AgoraErrorsHigh`: 5xx answers over this per mille of a part's requests for 5
    /// minutes.
    #[serde(default = "default_error_permille")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 1000").message("errorPerMille must be 1 to 1000"))]
    pub error_per_mille: i32,
    /// `AgoraConsumerLagging`: a context's consumer this many events behind the stream
    /// head for 10 minutes.
    #[serde(default = "default_lag")]
    #[x_kube(validation = Rule::new("self >= 1").message("consumerLagEvents must be at least 1"))]
    pub consumer_lag_events: i32,
    /// `AgoraOutboxGrowing`: this many events waiting in a context's outbox for 10
    /// minutes (the bus is unreachable or refusing them).
    #[serde(default = "default_outbox")]
    #[x_kube(validation = Rule::new("self >= 1").message("outboxEvents must be at least 1"))]
    pub outbox_events: i32,
    /// `AgoraVolumeFilling`: a volume of the platform (the bus's or a context's) fuller
    /// than this percentage for 10 minutes.
    #[serde(default = "default_volume_percent")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100").message("volumeFullPercent must be 1 to 100"))]
    pub volume_full_percent: i32,
}

fn default_p99_ms() -> i32 {
    200
}
fn default_error_permille() -> i32 {
    10
}
fn default_lag() -> i32 {
    1_000
}
fn default_outbox() -> i32 {
    1_000
}
fn default_volume_percent() -> i32 {
    80
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            p99_latency_ms: default_p99_ms(),
            error_per_mille: default_error_permille(),
            consumer_lag_events: default_lag(),
            outbox_events: default_outbox(),
            volume_full_percent: default_volume_percent(),
        }
    }
}
