//! The replicated topology on one machine: a three-server NATS cluster (three processes
//! with routes), two `serve` processes each running every context as a replica, and two
//! gateways that balance reads over both and send writes to the writers the leases name.
//! The visibility matrix holds wherever a read lands; under a steady load of writes and
//! reads, the writing process is killed, then a NATS server, and every acknowledged write
//! is there afterwards, on every replica, applied once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use common::*;
use serde_json::{Value, json};

/// Every context, in each replica process.
const CONTEXTS: &str =
    "auth,users,groups,posts,feed,messages,media,search,notifications,moderation,analytics";

/// The lease's time to live here: the bound on a failover.
const LEASE_TTL_SECS: &str = "2";

struct Topology {
    servers: Vec<Nats>,
    dir: tempfile::TempDir,
    private_key: String,
    public_key: String,
    media_key: String,
    encryption_key: String,
}

impl Topology {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = agora_node::platform::tokens::KeyPair::generate();
        let (private, public) = (
            dir.path().join("private.pem"),
            dir.path().join("public.pem"),
        );
        std::fs::write(&private, &keys.private_pem).unwrap();
        std::fs::write(&public, &keys.public_pem).unwrap();
        Topology {
            servers: Nats::cluster(3),
            private_key: private.to_str().unwrap().into(),
            public_key: public.to_str().unwrap().into(),
            dir,
            media_key: agora_node::platform::media_urls::MediaUrls::generate(),
            encryption_key: agora_node::platform::keyring::PlatformKey::generate(),
        }
    }

    /// A process running every context as a replica, on `name`'s data directory, talking
    /// to NATS server `server` (the client learns the others from it).
    fn replica(&self, name: &str, server: usize) -> Process {
        let addr = format!("127.0.0.1:{}", free_port());
        let url = format!("http://{addr}");
        let data = self.dir.path().join(name);
        let nats_url = self.servers[server].url();
        Process::start_at(
            &[
                "serve",
                "--context",
                CONTEXTS,
                "--data-dir",
                data.to_str().unwrap(),
                "--jwt-private-key",
                &self.private_key,
                "--replicated",
                "--lease-ttl-secs",
                LEASE_TTL_SECS,
                "--advertise-url",
                &url,
            ],
            &[
                ("AGORA_NATS_URL", nats_url.as_str()),
                ("AGORA_STREAM_REPLICAS", "3"),
                ("AGORA_MEDIA_URL_KEY", self.media_key.as_str()),
                ("AGORA_ENCRYPTION_KEY", self.encryption_key.as_str()),
                ("AGORA_PLATFORM", "demo"),
                ("AGORA_LOG_FORMAT", "json"),
                ("RUST_LOG", "info"),
            ],
            &addr,
        )
    }

    /// A gateway that reaches every context at `replicas` (their URLs, comma-separated).
    fn gateway(&self, replicas: &str, server: usize) -> Process {
        let nats_url = self.servers[server].url();
        let upstreams: Vec<(String, String)> = CONTEXTS
            .split(',')
            .map(|c| {
                (
                    format!("AGORA_UPSTREAM_{}", c.to_uppercase()),
                    replicas.into(),
                )
            })
            .collect();
        let mut env: Vec<(&str, &str)> = upstreams
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.extend([
            ("AGORA_NATS_URL", nats_url.as_str()),
            ("AGORA_RATE_LIMIT_USER", "1000000"),
            ("AGORA_RATE_LIMIT_IP", "1000000"),
        ]);
        Process::start(
            &[
                "gateway",
                "--jwt-public-key",
                &self.public_key,
                "--platform",
                "demo",
            ],
            &env,
        )
    }
}

/// Each context of `p` and its role, from `GET /ops/replicas` (empty while it does not
/// answer).
async fn roles(p: &Process) -> BTreeMap<String, String> {
    let Ok(response) = reqwest::get(format!("{}/ops/replicas", p.base)).await else {
        return BTreeMap::new();
    };
    let all: Value = response.json().await.unwrap_or(Value::Null);
    all.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["context"].as_str().unwrap_or_default().into(),
                r["role"].as_str().unwrap_or_default().into(),
            )
        })
        .collect()
}

/// Waits until `p` holds every context in `role`.
async fn all_in_role(p: &Process, role: &str) {
    let start = Instant::now();
    loop {
        let roles = roles(p).await;
        if roles.len() == CONTEXTS.split(',').count() && roles.values().all(|r| r == role) {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{} is not {role} of every context: {roles:?}",
            p.base
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until each context has exactly one writer among `a` and `b` (losing a NATS
/// server can move a lease: a writer that cannot renew for most of the TTL lets go).
async fn one_writer_each(a: &Process, b: &Process) {
    let start = Instant::now();
    loop {
        let (on_a, on_b) = (roles(a).await, roles(b).await);
        let settled = CONTEXTS.split(',').all(|c| {
            let writers = [&on_a, &on_b]
                .iter()
                .filter(|roles| roles.get(c).map(String::as_str) == Some("writer"))
                .count();
            let known = on_a.contains_key(c) && on_b.contains_key(c);
            known && writers == 1
        });
        if settled {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "not one writer per context: a {on_a:?}, b {on_b:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// What the steady load did: the posts acknowledged (each with a reaction acknowledged
/// after it), the writes refused (retryable 503s), the reads served.
#[derive(Default)]
struct Load {
    posts: Vec<String>,
    refused: usize,
    reads: usize,
}

/// Writes (a post, then the reader's reaction to it) through `writes` and reads the
/// reader's feed through `reads`, until `stop`; counts acknowledged posts in `done`.
async fn steady_load(
    author: &Client,
    reader_writes: &Client,
    reader_reads: &Client,
    stop: &AtomicBool,
    done: &AtomicUsize,
) -> Load {
    let mut load = Load::default();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let posted = author
            .post("/posts", json!({"text": format!("steady {i}")}))
            .await;
        match posted.status {
            201 => {}
            503 => {
                load.refused += 1;
                continue;
            }
            other => panic!("a post answered {other}: {}", posted.body),
        }
        let id = posted.body["id"].as_str().unwrap().to_string();
        // The reaction is retried until taken: a writer change may refuse it for a while.
        let reacted = until_status(200, async || {
            reader_writes
                .send(
                    "PUT",
                    &format!("/posts/{id}/reactions"),
                    Some(json!({"kind": "like"})),
                )
                .await
        })
        .await;
        assert_eq!(reacted.status, 200, "{}", reacted.body);
        load.posts.push(id);
        done.fetch_add(1, Ordering::Relaxed);
        let read = reader_reads.get("/feed?order=recent&limit=10").await;
        assert!(
            read.status == 200 || read.status == 503,
            "a read answered {}: {}",
            read.status,
            read.body
        );
        load.reads += usize::from(read.status == 200);
    }
    load
}

/// Waits until the steady load has acknowledged `n` more posts than it had.
async fn goes_on(done: &AtomicUsize, n: usize, what: &str) {
    let from = done.load(Ordering::Relaxed);
    eventually(what, || async { done.load(Ordering::Relaxed) >= from + n }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_behind_two_gateways_keep_every_acknowledged_write_through_losses() {
    let mut topology = Topology::new();
    let mut a = topology.replica("a", 0);
    all_in_role(&a, "writer").await;
    let b = topology.replica("b", 1);
    all_in_role(&b, "follower").await;
    let replicas = format!("{},{}", a.base, b.base);
    let (one, two) = (
        topology.gateway(&replicas, 2),
        topology.gateway(&replicas, 1),
    );
    // One observer of every write: whichever replica a read lands on, it reads at least
    // as new as what was acknowledged (as each app does with its own writes).
    let seen = Seen::default();
    let via_one = Client::of(&one.base).observing(&seen);
    let via_two = Client::of(&two.base).observing(&seen);

    // The visibility matrix, signing up through one gateway and reading through the
    // other, reads landing on either replica.
    visibility::exactly_who_should_see_a_post_sees_it(&via_two, async |name| {
        signed_up_via(&via_one, &a, name).await
    })
    .await;

    // A steady load: an author posts, a friend reacts to each post and reads the feed.
    let (author_id, author_tokens) = signed_up_via(&via_one, &a, "steady").await;
    let (reader_id, reader_tokens) = signed_up_via(&via_one, &a, "watcher").await;
    let author = (author_id, via_one.with_token(access(&author_tokens)));
    let reader = (reader_id, via_one.with_token(access(&reader_tokens)));
    profile_appears(&author.1).await;
    profile_appears(&reader.1).await;
    befriend(&author, &reader).await;
    let reader_reads = via_two.with_token(access(&reader_tokens));
    let (stop, done) = (AtomicBool::new(false), AtomicUsize::new(0));
    let losses = async {
        goes_on(&done, 20, "the load runs").await;
        // The writing process dies: the other takes every lease over and the load goes on.
        a.kill();
        let killed = Instant::now();
        goes_on(&done, 20, "the load goes on after the writer died").await;
        println!(
            "writes flowed again {} ms after the kill",
            killed.elapsed().as_millis()
        );
        all_in_role(&b, "writer").await;
        // Then the NATS server the new writer talks to: it moves to the survivors.
        topology.servers[1].stop();
        goes_on(&done, 20, "the load goes on after a NATS server died").await;
        stop.store(true, Ordering::Relaxed);
    };
    let (load, ()) = tokio::join!(
        steady_load(&author.1, &reader.1, &reader_reads, &stop, &done),
        losses
    );
    println!(
        "{} posts acknowledged, {} writes refused (retryable), {} feed reads served",
        load.posts.len(),
        load.refused,
        load.reads
    );

    // Both come back: the server rejoins, the old writer catches up (following, or
    // writing a context whose lease moved while a NATS server was gone).
    topology.servers[1].restart();
    let a = topology.replica("a", 0);
    one_writer_each(&a, &b).await;

    // Every acknowledged post is on every replica, read with the newest token.
    for replica in [&a, &b] {
        let direct = Client::of(&replica.base)
            .observing(&seen)
            .with_token(access(&reader_tokens));
        for post in &load.posts {
            let read = until_status(200, async || direct.get(&format!("/posts/{post}")).await)
                .await
                .expect(200);
            // Applied once: one reaction, counted once.
            assert_eq!(read["reactions"]["like"], 1, "{read}");
        }
    }
    // In the friend's feed, each exactly once; and the reaction counted once by the
    // consumer that counts them (analytics), across the writer change.
    eventually(
        "every acknowledged post reaches the friend's feed",
        || async {
            let feed = whole_recent_feed(&reader_reads).await;
            load.posts.iter().all(|p| feed.contains(p))
        },
    )
    .await;
    let feed = whole_recent_feed(&reader_reads).await;
    for post in &load.posts {
        assert_eq!(
            feed.iter().filter(|id| *id == post).count(),
            1,
            "{post} in the feed"
        );
    }
    // And analytics, a consumer of posts' events, counts each reaction exactly once
    // (it dropped one made at a loss while a restarted consumer took events out of order).
    let author_reads = via_two.with_token(access(&author_tokens));
    let likes = async |post: &String| {
        let figures = author_reads.get(&format!("/analytics/posts/{post}")).await;
        figures.body["reactions"]["like"].as_u64().unwrap_or(0)
    };
    let start = Instant::now();
    loop {
        let mut uncounted = Vec::new();
        for (i, post) in load.posts.iter().enumerate() {
            if likes(post).await == 0 {
                uncounted.push((i, post));
            }
        }
        if uncounted.is_empty() {
            break;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            // What each replica holds, asked directly (the gateways ask them in turn).
            let mut held = Vec::new();
            for replica in [&a, &b] {
                let direct = Client::of(&replica.base).with_token(access(&author_tokens));
                for (_, post) in &uncounted {
                    let figures = direct.get(&format!("/analytics/posts/{post}")).await;
                    held.push(format!(
                        "{}: {} {}",
                        replica.base, figures.status, figures.body
                    ));
                }
            }
            panic!(
                "analytics never counted the reactions to {uncounted:?} (of {}); replicas: {held:#?}",
                load.posts.len()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for post in &load.posts {
        assert_eq!(likes(post).await, 1, "{post}'s reaction counted once");
    }
}
