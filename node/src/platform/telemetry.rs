//! Logs and Prometheus metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for clusters.
    Json,
}

/// Installs the global subscriber. `RUST_LOG` sets levels (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sled=warn,async_nats=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ContextLabel {
    pub context: String,
}

impl ContextLabel {
    pub fn new(context: &str) -> Self {
        ContextLabel {
            context: context.to_string(),
        }
    }
}

/// A platform-level figure of the analytics context (`figure`: `active_users_day`,
/// `posts_today`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FigureLabel {
    pub figure: String,
}

type HistogramFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// Every metric of the process; one registry, passed in, never global.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: HistogramFamily,
    pub outbox_depth: Family<ContextLabel, Gauge>,
    pub events_published: Family<ContextLabel, Counter>,
    pub events_applied: Family<ContextLabel, Counter>,
    pub events_skipped: Family<ContextLabel, Counter>,
    pub redeliveries: Family<ContextLabel, Counter>,
    /// Events in the stream that a context's consumer has not been delivered yet (its lag
    /// behind the stream head), as JetStream reported with the last delivery.
    pub consumer_pending: Family<ContextLabel, Gauge>,
    /// The analytics context's platform figures (set where it runs).
    pub platform_figures: Family<FigureLabel, Gauge>,
    /// 1 where this process writes a replicated context, 0 where it follows.
    pub replica_writer: Family<ContextLabel, Gauge>,
    /// Change-stream messages a follower has not applied yet (its lag behind the writer).
    pub replica_behind: Family<ContextLabel, Gauge>,
    /// What a context's resident projections hold in memory, about (bytes).
    pub resident_bytes: Family<ContextLabel, Gauge>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("agora");
        let http_requests = Family::default();
        let http_duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let outbox_depth = Family::default();
        let events_published = Family::default();
        let events_applied = Family::default();
        let events_skipped = Family::default();
        let redeliveries = Family::default();
        let consumer_pending = Family::default();
        let platform_figures = Family::default();
        let replica_writer = Family::default();
        let replica_behind = Family::default();
        let resident_bytes = Family::default();
        registry.register(
            "resident_bytes",
            "what a context's projections held in memory take, about (0: none, or over their budget and read from sled)",
            resident_bytes.clone(),
        );
        registry.register(
            "replica_writer",
            "1 where this process writes a replicated context (it holds the lease), 0 where it follows",
            replica_writer.clone(),
        );
        registry.register(
            "replica_behind_messages",
            "change-stream messages a follower has not applied yet (its lag behind the writer)",
            replica_behind.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP latency by route and status",
            http_duration.clone(),
        );
        registry.register(
            "outbox_depth",
            "events waiting in the outbox",
            outbox_depth.clone(),
        );
        registry.register(
            "events_published",
            "events published to JetStream",
            events_published.clone(),
        );
        registry.register(
            "events_applied",
            "consumed events applied",
            events_applied.clone(),
        );
        registry.register(
            "events_skipped",
            "consumed events skipped (duplicate or unknown)",
            events_skipped.clone(),
        );
        registry.register(
            "consumer_redeliveries",
            "events delivered more than once",
            redeliveries.clone(),
        );
        registry.register(
            "consumer_pending_events",
            "events in the stream a context's consumer has not received yet (its lag behind the stream head)",
            consumer_pending.clone(),
        );
        registry.register(
            "platform",
            "platform figures from the analytics context: active users (day, week, month) and today's registrations, posts, comments, reactions, shares and messages",
            platform_figures.clone(),
        );
        Arc::new(Metrics {
            registry,
            http_requests,
            http_duration,
            outbox_depth,
            events_published,
            events_applied,
            events_skipped,
            redeliveries,
            consumer_pending,
            platform_figures,
            replica_writer,
            replica_behind,
            resident_bytes,
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

/// Middleware counting requests and timing them by matched route.
pub async fn track_http(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    let labels = HttpLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    metrics.http_requests.get_or_create(&labels).inc();
    metrics
        .http_duration
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    response
}

pub async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}
