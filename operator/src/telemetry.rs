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
    pub conditions: Family<ConditionLabels, Gauge>,
}

/// One condition of one platform. `platform_namespace`, not `namespace`: scraped, the
/// series gets the operator pod's own `namespace` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
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
        })
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
