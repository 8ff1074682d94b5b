//! Plumbing shared by every context. Imports no context.
//!
//! - [`context`]: the skeleton every context fills in (the list of contexts, the trait,
//!   the typed subscription table);
//! - [`rebuild`]: projections rebuilt by replaying the stream;
//! - [`config`]: the typed, validated configuration (flags and `AGORA_*` variables);
//! - [`mail`]: outgoing mail (SMTP, the dev mailbox, the log);
//! - [`memory`]: the process's memory budget, which sizes the caches;
//! - [`media_urls`]: signed URLs of media, made where media is shown, checked by media;
//! - [`error`]: the problem+json error model;
//! - [`http`]: extractors, pagination, health routes, serving;
//! - [`storage`]: sled per context, transactions, group commit;
//! - [`envelope`], [`bus`]: events, the outbox relay and consumers on JetStream;
//! - [`tokens`]: JWT issue/verify and the authentication extractors;
//! - [`revocation`]: ended sessions followed from the stream into the verifier;
//! - [`telemetry`]: logs and metrics;
//! - [`keyring`], [`sealed_blocks`], [`sealed_files`]: the platform's key, per-person keys
//!   of sealed event fields, and files sealed at rest (docs/architecture.md, "What is
//!   encrypted where");
//! - [`text`]: the rules for free text.

pub mod backup;
pub mod bus;
pub mod changes;
pub mod config;
pub mod context;
pub mod control;
pub mod envelope;
pub mod erasure;
pub mod error;
pub mod export;
pub mod http;
pub mod keyfile;
pub mod keyring;
pub mod keywords;
pub mod mail;
pub mod media_urls;
pub mod memory;
pub mod push;
pub mod ranges;
pub mod rebuild;
pub mod replication;
pub mod revocation;
pub mod sealed_blocks;
pub mod sealed_files;
pub mod storage;
pub mod telemetry;
pub mod text;
pub mod tls;
pub mod tokens;
pub mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::sync::watch;

use bus::{Bus, ConsumerSpec};
use config::AuthArgs;
use context::{BoundedContext, Subscriptions};
use mail::Mailer;
use storage::Store;
use telemetry::Metrics;
use tokens::{KeyPair, TokenVerifier};

/// Ids increase within a process, also within one millisecond (where ULIDs alone order
/// at random), so "newest first" and "in order" lists follow creation. The one piece of
/// process-wide state: every context of the process draws from it.
static IDS: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());

/// A new id: a ULID, greater than every id this process made before.
pub fn new_id() -> String {
    let mut ids = IDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Overflow needs 2^80 ids in one millisecond; fall back to a random one then.
    ids.generate()
        .unwrap_or_else(|_| ulid::Ulid::generate())
        .to_string()
}

/// The current unix time in seconds: how records store times.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The state of a context whose handlers need only its store and the token verifier.
#[derive(Clone)]
pub struct ContextState {
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
}

impl axum::extract::FromRef<ContextState> for Arc<TokenVerifier> {
    fn from_ref(state: &ContextState) -> Self {
        state.verifier.clone()
    }
}

/// A context running in this process: what `rebuild` needs to replay into it.
#[derive(Clone)]
pub struct Running {
    pub name: &'static str,
    pub store: Store,
    pub subscriptions: Arc<Subscriptions>,
    pub projections: &'static [&'static str],
}

/// What the contexts running in one process share.
#[derive(Clone)]
pub struct Platform {
    /// The platform's name (token issuer, default subject prefix).
    pub name: String,
    pub data_dir: PathBuf,
    pub bus: Bus,
    pub verifier: Arc<TokenVerifier>,
    /// The signing key pair, where this process issues tokens (auth).
    pub keys: Option<Arc<KeyPair>>,
    /// Settings of the auth context.
    pub auth: Arc<AuthArgs>,
    /// Where mail goes.
    pub mailer: Mailer,
    /// How often the notifications context counts what to mail as a digest.
    pub digest_interval: std::time::Duration,
    /// Upload limits (the media context).
    pub media: config::MediaLimits,
    /// `AGORA_BLOCKED_KEYWORDS`: the platform's own keyword rules (the moderation context).
    pub blocked_keywords: Arc<Vec<String>>,
    /// `AGORA_RECORD_VIEWS`: whether read paths record views for analytics.
    pub record_views: bool,
    /// Whether search's index lives in memory only (`AGORA_SEARCH_INDEX_IN_MEMORY`).
    pub search_index_in_memory: bool,
    /// `dev --bulk-seeding`: auth and users answer the routes that make generated accounts
    /// and friendships in bulk, for benchmarks (never set by `serve`).
    pub bulk_seeding: bool,
    /// The key of media URLs, where configured.
    pub media_urls: Option<Arc<media_urls::MediaUrls>>,
    /// The page cache of each store this process opens ([`memory`]).
    pub store_cache_bytes: u64,
    /// The most each store's resident projections may hold ([`memory`]).
    pub resident_bytes: u64,
    /// The most the search index's opened reads may hold (a share of the memory budget).
    pub index_cache_bytes: u64,
    pub metrics: Arc<Metrics>,
    pub shutdown: watch::Receiver<bool>,
    /// The contexts started in this process, each store flushed once more at shutdown.
    pub running: Arc<std::sync::Mutex<Vec<Running>>>,
    /// Who may use `/ops/`, and its jobs ([`control`]).
    pub control: Arc<control::Control>,
    /// Set when the contexts run as replicas ([`replication`]).
    pub replication: Option<config::Replication>,
    /// The platform's key (`AGORA_ENCRYPTION_KEY`): the stores' values are sealed with keys
    /// derived from it ([`storage::sealing`]). Without it they are stored in the clear.
    pub encryption_key: Option<keyring::PlatformKey>,
}

impl Platform {
    /// The contexts started so far. A poisoned lock is recovered: the list is only ever
    /// pushed to, so it cannot be left half-written (the crate's lock policy: recover when
    /// the guarded data stays valid, as here and for the id generator).
    pub fn running(&self) -> Vec<Running> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The context `name` that runs in this process; 404 when it does not run here.
    pub fn running_named(&self, name: &str) -> Result<Running, error::ApiError> {
        self.running()
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| error::ApiError::NotFound(format!("context {name} does not run here")))
    }

    /// A shutdown signal that flips once the process is stopping and every replica it
    /// runs has handed its lease over (at most 10 s after the stop), and then a second
    /// more where it ran replicas: gateways learn the new writer from the lease bucket a
    /// moment after the handover, and until they do, the writes they still send here get
    /// a `not-writer` answer they can pass on, not a connection closed under them.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        let (flip, stopping) = watch::channel(false);
        let (mut shutdown, platform) = (self.shutdown.clone(), self.clone());
        tokio::spawn(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
            platform.handed_over().await;
            if platform.running().iter().any(|r| r.store.replicated()) {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            flip.send_replace(true);
        });
        stopping
    }

    /// Waits (up to 10 s) until every replica of this process has stopped, having handed
    /// its lease over if it held it.
    async fn handed_over(&self) {
        for running in self.running() {
            if !running.store.replicated() {
                continue;
            }
            let mut role = running.store.watch_role();
            let stopped = role.wait_for(|r| *r == storage::Role::Stopped);
            if tokio::time::timeout(std::time::Duration::from_secs(10), stopped)
                .await
                .is_err()
            {
                tracing::warn!(
                    context = running.name,
                    "stopping before the lease was handed over"
                );
            }
        }
    }

    /// Waits for the replicas to hand over, then flushes every store: the last steps of a
    /// graceful shutdown.
    pub async fn flush_all(&self) -> anyhow::Result<()> {
        self.handed_over().await;
        for running in self.running() {
            storage::flush(&running.store.db).await?;
        }
        tracing::info!("stores flushed");
        Ok(())
    }

    /// Starts a context: opens `<data-dir>/<name>/`, starts its outbox relay and (when it
    /// subscribes to anything) its consumer, and returns its routes. As a replica, it
    /// starts following, and those tasks run only while it is the writer.
    pub fn start(&self, context: &dyn BoundedContext) -> anyhow::Result<Router> {
        let name = context.name();
        let path = self.data_dir.join(name);
        let resident_gauge = self
            .metrics
            .resident_bytes
            .get_or_create(&telemetry::ContextLabel::new(name))
            .clone();
        let sealer = self
            .encryption_key
            .as_ref()
            .map(|key| storage::Sealer::new(key, name));
        let mut store = Store::open_with_cache(&path, self.store_cache_bytes)
            .and_then(|s| s.sealed_with(sealer))
            .and_then(|s| s.with_resident(context.resident(), self.resident_bytes, resident_gauge))
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
        // Replication sticks to a store: one that logged changes keeps doing so (scaled
        // back to one pod, its followers' copies and the stream stay right).
        let was_replicated = store.lsn()? > 0;
        let replication = self.replication.clone().or_else(|| {
            was_replicated.then(|| {
                tracing::info!(
                    context = name,
                    "this store is replicated: it keeps its lease and change stream"
                );
                config::Replication::default()
            })
        });
        if let Some(settings) = &replication {
            // Before any task of the context starts: a store that ran without replicas
            // logs its base first.
            store = store.with_change_log()?;
            tokio::spawn(replication::replica::run(
                replication::replica::Replica {
                    store: store.clone(),
                    bus: self.bus.clone(),
                    context: name,
                    lease_ttl: settings.lease_ttl,
                    url: settings.url.clone(),
                    metrics: self.metrics.clone(),
                },
                self.shutdown.clone(),
            ));
        }
        let (bus, metrics) = (self.bus.clone(), self.metrics.clone());
        let relayed = store.clone();
        self.while_writer(&store, move |stop| {
            bus::run_relay(relayed.clone(), bus.clone(), name, metrics.clone(), stop)
        });
        let subscriptions = Arc::new(context.subscriptions());
        if !subscriptions.is_empty() {
            let (bus, metrics) = (self.bus.clone(), self.metrics.clone());
            let (consuming, subscribed) = (store.clone(), subscriptions.clone());
            self.while_writer(&store, move |stop| {
                let spec = ConsumerSpec {
                    context: name,
                    subscriptions: subscribed.clone(),
                };
                bus::run_consumer(spec, consuming.clone(), bus.clone(), metrics.clone(), stop)
            });
        }
        let (exporting, data_dir, bus) = (store.clone(), self.data_dir.clone(), self.bus.clone());
        let (export, files) = (context.export(), self.file_sealer(name));
        self.while_writer(&store, move |stop| {
            export::objects::run_worker(
                name,
                exporting.clone(),
                data_dir.clone(),
                bus.clone(),
                export,
                files.clone(),
                stop,
            )
        });
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Running {
                name,
                store: store.clone(),
                subscriptions,
                projections: context.projections(),
            });
        let routes = context.routes(self, store.clone())?;
        Ok(match replication {
            Some(_) => routes.layer(axum::middleware::from_fn_with_state(
                (store, name),
                replication::consistency::layer,
            )),
            None => routes,
        })
    }

    /// Runs the background task `make` builds while this process writes `store`
    /// ([`replication::while_writer`]): always, without replicas.
    pub fn while_writer<F, Fut>(&self, store: &Store, make: F)
    where
        F: Fn(watch::Receiver<bool>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        replication::while_writer(store.clone(), self.shutdown.clone(), make);
    }

    /// Runs `make`'s task for each stretch of `store`'s replica in one role
    /// ([`replication::by_role`]).
    pub fn by_role<F, Fut>(&self, store: &Store, make: F)
    where
        F: Fn(storage::Role, watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        replication::by_role(store.clone(), self.shutdown.clone(), make);
    }

    /// What seals `context`'s content-addressed files at rest; `None` without a platform
    /// key (the files are then written plain).
    pub fn file_sealer(&self, context: &str) -> Option<sealed_files::FileSealer> {
        let key = self.encryption_key.as_ref()?;
        Some(sealed_files::FileSealer::new(key, context))
    }

    /// The key of media URLs, which media and the contexts that show media need.
    pub fn media_urls(&self) -> anyhow::Result<Arc<media_urls::MediaUrls>> {
        self.media_urls.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "AGORA_MEDIA_URL_KEY is required where media is served or shown (generate one: `agora-node keygen`)"
            )
        })
    }

    /// The publisher of real-time signals to users.
    pub fn push(&self) -> push::Push {
        push::Push::new(self.bus.client.clone(), self.bus.settings.prefix.clone())
    }

    /// The state of a context whose handlers need only its store and the verifier.
    pub fn state(&self, store: Store) -> ContextState {
        ContextState {
            store,
            verifier: self.verifier.clone(),
        }
    }
}

/// `/healthz`, `/readyz` and `/metrics`, for a context's listener (which only the cluster
/// reaches: the NetworkPolicies keep clients out). Not ready while a replica of this
/// process needs a new copy ([`Store::needs_copy`]): its Service sends reads elsewhere.
pub fn ops_routes(platform: &Platform) -> Router {
    let readiness = platform.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(move || readyz(readiness.clone())))
        .route("/metrics", get(telemetry::serve_metrics))
        .with_state(platform.metrics.clone())
}

async fn readyz(platform: Platform) -> axum::response::Response {
    use axum::response::IntoResponse;
    let stranded: Vec<&str> = platform
        .running()
        .iter()
        .filter(|r| r.store.needs_copy())
        .map(|r| r.name)
        .collect();
    match stranded.as_slice() {
        [] => "ready".into_response(),
        names => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: {} missed part of its change stream and waits for a checkpoint from its writer to copy",
                names.join(", ")
            ),
        )
            .into_response(),
    }
}

/// `/healthz`, `/readyz` and `/metrics` for a public listener (the gateway, `dev`): the
/// metrics answer loopback clients only (404 to anyone else, as if absent); a cluster
/// scrapes them on the separate `AGORA_METRICS_ADDR` listener.
pub fn edge_ops_routes(metrics: Arc<Metrics>) -> Router {
    async fn loopback_metrics(
        state: axum::extract::State<Arc<Metrics>>,
        axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        if peer.ip().is_loopback() {
            telemetry::serve_metrics(state).await
        } else {
            error::ApiError::NotFound("no such route".into()).into_response()
        }
    }
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route("/metrics", get(loopback_metrics))
        .with_state(metrics)
}

/// Serves only `/metrics` on `addr` until shutdown (the gateway's scrape port).
pub async fn serve_metrics(
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?;
    let app = Router::new()
        .route("/metrics", get(telemetry::serve_metrics))
        .with_state(metrics);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await?;
    Ok(())
}

/// A sender that flips to true on SIGTERM or Ctrl-C.
#[expect(
    clippy::expect_used,
    reason = "startup: a node that cannot hear SIGTERM must not run"
)]
pub fn shutdown_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(false);
    let signal_tx = tx.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        let _ = signal_tx.send(true);
    });
    (tx, rx)
}

/// How long a stopping server waits for requests in flight before closing their
/// connections (Kubernetes' default grace period is 30 s).
const DRAIN: std::time::Duration = std::time::Duration::from_secs(25);

/// Serves `app` until shutdown, finishing requests in flight: HTTPS when `tls` gives this
/// process a certificate. Prints the URL when ready.
pub async fn serve(
    app: Router,
    addr: SocketAddr,
    shutdown: watch::Receiver<bool>,
    tls: &tls::Tls,
) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let Some(config) = tls.server(shutdown.clone())? else {
        tracing::info!(%local, "listening");
        println!("agora is ready at http://{local}");
        let mut shutdown = shutdown;
        axum::serve(tokio::net::TcpListener::from_std(listener)?, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await?;
        return Ok(());
    };
    tracing::info!(%local, "listening with tls");
    println!("agora is ready at https://{local}");
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    let mut shutdown = shutdown;
    tokio::spawn(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
        stopping.graceful_shutdown(Some(DRAIN));
    });
    axum_server::from_tcp_rustls(listener, config)?
        .handle(handle)
        .serve(app)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_increase_within_a_millisecond() {
        let ids: Vec<String> = (0..1_000).map(|_| super::new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}
