//! `agora-bench failover`: how long a replicated context takes no writes after its writer
//! is SIGKILLed. Starts a `nats-server` and two `agora-node serve --context auth
//! --replicated` processes on loopback, then, `--kills` times: finds the writer (the one
//! that answers `POST /auth/register` with 201), kills it, registers on the other until it
//! answers 201, and starts the killed one again (it comes back as a follower). Prints the
//! median and the worst gap.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use super::{Conn, PASSWORD};

#[derive(clap::Args)]
pub struct FailoverArgs {
    /// The `agora-node` binary.
    #[arg(long, default_value = "target/release/agora-node")]
    node: PathBuf,
    /// The `nats-server` binary.
    #[arg(
        long,
        env = "AGORA_NATS_SERVER",
        default_value = ".tools/bin/nats-server"
    )]
    nats_server: PathBuf,
    #[arg(long, default_value_t = 10)]
    kills: usize,
    /// The lease's time to live, in seconds (`AGORA_LEASE_TTL_SECS`).
    #[arg(long, default_value_t = 6)]
    lease_ttl_secs: u64,
}

struct Replica {
    addr: String,
    data: PathBuf,
    child: Option<Child>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_addr() -> anyhow::Result<String> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .to_string())
}

pub async fn run(args: FailoverArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("agora-failover-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let nats_port = free_addr()?.rsplit(':').next().unwrap_or("0").to_string();
    let mut nats = Command::new(&args.nats_server)
        .args(["-js", "-a", "127.0.0.1", "-p", &nats_port, "-sd"])
        .arg(dir.join("nats"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", args.nats_server.display()))?;
    let keygen = Command::new(&args.node)
        .args(["keygen", "--out"])
        .arg(&dir)
        .status()?;
    let key = dir.join("private.pem");
    if !keygen.success() {
        bail!("agora-node keygen failed");
    }
    let nats_url = format!("nats://127.0.0.1:{nats_port}");
    let mut replicas = Vec::new();
    for name in ["a", "b"] {
        let mut r = Replica {
            addr: free_addr()?,
            data: dir.join(name),
            child: None,
        };
        start(&args, &mut r, &nats_url, &key)?;
        replicas.push(r);
    }
    let mut gaps = Vec::new();
    for kill in 0..args.kills {
        let writer = loop {
            if let Some(i) = find_writer(&replicas).await {
                break i;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let other = 1 - writer;
        if let Some(mut c) = replicas[writer].child.take() {
            c.kill()?;
            c.wait()?;
        }
        let killed = Instant::now();
        while register(&replicas[other].addr).await? != 201 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let gap = killed.elapsed();
        println!(
            "kill {}: writes resumed after {} ms",
            kill + 1,
            gap.as_millis()
        );
        gaps.push(gap);
        start(&args, &mut replicas[writer], &nats_url, &key)?;
    }
    gaps.sort_unstable();
    let ms = |d: Duration| d.as_millis();
    println!(
        "failover over {} kills (lease TTL {} s): median {} ms, worst {} ms",
        gaps.len(),
        args.lease_ttl_secs,
        ms(gaps[gaps.len() / 2]),
        ms(gaps[gaps.len() - 1])
    );
    drop(replicas);
    let _ = nats.kill();
    let _ = nats.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn start(args: &FailoverArgs, r: &mut Replica, nats: &str, key: &Path) -> anyhow::Result<()> {
    let url = format!("http://{}", r.addr);
    let child = Command::new(&args.node)
        .args(["serve", "--context", "auth", "--replicated", "--data-dir"])
        .arg(&r.data)
        .args(["--http-addr", &r.addr, "--advertise-url", &url])
        .args(["--lease-ttl-secs", &args.lease_ttl_secs.to_string()])
        .arg("--jwt-private-key")
        .arg(key)
        .env("AGORA_NATS_URL", nats)
        .env("AGORA_PLATFORM", "failover")
        .env("AGORA_LOGIN_ATTEMPTS_PER_IP", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    r.child = Some(child);
    Ok(())
}

/// The replica that takes a registration now.
async fn find_writer(replicas: &[Replica]) -> Option<usize> {
    for (i, r) in replicas.iter().enumerate() {
        if r.child.is_some() && register(&r.addr).await.ok()? == 201 {
            return Some(i);
        }
    }
    None
}

/// Registers a new account at `addr`; the status (0: no answer).
async fn register(addr: &str) -> anyhow::Result<u16> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("failover{n}");
    let Ok(mut conn) = Conn::open(addr).await else {
        return Ok(0);
    };
    let body =
        json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD});
    Ok(conn
        .call("POST", "/api/v1/auth/register", None, Some(body))
        .await
        .map_or(0, |(status, _)| status))
}
