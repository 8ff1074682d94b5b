//! The command line: `serve`, `gateway` and `dev`. Every flag has an `AGORA_*` variable;
//! values are validated here, once, and a bad one stops the process with one line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::gateway::{self, Edge, proxy::Upstreams};
use crate::platform::bus::Bus;
use crate::platform::config::{AuthArgs, BusArgs, EdgeArgs, KeyArgs, MediaArgs, PlatformArgs};
use crate::platform::context::Context;
use crate::platform::http::{Json, Query, no_such_route};
use crate::platform::mail::Mailer;
use crate::platform::media_urls::MediaUrls;
use crate::platform::telemetry::{LogFormat, Metrics, init_logging, track_http};
use crate::platform::tls::{Tls, TlsArgs};
use crate::platform::tokens::{KeyPair, TokenVerifier};
use crate::platform::{self, Platform, edge_ops_routes, ops_routes, serve};

pub mod backup;
pub mod nats;

#[derive(Debug, Parser)]
#[command(
    name = "agora-node",
    version,
    about = "Agora: a complete social network per tenant, one binary for every part of it"
)]
pub struct Cli {
    /// Log format: `text` for people, `json` for clusters. `RUST_LOG` sets levels.
    #[arg(long, env = "AGORA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one or more bounded contexts (a comma list runs several in one process).
    Serve(ServeArgs),
    /// Run the public edge, routing to the contexts at `AGORA_UPSTREAM_<CONTEXT>`.
    Gateway(GatewayArgs),
    /// Run every context and the gateway in one process on a local data directory.
    Dev(DevArgs),
    /// Drop a context's projections and rebuild them by replaying the event stream: in a
    /// running node (`--node-url`), or in a stopped data directory.
    Rebuild(RebuildArgs),
    /// Back up a running platform: each context's snapshot, taken by the process running
    /// it, to a directory or S3-compatible object storage, with a checksum manifest.
    Backup(backup::BackupArgs),
    /// Restore a backup into a data directory no node runs on: every part is checked
    /// before anything is replaced; the contexts replay the streams from it when they start.
    Restore(backup::RestoreArgs),
    /// Write a new Ed25519 key pair for access tokens (`private.pem`, mode 0600, and
    /// `public.pem`) into a directory: for running contexts as separate processes without
    /// the operator, which otherwise makes the pair (its Secret).
    Keygen(KeygenArgs),
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write `private.pem` and `public.pem` (created if missing; existing files
    /// are not overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// The context whose projections are rebuilt.
    #[arg(long, value_parser = clap::value_parser!(Context))]
    pub context: Context,
    /// A running node that serves the context (its HTTP address, reached from loopback,
    /// e.g. `http://127.0.0.1:8080` inside its pod): it rebuilds while serving. Without
    /// it, the context's data directory is opened directly (the node must be stopped).
    #[arg(long)]
    pub node_url: Option<String>,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub bus: BusArgs,
    /// The nats-server binary to start when neither `--node-url` nor `--nats-url` is given.
    #[arg(long, env = "AGORA_NATS_SERVER")]
    pub nats_server: Option<PathBuf>,
    /// The CA the node's certificate is checked against (with `--node-url`).
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Contexts to run, comma-separated (auth, users, groups, posts, feed).
    #[arg(long, env = "AGORA_CONTEXTS", value_delimiter = ',', required = true, value_parser = clap::value_parser!(Context))]
    pub context: Vec<Context>,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub bus: BusArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Address the HTTP server listens on.
    #[arg(long, env = "AGORA_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub media: MediaArgs,
    #[command(flatten)]
    pub replication: crate::platform::config::ReplicationArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Name of the platform (the token issuer).
    #[arg(long, env = "AGORA_PLATFORM", default_value = "dev", value_parser = crate::platform::config::parse_platform_name)]
    pub platform: String,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Address the HTTP server listens on.
    #[arg(long, env = "AGORA_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    #[command(flatten)]
    pub edge: EdgeArgs,
    /// The bus, for the push channel (`/api/v1/stream`): without `--nats-url` it answers 503.
    #[command(flatten)]
    pub bus: BusArgs,
    /// Its upload limit lets media uploads through (the rest is the media context's).
    #[command(flatten)]
    pub media: MediaArgs,
    /// Its certificate is served on the gateway's own listener only when given: the edge
    /// usually sits behind an Ingress that ends TLS; the CA checks the contexts'.
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub bus: BusArgs,
    /// Address the HTTP server listens on (loopback by default; 8080 is left to kubectl).
    #[arg(long, env = "AGORA_HTTP_ADDR", default_value = "127.0.0.1:7070")]
    pub http_addr: SocketAddr,
    /// The nats-server binary to start when no `--nats-url` is given
    /// (default: `nats-server` on PATH, else `.tools/bin/nats-server`).
    #[arg(long, env = "AGORA_NATS_SERVER")]
    pub nats_server: Option<PathBuf>,
    #[command(flatten)]
    pub edge: EdgeArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub media: MediaArgs,
    /// With `--replicated`, every context keeps a change log on the bus (a single
    /// replica): writes made after a backup come back after a restore.
    #[command(flatten)]
    pub replication: crate::platform::config::ReplicationArgs,
    /// Answer `POST /api/v1/dev/accounts` and `POST /api/v1/dev/friendships`, which make
    /// generated accounts (one password hash for a whole batch, verified at once, addresses
    /// at `seed.invalid`) and friendships in bulk: for benchmarks on large graphs
    /// (`agora-bench social --bulk-seeding`). Never on a platform people use.
    #[arg(long, env = "AGORA_DEV_BULK_SEEDING", default_value_t = false, action = clap::ArgAction::Set)]
    pub bulk_seeding: bool,
}

/// Runs the chosen role until SIGTERM or Ctrl-C.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Gateway(args) => run_gateway(args).await,
        Command::Dev(args) => run_dev(args).await,
        Command::Rebuild(args) => run_rebuild(args).await,
        Command::Backup(args) => backup::run_backup(args).await,
        Command::Restore(args) => backup::run_restore(args).await,
        Command::Keygen(args) => keygen(&args.out),
    }
}

/// How many of `contexts` hold projections in memory.
fn resident_stores(contexts: &[Context]) -> usize {
    contexts
        .iter()
        .filter(|c| !crate::bounded_context(**c).resident().is_empty())
        .count()
}

/// What every context in this process shares: signing keys where auth runs here, auth's
/// settings, where mail goes.
struct Shared {
    keys: Option<KeyPair>,
    auth: AuthArgs,
    mailer: Mailer,
    /// How many stores the process opens (its contexts), to share the cache budget.
    stores: usize,
    /// How many of them hold resident projections, to share the budget for those.
    resident_stores: usize,
    media: crate::platform::config::MediaLimits,
    media_urls: Option<crate::platform::media_urls::MediaUrls>,
    /// Whether the contexts run as replicas (`serve --replicated`).
    replication: Option<crate::platform::config::Replication>,
    /// Wraps people's keys in the bus's key bucket.
    platform_key: Option<crate::platform::keyring::PlatformKey>,
    /// `dev --bulk-seeding`.
    bulk_seeding: bool,
}

async fn platform(
    args: &PlatformArgs,
    bus: &BusArgs,
    url: &str,
    public_pem: &str,
    shared: Shared,
) -> anyhow::Result<(Platform, tokio::sync::watch::Sender<bool>)> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let bus = Bus::connect(
        url,
        bus.nats_creds.as_deref(),
        bus.nats_ca.as_deref(),
        bus.stream_settings(&args.platform),
    )
    .await
    .with_context(|| format!("cannot use NATS at {url}"))?
    .with_platform_key(shared.platform_key.clone(), None);
    let (stop, shutdown) = platform::shutdown_signal();
    let verifier = Arc::new(TokenVerifier::new(public_pem, &args.platform)?);
    // Read once: sled's caches and the resident projections are shares of it.
    let budget = platform::memory::budget_bytes(args.memory_mib);
    tokio::spawn(platform::revocation::follow(
        bus.clone(),
        verifier.clone(),
        shutdown.clone(),
    ));
    let platform = Platform {
        name: args.platform.clone(),
        data_dir: args.data_dir.clone(),
        bus,
        verifier,
        keys: shared.keys.map(Arc::new),
        auth: Arc::new(shared.auth),
        mailer: shared.mailer,
        digest_interval: Duration::from_secs(args.digest_interval_secs),
        media: shared.media,
        blocked_keywords: Arc::new(args.blocked_keywords.clone()),
        record_views: args.record_views,
        search_index_in_memory: args.search_index_in_memory,
        bulk_seeding: shared.bulk_seeding,
        media_urls: shared.media_urls.map(Arc::new),
        store_cache_bytes: platform::memory::cache_per_store(budget, shared.stores),
        resident_bytes: platform::memory::resident_per_store(budget, shared.resident_stores),
        index_cache_bytes: platform::memory::index_cache_bytes(budget),
        metrics: Metrics::new(),
        shutdown,
        running: Arc::default(),
        control: Arc::new(platform::control::Control::new(
            args.control_token.as_deref(),
        )),
        replication: shared.replication,
        encryption_key: shared.platform_key,
    };
    Ok((platform, stop))
}

/// The routes of the named contexts, merged, with the loopback-only operations routes.
fn contexts(platform: &Platform, names: &[Context]) -> anyhow::Result<Router> {
    let mut router = Router::new();
    for name in names {
        router = router.merge(platform.start(crate::bounded_context(*name))?);
    }
    Ok(router
        .merge(platform::rebuild::routes(platform.clone()))
        .merge(platform::backup::routes(platform.clone()))
        .merge(platform::replication::status::routes(platform.clone())))
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let url = args
        .bus
        .nats_url
        .clone()
        .context("AGORA_NATS_URL is required by serve")?;
    let tls = args.tls.load()?;
    let shared = Shared {
        keys: args.keys.key_pair()?,
        auth: args.auth,
        mailer: Mailer::Log,
        stores: args.context.len(),
        resident_stores: resident_stores(&args.context),
        media: args.media.limits(),
        media_urls: args.media.urls()?,
        replication: args.replication.settings(),
        platform_key: serve_platform_key(&args.platform)?,
        bulk_seeding: false,
    };
    let (platform, _stop) = platform(
        &args.platform,
        &args.bus,
        &url,
        &args.keys.public_pem()?,
        shared,
    )
    .await?;
    let app = contexts(&platform, &args.context)?
        .route_layer(axum::middleware::from_fn_with_state(
            platform.metrics.clone(),
            track_http,
        ))
        .fallback(no_such_route)
        .merge(ops_routes(&platform))
        .layer(axum::middleware::from_fn(
            crate::platform::http::read_json_whole,
        ));
    // A replica that writes steps down and hands its lease over before the listener
    // closes: writes in flight get `not-writer` (which the gateway sends to the next
    // writer) instead of a connection closed under them.
    serve(app, args.http_addr, platform.stopping(), &tls).await?;
    platform.flush_all().await
}

/// `serve`'s platform key; without one, people's keys are stored unwrapped (said once).
fn serve_platform_key(
    args: &PlatformArgs,
) -> anyhow::Result<Option<crate::platform::keyring::PlatformKey>> {
    let key = crate::platform::config::platform_key(
        args.encryption_key.as_deref(),
        &args.data_dir,
        false,
    )?;
    if key.is_none() {
        tracing::warn!(
            "no AGORA_ENCRYPTION_KEY: people's keys of sealed event fields are stored unwrapped on the bus"
        );
    }
    Ok(key)
}

async fn run_gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let upstreams = Upstreams::from_env(|name| std::env::var(name).ok())?;
    let tls = args.tls.load()?;
    let verifier = Arc::new(TokenVerifier::new(
        &args.keys.public_pem()?,
        &args.platform,
    )?);
    let metrics = Metrics::new();
    let (_stop, shutdown) = platform::shutdown_signal();
    let edge = Edge::new(
        verifier.clone(),
        &args.edge,
        args.media.limits().upload_body_bytes(),
    );
    let writers = platform::replication::lease::Writers::default();
    let inner = gateway::proxy::routes(
        tls.http_client(),
        upstreams,
        writers.clone(),
        args.edge.max_body_bytes,
        args.media.limits().upload_body_bytes(),
    )?;
    let nats = match &args.bus.nats_url {
        Some(url) => {
            let settings = args.bus.stream_settings(&args.platform);
            let (creds, ca) = (args.bus.nats_creds.as_deref(), args.bus.nats_ca.as_deref());
            let bus = Bus::connect(url, creds, ca, settings).await?;
            tokio::spawn(platform::revocation::follow(
                bus.clone(),
                verifier.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(platform::replication::lease::follow_writers(
                bus.clone(),
                writers,
                shutdown.clone(),
            ));
            Some(bus.client)
        }
        None => None,
    };
    let connections = gateway::push::Connections::default();
    let push = gateway::push::routes(gateway::push::Hub {
        nats,
        prefix: args.bus.stream_settings(&args.platform).prefix,
        contexts: inner.clone(),
        verifier,
        shutdown: shutdown.clone(),
        connections: connections.clone(),
    });
    spawn_metrics_listener(&args.edge, metrics.clone(), shutdown.clone());
    let app = gateway::wrap(inner.merge(push), edge, &args.edge, metrics.clone())
        .merge(edge_ops_routes(metrics));
    serve(app, args.http_addr, shutdown, &tls).await?;
    // Upgraded sockets outlive the HTTP server: let them send their close frames.
    connections.drained(Duration::from_secs(2)).await;
    Ok(())
}

/// The gateway's scrape port, when `AGORA_METRICS_ADDR` asks for one.
fn spawn_metrics_listener(
    edge: &EdgeArgs,
    metrics: Arc<Metrics>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if let Some(addr) = edge.metrics_addr {
        tokio::spawn(async move {
            if let Err(e) = platform::serve_metrics(metrics, addr, shutdown).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
}

/// The NATS to use: `url` when given, else a `nats-server` started on `<data-dir>/nats`
/// (kept running while the returned handle lives).
async fn local_bus(
    url: Option<&str>,
    binary: Option<&std::path::Path>,
    data_dir: &std::path::Path,
) -> anyhow::Result<(Option<nats::NatsServer>, String)> {
    if let Some(url) = url {
        return Ok((None, url.to_string()));
    }
    let server = nats::NatsServer::start(binary, &data_dir.join("nats")).await?;
    let url = server.url();
    Ok((Some(server), url))
}

async fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let data_dir = &args.platform.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let (_nats, url) = local_bus(
        args.bus.nats_url.as_deref(),
        args.nats_server.as_deref(),
        data_dir,
    )
    .await?;
    let keys = KeyPair::load_or_create(data_dir)?;
    let public_pem = keys.public_pem.clone();
    let mailer = args.auth.mailer(Mailer::dev())?;
    let shared = Shared {
        keys: Some(keys),
        auth: args.auth,
        mailer: mailer.clone(),
        stores: Context::ALL.len(),
        resident_stores: resident_stores(&Context::ALL),
        media: args.media.limits(),
        media_urls: match args.media.urls()? {
            Some(urls) => Some(urls),
            None => Some(MediaUrls::load_or_create(data_dir)?),
        },
        replication: args.replication.settings(),
        platform_key: crate::platform::config::platform_key(
            args.platform.encryption_key.as_deref(),
            data_dir,
            true,
        )?,
        bulk_seeding: args.bulk_seeding,
    };
    let (platform, _stop) = platform(&args.platform, &args.bus, &url, &public_pem, shared).await?;
    let inner = contexts(&platform, &Context::ALL)?.merge(dev_routes(mailer));
    let connections = gateway::push::Connections::default();
    let push = gateway::push::routes(gateway::push::Hub {
        nats: Some(platform.bus.client.clone()),
        prefix: platform.bus.settings.prefix.clone(),
        contexts: inner.clone(),
        verifier: platform.verifier.clone(),
        shutdown: platform.shutdown.clone(),
        connections: connections.clone(),
    });
    let inner = inner.merge(push);
    let edge = Edge::new(
        platform.verifier.clone(),
        &args.edge,
        args.media.limits().upload_body_bytes(),
    );
    spawn_metrics_listener(
        &args.edge,
        platform.metrics.clone(),
        platform.shutdown.clone(),
    );
    let app = gateway::wrap(inner, edge, &args.edge, platform.metrics.clone())
        .merge(edge_ops_routes(platform.metrics.clone()));
    tracing::info!(nats = %url, data_dir = %data_dir.display(), "dev platform starting");
    serve(
        app,
        args.http_addr,
        platform.shutdown.clone(),
        &Tls::default(),
    )
    .await?;
    // Upgraded sockets outlive the HTTP server: let them send their close frames.
    connections.drained(Duration::from_secs(2)).await;
    platform.flush_all().await
}

/// `keygen`: a fresh key pair, the private half readable by its owner only.
fn keygen(out: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let pair = KeyPair::generate();
    for (name, pem, mode) in [
        ("private.pem", &pair.private_pem, 0o600),
        ("public.pem", &pair.public_pem, 0o644),
    ] {
        let path = out.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
        file.write_all(pem.as_bytes())?;
    }
    for (name, key) in [
        ("media-url.key", MediaUrls::generate()),
        (
            "encryption.key",
            crate::platform::keyring::PlatformKey::generate(),
        ),
    ] {
        let path = out.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?
            .write_all(key.as_bytes())?;
    }
    println!("{}", out.display());
    Ok(())
}

/// `rebuild`: asks a running node, or opens the stopped data directory itself.
async fn run_rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let report = match &args.node_url {
        Some(url) => {
            let client = args.tls.load()?.http_client().build()?;
            platform::rebuild::request(&client, url, args.context.name()).await?
        }
        None => rebuild_stopped(&args).await?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Rebuilds in a data directory no node is running on (sled refuses a second opener).
async fn rebuild_stopped(args: &RebuildArgs) -> anyhow::Result<platform::rebuild::Report> {
    let data_dir = &args.platform.data_dir;
    let (_nats, url) = local_bus(
        args.bus.nats_url.as_deref(),
        args.nats_server.as_deref(),
        data_dir,
    )
    .await?;
    let key = crate::platform::config::platform_key(
        args.platform.encryption_key.as_deref(),
        data_dir,
        false,
    )?;
    let bus = Bus::connect(
        &url,
        args.bus.nats_creds.as_deref(),
        args.bus.nats_ca.as_deref(),
        args.bus.stream_settings(&args.platform.platform),
    )
    .await
    .with_context(|| format!("cannot use NATS at {url}"))?
    .with_platform_key(key.clone(), None);
    let context = crate::bounded_context(args.context);
    let path = data_dir.join(context.name());
    anyhow::ensure!(
        path.is_dir(),
        "no data for {} in {}",
        context.name(),
        data_dir.display()
    );
    let store = platform::storage::Store::open(&path).with_context(|| {
        format!(
            "cannot open {} (is a node still running on it? then pass --node-url)",
            path.display()
        )
    })?;
    let sealer = key.map(|key| platform::storage::Sealer::new(&key, context.name()));
    let store = store.sealed_with(sealer)?;
    let running = platform::Running {
        name: context.name(),
        store: store.clone(),
        subscriptions: Arc::new(context.subscriptions()),
        projections: context.projections(),
    };
    let report = platform::rebuild::rebuild(&running, &bus).await?;
    platform::storage::flush(&store.db).await?;
    Ok(report)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MailboxQuery {
    /// Only mail sent to this address.
    to: Option<String>,
}

/// `GET /api/v1/dev/mailbox`: mail the platform sent (dev only).
fn dev_routes(mailer: Mailer) -> Router {
    async fn mailbox(
        State(mailer): State<Mailer>,
        Query(q): Query<MailboxQuery>,
    ) -> Json<serde_json::Value> {
        Json(serde_json::json!({ "items": mailer.mailbox(q.to.as_deref()) }))
    }
    Router::new()
        .route("/api/v1/dev/mailbox", get(mailbox))
        .with_state(mailer)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every flag's variable is documented in docs/configuration.md.
    #[test]
    fn every_variable_is_documented() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/configuration.md"
        ))
        .unwrap();
        let cli = Cli::command();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands().chain([&cli]) {
            for arg in sub.get_arguments() {
                if let Some(env) = arg.get_env() {
                    let env = env.to_string_lossy();
                    if !doc.contains(&format!("`{env}`")) {
                        missing.push(env.into_owned());
                    }
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "undocumented in docs/configuration.md: {missing:?}"
        );
    }

    #[test]
    fn bad_values_are_refused_at_start() {
        for args in [
            &["agora-node", "dev", "--platform", "Bad Name"][..],
            &["agora-node", "dev", "--stream-replicas", "2"],
            &["agora-node", "dev", "--http-addr", "localhost"],
            &["agora-node", "serve", "--context", "posts,nonsense"],
            &["agora-node", "dev", "--rate-limit-ip", "0"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} was accepted");
        }
        assert!(Cli::try_parse_from(["agora-node", "serve", "--context", "auth,users"]).is_ok());
    }
}
