//! `agora-bench stream`: the push channel. First idle WebSocket connections (the node's
//! resident memory before and after, per connection), then message delivery: senders post
//! to direct conversations over HTTP at a constant rate, recipients hold WebSockets, and
//! the time from just before the send to the event on the recipient's socket is recorded.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Conn, api, histogram, login, new_user, print_latency, rss_kib, sign_up};

#[derive(clap::Args)]
pub struct StreamArgs {
    /// Idle WebSocket connections to hold open (0 skips the idle phase).
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// The process id of the node serving the gateway, to read its resident memory.
    #[arg(long)]
    pid: Option<u32>,
    /// Messages per second offered in the delivery phase (0 skips it).
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// Seconds per delivery step.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Sender and recipient pairs, each with its direct conversation.
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Step the rate up by 25 % until delivery p99 exceeds this (ms).
    #[arg(long)]
    find_max_p99_ms: Option<f64>,
    /// Users who each send one friend request to a connected user (0 skips the
    /// notification phase): the time from each request to its notification on the socket.
    #[arg(long, default_value_t = 0)]
    notify: usize,
    /// Friend requests per second in the notification phase.
    #[arg(long, default_value_t = 50)]
    notify_rate: u64,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn socket(addr: &str, token: &str) -> anyhow::Result<Socket> {
    let mut req = format!("ws://{addr}/api/v1/stream").into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

async fn idle(addr: &str, n: usize, pid: Option<u32>) -> anyhow::Result<()> {
    let mut conn = Conn::open(addr).await?;
    let name = new_user(&api(addr)).await?;
    let token = login(&mut conn, &name).await?;
    let before = pid.map(rss_kib).transpose()?;
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let opened = futures::future::join_all(chunk.iter().map(|_| socket(addr, &token))).await;
        for s in opened {
            sockets.push(s?);
        }
    }
    println!(
        "idle: {} WebSocket connections open in {:.1}s",
        sockets.len(),
        started.elapsed().as_secs_f64()
    );
    // Let the server settle (tasks parked, buffers allocated) before reading memory.
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let (Some(pid), Some(before)) = (pid, before) {
        let after = rss_kib(pid)?;
        let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
        println!(
            "idle: node RSS {:.1} MiB before, {:.1} MiB with the connections: {:.1} KB per connection",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            per / 1000.0
        );
    }
    drop(sockets);
    Ok(())
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

struct Pair {
    conversation: String,
    sender_token: String,
}

/// Signs up the pairs, starts their conversations and opens the recipients' sockets.
async fn pairs(addr: &str, n: usize) -> anyhow::Result<(Vec<Pair>, Vec<Socket>)> {
    let mut conn = Conn::open(addr).await?;
    let accounts = api(addr);
    let tag = now_micros() % 1_000_000_000;
    let mut pairs = Vec::new();
    let mut sockets = Vec::new();
    for i in 0..n {
        let (a, b) = (format!("snd{tag}x{i}"), format!("rcv{tag}x{i}"));
        sign_up(&accounts, &a).await?;
        let b_id = sign_up(&accounts, &b).await?;
        let (a_token, b_token) = (login(&mut conn, &a).await?, login(&mut conn, &b).await?);
        let body = json!({"kind": "direct", "user_id": b_id});
        let started = Instant::now();
        let conversation = loop {
            // messages learns of the account from auth's event, milliseconds later.
            match conn
                .json(
                    "POST",
                    "/api/v1/conversations",
                    Some(&a_token),
                    Some(body.clone()),
                )
                .await
            {
                Ok(c) => break c["id"].as_str().context("conversation id")?.to_string(),
                Err(e) if started.elapsed() > Duration::from_secs(10) => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        sockets.push(socket(addr, &b_token).await?);
        pairs.push(Pair {
            conversation,
            sender_token: a_token,
        });
    }
    Ok((pairs, sockets))
}

/// Records, per received `message.created`, the time since its text's send stamp.
fn receive(sockets: Vec<Socket>, h: Arc<Mutex<Histogram<u64>>>) {
    for mut ws in sockets {
        let h = h.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                let Message::Text(text) = frame else { continue };
                let Ok(event) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if event["type"] != "message.created" {
                    continue;
                }
                let Some(sent) = event["data"]["text"]
                    .as_str()
                    .and_then(|t| t.parse::<u64>().ok())
                else {
                    continue;
                };
                let _ = h
                    .lock()
                    .await
                    .record(now_micros().saturating_sub(sent).max(1));
            }
        });
    }
}

/// Sends at `rate` per second for `seconds` over 32 connections (open loop: each message
/// carries its *intended* send time, so a server that falls behind shows as latency instead
/// of slowing the senders down); returns (sent, errors).
async fn send_at(
    addr: &str,
    pairs: &Arc<Vec<Pair>>,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(u64, u64)> {
    let workers = 32u64;
    let per_worker = Duration::from_secs_f64(workers as f64 / rate as f64);
    let (start, start_unix) = (Instant::now(), now_micros());
    let deadline = start + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (addr, pairs) = (addr.to_string(), pairs.clone());
            tokio::spawn(async move {
                let mut conn = Conn::open(&addr).await?;
                let (mut sent, mut errors) = (0u64, 0u64);
                let mut next = Instant::now() + per_worker.mul_f64(w as f64 / workers as f64);
                let mut i = w as usize;
                while next < deadline {
                    tokio::time::sleep_until(next.into()).await;
                    let pair = &pairs[i % pairs.len()];
                    let path = format!("/api/v1/conversations/{}/messages", pair.conversation);
                    let intended = start_unix + (next - start).as_micros() as u64;
                    let body = json!({"text": intended.to_string()});
                    let (status, _) = conn
                        .call("POST", &path, Some(&pair.sender_token), Some(body))
                        .await?;
                    sent += 1;
                    if status != 201 {
                        errors += 1;
                    }
                    i += workers as usize;
                    next += per_worker;
                }
                anyhow::Ok((sent, errors))
            })
        })
        .collect();
    let (mut sent, mut errors) = (0, 0);
    for h in handles {
        let (s, e) = h.await??;
        sent += s;
        errors += e;
    }
    Ok((sent, errors))
}

async fn delivery(addr: &str, args: &StreamArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (pairs, sockets) = pairs(addr, args.pairs).await?;
    println!(
        "delivery: {} pairs signed up, conversations started, recipients connected in {:.1}s",
        pairs.len(),
        started.elapsed().as_secs_f64()
    );
    let pairs = Arc::new(pairs);
    let h = Arc::new(Mutex::new(histogram()));
    receive(sockets, h.clone());
    let mut rate = args.rate;
    let mut best = None;
    loop {
        h.lock().await.reset();
        let started = Instant::now();
        let (sent, errors) = send_at(addr, &pairs, rate, args.seconds).await?;
        let achieved = sent as f64 / started.elapsed().as_secs_f64();
        // Let the last messages arrive.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let snapshot = h.lock().await.clone();
        println!(
            "offered {rate} messages/s: sent {sent} at {achieved:.0}/s ({errors} errors), delivered {}",
            snapshot.len()
        );
        print_latency("intended send to recipient's socket", &snapshot);
        let p99 = snapshot.value_at_quantile(0.99) as f64 / 1000.0;
        let Some(bound) = args.find_max_p99_ms else {
            return Ok(());
        };
        if p99 > bound || errors > 0 || snapshot.len() < sent {
            match best {
                Some(b) => println!(
                    "highest offered rate with delivery p99 under {bound} ms: {b} messages/s"
                ),
                None => println!("no rate kept delivery p99 under {bound} ms"),
            }
            return Ok(());
        }
        best = Some(rate);
        rate = rate * 5 / 4;
    }
}

/// Friend requests to one connected user; latency from each request's intended send time
/// to its `notification` on the user's socket.
async fn notification_latency(addr: &str, n: usize, rate: u64) -> anyhow::Result<()> {
    let mut conn = Conn::open(addr).await?;
    let accounts = api(addr);
    let tag = now_micros() % 1_000_000_000;
    let target_name = format!("star{tag}");
    let target = sign_up(&accounts, &target_name).await?;
    let target_token = login(&mut conn, &target_name).await?;
    let mut senders = Vec::new();
    for i in 0..n {
        let name = format!("fan{tag}x{i}");
        let id = sign_up(&accounts, &name).await?;
        senders.push((id, login(&mut conn, &name).await?));
    }
    let mut ws = socket(addr, &target_token).await?;
    let sent_at = Arc::new(Mutex::new(std::collections::HashMap::<String, u64>::new()));
    let h = Arc::new(Mutex::new(histogram()));
    let (times, hist) = (sent_at.clone(), h.clone());
    let reader = tokio::spawn(async move {
        let mut seen = 0;
        while seen < n {
            let Some(Ok(frame)) = ws.next().await else {
                break;
            };
            let Message::Text(text) = frame else { continue };
            let Ok(event) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if event["type"] != "notification" {
                continue;
            }
            let Some(actor) = event["data"]["notification"]["actors"][0].as_str() else {
                continue;
            };
            if let Some(sent) = times.lock().await.get(actor).copied() {
                let _ = hist
                    .lock()
                    .await
                    .record(now_micros().saturating_sub(sent).max(1));
                seen += 1;
            }
        }
    });
    // Let the profiles (made from registration events) exist before asking.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let (start, start_unix) = (Instant::now(), now_micros());
    let mut errors = 0;
    for (i, (id, token)) in senders.iter().enumerate() {
        let next = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(next.into()).await;
        sent_at
            .lock()
            .await
            .insert(id.clone(), start_unix + (next - start).as_micros() as u64);
        let path = format!("/api/v1/users/{target}/friend-request");
        let (status, _) = conn.call("POST", &path, Some(token), None).await?;
        if status != 201 {
            errors += 1;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
    let snapshot = h.lock().await.clone();
    println!(
        "notifications: {n} friend requests at {rate}/s ({errors} errors), {} notifications pushed",
        snapshot.len()
    );
    print_latency("request to the recipient's socket", &snapshot);
    Ok(())
}

pub async fn run(addr: &str, args: StreamArgs) -> anyhow::Result<()> {
    if args.notify > 0 {
        notification_latency(addr, args.notify, args.notify_rate).await?;
    }
    if args.idle > 0 {
        idle(addr, args.idle, args.pid).await?;
    }
    if args.rate > 0 {
        delivery(addr, &args).await?;
    }
    Ok(())
}
