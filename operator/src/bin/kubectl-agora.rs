//! `kubectl agora <action> <platform> [contexts]`: the operator's actions from a terminal.
//! Copy this binary onto PATH; kubectl finds it by its name.

use clap::Parser;
use kube::api::Api;

use agora_operator::crd::SocialPlatform;
use agora_operator::plugin::{action, run};

/// Day-2 actions on Agora platforms: status, hibernate, wake, rebuild, backup, restore,
/// pause, resume.
#[derive(Debug, Parser)]
#[command(name = "kubectl agora", version)]
struct Cli {
    /// status | hibernate | wake | rebuild | backup | restore | pause | resume
    action: String,
    /// The SocialPlatform's name.
    platform: String,
    /// For `rebuild`: the contexts, comma-separated (`search,feed`); for `restore`: the
    /// name of the new platform made from the backup.
    argument: Option<String>,
    /// For `restore`: the backup's id (its folder name); the newest when absent.
    #[arg(long)]
    backup: Option<String>,
    /// The platform's namespace; the kubeconfig context's when absent.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match act(Cli::parse()).await {
        Ok(out) => {
            print!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kubectl agora: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn act(cli: Cli) -> anyhow::Result<String> {
    let action = action(&cli.action, cli.argument.as_deref(), cli.backup.as_deref())
        .map_err(anyhow::Error::msg)?;
    let client = kube::Client::try_default().await?;
    let namespace = cli
        .namespace
        .unwrap_or_else(|| client.default_namespace().to_string());
    let api: Api<SocialPlatform> = Api::namespaced(client, &namespace);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    run(&api, &cli.platform, &action, now).await
}
