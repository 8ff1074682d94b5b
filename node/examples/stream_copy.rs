//! Figures of the event stream in backups: how fast a stream is copied out in chunks (what
//! `agora-node backup` asks a node for) and put back on another bus at the same sequence
//! numbers (what `agora-node restore` does), and how big the copy is. Prints figures,
//! asserts nothing; docs/benchmarks.md records its runs.
//!
//! `cargo run --release -p agora-node --example stream_copy -- FROM_NATS_URL TO_NATS_URL [events]`
//! (two empty NATS servers with JetStream).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark: a panic is a failed run"
)]

use std::time::Instant;

use base64::Engine as _;

use agora_node::platform::backup::manifest::StreamCopy;
use agora_node::platform::backup::stream::{self, Which, republish};
use agora_node::platform::bus::{Bus, StreamSettings};

/// An event about the size of a sealed `PostCreated`, most of it ciphertext.
const EVENT: usize = 900;

async fn bus(url: &str) -> Bus {
    let settings = StreamSettings {
        prefix: "bench".into(),
        replicas: 1,
        max_age: std::time::Duration::ZERO,
    };
    Bus::connect(url, None, None, settings).await.unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: stream_copy FROM_NATS_URL TO_NATS_URL [events]";
    let (from, to) = (
        bus(args.get(1).expect(usage)).await,
        bus(args.get(2).expect(usage)).await,
    );
    let events: u64 = args.get(3).map_or(200_000, |s| s.parse().unwrap());
    from.ensure_stream().await.unwrap();

    let started = Instant::now();
    for batch in (0..events).collect::<Vec<_>>().chunks(256) {
        let mut acks = Vec::new();
        for n in batch {
            // Sealed fields are ciphertext in base64: they do not compress.
            let sealed: Vec<u8> = (0..EVENT * 3 / 4).map(|_| rand::random()).collect();
            let sealed = base64::engine::general_purpose::STANDARD.encode(sealed);
            let payload = format!("{{\"id\":\"{n:026}\",\"text\":\"{sealed}\"}}");
            let message = async_nats::jetstream::message::PublishMessage::build()
                .payload(payload.into())
                .message_id(format!("{n:026}"));
            acks.push(
                from.js
                    .send_publish("bench.events.posts.PostCreated", message)
                    .await
                    .unwrap(),
            );
        }
        for ack in acks {
            ack.await.unwrap();
        }
    }
    println!(
        "{events} events of {EVENT} bytes published in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let extent = stream::extent(&from, Which::Events).await.unwrap();
    let started = Instant::now();
    let (mut files, mut bytes) = (Vec::new(), 0u64);
    for (first, last, _) in stream::chunks(&extent) {
        let path = dir.path().join(format!("{first:020}.jsonl.gz"));
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        stream::export(&from, Which::Events, first, last, file)
            .await
            .unwrap();
        bytes += std::fs::metadata(&path).unwrap().len();
        files.push(path);
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "copied out: {} chunks in {took:.2} s ({:.0} events/s), {:.1} MB ({:.0} bytes/event)",
        files.len(),
        events as f64 / took,
        bytes as f64 / 1e6,
        bytes as f64 / events as f64
    );

    let copy = StreamCopy {
        extent,
        chunks: Vec::new(),
    };
    let started = Instant::now();
    republish::events(&to, &copy, &files)
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed().as_secs_f64();
    let back = stream::extent(&to, Which::Events).await.unwrap();
    println!(
        "put back: {} events up to sequence {} in {took:.2} s ({:.0} events/s)",
        back.messages,
        back.last_seq,
        events as f64 / took
    );
}
