//! Figures of the outbox relay alone: a store whose outbox holds `events` events (a bulk
//! import, a relay back from an outage), drained by `run_relay` into a real JetStream
//! with no consumer, while `busy` other stores of the same process apply writes as
//! consumers do (a transaction per event, a flush per batch of 16). Prints the rate per
//! tenth of the drain, asserts nothing; docs/benchmarks.md records its runs.
//!
//! `cargo run --release -p agora-node --example relay -- NATS_URL [events] [busy]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark: a panic is a failed run"
)]

use std::time::{Duration, Instant};

use agora_node::platform::bus::{Bus, StreamSettings, run_relay};
use agora_node::platform::envelope::Envelope;
use agora_node::platform::storage::Store;
use agora_node::platform::telemetry::Metrics;
use agora_node::users::events::FriendshipCreated;
use tokio::sync::watch;

/// Events written per transaction while filling the outbox.
const FILL_BATCH: usize = 1_000;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("usage: relay NATS_URL [events]");
    let events: usize = args.get(2).map_or(200_000, |s| s.parse().unwrap());
    let busy: usize = args.get(3).map_or(0, |s| s.parse().unwrap());

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("users")).unwrap();
    let started = Instant::now();
    for first in (0..events).step_by(FILL_BATCH) {
        let batch: Vec<Envelope> = (first..(first + FILL_BATCH).min(events))
            .map(|n| {
                let event = FriendshipCreated {
                    user_a: format!("01JBENCHUSER{n:014}"),
                    user_b: format!("01JBENCHFRND{n:014}"),
                };
                Envelope::new("system", &event.user_a, &event)
            })
            .collect();
        store
            .write_now(|tx| batch.iter().try_for_each(|e| tx.emit(e)))
            .unwrap();
    }
    println!(
        "{events} events queued in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let settings = StreamSettings {
        prefix: format!("relay{}", std::process::id()),
        replicas: 1,
        max_age: Duration::ZERO,
    };
    let bus = Bus::connect(url, None, None, settings).await.unwrap();
    let stream = bus.ensure_stream().await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    for n in 0..busy {
        let other = Store::open(&dir.path().join(format!("busy{n}"))).unwrap();
        tokio::spawn(apply_forever(other, shutdown.clone()));
    }
    let relay = tokio::spawn(run_relay(
        store.clone(),
        bus.clone(),
        "users",
        Metrics::new(),
        shutdown,
    ));
    let started = Instant::now();
    let (mut last, mut at) = (0u64, Instant::now());
    let tenth = (events / 10).max(1) as u64;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let published = stream.clone().info().await.unwrap().state.messages;
        if published >= last + tenth || published >= events as u64 {
            let rate = (published - last) as f64 / at.elapsed().as_secs_f64();
            println!("{published:>9} published, {rate:>8.0} events/s");
            (last, at) = (published, Instant::now());
        }
        if published >= events as u64 {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "drained in {seconds:.1} s: {:.0} events/s",
        events as f64 / seconds
    );
    stop.send(true).unwrap();
    store.outbox_written.notify_one();
    relay.await.unwrap();
    bus.js
        .delete_stream(bus.settings.stream_name())
        .await
        .unwrap();
}

/// Writes as a consumer applies a backlog: a transaction per event, one flush per 16.
async fn apply_forever(store: Store, shutdown: watch::Receiver<bool>) {
    let mut n = 0u64;
    while !*shutdown.borrow() {
        for _ in 0..16 {
            n += 1;
            let key = n.to_be_bytes();
            store
                .write_now(|tx| {
                    tx.put(&key, &"an applied event's record, about this long")?;
                    tx.put(b"floor", &n)
                })
                .unwrap();
        }
        store.durable().await.unwrap();
    }
}
