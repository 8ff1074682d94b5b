//! The operator's metrics (reconcile runs, failures, durations) and its HTTP server:
//! `/healthz`, `/readyz`, `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub struct Metrics {
    registry: Registry,
    pub reconciles: Counter,
    pub failures: Counter,
    pub duration: Histogram,
    /// Each platform's conditions as last written: 1 when `True`, else 0 (what the
    /// `AgoraPlatformNotReady` alert reads).
    conditions: Family<ConditionLabels, Gauge>,
    /// The label sets of `conditions`, to drop those of deleted platforms.
    condition_labels: std::sync::Mutex<std::collections::BTreeSet<ConditionLabels>>,
}

/// One condition of one platform. `platform_namespace`, not `namespace`: scraped, the
/// series gets the operator pod's own `namespace` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ConditionLabels {
    pub platform_namespace: String,
    pub platform: String,
    pub r#type: String,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("agora_operator");
        let reconciles = Counter::default();
        let failures = Counter::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register("reconciles", "Reconcile runs", reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Reconcile runs that failed",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconcile runs",
            duration.clone(),
        );
        let conditions = Family::default();
        registry.register(
            "platform_condition",
            "a platform's status condition: 1 when True, else 0",
            conditions.clone(),
        );
        Arc::new(Metrics {
            registry,
            reconciles,
            failures,
            duration,
            conditions,
            condition_labels: Default::default(),
        })
    }

    /// Records one condition of one platform.
    pub fn set_condition(&self, labels: ConditionLabels, on: bool) {
        self.conditions.get_or_create(&labels).set(i64::from(on));
        self.condition_labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(labels);
    }

    /// Drops the condition series of every platform not in `present` (namespace, name).
    pub fn forget_platforms_except(&self, present: &std::collections::BTreeSet<(String, String)>) {
        let mut known = self
            .condition_labels
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        known.retain(|l| {
            let keep = present.contains(&(l.platform_namespace.clone(), l.platform.clone()));
            if !keep {
                self.conditions.remove(l);
            }
            keep
        });
    }

    #[expect(clippy::expect_used, reason = "writing to a String cannot fail")]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

pub fn routes(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move { m.encode() }),
        )
        .with_state(metrics)
}

pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    axum::serve(listener, routes(metrics)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_platforms_conditions_are_forgotten() {
        let metrics = Metrics::new();
        for (ns, name) in [("a", "demo"), ("b", "demo")] {
            let labels = ConditionLabels {
                platform_namespace: ns.into(),
                platform: name.into(),
                r#type: "Ready".into(),
            };
            metrics.set_condition(labels, true);
        }
        let present = [("b".to_string(), "demo".to_string())].into();
        metrics.forget_platforms_except(&present);
        let text = metrics.encode();
        assert!(!text.contains(r#"platform_namespace="a""#), "{text}");
        assert!(
            text.contains(
                r#"platform_condition{platform_namespace="b",platform="demo",type="Ready"} 1"#
            ),
            "{text}"
        );
    }
}
