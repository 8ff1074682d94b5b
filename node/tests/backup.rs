//! Backups of a running `dev` platform and restores into its stopped data directory
//! (`agora-node backup` / `agora-node restore`), black-box: under load, after a wipe, and
//! with a damaged backup.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use serde_json::{Value, json};

/// Runs `agora-node` with `args`; returns (success, stdout, stderr).
fn agora(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agora-node"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until every context of a `dev --replicated` holds its lease: until then writes
/// get a retryable 503 `not-writer`.
async fn writers(node: &Node) {
    let count = agora_node::platform::context::Context::ALL.len();
    eventually("every context writes", || async {
        scrape(node)
            .await
            .lines()
            .filter(|l| l.starts_with("agora_replica_writer{") && l.ends_with(" 1"))
            .count()
            == count
    })
    .await;
}

/// A `dev` node with `env` (every context writing, when replicated) where alice and bob
/// are friends.
async fn two_friends(
    nats: &Nats,
    env: &[(&str, &str)],
) -> (Node, (String, Client), (String, Client)) {
    let node = Node::start_with(nats, env);
    if env.contains(&("AGORA_REPLICATED", "true")) {
        writers(&node).await;
    }
    let anon = node.client();
    let alice = user(&anon, "alice").await;
    let bob = user(&anon, "bob").await;
    befriend(&alice, &bob).await;
    (node, alice, bob)
}

/// `agora-node backup` of the node into `target`; returns the manifest.
fn backup(node: &Node, target: &Path) -> Value {
    let (ok, out, err) = agora(&[
        "backup",
        "--node-url",
        &node.base,
        "--target",
        target.to_str().unwrap(),
    ]);
    assert!(ok, "backup failed: {err}");
    serde_json::from_str(out.trim()).unwrap()
}

fn restore(target: &Path, data: &Path) -> (bool, String) {
    let (ok, _, err) = agora(&[
        "restore",
        "--from",
        target.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    (ok, err)
}

/// Every context's store directory, media's files and search's index go; the keys stay.
fn wipe_stores(data: &Path) {
    for context in agora_node::platform::context::Context::ALL {
        std::fs::remove_dir_all(data.join(context.name())).unwrap();
    }
    for derived in ["search-index", "media-files"] {
        let _ = std::fs::remove_dir_all(data.join(derived));
    }
}

/// What a reader sees of two friends: their profiles, her timeline, his feed.
async fn reads(alice: &(String, Client), bob: &(String, Client)) -> Value {
    json!({
        "alice": alice.1.get("/users/me").await.expect(200),
        "bob": bob.1.get("/users/me").await.expect(200),
        "timeline": alice.1.get(&format!("/users/{}/posts?limit=100", alice.0)).await.expect(200)["items"],
        "feed": bob.1.get("/feed?limit=100&order=recent").await.expect(200)["items"],
        "friends": bob.1.get("/users/me/friends").await.expect(200)["items"],
    })
}

/// An MP4 header and `len` bytes: media keeps videos as they are.
fn mp4(len: usize) -> Vec<u8> {
    let mut out = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    out.extend((0..len).map(|i| (i % 251) as u8));
    out
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_fails_no_request_and_a_restore_brings_back_the_newest_state() {
    let nats = Nats::start();
    // With a change log, writes made after the backup come back too.
    let (mut node, alice, bob) = two_friends(&nats, &[("AGORA_REPLICATED", "true")]).await;
    let first = publish(&alice.1, json!({"text": "before the backup"})).await;
    // A file (stored as it is): its bytes live beside the media store, not in it.
    let video = mp4(20_000);
    let media = alice
        .1
        .raw("POST", "/media", "application/octet-stream", video.clone())
        .await
        .expect(201);
    let media_id = media["id"].as_str().unwrap().to_string();
    eventually("bob's feed has the first post", || async {
        ids(&bob.1.get("/feed?order=recent").await.expect(200)["items"]).contains(&first)
    })
    .await;

    // Load while the backup runs: composes and reads, none may fail.
    let (stop, failures, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let load = {
        let (stop, failures, done) = (stop.clone(), failures.clone(), done.clone());
        let (writer, reader) = (alice.1.clone(), bob.1.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let wrote = writer
                    .post("/posts", json!({"text": format!("during {n}")}))
                    .await;
                let read = reader.get("/feed?limit=10").await;
                for status in [wrote.status, read.status] {
                    if !(200..300).contains(&status) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(2, Ordering::Relaxed);
            }
        })
    };
    let target = tempfile::tempdir().unwrap();
    let manifest = tokio::task::block_in_place(|| backup(&node, target.path()));
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during the backup"
    );
    assert!(done.load(Ordering::Relaxed) > 0);
    let parts = manifest["parts"].as_array().unwrap();
    assert_eq!(
        parts.len(),
        agora_node::platform::context::Context::ALL.len()
    );
    assert!(
        parts
            .iter()
            .all(|p| p["sha256"].as_str().unwrap().len() == 64)
    );
    let media_part = parts.iter().find(|p| p["context"] == "media").unwrap();
    assert_eq!(media_part["files"][0]["bytes"], video.len());

    // Written after the backup: only the streams hold it once the stores are wiped.
    let after = publish(&alice.1, json!({"text": "after the backup"})).await;
    eventually("bob's feed has the post made after the backup", || async {
        ids(&bob.1.get("/feed?order=recent&limit=100").await.expect(200)["items"]).contains(&after)
    })
    .await;
    let expected = reads(&alice, &bob).await;
    node.terminate();

    wipe_stores(&node.data);
    let (ok, err) = restore(target.path(), &node.data);
    assert!(ok, "restore failed: {err}");
    node.restart();
    writers(&node).await;
    let (alice, bob) = (
        (alice.0, alice.1.rebased(&node.base)),
        (bob.0, bob.1.rebased(&node.base)),
    );
    eventually(
        "every read answers as before the wipe, the later post included",
        || async { reads(&alice, &bob).await == expected },
    )
    .await;
    // The file came back with its record.
    // (A restored context may still be following its change stream: wait for it.)
    let media = until_status(200, async || {
        alice.1.get(&format!("/media/{media_id}")).await
    })
    .await
    .expect(200);
    let url = media["url"].as_str().unwrap();
    let path = url.strip_prefix("/api/v1").unwrap_or(url);
    let fetched = alice
        .1
        .http
        .get(format!("{}/api/v1{path}", alice.1.base))
        .bearer_auth(alice.1.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), video);
    // And the restored platform takes writes again.
    publish(&alice.1, json!({"text": "after the restore"})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_is_refused_before_anything_is_touched() {
    let nats = Nats::start();
    let mut node = Node::start(&nats);
    let anon = node.client();
    let alice = user(&anon, "alice").await;
    let post = publish(&alice.1, json!({"text": "kept"})).await;
    let target = tempfile::tempdir().unwrap();
    let manifest = tokio::task::block_in_place(|| backup(&node, target.path()));

    // A running node's stores are never replaced.
    let (ok, err) = restore(target.path(), &node.data);
    assert!(!ok);
    assert!(err.contains("in use"), "{err}");

    node.terminate();
    let id = manifest["id"].as_str().unwrap();
    let object = target.path().join(id).join("posts.snapshot.gz");
    let mut bytes = std::fs::read(&object).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&object, bytes).unwrap();
    wipe_stores(&node.data);
    std::fs::create_dir_all(node.data.join("posts")).unwrap();
    std::fs::write(node.data.join("posts").join("left-alone"), b"x").unwrap();

    let (ok, err) = restore(target.path(), &node.data);
    assert!(!ok, "a damaged backup was restored");
    assert!(err.contains("posts.snapshot.gz is damaged"), "{err}");
    // Nothing was put in place, not even the parts that were sound.
    assert!(!node.data.join("auth").exists());
    assert!(node.data.join("posts").join("left-alone").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&node.data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".restore-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = post;
}

/// A context restored alone (here the feed, whose timelines are projections of posts and
/// friendships) replays the event stream from its snapshot: what happened since is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_restored_alone_replays_the_events_it_missed() {
    let nats = Nats::start();
    let (mut node, alice, bob) = two_friends(&nats, &[]).await;
    let before = publish(&alice.1, json!({"text": "before"})).await;
    let feed = |bob: Client| async move {
        ids(&bob.get("/feed?order=recent&limit=100").await.expect(200)["items"])
    };
    eventually("the first post reaches bob", || async {
        feed(bob.1.clone()).await.contains(&before)
    })
    .await;
    let target = tempfile::tempdir().unwrap();
    tokio::task::block_in_place(|| backup(&node, target.path()));
    let later: Vec<String> = futures::future::join_all(
        (0..5).map(|n| publish(&alice.1, json!({"text": format!("later {n}")}))),
    )
    .await;
    eventually("the later posts reach bob", || async {
        let seen = feed(bob.1.clone()).await;
        later.iter().all(|id| seen.contains(id))
    })
    .await;
    let expected = feed(bob.1.clone()).await;
    node.terminate();

    std::fs::remove_dir_all(node.data.join("feed")).unwrap();
    let (ok, _, err) = agora(&[
        "restore",
        "--from",
        target.path().to_str().unwrap(),
        "--data-dir",
        node.data.to_str().unwrap(),
        "--context",
        "feed",
    ]);
    assert!(ok, "restore failed: {err}");
    node.restart();
    let bob = bob.1.rebased(&node.base);
    eventually(
        "bob's feed is what it was, the later posts included",
        || async { feed(bob.clone()).await == expected },
    )
    .await;
}

/// Disaster recovery: the bus is lost with the stores. Restored against a new, empty bus,
/// every context serves the backup's state, and takes writes that reach the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_onto_a_new_bus() {
    let nats = Nats::start();
    let (mut node, alice, bob) = two_friends(&nats, &[("AGORA_REPLICATED", "true")]).await;
    let post = publish(&alice.1, json!({"text": "kept"})).await;
    eventually("bob sees the post", || async {
        ids(&bob.1.get("/feed?order=recent").await.expect(200)["items"]).contains(&post)
    })
    .await;
    let expected = reads(&alice, &bob).await;
    let target = tempfile::tempdir().unwrap();
    tokio::task::block_in_place(|| backup(&node, target.path()));
    node.terminate();
    drop(nats);

    let fresh = Nats::start();
    node.move_to(&fresh);
    wipe_stores(&node.data);
    let (ok, err) = restore(target.path(), &node.data);
    assert!(ok, "restore failed: {err}");
    node.restart();
    writers(&node).await;
    let (alice, bob) = (
        (alice.0, alice.1.rebased(&node.base)),
        (bob.0, bob.1.rebased(&node.base)),
    );
    assert_eq!(reads(&alice, &bob).await, expected);
    let later = until_status(201, async || {
        alice
            .1
            .post("/posts", json!({"text": "on the new bus"}))
            .await
    })
    .await;
    let later = later.expect(201)["id"].as_str().unwrap().to_string();
    eventually("bob sees the post made on the new bus", || async {
        ids(&bob.1.get("/feed?order=recent").await.expect(200)["items"]).contains(&later)
    })
    .await;
}
