use std::net::SocketAddr;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "agora-operator",
    version,
    about = "Reconciles SocialPlatform resources into running Agora tenants"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the SocialPlatform CRD (what crds/ holds).
    Crd,
    /// Run the controller.
    Run {
        /// Address of /healthz, /readyz and /metrics.
        #[arg(long, env = "AGORA_OPERATOR_HTTP_ADDR", default_value = "0.0.0.0:8080")]
        http_addr: SocketAddr,
        /// Watch only this namespace (default: every namespace).
        #[arg(long, env = "WATCH_NAMESPACE")]
        namespace: Option<String>,
        /// `text` or `json` logs.
        #[arg(long, env = "AGORA_LOG_FORMAT", default_value = "json")]
        log_format: String,
        /// Reconcile only while holding the Lease `agora-operator-leader`, so that several
        /// replicas can run with one of them active.
        #[arg(long, env = "AGORA_OPERATOR_LEADER_ELECTION")]
        leader_election: bool,
        /// Namespace of the leader Lease (the operator's own namespace).
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agora-operator: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crd => {
            print!("{}", agora_operator::crd_yaml());
            Ok(())
        }
        Command::Run {
            http_addr,
            namespace,
            log_format,
            leader_election,
            lease_namespace,
        } => {
            let subscriber = tracing_subscriber::fmt().with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info,kube=warn".into()),
            );
            let _ = if log_format == "json" {
                subscriber.json().try_init()
            } else {
                subscriber.try_init()
            };
            let client = kube::Client::try_default()
                .await
                .map_err(|e| anyhow::anyhow!("no Kubernetes API reachable: {e}"))?;
            let metrics = agora_operator::telemetry::Metrics::new();
            let server = tokio::spawn(agora_operator::telemetry::serve(http_addr, metrics.clone()));
            let controller = async {
                if leader_election {
                    agora_operator::leader::run_while_leading(
                        client.clone(),
                        &lease_namespace,
                        agora_operator::controller::run(
                            client,
                            metrics,
                            namespace,
                            Some(lease_namespace.clone()),
                        ),
                    )
                    .await
                } else {
                    let own = Some(lease_namespace.clone());
                    agora_operator::controller::run(client, metrics, namespace, own).await;
                    Ok(())
                }
            };
            tokio::select! {
                result = controller => result,
                result = server => result?,
            }
        }
    }
}
