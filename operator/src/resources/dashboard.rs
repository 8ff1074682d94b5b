//! The platform's Grafana dashboard: a ConfigMap labelled `grafana_dashboard: "1"`, which
//! the Grafana sidecar (kube-prometheus-stack's convention) loads. Requests, latency,
//! errors, events published and applied, consumer lag, outboxes and memory, all narrowed
//! to this platform; the Prometheus data source is a dashboard variable.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};

use super::{Child, Platform, hash_of, image_tag};

/// One panel: its title, unit and queries (`{legend, expr}`).
pub struct Panel {
    pub title: &'static str,
    pub unit: &'static str,
    pub queries: Vec<(&'static str, String)>,
}

/// Every panel, its series narrowed to the platform. `$__rate_interval` is Grafana's.
pub fn panels(p: &Platform) -> Vec<Panel> {
    let this = format!(r#"namespace="{}",platform="{}""#, p.namespace, p.name);
    let pods = format!(
        r#"namespace="{}",pod=~"{}-.+",container!="""#,
        p.namespace, p.name
    );
    let rate = |metric: &str, filter: &str, by: &str| {
        format!("sum by ({by}) (rate({metric}{{{this}{filter}}}[$__rate_interval]))")
    };
    vec![
        Panel {
            title: "Requests per second",
            unit: "reqps",
            queries: vec![(
                "{{component}}",
                rate("agora_http_requests_total", "", "component"),
            )],
        },
        Panel {
            title: "Gateway latency",
            unit: "s",
            queries: [("p50", 0.5), ("p99", 0.99)]
                .into_iter()
                .map(|(legend, q)| {
                    let buckets = rate(
                        "agora_http_request_duration_seconds_bucket",
                        r#",component="gateway""#,
                        "le",
                    );
                    (legend, format!("histogram_quantile({q}, {buckets})"))
                })
                .collect(),
        },
        Panel {
            title: "5xx answers per second",
            unit: "reqps",
            queries: vec![(
                "{{component}}",
                rate(
                    "agora_http_requests_total",
                    r#",status=~"5..""#,
                    "component",
                ),
            )],
        },
        Panel {
            title: "Events published and applied per second",
            unit: "ops",
            queries: vec![
                (
                    "published by {{context}}",
                    rate("agora_events_published_total", "", "context"),
                ),
                (
                    "applied by {{context}}",
                    rate("agora_events_applied_total", "", "context"),
                ),
            ],
        },
        Panel {
            title: "Consumer lag (events behind the stream)",
            unit: "short",
            queries: vec![(
                "{{context}}",
                format!("max by (context) (agora_consumer_pending_events{{{this}}})"),
            )],
        },
        Panel {
            title: "Events waiting in outboxes",
            unit: "short",
            queries: vec![(
                "{{context}}",
                format!("max by (context) (agora_outbox_depth{{{this}}})"),
            )],
        },
        Panel {
            title: "Memory (working set)",
            unit: "bytes",
            queries: vec![(
                "{{pod}}",
                format!("sum by (pod) (container_memory_working_set_bytes{{{pods}}})"),
            )],
        },
        Panel {
            title: "CPU",
            unit: "short",
            queries: vec![(
                "{{pod}}",
                format!(
                    "sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}}}[$__rate_interval]))"
                ),
            )],
        },
    ]
}

fn panel(i: usize, panel: Panel) -> Value {
    let targets: Vec<Value> = panel
        .queries
        .into_iter()
        .zip('A'..)
        .map(|((legend, expr), id)| {
            json!({"refId": id.to_string(), "expr": expr, "legendFormat": legend,
                   "datasource": {"type": "prometheus", "uid": "${datasource}"}})
        })
        .collect();
    json!({
        "id": i + 1,
        "type": "timeseries",
        "title": panel.title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": targets,
    })
}

/// The dashboard document (Grafana's JSON model).
pub fn document(p: &Platform) -> Value {
    let panels: Vec<Value> = panels(p)
        .into_iter()
        .enumerate()
        .map(|(i, q)| panel(i, q))
        .collect();
    json!({
        "uid": format!("agora-{}", hash_of(&(&p.namespace, &p.name))),
        "title": format!("Agora: {}/{}", p.namespace, p.name),
        "tags": ["agora"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
        }]},
        "panels": panels,
    })
}

/// The ConfigMap holding the dashboard, when `spec.monitoring.dashboard` is on.
pub fn objects(p: &Platform) -> Vec<Child> {
    if !p.sp.spec.monitoring.dashboard {
        return Vec::new();
    }
    let mut meta = p.meta(
        p.object_name("dashboard"),
        "monitoring",
        image_tag(&p.sp.spec.image),
    );
    if let Some(labels) = meta.labels.as_mut() {
        labels.insert("grafana_dashboard".into(), "1".into());
    }
    let body = serde_json::to_string_pretty(&document(p)).unwrap_or_default();
    vec![Child::new(ConfigMap {
        metadata: meta,
        data: Some(BTreeMap::from([("agora.json".to_string(), body)])),
        ..Default::default()
    })]
}
