//! The command line: `serve`, `gateway` and `dev`. Every flag has an `AGORA_*` variable;
//! values are validated here, once, and a bad one stops the process with one line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::auth::{self, AuthArgs, Mailer};
use crate::gateway::{self, Edge, proxy::Upstreams};
use crate::platform::bus::Bus;
use crate::platform::config::{BusArgs, EdgeArgs, KeyArgs, PlatformArgs};
use crate::platform::http::{Json, Query, no_such_route};
use crate::platform::telemetry::{LogFormat, Metrics, init_logging, track_http};
use crate::platform::tokens::{KeyPair, TokenVerifier};
use crate::platform::{self, Platform, ops_routes, serve};
use crate::users;

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
}

/// Contexts this build has.
pub const CONTEXTS: &[&str] = &["auth", "users", "groups", "posts", "feed"];

fn parse_context(s: &str) -> Result<String, String> {
    let s = s.trim();
    if CONTEXTS.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown context {s:?}; known: {}",
            CONTEXTS.join(", ")
        ))
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Contexts to run, comma-separated (auth, users, groups, posts, feed).
    #[arg(long, env = "AGORA_CONTEXTS", value_delimiter = ',', required = true, value_parser = parse_context)]
    pub context: Vec<String>,
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
}

/// Runs the chosen role until SIGTERM or Ctrl-C.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Gateway(args) => run_gateway(args).await,
        Command::Dev(args) => run_dev(args).await,
    }
}

async fn platform(
    args: &PlatformArgs,
    bus: &BusArgs,
    url: &str,
    public_pem: &str,
) -> anyhow::Result<(Platform, tokio::sync::watch::Sender<bool>)> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let bus = Bus::connect(
        url,
        bus.nats_creds.as_deref(),
        bus.stream_settings(&args.platform),
    )
    .await
    .with_context(|| format!("cannot use NATS at {url}"))?;
    let (stop, shutdown) = platform::shutdown_signal();
    let platform = Platform {
        name: args.platform.clone(),
        data_dir: args.data_dir.clone(),
        bus,
        verifier: Arc::new(TokenVerifier::new(public_pem, &args.platform)?),
        metrics: Metrics::new(),
        shutdown,
        stores: Arc::default(),
    };
    Ok((platform, stop))
}

/// The routes of the named contexts, merged.
fn contexts(
    platform: &Platform,
    names: &[String],
    keys: Option<&KeyPair>,
    auth: AuthArgs,
    mailer: Mailer,
) -> anyhow::Result<Router> {
    let mut router = Router::new();
    for name in names {
        router = router.merge(match name.as_str() {
            "auth" => {
                let keys = keys.context("the auth context needs AGORA_JWT_PRIVATE_KEY")?;
                auth::start(platform, keys, auth.clone(), mailer.clone())?
            }
            "users" => users::start(platform)?,
            "groups" => crate::groups::start(platform)?,
            "posts" => crate::posts::start(platform)?,
            "feed" => crate::feed::start(platform)?,
            other => anyhow::bail!("unknown context {other}"),
        });
    }
    Ok(router)
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let url = args
        .bus
        .nats_url
        .clone()
        .context("AGORA_NATS_URL is required by serve")?;
    let keys = args.keys.key_pair()?;
    let (platform, _stop) =
        platform(&args.platform, &args.bus, &url, &args.keys.public_pem()?).await?;
    let app = contexts(
        &platform,
        &args.context,
        keys.as_ref(),
        args.auth,
        Mailer::Log,
    )?
    .route_layer(axum::middleware::from_fn_with_state(
        platform.metrics.clone(),
        track_http,
    ))
    .fallback(no_such_route)
    .merge(ops_routes(platform.metrics.clone()));
    serve(app, args.http_addr, platform.shutdown.clone()).await?;
    platform.flush_all().await
}

async fn run_gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let upstreams = Upstreams::from_env(|name| std::env::var(name).ok())?;
    let verifier = Arc::new(TokenVerifier::new(
        &args.keys.public_pem()?,
        &args.platform,
    )?);
    let metrics = Metrics::new();
    let (_stop, shutdown) = platform::shutdown_signal();
    let edge = Edge::new(verifier, &args.edge);
    let inner = gateway::proxy::routes(upstreams, args.edge.max_body_bytes as usize)?;
    let app = gateway::wrap(inner, edge, &args.edge, metrics.clone()).merge(ops_routes(metrics));
    serve(app, args.http_addr, shutdown).await
}

async fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let data_dir = &args.platform.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let (_nats, url) = match &args.bus.nats_url {
        Some(url) => (None, url.clone()),
        None => {
            let server =
                nats::NatsServer::start(args.nats_server.as_deref(), &data_dir.join("nats"))
                    .await?;
            let url = server.url();
            (Some(server), url)
        }
    };
    let keys = KeyPair::load_or_create(data_dir)?;
    let (platform, _stop) = platform(&args.platform, &args.bus, &url, &keys.public_pem).await?;
    let mailer = args.auth.mailer(Mailer::dev())?;
    let all: Vec<String> = CONTEXTS.iter().map(|c| c.to_string()).collect();
    let inner = contexts(&platform, &all, Some(&keys), args.auth, mailer.clone())?
        .merge(dev_routes(mailer));
    let edge = Edge::new(platform.verifier.clone(), &args.edge);
    let app = gateway::wrap(inner, edge, &args.edge, platform.metrics.clone())
        .merge(ops_routes(platform.metrics.clone()));
    tracing::info!(nats = %url, data_dir = %data_dir.display(), "dev platform starting");
    serve(app, args.http_addr, platform.shutdown.clone()).await?;
    platform.flush_all().await
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
