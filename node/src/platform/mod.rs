//! Plumbing shared by every context. Imports no context.
//!
//! - [`config`]: the typed, validated configuration (flags and `AGORA_*` variables);
//! - [`error`]: the problem+json error model;
//! - [`http`]: extractors, pagination, health routes, serving;
//! - [`storage`]: sled per context, transactions, group commit;
//! - [`envelope`], [`bus`]: events, the outbox relay and consumers on JetStream;
//! - [`tokens`]: JWT issue/verify and the authentication extractors;
//! - [`telemetry`]: logs and metrics;
//! - [`text`]: the rules for free text.

pub mod bus;
pub mod config;
pub mod envelope;
pub mod error;
pub mod http;
pub mod storage;
pub mod telemetry;
pub mod text;
pub mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::sync::watch;

use bus::{Bus, ConsumerSpec};
use storage::Store;
use telemetry::Metrics;
use tokens::TokenVerifier;

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

/// What the contexts running in one process share.
#[derive(Clone)]
pub struct Platform {
    /// The platform's name (token issuer, default subject prefix).
    pub name: String,
    pub data_dir: PathBuf,
    pub bus: Bus,
    pub verifier: Arc<TokenVerifier>,
    pub metrics: Arc<Metrics>,
    pub shutdown: watch::Receiver<bool>,
    /// Every store opened, flushed once more at shutdown.
    pub stores: Arc<std::sync::Mutex<Vec<Store>>>,
}

impl Platform {
    /// Flushes every store: the last step of a graceful shutdown.
    pub async fn flush_all(&self) -> anyhow::Result<()> {
        let stores: Vec<Store> = self.stores.lock().expect("stores lock").clone();
        for store in stores {
            store.db.flush_async().await?;
        }
        tracing::info!("stores flushed");
        Ok(())
    }

    /// Opens `<data-dir>/<context>/` and starts its outbox relay.
    pub fn open_store(&self, context: &'static str) -> anyhow::Result<Store> {
        let path = self.data_dir.join(context);
        let store =
            Store::open(&path).map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
        self.stores.lock().expect("stores lock").push(store.clone());
        tokio::spawn(bus::run_relay(
            store.clone(),
            self.bus.clone(),
            context,
            self.metrics.clone(),
            self.shutdown.clone(),
        ));
        Ok(store)
    }

    /// Opens a context's store and starts its consumer of `events` (`context.Type`), whose
    /// handler is `apply`.
    pub fn start_context(
        &self,
        context: &'static str,
        events: Vec<String>,
        apply: fn(&Store, &envelope::Envelope) -> error::ApiResult<bus::Applied>,
    ) -> anyhow::Result<ContextState> {
        let store = self.open_store(context)?;
        let handler_store = store.clone();
        let spec = ConsumerSpec {
            context,
            events,
            handler: Arc::new(move |event| apply(&handler_store, event)),
        };
        self.spawn_consumer(spec, &store);
        Ok(ContextState {
            store,
            verifier: self.verifier.clone(),
        })
    }

    pub fn spawn_consumer(&self, spec: ConsumerSpec, store: &Store) {
        tokio::spawn(bus::run_consumer(
            spec,
            store.clone(),
            self.bus.clone(),
            self.metrics.clone(),
            self.shutdown.clone(),
        ));
    }
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn ops_routes(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route("/metrics", get(telemetry::serve_metrics))
        .with_state(metrics)
}

/// A sender that flips to true on SIGTERM or Ctrl-C.
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

/// Serves `app` until shutdown, finishing requests in flight. Prints the URL when ready.
pub async fn serve(
    app: Router,
    addr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "listening");
    println!("agora is ready at http://{local}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    })
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
