//! Figures of a store's snapshot (what `agora-node backup` takes of each context): how
//! long writes wait while the store is read (the snapshot's time under the gate), the
//! compressed size, the longest a concurrent writer waited, and how long a restore of it
//! takes. Prints figures, asserts nothing; docs/benchmarks.md records its runs.
//! With `checkpoint`, the store keeps a change log and a replica's checkpoint is taken
//! instead (what the change relay logs every 10,000 changes): the writer's longest wait.
//!
//! `cargo run --release -p agora-node --example snapshot -- [records] [checkpoint]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark: a panic is a failed run"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agora_node::platform::storage::{Role, Store, snapshot};

/// A record about the size of a post's (JSON text, as the contexts store them).
const RECORD: usize = 300;

#[tokio::main]
async fn main() {
    let records: usize = std::env::args()
        .nth(1)
        .map_or(200_000, |s| s.parse().unwrap());
    let checkpoint = std::env::args().nth(2).as_deref() == Some("checkpoint");
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_with_cache(&dir.path().join("posts"), 256 << 20).unwrap();
    if checkpoint {
        store = store.with_change_log().unwrap();
        store.set_role(Role::Writer).unwrap();
        // No change relay here: writes are not kept waiting for the stream to hold them.
        store.stream_lsn.send_replace(u64::MAX);
    }
    // Words drawn from a small vocabulary, as text is: it compresses about as posts do.
    let words: Vec<String> = (0..512u64)
        .map(|w| format!("{:x}", w.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40))
        .collect();
    let mut seed = 7u64;
    let mut text = move || {
        let mut t = String::new();
        while t.len() < RECORD - 20 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            t.push_str(&words[(seed >> 33) as usize % words.len()]);
            t.push(' ');
        }
        t
    };
    let started = Instant::now();
    for chunk in (0..records).collect::<Vec<_>>().chunks(1_000) {
        let texts: Vec<String> = chunk.iter().map(|_| text()).collect();
        store
            .write(|tx| {
                for (i, t) in chunk.iter().zip(&texts) {
                    tx.put(format!("post/{i:010}").as_bytes(), t)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    let raw: u64 = store
        .data
        .iter()
        .map(|e| e.map_or(0, |(k, v)| (k.len() + v.len()) as u64))
        .sum();
    println!(
        "{records} records of {RECORD} bytes ({:.0} MB of keys and values) written in {:.1} s",
        raw as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let keys = store.data.iter().count();
    println!(
        "iterating the store alone: {keys} keys in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // A writer keeps writing while the snapshot is taken: its longest wait is the pause.
    let stop = Arc::new(AtomicBool::new(false));
    let longest = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, longest) = (store.clone(), stop.clone(), longest.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                store.write(|tx| tx.put(b"counter", &n)).await.unwrap();
                longest.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    if checkpoint {
        let taking = store.clone();
        let took = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            taking.log_checkpoint().unwrap();
            t.elapsed()
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
        let writes = writer.await.unwrap();
        println!(
            "checkpoint in {:.0} ms; a concurrent writer ({writes} writes meanwhile) waited at most {:.0} ms",
            took.as_secs_f64() * 1e3,
            longest.load(Ordering::Relaxed) as f64 / 1e3
        );
        return;
    }
    let file = dir.path().join("posts.snapshot.gz");
    let taking = store.clone();
    let path = file.clone();
    let (info, took) = tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let t = Instant::now();
        let info = taking.write_snapshot(path.parent().unwrap(), out).unwrap();
        (info, t.elapsed())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let writes = writer.await.unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    println!(
        "snapshot: {} keys in {:.0} ms ({:.0} MB/s of store), {:.1} MB compressed ({:.0} %)",
        info.keys,
        took.as_secs_f64() * 1e3,
        raw as f64 / 1e6 / took.as_secs_f64(),
        size as f64 / 1e6,
        100.0 * size as f64 / raw as f64
    );
    println!(
        "a concurrent writer ({writes} writes meanwhile) waited at most {:.0} ms",
        longest.load(Ordering::Relaxed) as f64 / 1e3
    );
    let t = Instant::now();
    let restored = snapshot::restore(
        &dir.path().join("restored"),
        std::fs::File::open(&file).unwrap(),
        None,
        None,
    )
    .unwrap();
    println!(
        "restore (read, checked, written, flushed): {} keys in {:.0} ms",
        restored.keys,
        t.elapsed().as_secs_f64() * 1e3
    );
}
