//! `agora-node backup` and `agora-node restore` ([`crate::platform::backup`]).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::gateway::proxy::Upstreams;
use crate::platform::backup::{self, Plan, Source, restore, target::Target};
use crate::platform::bus::Bus;
use crate::platform::config::BusArgs;
use crate::platform::context::Context;
use crate::platform::tls::TlsArgs;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where backups go: a directory, or `s3://bucket/prefix` (credentials and endpoint
    /// from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`).
    #[arg(long, env = "AGORA_BACKUP_TARGET")]
    pub target: String,
    /// A node running the contexts to back up (`agora-node dev`, a compact pod). Without
    /// it, each context is reached at `AGORA_UPSTREAM_<CONTEXT>`, as the gateway does.
    #[arg(long)]
    pub node_url: Option<String>,
    /// Name of the platform, recorded in the manifest.
    #[arg(long, env = "AGORA_PLATFORM", default_value = "dev")]
    pub platform: String,
    /// The control token, for nodes not on loopback.
    #[arg(long, env = "AGORA_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// Keep the newest N backups (the newest is always kept).
    #[arg(long, env = "AGORA_BACKUP_KEEP")]
    pub keep: Option<usize>,
    /// Keep backups younger than this many days (the newest is always kept).
    #[arg(long, env = "AGORA_BACKUP_KEEP_DAYS")]
    pub keep_days: Option<u32>,
    /// A file to write a one-line summary of the backup into (`{"id","bytes","parts"}`),
    /// e.g. the container's `/dev/termination-log`, where the operator reads it.
    #[arg(long, env = "AGORA_BACKUP_REPORT")]
    pub report: Option<PathBuf>,
    /// The CA the contexts' certificates are checked against.
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Where the backup is: a directory, or `s3://bucket/prefix`.
    #[arg(long, env = "AGORA_RESTORE_FROM")]
    pub from: String,
    /// The backup's id (its folder, e.g. `20261126T160000Z`); default: the newest complete
    /// one.
    #[arg(long, env = "AGORA_RESTORE_BACKUP")]
    pub backup: Option<String>,
    /// The data directory to restore into; no node may be running on it.
    #[arg(long, env = "AGORA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The contexts to restore, comma-separated; default: every context the backup holds.
    #[arg(long, env = "AGORA_CONTEXTS", value_delimiter = ',', value_parser = clap::value_parser!(Context))]
    pub context: Vec<Context>,
    /// Do nothing when this data directory was restored before (`.restored` names the
    /// backup): for an init container that runs at every start of its pod.
    #[arg(long)]
    pub once: bool,
    /// Name of the platform (the default subject prefix of its stream).
    #[arg(long, env = "AGORA_PLATFORM", default_value = "dev", value_parser = crate::platform::config::parse_platform_name)]
    pub platform: String,
    /// The bus to put the backup's event stream and keys back on. Without `--nats-url`, a
    /// `nats-server` on `<data-dir>/nats`, as `dev` runs.
    #[command(flatten)]
    pub bus: BusArgs,
    /// The nats-server binary to start when no `--nats-url` is given.
    #[arg(long, env = "AGORA_NATS_SERVER")]
    pub nats_server: Option<PathBuf>,
    /// Restore the stores only, not the event stream and keys: the contexts then replay
    /// whatever stream the bus holds.
    #[arg(long)]
    pub no_stream: bool,
    /// The platform's key (as for `serve`), with which the keys put back are wrapped.
    /// Default: the data directory's `encryption.key` (made there if missing, as `dev`).
    #[arg(long, env = "AGORA_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
    /// The key of the platform the backup was taken from, when it is another one: its
    /// keys are opened with it and wrapped again with this platform's.
    #[arg(
        long,
        env = "AGORA_RESTORE_SOURCE_ENCRYPTION_KEY",
        hide_env_values = true
    )]
    pub source_encryption_key: Option<String>,
}

/// The file a restore leaves in the data directory, naming the backup.
const RESTORED_FILE: &str = ".restored";

pub async fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    let client = args.tls.load()?.http_client().build()?;
    let sources = sources(&args, &client).await?;
    let plan = Plan {
        platform: args.platform.clone(),
        sources,
        target: Target::parse(&args.target)?,
        token: args.control_token.clone(),
        keep: args.keep,
        keep_days: args.keep_days,
        client,
    };
    let manifest = backup::take(&plan).await?;
    println!("{}", serde_json::to_string(&manifest)?);
    if let Some(path) = &args.report {
        let summary = serde_json::json!({
            "id": manifest.id,
            "bytes": manifest.bytes(),
            "parts": manifest.parts.len(),
        });
        std::fs::write(path, summary.to_string())?;
    }
    eprintln!(
        "backup {} written to {}: {} contexts, {} bytes",
        manifest.id,
        plan.target.url,
        manifest.parts.len(),
        manifest.bytes()
    );
    Ok(())
}

/// The node at `--node-url` for each context it runs, or every `AGORA_UPSTREAM_*`.
async fn sources(args: &BackupArgs, client: &reqwest::Client) -> anyhow::Result<Vec<Source>> {
    let Some(url) = &args.node_url else {
        let upstreams = Upstreams::from_env(|name| std::env::var(name).ok())?;
        return Ok(Context::ALL
            .iter()
            .filter_map(|c| {
                upstreams.0.get(c.name()).map(|upstream| Source {
                    context: c.name(),
                    url: upstream.first().to_string(),
                })
            })
            .collect());
    };
    let mut request = client.get(format!("{}/ops/contexts", url.trim_end_matches('/')));
    if let Some(token) = &args.control_token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?.error_for_status()?;
    let names: Vec<String> = response.json().await?;
    Ok(Context::ALL
        .iter()
        .filter(|c| names.iter().any(|n| n == c.name()))
        .map(|c| Source {
            context: c.name(),
            url: url.clone(),
        })
        .collect())
}

pub async fn run_restore(args: RestoreArgs) -> anyhow::Result<()> {
    let marker = args.data_dir.join(RESTORED_FILE);
    if args.once && marker.exists() {
        let id = std::fs::read_to_string(&marker).unwrap_or_default();
        eprintln!(
            "{} was restored from backup {} before: nothing to do",
            args.data_dir.display(),
            id.trim()
        );
        return Ok(());
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let key = crate::platform::config::platform_key(
        args.encryption_key.as_deref(),
        &args.data_dir,
        true,
    )?;
    let source_key = args
        .source_encryption_key
        .as_deref()
        .map(crate::platform::keyring::PlatformKey::from_setting)
        .transpose()?;
    let (_nats, bus) = match args.no_stream {
        true => (None, None),
        false => {
            let (server, url) = super::local_bus(
                args.bus.nats_url.as_deref(),
                args.nats_server.as_deref(),
                &args.data_dir,
            )
            .await?;
            let settings = args.bus.stream_settings(&args.platform);
            let bus = Bus::connect(
                &url,
                args.bus.nats_creds.as_deref(),
                args.bus.nats_ca.as_deref(),
                settings,
            )
            .await
            .with_context(|| format!("cannot use NATS at {url}"))?
            .with_platform_key(key.clone(), source_key.clone());
            (server, Some(bus))
        }
    };
    let request = restore::Request {
        target: Target::parse(&args.from)?,
        backup: args.backup,
        data_dir: args.data_dir.clone(),
        contexts: (!args.context.is_empty())
            .then(|| args.context.iter().map(|c| c.name().to_string()).collect()),
        bus,
        encryption_key: key,
        source_encryption_key: source_key,
    };
    let manifest = restore::restore(&request).await?;
    std::fs::write(&marker, &manifest.id)?;
    eprintln!(
        "restored backup {} ({}) into {}: the contexts replay the streams from it when they start",
        manifest.id,
        manifest.created_at,
        args.data_dir.display()
    );
    Ok(())
}
