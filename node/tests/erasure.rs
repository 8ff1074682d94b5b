//! GDPR erasure (`DELETE /users/me`): asked for with the password and the second factor,
//! cancelled by a login within the grace period, and carried out after it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use agora_node::platform::context::Context;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_needs_the_credentials_and_a_login_in_the_grace_period_keeps_the_account() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "dora").await;
    let dora = anon.with_token(access(&tokens));
    anon.send("DELETE", "/users/me", Some(json!({"password": PASSWORD})))
        .await
        .problem(401);
    dora.send(
        "DELETE",
        "/users/me",
        Some(json!({"password": "wrong password"})),
    )
    .await
    .problem(401);
    dora.send(
        "DELETE",
        "/users/me",
        Some(json!({"password": PASSWORD, "extra": 1})),
    )
    .await
    .problem(422);
    // Nothing was erased (the profile comes from an event: waited for).
    until_status(200, async || dora.get("/users/me").await)
        .await
        .expect(200);

    let scheduled = dora
        .send("DELETE", "/users/me", Some(json!({"password": PASSWORD})))
        .await
        .expect(202);
    let erase_at = time::OffsetDateTime::parse(
        scheduled["erase_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (erase_at - time::OffsetDateTime::now_utc()).whole_days();
    assert_eq!(days, 29, "30 days of grace by default: {scheduled}");
    until_status(401, async || dora.get("/users/me").await).await;
    let mail = mails(&anon, "dora", Some("Your account will be deleted"), 1).await;
    assert!(mail[0].contains("Log in before then"), "{mail:?}");

    // Logging in keeps the account.
    let again = anon
        .post(
            "/auth/login",
            json!({"login": "dora", "password": PASSWORD}),
        )
        .await
        .expect(200);
    anon.with_token(access(&again))
        .get("/users/me")
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mfa_deletion_needs_a_code_and_without_grace_the_account_is_gone() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_ERASURE_GRACE_HOURS", "0")]);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "mika").await;
    let mika = anon.with_token(access(&tokens));
    let (_, recovery) = enrolled_mfa(&mika, "mika").await;
    let without = mika
        .send("DELETE", "/users/me", Some(json!({"password": PASSWORD})))
        .await
        .problem(422);
    assert_eq!(without["errors"][0]["field"], "code", "{without}");
    mika.send(
        "DELETE",
        "/users/me",
        Some(json!({"password": PASSWORD, "recovery_code": recovery})),
    )
    .await
    .expect(202);

    let login = json!({"login": "mika", "password": PASSWORD});
    until_status(401, async || anon.post("/auth/login", login.clone()).await).await;
    // The username is free again.
    register(&anon, "mika").await;
}

/// The search index under `data`, opened with the platform's key as the node opens it.
fn sealed_index(data: &std::path::Path) -> tantivy::Index {
    use agora_node::search::storage::sealed_directory::SealedDirectory;
    let key = agora_node::platform::keyring::PlatformKey::from_setting(
        data.join("encryption.key").to_str().unwrap(),
    )
    .unwrap();
    let files = tantivy::directory::MmapDirectory::open(data.join("search-index")).unwrap();
    tantivy::Index::open(SealedDirectory::new(files, &key, 1 << 20)).unwrap()
}

/// Every document the index stores, as JSON.
fn every_stored_document(index: &tantivy::Index) -> Vec<String> {
    let searcher = index.reader().unwrap().searcher();
    let mut out = Vec::new();
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        for doc in 0..segment.max_doc() {
            let address = tantivy::DocAddress::new(ord as u32, doc);
            let stored: tantivy::TantivyDocument = searcher.doc(address).unwrap();
            out.push(tantivy::Document::to_json(&stored, &index.schema()));
        }
    }
    out
}

/// Every record of every sled tree under `data` (each context's database), as text, its
/// value opened with the platform's key (`encryption.key`): what the stores hold, not only
/// what their files show.
fn every_record(data: &std::path::Path) -> Vec<(String, String)> {
    use agora_node::platform::storage::{Sealer, sealing};
    let key = agora_node::platform::keyring::PlatformKey::from_setting(
        data.join("encryption.key").to_str().unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("conf").exists() {
            continue; // not a sled database (the search index, media files, keys)
        }
        let context = dir.file_name().unwrap().to_str().unwrap();
        let sealer = Sealer::new(&key, context);
        let db = sled::open(&dir).unwrap();
        for name in db.tree_names() {
            let tree = db.open_tree(&name).unwrap();
            for item in tree.iter() {
                let (k, v) = item.unwrap();
                // Change sets (binary) are not sealed whole: their values are.
                let v = match name.ends_with(b"_changes") {
                    true => v.to_vec(),
                    false => sealing::open(Some(&sealer), &k, &v).unwrap().into_owned(),
                };
                out.push((
                    format!("{}:{}", dir.display(), String::from_utf8_lossy(&k)),
                    String::from_utf8_lossy(&v).into_owned(),
                ));
            }
        }
    }
    out
}

fn jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([x as u8 * 8, y as u8 * 10, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// Waits until the node is quiet: no event waits in an outbox, and the events every
/// context has applied or skipped stop changing over ten looks 100 ms apart: longer than
/// search's indexer waits between commits (500 ms), so what the last events queued for
/// the index has reached it.
async fn settled(node: &Node) {
    let totals = async || {
        let text = scrape(node).await;
        let sum = |name: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        (
            sum("agora_outbox_depth"),
            sum("agora_events_applied_total") + sum("agora_events_skipped_total"),
        )
    };
    let mut same = 0;
    let mut last = f64::NAN;
    let start = std::time::Instant::now();
    while same < 10 && start.elapsed() < std::time::Duration::from_secs(20) {
        let (outbox, handled) = totals().await;
        same = if outbox == 0.0 && handled == last {
            same + 1
        } else {
            0
        };
        last = handled;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Asks for an export, waits until it is ready (and notified), downloads the archive and
/// returns its files by name.
async fn exported(c: &Client) -> std::collections::BTreeMap<String, Vec<u8>> {
    let started = c.post_empty("/users/me/export").await.expect(202);
    assert_eq!(started["state"], "preparing");
    c.post_empty("/users/me/export").await.problem(409);
    let id = started["id"].as_str().unwrap().to_string();
    let path = format!("/users/me/exports/{id}");
    let start = std::time::Instant::now();
    let ready = loop {
        let r = c.get(&path).await.expect(200);
        if r["state"] == "ready" || start.elapsed() > std::time::Duration::from_secs(20) {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert_eq!(ready["state"], "ready", "{ready}");
    eventually("the owner is notified", async || {
        c.get("/notifications").await.body["items"]
            .as_array()
            .is_some_and(|items| {
                items
                    .iter()
                    .any(|n| n["kind"] == "export_ready" && n["target"]["export_id"] == id.as_str())
            })
    })
    .await;
    let url = format!("{}{}", c.base, ready["archive_url"].as_str().unwrap());
    let reply = c
        .http
        .get(url)
        .bearer_auth(c.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["content-type"], "application/zip");
    let bytes = reply.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut content).unwrap();
        files.insert(f.name().unwrap().to_string(), content);
    }
    files
}

/// Every message payload of the platform's stream, as text.
async fn stream_text(js: &async_nats::jetstream::Context) -> String {
    let stream = js.get_stream("AGORA_DEV").await.unwrap();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    let mut text = String::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            text.push_str(&String::from_utf8_lossy(&m.payload));
        }
    }
    assert!(text.contains("ProfileUpdated"), "the stream was read");
    text
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// What others see adds up after an erasure: their posts' counts lose her comments,
/// reactions and shares, and what they left on her posts goes with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_erasure_the_counts_others_see_add_up() {
    let nats = Nats::start();
    let mut node = Node::start_with(&nats, &[("AGORA_ERASURE_GRACE_HOURS", "0")]);
    let anon = node.client();
    let zoe = user(&anon, "zoecounts").await;
    let bob = user(&anon, "bobcounts").await;
    let his = publish(&bob.1, json!({"text": "bob's public post"})).await;
    let hers = publish(&zoe.1, json!({"text": "zoe's public post"})).await;
    let on = |post: &str, what: &str| format!("/posts/{post}/{what}");
    let comment = async |c: &Client, post: &str| {
        let body = json!({"text": "a comment"});
        until_status(201, async || {
            c.post(&on(post, "comments"), body.clone()).await
        })
        .await
        .body["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let react = async |c: &Client, path: &str, kind: &str| {
        let body = Some(json!({"kind": kind}));
        until_status(200, async || c.send("PUT", path, body.clone()).await).await;
    };
    let bobs_comment = comment(&bob.1, &his).await;
    comment(&zoe.1, &his).await;
    react(&zoe.1, &on(&his, "reactions"), "love").await;
    react(&bob.1, &on(&his, "reactions"), "like").await;
    let comment_reactions = format!("/posts/{his}/comments/{bobs_comment}/reactions");
    react(&zoe.1, &comment_reactions, "wow").await;
    until_status(201, async || {
        zoe.1.post(&on(&his, "shares"), json!({})).await
    })
    .await;
    comment(&bob.1, &hers).await;
    react(&bob.1, &on(&hers, "reactions"), "like").await;
    let seen = bob.1.get(&format!("/posts/{his}")).await.expect(200);
    assert_eq!(
        (
            &seen["comment_count"],
            &seen["reactions"],
            &seen["share_count"]
        ),
        (&json!(2), &json!({"like": 1, "love": 1}), &json!(1))
    );

    zoe.1
        .send("DELETE", "/users/me", Some(json!({"password": PASSWORD})))
        .await
        .expect(202);
    eventually(
        "her comment, reaction and share are counted no more",
        async || {
            let post = bob.1.get(&format!("/posts/{his}")).await.body;
            post["comment_count"] == 1
                && post["reactions"] == json!({"like": 1})
                && post["share_count"] == 0
        },
    )
    .await;
    let comments = bob.1.get(&on(&his, "comments")).await.expect(200);
    assert_eq!(comments["items"].as_array().unwrap().len(), 1);
    assert_eq!(comments["items"][0]["reactions"], json!({}), "{comments}");
    settled(&node).await;
    assert!(node.terminate().success());
    // Nothing of what hung off her post is left in posts.
    let left: Vec<_> = every_record(&node.data)
        .into_iter()
        .filter(|(k, v)| k.contains("/posts:") && (k.contains(&hers) || v.contains(&hers)))
        .collect();
    assert_eq!(left, Vec::<(String, String)>::new());
}

/// A node given another platform key (its key file lost and made anew) does not start on
/// its sealed stores: it says which setting is wrong and changes nothing; with the right
/// key it starts as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_key_refuses_its_sealed_stores_and_changes_nothing() {
    let nats = Nats::start();
    let mut node = Node::start(&nats);
    user(&node.client(), "keptkey").await;
    assert!(node.terminate().success());
    let key_file = node.data.join("encryption.key");
    let right = std::fs::read(&key_file).unwrap();
    let another = agora_node::platform::keyring::PlatformKey::generate();
    std::fs::write(&key_file, another).unwrap();
    let mut refused = std::process::Command::new(env!("CARGO_BIN_EXE_agora-node"))
        .args(["dev", "--http-addr", "127.0.0.1:0", "--nats-url"])
        .arg(node.nats_url())
        .arg("--data-dir")
        .arg(&node.data)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = refused.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            refused.kill().unwrap();
            panic!("a node started on stores sealed with another key");
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut refused.stderr.take().unwrap(), &mut said).unwrap();
    assert!(!status.success());
    assert!(said.contains("AGORA_ENCRYPTION_KEY"), "{said}");

    std::fs::write(&key_file, right).unwrap();
    node.restart();
    let login = json!({"login": "keptkey@example.org", "password": PASSWORD});
    node.client().post("/auth/login", login).await.expect(200);
}

/// People's keys stored raw (before the platform had a key) are wrapped with the platform's
/// key once it has one; a key shredded before stays shredded, and what was sealed with a
/// raw key opens as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_stored_raw_are_wrapped_and_shredded_ones_stay_gone() {
    use agora_node::platform::bus::{Bus, StreamSettings};
    use agora_node::platform::keyring::PlatformKey;
    let nats = Nats::start();
    let bus = async || {
        let settings = StreamSettings {
            prefix: "wrapme".into(),
            replicas: 1,
            max_age: std::time::Duration::ZERO,
        };
        Bus::connect(&nats.url(), None, None, settings)
            .await
            .unwrap()
    };
    let raw = bus().await;
    let ann = raw.keys.for_sealing("ann").await.unwrap().unwrap();
    raw.keys.for_sealing("bob").await.unwrap().unwrap();
    raw.keys.shred("bob").await.unwrap();
    let sealed = ann.seal(b"ann's secret", b"event/field");

    let key = PlatformKey::from_setting(&PlatformKey::generate()).unwrap();
    let wrapping = bus().await.with_platform_key(Some(key), None);
    assert_eq!(wrapping.keys.wrap_raw_keys().await.unwrap(), 1);
    assert_eq!(wrapping.keys.wrap_raw_keys().await.unwrap(), 0, "once");
    let kv = wrapping.js.get_key_value("wrapme-keys").await.unwrap();
    assert_eq!(kv.get("ann").await.unwrap().unwrap().len(), 73, "wrapped");
    let opened = wrapping.keys.for_opening("ann").await.unwrap().unwrap();
    assert_eq!(
        opened.open(&sealed, b"event/field").unwrap(),
        b"ann's secret"
    );
    assert!(
        wrapping.keys.for_opening("bob").await.unwrap().is_none(),
        "still shredded"
    );
}

/// Encryption at rest: what a person wrote is in the stores (opened with the platform's
/// key), and no file of the node's data directory (its search index kept in memory) nor
/// of the event stream's shows it in the clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_of_the_stores_and_the_stream_show_no_personal_data() {
    let nats = Nats::start();
    let mut node = Node::start_with(&nats, &[("AGORA_SEARCH_INDEX_IN_MEMORY", "true")]);
    let anon = node.client();
    let ann = user(&anon, "annsealed").await;
    ann.1
        .patch(
            "/users/me",
            json!({"display_name": "Ann Vexqorth", "bio": "bio-of-ann-qz"}),
        )
        .await
        .expect(200);
    let post = publish(&ann.1, json!({"text": "ann-post-text-qz zorblatt"})).await;
    until_status(201, async || {
        let comment = json!({"text": "ann-comment-text-qz"});
        ann.1
            .post(&format!("/posts/{post}/comments"), comment)
            .await
    })
    .await;
    eventually("the index in memory finds her post", async || {
        let found = ann.1.get("/search?q=zorblatt&type=posts").await;
        found.body["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    settled(&node).await;
    assert!(node.terminate().success());

    let needles = [
        "zorblatt",
        "annsealed@example.org",
        "Vexqorth",
        "bio-of-ann-qz",
        "ann-post-text-qz",
        "ann-comment-text-qz",
    ];
    let records = every_record(&node.data);
    for needle in needles {
        assert!(
            records.iter().any(|(_, v)| v.contains(needle)),
            "{needle} is stored"
        );
    }
    let mut shown = Vec::new();
    for file in files(&node.data).into_iter().chain(files(nats.dir())) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                shown.push(format!("{needle} in {}", file.display()));
            }
        }
    }
    assert_eq!(shown, Vec::<String>::new(), "in the clear");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn her_export_holds_everything_and_after_erasure_nothing_does() {
    let nats = Nats::start();
    let mut node = Node::start_with(&nats, &[("AGORA_ERASURE_GRACE_HOURS", "0")]);
    let anon = node.client();
    let zoe = user(&anon, "zoeerasedx").await;
    let bob = user(&anon, "bobstays").await;
    befriend(&zoe, &bob).await;
    zoe.1
        .patch(
            "/users/me",
            json!({"display_name": "Zoe Qwyrtzel", "bio": "bio-of-zoe-xq"}),
        )
        .await
        .expect(200);

    // Her content, and her traces in what others have.
    let media = zoe
        .1
        .raw("POST", "/media", "image/jpeg", jpeg())
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let post =
        json!({"text": "zoe-post-text-kv #zoetag", "visibility": "friends", "media_ids": [media]});
    let hers = publish(&zoe.1, post).await;
    let his = publish(
        &bob.1,
        json!({"text": "bob's post", "visibility": "friends"}),
    )
    .await;
    until_status(201, async || {
        zoe.1
            .post(
                &format!("/posts/{his}/comments"),
                json!({"text": "zoe-comment-text-kv"}),
            )
            .await
    })
    .await
    .expect(201);
    until_status(200, async || {
        bob.1
            .send(
                "PUT",
                &format!("/posts/{hers}/reactions"),
                Some(json!({"kind": "love"})),
            )
            .await
    })
    .await
    .expect(200);
    // Moderation learns of the post by event, moments later.
    let report = json!({"target": {"kind": "post", "id": his}, "reason": "spam"});
    until_status(201, async || zoe.1.post("/reports", report.clone()).await)
        .await
        .expect(201);
    let group = zoe
        .1
        .post(
            "/groups",
            json!({"name": "Zoe's circle", "privacy": "public"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    until_status(200, async || {
        bob.1.post_empty(&format!("/groups/{group}/join")).await
    })
    .await
    .expect(200);
    let conv = until_status(201, async || {
        zoe.1
            .post(
                "/conversations",
                json!({"kind": "direct", "user_id": bob.0}),
            )
            .await
    })
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let messages = format!("/conversations/{conv}/messages");
    zoe.1
        .post(&messages, json!({"text": "a message bob keeps"}))
        .await
        .expect(201);
    // Bob's notification of her comment has arrived.
    eventually("bob is notified", async || {
        bob.1.get("/notifications").await.body["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
    })
    .await;

    // Her export holds all of it, and only she may fetch it.
    let archive = exported(&zoe.1).await;
    let needles_in_export = [
        zoe.0.as_str(),
        "zoeerasedx",
        "zoeerasedx@example.org",
        "Qwyrtzel",
        "bio-of-zoe-xq",
        "zoe-post-text-kv",
        "zoe-comment-text-kv",
        "a message bob keeps",
    ];
    let everything: String = archive
        .values()
        .map(|v| String::from_utf8_lossy(v))
        .collect();
    for needle in needles_in_export {
        assert!(everything.contains(needle), "{needle} is not in the export");
    }
    assert!(
        !everything.contains("$argon2"),
        "no password hash in the export"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&archive["manifest.json"]).unwrap();
    assert_eq!(manifest["missing"], json!([]), "{manifest}");
    assert_eq!(
        manifest["parts"].as_array().unwrap().len(),
        Context::ALL.len()
    );
    let picture = archive
        .get(&format!("media/{media}.jpeg"))
        .unwrap_or_else(|| panic!("no picture in {:?}", archive.keys()));
    assert!(
        picture.starts_with(&[0xFF, 0xD8, 0xFF]),
        "the picture as a JPEG (opened, though sealed at rest)"
    );
    let exports = zoe.1.get("/users/me/exports").await.expect(200);
    let export_id = exports[0]["id"].as_str().unwrap().to_string();
    bob.1
        .get(&format!("/users/me/exports/{export_id}/archive"))
        .await
        .problem(404);

    zoe.1
        .send("DELETE", "/users/me", Some(json!({"password": PASSWORD})))
        .await
        .expect(202);

    // Gone from what others read; what Bob relies on stays, from an erased account.
    until_status(404, async || bob.1.get(&format!("/users/{}", zoe.0)).await).await;
    until_status(404, async || bob.1.get(&format!("/posts/{hers}")).await).await;
    let kept = until_status(200, async || bob.1.get(&messages).await).await;
    eventually("the message is from an erased account", async || {
        let page = bob.1.get(&messages).await;
        page.body["items"][0]["sender_id"] == "erased"
    })
    .await;
    assert_eq!(kept.body["items"][0]["text"], "a message bob keeps");
    bob.1.get(&format!("/groups/{group}")).await.expect(200);
    eventually("search forgets her", async || {
        let found = bob.1.get("/search?q=Qwyrtzel&type=people").await;
        found.status == 200 && found.body["items"].as_array().is_some_and(|i| i.is_empty())
    })
    .await;
    let nc = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(nc);
    let exports = js.get_object_store("dev-exports").await.unwrap();
    // The stream never held her words in the clear, and now her key is gone.
    let keys = js.get_key_value("dev-keys").await.unwrap();
    eventually("her key is shredded", async || {
        keys.get(&zoe.0).await.unwrap().is_none()
    })
    .await;
    let on_stream = stream_text(&js).await;
    for needle in [
        "zoeerasedx",
        "Qwyrtzel",
        "bio-of-zoe-xq",
        "zoe-post-text-kv",
        "zoetag",
    ] {
        assert!(
            !on_stream.contains(needle),
            "{needle} is readable on the stream"
        );
    }
    eventually("her export archive is deleted", async || {
        use futures::StreamExt as _;
        let mut list = exports.list().await.unwrap();
        let mut left = false;
        while let Some(info) = list.next().await {
            let info = info.unwrap();
            left |= info.name.starts_with(&export_id) && !info.deleted;
        }
        !left
    })
    .await;
    eventually("her files are deleted", async || {
        files(&node.data.join("media-files/sha256")).is_empty()
    })
    .await;
    settled(&node).await;
    assert!(node.terminate().success());

    let needles = [
        zoe.0.as_str(),
        "zoeerasedx",
        "Qwyrtzel",
        "bio-of-zoe-xq",
        "zoe-post-text-kv",
        "zoe-comment-text-kv",
    ];
    let left = |data: &std::path::Path| {
        let mut left = Vec::new();
        for (k, v) in every_record(data) {
            for needle in needles {
                if k.contains(needle) || v.contains(needle) {
                    left.push(format!("{needle} in {k} = {v}"));
                }
            }
        }
        left.join("\n")
    };
    assert_eq!(left(&node.data), "", "left behind");
    // The search index keeps no deleted document in its files (her documents were deleted),
    // and none of what it stores names her (its files are sealed: read through the key).
    let index = sealed_index(&node.data);
    let segments = index.searchable_segment_metas().unwrap();
    assert!(!segments.is_empty());
    assert!(
        segments.iter().all(|s| !s.has_deletes()),
        "deleted documents are still in the index's files"
    );
    let stored = every_stored_document(&index);
    assert!(
        stored.iter().any(|d| d.contains("bobstays")),
        "the scan reads the index"
    );
    for needle in needles {
        assert!(
            !stored.iter().any(|d| d.contains(needle)),
            "{needle} in the index"
        );
    }

    // Replaying the whole stream into every context's projections does not bring her back:
    // the erasure is replayed after what she did.
    for context in Context::ALL {
        if !agora_node::bounded_context(context)
            .projections()
            .is_empty()
        {
            rebuild_stopped(&node.data, &nats, context);
        }
    }
    // Started again, search's indexer refills the index and empties its queue.
    node.restart();
    let bob = (
        bob.0,
        node.client().with_token(bob.1.token.as_deref().unwrap()),
    );
    eventually("the index is refilled", async || {
        let found = bob.1.get("/search?q=bobstays&type=people").await;
        found.body["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    settled(&node).await;
    assert!(node.terminate().success());
    assert_eq!(left(&node.data), "", "brought back by the replay");

    // And the whole stream replayed into empty data directories does not either (with the
    // platform's key, which opens the keys of the stream's sealed fields).
    let fresh = tempfile::tempdir().unwrap();
    std::fs::copy(
        node.data.join("encryption.key"),
        fresh.path().join("encryption.key"),
    )
    .unwrap();
    for context in Context::ALL {
        if !agora_node::bounded_context(context)
            .projections()
            .is_empty()
        {
            rebuild_stopped(fresh.path(), &nats, context);
        }
    }
    assert!(
        every_record(fresh.path()).len() > 10,
        "the replay built projections"
    );
    assert_eq!(
        left(fresh.path()),
        "",
        "brought back by a replay into fresh stores"
    );
}
