//! `rebuild`: projections dropped and rebuilt from the event stream give the same answers,
//! in a running node (`/ops/rebuild/{context}`) and in a stopped data directory
//! (`agora-node rebuild`), and a rebuild under load fails no request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::collections::BTreeMap;

use agora_node::platform::context::Context;
use common::*;
use serde_json::{Value, json};

fn id(v: Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// A small network: ann and bob are friends, cat blocked ann, mia is in ann's private
/// group, bob follows ann's page; posts of every audience and visibility, with a
/// reaction and a comment.
struct World {
    people: Vec<(String, Client)>,
    paths: Vec<String>,
}

async fn world(node: &Node) -> World {
    let anon = node.client();
    let ann = user(&anon, "ann").await;
    let bob = user(&anon, "bob").await;
    let cat = user(&anon, "cat").await;
    let mia = user(&anon, "mia").await;
    bob.1
        .post_empty(&format!("/users/{}/friend-request", ann.0))
        .await
        .expect(201);
    ann.1
        .post_empty(&format!("/friend-requests/{}/accept", bob.0))
        .await
        .expect(204);
    cat.1
        .post_empty(&format!("/users/{}/block", ann.0))
        .await
        .expect(204);
    for p in [&ann, &bob, &cat, &mia] {
        p.1.get("/feed").await.expect(200); // active readers get fan-out
    }
    let group = id(ann
        .1
        .post("/groups", json!({"name": "circle", "privacy": "private"}))
        .await
        .expect(201));
    mia.1
        .post_empty(&format!("/groups/{group}/join"))
        .await
        .expect(200);
    ann.1
        .post_empty(&format!("/groups/{group}/requests/{}/approve", mia.0))
        .await
        .expect(204);
    let page = id(ann
        .1
        .post("/pages", json!({"name": "News"}))
        .await
        .expect(201));
    bob.1
        .post_empty(&format!("/pages/{page}/follow"))
        .await
        .expect(204);
    let mut posts = Vec::new();
    for body in [
        json!({"text": "friends #one", "visibility": "friends"}),
        json!({"text": "only me", "visibility": "only_me"}),
        json!({"text": "hello world", "visibility": "public"}),
        json!({"text": "circle", "audience": {"type": "group", "id": group}}),
        json!({"text": "news", "audience": {"type": "page", "id": page}}),
    ] {
        // The projections of friendships and groups arrive by events: retry until they did.
        let mut tries = 0;
        let post = loop {
            let r = ann.1.post("/posts", body.clone()).await;
            if r.status == 201 || tries == 400 {
                break id(r.expect(201));
            }
            tries += 1;
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        };
        posts.push(post);
    }
    bob.1
        .send(
            "PUT",
            &format!("/posts/{}/reactions", posts[0]),
            Some(json!({"kind": "love"})),
        )
        .await
        .expect(200);
    bob.1
        .post(
            &format!("/posts/{}/comments", posts[0]),
            json!({"text": "hi"}),
        )
        .await
        .expect(201);
    // ann moderates her group: mia's off-topic post is reported and removed, so removals
    // are part of what every rebuilt context must reproduce.
    let off_topic = publish(
        &mia.1,
        json!({"text": "off topic", "audience": {"type": "group", "id": group}}),
    )
    .await;
    let report = until_status(201, async || {
        ann.1
            .post(
                "/reports",
                json!({"target": {"kind": "post", "id": off_topic}, "reason": "other"}),
            )
            .await
    })
    .await
    .expect(201);
    ann.1
        .post(
            &format!("/moderation/reports/{}/resolve", id(report)),
            json!({"action": "remove", "reason": "off topic"}),
        )
        .await
        .expect(200);
    posts.push(off_topic);
    // ann reads one of her notifications: a read mark (her own record) that must still
    // apply to the rebuilt notification, which keeps its id.
    let mut tries = 0;
    let first = loop {
        let list = ann.1.get("/notifications").await.expect(200);
        if let Some(n) = list["items"].as_array().and_then(|i| i.last()) {
            break n["id"].as_str().unwrap().to_string();
        }
        assert!(tries < 400, "ann never got a notification");
        tries += 1;
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    ann.1
        .post_empty(&format!("/notifications/{first}/read"))
        .await
        .expect(204);
    let mut paths = vec![
        "/notifications?limit=100".to_string(),
        "/notifications/unread".to_string(),
        "/feed?order=recent&limit=100".to_string(),
        "/feed?order=ranked&limit=100".to_string(),
        format!("/users/{}/posts", ann.0),
        format!("/posts?group={group}"),
        format!("/posts?page={page}"),
        "/search?type=posts&q=friends%20world%20circle%20news".to_string(),
        "/search?type=posts&q=%23one".to_string(),
        "/search?type=posts&q=circle".to_string(),
        "/search?type=people&q=an".to_string(),
        "/search?type=pages&q=news".to_string(),
        "/search?type=groups&q=circ".to_string(),
        "/trending".to_string(),
        "/search?type=posts&q=topic".to_string(),
        "/reports".to_string(),
        format!("/moderation/reports?group={group}"),
    ];
    for p in &posts {
        paths.push(format!("/posts/{p}"));
        paths.push(format!("/posts/{p}/comments"));
    }
    World {
        people: vec![ann, bob, cat, mia],
        paths,
    }
}

/// Ranking scores decay with time: compare everything but them.
fn without_scores(mut v: Value) -> Value {
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            if let Some(o) = item.as_object_mut() {
                o.remove("score");
            }
        }
    }
    v
}

/// What every person reads on every path: status and body.
async fn answers(w: &World, node: &Node) -> BTreeMap<String, (u16, Value)> {
    let mut out = BTreeMap::new();
    for (who, c) in &w.people {
        let c = Client {
            base: node.base.clone(),
            ..c.clone()
        };
        for path in &w.paths {
            let r = c.get(path).await;
            out.insert(format!("{who} {path}"), (r.status, without_scores(r.body)));
        }
    }
    out
}

async fn converged(w: &World, node: &Node) -> BTreeMap<String, (u16, Value)> {
    // Let every event settle: the same answers twice in a row, further apart than search's
    // commits under a stream of changes (500 ms), so a pending commit cannot pass for calm.
    let mut last = answers(w, node).await;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let now = answers(w, node).await;
        if now == last {
            return now;
        }
        last = now;
    }
}

const REBUILT: [Context; 6] = [
    Context::Groups,
    Context::Posts,
    Context::Feed,
    Context::Notifications,
    Context::Search,
    Context::Moderation,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_projections_give_the_same_answers_live_and_stopped() {
    let nats = Nats::start();
    let mut node = Node::start(&nats);
    let w = world(&node).await;
    let before = converged(&w, &node).await;
    assert!(
        before.values().any(|(s, _)| *s == 404),
        "privacy hides something"
    );
    let ann_notes = &before[&format!("{} /notifications?limit=100", w.people[0].0)].1["items"];
    assert!(
        ann_notes
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["read"] == true)
            && ann_notes
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["read"] == false),
        "notifications read and unread: {ann_notes}"
    );

    // Live: each context rebuilds while it serves.
    let http = reqwest::Client::new();
    for context in REBUILT {
        let report: Value = http
            .post(format!("{}/ops/rebuild/{context}", node.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(report["events"].as_u64().unwrap() > 0, "{report}");
        assert!(report["records"].as_u64().unwrap() > 0, "{report}");
    }
    assert_eq!(answers(&w, &node).await, before);

    // Stopped: wipe every projection record, rebuild from the command line, restart.
    assert!(node.terminate().success());
    for context in REBUILT {
        let report = rebuild_stopped(&node.data, &nats, context);
        assert!(report["records"].as_u64().unwrap() > 0, "{report}");
    }
    node.restart();
    assert_eq!(answers(&w, &node).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_under_load_fails_no_request_and_nothing_goes_backwards() {
    let nats = Nats::start();
    let unlimited = [
        ("AGORA_RATE_LIMIT_IP", "1000000"),
        ("AGORA_RATE_LIMIT_USER", "1000000"),
    ];
    let node = Node::start_with(&nats, &unlimited);
    let anon = node.client();
    let ann = user(&anon, "ann").await;
    let bob = user(&anon, "bob").await;
    bob.1
        .post_empty(&format!("/users/{}/friend-request", ann.0))
        .await
        .expect(201);
    ann.1
        .post_empty(&format!("/friend-requests/{}/accept", bob.0))
        .await
        .expect(204);
    bob.1.get("/feed").await.expect(200);
    let mut last = String::new();
    for i in 0..400 {
        last = id(ann
            .1
            .post("/posts", json!({"text": format!("post {i}")}))
            .await
            .expect(201));
    }
    eventually("bob's feed has ann's posts", || async {
        let feed = bob.1.get("/feed?order=recent&limit=1").await.expect(200);
        feed["items"][0]["id"] == json!(last)
    })
    .await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (bob, stop) = (bob.1.clone(), stop.clone());
        tokio::spawn(async move {
            let mut newest = String::new();
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let feed = bob.get("/feed?order=recent&limit=20").await.expect(200);
                let items = feed["items"].as_array().unwrap();
                assert_eq!(items.len(), 20, "a full page every time");
                let first = items[0]["id"].as_str().unwrap().to_string();
                assert!(
                    first >= newest,
                    "the feed went back from {newest} to {first}"
                );
                newest = first;
                reads += 1;
            }
            reads
        })
    };
    let writer = {
        let (ann, stop) = (ann.1.clone(), stop.clone());
        tokio::spawn(async move {
            let mut written = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = ann.post("/posts", json!({"text": "during"})).await;
                written.push(id(r.expect(201)));
            }
            written
        })
    };
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let report: Value = http
            .post(format!("{}/ops/rebuild/feed", node.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(report["events"].as_u64().unwrap() >= 400, "{report}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.await.unwrap() > 0);
    let written = writer.await.unwrap();
    let newest = written.last().unwrap().clone();
    eventually(
        "posts written during the rebuilds reach the feed",
        || async {
            let feed = bob.1.get("/feed?order=recent&limit=1").await.expect(200);
            feed["items"][0]["id"] == json!(newest)
        },
    )
    .await;
    // Nothing applied twice: each post is in the feed once.
    let page = bob.1.get("/feed?order=recent&limit=100").await.expect(200);
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
}

/// The operator's way in: `POST /ops/rebuilds/{context}` starts a rebuild job and answers
/// at once, the same id again is the same job, `GET` follows it until done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_job_runs_in_the_background_and_one_id_names_one_job() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_CONTROL_TOKEN", "not-needed-on-loopback")]);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "ann").await;
    profile_appears(&anon.with_token(access(&tokens))).await;
    let http = reqwest::Client::new();
    let jobs = format!("{}/ops/rebuilds/groups", node.base);
    assert_eq!(
        http.get(&jobs).send().await.unwrap().status(),
        404,
        "none asked yet"
    );

    let start = || http.post(&jobs).json(&json!({"id": "r1"})).send();
    let first = start().await.unwrap();
    assert_eq!(first.status(), 202);
    let job: Value = first.json().await.unwrap();
    assert_eq!(job["id"], "r1");
    let job = || async {
        http.get(&jobs)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    eventually("the job ends", || async {
        job().await["state"] != "running"
    })
    .await;
    let done = job().await;
    assert_eq!(done["state"], "done", "{done}");
    assert!(done["report"]["events"].as_u64().unwrap() > 0, "{done}");
    // Asked again (a retried request): the finished job, not a second rebuild.
    let again: Value = start().await.unwrap().json().await.unwrap();
    assert_eq!(again, done);

    let bad = http.post(&jobs).json(&json!({})).send().await.unwrap();
    assert!(bad.status().is_client_error(), "{}", bad.status());
    let elsewhere = http
        .post(format!("{}/ops/rebuilds/nowhere", node.base))
        .json(&json!({"id": "r1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
}
