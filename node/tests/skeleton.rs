//! Adding a context needs only the `BoundedContext` impl: a toy context with one route and
//! one subscription, started by the platform, driven through the gateway and the bus. Its
//! event changed shape once (version 1 called the field `title`): a version-1 event still
//! in the stream applies after the "upgrade", live and when the projection is rebuilt.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::sync::Arc;

use agora_node::gateway::{self, Edge};
use agora_node::platform::bus::{Bus, StreamSettings};
use agora_node::platform::config::{AuthArgs, EdgeArgs, MediaArgs};
use agora_node::platform::context::{BoundedContext, Event, Subscriptions};
use agora_node::platform::envelope::{DomainEvent, Envelope};
use agora_node::platform::error::{ApiError, ApiResult};
use agora_node::platform::mail::Mailer;
use agora_node::platform::storage::{Store, Tx, TxResult, key};
use agora_node::platform::telemetry::Metrics;
use agora_node::platform::tokens::{KeyPair, TokenVerifier};
use agora_node::platform::{Platform, rebuild};
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use clap::Parser;
use common::*;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

/// A toy was noted (version 2: `name`; version 1 called it `title`).
#[derive(Serialize, Deserialize)]
struct ToyNoted {
    name: String,
}

impl DomainEvent for ToyNoted {
    const CONTEXT: &'static str = "toy";
    const TYPE: &'static str = "ToyNoted";
    const VERSION: u32 = 2;

    fn upcast(version: u32, data: serde_json::Value) -> Option<serde_json::Value> {
        match version {
            1 => Some(serde_json::json!({ "name": data.get("title")? })),
            _ => None,
        }
    }
}

struct Toy;

fn seen(tx: &Tx, e: &Event<ToyNoted>) -> TxResult<()> {
    tx.put_raw(&key("seen/", &[&e.data.name]), &[])
}

async fn note(State(store): State<Store>, Path(name): Path<String>) -> ApiResult<&'static str> {
    store
        .write(|tx| {
            tx.emit(&Envelope::new(
                "tester",
                &name,
                &ToyNoted { name: name.clone() },
            ))
        })
        .await?;
    Ok("noted")
}

async fn look(State(store): State<Store>, Path(name): Path<String>) -> ApiResult<&'static str> {
    match store.contains(&key("seen/", &[&name]))? {
        true => Ok("seen"),
        false => Err(ApiError::NotFound(format!("toy {name} not seen"))),
    }
}

impl BoundedContext for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }
    fn paths(&self) -> &'static [&'static str] {
        &["toys"]
    }
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApi::default()
    }
    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::default().on::<ToyNoted>(seen)
    }
    fn projections(&self) -> &'static [&'static str] {
        &["seen/"]
    }
    fn routes(&self, _: &Platform, store: Store) -> anyhow::Result<Router> {
        Ok(Router::new()
            .route("/api/v1/toys/{name}", post(note).get(look))
            .with_state(store))
    }
}

#[derive(Parser)]
struct Settings {
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    edge: EdgeArgs,
    #[command(flatten)]
    media: MediaArgs,
}

async fn status(app: &Router, method: &str, path: &str) -> u16 {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .body(axum::body::Body::empty())
        .unwrap();
    app.clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toy_context_is_routed_consumed_upcast_and_rebuilt() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::parse_from(["test"]);
    let keys = KeyPair::load_or_create(dir.path()).unwrap();
    let stream = StreamSettings {
        prefix: "toyland".into(),
        replicas: 1,
        max_age: std::time::Duration::ZERO,
    };
    let bus = Bus::connect(&nats.url(), None, None, stream).await.unwrap();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let platform = Platform {
        name: "toyland".into(),
        data_dir: dir.path().to_path_buf(),
        bus: bus.clone(),
        verifier: Arc::new(TokenVerifier::new(&keys.public_pem, "toyland").unwrap()),
        keys: None,
        auth: Arc::new(settings.auth),
        mailer: Mailer::Log,
        digest_interval: std::time::Duration::from_secs(86_400),
        media: settings.media.limits(),
        media_urls: None,
        blocked_keywords: Arc::default(),
        record_views: true,
        search_index_in_memory: false,
        bulk_seeding: false,
        store_cache_bytes: agora_node::platform::storage::DEFAULT_CACHE_BYTES,
        resident_bytes: 64 << 20,
        index_cache_bytes: 1 << 20,
        metrics: Metrics::new(),
        shutdown,
        running: Arc::default(),
        control: Arc::default(),
        replication: None,
        encryption_key: Some(
            agora_node::platform::keyring::PlatformKey::from_setting(
                &agora_node::platform::keyring::PlatformKey::generate(),
            )
            .unwrap(),
        ),
    };

    // The gateway's routing table comes from the declared paths.
    assert_eq!(
        gateway::route(&[&Toy], &axum::http::Method::GET, "/api/v1/toys/ball"),
        Some("toy")
    );
    let edge = Edge::new(platform.verifier.clone(), &settings.edge, 1024 * 1024);
    let app = gateway::wrap(
        platform.start(&Toy).unwrap(),
        edge,
        &settings.edge,
        platform.metrics.clone(),
    );

    // Through the gateway, the outbox, the stream, the consumer and back.
    assert_eq!(status(&app, "GET", "/api/v1/toys/ball").await, 404);
    assert_eq!(status(&app, "POST", "/api/v1/toys/ball").await, 200);
    eventually("the toy's own event is consumed", || async {
        status(&app, "GET", "/api/v1/toys/ball").await == 200
    })
    .await;

    // An event written by the previous version is still in the stream: it applies.
    let mut old = Envelope::new("tester", "kite", &ToyNoted { name: "-".into() });
    old.version = 1;
    old.data = serde_json::json!({ "title": "kite" });
    bus.ensure_stream().await.unwrap();
    bus.js
        .publish(
            old.subject("toyland"),
            serde_json::to_vec(&old).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    eventually("a version-1 event is upcast and applied", || async {
        status(&app, "GET", "/api/v1/toys/kite").await == 200
    })
    .await;

    // Wipe the projection, rebuild it from the stream: the same answers.
    let running = platform.running().into_iter().next().unwrap();
    running.store.data.remove(key("seen/", &["ball"])).unwrap();
    running.store.data.remove(key("seen/", &["kite"])).unwrap();
    assert_eq!(status(&app, "GET", "/api/v1/toys/ball").await, 404);
    let report = rebuild::rebuild(&running, &bus).await.unwrap();
    assert_eq!((report.events, report.records), (2, 2), "{report:?}");
    for toy in ["ball", "kite"] {
        assert_eq!(
            status(&app, "GET", &format!("/api/v1/toys/{toy}")).await,
            200
        );
    }
    // The live consumer does not apply the replayed events a second time, and goes on.
    assert_eq!(status(&app, "POST", "/api/v1/toys/yoyo").await, 200);
    eventually("new events still apply after the switch", || async {
        status(&app, "GET", "/api/v1/toys/yoyo").await == 200
    })
    .await;
}
