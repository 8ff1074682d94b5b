//! The media workload (#9): photos of about `--mib` MiB (JPEG, 12 megapixels as a phone
//! takes them) uploaded one after another, each timed until its answer, which comes once
//! the picture is re-encoded and its thumbnails and blurhash are made; then
//! `--concurrency` uploads at once while the node's resident memory is sampled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{
    Conn, api, histogram, login, new_user, print_latency, rss_kib, status_kib, upload_media,
};
use anyhow::{Context, bail};
use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(clap::Args)]
pub struct MediaArgs {
    /// Size of each photo, in MiB (approximately: the noise in it is tuned until the JPEG
    /// is within 5 % of this).
    #[arg(long, default_value_t = 4.0)]
    mib: f64,
    /// Width × height of each photo, in pixels.
    #[arg(long, default_value_t = 4000)]
    width: u32,
    #[arg(long, default_value_t = 3000)]
    height: u32,
    /// Uploads one after another.
    #[arg(long, default_value_t = 10)]
    sequential: usize,
    /// Uploads at once in the second round.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The node's process id, to sample its resident memory during the concurrent round.
    #[arg(long)]
    node_pid: Option<u32>,
}

/// A photo-like picture: smooth colour gradients with per-pixel noise of `noise`
/// (0-255), which decides how large its JPEG is.
fn picture(width: u32, height: u32, noise: u8, seed: u64) -> RgbImage {
    let mut rng = StdRng::seed_from_u64(seed);
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let mut jitter = || {
            if noise == 0 {
                0.0
            } else {
                f32::from(rng.random_range(0..noise)) - f32::from(noise) / 2.0
            }
        };
        let channel = |v: f32| v.clamp(0.0, 255.0) as u8;
        Rgb([
            channel(200.0 * fx + 30.0 + jitter()),
            channel(180.0 * fy + 40.0 + jitter()),
            channel(120.0 * (fx + fy) / 2.0 + 60.0 + jitter()),
        ])
    })
}

fn jpeg(image: &RgbImage) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90).encode_image(image)?;
    Ok(out)
}

/// The noise that makes a JPEG of about `bytes`, found by bisection.
fn noise_for(args: &MediaArgs, bytes: f64) -> anyhow::Result<u8> {
    let (mut low, mut high) = (0u8, 255u8);
    let mut best = (f64::MAX, 0u8);
    for _ in 0..8 {
        let noise = low + (high - low) / 2;
        let size = jpeg(&picture(args.width, args.height, noise, 0))?.len() as f64;
        let off = (size - bytes).abs() / bytes;
        if off < best.0 {
            best = (off, noise);
        }
        if off < 0.05 {
            break;
        }
        if size < bytes {
            low = noise;
        } else {
            high = noise;
        }
        if high - low <= 1 {
            break;
        }
    }
    Ok(best.1)
}

/// Uploads `body` as a raw JPEG; returns the media id.
async fn upload(conn: &mut Conn, token: &str, body: Bytes) -> anyhow::Result<String> {
    let v = upload_media(conn, token, "image/jpeg", body).await?;
    if v["thumbnails"].as_array().is_none_or(|t| t.is_empty()) {
        bail!("upload answered without thumbnails: {v}");
    }
    Ok(v["id"].as_str().context("no media id")?.to_string())
}

/// Samples the resident memory of `pid` every 5 ms until `stop`; returns the highest, KiB.
async fn sample_rss(pid: u32, stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(kib) = rss_kib(pid) {
            peak.fetch_max(kib, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn run(addr: &str, args: MediaArgs) -> anyhow::Result<()> {
    let mut conn = Conn::open(addr).await?;
    let name = new_user(&api(addr)).await?;
    let token = login(&mut conn, &name).await?;

    let target = args.mib * 1024.0 * 1024.0;
    let noise = noise_for(&args, target)?;
    let total = args.sequential + args.concurrency;
    // Each photo differs (a seed of its own), so content addressing stores each.
    let photos: Vec<Bytes> = (0..total)
        .map(|i| {
            Ok(Bytes::from(jpeg(&picture(
                args.width,
                args.height,
                noise,
                i as u64 + 1,
            ))?))
        })
        .collect::<anyhow::Result<_>>()?;
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    let mean = photos.iter().map(|p| p.len()).sum::<usize>() / photos.len().max(1);
    println!(
        "photos: {total} JPEGs of {}x{} px, {:.2} MiB each on average",
        args.width,
        args.height,
        mib(mean)
    );

    let (sequential, concurrent) = photos.split_at(args.sequential);
    let mut latency = histogram();
    let started = Instant::now();
    let mut sent = 0;
    for photo in sequential {
        let t = Instant::now();
        upload(&mut conn, &token, photo.clone()).await?;
        latency.saturating_record(t.elapsed().as_micros() as u64);
        sent += photo.len();
    }
    let secs = started.elapsed().as_secs_f64();
    print_latency("upload to thumbnails ready, one at a time", &latency);
    println!(
        "one at a time: {} uploads in {secs:.2} s: {:.2} MiB/s",
        sequential.len(),
        mib(sent) / secs
    );

    let before = args.node_pid.map(rss_kib).transpose()?;
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = args
        .node_pid
        .map(|pid| tokio::spawn(sample_rss(pid, stop.clone(), peak.clone())));
    let started = Instant::now();
    let uploads: Vec<_> = concurrent
        .iter()
        .cloned()
        .map(|photo| {
            let (addr, token) = (addr.to_string(), token.clone());
            tokio::spawn(async move {
                let mut conn = Conn::open(&addr).await?;
                let t = Instant::now();
                upload(&mut conn, &token, photo).await?;
                anyhow::Ok(t.elapsed())
            })
        })
        .collect();
    let mut latency = histogram();
    for u in uploads {
        latency.saturating_record(u.await??.as_micros() as u64);
    }
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    if let Some(sampler) = sampler {
        sampler.await?;
    }
    let bytes: usize = concurrent.iter().map(|p| p.len()).sum();
    print_latency(
        &format!("upload to thumbnails ready, {} at once", concurrent.len()),
        &latency,
    );
    println!(
        "{} at once: all done in {secs:.2} s: {:.2} MiB/s",
        concurrent.len(),
        mib(bytes) / secs
    );
    if let (Some(pid), Some(before)) = (args.node_pid, before) {
        println!(
            "node resident memory: {:.0} MiB before, peak {:.0} MiB during (sampled every 5 ms), {:.0} MiB after; highest ever (VmHWM) {:.0} MiB",
            before as f64 / 1024.0,
            peak.load(Ordering::Relaxed) as f64 / 1024.0,
            rss_kib(pid)? as f64 / 1024.0,
            status_kib(pid, "VmHWM")? as f64 / 1024.0,
        );
    }
    Ok(())
}
