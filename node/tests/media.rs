//! Media through the gateway: what is accepted and how it is stored (metadata gone,
//! upright, thumbnails, animation kept), limits and quota, serving (Range, ETag), and who
//! may fetch a file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::io::Cursor;

use common::*;
use image::{AnimationDecoder, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::Value;

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// An APP1 segment with EXIF: orientation 6 (turn 90° clockwise to view) and a GPS IFD
/// holding a latitude, as a phone writes them.
fn exif_segment() -> Vec<u8> {
    let mut tiff: Vec<u8> = b"II*\0\x08\0\0\0".to_vec();
    // IFD0 at 8: two entries, then the next-IFD offset (0).
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]); // Orientation = 6
    tiff.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0, 38, 0, 0, 0]); // GPS IFD at 38
    tiff.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD at 38: GPSLatitudeRef = "N".
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&[0x01, 0x00, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&payload);
    segment
}

/// A phone photo: 200 × 100 as stored, with EXIF saying to turn it, and a GPS position.
fn phone_photo() -> Vec<u8> {
    let plain = jpeg(200, 100);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend_from_slice(&exif_segment());
    out.extend_from_slice(&plain[2..]);
    out
}

/// A PNG whose header claims 50,000 × 50,000 pixels (10 GB decoded), with the start of
/// its compressed data: what a bomb looks like up to where a decoder would allocate.
fn png_bomb() -> Vec<u8> {
    let mut ihdr = 50_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", ihdr),
        (b"IDAT", b"x\x9c\xed\xc1\x01\x0d\0\0\0".to_vec()),
        (b"IEND", vec![]),
    ] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(&data);
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn gif(frames: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        for i in 0..frames {
            let img = RgbaImage::from_pixel(40, 30, Rgba([(i * 80) as u8, 10, 10, 255]));
            encoder.encode_frame(image::Frame::new(img)).unwrap();
        }
    }
    out
}

/// An MP4 as far as sniffing goes: an `ftyp` box, then `len` bytes.
fn mp4(len: usize) -> Vec<u8> {
    let mut out = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    out.extend((0..len).map(|i| (i % 251) as u8));
    out
}

async fn upload(c: &Client, bytes: Vec<u8>) -> Reply {
    c.raw("POST", "/media", "application/octet-stream", bytes)
        .await
}

/// GET of a path relative to the gateway (signed URLs are given so), with extra headers.
async fn fetch(
    c: &Client,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let mut req = c.http.get(format!("{}/api/v1{path}", c.base));
    if let Some(token) = &c.token {
        req = req.bearer_auth(token);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn url(v: &Value) -> String {
    v["url"].as_str().unwrap().to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_photo_comes_back_upright_without_its_metadata_and_with_thumbnails() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let (_, me) = user(&node.client(), "photographer").await;
    let photo = phone_photo();
    assert!(contains(&photo, b"Exif"));
    let m = upload(&me, photo).await.expect(201);
    assert_eq!(m["kind"], "image");
    assert_eq!(m["content_type"], "image/jpeg");
    assert_eq!(
        (m["width"].as_u64(), m["height"].as_u64()),
        (Some(100), Some(200)),
        "{m}"
    );
    assert_eq!(m["blurhash"].as_str().unwrap().len(), 28);
    let sizes: Vec<_> = m["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["size"].clone())
        .collect();
    assert_eq!(sizes, ["small", "medium"]);

    let (status, headers, stored) = fetch(&me, &url(&m), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert!(!contains(&stored, b"Exif"), "EXIF is gone");
    let decoded = image::load_from_memory(&stored).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (100, 200), "upright");

    let small = &m["thumbnails"][0];
    let (status, _, thumb) = fetch(&me, &url(small), &[]).await;
    assert_eq!(status, 200);
    let thumb = image::load_from_memory(&thumb).unwrap();
    assert_eq!(
        (thumb.width(), thumb.height()),
        (100, 200),
        "never enlarged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_type_is_stored_and_the_rest_refused() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let (_, me) = user(&node.client(), "uploader").await;

    let m = upload(&me, gif(3)).await.expect(201);
    assert_eq!(m["kind"], "gif");
    let (_, _, stored) = fetch(&me, &url(&m), &[]).await;
    let frames = image::codecs::gif::GifDecoder::new(Cursor::new(stored))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 3, "the animation is kept");

    let mut webp = Vec::new();
    RgbImage::from_pixel(64, 48, Rgb([1, 2, 3]))
        .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
        .unwrap();
    let m = upload(&me, webp).await.expect(201);
    assert_eq!(
        (m["kind"].as_str(), m["content_type"].as_str()),
        (Some("image"), Some("image/jpeg"))
    );

    let mut png = Vec::new();
    RgbaImage::from_pixel(10, 10, Rgba([0, 0, 0, 0]))
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    let m = upload(&me, png).await.expect(201);
    assert_eq!(m["content_type"], "image/png", "transparency is kept");

    let m = upload(&me, mp4(1000)).await.expect(201);
    assert_eq!(
        (m["kind"].as_str(), m["content_type"].as_str()),
        (Some("video"), Some("video/mp4"))
    );
    assert_eq!(m["thumbnails"], serde_json::json!([]));
    let mut webm = vec![
        0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01, 0x42, 0xF2,
        0x81, 0x04, 0x42, 0xF3, 0x81, 0x08, 0x42, 0x82, 0x84,
    ];
    webm.extend_from_slice(b"webm");
    webm.extend([0u8; 300]);
    let m = upload(&me, webm).await.expect(201);
    assert_eq!(m["content_type"], "video/webm");

    // A text file called a JPEG by its header and name.
    let text = b"These are my holiday notes, honest, not a picture at all. ".repeat(4);
    let r = me
        .raw("POST", "/media?alt=photo.jpg", "image/jpeg", text)
        .await;
    assert_eq!(
        r.problem(415)["type"],
        "https://agora.dev/problems/unsupported-media-type"
    );
    upload(&me, Vec::new()).await.problem(422);
    let mut png = Vec::new();
    RgbImage::from_fn(64, 64, |x, y| Rgb([(x ^ y) as u8, 7, 7]))
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    upload(&me, png[..png.len() / 2].to_vec())
        .await
        .problem(422);
    me.raw("POST", "/media", "image/jpeg", jpeg(10, 10))
        .await
        .expect(201);
    node.client()
        .raw("POST", "/media", "image/jpeg", jpeg(10, 10))
        .await
        .problem(401);
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_is_refused_from_its_header() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let (_, me) = user(&node.client(), "bomber").await;
    let before = peak_rss_kib(node.pid());
    let p = upload(&me, png_bomb()).await.problem(422);
    assert!(
        p["detail"].as_str().unwrap().contains("50000 × 50000"),
        "{p}"
    );
    let grown_mib = (peak_rss_kib(node.pid()) - before) / 1024;
    assert!(
        grown_mib < 64,
        "the peak grew by {grown_mib} MiB: something was decoded"
    );
    assert_eq!(me.get("/media/usage").await.expect(200)["used_bytes"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_keep_to_the_size_limit_and_the_quota() {
    let nats = Nats::start();
    let node = Node::start_with(
        &nats,
        &[
            ("AGORA_MEDIA_MAX_UPLOAD_MIB", "1"),
            ("AGORA_MEDIA_QUOTA_MIB", "1"),
        ],
    );
    let (_, me) = user(&node.client(), "hoarder").await;
    upload(&me, mp4(1_100_000)).await.problem(413);
    let first = upload(&me, mp4(600_000)).await.expect(201);
    let usage = me.get("/media/usage").await.expect(200);
    assert_eq!(usage["used_bytes"], first["size_bytes"]);
    assert_eq!(usage["quota_bytes"], 1024 * 1024);
    let p = upload(&me, mp4(600_001)).await.problem(403);
    assert_eq!(p["type"], "https://agora.dev/problems/quota-exceeded");
    assert_eq!(p["quota_bytes"], 1024 * 1024);
    assert_eq!(p["used_bytes"], first["size_bytes"]);
    // Deleting gives the room back.
    let id = first["id"].as_str().unwrap();
    me.delete(&format!("/media/{id}")).await.expect(204);
    assert_eq!(me.get("/media/usage").await.expect(200)["used_bytes"], 0);
    upload(&me, mp4(600_001)).await.expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_served_with_ranges_and_validators_and_stored_once() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let (_, me) = user(&node.client(), "filmmaker").await;
    let video = mp4(10_000);
    let m = upload(&me, video.clone()).await.expect(201);
    let again = upload(&me, video.clone()).await.expect(201);
    assert_ne!(m["id"], again["id"]);
    let blobs: Vec<_> = walk(&node.data.join("media-files/sha256"));
    assert_eq!(blobs.len(), 1, "the same bytes are stored once: {blobs:?}");
    // Sealed at rest: no run of the video is on the volume.
    let stored = std::fs::read(&blobs[0]).unwrap();
    assert_eq!(
        stored.len(),
        agora_node::platform::sealed_blocks::sealed_len(video.len()),
        "a header, then the sealed blocks"
    );
    assert!(!stored.windows(64).any(|w| w == &video[5_000..5_064]));

    let (status, _, whole) = fetch(&me, &url(&m), &[]).await;
    assert_eq!((status, whole == video), (200, true));

    let (status, headers, part) = fetch(&me, &url(&m), &[("range", "bytes=100-199")]).await;
    assert_eq!(status, 206);
    assert_eq!(part, video[100..200]);
    assert_eq!(headers["content-type"], "video/mp4");
    assert_eq!(
        headers["content-range"],
        format!("bytes 100-199/{}", video.len()).as_str()
    );
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private")
    );
    let (status, _, body) = fetch(&me, &url(&m), &[("if-none-match", &etag)]).await;
    assert_eq!((status, body.len()), (304, 0));
    let (status, headers, tail) = fetch(&me, &url(&m), &[("range", "bytes=-7")]).await;
    assert_eq!((status, tail.as_slice()), (206, &video[video.len() - 7..]));
    assert_eq!(headers["content-length"], "7");
    let (status, headers, _) = fetch(&me, &url(&m), &[("range", "bytes=999999-")]).await;
    assert_eq!(status, 416);
    assert_eq!(
        headers["content-range"],
        format!("bytes */{}", video.len()).as_str()
    );
    // An If-Range naming another version gets the whole file.
    let stale = [("range", "bytes=0-9"), ("if-range", "\"other\"")];
    let (status, _, body) = fetch(&me, &url(&m), &stale).await;
    assert_eq!((status, body == video), (200, true));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_or_a_signed_url_opens_a_file() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, owner) = user(&anon, "owner").await;
    let (_, stranger) = user(&anon, "stranger").await;
    let m = upload(&owner, jpeg(30, 30)).await.expect(201);
    let id = m["id"].as_str().unwrap();
    let signed = url(&m);

    assert_eq!(
        fetch(&anon, &signed, &[]).await.0,
        200,
        "the signed URL opens it"
    );
    let unsigned = format!("/media/{id}/file");
    assert_eq!(
        fetch(&owner, &unsigned, &[]).await.0,
        200,
        "the owner's token opens it"
    );
    assert_eq!(fetch(&stranger, &unsigned, &[]).await.0, 404);
    assert_eq!(fetch(&anon, &unsigned, &[]).await.0, 404);
    let tampered = signed.replace("sig=", "sig=A");
    assert_eq!(fetch(&anon, &tampered, &[]).await.0, 404);
    let other = upload(&owner, jpeg(31, 31)).await.expect(201);
    let borrowed = signed.replace(id, other["id"].as_str().unwrap());
    assert_eq!(
        fetch(&anon, &borrowed, &[]).await.0,
        404,
        "a grant opens its own media only"
    );
    stranger.get(&format!("/media/{id}")).await.problem(404);
    stranger.delete(&format!("/media/{id}")).await.problem(404);
    stranger
        .patch(
            &format!("/media/{id}"),
            serde_json::json!({"alt": "mine now"}),
        )
        .await
        .problem(404);
    owner
        .get(&format!("/media/{id}/thumbnails/huge"))
        .await
        .problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_carries_its_alt_text_which_the_owner_can_change() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let (_, me) = user(&node.client(), "describer").await;
    let form = reqwest::multipart::Form::new()
        .text("alt", "A red square on a white table")
        .part(
            "file",
            reqwest::multipart::Part::bytes(jpeg(40, 40)).file_name("square.png"),
        );
    let resp = me
        .http
        .post(format!("{}/api/v1/media", me.base))
        .bearer_auth(me.token.as_deref().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let m: Value = resp.json().await.unwrap();
    assert_eq!(m["alt"], "A red square on a white table");
    assert_eq!(
        m["content_type"], "image/jpeg",
        "the content decides, not the name"
    );
    let id = m["id"].as_str().unwrap();
    let changed = me
        .patch(
            &format!("/media/{id}"),
            serde_json::json!({"alt": "A red square"}),
        )
        .await
        .expect(200);
    assert_eq!(changed["alt"], "A red square");
    assert_eq!(
        me.get(&format!("/media/{id}")).await.expect(200)["alt"],
        "A red square"
    );
    let long = "x".repeat(1501);
    me.patch(&format!("/media/{id}"), serde_json::json!({"alt": long}))
        .await
        .problem(422);

    let no_file = reqwest::multipart::Form::new().text("alt", "nothing attached");
    let resp = me
        .http
        .post(format!("{}/api/v1/media", me.base))
        .bearer_auth(me.token.as_deref().unwrap())
        .multipart(no_file)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_follows_its_post_who_may_see_it_and_goes_with_it() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (author_id, author) = user(&anon, "author").await;
    let (friend_id, friend) = user(&anon, "friend").await;
    let (_, stranger) = user(&anon, "stranger").await;
    befriend(&(author_id, author.clone()), &(friend_id, friend.clone())).await;

    let m = upload(&author, jpeg(64, 48)).await.expect(201);
    let media_id = m["id"].as_str().unwrap().to_string();
    // Right after the upload: posts waits the moment it takes to hear of it.
    let post = author
        .post(
            "/posts",
            serde_json::json!({"text": "", "visibility": "friends", "media_ids": [media_id]}),
        )
        .await
        .expect(201);
    let post_id = post["id"].as_str().unwrap().to_string();
    assert_eq!(post["media"][0]["id"], media_id.as_str());
    assert_eq!(post["media"][0]["width"], 64);

    let seen = until_status(200, async || friend.get(&format!("/posts/{post_id}")).await)
        .await
        .expect(200);
    let friends_url = url(&seen["media"][0]);
    assert_eq!(
        fetch(&anon, &friends_url, &[]).await.0,
        200,
        "the friend's signed URL works"
    );
    let thumb = url(&seen["media"][0]["thumbnails"][0]);
    assert_eq!(fetch(&anon, &thumb, &[]).await.0, 200);
    eventually("the picture reaches the friend's feed", async || {
        let feed = friend.get("/feed").await.expect(200);
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == post_id.as_str() && i["media"][0]["id"] == media_id.as_str())
    })
    .await;

    stranger
        .get(&format!("/posts/{post_id}"))
        .await
        .problem(404);
    let bare = format!("/media/{media_id}/file");
    assert_eq!(
        fetch(&stranger, &bare, &[]).await.0,
        404,
        "the id alone opens nothing"
    );
    stranger
        .get(&format!("/media/{media_id}"))
        .await
        .problem(404);

    author
        .delete(&format!("/media/{media_id}"))
        .await
        .problem(409);
    author
        .delete(&format!("/posts/{post_id}"))
        .await
        .expect(204);
    eventually("the media goes with its post", async || {
        author.get(&format!("/media/{media_id}")).await.status == 404
    })
    .await;
    assert_eq!(
        author.get("/media/usage").await.expect(200)["used_bytes"],
        0
    );
    assert_eq!(fetch(&anon, &friends_url, &[]).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_takes_only_its_authors_media_in_a_set_that_goes_together() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, me) = user(&anon, "mine").await;
    let (_, other) = user(&anon, "other").await;
    let mut pictures = Vec::new();
    for side in 10..15 {
        let m = upload(&me, jpeg(side, side)).await.expect(201);
        pictures.push(m["id"].as_str().unwrap().to_string());
    }
    let video = upload(&me, mp4(100)).await.expect(201)["id"].clone();
    let theirs = upload(&other, jpeg(9, 9)).await.expect(201)["id"].clone();
    let post = |media: Value| {
        let me = me.clone();
        async move {
            me.post(
                "/posts",
                serde_json::json!({"text": "look", "media_ids": media}),
            )
            .await
        }
    };
    // Wait until posts knows every upload (they are a moment old).
    until_status(201, async || post(serde_json::json!([pictures[4]])).await).await;
    until_status(201, async || post(serde_json::json!([video])).await).await;
    let p = post(serde_json::json!(pictures)).await.problem(422);
    assert!(p["detail"].as_str().unwrap().contains("at most 4"), "{p}");
    post(serde_json::json!([pictures[0], video]))
        .await
        .problem(422);
    post(serde_json::json!([pictures[0], pictures[0]]))
        .await
        .problem(422);
    post(serde_json::json!([theirs])).await.problem(422);
    post(serde_json::json!(["not-an-id"])).await.problem(422);
    me.post("/posts", serde_json::json!({"text": ""}))
        .await
        .problem(422);
    let ok = post(serde_json::json!(&pictures[..4])).await.expect(201);
    assert_eq!(ok["media"].as_array().unwrap().len(), 4);
    assert_eq!(
        ok["media"][2]["id"],
        pictures[2].as_str(),
        "in the order given"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_in_a_message_is_drawn_for_its_members_and_goes_with_the_message() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, ann) = user(&anon, "ann").await;
    let (bob_id, bob) = user(&anon, "bob").await;
    let (_, eve) = user(&anon, "eve").await;
    let conversation = until_status(201, async || {
        ann.post(
            "/conversations",
            serde_json::json!({"kind": "direct", "user_id": bob_id}),
        )
        .await
    })
    .await
    .expect(201);
    let messages = format!(
        "/conversations/{}/messages",
        conversation["id"].as_str().unwrap()
    );

    let media_id = upload(&ann, jpeg(40, 30)).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let theirs = upload(&eve, jpeg(9, 9)).await.expect(201)["id"].clone();
    // Right after the upload: messages waits the moment it takes to hear of it.
    let sent = ann
        .post(&messages, serde_json::json!({"media_ids": [media_id]}))
        .await
        .expect(201);
    assert_eq!(sent["media"][0]["id"], media_id.as_str());
    assert_eq!(sent["media"][0]["width"], 40);
    let message_id = sent["id"].as_str().unwrap().to_string();
    ann.post(&messages, serde_json::json!({"media_ids": [theirs]}))
        .await
        .problem(422);
    ann.post(
        &messages,
        serde_json::json!({"media_ids": [media_id, media_id]}),
    )
    .await
    .problem(422);

    let page = bob.get(&messages).await.expect(200);
    let drawn = &page["items"][0]["media"][0];
    assert_eq!(
        fetch(&anon, &url(drawn), &[]).await.0,
        200,
        "the member's URL works"
    );
    assert_eq!(
        fetch(&anon, &url(&drawn["thumbnails"][0]), &[]).await.0,
        200
    );
    let bare = format!("/media/{media_id}/file");
    assert_eq!(
        fetch(&eve, &bare, &[]).await.0,
        404,
        "the id alone opens nothing"
    );

    ann.delete(&format!("/media/{media_id}")).await.problem(409);
    ann.delete(&format!("{messages}/{message_id}"))
        .await
        .expect(204);
    eventually("the media goes with its message", async || {
        ann.get(&format!("/media/{media_id}")).await.status == 404
    })
    .await;
    assert_eq!(ann.get("/media/usage").await.expect(200)["used_bytes"], 0);
    assert_eq!(fetch(&anon, &url(drawn), &[]).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avatar_is_public_and_the_one_it_replaces_goes() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann_id, ann) = user(&anon, "ann").await;
    let (bob_id, bob) = user(&anon, "bob").await;
    let (_, eve) = user(&anon, "eve").await;
    ann.patch(
        "/users/me/privacy",
        serde_json::json!({"profile": "friends"}),
    )
    .await
    .expect(200);
    let upload_id = async |c: &Client, bytes| {
        upload(c, bytes).await.expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = upload_id(&ann, jpeg(64, 64)).await;
    let cover = upload_id(&ann, jpeg(120, 40)).await;
    let video = upload_id(&ann, mp4(100)).await;
    let theirs = upload_id(&eve, jpeg(9, 9)).await;

    let me = ann
        .patch(
            "/users/me",
            serde_json::json!({"avatar_id": first, "cover_id": cover}),
        )
        .await
        .expect(200);
    assert_eq!(me["avatar"]["id"], first.as_str());
    assert_eq!(me["cover"]["width"], 120);
    for (field, id) in [
        ("avatar_id", &video),
        ("avatar_id", &theirs),
        ("cover_id", &"x".to_string()),
    ] {
        let p = ann
            .patch("/users/me", serde_json::json!({ field: id }))
            .await
            .problem(422);
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }

    // A stranger sees the avatar of a friends-only profile (as the name) and may fetch it.
    let seen = eve.get(&format!("/users/{ann_id}")).await.expect(200);
    assert_eq!(seen["restricted"], true);
    assert_eq!(seen["avatar"]["id"], first.as_str());
    let first_url = url(&seen["avatar"]);
    assert_eq!(fetch(&anon, &first_url, &[]).await.0, 200);
    assert_eq!(fetch(&anon, &url(&seen["cover"]), &[]).await.0, 200);
    // A card in a list carries it too.
    befriend(&(ann_id.clone(), ann.clone()), &(bob_id, bob.clone())).await;
    let friends = bob.get("/users/me/friends").await.expect(200);
    assert_eq!(friends["items"][0]["user"]["avatar"]["id"], first.as_str());

    ann.delete(&format!("/media/{first}")).await.problem(409);
    let second = upload_id(&ann, jpeg(32, 32)).await;
    until_status(200, async || {
        ann.patch("/users/me", serde_json::json!({"avatar_id": second}))
            .await
    })
    .await;
    eventually("the replaced avatar is deleted", async || {
        ann.get(&format!("/media/{first}")).await.status == 404
    })
    .await;
    assert_eq!(fetch(&anon, &first_url, &[]).await.0, 404);
    let cleared = ann
        .patch(
            "/users/me",
            serde_json::json!({"avatar_id": "", "cover_id": ""}),
        )
        .await
        .expect(200);
    assert!(
        cleared.get("avatar").is_none() && cleared.get("cover").is_none(),
        "{cleared}"
    );
    eventually("a removed avatar and cover are deleted", async || {
        ann.get(&format!("/media/{second}")).await.status == 404
            && ann.get(&format!("/media/{cover}")).await.status == 404
    })
    .await;
    ann.get(&format!("/media/{video}")).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_carries_one_picture_which_goes_with_the_comment_or_its_post() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, ann) = user(&anon, "ann").await;
    let (_, bob) = user(&anon, "bob").await;
    let post_id = publish(&ann, serde_json::json!({"text": "what a view"})).await;
    let comments = format!("/posts/{post_id}/comments");
    let upload_id = async |bytes| {
        upload(&bob, bytes).await.expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (first, second) = (upload_id(jpeg(30, 20)).await, upload_id(jpeg(20, 30)).await);

    let p = until_status(422, async || {
        bob.post(&comments, serde_json::json!({"media_ids": [first, second]}))
            .await
    })
    .await
    .problem(422);
    assert!(p["detail"].as_str().unwrap().contains("at most 1"), "{p}");
    let c = until_status(201, async || {
        bob.post(&comments, serde_json::json!({"media_ids": [first]}))
            .await
    })
    .await
    .expect(201);
    assert_eq!(c["media"][0]["width"], 30, "a picture alone is a comment");
    let listed = anon.get(&comments).await.expect(200);
    let drawn = &listed["items"][0]["media"][0];
    assert_eq!(
        fetch(&anon, &url(drawn), &[]).await.0,
        200,
        "a reader's URL works"
    );
    let comment_id = c["id"].as_str().unwrap();
    let c2 = bob
        .post(
            &comments,
            serde_json::json!({"text": "and", "media_ids": [second]}),
        )
        .await
        .expect(201);
    let edited = bob
        .patch(
            &format!("{comments}/{}", c2["id"].as_str().unwrap()),
            serde_json::json!({"text": ""}),
        )
        .await
        .expect(200);
    assert_eq!(
        edited["media"][0]["id"],
        second.as_str(),
        "the picture stays through an edit"
    );

    bob.delete(&format!("/media/{first}")).await.problem(409);
    bob.delete(&format!("{comments}/{comment_id}"))
        .await
        .expect(204);
    eventually("the picture goes with its comment", async || {
        bob.get(&format!("/media/{first}")).await.status == 404
    })
    .await;
    bob.get(&format!("/media/{second}")).await.expect(200);
    ann.delete(&format!("/posts/{post_id}")).await.expect(204);
    eventually("a comment's picture goes with the post", async || {
        bob.get(&format!("/media/{second}")).await.status == 404
    })
    .await;
    assert_eq!(bob.get("/media/usage").await.expect(200)["used_bytes"], 0);
}
