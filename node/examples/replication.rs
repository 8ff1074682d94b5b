//! Figures of one context's store under concurrent writes, without replicas and as a
//! replicated writer (change log, synchronous append to its change stream) with a
//! follower applying the stream in the same process: writes per second, write latency,
//! and how far the follower lags. Prints figures, asserts nothing; docs/benchmarks.md
//! records its runs.
//!
//! `cargo run --release -p agora-node --example replication -- NATS_URL [seconds] [writers]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark: a panic is a failed run"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_node::platform::bus::{Bus, StreamSettings};
use agora_node::platform::replication::{follow, publish};
use agora_node::platform::storage::{Role, Store};
use tokio::sync::{Mutex, watch};

/// A record about the size of a post's.
const RECORD: usize = 300;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: replication NATS_URL [seconds] [writers]");
    let seconds: u64 = args.get(2).map_or(10, |s| s.parse().unwrap());
    let writers: usize = args.get(3).map_or(64, |s| s.parse().unwrap());
    println!("{writers} concurrent writers, {seconds} s per mode, {RECORD}-byte records");

    let dir = tempfile::tempdir().unwrap();
    let plain = Store::open(&dir.path().join("plain")).unwrap();
    let figures = load(&plain, seconds, writers, None).await;
    println!("without replicas:  {figures}");

    let prefix = format!("bench{}", std::process::id());
    let settings = StreamSettings {
        prefix,
        replicas: 1,
        max_age: Duration::ZERO,
    };
    let bus = Bus::connect(url, None, None, settings).await.unwrap();
    let writer = Store::open(&dir.path().join("writer"))
        .unwrap()
        .with_change_log()
        .unwrap();
    writer.set_role(Role::Writer).unwrap();
    let follower = Store::open(&dir.path().join("follower"))
        .unwrap()
        .with_change_log()
        .unwrap();
    let (_stop, shutdown) = watch::channel(false);
    tokio::spawn(publish::run(
        writer.clone(),
        bus.clone(),
        "bench",
        shutdown.clone(),
    ));
    let metrics = agora_node::platform::telemetry::Metrics::new();
    tokio::spawn(follow::run(
        follower.clone(),
        bus,
        "bench",
        metrics,
        shutdown,
    ));
    let figures = load(&writer, seconds, writers, Some(&follower)).await;
    println!("replicated writer: {figures}");
}

struct Figures {
    writes: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    lags: Vec<u64>,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |v: &[Duration], p: f64| v[((v.len() - 1) as f64 * p) as usize];
        write!(
            f,
            "{:.0} writes/s, latency p50 {:.2} ms, p99 {:.2} ms",
            self.writes as f64 / self.seconds,
            pct(&self.latencies, 0.5).as_secs_f64() * 1e3,
            pct(&self.latencies, 0.99).as_secs_f64() * 1e3,
        )?;
        if !self.lags.is_empty() {
            let p99 = self.lags[((self.lags.len() - 1) as f64 * 0.99) as usize];
            write!(
                f,
                "; follower behind by p50 {} / p99 {} / max {} transactions",
                self.lags[self.lags.len() / 2],
                p99,
                self.lags.last().unwrap()
            )?;
        }
        Ok(())
    }
}

async fn load(store: &Store, seconds: u64, writers: usize, follower: Option<&Store>) -> Figures {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, latencies) = (store.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let value = vec![b'x'; RECORD];
            let mut i = 0u64;
            while Instant::now() < deadline {
                let key = format!("r/{w:04}/{i:012}");
                let t = Instant::now();
                store
                    .write(|tx| tx.put_raw(key.as_bytes(), &value))
                    .await
                    .unwrap();
                mine.push(t.elapsed());
                i += 1;
            }
            latencies.lock().await.extend(mine);
        }));
    }
    let mut lags = Vec::new();
    if let Some(follower) = follower {
        while Instant::now() < deadline {
            let ahead = store.lsn().unwrap();
            lags.push(ahead.saturating_sub(*follower.stream_lsn.borrow()));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies = Arc::try_unwrap(latencies).unwrap().into_inner();
    latencies.sort_unstable();
    lags.sort_unstable();
    Figures {
        writes: latencies.len(),
        seconds,
        latencies,
        lags,
    }
}
