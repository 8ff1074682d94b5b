//! Replicas of contexts as separate processes (`serve --replicated`) on one NATS: one
//! writes, the other follows and serves reads; killed, the writer is replaced within the
//! lease's bound and nothing it acknowledged is lost; read-your-writes by the token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// The lease's time to live in these tests: the bound on a failover.
const LEASE_TTL_SECS: &str = "2";

struct Replicas {
    nats: Nats,
    dir: tempfile::TempDir,
    private_key: String,
    media_key: String,
    /// The contexts each process runs.
    contexts: &'static str,
    /// The platform key, for contexts whose files and index are sealed.
    encryption_key: String,
}

impl Replicas {
    /// Processes running auth and users.
    fn new() -> Self {
        Self::of("auth,users")
    }

    /// Processes running `contexts`.
    fn of(contexts: &'static str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = agora_node::platform::tokens::KeyPair::generate();
        let private = dir.path().join("private.pem");
        std::fs::write(&private, &keys.private_pem).unwrap();
        std::fs::write(dir.path().join("public.pem"), &keys.public_pem).unwrap();
        Replicas {
            nats: Nats::start(),
            private_key: private.to_str().unwrap().to_string(),
            dir,
            media_key: agora_node::platform::media_urls::MediaUrls::generate(),
            contexts,
            encryption_key: agora_node::platform::keyring::PlatformKey::generate(),
        }
    }

    /// A process serving the contexts as replicas, on its own data directory.
    fn start(&self, name: &str) -> Process {
        self.start_at(name, &format!("127.0.0.1:{}", free_port()))
    }

    /// As [`Replicas::start`], listening on (and advertising) `addr`.
    fn start_at(&self, name: &str, addr: &str) -> Process {
        let url = format!("http://{addr}");
        let flags = [
            "--replicated",
            "--lease-ttl-secs",
            LEASE_TTL_SECS,
            "--advertise-url",
            &url,
        ];
        self.start_with(name, addr, &flags)
    }

    /// A process on `name`'s data directory with these replication flags.
    fn start_with(&self, name: &str, addr: &str, flags: &[&str]) -> Process {
        let data = self.dir.path().join(name);
        let nats_url = self.nats.url();
        let mut args = vec![
            "serve",
            "--context",
            self.contexts,
            "--data-dir",
            data.to_str().unwrap(),
            "--jwt-private-key",
            &self.private_key,
        ];
        args.extend_from_slice(flags);
        Process::start_at(
            &args,
            &[
                ("AGORA_NATS_URL", nats_url.as_str()),
                ("AGORA_MEDIA_URL_KEY", self.media_key.as_str()),
                ("AGORA_ENCRYPTION_KEY", self.encryption_key.as_str()),
                ("AGORA_PLATFORM", "demo"),
                ("AGORA_LOG_FORMAT", "json"),
                ("RUST_LOG", "info"),
            ],
            addr,
        )
    }

    /// A gateway whose auth and users Service is `reads` (standing for the Service that
    /// balances over the replicas), which learns the writers from the leases.
    fn gateway(&self, reads: &Process) -> Process {
        let nats_url = self.nats.url();
        let public = self.dir.path().join("public.pem");
        Process::start(
            &[
                "gateway",
                "--jwt-public-key",
                public.to_str().unwrap(),
                "--platform",
                "demo",
            ],
            &[
                ("AGORA_NATS_URL", nats_url.as_str()),
                ("AGORA_UPSTREAM_AUTH", reads.base.as_str()),
                ("AGORA_UPSTREAM_USERS", reads.base.as_str()),
                // Writes run back to back through a handover: not a rate-limit test.
                ("AGORA_RATE_LIMIT_USER", "1000000"),
                ("AGORA_RATE_LIMIT_IP", "1000000"),
            ],
        )
    }
}

/// Each replicated context of `p` and its role, from `GET /ops/replicas`.
async fn standing(p: &Process) -> std::collections::BTreeMap<String, String> {
    let all: Value = reqwest::get(format!("{}/ops/replicas", p.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["context"].as_str().unwrap().into(),
                r["role"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn roles(role: &str) -> std::collections::BTreeMap<String, String> {
    ["auth", "users"]
        .map(|c| (c.to_string(), role.to_string()))
        .into()
}

fn client(p: &Process) -> Client {
    Client::of(&p.base)
}

fn token_of(reply: &Reply) -> String {
    reply.headers["agora-consistency"]
        .to_str()
        .unwrap()
        .to_string()
}

async fn profile_with_token(c: &Client, token: &str) -> Reply {
    let mut req = c
        .http
        .get(format!("{}/api/v1/users/me", c.base))
        .header("agora-consistency", token);
    if let Some(t) = &c.token {
        req = req.bearer_auth(t);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        content_type: String::new(),
        headers: Default::default(),
        body,
    }
}

/// Registers `name` on the process behind `c` as soon as it writes (it answers
/// `not-writer` until it holds auth's lease).
async fn registered_once_writing(c: &Client, name: &str) {
    until_status(201, async || {
        c.post(
            "/auth/register",
            json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD}),
        )
        .await
    })
    .await
    .expect(201);
}

/// `name`, registered on `writer` (whose log has the verification mail), verified and
/// logged in through `gateway`: its anonymous client and the tokens.
async fn signed_in(gateway: &Process, writer: &Process, name: &str) -> (Client, Value) {
    let anon = client(gateway);
    let verification = logged_token(writer);
    until_status(200, async || {
        anon.post(
            "/auth/verify",
            json!({"token": verification, "password": PASSWORD}),
        )
        .await
    })
    .await
    .expect(200);
    let tokens = anon
        .post("/auth/login", json!({"login": name, "password": PASSWORD}))
        .await
        .expect(200);
    (anon, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_serves_reads_and_takes_over_when_the_writer_dies() {
    let replicas = Replicas::new();
    let mut a = replicas.start("a");
    let anon_a = client(&a);
    // A is alone: it takes both leases and, once it has, takes writes.
    registered_once_writing(&anon_a, "nina").await;
    let b = replicas.start("b");
    let anon_b = client(&b);
    anon_a
        .post(
            "/auth/verify",
            json!({"token": logged_token(&a), "password": PASSWORD}),
        )
        .await
        .expect(200);
    let tokens = anon_a
        .post(
            "/auth/login",
            json!({"login": "nina", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let nina_a = anon_a.with_token(access(&tokens));
    let nina_b = anon_b.with_token(access(&tokens));
    until_status(200, async || nina_a.get("/users/me").await).await;

    // A write on the writer answers with a token; the follower refuses writes, and serves
    // the write to a reader who shows the token.
    let changed = nina_a
        .patch("/users/me", json!({"display_name": "Nina A."}))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let token = token_of(&changed);
    assert!(token.starts_with("users="), "{token}");
    let refused = nina_b
        .patch("/users/me", json!({"display_name": "elsewhere"}))
        .await;
    assert_eq!(refused.headers["retry-after"], "1");
    assert_eq!(
        refused.problem(503)["type"],
        "https://agora.dev/problems/not-writer"
    );
    let read = profile_with_token(&nina_b, &token).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["display_name"], "Nina A.");
    // A rebuild asked of the follower replays nothing there (it could not switch its
    // projections over): the writer's rebuild reaches it through the change stream.
    let report: Value = reqwest::Client::new()
        .post(format!("{}/ops/rebuild/auth", b.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["events"], 0, "{report}");
    assert!(
        report["skipped"].as_str().unwrap().contains("follows"),
        "{report}"
    );
    // Each process says where its replicas stand (what the operator gathers).
    assert_eq!(standing(&a).await, roles("writer"));
    assert_eq!(standing(&b).await, roles("follower"));

    // More acknowledged writes, then the writer dies without warning.
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let name = format!("Nina {i}");
        nina_a
            .patch("/users/me", json!({"display_name": name}))
            .await
            .expect(200);
        acknowledged.push(name);
    }
    a.kill();
    let killed = Instant::now();

    // The follower takes over within the lease's bound and has every acknowledged write.
    let after = until_status(200, async || {
        nina_b
            .patch("/users/me", json!({"bio": "taken over"}))
            .await
    })
    .await
    .expect(200);
    let failover = killed.elapsed();
    println!("failover: {} ms", failover.as_millis());
    assert!(
        failover < Duration::from_secs(10),
        "no writer for {failover:?}"
    );
    assert_eq!(after["display_name"], acknowledged.last().unwrap().as_str());
    assert_eq!(after["bio"], "taken over");
    // Auth moved too (its own lease, within the same bound): the account logs in there.
    until_status(200, async || {
        anon_b
            .post(
                "/auth/login",
                json!({"login": "nina", "password": PASSWORD}),
            )
            .await
    })
    .await
    .expect(200);
    assert!(killed.elapsed() < Duration::from_secs(10));

    // The old writer comes back as a follower, catches up, and serves the new writer's
    // writes to a reader with the token.
    let token = token_of(
        &nina_b
            .patch("/users/me", json!({"bio": "back again"}))
            .await,
    );
    // Started without `--replicated` (scaled back to one pod, say): a store that was
    // replicated stays so, and does not write beside the writer.
    let a = replicas.start_with("a", &format!("127.0.0.1:{}", free_port()), &[]);
    let nina_a = client(&a).with_token(access(&tokens));
    let read = profile_with_token(&nina_a, &token).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["bio"], "back again");
    let refused = nina_a.patch("/users/me", json!({"bio": "mine"})).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_sends_writes_to_the_writer_and_reads_to_any_replica() {
    let replicas = Replicas::new();
    let mut a = replicas.start("a");
    let anon_a = client(&a);
    registered_once_writing(&anon_a, "omar").await;
    let b = replicas.start("b");
    // Reads go to the follower B; writes follow the leases to A.
    let gateway = replicas.gateway(&b);
    let (anon, tokens) = signed_in(&gateway, &a, "omar").await;
    let omar = anon.with_token(access(&tokens));
    until_status(200, async || {
        omar.patch("/users/me", json!({"bio": "one"})).await
    })
    .await
    .expect(200);
    let changed = omar.patch("/users/me", json!({"bio": "two"})).await;
    let token = token_of(&changed);
    assert_eq!(changed.expect(200)["bio"], "two");
    let read = profile_with_token(&omar, &token).await;
    assert_eq!(read.body["bio"], "two", "the follower, through the gateway");
    // Each pod says whether it writes, and how far behind it is.
    let metrics = |p: &Process| {
        let url = format!("{}/metrics", p.base);
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    assert!(
        metrics(&a)
            .await
            .contains(r#"agora_replica_writer{context="users"} 1"#)
    );
    let follower = metrics(&b).await;
    assert!(
        follower.contains(r#"agora_replica_writer{context="users"} 0"#),
        "{follower}"
    );
    assert!(follower.contains("agora_replica_behind_messages"));

    // The writer dies: the gateway holds a write it could not deliver for up to 3 s,
    // waiting for the next writer; past that (a lease longer than this test's 2 s) the
    // client gets a retryable 503. Either way the write then goes to the new writer.
    a.kill();
    let first = omar.patch("/users/me", json!({"bio": "three"})).await;
    match first.status {
        200 => {}
        503 => assert_eq!(first.headers["retry-after"], "1"),
        other => panic!("{other}: {}", first.body),
    }
    let after = until_status(200, async || {
        omar.patch("/users/me", json!({"bio": "three"})).await
    })
    .await
    .expect(200);
    assert_eq!(after["bio"], "three");
    assert_eq!(omar.get("/users/me").await.expect(200)["bio"], "three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_hands_the_writing_over_without_failing_a_write() {
    let replicas = Replicas::new();
    let mut a = replicas.start("a");
    registered_once_writing(&client(&a), "pia").await;
    let b = replicas.start("b");
    let gateway = replicas.gateway(&b);
    let (anon, tokens) = signed_in(&gateway, &a, "pia").await;
    let pia = anon.with_token(access(&tokens));
    until_status(200, async || {
        pia.patch("/users/me", json!({"bio": "0"})).await
    })
    .await
    .expect(200);

    // Writes go on through the gateway while the writer is stopped (SIGTERM, as in a
    // rolling update): it refuses writes, publishes what it took, hands the lease over,
    // and the gateway sends what it refused to the next writer.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writes = {
        let (done, stop, pia) = (done.clone(), stop.clone(), pia.clone());
        tokio::spawn(async move {
            let mut failed = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let reply = pia.patch("/users/me", json!({"bio": format!("{i}")})).await;
                if reply.status != 200 {
                    failed.push((i, reply.status, reply.body));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            (i, failed)
        })
    };
    let at = |n: usize| {
        let done = done.clone();
        async move {
            let mut seen = done.load(std::sync::atomic::Ordering::Relaxed);
            let deadline = Instant::now() + Duration::from_secs(20);
            while seen < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
                seen = done.load(std::sync::atomic::Ordering::Relaxed);
            }
            seen
        }
    };
    let before = at(10).await;
    assert!(a.terminate().success(), "a graceful stop exits 0");
    at(before + 30).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, failed) = writes.await.unwrap();
    assert!(sent >= 40, "{sent} writes");
    assert!(failed.is_empty(), "failed during the handover: {failed:?}");
    let last = pia.get("/users/me").await.expect(200);
    assert_eq!(
        last["bio"],
        sent.to_string(),
        "the last write, on the new writer"
    );
}

/// Read-your-writes across gateways: a write through one gateway, read at once through
/// another whose reads land on a follower, with the token the write answered, shows the
/// write, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_gateway_is_read_at_once_through_another_on_a_follower() {
    let replicas = Replicas::new();
    let a = replicas.start("a");
    registered_once_writing(&client(&a), "rhea").await;
    let b = replicas.start("b");
    // Gateway one reads from the writer A, gateway two from the follower B; both send
    // writes to the writer the leases name.
    let (one, two) = (replicas.gateway(&a), replicas.gateway(&b));
    let (anon, tokens) = signed_in(&one, &a, "rhea").await;
    let through_one = anon.with_token(access(&tokens));
    let through_two = client(&two).with_token(access(&tokens));
    until_status(200, async || {
        through_one
            .patch("/users/me", json!({"bio": "first"}))
            .await
    })
    .await
    .expect(200);
    for n in 0..20 {
        let bio = format!("bio {n}");
        let wrote = through_one.patch("/users/me", json!({ "bio": bio })).await;
        let token = token_of(&wrote);
        assert_eq!(wrote.expect(200)["bio"], bio);
        let read = profile_with_token(&through_two, &token).await;
        assert_eq!(read.status, 200, "{}", read.body);
        assert_eq!(
            read.body["bio"], bio,
            "write {n} read through the other gateway"
        );
    }
}

/// The ids of the posts `c` finds for `word` (none while the replica cannot answer).
async fn found(c: &Client, word: &str) -> BTreeSet<String> {
    let page = c.get(&format!("/search?type=posts&q={word}")).await;
    page.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `c` finds exactly `posts` for `word`.
async fn finds(c: &Client, word: &str, posts: &[&String]) {
    let posts: BTreeSet<String> = posts.iter().map(|p| p.to_string()).collect();
    eventually(
        &format!("{} finds {posts:?} for {word}", c.base),
        || async { found(c, word).await == posts },
    )
    .await;
}

/// The bytes of `c`'s media `id` as the replica behind `c` serves them.
async fn file_of(c: &Client, id: &str) -> (u16, Vec<u8>) {
    let response = c
        .http
        .get(format!("{}/api/v1/media/{id}/file", c.base))
        .bearer_auth(c.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_media_followers_answer_as_the_writer_and_take_over_with_everything() {
    let replicas = Replicas::of("auth,users,posts,search,media");
    let mut a = replicas.start("a");
    registered_once_writing(&client(&a), "nina").await;
    let b = replicas.start("b");
    let (anon_a, tokens) = signed_in(&a, &a, "nina").await;
    let nina_a = anon_a.with_token(access(&tokens));
    let nina_b = client(&b).with_token(access(&tokens));

    // Written on the writer: a post search finds, and a picture.
    let first = publish(&nina_a, json!({"text": "quetzal at sunrise"})).await;
    let picture = uploaded(&nina_a, 1).await;
    let (status, original) = file_of(&nina_a, &picture).await;
    assert_eq!(status, 200);

    // The follower finds what the writer finds, from its own index, and serves the
    // picture from its own copy.
    finds(&nina_a, "quetzal", &[&first]).await;
    finds(&nina_b, "quetzal", &[&first]).await;
    eventually("the follower serves the picture", || async {
        file_of(&nina_b, &picture).await == (200, original.clone())
    })
    .await;
    // An edit and a deletion leave the follower's index too.
    let second = publish(&nina_a, json!({"text": "a quetzal again"})).await;
    nina_a
        .patch(&format!("/posts/{first}"), json!({"text": "a hummingbird"}))
        .await
        .expect(200);
    finds(&nina_b, "quetzal", &[&second]).await;
    finds(&nina_b, "hummingbird", &[&first]).await;

    // The writer dies: the follower takes over with every file and document.
    a.kill();
    let third = publish(&nina_b, json!({"text": "quetzal after the failover"})).await;
    finds(&nina_b, "quetzal", &[&second, &third]).await;
    assert_eq!(file_of(&nina_b, &picture).await, (200, original.clone()));
    let later = uploaded(&nina_b, 2).await;
    let (status, later_bytes) = file_of(&nina_b, &later).await;
    assert_eq!(status, 200);

    // The old writer comes back as a follower: what was written meanwhile reaches its
    // index and its volume.
    let a = replicas.start("a");
    let nina_a = client(&a).with_token(access(&tokens));
    finds(&nina_a, "quetzal", &[&second, &third]).await;
    eventually("the old writer serves the new picture", || async {
        file_of(&nina_a, &later).await == (200, later_bytes.clone())
    })
    .await;
    // Deleted, the picture leaves the follower's volume at once.
    let sha256 = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&later_bytes));
    let copy = replicas
        .dir
        .path()
        .join("a/media-files/sha256")
        .join(&sha256[..2])
        .join(&sha256);
    assert!(copy.is_file(), "{copy:?}");
    nina_b.delete(&format!("/media/{later}")).await.expect(204);
    eventually("the deleted picture leaves the follower", || async {
        !copy.exists()
    })
    .await;
}

/// Uploads [`small_png`]`(seed)` as `c`'s media once the process takes it (it answers
/// `not-writer` until it holds media's lease); its id.
async fn uploaded(c: &Client, seed: u8) -> String {
    until_status(201, async || {
        c.raw("POST", "/media", "image/png", small_png(seed)).await
    })
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A small PNG, other bytes for each `seed` (the same bytes are stored once).
fn small_png(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(24, 24, |x, y| {
        image::Rgb([x as u8 * 9, y as u8 * 9, seed.wrapping_mul(31)])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    png.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_from_before_media_had_replicas_reach_a_new_follower() {
    let replicas = Replicas::of("auth,users,media");
    // One process without replicas: its files are on its volume only.
    let mut alone = replicas.start_with("a", &format!("127.0.0.1:{}", free_port()), &[]);
    registered_once_writing(&client(&alone), "nina").await;
    let (anon, tokens) = signed_in(&alone, &alone, "nina").await;
    let nina = anon.with_token(access(&tokens));
    let picture = uploaded(&nina, 3).await;
    let (status, original) = file_of(&nina, &picture).await;
    assert_eq!(status, 200);
    alone.terminate();

    // Scaled to two replicas: the writer shares what it holds, the follower copies it.
    let a = replicas.start("a");
    let nina_a = client(&a).with_token(access(&tokens));
    eventually("the writer serves the picture again", || async {
        file_of(&nina_a, &picture).await == (200, original.clone())
    })
    .await;
    let b = replicas.start("b");
    let nina_b = client(&b).with_token(access(&tokens));
    eventually("the new follower serves the old picture", || async {
        file_of(&nina_b, &picture).await == (200, original.clone())
    })
    .await;
}
