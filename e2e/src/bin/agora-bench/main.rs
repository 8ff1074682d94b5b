//! `agora-bench`: a load generator for an Agora gateway. It prints figures and asserts
//! nothing; docs/benchmarks.md records its runs.
//!
//! Each worker owns one keep-alive HTTP/1.1 connection (hyper) and sends requests back to
//! back; latencies go into per-worker HDR histograms that are merged at the end.
#![allow(
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a load generator: a panic is a failed run, reported as such"
)]

mod bulk;
mod ceiling;
mod failover;
mod load;
mod media;
mod privacy;
mod search;
mod social;
mod stream;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "agora-bench",
    about = "Load generator for an Agora gateway (dev or cluster)"
)]
struct Cli {
    /// Gateway address (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:7070")]
    addr: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// `GET /api/v1/users/me` with a valid token, as fast as the connections allow.
    UsersMe {
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The social-network workload (DeathStarBench-like): seed a Reed98-sized graph, then
    /// an open-loop mix of feed reads, timeline reads and composes.
    Social(social::SocialArgs),
    /// Search: people, a graph and posts of a generated language, then an open-loop load of
    /// post and people searches by viewers who each see a different part of it.
    Search(search::SearchArgs),
    /// The push channel: idle WebSocket connections (memory per connection), then message
    /// delivery from a sender's request to the recipient's socket.
    Stream(stream::StreamArgs),
    /// Media: photo uploads until their thumbnails are ready, one after another, then
    /// several at once while the node's resident memory is sampled.
    Media(media::MediaArgs),
    /// GDPR: export and erasure of a person with many posts and files.
    Privacy(privacy::PrivacyArgs),
    /// Replicas: how long writes stop when the writer of a context is killed (starts its
    /// own nats-server and two `agora-node serve --replicated`).
    Failover(failover::FailoverArgs),
    /// A burst of logins, while a probe measures `GET /users/me` latency beside it.
    Logins {
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

pub(crate) struct Conn {
    send: SendRequest<Full<Bytes>>,
    addr: String,
}

impl Conn {
    pub(crate) async fn open(addr: &str) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn {
            send,
            addr: addr.to_string(),
        })
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Full::new(Bytes::from(serde_json::to_vec(&b)?))
            }
            None => Full::new(Bytes::new()),
        };
        self.send.ready().await?;
        let resp = self.send.send_request(req.body(body)?).await?;
        let status = resp.status().as_u16();
        Ok((status, resp.into_body().collect().await?.to_bytes()))
    }

    async fn json(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, bytes) = self.call(method, path, token, body).await?;
        if status >= 300 {
            bail!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

/// Uploads `body` to `POST /api/v1/media` as the raw body with `content_type`; returns
/// the answer (a `201`'s media view), or fails on any other status.
pub(crate) async fn upload_media(
    conn: &mut Conn,
    token: &str,
    content_type: &str,
    body: Bytes,
) -> anyhow::Result<Value> {
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/media")
        .header("host", &conn.addr)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .body(Full::new(body))?;
    conn.send.ready().await?;
    let resp = conn.send.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    if status != 201 {
        bail!("upload: {status} {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

pub(crate) const PASSWORD: &str = "benchmark horse battery staple";

/// The typed client (`agora-client`, generated from the OpenAPI document) of the platform
/// at `addr`: what setting up accounts uses; the measured requests go through `Conn`.
pub(crate) fn api(addr: &str) -> agora_client::Client {
    agora_client::Client::new(&format!("http://{addr}"))
}

/// Registers, verifies (through the dev mailbox) and returns the username.
/// A fresh username that no earlier run used.
async fn new_user(api: &agora_client::Client) -> anyhow::Result<String> {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros();
    let name = format!("bench{}", micros % 10_000_000_000);
    sign_up(api, &name).await?;
    Ok(name)
}

/// Registers `name` and verifies it through the dev mailbox; returns the account id.
pub(crate) async fn sign_up(api: &agora_client::Client, name: &str) -> anyhow::Result<String> {
    use agora_client::{ClientInfo, types};
    let email = format!("{name}@example.org");
    let account = api
        .register()
        .body(
            types::RegisterRequest::builder()
                .username(name)
                .email(&email)
                .password(PASSWORD),
        )
        .send()
        .await?;
    let text = match std::env::var_os(MAIL_LOG) {
        Some(log) => logged_mail(std::path::Path::new(&log), &email).await?,
        None => {
            // The dev mailbox is a route of `dev` only, outside the document.
            let mailbox = format!("{}/api/v1/dev/mailbox?to={email}", api.baseurl());
            let mail: Value = api.client().get(mailbox).send().await?.json().await?;
            mail["items"][0]["body"]
                .as_str()
                .context("no verification mail (is this a dev platform?)")?
                .to_string()
        }
    };
    let token = text
        .split("token:")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .context("no token in mail")?;
    api.verify()
        .body(
            types::VerifyRequest::builder()
                .token(token)
                .password(PASSWORD),
        )
        .send()
        .await?;
    Ok(account.into_inner().id)
}

/// Where a platform without the dev mailbox (`serve` processes) has its mail: the JSON log
/// of the auth process that writes (mail is logged when no SMTP server is set), for
/// benchmarks of the cluster topology on one machine.
const MAIL_LOG: &str = "AGORA_BENCH_MAIL_LOG";

/// The body of the mail to `to` in the JSON log at `log`, waiting up to 10 s for it.
async fn logged_mail(log: &std::path::Path, to: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = tokio::fs::read_to_string(log).await?;
        let found = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|entry| entry["message"] == "mail" && entry["to"] == to)
            .find_map(|entry| entry["body"].as_str().map(String::from));
        if let Some(body) = found {
            return Ok(body);
        }
        if Instant::now() > deadline {
            bail!("no mail to {to} in {}", log.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn login(conn: &mut Conn, name: &str) -> anyhow::Result<String> {
    let tokens = conn
        .json(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"login": name, "password": PASSWORD})),
        )
        .await?;
    Ok(tokens["access_token"]
        .as_str()
        .context("no access token")?
        .to_string())
}

/// Latencies in microseconds up to a minute; a longer one (a node that stalled) counts as
/// a minute instead of ending the run.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// A line of `/proc/<pid>/status` in KiB: `VmRSS` (resident now) or `VmHWM` (the peak).
pub(crate) fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .with_context(|| format!("no {field}"))?
        .parse()
        .with_context(|| field.to_string())
}

/// Resident set of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS")
}

pub(crate) fn print_latency(label: &str, h: &Histogram<u64>) {
    let ms = |v: u64| v as f64 / 1000.0;
    println!(
        "{label}: n={} p50={:.3}ms p90={:.3}ms p99={:.3}ms p99.9={:.3}ms max={:.3}ms",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max())
    );
}

/// Sends `GET /users/me` until `deadline`, pausing `pause` between requests.
async fn hammer(
    addr: String,
    token: String,
    deadline: Instant,
    pause: Option<Duration>,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let mut conn = Conn::open(&addr).await?;
    let mut h = histogram();
    let mut errors = 0;
    while Instant::now() < deadline {
        let start = Instant::now();
        let (status, _) = conn
            .call("GET", "/api/v1/users/me", Some(&token), None)
            .await?;
        h.saturating_record(start.elapsed().as_micros() as u64);
        if status != 200 {
            errors += 1;
        }
        if let Some(p) = pause {
            tokio::time::sleep(p).await;
        }
    }
    Ok((h, errors))
}

async fn users_me(addr: &str, connections: usize, seconds: u64) -> anyhow::Result<()> {
    let mut setup = Conn::open(addr).await?;
    let name = new_user(&api(addr)).await?;
    let token = login(&mut setup, &name).await?;
    // Warm up (and wait for the profile, which is built from an event).
    let warm = Instant::now() + Duration::from_secs(1);
    hammer(addr.into(), token.clone(), warm, None).await?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(hammer(addr.into(), token.clone(), deadline, None)))
        .collect();
    let mut all = histogram();
    let mut errors = 0;
    for w in workers {
        let (h, e) = w.await??;
        all.add(h)?;
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("GET /api/v1/users/me, {connections} connections, {seconds} s");
    println!(
        "requests={} errors(non-200)={} throughput={:.0} req/s",
        all.len(),
        errors,
        all.len() as f64 / elapsed
    );
    print_latency("latency", &all);
    Ok(())
}

async fn logins(addr: &str, concurrency: usize, seconds: u64) -> anyhow::Result<()> {
    let mut setup = Conn::open(addr).await?;
    let name = new_user(&api(addr)).await?;
    let token = login(&mut setup, &name).await?;
    let probe_pause = Some(Duration::from_millis(5));
    let (quiet, _) = hammer(
        addr.into(),
        token.clone(),
        Instant::now() + Duration::from_secs(3),
        probe_pause,
    )
    .await?;
    print_latency("probe GET /users/me, no logins", &quiet);

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let probe = tokio::spawn(hammer(addr.into(), token.clone(), deadline, probe_pause));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (addr, name) = (addr.to_string(), name.clone());
            tokio::spawn(async move {
                let mut conn = Conn::open(&addr).await?;
                let mut h = histogram();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    login(&mut conn, &name).await?;
                    h.saturating_record(start.elapsed().as_micros() as u64);
                }
                anyhow::Ok(h)
            })
        })
        .collect();
    let mut all = histogram();
    for w in workers {
        all.add(w.await??)?;
    }
    let (busy, errors) = probe.await??;
    println!(
        "logins: {concurrency} concurrent for {seconds} s: {:.1} logins/s",
        all.len() as f64 / seconds as f64
    );
    print_latency("login latency", &all);
    print_latency("probe GET /users/me, during logins", &busy);
    println!("probe errors(non-200)={errors}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::UsersMe {
            connections,
            seconds,
        } => users_me(&cli.addr, connections, seconds).await,
        Command::Logins {
            concurrency,
            seconds,
        } => logins(&cli.addr, concurrency, seconds).await,
        Command::Social(args) => social::run(&cli.addr, args).await,
        Command::Search(args) => search::run(&cli.addr, args).await,
        Command::Stream(args) => stream::run(&cli.addr, args).await,
        Command::Privacy(args) => privacy::run(&cli.addr, args).await,
        Command::Media(args) => media::run(&cli.addr, args).await,
        Command::Failover(args) => failover::run(args).await,
    }
}
