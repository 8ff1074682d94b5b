//! Messaging through the gateway: direct and group conversations, who may message whom,
//! idempotent sends, edits and deletes, reactions, read state and receipts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};

async fn direct(a: &Client, b: &str) -> Value {
    until_status(201, async || {
        a.post("/conversations", json!({"kind": "direct", "user_id": b}))
            .await
    })
    .await
    .expect(201)
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_and_read_each_other() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);

    let c = direct(&ann.1, &bob.0).await;
    let conv = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["kind"], "direct");
    // The pair has one direct conversation, whoever starts it.
    let again = bob
        .1
        .post(
            "/conversations",
            json!({"kind": "direct", "user_id": ann.0}),
        )
        .await
        .expect(200);
    assert_eq!(again["id"], conv.as_str());

    let path = format!("/conversations/{conv}/messages");
    let hello = ann
        .1
        .post(&path, json!({"text": "  hello bob  "}))
        .await
        .expect(201);
    assert_eq!(hello["text"], "hello bob");
    let hi = bob
        .1
        .post(
            &path,
            json!({"text": "hi ann", "reply_to": hello["id"].as_str().unwrap()}),
        )
        .await
        .expect(201);
    assert_eq!(hi["reply_to"], hello["id"]);

    // Newest first, stable cursor.
    let first = ann.1.get(&format!("{path}?limit=1")).await.expect(200);
    assert_eq!(ids(&first), [hi["id"].as_str().unwrap()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = ann
        .1
        .get(&format!("{path}?limit=1&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(ids(&second), [hello["id"].as_str().unwrap()]);
    assert!(second["next_cursor"].is_null());

    // Unread counts: bob's reply is unread for ann until she reads it.
    let listed = ann.1.get("/conversations").await.expect(200);
    assert_eq!(listed["items"][0]["unread_count"], 1);
    assert_eq!(listed["items"][0]["last_message"]["id"], hi["id"]);
    assert_eq!(
        ann.1.get("/conversations/unread").await.expect(200)["total"],
        1
    );
    let read = ann
        .1
        .post(
            &format!("/conversations/{conv}/read"),
            json!({"message_id": hi["id"]}),
        )
        .await
        .expect(200);
    assert_eq!(read["unread_count"], 0);
    assert_eq!(
        ann.1.get("/conversations/unread").await.expect(200)["total"],
        0
    );

    // Read receipts: bob sees how far ann read, until ann hides hers (then neither sees).
    let receipt = |v: &Value, who: &str| {
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == who)
            .unwrap()["last_read"]
            .clone()
    };
    let seen = bob
        .1
        .get(&format!("/conversations/{conv}"))
        .await
        .expect(200);
    assert_eq!(receipt(&seen, &ann.0), hi["id"]);
    ann.1
        .send(
            "PUT",
            "/conversations/preferences",
            Some(json!({"read_receipts": false})),
        )
        .await
        .expect(200);
    let seen = bob
        .1
        .get(&format!("/conversations/{conv}"))
        .await
        .expect(200);
    assert!(receipt(&seen, &ann.0).is_null(), "ann hides hers");
    let seen = ann
        .1
        .get(&format!("/conversations/{conv}"))
        .await
        .expect(200);
    assert!(receipt(&seen, &bob.0).is_null(), "so she sees no one's");

    // Edits and deletes: the sender's, for everyone.
    let hello_path = format!("{path}/{}", hello["id"].as_str().unwrap());
    bob.1
        .patch(&hello_path, json!({"text": "not mine"}))
        .await
        .problem(403);
    let edited = ann
        .1
        .patch(&hello_path, json!({"text": "hello, bob"}))
        .await
        .expect(200);
    assert_eq!(edited["text"], "hello, bob");
    assert!(edited["edited_at"].is_string());
    // Reactions: one per member.
    let reacted = bob
        .1
        .send(
            "PUT",
            &format!("{hello_path}/reactions"),
            Some(json!({"kind": "love"})),
        )
        .await
        .expect(200);
    assert_eq!(reacted["reactions"]["love"], 1);
    assert_eq!(reacted["my_reaction"], "love");
    ann.1.delete(&hello_path).await.expect(204);
    let page = bob.1.get(&path).await.expect(200);
    let tombstone = &page["items"][1];
    assert_eq!(tombstone["id"], hello["id"]);
    assert_eq!(tombstone["deleted"], true);
    assert_eq!(tombstone["text"], "");
    ann.1
        .patch(&hello_path, json!({"text": "back"}))
        .await
        .problem(409);

    // Nobody else sees the conversation.
    let (_, eve) = user(&anon, "eve").await;
    eve.get(&format!("/conversations/{conv}"))
        .await
        .problem(404);
    eve.get(&path).await.problem(404);
    eve.post(&path, json!({"text": "let me in"}))
        .await
        .problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_send_with_its_idempotency_key_sends_once() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let conv = direct(&ann.1, &bob.0).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/conversations/{conv}/messages");
    let send = async |key: &str, text: &str| {
        let url = format!("{}/api/v1{path}", node.base);
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(ann.1.token.as_deref().unwrap())
            .header("Idempotency-Key", key)
            .json(&json!({"text": text}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };
    let (s1, first) = send("k-1", "once").await;
    let (s2, retry) = send("k-1", "once").await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(first["id"], retry["id"]);
    let (s3, _) = send("k-2", "twice").await;
    assert_eq!(s3, 201);
    let (bad, problem) = send("has space", "x").await;
    assert_eq!(bad, 422, "{problem}");
    let page = bob.1.get(&path).await.expect(200);
    assert_eq!(ids(&page).len(), 2, "one message per key");
    assert_eq!(
        bob.1.get("/conversations/unread").await.expect(200)["total"],
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_and_blocks_decide_who_may_message_whom() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let (cat, dan) = (user(&anon, "cat").await, user(&anon, "dan").await);

    // bob takes messages from friends only; ann is not one.
    bob.1
        .patch("/users/me/privacy", json!({"messages": "friends"}))
        .await
        .expect(200);
    let refused = until_status(403, async || {
        ann.1
            .post(
                "/conversations",
                json!({"kind": "direct", "user_id": bob.0}),
            )
            .await
    })
    .await
    .problem(403);
    assert!(
        refused["detail"].as_str().unwrap().contains("friends"),
        "{refused}"
    );
    // cat takes none at all.
    cat.1
        .patch("/users/me/privacy", json!({"messages": "nobody"}))
        .await
        .expect(200);
    until_status(403, async || {
        ann.1
            .post(
                "/conversations",
                json!({"kind": "direct", "user_id": cat.0}),
            )
            .await
    })
    .await
    .problem(403);

    // A block stops new messages both ways; the history stays readable.
    let conv = direct(&ann.1, &dan.0).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/conversations/{conv}/messages");
    ann.1
        .post(&path, json!({"text": "before"}))
        .await
        .expect(201);
    dan.1
        .post_empty(&format!("/users/{}/block", ann.0))
        .await
        .expect(204);
    // (Until messages learns of the block, milliseconds later, a send still goes through.)
    until_status(403, async || {
        ann.1.post(&path, json!({"text": "after"})).await
    })
    .await
    .problem(403);
    let history = ids(&dan.1.get(&path).await.expect(200));
    assert!(!history.is_empty(), "the history stays readable");
    dan.1
        .post(&path, json!({"text": "mine"}))
        .await
        .problem(403);

    // Nobody is added to a group they could not be messaged in.
    ann.1
        .post(
            "/conversations",
            json!({"kind": "group", "title": "plans", "member_ids": [cat.0]}),
        )
        .await
        .problem(403);

    // Bad input changes nothing.
    ann.1
        .post(
            "/conversations",
            json!({"kind": "direct", "user_id": ann.0}),
        )
        .await
        .problem(400);
    ann.1
        .post(
            "/conversations",
            json!({"kind": "group", "title": "", "member_ids": []}),
        )
        .await
        .problem(422);
    ann.1
        .post("/conversations", json!({"kind": "channel"}))
        .await
        .problem(422);
    ann.1.post(&path, json!({"text": ""})).await.problem(422);
    ann.1
        .post(&path, json!({"text": "x".repeat(4_001)}))
        .await
        .problem(422);
    ann.1
        .post(&path, json!({"text": "hi", "media_ids": ["nope"]}))
        .await
        .problem(422);
    assert_eq!(ids(&ann.1.get(&path).await.expect(200)), history);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_have_admins_members_and_a_successor() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let (cat, dan) = (user(&anon, "cat").await, user(&anon, "dan").await);

    let g = until_status(201, async || {
        ann.1
            .post(
                "/conversations",
                json!({"kind": "group", "title": "trip", "member_ids": [bob.0, cat.0]}),
            )
            .await
    })
    .await
    .expect(201);
    let conv = g["id"].as_str().unwrap().to_string();
    assert_eq!(g["members"].as_array().unwrap().len(), 3);
    let path = format!("/conversations/{conv}");

    // Members talk; only admins rename or add.
    bob.1
        .post(&format!("{path}/messages"), json!({"text": "when?"}))
        .await
        .expect(201);
    bob.1
        .patch(&path, json!({"title": "mine now"}))
        .await
        .problem(403);
    bob.1
        .post(&format!("{path}/members"), json!({"user_ids": [dan.0]}))
        .await
        .problem(403);
    let renamed = ann
        .1
        .patch(&path, json!({"title": "summer trip"}))
        .await
        .expect(200);
    assert_eq!(renamed["title"], "summer trip");
    let added = ann
        .1
        .post(&format!("{path}/members"), json!({"user_ids": [dan.0]}))
        .await
        .expect(200);
    assert_eq!(added["members"].as_array().unwrap().len(), 4);
    // A newcomer starts with nothing unread; the history is there to scroll.
    let seen_by_dan = dan.1.get(&path).await.expect(200);
    assert_eq!(seen_by_dan["unread_count"], 0);
    assert_eq!(
        ids(&dan.1.get(&format!("{path}/messages")).await.expect(200)).len(),
        1
    );

    // The admin removes cat; cat no longer sees the conversation.
    ann.1
        .delete(&format!("{path}/members/{}", cat.0))
        .await
        .expect(204);
    cat.1.get(&path).await.problem(404);
    assert!(
        ids(&cat.1.get("/conversations").await.expect(200)).is_empty(),
        "gone from cat's list"
    );

    // The last admin leaves: the longest-standing member (bob, then dan joined) leads.
    ann.1
        .delete(&format!("{path}/members/{}", ann.0))
        .await
        .expect(204);
    let after = bob.1.get(&path).await.expect(200);
    let role = |who: &str| {
        after["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == who)
            .unwrap()["role"]
            .clone()
    };
    assert_eq!(role(&bob.0), "admin");
    assert_eq!(role(&dan.0), "member");

    // Direct conversations never change members.
    let d = direct(&bob.1, &dan.0).await;
    bob.1
        .post(
            &format!("/conversations/{}/members", d["id"].as_str().unwrap()),
            json!({"user_ids": [ann.0]}),
        )
        .await
        .problem(409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_follows_activity_and_pages_stay_stable() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let me = user(&anon, "meg").await;
    let mut convs = Vec::new();
    for name in ["pal1", "pal2", "pal3"] {
        let other = user(&anon, name).await;
        convs.push(
            direct(&me.1, &other.0).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Newest activity first: the last started.
    let page = me.1.get("/conversations?limit=2").await.expect(200);
    assert_eq!(ids(&page), [convs[2].clone(), convs[1].clone()]);
    // A message in the oldest moves it to the top; the next page neither repeats nor skips
    // what was already served.
    me.1.post(
        &format!("/conversations/{}/messages", convs[0]),
        json!({"text": "bump"}),
    )
    .await
    .expect(201);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest =
        me.1.get(&format!("/conversations?limit=2&cursor={cursor}"))
            .await
            .expect(200);
    assert!(
        ids(&rest).is_empty(),
        "the bumped one left this page: {rest}"
    );
    let fresh = me.1.get("/conversations").await.expect(200);
    assert_eq!(
        ids(&fresh),
        [convs[0].clone(), convs[2].clone(), convs[1].clone()]
    );
    me.1.get("/conversations?cursor=garbage").await.problem(422);
}
