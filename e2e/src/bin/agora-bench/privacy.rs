//! `agora-bench privacy`: how long a GDPR export and an erasure take for a person with a
//! lot of data. One user composes `--posts` posts and uploads `--media-mib` MiB of video
//! (stored as is, so the figure is the platform's, not a transcoder's), some attached to
//! posts; then the export is timed from the request to the archive being ready, and the
//! download; then, on a platform started with `AGORA_ERASURE_GRACE_HOURS=0` (and raised
//! rate limits), the erasure from `DELETE /users/me` until a second user no longer sees the
//! profile and the newest post. Between seeding and export, the files are read back
//! through the gateway: each whole, then `--ranges` ranges of 64 KiB at random offsets
//! (a video seeking), one at a time.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::{Value, json};

use super::{Conn, PASSWORD, api, login, new_user};

#[derive(clap::Args)]
pub struct PrivacyArgs {
    /// Posts the person composes.
    #[arg(long, default_value_t = 1_000)]
    posts: usize,
    /// MiB of media the person uploads, in files of `--file-mib`.
    #[arg(long, default_value_t = 100)]
    media_mib: usize,
    /// Size of each uploaded file, in MiB (at most the platform's upload limit).
    #[arg(long, default_value_t = 5)]
    file_mib: usize,
    /// Skip the erasure (a platform with a grace period).
    #[arg(long)]
    no_erasure: bool,
    /// Range requests of 64 KiB made to the files after seeding.
    #[arg(long, default_value_t = 1_000)]
    ranges: usize,
}

/// `GET path` with `range` (when given); the status and the body's length.
async fn fetch(
    conn: &mut Conn,
    token: &str,
    path: &str,
    range: Option<String>,
) -> anyhow::Result<(u16, usize)> {
    let mut req = Request::builder()
        .uri(path)
        .header("host", &conn.addr)
        .header("authorization", format!("Bearer {token}"));
    if let Some(range) = range {
        req = req.header("range", range);
    }
    conn.send.ready().await?;
    let resp = conn
        .send
        .send_request(req.body(Full::new(Bytes::new()))?)
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.into_body().collect().await?.to_bytes().len()))
}

/// Reads every file whole, then `ranges` ranges of 64 KiB at random offsets; prints both.
async fn read_back(
    conn: &mut Conn,
    token: &str,
    media: &[String],
    file_bytes: usize,
    ranges: usize,
) -> anyhow::Result<()> {
    let whole = Instant::now();
    let mut read = 0;
    for id in media {
        let (status, len) = fetch(conn, token, &format!("/api/v1/media/{id}/file"), None).await?;
        if status != 200 {
            bail!("file: {status}");
        }
        read += len;
    }
    let took = whole.elapsed().as_secs_f64();
    println!(
        "files read whole: {} MiB in {took:.2} s ({:.0} MiB/s)",
        read >> 20,
        (read >> 20) as f64 / took
    );
    let mut latency = super::histogram();
    for i in 0..ranges {
        let Some(id) = media.get(i % media.len().max(1)) else {
            break;
        };
        let from = rand::random_range(0..file_bytes.saturating_sub(65_536).max(1));
        let range = format!("bytes={from}-{}", from + 65_535);
        let started = Instant::now();
        let (status, len) = fetch(
            conn,
            token,
            &format!("/api/v1/media/{id}/file"),
            Some(range),
        )
        .await?;
        if status != 206 || len != 65_536 {
            bail!("range: {status}, {len} bytes");
        }
        latency.saturating_record(started.elapsed().as_micros() as u64);
    }
    super::print_latency("ranges of 64 KiB", &latency);
    Ok(())
}

/// An MP4 as far as sniffing goes: an `ftyp` box, then `len` bytes.
fn mp4(len: usize, seed: usize) -> Vec<u8> {
    let mut out = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    out.extend((0..len).map(|i| ((i * 31 + seed * 7) % 251) as u8));
    out
}

async fn upload(conn: &mut Conn, token: &str, body: Vec<u8>) -> anyhow::Result<String> {
    let v = super::upload_media(conn, token, "video/mp4", Bytes::from(body)).await?;
    Ok(v["id"].as_str().context("no media id")?.to_string())
}

pub async fn run(addr: &str, args: PrivacyArgs) -> anyhow::Result<()> {
    let mut conn = Conn::open(addr).await?;
    let name = new_user(&api(addr)).await?;
    let token = login(&mut conn, &name).await?;
    let me = conn
        .json("GET", "/api/v1/auth/me", Some(&token), None)
        .await?;
    let id = me["id"].as_str().context("no id")?.to_string();

    let seeding = Instant::now();
    let files = args.media_mib / args.file_mib.max(1);
    let mut media = Vec::new();
    for i in 0..files {
        media.push(upload(&mut conn, &token, mp4(args.file_mib << 20, i)).await?);
    }
    let mut newest = String::new();
    for i in 0..args.posts {
        let mut body = json!({"text": format!("post {i} of the privacy benchmark #bench"), "visibility": "public"});
        if let Some(m) = media.get(i) {
            body["media_ids"] = json!([m]);
        }
        let post = loop {
            let (status, bytes) = conn
                .call("POST", "/api/v1/posts", Some(&token), Some(body.clone()))
                .await?;
            match status {
                201 => break serde_json::from_slice::<Value>(&bytes)?,
                // The posts context learns of an upload by event, moments later.
                422 | 429 => tokio::time::sleep(Duration::from_millis(20)).await,
                _ => bail!("compose: {status} {}", String::from_utf8_lossy(&bytes)),
            }
        };
        newest = post["id"].as_str().unwrap_or_default().to_string();
    }
    println!(
        "seeded: {} posts, {} files of {} MiB ({} MiB) in {:.1} s",
        args.posts,
        files,
        args.file_mib,
        files * args.file_mib,
        seeding.elapsed().as_secs_f64()
    );
    read_back(&mut conn, &token, &media, args.file_mib << 20, args.ranges).await?;

    let asked = Instant::now();
    let export = conn
        .json("POST", "/api/v1/users/me/export", Some(&token), None)
        .await?;
    let export_id = export["id"].as_str().context("no export id")?.to_string();
    let ready = loop {
        let e = conn
            .json(
                "GET",
                &format!("/api/v1/users/me/exports/{export_id}"),
                Some(&token),
                None,
            )
            .await?;
        if e["state"] == "ready" {
            break e;
        }
        if asked.elapsed() > Duration::from_secs(900) {
            bail!("the export was not ready within 15 minutes: {e}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let prepared = asked.elapsed();
    let download = Instant::now();
    let url = ready["archive_url"].as_str().context("no archive url")?;
    let (status, bytes) = conn.call("GET", url, Some(&token), None).await?;
    if status != 200 {
        bail!("download: {status}");
    }
    println!(
        "export: ready in {:.2} s; archive {:.1} MiB, downloaded in {:.2} s",
        prepared.as_secs_f64(),
        bytes.len() as f64 / (1 << 20) as f64,
        download.elapsed().as_secs_f64()
    );
    if args.no_erasure {
        return Ok(());
    }

    let mut other = Conn::open(addr).await?;
    let witness = new_user(&api(addr)).await?;
    let witness = login(&mut other, &witness).await?;
    let erasing = Instant::now();
    let (status, bytes) = conn
        .call(
            "DELETE",
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await?;
    if status != 202 {
        bail!("delete: {status} {}", String::from_utf8_lossy(&bytes));
    }
    let mut profile_gone = None;
    let mut post_gone = None;
    while profile_gone.is_none() || post_gone.is_none() {
        if erasing.elapsed() > Duration::from_secs(900) {
            bail!("not erased within 15 minutes (is AGORA_ERASURE_GRACE_HOURS=0?)");
        }
        if profile_gone.is_none() {
            let (s, _) = other
                .call("GET", &format!("/api/v1/users/{id}"), Some(&witness), None)
                .await?;
            if s == 404 {
                profile_gone = Some(erasing.elapsed());
            }
        }
        if post_gone.is_none() {
            let (s, _) = other
                .call(
                    "GET",
                    &format!("/api/v1/posts/{newest}"),
                    Some(&witness),
                    None,
                )
                .await?;
            if s == 404 {
                post_gone = Some(erasing.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "erasure: profile gone after {:.2} s, newest post gone after {:.2} s",
        profile_gone.unwrap_or_default().as_secs_f64(),
        post_gone.unwrap_or_default().as_secs_f64()
    );
    Ok(())
}
