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

/// `agora-node restore` of the newest backup in `target` into the node's data directory
/// and onto its bus.
fn restore(target: &Path, node: &Node) -> (bool, String) {
    let (ok, _, err) = agora(&[
        "restore",
        "--from",
        target.to_str().unwrap(),
        "--data-dir",
        node.data.to_str().unwrap(),
        "--nats-url",
        node.nats_url(),
    ]);
    (ok, err)
}

/// Disaster recovery: with the node stopped and its bus gone, a new NATS, every store
/// wiped, and the newest backup in `target` restored onto both. Returns the new NATS.
fn restored_onto_a_new_bus(node: &mut Node, target: &Path) -> Nats {
    let fresh = Nats::start();
    node.move_to(&fresh);
    wipe_stores(&node.data);
    let (ok, err) = restore(target, node);
    assert!(ok, "restore failed: {err}");
    fresh
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

/// A person's client, pointed at the node's address after it started again.
fn rebased(person: (String, Client), node: &Node) -> (String, Client) {
    (person.0, person.1.rebased(&node.base))
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

/// Alice posts `text`, and it reaches bob's feed.
async fn bob_sees_a_post_of_alice(alice: &(String, Client), bob: &(String, Client), text: &str) {
    let post = publish(&alice.1, json!({ "text": text })).await;
    eventually("bob sees the post", || async {
        ids(&bob.1.get("/feed?order=recent").await.expect(200)["items"]).contains(&post)
    })
    .await;
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
    let file = &media_part["files"][0];
    assert_eq!(
        file["bytes"],
        agora_node::platform::sealed_blocks::sealed_len(video.len()),
        "stored sealed, as on the volume"
    );
    let object = target.path().join("files").join(format!(
        "{}.{}",
        file["sha256"].as_str().unwrap(),
        file["sealed"].as_str().unwrap()
    ));
    let stored = std::fs::read(object).unwrap();
    assert!(
        !stored.windows(64).any(|w| w == &video[5_000..5_064]),
        "the backup shows none of the video"
    );

    // Written after the backup: only the streams hold it once the stores are wiped.
    let after = publish(&alice.1, json!({"text": "after the backup"})).await;
    eventually("bob's feed has the post made after the backup", || async {
        ids(&bob.1.get("/feed?order=recent&limit=100").await.expect(200)["items"]).contains(&after)
    })
    .await;
    let expected = reads(&alice, &bob).await;
    node.terminate();

    wipe_stores(&node.data);
    let (ok, err) = restore(target.path(), &node);
    assert!(ok, "restore failed: {err}");
    node.restart();
    writers(&node).await;
    let (alice, bob) = (rebased(alice, &node), rebased(bob, &node));
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
    let (ok, err) = restore(target.path(), &node);
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

    let (ok, err) = restore(target.path(), &node);
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

/// A media file damaged on the volume is not copied as if whole: sealed, the backup
/// cannot check it (it has no key), so the node checks it as it sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_damaged_on_the_volume_fails_the_backup() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let alice = user(&node.client(), "alice").await;
    alice
        .1
        .raw("POST", "/media", "application/octet-stream", mp4(100_000))
        .await
        .expect(201);
    let shard = std::fs::read_dir(node.data.join("media-files/sha256"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(shard)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[50_000] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();

    let target = tempfile::tempdir().unwrap();
    let (ok, _, err) = tokio::task::block_in_place(|| {
        agora(&[
            "backup",
            "--node-url",
            &node.base,
            "--target",
            target.path().to_str().unwrap(),
        ])
    });
    assert!(!ok, "a damaged file was backed up");
    assert!(err.contains("media"), "{err}");
    let kept: Vec<_> = std::fs::read_dir(target.path().join("files"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(kept.is_empty(), "{kept:?}");
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
        "--nats-url",
        node.nats_url(),
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
    bob_sees_a_post_of_alice(&alice, &bob, "kept").await;
    let expected = reads(&alice, &bob).await;
    let target = tempfile::tempdir().unwrap();
    tokio::task::block_in_place(|| backup(&node, target.path()));
    node.terminate();
    drop(nats);

    let _bus = restored_onto_a_new_bus(&mut node, target.path());
    node.restart();
    writers(&node).await;
    let (alice, bob) = (rebased(alice, &node), rebased(bob, &node));
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

/// Disaster recovery with the history: the bus is lost with the stores. The backup puts
/// the event stream back at the same sequence numbers, with the keys that open its sealed
/// fields, so the platform serves the backup and a context rebuilt from the restored
/// stream alone comes back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_and_its_keys_come_back_with_a_backup() {
    use agora_node::platform::context::Context;
    let nats = Nats::start();
    let (mut node, alice, bob) = two_friends(&nats, &[]).await;
    bob_sees_a_post_of_alice(&alice, &bob, "sealed on the stream").await;
    let expected = reads(&alice, &bob).await;
    let target = tempfile::tempdir().unwrap();
    let manifest = tokio::task::block_in_place(|| backup(&node, target.path()));
    let last = manifest["events"]["extent"]["last_seq"].as_u64().unwrap();
    assert!(last > 0, "{manifest}");
    assert!(!manifest["keys"]["chunks"].as_array().unwrap().is_empty());
    node.terminate();
    let original = messages(&node, "dev").await;
    assert_eq!(original.last().unwrap().seq, last);
    drop(nats);

    let fresh = restored_onto_a_new_bus(&mut node, target.path());
    assert_eq!(
        messages(&node, "dev").await,
        original,
        "the restored stream holds the same messages at the same sequence numbers"
    );
    node.restart();
    let (alice, bob) = (rebased(alice, &node), rebased(bob, &node));
    assert_eq!(reads(&alice, &bob).await, expected);

    // The history opens: the feed made again from the restored stream alone is the same.
    node.terminate();
    let report = rebuild_stopped(&node.data, &fresh, Context::Feed);
    assert!(report["events"].as_u64().unwrap() > 0, "{report}");
    node.restart();
    let (alice, bob) = (rebased(alice, &node), rebased(bob, &node));
    assert_eq!(reads(&alice, &bob).await, expected);
}

/// The keys that open the stream's sealed fields are wrapped with the platform's key in
/// the bucket; a backup restored into a platform with another key is refused until that
/// key is given, then its keys are wrapped again with the new one and the history opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_another_platform_restores_with_that_platforms_key() {
    use agora_node::platform::context::Context;
    let nats = Nats::start();
    let (mut node, alice, bob) = two_friends(&nats, &[]).await;
    bob_sees_a_post_of_alice(&alice, &bob, "wrapped twice").await;
    let video = mp4(10_000);
    let media = alice
        .1
        .raw("POST", "/media", "application/octet-stream", video.clone())
        .await
        .expect(201);
    let media_id = media["id"].as_str().unwrap().to_string();
    let expected = reads(&alice, &bob).await;
    let kv = bus(node.nats_url(), "dev")
        .await
        .js
        .get_key_value("dev-keys")
        .await
        .unwrap();
    let stored = kv.get(&alice.0).await.unwrap().expect("alice has a key");
    assert_eq!(stored.len(), 73, "a wrapped key, not the 32 raw bytes");
    let target = tempfile::tempdir().unwrap();
    tokio::task::block_in_place(|| backup(&node, target.path()));
    node.terminate();
    drop(nats);

    // Another platform: its own key, a new bus, no stores.
    let key_file = node.data.join("encryption.key");
    let source_key = std::fs::read_to_string(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    let fresh = Nats::start();
    node.move_to(&fresh);
    wipe_stores(&node.data);
    let restore = |source: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_agora-node"));
        command.args(["restore", "--from", target.path().to_str().unwrap()]);
        command.args(["--data-dir", node.data.to_str().unwrap()]);
        command
            .args(["--nats-url", node.nats_url()])
            .env("RUST_LOG", "warn");
        if let Some(key) = source {
            command.env("AGORA_RESTORE_SOURCE_ENCRYPTION_KEY", key);
        }
        command.output().unwrap()
    };
    let refused = restore(None);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        said.contains("AGORA_RESTORE_SOURCE_ENCRYPTION_KEY"),
        "{said}"
    );
    let restored = restore(Some(source_key.trim()));
    let said = String::from_utf8_lossy(&restored.stderr);
    assert!(restored.status.success(), "{said}");
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, source_key);

    // The history opens with the new key: a feed rebuilt from the stream alone is the same.
    let report = rebuild_stopped(&node.data, &fresh, Context::Feed);
    assert!(report["events"].as_u64().unwrap() > 0, "{report}");
    node.restart();
    let (alice, bob) = (rebased(alice, &node), rebased(bob, &node));
    assert_eq!(reads(&alice, &bob).await, expected);
    // The stores were sealed again with the new key, and the address index keyed by it.
    let login = json!({"login": "alice@example.org", "password": PASSWORD});
    until_status(200, async || {
        node.client().post("/auth/login", login.clone()).await
    })
    .await;
    // So were the files: the video opens with the new key.
    let media = until_status(200, async || {
        alice.1.get(&format!("/media/{media_id}")).await
    })
    .await
    .expect(200);
    let url = media["url"].as_str().unwrap();
    let fetched = alice
        .1
        .http
        .get(format!("{}{url}", alice.1.base))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), video);
}

/// Every message of the platform `prefix`'s event stream on the node's bus.
async fn messages(node: &Node, prefix: &str) -> Vec<stream::Message> {
    let bus = bus(node.nats_url(), prefix).await;
    let mut out = Vec::new();
    stream::export(&bus, stream::Which::Events, 1, u64::MAX, &mut out)
        .await
        .unwrap();
    stream::read(out.as_slice()).map(Result::unwrap).collect()
}

async fn bus(url: &str, prefix: &str) -> agora_node::platform::bus::Bus {
    let settings = agora_node::platform::bus::StreamSettings {
        prefix: prefix.into(),
        replicas: 1,
        max_age: std::time::Duration::ZERO,
    };
    agora_node::platform::bus::Bus::connect(url, None, None, settings)
        .await
        .unwrap()
}

use agora_node::platform::backup::stream;

/// A copy of a stream, as a backup holds it, with what a long-lived stream has: its
/// oldest events aged out (it begins at 3), a message deleted by hand (5), an event
/// published twice with the same id far apart (9 repeats 4's id), and a deleted last one.
fn a_copy_with_holes(
    dir: &Path,
) -> (
    agora_node::platform::backup::manifest::Extent,
    Vec<std::path::PathBuf>,
    Vec<stream::Message>,
) {
    use base64::Engine as _;
    use std::io::Write as _;
    let message = |seq: u64, id: u64| stream::Message {
        seq,
        subject: format!("demo.events.posts.Event{seq}"),
        headers: vec![("Nats-Msg-Id".into(), format!("event-{id}"))],
        payload: base64::engine::general_purpose::STANDARD.encode(format!("{{\"n\":{seq}}}")),
    };
    let messages: Vec<_> = [3, 4, 6, 7, 8, 9, 10, 11, 12]
        .into_iter()
        .map(|seq| message(seq, if seq == 9 { 4 } else { seq }))
        .collect();
    // Two chunk files, as two chunks of a backup are.
    let files: Vec<_> = [&messages[..4], &messages[4..]]
        .iter()
        .enumerate()
        .map(|(n, part)| {
            let path = dir.join(format!("{n}.jsonl.gz"));
            let mut gz = flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                flate2::Compression::fast(),
            );
            for m in *part {
                serde_json::to_writer(&mut gz, m).unwrap();
                gz.write_all(b"\n").unwrap();
            }
            gz.finish().unwrap();
            path
        })
        .collect();
    let extent = agora_node::platform::backup::manifest::Extent {
        created: Some("2026-01-01T00:00:00Z".into()),
        first_seq: 3,
        last_seq: 13,
        messages: messages.len() as u64,
    };
    (extent, files, messages)
}

/// The event stream goes back at the sequence numbers it had, holes and all, even with two
/// restores of the same backup at once (every pod's init container runs one); a bus that
/// holds another stream is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_stream_keeps_its_sequence_numbers_and_two_restores_agree() {
    use agora_node::platform::backup::manifest::StreamCopy;
    use stream::republish;
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let (extent, files, originals) = a_copy_with_holes(dir.path());
    let copy = StreamCopy {
        extent,
        chunks: Vec::new(),
    };
    let (one, two) = (
        bus(&nats.url(), "demo").await,
        bus(&nats.url(), "demo").await,
    );
    let (a, b) = tokio::join!(
        republish::events(&one, &copy, &files),
        republish::events(&two, &copy, &files)
    );
    let created = a.unwrap().expect("the stream was restored");
    assert_eq!(b.unwrap().as_deref(), Some(created.as_str()));

    let mut out = Vec::new();
    stream::export(&one, stream::Which::Events, 1, u64::MAX, &mut out)
        .await
        .unwrap();
    let restored: Vec<stream::Message> = stream::read(out.as_slice()).map(Result::unwrap).collect();
    assert_eq!(
        restored.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (3..=13).collect::<Vec<_>>(),
        "it begins where the copy does and ends at its last sequence"
    );
    for m in &restored {
        match originals.iter().find(|o| o.seq == m.seq) {
            Some(o) if o.seq != 9 => {
                assert_eq!(
                    (&m.subject, m.payload().unwrap()),
                    (&o.subject, o.payload().unwrap())
                );
                assert_eq!(m.header("Nats-Msg-Id"), o.header("Nats-Msg-Id"));
            }
            // A hole, and the repeated event JetStream took for a duplicate: fillers that
            // no context consumes.
            _ => {
                assert_eq!(
                    m.header(republish::FILLER_HEADER),
                    Some(m.seq.to_string().as_str())
                );
                assert!(
                    !m.subject.starts_with("demo.events.posts."),
                    "{}",
                    m.subject
                );
            }
        }
    }
    // Again: nothing to do.
    assert_eq!(
        republish::events(&one, &copy, &files)
            .await
            .unwrap()
            .as_deref(),
        Some(created.as_str())
    );

    // A bus whose stream has a history of its own keeps it.
    let other = bus(&nats.url(), "other").await;
    other.ensure_stream().await.unwrap();
    other
        .js
        .publish("other.events.posts.Mine", "mine".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        republish::events(&other, &copy, &files).await.unwrap(),
        None
    );
    let kept = stream::extent(&other, stream::Which::Events).await.unwrap();
    assert_eq!((kept.first_seq, kept.last_seq), (1, 1));
}

/// A full chunk of the event stream never changes: the backups that hold it share one
/// copy, which retention keeps while a kept backup names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_chunks_of_the_stream_are_stored_once_for_every_backup() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    user(&anon, "alice").await;
    // Past the first chunk: messages no context consumes.
    let bus = bus(node.nats_url(), "dev").await;
    // Acks awaited 256 at a time: the client holds a bounded number pending.
    for batch in (0..stream::CHUNK).collect::<Vec<_>>().chunks(256) {
        let mut acks = Vec::new();
        for n in batch {
            let subject = "dev.events._.test";
            acks.push(bus.js.publish(subject, n.to_string().into()).await.unwrap());
        }
        for ack in acks {
            ack.await.unwrap();
        }
    }
    let target = tempfile::tempdir().unwrap();
    let first = tokio::task::block_in_place(|| backup(&node, target.path()));
    // Backup ids have a resolution of a second.
    wait_until(std::time::Duration::from_secs(3), "a new second", || {
        agora_node::platform::backup::manifest::id_for(time::OffsetDateTime::now_utc())
            != first["id"].as_str().unwrap()
    });
    let (ok, out, err) = agora(&[
        "backup",
        "--node-url",
        &node.base,
        "--target",
        target.path().to_str().unwrap(),
        "--keep",
        "1",
    ]);
    assert!(ok, "{err}");
    let second: Value = serde_json::from_str(out.trim()).unwrap();
    let chunks = |m: &Value| m["events"]["chunks"].as_array().unwrap().clone();
    let (full, growing) = (chunks(&second)[0].clone(), chunks(&second)[1].clone());
    assert_eq!(
        chunks(&first)[0],
        full,
        "the full chunk is named again, not copied"
    );
    assert!(full["object"].as_str().unwrap().starts_with("events/"));
    assert!(
        growing["object"]
            .as_str()
            .unwrap()
            .starts_with(second["id"].as_str().unwrap())
    );
    // Retention let the first backup go; the chunk the second names stays, alone.
    let first_folder = target.path().join(first["id"].as_str().unwrap());
    assert!(!first_folder.join("manifest.json").exists());
    let object = target.path().join(full["object"].as_str().unwrap());
    assert!(object.exists());
    let stored: Vec<_> = std::fs::read_dir(object.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(stored.len(), 1);
}
