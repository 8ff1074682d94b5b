use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = agora_node::cli::Cli::parse();
    match agora_node::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agora-node: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
