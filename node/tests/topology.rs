//! The cluster topology on one machine: each context in its own `serve` process with its
//! own data, and `gateway` routing to them over HTTP, all on one real nats-server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// A fresh signing key pair written to `dir`, as the operator's Secret would hold it: the
/// paths of the private and the public PEM.
fn key_files(dir: &std::path::Path) -> (String, String) {
    let keys = agora_node::platform::tokens::KeyPair::generate();
    let (private, public) = (dir.join("private.pem"), dir.join("public.pem"));
    std::fs::write(&private, &keys.private_pem).unwrap();
    std::fs::write(&public, &keys.public_pem).unwrap();
    let path = |p: std::path::PathBuf| p.to_str().unwrap().to_string();
    (path(private), path(public))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_in_separate_processes_behind_the_gateway() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = key_files(dir.path());
    let (private, public) = (private.as_str(), public.as_str());
    let data = |c: &str| dir.path().join(c).to_str().unwrap().to_string();
    let nats_url = nats.url();
    let media_key = agora_node::platform::media_urls::MediaUrls::generate();
    let common = [
        ("AGORA_NATS_URL", nats_url.as_str()),
        ("AGORA_MEDIA_URL_KEY", media_key.as_str()),
        ("AGORA_PLATFORM", "demo"),
        ("AGORA_LOG_FORMAT", "json"),
        ("RUST_LOG", "info"),
    ];

    let auth_data = data("auth");
    let auth = Process::start(
        &[
            "serve",
            "--context",
            "auth",
            "--data-dir",
            &auth_data,
            "--jwt-private-key",
            private,
        ],
        &common,
    );
    let serve = |context: &str| {
        let dir = data(context);
        Process::start(
            &[
                "serve",
                "--context",
                context,
                "--data-dir",
                &dir,
                "--jwt-public-key",
                public,
            ],
            &common,
        )
    };
    let (users, groups, posts, feed) = (
        serve("users"),
        serve("groups"),
        serve("posts"),
        serve("feed"),
    );
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let gateway = Process::start(
        &["gateway", "--jwt-public-key", public, "--platform", "demo"],
        &[
            ("AGORA_METRICS_ADDR", metrics_addr.as_str()),
            ("AGORA_UPSTREAM_AUTH", auth.base.as_str()),
            ("AGORA_UPSTREAM_USERS", users.base.as_str()),
            ("AGORA_UPSTREAM_GROUPS", groups.base.as_str()),
            ("AGORA_UPSTREAM_POSTS", posts.base.as_str()),
            ("AGORA_UPSTREAM_FEED", feed.base.as_str()),
        ],
    );
    let c = Client::of(&gateway.base);

    let (id, tokens) = signed_up_via(&c, &auth, "nina").await;
    let nina = c.with_token(access(&tokens));
    // The users process built the profile from the event auth published.
    assert_eq!(profile_appears(&nina).await["id"], id.as_str());

    // Instant revocation: a second session logs out; every other process (the gateway,
    // users, posts and feed, asked directly) refuses its access token within about a
    // second, from auth's `SessionsRevoked` event, long before the token expires.
    let second = c
        .post(
            "/auth/login",
            json!({"login": "nina", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let direct = |p: &Process| Client {
        base: p.base.clone(),
        http: reqwest::Client::new(),
        token: Some(access(&second).to_string()),
        seen: None,
    };
    let paths = [
        (direct(&gateway), "/users/me"),
        (direct(&users), "/users/me"),
        (direct(&posts), &format!("/users/{id}/posts") as &str),
        (direct(&feed), "/feed"),
    ];
    for (client, path) in &paths {
        client.get(path).await.expect(200);
    }
    c.post(
        "/auth/logout",
        json!({"refresh_token": second["refresh_token"]}),
    )
    .await
    .expect(204);
    for (client, path) in &paths {
        let refused = until_status(401, async || client.get(path).await).await;
        assert!(
            refused.problem(401)["detail"]
                .as_str()
                .unwrap()
                .contains("ended"),
            "{path}"
        );
    }
    nina.get("/users/me").await.expect(200);

    // The edge: request ids, bad tokens refused before any context, unknown routes, no mailbox.
    let reply = nina.get("/users/me").await;
    assert!(reply.headers.get("x-request-id").is_some());
    c.with_token("forged").get("/users/me").await.problem(401);
    c.get("/nowhere").await.problem(404);
    c.get("/dev/mailbox").await.problem(404);
    // Two contexts serve `/users/me` (users; auth its DELETE): a 405 names both.
    let options = nina.send("OPTIONS", "/users/me", None).await;
    assert_eq!(options.status, 405);
    let allow = options.headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("DELETE"), "{allow}");
    let doc = reqwest::get(format!("{}/api/v1/openapi.json", gateway.base))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/users/me"].is_object());
    for p in [&auth, &users, &gateway] {
        assert_eq!(
            reqwest::get(format!("{}/readyz", p.base))
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let metrics = reqwest::get(format!("{}/metrics", users.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("agora_events_applied_total{context=\"users\"} 1"),
        "{metrics}"
    );
    // The gateway's scrape port serves its metrics (and nothing else).
    let scrape = format!("http://{metrics_addr}");
    let gateway_metrics = reqwest::get(format!("{scrape}/metrics")).await.unwrap();
    assert_eq!(gateway_metrics.status(), 200);
    assert!(
        gateway_metrics
            .text()
            .await
            .unwrap()
            .contains("agora_http_requests")
    );
    assert_eq!(
        reqwest::get(format!("{scrape}/api/v1/users/me"))
            .await
            .unwrap()
            .status(),
        404
    );

    // Posts and the feed, each in its own process, through the gateway.
    let oleg_id = register(&c, "oleg").await;
    c.post(
        "/auth/verify",
        json!({"token": logged_token(&auth), "password": PASSWORD}),
    )
    .await
    .expect(200);
    let tokens = c
        .post(
            "/auth/login",
            json!({"login": "oleg", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let oleg = c.with_token(access(&tokens));
    profile_appears(&oleg).await;
    nina.post_empty(&format!("/users/{oleg_id}/friend-request"))
        .await
        .expect(201);
    oleg.post_empty(&format!("/friend-requests/{id}/accept"))
        .await
        .expect(204);
    let group = nina
        .post("/groups", json!({"name": "topology", "privacy": "public"}))
        .await
        .expect(201);
    assert_eq!(group["membership"], "admin");
    let start = std::time::Instant::now();
    let post = loop {
        // posts learns of the friendship from users' events.
        let r = nina
            .post(
                "/posts",
                json!({"text": "across processes", "visibility": "friends"}),
            )
            .await;
        let id = r.expect(201)["id"].as_str().unwrap().to_string();
        if oleg.get(&format!("/posts/{id}")).await.status == 200 {
            break id;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "oleg never could read nina's post"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let start = std::time::Instant::now();
    loop {
        let feed = oleg.get("/feed?order=recent").await.expect(200);
        if feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == post.as_str())
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nina's post never reached oleg's feed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        oleg.get(&format!("/users/{id}/posts")).await.expect(200)["items"][0]["text"],
        "across processes"
    );
}

/// Push across gateways: the sender on gateway 1, the recipient on gateway 2; gateway 2
/// dies, the client reconnects to gateway 1 with its last id and gets exactly what it
/// missed; then a notification made in its own process arrives on the same socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_crosses_gateways_and_survives_losing_one() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = key_files(dir.path());
    let (private, public) = (private.as_str(), public.as_str());
    let data = |c: &str| dir.path().join(c).to_str().unwrap().to_string();
    let nats_url = nats.url();
    let media_key = agora_node::platform::media_urls::MediaUrls::generate();
    let common = [
        ("AGORA_NATS_URL", nats_url.as_str()),
        ("AGORA_MEDIA_URL_KEY", media_key.as_str()),
        ("AGORA_PLATFORM", "demo"),
        ("AGORA_LOG_FORMAT", "json"),
        ("RUST_LOG", "info"),
    ];
    let auth_data = data("auth");
    let auth = Process::start(
        &[
            "serve",
            "--context",
            "auth",
            "--data-dir",
            &auth_data,
            "--jwt-private-key",
            private,
        ],
        &common,
    );
    let serve = |context: &str| {
        let dir = data(context);
        let args = [
            "serve",
            "--context",
            context,
            "--data-dir",
            &dir,
            "--jwt-public-key",
            public,
        ];
        Process::start(&args, &common)
    };
    let (users, messages) = (serve("users"), serve("messages"));
    let notifications = serve("notifications");
    let upstreams = [
        ("AGORA_UPSTREAM_AUTH", auth.base.as_str()),
        ("AGORA_UPSTREAM_USERS", users.base.as_str()),
        ("AGORA_UPSTREAM_MESSAGES", messages.base.as_str()),
        ("AGORA_UPSTREAM_NOTIFICATIONS", notifications.base.as_str()),
        ("AGORA_NATS_URL", nats_url.as_str()),
    ];
    let gateway = || {
        Process::start(
            &["gateway", "--jwt-public-key", public, "--platform", "demo"],
            &upstreams,
        )
    };
    let (one, mut two) = (gateway(), gateway());
    let via = |g: &Process| Client::of(&g.base);
    let sign_up = async |name: &str| {
        let c = via(&one);
        let id = register(&c, name).await;
        c.post(
            "/auth/verify",
            json!({"token": logged_token(&auth), "password": PASSWORD}),
        )
        .await
        .expect(200);
        let tokens = c
            .post("/auth/login", json!({"login": name, "password": PASSWORD}))
            .await
            .expect(200);
        (id, access(&tokens).to_string())
    };
    let (_ann, ann_token) = sign_up("ann").await;
    let (bob, bob_token) = sign_up("bob").await;
    let ann_one = via(&one).with_token(&ann_token);
    let start = std::time::Instant::now();
    let conv = loop {
        // messages learns of bob's account from auth's event.
        let r = ann_one
            .post("/conversations", json!({"kind": "direct", "user_id": bob}))
            .await;
        if r.status == 201 {
            break r.body["id"].as_str().unwrap().to_string();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{}", r.body);
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let say = async |text: &str| {
        ann_one
            .post(
                &format!("/conversations/{conv}/messages"),
                json!({ "text": text }),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let mut bob_two = stream_socket(&two.base, Some(&bob_token), "")
        .await
        .unwrap();
    let first = say("through two").await;
    assert_eq!(
        next_of(&mut bob_two, "message.created").await["id"],
        first.as_str()
    );

    two.kill();
    drop(bob_two);
    let missed = [say("while away").await, say("still away").await];
    let mut bob_one = stream_socket(&one.base, Some(&bob_token), &format!("?since={first}"))
        .await
        .unwrap();
    for id in &missed {
        assert_eq!(
            next_of(&mut bob_one, "message.created").await["id"],
            id.as_str()
        );
    }
    let live = say("back").await;
    assert_eq!(
        next_of(&mut bob_one, "message.created").await["id"],
        live.as_str(),
        "exactly the missed ones, then live"
    );

    // A notification made in its own process reaches bob's socket through the bus:
    // ann asks bob for friendship (users → JetStream → notifications → core NATS →
    // gateway 1).
    ann_one
        .post_empty(&format!("/users/{bob}/friend-request"))
        .await
        .expect(201);
    let pushed = next_of(&mut bob_one, "notification").await;
    assert_eq!(pushed["data"]["notification"]["kind"], "friend_request");
    let listed = via(&one)
        .with_token(&bob_token)
        .get("/notifications")
        .await
        .expect(200);
    assert_eq!(listed["items"][0]["kind"], "friend_request");
}

/// An MP4 as far as sniffing goes: an `ftyp` box, then `len` bytes.
fn mp4(len: usize) -> Vec<u8> {
    let mut out = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    out.extend((0..len).map(|i| (i % 251) as u8));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_stream_through_the_gateway_to_the_media_process() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = key_files(dir.path());
    let media_key = dir.path().join("media-url.key");
    std::fs::write(
        &media_key,
        agora_node::platform::media_urls::MediaUrls::generate(),
    )
    .unwrap();
    let data = |c: &str| dir.path().join(c).to_str().unwrap().to_string();
    let nats_url = nats.url();
    let common = [
        ("AGORA_NATS_URL", nats_url.as_str()),
        ("AGORA_LOG_FORMAT", "json"),
        ("RUST_LOG", "info"),
        ("AGORA_MEDIA_MAX_UPLOAD_MIB", "1"),
    ];
    let (auth_data, media_data) = (data("auth"), data("media"));
    let auth = Process::start(
        &[
            "serve",
            "--context",
            "auth",
            "--data-dir",
            &auth_data,
            "--jwt-private-key",
            &private,
        ],
        &common,
    );
    let media = Process::start(
        &[
            "serve",
            "--context",
            "media",
            "--data-dir",
            &media_data,
            "--jwt-public-key",
            &public,
            "--media-url-key",
            media_key.to_str().unwrap(),
        ],
        &common,
    );
    let gateway = Process::start(
        &["gateway", "--jwt-public-key", &public],
        &[
            ("AGORA_UPSTREAM_AUTH", auth.base.as_str()),
            ("AGORA_UPSTREAM_MEDIA", media.base.as_str()),
            ("AGORA_MEDIA_MAX_UPLOAD_MIB", "1"),
        ],
    );
    let c = Client::of(&gateway.base);
    register(&c, "uma").await;
    let token = logged_token(&auth);
    c.post(
        "/auth/verify",
        json!({"token": token, "password": PASSWORD}),
    )
    .await
    .expect(200);
    let tokens = c
        .post("/auth/login", json!({"login": "uma", "password": PASSWORD}))
        .await
        .expect(200);
    let uma = c.with_token(access(&tokens));

    // 300 KB: past the gateway's 64 KiB limit for JSON, within the upload limit.
    let video = mp4(300_000);
    let m = uma
        .raw("POST", "/media", "video/mp4", video.clone())
        .await
        .expect(201);
    let signed = m["url"].as_str().unwrap().strip_prefix("/api/v1").unwrap();
    let fetched = reqwest::get(format!("{}/api/v1{signed}", gateway.base))
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "video/mp4");
    assert_eq!(
        fetched.bytes().await.unwrap().to_vec(),
        video,
        "anyone with the signed URL"
    );
    let part = reqwest::Client::new()
        .get(format!("{}/api/v1{signed}", gateway.base))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), video[10..20]);

    uma.raw("POST", "/media", "video/mp4", mp4(1_100_000))
        .await
        .problem(413);
    let big_json = json!({"login": "x".repeat(100_000), "password": "y"});
    c.post("/auth/login", big_json).await.problem(413);
    // A method the context does not take, with a body it never reads: its 405 comes back
    // through the gateway every time, never a 503 from a connection closed under the
    // gateway's feet.
    for size in [40, 4_000, 40_000] {
        for _ in 0..150 {
            let body = json!({"login": "x".repeat(size), "password": "y"});
            let reply = c.send("PUT", "/auth/login", Some(body)).await;
            assert_eq!(reply.status, 405, "{size} bytes: {:?}", reply.body);
        }
    }
}
