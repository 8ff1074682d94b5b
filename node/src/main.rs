use clap::Parser;

/// mimalloc instead of glibc's malloc, whose arenas and free-list work showed as about a
/// sixth of the node's CPU under load (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
