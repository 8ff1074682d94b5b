//! Figures of media's files at rest alone (no HTTP): writing a file, reading it back whole
//! and reading random ranges of it, stored plain and sealed in authenticated blocks, in one
//! process, one after the other. Prints figures, asserts nothing; docs/benchmarks.md
//! records its runs.
//!
//! `cargo run --release -p agora-node --example sealed_files -- [MiB] [ranges]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark: a panic is a failed run"
)]

use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

use agora_node::platform::keyring::PlatformKey;
use agora_node::platform::sealed_files::{self, FileSealer, PlainFile};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map_or(64, |a| a.parse().unwrap());
    let ranges: usize = args.next().map_or(2_000, |a| a.parse().unwrap());
    let mut rng = StdRng::seed_from_u64(3);
    let content: Vec<u8> = (0..mib << 20).map(|_| rng.random()).collect();
    let key = PlatformKey::from_setting(&PlatformKey::generate()).unwrap();
    let sealer = FileSealer::new(&key, "media");
    let dir = tempfile::tempdir().unwrap();
    for (label, sealer) in [("plain", None), ("sealed in blocks", Some(&sealer))] {
        let path = dir.path().join(label.replace(' ', "-"));
        let t = Instant::now();
        sealed_files::write(content.as_slice(), &path, sealer).unwrap();
        let write = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut back = Vec::with_capacity(content.len());
        PlainFile::open(&path, sealer)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        let whole = t.elapsed().as_secs_f64();
        assert_eq!(back.len(), content.len());
        let mut file = PlainFile::open(&path, sealer).unwrap();
        for size in [4 << 10, 64 << 10] {
            let mut latencies = Vec::with_capacity(ranges);
            let mut buf = vec![0; size];
            for _ in 0..ranges {
                let at = rng.random_range(0..content.len() - size) as u64;
                let t = Instant::now();
                file.seek(SeekFrom::Start(at)).unwrap();
                file.read_exact(&mut buf).unwrap();
                latencies.push(t.elapsed().as_secs_f64() * 1e6);
            }
            latencies.sort_by(f64::total_cmp);
            println!(
                "{label}: {ranges} reads of {} KiB at random offsets: p50 {:.1} µs, p99 {:.1} µs",
                size >> 10,
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.99)
            );
        }
        println!(
            "{label}: {mib} MiB written and synced at {:.0} MiB/s, read whole at {:.0} MiB/s (page cache warm)",
            mib as f64 / write,
            mib as f64 / whole
        );
    }
}
